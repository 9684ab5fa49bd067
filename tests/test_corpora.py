"""Several corpora as one training set: writer prefixes, duplicates across corpora, a corpus
without forgeries, per-corpus splits and leak checks. Tiny folders drawn in tmp_path."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
from test_datasets import cedar_set, generic_set

from sigkit.datasets import DatasetError, DuplicateImagesWarning, corpus_counts, load_corpora, load_dataset, splits_for
from sigkit.datasets.splits import SplitConfig
from sigkit.paths import resolve_data


@pytest.fixture
def two_corpora(tmp_path):
    cedar = cedar_set(tmp_path / "cedar", writers=(1, 2, 3), samples=(1, 2, 3))
    own = generic_set(tmp_path / "own", {"1": (3, 0), "2": (4, 0), "bob": (3, 0)}, seed=300_000)
    return cedar, own


def load(paths, tmp_path):
    return load_dataset(paths, cache_dir=tmp_path / "cache")


def test_writers_are_prefixed_by_corpus_and_never_merge(two_corpora, tmp_path):
    cedar, own = two_corpora
    manifest = load([cedar, own], tmp_path)
    assert set(manifest["corpus"]) == {"cedar", "own"}
    assert {"cedar:1", "own:1"} <= set(manifest["writer"])  # writer "1" of each corpus stays two writers
    assert all(w.startswith(c + ":") for w, c in zip(manifest["writer"], manifest["corpus"]))
    counts = corpus_counts(manifest)
    assert counts.loc["cedar"].to_dict() == {"writers": 3, "genuine": 9, "forged": 9}
    assert counts.loc["own"].to_dict() == {"writers": 3, "genuine": 10, "forged": 0}
    assert [c["corpus"] for c in manifest.attrs["corpora"]] == ["cedar", "own"]
    # a comma-separated string is the same as a list
    same = load(f"{cedar},{own}", tmp_path)
    assert same["path"].tolist() == manifest["path"].tolist()


def test_single_folder_keeps_its_plain_writer_ids(two_corpora, tmp_path):
    cedar, _ = two_corpora
    manifest = load(cedar, tmp_path)
    assert set(manifest["writer"]) == {"1", "2", "3"}
    assert (manifest["corpus"] == "cedar").all()


def test_an_image_in_two_corpora_is_kept_once_with_a_warning(two_corpora, tmp_path):
    cedar, own = two_corpora
    copied = own / "bob" / "genuine" / "copy.png"
    shutil.copyfile(cedar / "full_org" / "original_2_1.png", copied)
    with pytest.warns(DuplicateImagesWarning, match="already read from another corpus"):
        manifest = load([cedar, own], tmp_path)
    assert str(copied) not in set(manifest["path"])
    assert any(s["path"] == str(copied) for s in manifest.attrs["skipped"])
    assert manifest.attrs["corpora"][1]["duplicates_dropped"] == 1
    assert manifest["sha1"].is_unique


def test_shares_split_every_corpus_and_writers_without_forgeries_stay(tmp_path):
    a = generic_set(tmp_path / "a", {f"w{i}": (3, 2) for i in range(10)}, seed=1)
    b = generic_set(tmp_path / "b", {f"w{i}": (3, 0) for i in range(10)}, seed=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateImagesWarning)
        manifest = load([a, b], tmp_path)
    splits = splits_for(manifest, SplitConfig(val_writers=0.2, test_writers=0.2))
    for name, part in splits.items():
        assert part.groupby("corpus")["writer"].nunique().to_dict() == (
            {"a": 6, "b": 6} if name == "train" else {"a": 2, "b": 2}
        )
    assert not set(splits["train"]["writer"]) & (set(splits["val"]["writer"]) | set(splits["test"]["writer"]))


def test_resolve_data_names_one_folder_or_several(tmp_path):
    assert resolve_data(str(tmp_path)) == tmp_path
    assert resolve_data(f"{tmp_path},{tmp_path}") == [tmp_path, tmp_path]
    assert resolve_data([str(tmp_path)]) == [tmp_path]
    assert resolve_data(tmp_path / "a,b") == tmp_path / "a,b"  # a path object is one folder, commas and all


def test_load_dataset_reads_what_resolve_data_names(two_corpora, tmp_path):
    cedar, _ = two_corpora
    odd = cedar.rename(tmp_path / "cedar,2006")
    assert resolve_data(odd) == odd
    assert set(load(odd, tmp_path)["writer"]) == {"1", "2", "3"}  # one folder: plain writer ids
    assert set(load([odd], tmp_path)["corpus"]) == {"cedar,2006"}  # a list: corpora, even of one
    with pytest.raises(DatasetError, match="no data folder named"):
        load(" , ", tmp_path)


def test_folders_with_one_name_get_numbered_corpora(tmp_path):
    first = generic_set(tmp_path / "x" / "data", {"a": (3, 1)}, seed=3)
    second = generic_set(tmp_path / "y" / "data", {"a": (3, 1)}, seed=200_000)
    manifest = load_corpora([first, second], cache_dir=tmp_path / "cache")
    assert sorted(manifest["writer"].unique()) == ["data-2:a", "data:a"]


def test_leak_check_runs_per_corpus_and_skips_corpora_without_forgeries(two_corpora, tmp_path):
    from sigkit.leak import leak_check_by_corpus

    cedar, own = two_corpora
    manifest = load([cedar, own], tmp_path)
    images = np.random.default_rng(0).integers(0, 255, (len(manifest), 16, 32, 1), dtype=np.uint8)
    table = leak_check_by_corpus(manifest, images, n_boot=20)
    assert all(name.startswith("cedar: ") for name in table.index)  # own has no forgeries: nothing to leak
    assert len(table) == 3
