"""Data folders made of symbolic links read like the folders they point at; a link loop is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_datasets import cedar_path, cedar_set, generic_set, load_quietly, save, signature

from sigkit.datasets import DatasetError
from sigkit.datasets.layouts import detect_layout, image_files


def link(target: Path, at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, at, target_is_directory=target.is_dir())
    return at


def counts(manifest) -> dict:
    return manifest.groupby(["writer", "genuine"]).size().to_dict()


def test_a_cedar_folder_of_links_loads_like_the_original(tmp_path):
    original = cedar_set(tmp_path / "cedar")
    linked = tmp_path / "linked"
    for folder in ("full_org", "full_forg"):
        link(original / folder, linked / folder)

    manifest, through_links = load_quietly(original), load_quietly(linked)
    assert (through_links["source"] == "cedar").all()
    assert counts(through_links) == counts(manifest)
    assert through_links["sample"].tolist() == manifest["sample"].tolist()
    # the rows keep the paths as given, through the links
    assert all(path.startswith(str(linked)) for path in through_links["path"])


def test_a_linked_kaggle_download_folder_is_read_one_level_down(tmp_path, caplog):
    download = tmp_path / "elsewhere" / "sign_data"
    for i in range(2):
        save(signature(i), download / "train" / "049" / f"049_0{i}.png")
        save(signature(5 + i), download / "train" / "049_forg" / f"0201049_0{i}.png")
    (download / "train_data.csv").write_text("a,b,label\n")
    root = tmp_path / "kaggle"
    link(download, root / "sign_data")

    manifest = load_quietly(root)
    assert (manifest["source"] == "kaggle").all()
    assert counts(manifest) == {("049", False): 2, ("049", True): 2}
    assert str(root / "sign_data") in caplog.text  # the note naming the folder read instead


def test_own_scans_with_a_linked_writer_folder_and_a_linked_file(tmp_path):
    root = generic_set(tmp_path / "scans", {"alice": (3, 2)})
    elsewhere = generic_set(tmp_path / "elsewhere", {"bob": (3, 1)}, seed=7000)
    link(elsewhere / "bob", root / "bob")
    extra = save(signature(9000), tmp_path / "loose" / "extra.png")
    link(extra, root / "alice" / "genuine" / "extra.png")

    manifest = load_quietly(root)
    assert (manifest["source"] == "generic").all()
    assert counts(manifest) == {("alice", False): 2, ("alice", True): 4, ("bob", False): 1, ("bob", True): 3}


def test_a_link_loop_is_refused_naming_the_link(tmp_path):
    root = generic_set(tmp_path / "scans", {"alice": (3, 2)})
    loop = link(root, root / "alice" / "genuine" / "again")
    with pytest.raises(DatasetError, match="link loop") as error:
        load_quietly(root)
    assert str(loop) in str(error.value)


@pytest.mark.cedar
def test_links_to_the_real_cedar_set_find_every_writer(tmp_path):
    cedar = cedar_path()
    if not (cedar / "full_org").is_dir():
        pytest.skip(f"CEDAR not found at {cedar} (set SIGKIT_DATA to the folder of corpora, or SIGKIT_CEDAR)")
    linked = tmp_path / "cedar"
    for folder in ("full_org", "full_forg"):
        link(cedar / folder, linked / folder)
    # listing and layout only: decoding every image is what test_real_cedar_set_loads_completely does
    layout, entries, unmatched = detect_layout(linked, image_files(linked))
    assert layout.name == "cedar" and not unmatched
    assert len({entry.writer for entry in entries}) == 55
    assert sum(entry.genuine for entry in entries) == sum(not entry.genuine for entry in entries) == 1320
