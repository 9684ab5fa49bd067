"""A block diagram of a tower drawn with matplotlib alone: no graphviz binary, no pydot."""

from __future__ import annotations

import matplotlib.figure
import matplotlib.pyplot as plt

# layers that carry weights or change the shape get a box; activations and dropout ride along
SKIPPED = ("Activation", "Dropout", "InputLayer")
COLOURS = {"Conv2D": "#9ecae1", "CBAM": "#fdae6b", "Dense": "#a1d99b", "MaxPooling2D": "#d9d9d9"}


def layer_rows(model) -> list[tuple[str, str, str, int]]:
    """(kind, name, output shape, parameters) of each layer the diagram shows, input first."""
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in SKIPPED[:2]:
            continue
        shape = tuple(layer.output.shape[1:]) if getattr(layer, "output", None) is not None else ()
        rows.append((kind, layer.name, " x ".join(str(s) for s in shape), int(layer.count_params())))
    return rows


def tower_diagram(model, title: str | None = None) -> matplotlib.figure.Figure:
    """One box per layer, left to right in rows, with its output shape and parameter count."""
    rows = layer_rows(model)
    per_line = 6
    lines = (len(rows) + per_line - 1) // per_line
    fig, ax = plt.subplots(figsize=(2.0 * per_line, 1.25 * lines + 0.6))
    ax.set_xlim(0, per_line)
    ax.set_ylim(-lines, 0.2)
    ax.axis("off")
    for index, (kind, name, shape, params) in enumerate(rows):
        x, y = index % per_line, -(index // per_line)
        ax.add_patch(
            plt.Rectangle((x + 0.06, y - 0.86), 0.82, 0.8, facecolor=COLOURS.get(kind, "#f0f0f0"), edgecolor="k")
        )
        label = f"{kind}\n{name}\n{shape}" + (f"\n{params:,} params" if params else "")
        ax.text(x + 0.47, y - 0.46, label, ha="center", va="center", fontsize=7)
        if index + 1 < len(rows) and (index + 1) % per_line:
            ax.annotate("", xy=(x + 1.06, y - 0.46), xytext=(x + 0.88, y - 0.46), arrowprops=dict(arrowstyle="->"))
    total = int(model.count_params())
    ax.set_title(title or f"{model.name}: {len(rows)} blocks, {total:,} parameters", fontsize=10)
    fig.tight_layout()
    return fig
