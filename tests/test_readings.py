"""The sentences printed after each figure: computed from the numbers, and saying what they show."""

import ast
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from sigkit import readings

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_training_reading_names_the_best_epoch_and_whether_it_was_still_improving():
    still_falling = pd.DataFrame(
        {"epoch": range(5), "loss": [0.9, 0.7, 0.6, 0.5, 0.4], "val_eer": [0.4, 0.3, 0.2, 0.15, 0.1]}
    )
    text = readings.training(still_falling)
    assert "best 10.0 % at epoch 5 of 5" in text and "more epochs may still help" in text
    plateau = pd.DataFrame(
        {"epoch": range(8), "loss": np.linspace(1, 0.2, 8), "val_eer": [0.4, 0.1, 0.2, 0.2, 0.3, 0.2, 0.2, 0.2]}
    )
    text = readings.training(plateau)
    assert "best 10.0 % at epoch 2 of 8" in text and "last 6 epochs did not improve" in text


def test_leak_reading_says_whether_the_interval_holds_chance():
    table = pd.DataFrame({"auc": [0.93, 0.52], "ci_low": [0.88, 0.40], "ci_high": [0.97, 0.63]}, index=["raw", "clean"])
    text = readings.leak_check(table)
    assert "raw: background-only AUC 0.93" in text and "give the answer away" in text
    assert "clean: background-only AUC 0.52" in text and "holds chance" in text


def _deletion(attention_areas, random_areas):
    rows = []
    for i, (ours, chance) in enumerate(zip(attention_areas, random_areas)):
        rows += [
            {"a": i, "b": i + 100, "method": "attention", "area": ours},
            {"a": i, "b": i + 100, "method": "random", "area": chance},
        ]
    return pd.DataFrame(rows)


def test_attention_reading_can_say_the_map_is_no_better_than_random():
    same = _deletion([0.089, 0.090, 0.088, 0.091], [0.090, 0.088, 0.089, 0.090])
    text = readings.attention(1.0, same)
    assert "not on the strokes" in text and "no better than random here" in text
    better = _deletion([0.20, 0.25, 0.22, 0.24], [0.09, 0.08, 0.10, 0.09])
    text = readings.attention(2.5, better)
    assert "2.50x as much attention on ink" in text and "better than random ink" in text


def test_preprocessed_reading_measures_ink_and_the_empty_background():
    images = np.zeros((4, 10, 10, 1), np.uint8)
    images[:, :2, :5] = 255  # 10 % ink in each image
    text = readings.preprocessed(images)
    assert "Ink covers 10.0 %" in text and "90.0 % of all pixels are exactly 0" in text


def _figure_calls(source: str) -> list[int]:
    """Line numbers of the cell's figure saves (`save(...)` or `run.save(...)`)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "save":
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_every_figure_is_followed_by_a_reading(notebook):
    """A cell that saves a figure prints a reading computed by `sigkit.readings` after it (in the
    same cell), so the text under a figure always comes from this run's numbers."""
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    saving = [c for c in cells if _figure_calls(c.source)]
    assert saving, f"{notebook.name} saves no figure"
    for cell in saving:
        last_save = max(_figure_calls(cell.source))
        after = "\n".join(cell.source.splitlines()[last_save - 1 :])
        assert "readings." in after, f"{notebook.name}: no reading after the figure of\n{cell.source}"


def test_the_studies_scale_with_the_run_and_keep_its_stopping_rule():
    """`auto` trains the ablation arm only when the run's own training was short; every arm keeps the
    main run's epochs and patience, with a budget tied to the main training's time."""
    from sigkit.config import Config
    from sigkit.experiment import study_plan

    config = Config()
    plan, why = study_plan(config, "auto", main_seconds=80)
    assert list(plan) == ["main", "no_attention"] and "within" in why
    assert plan["main"] == config  # the run's own model, read back rather than trained again
    arm = plan["no_attention"].train
    assert (arm.epochs, arm.patience) == (config.train.epochs, config.train.patience)
    assert arm.time_budget_s == pytest.approx(120)
    plan, why = study_plan(config, "auto", main_seconds=1800)
    assert list(plan) == ["main"] and "over" in why
    plan, _ = study_plan(config, "full", main_seconds=1800, references_grid=(2, 4), budget_s=300)
    assert set(plan) == {"main", "no_attention", "comparison", "references_2", "references_4"}
    assert plan["references_2"].split.references_per_writer == 2 and plan["comparison"].model.head == "match"
    assert plan["comparison"].train.time_budget_s == 300
    with pytest.raises(ValueError, match="studies must be one of"):
        study_plan(config, "everything")


def test_a_variants_curve_is_its_own_or_the_runs_first_tower(tmp_path):
    from sigkit.experiment import variant_history

    (tmp_path / "model").mkdir()
    pd.DataFrame({"epoch": [0, 1, 0, 1], "val_eer": [0.3, 0.2, 0.4, 0.1], "member": [0, 0, 1, 1]}).to_csv(
        tmp_path / "model" / "history.csv", index=False
    )
    (tmp_path / "experiments" / "no_attention").mkdir(parents=True)
    pd.DataFrame({"epoch": [0], "val_eer": [0.25]}).to_csv(tmp_path / "experiments" / "no_attention" / "history.csv")
    assert variant_history(tmp_path, "main")["val_eer"].tolist() == [0.3, 0.2]  # read back: the first tower
    assert variant_history(tmp_path, "no_attention")["val_eer"].tolist() == [0.25]
    assert variant_history(tmp_path / "nowhere", "main") is None


def test_fusion_reading_weighs_the_gain_against_its_interval():
    from types import SimpleNamespace

    def table(gain_ci):
        how = {"fusion": "logistic", "members": ["a", "b", "c"], "best_member": "a", "gain": 0.02, "gain_ci": gain_ci}
        return SimpleNamespace(
            table=pd.DataFrame(
                [
                    {
                        "method": "fusion",
                        "forgeries": "skilled",
                        "label": "5 refs, fusion (skilled)",
                        "eer": 0.08,
                        "classifier": how,
                    },
                    {
                        "method": "mean",
                        "forgeries": "skilled",
                        "label": "5 refs, mean distance (skilled)",
                        "eer": 0.2,
                        "classifier": None,
                    },
                ]
            )
        )

    real = readings.fusion(table([0.005, 0.04]), 5)
    assert "8.0 % against 10.0 %" in real and "+2.0 points" in real and "a real gain" in real
    assert "weighted by a logistic regression" in real
    assert "cannot be told from none" in readings.fusion(table([-0.01, 0.04]), 5)
    assert "No fusion row" in readings.fusion(SimpleNamespace(table=table(None).table.iloc[1:]), 5)
