"""Evaluation end to end: protocols, figures, `sigkit evaluate` and `sigkit verify` on a tiny trained model."""

import json

import conftest
import matplotlib
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest

import sigkit
from sigkit import cli, synth
from sigkit.datasets import load_dataset, split_writers
from sigkit.evaluation import METRICS_SCHEMA, evaluation_figures, parse_writers, write_evaluation
from sigkit.metrics import eer
from sigkit.model import embed, find_tower, load_siamese
from sigkit.preprocess import load_images, preprocess_options
from sigkit.scoring import Evaluation, Features, Protocol, evaluate, standard_protocols, usable
from sigkit.train import train

matplotlib.use("Agg")
TINY = dict(conftest.TINY, epochs=2, steps_per_epoch=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=8, n_genuine=8, n_forged=4, seed=5)
    manifest = load_dataset(folder)
    splits = split_writers(manifest, val=2, test=2, seed=0)
    config = sigkit.profile("default", **TINY)
    options = preprocess_options(config.preprocess)
    images = {name: load_images(part["decode_path"], **options) for name, part in splits.items()}
    result = train(config, splits, images, tmp_path_factory.mktemp("run"))
    return folder, splits, images, result


def test_the_best_decision_is_the_validation_writers_choice():
    """Ranked by validation EER among the K-reference rows of those forgeries, never by test EER; a
    fusion by its EER held out over folds of the validation writers its weights were fitted to."""
    fused = {"fusion": "logistic", "val_eer": {"mean": 0.16, "logistic": 0.12}}
    rows = [  # (method, k, forgeries, aligned, val_eer, eer, classifier)
        ("single", 1, "skilled", False, 0.01, 0.30, None),
        ("mean", 5, "skilled", False, 0.20, 0.05, None),
        ("wd", 5, "skilled", True, 0.10, 0.15, {"kind": "svm", "c": 1.0}),
        ("fusion", 5, "skilled", False, 0.04, 0.08, fused),  # 0.04 in sample, 0.12 held out
        ("wd", 5, "random", False, 0.02, 0.02, {"kind": "svm", "c": 1.0}),
        ("mean", 3, "skilled", False, 0.05, 0.20, None),
    ]
    columns = ["method", "k", "forgeries", "aligned", "val_eer", "eer", "classifier"]
    evaluation = Evaluation(pd.DataFrame(rows, columns=columns), {}, {})
    ranked = evaluation.ranked(5)
    assert list(ranked["method"]) == ["wd", "fusion", "mean"] and list(ranked["choice_eer"]) == [0.10, 0.12, 0.20]
    best = evaluation.chosen(5)
    assert (best["method"], best["aligned"], best["eer"]) == ("wd", True, 0.15)
    assert evaluation.chosen(5, "random")["method"] == "wd" and evaluation.chosen(3)["method"] == "mean"
    with pytest.raises(KeyError, match="no 12-reference decision"):
        evaluation.chosen(12)


def test_parse_writers():
    assert parse_writers(["46-48", "7", "anna,bob"]) == [46, 47, 48, 7, "anna", "bob"]
    assert parse_writers(None) is None


def scored(tower, images, splits, names=("test", "val")) -> list[Features]:
    return [Features(splits[name], embed(tower, images[name])) for name in names]


@pytest.mark.slow
def test_evaluation_protocols_and_figures(trained, tmp_path):
    _, splits, images, result = trained
    tower = find_tower(load_siamese(result.model_path))
    test, val = scored(tower, images, splits)
    protocols = usable(standard_protocols(3, curve_ks=(1, 2, 3, 5, 8)), splits["test"], splits["val"])
    evaluation = evaluate(test, val, protocols, n_boot=50)
    table = evaluation.table
    assert {(m, k) for m, k in zip(table["method"], table["k"])} == {
        ("single", 1),
        ("mean", 1),
        *((method, k) for method in ("mean", "spread") for k in (2, 3, 5)),
    }  # 8 genuine each: K = 8 leaves nothing to question
    assert set(table[table["k"] == 3]["forgeries"]) == {"skilled", "random"}
    for m in evaluation.to_json():
        assert 0 <= m["eer"] <= 1 and 0 <= m["auc"] <= 1 and m["eer_ci"][0] <= m["eer_ci"][1]
        assert m["draws"] == (1 if m["method"] == "single" else 10)
    assert set(evaluation.per_writer()["writer"]) == set(splits["test"]["writer"])
    figures = evaluation_figures(evaluation, k=3)
    assert len(figures) == 7 and all(fig.axes and fig.axes[0].has_data() for fig in figures.values())
    path = write_evaluation(evaluation, tmp_path, {"k": 3}, k=3)
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == sorted(f"{n}.png" for n in figures)
    saved = json.loads(path.read_text())
    assert saved["schema"] == METRICS_SCHEMA and saved["k"] == 3
    rows = {(r["method"], r["k"], r["forgeries"], r["aligned"]): r for r in saved["protocols"]}
    assert rows[("single", 1, "skilled", False)]["eer"] == pytest.approx(evaluation.row("single")["eer"])
    # a K-reference EER is the mean over its draws of the references
    draws = evaluation.scores[Protocol("mean", 3)]
    each = [eer(d["distance"], d["label"])[0] for _, d in draws.groupby("draw")]
    assert len(each) == 10 and rows[("mean", 3, "skilled", False)]["eer"] == pytest.approx(np.mean(each))


def rows_of(saved: dict) -> dict:
    return {(r["method"], r["k"], r["forgeries"], r["aligned"]): r for r in saved["protocols"]}


@pytest.mark.slow
def test_cli_evaluate_reproduces_the_library(trained, tmp_path, capsys):
    folder, splits, images, result = trained
    test, val = sorted(splits["test"]["writer"].unique()), sorted(splits["val"]["writer"].unique())
    status = cli.main(
        [
            "evaluate",
            "--model",
            str(result.model_path),
            "--data",
            str(folder),
            "--writers",
            *test,
            "--val-writers",
            *val,
            "--out",
            str(tmp_path / "ev"),
            "--bootstrap",
            "0",
        ]
    )
    assert status == 0
    assert "embedding 1/2" in capsys.readouterr().err  # it says what it is doing
    saved = rows_of(json.loads((tmp_path / "ev" / "metrics.json").read_text()))
    tower = find_tower(load_siamese(result.model_path))
    direct = evaluate(*scored(tower, images, splits), standard_protocols(5))
    for m in direct.to_json():
        key = (m["method"], m["k"], m["forgeries"], m["aligned"])
        assert saved[key]["eer"] == pytest.approx(m["eer"]) and saved[key]["accuracy"] == pytest.approx(m["accuracy"])
        assert saved[key]["threshold_from"] == "validation writers"
        assert (m["method"], m["k"], m["forgeries"], True) in saved  # aligned twins: validation writers given


@pytest.mark.slow
def test_cli_evaluate_without_validation_uses_the_stored_threshold(trained, tmp_path):
    folder, splits, _, result = trained
    test = sorted(splits["test"]["writer"].unique())
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(result.model_path),
                "--data",
                str(folder),
                "--writers",
                *test,
                "--out",
                str(tmp_path),
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )
    saved = rows_of(json.loads((tmp_path / "metrics.json").read_text()))
    assert saved[("single", 1, "skilled", False)]["threshold"] == pytest.approx(result.threshold)
    assert saved[("single", 1, "skilled", False)]["threshold_from"] == "model card"
    assert not any(method == "spread" or aligned for method, _, _, aligned in saved)  # other scales


@pytest.mark.slow
def test_cli_verify_verdicts(trained, capsys):
    _, splits, images, result = trained
    test = splits["test"].reset_index(drop=True)
    writer = test["writer"].iloc[0]
    genuine = test[(test["writer"] == writer) & test["genuine"]]["path"].tolist()
    forged = test[(test["writer"] == writer) & ~test["genuine"]]["path"].tolist()
    args = ["verify", "--model", str(result.model_path), "--reference", *genuine[:3], "--questioned"]
    assert cli.main(args + [forged[0], "--threshold", "1e9"]) == 0
    assert "GENUINE" in capsys.readouterr().out
    assert cli.main(args + [forged[0], "--threshold", "0"]) == 1
    assert "FORGED" in capsys.readouterr().out
    # default threshold: the model's; the printed distance is the mean distance to the references
    status = cli.main(args + [genuine[4]])
    out = capsys.readouterr().out
    tower = find_tower(load_siamese(result.model_path))
    rows = [test.index[test["path"] == p][0] for p in [*genuine[:3], genuine[4]]]
    emb = embed(tower, images["test"][rows])
    expected = np.linalg.norm(emb[:3] - emb[3], axis=1).mean()
    assert f"distance {expected:.4f}" in out and f"threshold {result.threshold:.4f}" in out
    assert status == (0 if expected <= result.threshold else 1)


@pytest.mark.slow
def test_several_questioned_signatures_in_one_call_score_as_one_at_a_time(trained, tmp_path, capsys):
    """One load of the model and of each reference for many claims; a questioned file that is a
    byte copy of a reference is named in a warning."""
    from sigkit.trained import TrainedModel
    from sigkit.verify import verify, verify_all

    _, splits, _, result = trained
    test = splits["test"].reset_index(drop=True)
    writer = test["writer"].iloc[0]
    genuine = test[(test["writer"] == writer) & test["genuine"]]["path"].tolist()
    forged = test[(test["writer"] == writer) & ~test["genuine"]]["path"].tolist()
    references, questioned = genuine[:3], [genuine[3], forged[0], forged[1]]
    trained_model = TrainedModel.load(result.model_path)
    for model, method in ((trained_model, "distance"), (TrainedModel.load(), "wd")):  # wd: the shipped tower's card
        together = verify_all(model, references, questioned, method=method)
        alone = [verify(model, references, q, method=method) for q in questioned]
        assert [v.distance for v in together] == pytest.approx([v.distance for v in alone], abs=1e-6)
        assert [v.questioned for v in together] == [str(q) for q in questioned]
    copy = tmp_path / "copy.png"
    copy.write_bytes(open(references[1], "rb").read())
    status = cli.main(
        [
            "verify",
            "--model",
            str(result.model_path),
            "--reference",
            *references,
            "--questioned",
            *questioned,
            str(copy),
        ]
    )
    out = capsys.readouterr().out
    assert status == (0 if all(v.genuine for v in verify_all(trained_model, references, [*questioned, copy])) else 1)
    assert all(f"{q}: " in out for q in questioned) and "byte-identical to the reference" in out
    assert out.count("byte-identical") == 1


@pytest.mark.slow
def test_cli_verify_explain_draws_the_pairs_with_the_verdict(trained, tmp_path, capsys):
    _, splits, _, result = trained
    test = splits["test"].reset_index(drop=True)
    genuine = test[(test["writer"] == test["writer"].iloc[0]) & test["genuine"]]["path"].tolist()
    out = tmp_path / "explain.png"
    status = cli.main(
        [
            "verify",
            "--model",
            str(result.model_path),
            "--reference",
            *genuine[:3],
            "--questioned",
            genuine[3],
            "--explain",
            str(out),
        ]
    )
    assert status in (0, 1) and f"where they differ: {out}" in capsys.readouterr().out
    picture = matplotlib.pyplot.imread(out)
    assert picture.ndim == 3 and picture.shape[0] > 200  # three rows of pairs, not an empty canvas
    assert picture[..., :3].std() > 0.05


@pytest.mark.slow
def test_cli_verify_bad_inputs_name_the_file(trained, tmp_path, capsys):
    _, splits, _, result = trained
    reference = splits["test"]["path"].iloc[0]
    empty, text = tmp_path / "empty.png", tmp_path / "text.png"
    empty.write_bytes(b"")
    text.write_text("not an image")
    base = ["verify", "--model", str(result.model_path), "--reference", reference, "--questioned"]
    for bad in (empty, text, tmp_path / "missing.png"):
        assert cli.main(base + [str(bad)]) == 2
        assert str(bad) in capsys.readouterr().err
    assert (
        cli.main(
            ["verify", "--model", str(tmp_path / "none.keras"), "--reference", reference, "--questioned", reference]
        )
        == 2
    )
    assert "none.keras" in capsys.readouterr().err
    lone = tmp_path / "lone" / "m.keras"
    lone.parent.mkdir()
    lone.write_bytes(result.model_path.read_bytes())  # no model.json beside it
    assert cli.main(["verify", "--model", str(lone), "--reference", reference, "--questioned", reference]) == 2
    assert "--threshold" in capsys.readouterr().err


@pytest.mark.slow
def test_one_evaluation_path_for_the_notebook_the_cli_and_the_benchmark(trained, tmp_path):
    """Notebook 03 (`evaluate_model_file`), `sigkit evaluate` (`evaluate_model`) and bench/cedar.py
    all go through `evaluate_run`: on the same model and writers, the same figures."""
    from sigkit.evaluation import evaluate_model, evaluate_run
    from sigkit.experiment import Prepared, evaluate_model_file

    folder, splits, images, result = trained
    manifest = load_dataset(folder)
    prepared = Prepared(folder, manifest, None, splits, images)
    # plain scores: the aligned ones go through the same function (test_cli_evaluate_reproduces_the_library)
    options = dict(k=3, seed=0, n_boot=20, aligned=False)
    notebook = evaluate_model_file(result.model_path, prepared, curve_ks=(1, 2), **options)
    test, val = sorted(splits["test"]["writer"].unique()), sorted(splits["val"]["writer"].unique())
    command, _ = evaluate_model(result.model_path, folder, test, val, out_dir=tmp_path, **options)
    library = evaluate_run(result.model_path, splits, curve_ks=(1, 2), **options)  # decodes the images itself
    keys = ["method", "k", "forgeries", "aligned"]
    tables = [ev.table.set_index(keys).sort_index() for ev in (notebook, command, library)]
    assert list(tables[0].index) == list(tables[2].index)
    tables[1] = tables[1].loc[tables[0].index]  # the command draws the whole EER-against-K curve as well
    for key in ("eer", "auc", "threshold", "accuracy"):
        for other in tables[1:]:
            assert np.allclose(tables[0][key], other[key], atol=1e-6), key


def test_writer_patterns_and_the_split_shortcut():
    import pandas as pd

    from sigkit.evaluation import match_writers, random_halves

    manifest = pd.DataFrame({"writer": ["B-1", "B-2", "B-10", "sigcomp2009:004", "7"], "genuine": True})
    assert match_writers(parse_writers(["B-*", "7"]), manifest) == ["B-1", "B-10", "B-2", 7]
    assert match_writers(parse_writers(["sigcomp2009:*"]), manifest) == ["sigcomp2009:004"]
    with pytest.raises(ValueError, match="no writer matches"):
        match_writers(["H-*"], manifest)
    val, test = random_halves(manifest, 0.4, seed=1)
    assert len(val) == 2 and len(test) == 3 and not set(val) & set(test)
    assert random_halves(manifest, 0.4, seed=1) == (val, test)
    with pytest.raises(ValueError, match="validation share"):
        random_halves(manifest, 1.0)


def test_aligned_auto_skips_what_would_take_too_long(caplog):
    from sigkit.evaluation import ALIGNED_AUTO_MAX_IMAGES, aligned_is_affordable

    assert aligned_is_affordable(960)  # CEDAR's validation and test writers
    with caplog.at_level("WARNING"):
        assert not aligned_is_affordable(ALIGNED_AUTO_MAX_IMAGES + 1)
    assert "aligned=True" in caplog.text and "minutes" in caplog.text
