"""Smoke tests of bench/: each bench's work on tiny synthetic corpora in CEDAR's layout, with a tiny
config (one epoch of two steps, one tower, small images, few bootstrap draws), checked for the shape
of its output. One tower, trained once by the ablation's first run, serves the benches that test
a trained model. The corpora stand in for SIGKIT_DATA and the project root for SIGKIT_HOME, so
nothing is written to the checkout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

import sigkit
from sigkit import synth
from sigkit.datasets import load_dataset
from sigkit.datasets.splits import SplitConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import ablation  # noqa: E402
import capacity  # noqa: E402
import cedar  # noqa: E402
import cedar_gpu  # noqa: E402
import cross  # noqa: E402
import deletion  # noqa: E402
import fusion  # noqa: E402
import kaggle  # noqa: E402
import preprocess as preprocess_bench  # noqa: E402  (not sigkit.preprocess)
import train as train_bench  # noqa: E402  (not sigkit.train)
import transfer  # noqa: E402
from common import to_json  # noqa: E402

# CEDAR's protocol on 8 synthetic writers: 4 train (6 genuine references each), 2 validate, 2 test;
# 13 genuine signatures a writer leave questioned ones at K = 12 references
SPLIT = SplitConfig(val_writers=(5, 6), test_writers=(7, 8), references_per_writer=6)
QUICK = dict(TINY, epochs=1, steps_per_epoch=2, patience=1, ensemble=1, time_budget_s=None)
N_BOOT = 20

CEDAR_KEYS = {
    "data",
    "test_eer_single_skilled",
    "test_eer_single_random",
    "test_eer_single_skilled_aligned",
    "test_eer_5ref_skilled_spread_aligned",
    "test_eer_5ref_skilled",
    "test_eer_5ref_skilled_spread",
    "test_eer_ci",
    "single_at_val_threshold",
    "single_aligned_at_val_threshold",
    "5ref_spread_aligned_at_val_threshold",
    "5ref_at_val_threshold",
    "5ref_spread_at_val_threshold",
    "val_eer_by_protocol",
    "5ref_over_10_draws",
    "train_writer_unseen_sample_eer",
    "train_writer_seen_sample_eer",
}
TRAINED_KEYS = {"val_eer_best", "members_val_eer", "epochs_run", "train_seconds", "wall_seconds", "config", "run_dir"}
TRANSFER_KEYS = {"arm", "seed", "train_writers", "model", "choice_draws", "single_skilled", "single_random"}
TRANSFER_KEYS |= {"variants_per_image", "wall_seconds"}
CROSS_KEYS = {"target", "arm", "seed", "run", "trained_on", "train_writers", "target_writers", "epochs_run"}
CROSS_KEYS |= {"train_seconds", "wall_seconds", "overrides", "decisions"}


def assert_rates(values) -> None:
    """Every number in `values` (nested dicts and lists) is a rate in [0, 1], but for thresholds
    (distances, which the spread correction may make negative)."""
    if isinstance(values, dict):
        values = [value for key, value in values.items() if key != "threshold"]
    for value in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(value, (dict, list, tuple)):
            assert_rates(value)
        elif value is not None:
            assert 0.0 <= value <= 1.0, value


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """SIGKIT_HOME (reports, caches) and SIGKIT_DATA (synthetic corpora) in a temporary folder."""
    root = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGKIT_HOME", str(root))
        patch.setenv("SIGKIT_DATA", str(root / "corpora"))
        patch.delenv("SIGKIT_CEDAR", raising=False)
        synth.generate(root / "corpora" / "cedar", n_writers=8, n_genuine=13, n_forged=4, seed=2)
        yield root


@pytest.fixture(scope="module")
def folder(home):
    return home / "corpora" / "cedar"


@pytest.fixture(scope="module")
def trained(home, folder):
    """The ablation's CBAM run at seed 0 (bench/cedar.py's training and test): its line and scores."""
    return ablation.run("cbam", 0, QUICK, folder, home / "reports" / "bench-cedar", SPLIT, N_BOOT)


@pytest.fixture(scope="module")
def model_path(trained):
    return Path(trained[0]["run_dir"]) / "model.keras"


@pytest.mark.slow
def test_cedar_line(trained):
    line, scores = trained
    assert set(line) == CEDAR_KEYS | TRAINED_KEYS
    assert_rates({key: line[key] for key in CEDAR_KEYS - {"data"}})
    draws = {"test_5ref", "test_5ref_spread", "test_5ref_spread_aligned", "val_5ref_spread"}
    assert set(line["5ref_over_10_draws"]) == draws
    assert "4 training writers" in line["data"] and line["members_val_eer"] == [] and line["epochs_run"] == 1
    assert json.loads((Path(line["run_dir"]) / "result.json").read_text()) == json.loads(to_json(line))
    assert set(scores["protocol"]) == set(ablation.PROTOCOLS) and scores["label"].isin([0, 1]).all()


def test_cedar_names_the_split_and_its_training_writers(folder):
    config = sigkit.profile("cedar-cpu", **QUICK)
    data = cedar.load_cedar(folder, config, train_writers=3, split=SPLIT)
    writers = {name: set(part["writer"]) for name, part in data["splits"].items()}
    assert writers["val"] == {"5", "6"} and writers["test"] == {"7", "8"} and len(writers["train"]) == 3
    assert (data["splits"]["train"].query("genuine").groupby("writer").size() == 6).all()
    assert len(data["all_train_images"]) == len(data["all_train"]) == 3 * 17
    assert data["data"].startswith("3 training writers")
    with pytest.raises(SystemExit, match="train_writers must be 2-4"):
        cedar.load_cedar(folder, config, train_writers=5, split=SPLIT)


@pytest.mark.slow
def test_ablation_reads_the_finished_run_back_and_compares_variants(trained, folder, home, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run is read back, not trained again")

    monkeypatch.setattr(ablation, "train_and_test", no_training)
    out = home / "reports" / "bench-cedar"
    table = ablation.ablation(folder, ["cbam"], [0], QUICK, out, SPLIT, N_BOOT)
    assert list(table.index) == ["cbam"] and "vs cbam: single_skilled" not in table
    line, scores = trained
    both = ablation.summarise(
        {"cbam": {0: line}, "none": {0: line}}, {"cbam": {0: scores}, "none": {0: scores}}, [0], n_boot=N_BOOT
    )
    assert list(both.index) == ["cbam", "none"]
    assert both.loc["none", "vs cbam: single_skilled"] == "+0.0 to +0.0"  # the same scores: no difference
    percent = both[[column for column in both if "val" in column or "draws" in column or "aligned" in column]]
    assert len(percent.columns) == 6 and ((percent >= 0) & (percent <= 100)).all().all()
    markdown = ablation.markdown(both)
    assert markdown.count("\n") == 3 and markdown.startswith("| variant | seeds |")
    with pytest.raises(SystemExit, match="unknown variant"):
        ablation.ablation(folder, ["cbam", "big"], [0], QUICK, out, SPLIT)


@pytest.mark.slow
def test_deletion_line(model_path, folder, tmp_path):
    line, curves = deletion.deletion(model_path, folder, tmp_path, writers=2, split=SPLIT)
    assert set(line) == {"model", "pairs", "writers", "maps"} and line["pairs"] == 4 and line["writers"] == 2
    assert set(line["maps"]) == set(curves) == {"gradcam", "attention", "random"}
    for method, entry in line["maps"].items():
        extra = set() if method == "random" else {"minus_random", "minus_random_95ci"}
        assert set(entry) == {"mean_area", "genuine_pairs", "skilled_pairs"} | extra
    for name in ("figures/deletion_test.png", "deletion_test.csv", "deletion_test.json"):
        assert (tmp_path / name).is_file()


@pytest.mark.slow
def test_transfer_zero_shot_line_with_aligned_scores(model_path, folder):
    config = sigkit.profile("cedar-cpu", **QUICK)
    line = transfer.transfer(
        folder, "zero-shot", config, model=str(model_path), aligned=True, train_writers=4, split=SPLIT
    )
    tables = {"references", "references_aligned", "references_aligned_variants"}  # no background beside the model
    assert set(line) == TRANSFER_KEYS | tables
    assert line["train_writers"] == 0 and line["variants_per_image"] == 12
    assert_rates([line["single_skilled"], line["single_random"]])
    for name in tables:
        rows = line[name]
        assert {("wd", 5, "skilled"), ("wd", 12, "random")} <= {(r["method"], r["k"], r["forgeries"]) for r in rows}
        assert_rates([{key: row[key] for key in ("eer", "accuracy", "f1")} for row in rows])
    with pytest.raises(SystemExit, match="arm must be one of"):
        transfer.transfer(folder, "sideways", config)


@pytest.mark.slow
def test_fusion_across_models_line(model_path, folder):
    cedar_data = cedar.load_cedar(folder, sigkit.profile("cedar-cpu", **QUICK), train_writers=4, split=SPLIT)
    line = fusion.fused_figures({"a": model_path, "b": model_path}, cedar_data, seed=0, n_boot=20)
    assert set(line["each"]) == {"a", "b"} and line["each"]["a"] == line["each"]["b"]  # one model, twice
    fused = {row["label"]: row for row in line["fused"]}
    assert "single pairs (skilled), 2 models" in fused and "5 refs, fusion (skilled), every scorer of 2 models" in fused
    # the same scores twice: the fused EER is the member's, the gain nil
    for row in fused.values():
        assert row["gain"] == pytest.approx(0.0, abs=0.02) and 0 <= row["eer"] <= 1


@pytest.fixture(scope="module")
def corpora(home):
    """Three more small corpora: the cross-corpus targets and sources, the Kaggle copy."""
    for seed, name in enumerate(("bhsig-bengali", "sigcomp2009", "sigcomp2011-kaggle"), 3):
        synth.generate(home / "corpora" / name, n_writers=8, n_genuine=7, n_forged=4, seed=seed)
    return home / "corpora"


@pytest.mark.slow
def test_cross_lines_and_their_table(corpora):
    # 8 writers are too few for 15 % validation writers: two of them validate, two test; the target
    # is preprocessed at the profile's image size, which the overrides therefore keep
    split = SplitConfig(val_writers=2, test_writers=2)
    overrides = {key: value for key, value in QUICK.items() if key != "image_size"}
    lines = [cross.run("sigcomp2009", arm, 0, overrides, split=split, n_boot=N_BOOT) for arm in cross.ARMS]
    for line, arm in zip(lines, cross.ARMS):
        assert set(line) == CROSS_KEYS | set(cross.PROTOCOLS)
        assert line["arm"] == arm and line["target_writers"] == {"train": 4, "val": 2, "test": 2}
        for name in cross.PROTOCOLS:
            assert_rates(line[name])
    assert [line["trained_on"] for line in lines] == [["sigcomp2009"], ["bhsig-bengali", "sigcomp2011-kaggle"]]
    table = cross.table(lines).splitlines()
    assert len(table) == 4 and table[2].startswith("| sigcomp2009 (2) | within: sigcomp2009 (4 writers)")
    assert table[2].endswith("| - |")  # no decision chosen when only the plain ones were scored


@pytest.mark.slow
def test_cross_line_with_every_decision_and_the_validation_choice(corpora):
    split = SplitConfig(val_writers=2, test_writers=2, references_per_writer=6)
    overrides = {key: value for key, value in QUICK.items() if key != "image_size"}
    line = cross.run("sigcomp2009", "across", 0, overrides, split=split, n_boot=N_BOOT, decisions="all", run_name="all")
    assert line["run"] == "all" and (cross.project_root() / "reports" / "bench-cross" / "all" / "model.keras").exists()
    candidates, chosen = line["references_5_by_decision"], line["references_5_chosen"]
    assert {"5 refs, writer-dependent (skilled)", "5 refs, writer-dependent, aligned (skilled)"} <= set(candidates)
    assert any(label.startswith("5 refs, fusion") for label in candidates)
    assert chosen["choice_eer"] == min(figures["choice_eer"] for figures in candidates.values())
    assert all(f["choice_eer"] == f["val_eer"] for label, f in candidates.items() if "fusion" not in label)
    assert candidates[chosen["label"]]["eer"] == chosen["eer"]
    assert_rates({key: value for key, value in chosen.items() if key not in ("label", "method", "aligned")})
    assert cross.table([line]).splitlines()[2].endswith(f"({chosen['label'][len('5 refs, ') : -len(' (skilled)')]}) |")
    # two runs of one arm are two rows; a named run says how long it trained
    rows = cross.table([{**line, "run": None}, line]).splitlines()[2:]
    assert len(rows) == 2 and "seed 0 |" in rows[0] and f"seed 0, all: {line['epochs_run']} epochs" in rows[1]


@pytest.mark.slow
def test_kaggle_honest_line(corpora, tmp_path):
    overrides = dict(QUICK, val_writers=2, test_writers=2)
    line = kaggle.figures("honest", corpora / "sigcomp2011-kaggle", tmp_path, overrides, n_boot=N_BOOT)
    assert {"protocol", "writers", "eer_single_skilled", "at_val_threshold", "epochs_run", "wall_seconds"} <= set(line)
    assert line["writers"] == {"train": 4, "val": 2, "test": 2}
    assert_rates(line["at_val_threshold"])
    with pytest.raises(SystemExit, match="protocol must be"):
        kaggle.figures("secret", corpora / "sigcomp2011-kaggle", tmp_path, overrides)


@pytest.mark.slow
def test_gpu_bench_stages_on_this_cpu(home, folder, capsys):
    """prepare, train and report, the GPU stage on the CPU (host augmentation, float32)."""
    npz, out = home / "gpu" / "cedar.npz", home / "gpu" / "out"
    paper = dict(TINY, epochs=1)
    cedar_gpu.prepare(str(npz), paper, folder, SPLIT)
    cedar_gpu.train_on_gpu(str(npz), str(out), {"time_budget_s": 120})
    cedar_gpu.report(str(out / "model.keras"), str(out / "history.json"), folder, SPLIT, n_boot=N_BOOT)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith(f"{npz}: 40 train + 34 val images (32, 64, 1)")
    summary, line = json.loads(printed[-2]), json.loads(printed[-1])
    assert summary["device"] is None and summary["mixed_precision"] == "float32" and summary["augment_on"] == "host"
    assert summary["epochs_run"] == 1 and 0.0 <= summary["best_val_eer"] <= 1.0
    assert set(line) == CEDAR_KEYS | set(summary)
    assert_rates(
        [line["test_eer_single_skilled"], line["test_eer_5ref_skilled_spread"], line["train_writer_seen_sample_eer"]]
    )


def test_capacity_replaces_the_tower_in_use_only_when_validation_says_so(tmp_path):
    import shutil

    from sigkit import shipped

    def candidate(name, scale, writers=None):
        folder = tmp_path / name
        shutil.copytree(shipped.pretrained_path().parent, folder)
        card = json.loads((folder / shipped.CARD_FILE).read_text())
        card["val_eers"] = {kind: scale * eer for kind, eer in card["val_eers"].items()}
        for by_k in card["operating_points"].values():
            for point in by_k.values():
                point["val_eer"] *= scale
        if writers is not None:
            card["data"]["writers"]["val"] = writers
        (folder / shipped.CARD_FILE).write_text(json.dumps(card))
        return folder

    in_use = shipped.pretrained_path().parent
    better, worse = candidate("better", 0.8), candidate("worse", 1.2)
    lines = capacity.compare([in_use, better, worse])
    assert [line.get("replaces") for line in lines] == [None, True, False]
    assert lines[1]["deciding_val_eers"]["fusion_k12"] < lines[0]["deciding_val_eers"]["fusion_k12"]
    assert lines[1]["parameters"] == lines[0]["parameters"] and lines[1]["megabytes"] <= capacity.MAX_MB
    with pytest.raises(SystemExit, match="validation writers"):
        capacity.compare([in_use, candidate("elsewhere", 0.8, writers=7)])


def test_preprocess_bench_rates_both_sides(folder):
    paths = load_dataset(folder)["decode_path"].tolist()[:6]
    image = preprocess_bench.skimage_preprocess(paths[0], (32, 64), 1.0)
    assert image.shape == (32, 64) and 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.5
    sigkit_rate, skimage_rate = preprocess_bench.rates(paths, (32, 64), repeats=1)
    assert sigkit_rate > 0 and skimage_rate > 0


@pytest.mark.slow
def test_train_bench_rates_every_mode(folder):
    from sigkit.preprocess import load_images, preprocess_options

    config = sigkit.profile("cedar-cpu", **QUICK)
    manifest = load_dataset(folder)
    images = load_images(manifest["decode_path"], **preprocess_options(config.preprocess))
    rows = train_bench.rates(config, manifest, images, steps=1, warmup=1)
    assert list(rows) == [
        "(a) keras.io-style numpy pairs",
        "(b) sigkit pairs mode",
        "(c) sigkit batch mode",
        "(c) sigkit batch mode + XLA",
    ]
    assert all(np.isfinite(rates).all() and min(rates) > 0 for rates in rows.values())
