"""Data figures: raw scans, preprocessing steps, preprocessed grids, pairs; and `save`."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

INK_CMAP = "gray"


def save(fig: matplotlib.figure.Figure, run_dir: str | Path, name: str, svg: bool = False) -> Path:
    """Write `fig` to `<run_dir>/figures/<name>.png` (and .svg) and return the PNG path."""
    folder = Path(run_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    if svg:
        fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    return path


def raw_image(path: str) -> np.ndarray:
    """A file as RGBA pixels, as a viewer shows it."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def genuine_and_forged(manifest: pd.DataFrame, writers: list[str], per_class: int = 3) -> matplotlib.figure.Figure:
    """Raw scans, one row per writer: genuine samples on the left, skilled forgeries on the right."""
    fig, axes = plt.subplots(
        len(writers), 2 * per_class, figsize=(2.2 * 2 * per_class, 1.3 * len(writers)), squeeze=False
    )
    for row, writer in zip(axes, writers):
        mine = manifest[manifest["writer"] == writer]
        picks = list(mine[mine["genuine"]]["path"][:per_class]) + list(mine[~mine["genuine"]]["path"][:per_class])
        for i, (ax, path) in enumerate(zip(row, picks)):
            ax.imshow(raw_image(path))
            ax.set_title(("genuine" if i < per_class else "forged") + f" ({writer})", fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.suptitle("Raw scans: genuine (left) and skilled forgeries (right)")
    fig.tight_layout()
    return fig


def preprocessing_steps(step_images: dict[str, np.ndarray], raw: np.ndarray | None = None) -> matplotlib.figure.Figure:
    """The output of `sigkit.preprocess.steps` side by side, the raw file first."""
    panels = ({"raw file": raw} if raw is not None else {}) | step_images
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.4))
    for ax, (title, image) in zip(axes, panels.items()):
        ax.imshow(
            image,
            cmap=None if image.ndim == 3 else INK_CMAP,
            vmin=None if image.ndim == 3 else 0,
            vmax=None if image.ndim == 3 else 1,
        )
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def image_grid(
    images: np.ndarray, titles: list[str] | None = None, columns: int = 6, title: str = ""
) -> matplotlib.figure.Figure:
    """A grid of preprocessed (N, H, W, 1) images in [0, 1] or uint8."""
    images = np.asarray(images)
    rows = int(np.ceil(len(images) / columns))
    height, width = images.shape[1:3]
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(columns * 2.2 * width / max(height, width) + 0.5, rows * 2.2 * height / max(height, width) + 0.6),
        squeeze=False,
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i, ..., 0], cmap=INK_CMAP, vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def pair_examples(pair_images: list[tuple[np.ndarray, np.ndarray]], titles: list[str]) -> matplotlib.figure.Figure:
    """Pairs side by side, one pair per row."""
    fig, axes = plt.subplots(len(pair_images), 2, figsize=(5.0, 1.4 * len(pair_images)), squeeze=False)
    for (left, right), title, row in zip(pair_images, titles, axes):
        for ax, image in zip(row, (left, right)):
            ax.imshow(np.asarray(image)[..., 0], cmap=INK_CMAP, vmin=0, vmax=1)
            ax.axis("off")
        row[0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return fig
