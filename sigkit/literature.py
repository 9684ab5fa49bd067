"""Published offline signature verification results beside sigkit's own: a checked table and a chart.

A figure such as "EER 4.88 %" says little without the data set and the protocol behind it: a
writer-independent EER with a threshold chosen on validation writers, an accuracy at the best
threshold over the test pairs, and a writer-dependent SVM with 12 references are different
measurements. The table shipped with sigkit (`sigkit/literature.csv`, package data) therefore holds
one row per (method, dataset, metric), values in percent, with a `protocol` column saying how each
number was obtained and a `source_note` saying where it was read and what is uncertain. The chart
labels every bar with its data set and protocol for the same reason, and marks sigkit's own
measurements in another colour.
"""

from __future__ import annotations

import datetime
import textwrap
from importlib.resources import as_file, files
from pathlib import Path

import matplotlib.figure
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Patch

COLUMNS = ("method", "year", "dataset", "protocol", "metric", "value", "citation", "doi", "source_note")
MUST_BE_FILLED = ("method", "year", "dataset", "protocol", "metric", "value")
LOWER_IS_BETTER = {"eer", "far", "frr"}
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "eer": "EER",
    "far": "FAR",
    "frr": "FRR",
}
PUBLISHED_COLOUR, OWN_COLOUR = "#9aa5b1", "#d9480f"
SHIPPED_TABLE = "literature.csv"


def load_literature(path: str | Path | None = None) -> pd.DataFrame:
    """The literature table, checked: all columns, no blank method/dataset/protocol, values in [0, 100].
    No path: the table shipped with sigkit."""
    if path is None:
        with as_file(files("sigkit") / SHIPPED_TABLE) as shipped:
            return load_literature(shipped)
    path = Path(path)
    try:
        # Everything as text first, so that a blank cell stays blank instead of turning into NaN.
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: not a readable CSV ({error})") from error
    missing = [column for column in COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    table = raw[list(COLUMNS)].apply(lambda column: column.str.strip())
    _check_rows(table, path)
    table["year"] = table["year"].astype(int)
    table["value"] = table["value"].astype(float)
    table["metric"] = table["metric"].str.lower()
    table["measured"] = False
    return table


def _check_rows(table: pd.DataFrame, path: Path) -> None:
    """Raise ValueError naming the file and the CSV line of the first bad cells."""

    def lines(mask) -> str:  # header is line 1
        return ", ".join(str(i + 2) for i in table.index[mask][:5])

    for column in MUST_BE_FILLED:
        blank = table[column] == ""
        if blank.any():
            raise ValueError(f"{path}: empty '{column}' on line(s) {lines(blank)}")
    value = pd.to_numeric(table["value"], errors="coerce")
    bad_value = value.isna() | (value < 0) | (value > 100)
    if bad_value.any():
        raise ValueError(f"{path}: 'value' must be a number in percent, 0 to 100, on line(s) {lines(bad_value)}")
    bad_year = pd.to_numeric(table["year"], errors="coerce").isna()
    if bad_year.any():
        raise ValueError(f"{path}: 'year' is not a number on line(s) {lines(bad_year)}")


def with_measured(
    literature: pd.DataFrame, measured: dict[str, float], dataset: str, protocol: str, method: str = "sigkit (this run)"
) -> pd.DataFrame:
    """`literature` plus one row per measured metric, flagged `measured=True` so the chart highlights it.

    Values are in percent like the literature (sigkit.metrics returns fractions: multiply by 100).
    """
    if not dataset.strip() or not protocol.strip():
        raise ValueError("a measured result needs its dataset and protocol, or it cannot be compared")
    out_of_range = {metric: value for metric, value in measured.items() if not 0 <= value <= 100}
    if out_of_range:
        raise ValueError(f"measured values must be in percent (0 to 100): {out_of_range}")
    rows = pd.DataFrame(
        [
            {
                "method": method,
                "year": datetime.date.today().year,
                "dataset": dataset,
                "protocol": protocol,
                "metric": metric.lower(),
                "value": float(value),
                "citation": "this run",
                "doi": "",
                "source_note": "measured by sigkit",
                "measured": True,
            }
            for metric, value in measured.items()
        ]
    )
    return pd.concat([literature, rows], ignore_index=True)


def bar_label(row: pd.Series, width: int = 62) -> str:
    """'method (year) — dataset, protocol', wrapped to a few lines; long protocols are shortened."""
    protocol = textwrap.shorten(row["protocol"], width=2 * width, placeholder=" …")
    return textwrap.fill(f"{row['method']} ({row['year']}) — {row['dataset']}, {protocol}", width=width)


def comparison_chart(table: pd.DataFrame, metrics=("accuracy", "eer")) -> matplotlib.figure.Figure:
    """Horizontal bars, one panel per metric, best result on top; sigkit's own bars in another colour."""
    panels = [table[table["metric"] == metric] for metric in metrics]
    heights = [max(len(rows), 1) for rows in panels]
    fig, axes = plt.subplots(
        len(metrics),
        1,
        figsize=(12, 1.4 * len(metrics) + 0.62 * sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
        layout="constrained",
    )
    for ax, metric, rows in zip(axes[:, 0], metrics, panels):
        _draw_panel(ax, metric, rows)
    legend = [
        Patch(color=PUBLISHED_COLOUR, label="published, as reported"),
        Patch(color=OWN_COLOUR, label="sigkit, measured"),
    ]
    fig.legend(handles=legend, loc="outside upper right", ncols=2, fontsize=8)
    fig.suptitle(
        "Offline signature verification: published results and sigkit\n"
        "(different data sets and protocols: compare only bars with the same data set and protocol)",
        fontsize=10,
        x=0.0,
        ha="left",
    )
    return fig


def _draw_panel(ax, metric: str, rows: pd.DataFrame) -> None:
    lower_is_better = metric in LOWER_IS_BETTER
    name = METRIC_NAMES.get(metric, metric)
    ax.set_title(f"{name} (%) — {'lower' if lower_is_better else 'higher'} is better", fontsize=9, loc="left")
    if rows.empty:
        ax.text(0.5, 0.5, f"no rows for '{metric}'", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_yticks([])
        return
    # barh draws the first row at the bottom: sort worst first so the best result ends on top.
    rows = rows.sort_values("value", ascending=not lower_is_better, kind="stable")
    colours = [OWN_COLOUR if own else PUBLISHED_COLOUR for own in rows["measured"].astype(bool)]
    bars = ax.barh(range(len(rows)), rows["value"], color=colours, height=0.7)
    ax.bar_label(bars, labels=[f"{round(value, 2):g}" for value in rows["value"]], padding=3, fontsize=7)
    ax.set_yticks(range(len(rows)), [bar_label(row) for _, row in rows.iterrows()], fontsize=7)
    for tick, own in zip(ax.get_yticklabels(), rows["measured"].astype(bool)):
        if own:
            tick.set_color(OWN_COLOUR)
            tick.set_fontweight("bold")
    # Rates near zero would vanish on a 0-100 axis; accuracies are shown on the full scale.
    ax.set_xlim(0, rows["value"].max() * 1.15 if lower_is_better else 105)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
