"""Kaggle-style pair lists: the reader, its label convention, and what a test list shares with training."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from test_datasets import save, signature

from sigkit.datasets import DatasetError, DuplicateImagesWarning
from sigkit.datasets.pair_lists import pair_list_overlap, read_pair_list


@pytest.fixture
def kaggle(tmp_path):
    """train/ with writers 001, 002 (genuine + forged); test/ reusing writer 002's files, as the Kaggle copy does."""
    root = tmp_path / "sign_data"
    for w in ("001", "002"):
        for i in range(3):
            save(signature(int(w) * 100 + i), root / "train" / w / f"{i:02d}_{w}.png")
            save(signature(int(w) * 100 + 50 + i), root / "train" / f"{w}_forg" / f"{i:02d}_0{w}.PNG")
    shutil.copytree(root / "train" / "002", root / "test" / "002")
    shutil.copytree(root / "train" / "002_forg", root / "test" / "002_forg")
    train_lines = [
        "001/00_001.png,001/01_001.png,0",
        "001/00_001.png,001_forg/00_0001.PNG,1",
        "002/00_002.png,002/01_002.png,0",
        "002/00_002.png,002_forg/01_0002.PNG,1",
        "001/02_001.png,002/02_002.png,1",
    ]
    (root / "train_data.csv").write_text("\n".join(train_lines) + "\n")
    (root / "test_data.csv").write_text("002/01_002.png,002/00_002.png,0\n002/00_002.png,002_forg/01_0002.PNG,1\n")
    return root


def test_the_kaggle_convention_is_turned_into_sigkits(kaggle):
    pairs = read_pair_list(kaggle / "train_data.csv")
    assert pairs["kind"].tolist() == ["genuine", "skilled", "genuine", "skilled", "random"]
    assert pairs["label"].tolist() == [1, 0, 1, 0, 0]  # 1 = genuine pair here; the file said 1 = forged
    assert pairs["csv_label"].tolist() == [0, 1, 0, 1, 1]
    assert pairs["path_a"].iloc[0] == str(kaggle / "train" / "001" / "00_001.png")
    assert pairs[["writer_a", "writer_b"]].iloc[-1].tolist() == ["001", "002"]


def test_a_list_in_the_other_convention_is_refused_with_the_fix(kaggle):
    with pytest.raises(DatasetError, match="pass forged_label=1"):
        read_pair_list(kaggle / "train_data.csv", forged_label=0)
    flipped = kaggle / "usual.csv"
    text = (
        (kaggle / "train_data.csv").read_text().replace(",0\n", ",x\n").replace(",1\n", ",0\n").replace(",x\n", ",1\n")
    )
    flipped.write_text(text)
    assert read_pair_list(flipped, kaggle / "train", forged_label=0)["label"].tolist() == [1, 0, 1, 0, 0]


def test_missing_images_and_bad_lines_are_named(kaggle):
    (kaggle / "broken.csv").write_text("001/00_001.png,001/99_001.png,0\n")
    with pytest.raises(DatasetError, match="99_001.png"):
        read_pair_list(kaggle / "broken.csv", kaggle / "train")
    (kaggle / "gaps.csv").write_text("001/00_001.png,,0\n")
    with pytest.raises(DatasetError, match="no gaps"):
        read_pair_list(kaggle / "gaps.csv", kaggle / "train")
    with pytest.raises(DatasetError, match="no such pair list"):
        read_pair_list(kaggle / "none.csv")


def test_overlap_finds_test_pairs_writers_and_images_seen_in_training(kaggle):
    train = read_pair_list(kaggle / "train_data.csv")
    test = read_pair_list(kaggle / "test_data.csv")
    paths = set(train["path_a"]) | set(train["path_b"]) | set(test["path_a"]) | set(test["path_b"])
    sha1_of = {p: hashlib.sha1(open(p, "rb").read()).hexdigest() for p in paths}
    overlap = pair_list_overlap(train, test, sha1_of)
    assert overlap == {
        "test_pairs": 2,
        "test_pairs_also_in_train": 2,
        "test_writers": 1,
        "test_writers_also_in_train": 1,
        "test_images": 3,
        "test_images_also_in_train": 3,
    }
    held_out = test[test["kind"] == "genuine"].assign(path_a=str(kaggle / "test" / "002" / "02_002.png"))
    assert pair_list_overlap(train, held_out)["test_pairs_also_in_train"] == 0


def test_the_downloads_own_top_folder_is_accepted_with_a_note(kaggle, caplog):
    from sigkit.datasets import load_dataset

    archive = kaggle.parent
    (archive / "README.txt").write_text("downloaded from Kaggle")
    with caplog.at_level("WARNING", logger="sigkit.datasets"), pytest.warns(DuplicateImagesWarning):
        manifest = load_dataset(archive, cache_dir=archive.parent / "cache")  # train/ and test/ share images
    assert "one level down" in caplog.text and str(kaggle) in caplog.text
    assert (manifest["source"] == "kaggle").all() and set(manifest["writer"]) == {"001", "002"}


@pytest.mark.slow
def test_the_published_protocol_trains_on_the_list_and_scores_its_test_pairs(kaggle, tmp_path):
    from conftest import TINY

    import sigkit
    from sigkit.published import published_protocol

    config = sigkit.profile("default", **{**TINY, "epochs": 2, "steps_per_epoch": 2, "batch_size": 4})
    figures = published_protocol(config, kaggle, tmp_path / "run", cache_dir=tmp_path / "cache")
    assert figures["pairs"] == {"train": 5, "test": 2}
    assert figures["overlap"]["test_pairs_also_in_train"] == 2  # the trap, measured
    assert 0 <= figures["eer"] <= 1 and set(figures["at_test_threshold"]) >= {"accuracy", "precision", "recall", "f1"}
    assert figures["epochs_run"] == 2 and figures["config"]["train"]["mode"] == "pairs"
    assert (tmp_path / "run" / "result.json").exists()


@pytest.fixture
def four_writers(tmp_path):
    """train/ with writers 001-004 (genuine + forged pairs each); test/ a copy of writer 004, as in the Kaggle copy."""
    root = tmp_path / "sign_data"
    lines = []
    for w in ("001", "002", "003", "004"):
        for i in range(3):
            save(signature(int(w) * 100 + i), root / "train" / w / f"{i:02d}_{w}.png")
            save(signature(int(w) * 100 + 50 + i), root / "train" / f"{w}_forg" / f"{i:02d}_0{w}.PNG")
        lines += [f"{w}/00_{w}.png,{w}/01_{w}.png,0", f"{w}/01_{w}.png,{w}/02_{w}.png,0"]
        lines += [f"{w}/00_{w}.png,{w}_forg/00_0{w}.PNG,1", f"{w}/02_{w}.png,{w}_forg/01_0{w}.PNG,1"]
    shutil.copytree(root / "train" / "004", root / "test" / "004")
    shutil.copytree(root / "train" / "004_forg", root / "test" / "004_forg")
    (root / "train_data.csv").write_text("\n".join(lines) + "\n")
    (root / "test_data.csv").write_text("\n".join(line for line in lines if line.startswith("004/")) + "\n")
    return root


def test_validation_writers_are_split_off_away_from_the_test_writers(four_writers):
    from sigkit.published import read_lists, split_off_writers

    lists = read_lists(four_writers)
    training, validation = split_off_writers(lists["train"], lists["test"], val_writers=1, seed=0)
    trained, chosen = set(training["writer_a"]), set(validation["writer_a"])
    assert len(chosen) == 1 and len(trained) == 2 and not trained & chosen
    assert "004" not in trained | chosen  # the test list's writer is in neither
    assert len(training) == 8 and len(validation) == 4
    again, _ = split_off_writers(lists["train"], lists["test"], val_writers=1, seed=0)
    assert again.equals(training)  # seeded
    with pytest.raises(ValueError, match="too few"):
        split_off_writers(lists["train"], lists["test"], val_writers=2, seed=0)


@pytest.mark.slow
def test_the_leaks_are_taken_away_one_step_at_a_time_and_steps_resume(four_writers, tmp_path):
    from conftest import TINY

    import sigkit
    from sigkit.published import LEAK_STEPS, leak_steps

    config = sigkit.profile("default", **{**TINY, "epochs": 1, "steps_per_epoch": 1, "batch_size": 4})
    honest_only = leak_steps(
        config, four_writers, tmp_path / "run", val_writers=1, cache_dir=tmp_path / "cache", only=(2,)
    )
    assert [step["step"] for step in honest_only["steps"]] == ["validation writers choose"]
    with pytest.raises(ValueError, match="steps 0-2"):
        leak_steps(config, four_writers, tmp_path / "run", val_writers=1, cache_dir=tmp_path / "cache", only=(3,))
    out = leak_steps(config, four_writers, tmp_path / "run", val_writers=1, cache_dir=tmp_path / "cache")
    steps = out["steps"]
    assert [step["step"] for step in steps] == list(LEAK_STEPS)
    assert steps[2] == honest_only["steps"][0]  # trained once, read back
    assert [step["training_writers"] for step in steps] == [4, 2, 2]
    assert "at_selection_threshold" in steps[2] and "at_selection_threshold" not in steps[1]
    assert steps[2]["threshold_on_selection_pairs"] != steps[2]["threshold_on_test_pairs"]
    assert out["test_pairs"] == 4 and len(out["validation_writers"]) == 1
    (tmp_path / "run" / "1" / "result.json").write_text('{"step": "read back"}')
    again = leak_steps(config, four_writers, tmp_path / "run", val_writers=1, cache_dir=tmp_path / "cache")
    assert again["steps"][1] == {"step": "read back"}  # a finished step is not trained again


def _at(accuracy):
    return {"accuracy": accuracy, "precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_the_kaggle_protocols_are_set_side_by_side_from_the_recorded_runs(tmp_path):
    import json

    from sigkit.protocols import protocols_chart, side_by_side, what_the_gap_is_made_of

    step = lambda name, eer, **extra: {  # noqa: E731
        "step": name,
        "what": f"{name} explained",
        "eer": eer,
        "training_writers": 9,
        "at_test_threshold": _at(0.9),
        **extra,
    }
    (tmp_path / "published.json").write_text(json.dumps({"eer": 0.1, "at_test_threshold": _at(0.9)}))
    assert what_the_gap_is_made_of(tmp_path)[0].startswith("no leak decomposition recorded")
    steps = [
        step("published", 0.1),
        step("test writers out", 0.3),
        step("validation", 0.3, at_selection_threshold=_at(0.6)),
    ]
    (tmp_path / "leaks.json").write_text(json.dumps({"steps": steps}))
    (tmp_path / "honest.json").write_text(
        json.dumps({"writers": {"test": 7}, "at_val_threshold": {"single_skilled": {**_at(0.5), "eer": 0.4}}})
    )
    table = side_by_side(tmp_path)
    assert table.iloc[0]["eer"] == 4.88 and table.iloc[0]["accuracy"] == 91.12  # the paper's own figures
    assert list(table["eer"].round(6))[1:] == [10.0, 30.0, 30.0, 40.0]
    assert table.iloc[3]["accuracy"] == 60.0  # the last leak step reads the validation threshold's accuracy
    assert table.iloc[4]["eer"] == 40.0 and "7 test writers of its own" in table.index[4]
    sentences = what_the_gap_is_made_of(tmp_path)
    assert "+20.0 points" in sentences[1] and "from 90.0 % to 60.0 %" in sentences[-1]
    fig = protocols_chart(table)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["accuracy % (higher is better)", "eer % (lower is better)"]
    assert len(fig.axes[1].patches) == len(table)
    # the honest step trained as long as the published protocol: the gap split into leak and training
    (tmp_path / "published-converged.json").write_text(
        json.dumps({"eer": 0.02, "epochs_run": 30, "at_test_threshold": _at(0.98)})
    )
    longer = step("validation", 0.14, epochs_run=28, at_selection_threshold=_at(0.8))
    (tmp_path / "leaks-converged.json").write_text(json.dumps({"steps": [longer]}))
    for short in steps:
        short["epochs_run"] = 3
    (tmp_path / "leaks.json").write_text(json.dumps({"steps": steps}))
    table = side_by_side(tmp_path)
    assert table.loc["leaks taken away: validation, trained 28 epochs", "eer"] == pytest.approx(14.0)
    last = what_the_gap_is_made_of(tmp_path)[-1]
    assert "EER 14.0 % against 30.0 % after 3" in last and "worth 16.0 and the leak 12.0" in last
