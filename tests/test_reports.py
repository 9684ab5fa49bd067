"""The papermill runner behind `make reports`: executes notebooks, writes the run, fails safely."""

import json
import math
from pathlib import Path

import nbformat
import pytest

from sigkit import reports, synth
from sigkit.evaluation import METRICS_SCHEMA

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return synth.generate(tmp_path_factory.mktemp("synth"), n_writers=8, n_genuine=6, n_forged=4, seed=1)


def test_every_notebook_is_stored_clean_with_a_parameters_cell():
    for path in reports.notebooks(ROOT / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), path.name
        assert any("parameters" in cell.metadata.get("tags", []) for cell in nb.cells), path.name
        assert nb.cells[0].cell_type == "markdown", f"{path.name} must open with prose"


def test_papermill_reads_every_parameter_line():
    """A line papermill cannot parse is dropped from `papermill --help-notebook` and warned about
    on every run ("Passed unknown parameter"), though the injected value still lands."""
    from papermill.translators import PythonTranslator

    for path in reports.notebooks(ROOT / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        cell = next(cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", []))
        assigned = [
            line.split("=")[0].strip()
            for line in cell.source.splitlines()
            if "=" in line and not line.startswith((" ", "#", "}", "]", ")"))
        ]
        parsed = [parameter.name for parameter in PythonTranslator.inspect(cell)]
        assert parsed == assigned, path.name


TINY = {
    "image_size": [32, 64],
    "widths": [8, 16],
    "convs_per_block": 1,
    "embedding_dim": 16,
    "writers_per_batch": 3,
    "k_genuine": 2,
    "k_forged": 1,
    "epochs": 2,
    "steps_per_epoch": 3,
    "val_writers": 2,
    "test_writers": 2,
}


@pytest.mark.slow
def test_every_notebook_runs_under_papermill_and_writes_its_reports(tiny_data, tmp_path, capfd):
    params = {
        "overrides": TINY,
        "k": 3,
        "n_boot": 50,
        "leak_bootstrap": 50,
        "references_grid": [2, 4],
        "studies": "full",
    }
    run = reports.run_reports(data=str(tiny_data), run="tiny", params=params, reports_dir=tmp_path, timeout=600)
    assert run == tmp_path / "tiny"
    assert sorted(p.name for p in run.glob("*.ipynb")) == [p.name for p in reports.notebooks(ROOT / "notebooks")]
    data = json.loads((run / "data.json").read_text())
    assert data["writers"] == 8 and data["genuine"] == 48 and data["forged"] == 32
    assert data["leak_check_auc"]["sigkit preprocessed"]["auc"] == 0.5  # a black canvas: no cue left
    training = json.loads((run / "training.json").read_text())
    assert training["epochs_run"] == 2 and (run / "model" / "model.keras").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["schema"] == METRICS_SCHEMA and metrics["k"] == 3
    assert math.isfinite(metrics["attention_ink_ratio"])  # CBAM maps computed, none degenerate
    # single pairs and K references decided three ways, skilled and random apart, and the K curve
    rows = {(r["method"], r["k"], r["forgeries"]) for r in metrics["protocols"]}
    assert {(m, 3, f) for m in ("mean", "spread", "wd") for f in ("skilled", "random")} <= rows
    assert {("single", 1, "skilled"), ("single", 1, "random")} <= rows
    assert {k for method, k, _ in rows if method == "wd"} >= {1, 2, 3}
    # what the console showed: one line per training epoch, no TensorFlow C++ start-up lines
    console = capfd.readouterr()
    assert "Epoch 2/2" in console.out
    assert "oneDNN" not in console.out + console.err and "absl::InitializeLog" not in console.out + console.err
    assert (run / "kernels.log").exists()  # the kernels' stderr is kept with the run instead
    experiments = json.loads((run / "experiments.json").read_text())
    assert set(experiments) == {"references_2", "references_4", "main", "no_attention", "comparison"}
    # the baseline is notebook 02's own model, evaluated again, not trained again
    assert experiments["main"]["reused"] == "model" and not (run / "experiments" / "main" / "model.keras").exists()
    assert [experiments[name]["references_used"] for name in ("references_2", "references_4", "main")] == [2, 4, 6]
    assert experiments["no_attention"]["config"]["model"]["attention"] == "none"
    assert experiments["comparison"]["config"]["model"]["head"] == "match"
    # the deletion test scored each map of the (CBAM, embedding) main model against random ink
    assert set(metrics["deletion_test"]) == {"gradcam", "attention", "random"}
    assert all(area >= 0 for area in metrics["deletion_test"].values())
    figures = {p.stem for p in (run / "figures").glob("*.png")}
    assert {
        "01_preprocessing_steps",
        "01_pairs",
        "01_leak_check",
        "02_tower",
        "02_training_curves",
        "03_roc",
        "03_det",
        "03_far_frr",
        "03_attention_heatmaps",
        "03_gradcam_heatmaps",
        "03_deletion_test",
        "03_eer_by_k",
        "04_comparison",
        "04_arms_validation",
        "04_limited_data",
        "04_kaggle_protocols",  # from the recorded Kaggle runs committed with the kit
    } <= figures
    summary = (run / "summary.md").read_text()
    assert "| single pairs (skilled) |" in summary and "| no_attention |" in summary and "03_roc" in summary
    assert "| comparison | match |" in summary and "no_attention: single-pair skilled EER" in summary
    assert "against" in summary and "for main" in summary  # verdicts read against the run's own model
    assert "| 3 refs, mean distance (skilled) |" in summary and "(10) |" in summary  # over 10 draws
    assert "## Time (on a " in summary and "| 04_comparison |" in summary  # each notebook's seconds
    timings = json.loads((run / "timings.json").read_text())["notebook_seconds"]
    assert list(timings) == [p.stem for p in reports.notebooks(ROOT / "notebooks")] and min(timings.values()) > 0
    # every figure is followed by its reading: the executed notebooks print one after each save
    executed = nbformat.read(run / "02_training.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "parameters, " in printed and "validation EER" in printed and "short epochs the contrastive loss" in printed
    assert not list(tmp_path.glob(".tiny.*"))  # no staging left behind


def one_cell_notebook(folder, name: str, source: str):
    """A notebook in `folder` with a parameters cell (run_dir) and one code cell."""
    folder.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / name)
    return folder


def test_a_failing_notebook_leaves_the_previous_run_untouched(tmp_path):
    notebooks = one_cell_notebook(tmp_path / "notebooks", "01_broken.ipynb", "raise RuntimeError('boom')")
    previous = tmp_path / "reports" / "r"
    previous.mkdir(parents=True)
    (previous / "metrics.json").write_text("{}")

    with pytest.raises(Exception, match="boom"):
        reports.run_reports(run="r", reports_dir=tmp_path / "reports", notebook_dir=notebooks, timeout=120)
    assert (previous / "metrics.json").read_text() == "{}"
    assert (tmp_path / "reports" / ".r.failed" / "01_broken.ipynb").exists()


@pytest.mark.slow
def test_reuse_starts_from_the_previous_run_and_a_fresh_run_does_not(tmp_path):
    # stands for a training that reads back what a previous run finished
    count = (
        "from pathlib import Path\n"
        "done = Path(run_dir) / 'trainings.txt'\n"
        "done.write_text(str(int(done.read_text()) + 1 if done.exists() else 1))"
    )
    notebooks = one_cell_notebook(tmp_path / "notebooks", "01_count.ipynb", count)
    run = dict(run="r", reports_dir=tmp_path / "reports", notebook_dir=notebooks, timeout=120)

    folder = reports.run_reports(**run)
    assert (folder / "trainings.txt").read_text() == "1"
    assert (reports.run_reports(**run, reuse=True) / "trainings.txt").read_text() == "2"
    assert (reports.run_reports(**run) / "trainings.txt").read_text() == "1"  # without reuse: from scratch
    assert not list((tmp_path / "reports").glob(".r.*"))


def test_params_file_must_be_a_mapping(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("seed: 3\nepochs: 2\n")
    assert reports.load_params(good) == {"seed": 3, "epochs": 2}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        reports.load_params(bad)


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile"):
        reports.run_reports(profile="nope")


def test_the_cli_hands_every_option_to_the_report_runners_parser(capsys):
    from sigkit import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["reports", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--reuse" in out and "--only" in out and "sigkit reports" in out


def test_the_ablation_table_carries_intervals_and_says_what_they_mean():
    def result(attention, refs, eer, ci):
        return {
            "config": {"attention": attention, "references_per_writer": refs, "head": "embedding"},
            "epochs_run": 3,
            "val_eer": 10.0,
            "eer_single_skilled": eer,
            "eer_single_skilled_ci": ci,
        }

    results = {
        "references_2": result("last", 2, 30.0, [25.0, 35.0]),
        "references_4": result("last", 4, 20.0, [15.0, 26.0]),
        "no_attention": result("none", 4, 24.0, None),
    }
    results["no_attention"]["eer_single_skilled_ci"] = [19.0, 29.0]
    lines = reports.experiments_table(results)
    assert "| references_4 | embedding | last | 4 | 3 | 10.00 | 20.00 | 15.0-26.0 |" in lines
    assert lines[-1] == (
        "- no_attention: single-pair skilled EER 24.0 % against 20.0 % for references_4, inside its "
        "95 % interval 15.0-26.0: cannot be told apart"
    )
