"""The Kaggle SigComp 2011 figures side by side: the paper's, the published protocol, its leaks, the honest one.

A published figure on that copy and an honest one differ by what the protocol lets the model and
the threshold see. `side_by_side` reads the recorded runs (`bench/kaggle.py`: `published.json`,
`published-converged.json` (the same trained for longer), `leaks.json`, `leaks-converged.json`
(leak steps trained for longer, `steps=`), `honest.json` in one
folder, e.g. `reports/reference/kaggle/`) and the paper's five figures (`sigkit/literature.csv`)
into one table in percent; `what_the_gap_is_made_of` says in words how much each leak is worth,
from the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sigkit.literature import load_literature

FIGURES = ("accuracy", "precision", "recall", "f1", "eer")
SEED_PAPER = "(seed paper)"


def _read(folder: Path, name: str) -> dict | None:
    path = folder / name
    return json.loads(path.read_text()) if path.is_file() else None


def paper_row() -> dict:
    """The seed paper's five figures, as `sigkit/literature.csv` records them."""
    table = load_literature()
    rows = table[table["method"].str.contains(SEED_PAPER, regex=False)]
    return {
        "row": "the paper (Kaggle data, protocol unstated)",
        **{metric: float(rows.loc[rows["metric"] == metric, "value"].iloc[0]) for metric in FIGURES},
    }


def _step_row(name: str, step: dict) -> dict:
    at = step.get("at_selection_threshold") or step["at_test_threshold"]
    return {"row": name, **{m: 100 * at[m] for m in FIGURES[:4]}, "eer": 100 * step["eer"]}


def side_by_side(folder: str | Path) -> pd.DataFrame:
    """One row per protocol, Accuracy / Precision / Recall / F1 / EER in percent, on skilled
    forgeries; rows whose run is not recorded in `folder` are left out."""
    folder = Path(folder)
    rows = [paper_row()]
    published = _read(folder, "published.json")
    if published:
        rows.append(_step_row("published protocol, reproduced (threshold on the test pairs)", published))
    longer = _read(folder, "published-converged.json")
    if longer:
        name = f"published protocol, trained {longer['epochs_run']} epochs (threshold on the test pairs)"
        rows.append(_step_row(name, longer))
    leaks = _read(folder, "leaks.json")
    for n, step in enumerate((leaks or {}).get("steps", [])[1:], 1):
        rows.append(_step_row(f"leaks taken away, step {n}: {step['step']}", step))
    for step in (_read(folder, "leaks-converged.json") or {}).get("steps", []):
        rows.append(_step_row(f"leaks taken away: {step['step']}, trained {step['epochs_run']} epochs", step))
    honest = _read(folder, "honest.json")
    if honest:
        single = honest["at_val_threshold"]["single_skilled"]
        rows.append(
            {
                "row": f"honest: de-duplicated, writer-disjoint ({honest['writers']['test']} test writers of its own), "
                "kit profile, threshold from validation writers",
                **{m: 100 * single[m] for m in FIGURES},
            }
        )
    return pd.DataFrame(rows).set_index("row")


def what_the_gap_is_made_of(folder: str | Path) -> list[str]:
    """Sentences: the EER of each leak step against the one before it, from the recorded runs."""
    leaks = _read(Path(folder), "leaks.json")
    if not leaks:
        return ["no leak decomposition recorded (python bench/kaggle.py protocol=leaks)"]
    steps = leaks["steps"]
    sentences = [
        f"Published protocol, retrained with the kit: test EER {100 * steps[0]['eer']:.1f} % "
        f"({steps[0]['training_writers']} training writers, every test pair among the training pairs)."
    ]
    for before, step in zip(steps, steps[1:]):
        change = 100 * (step["eer"] - before["eer"])
        sentences.append(f"{step['step']}: EER {100 * step['eer']:.1f} % ({change:+.1f} points; {step['what']}).")
    last = steps[-1]
    if "at_selection_threshold" in last:
        on_test, honest = last["at_test_threshold"]["accuracy"], last["at_selection_threshold"]["accuracy"]
        sentences.append(
            f"The threshold from validation writers instead of the test pairs moves accuracy from "
            f"{100 * on_test:.1f} % to {100 * honest:.1f} % on the same model."
        )
    return sentences + _leak_against_training(Path(folder), steps)


def _leak_against_training(folder: Path, short_steps: list[dict]) -> list[str]:
    """How the distance from the published figure trained long to a leak step's short-run figure
    splits into the leak and the longer training, where that step was also trained long."""
    published = _read(folder, "published-converged.json")
    longer = {step["step"]: step for step in (_read(folder, "leaks-converged.json") or {}).get("steps", [])}
    sentences = []
    for short in short_steps[1:]:
        if published is None or short["step"] not in longer:
            continue
        long, leaky, brief = 100 * longer[short["step"]]["eer"], 100 * published["eer"], 100 * short["eer"]
        sentences.append(
            f"{short['step']}, trained for longer ({longer[short['step']]['epochs_run']} epochs; the published "
            f"protocol {published['epochs_run']}): EER {long:.1f} % against {brief:.1f} % after {short['epochs_run']}; "
            f"of the {brief - leaky:.1f} points between that short run and the published {leaky:.1f} %, "
            f"the longer training is worth {brief - long:.1f} and the leak {long - leaky:.1f}."
        )
    return sentences


def protocols_chart(table: pd.DataFrame):
    """Accuracy and EER of each row of `side_by_side`, one horizontal bar each, the paper's on top."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 0.8 * len(table) + 1.2), sharey=True)
    labels = [textwrap.fill(label, 44) for label in table.index]
    for ax, metric, note in zip(axes, ("accuracy", "eer"), ("higher is better", "lower is better")):
        ax.barh(range(len(table)), table[metric], color=["#999999"] + ["#1f77b4"] * (len(table) - 1))
        for y, value in enumerate(table[metric]):
            ax.text(value, y, f" {value:.1f}", va="center", fontsize=8)
        ax.set_title(f"{metric} % ({note})", loc="left", fontsize=10)
        ax.set_xlim(0, 105 if metric == "accuracy" else max(10.0, 1.25 * float(table[metric].max())))
    axes[0].set_yticks(range(len(table)), labels, fontsize=7.5)
    axes[0].invert_yaxis()
    fig.suptitle("Kaggle SigComp 2011 copy, skilled forgeries: what each protocol lets the model see", fontsize=10)
    fig.tight_layout()
    return fig


def write_summary(folder: str | Path) -> Path:
    """`summary.md` beside the recorded runs: the side-by-side table, the decomposition in words and
    the chart (`protocols.png`); returns the markdown's path."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    table = side_by_side(folder).round(2)
    fig = protocols_chart(table)
    fig.savefig(folder / "protocols.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    header = "| protocol | " + " | ".join(FIGURES) + " |"
    lines = [
        "# The Kaggle SigComp 2011 copy: the paper's figures, the published protocol, its leaks, the honest one",
        "",
        "Skilled forgeries; percent. Recorded by `bench/kaggle.py` (`published`, `protocol=leaks`, "
        "`protocol=honest`); rebuilt by `python bench/kaggle.py protocol=summary`.",
        "",
        header,
        "| --- |" + " --- |" * len(FIGURES),
        *(f"| {row} | " + " | ".join(f"{value:.2f}" for value in values) + " |" for row, values in table.iterrows()),
        "",
        *(f"- {sentence}" for sentence in what_the_gap_is_made_of(folder)),
        "",
        "![protocols](protocols.png)",
        "",
    ]
    path = folder / "summary.md"
    path.write_text("\n".join(lines))
    return path
