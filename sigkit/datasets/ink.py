"""Ink on white: any decoded image as 8-bit grey strokes on light paper, and the blank-page test.

`ink_on_white` scales 16-bit values to 8 bits, composites transparency over white and, when every
visible pixel has the same colour, takes the ink from the alpha channel (grey = 255 - alpha), so
white-or-black ink drawn only through alpha is still ink.

`ink_problem` calls a page blank from its grey histogram. The paper level is the median grey value
and the paper's noise sigma is 1.4826 x the median absolute deviation from it (both robust while
ink covers under half the page). A pixel is ink when it is at least max(12, 4 sigma) grey levels
from the paper; the page is blank when ink covers less than 0.02 % of it (or fewer than 5 pixels).
Pure Gaussian noise leaves ~0.006 % of pixels beyond 4 sigma, so a noisy empty scan is blank at
any noise level, while faint ink (20 levels on a clean page, as in the synthetic set) and a small
signature on a big page (~0.1 %) are not. A fixed percentile range would fail both ways: sigma-8
noise alone spreads the 0.5..99.5 percentiles by ~40 levels, and a small signature can cover well
under 0.5 % of the page.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Blank-page test: ink is >= max(12, 4 sigma) grey levels from the paper
MIN_INK_CONTRAST = 12
NOISE_MULTIPLE = 4.0
MIN_INK_FRACTION = 2e-4
MIN_INK_PIXELS = 5

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def ink_problem(image: Image.Image) -> str:
    """Why the page is blank, or "" when it holds ink (see the module docstring)."""
    try:
        counts = _grey_histogram(image)
    except ValueError as err:  # a colour mode Pillow cannot convert, e.g. LAB
        return f"unsupported colour mode {image.mode} ({err}): save it as greyscale or RGB PNG"
    pixels = int(counts.sum())
    paper = _median_level(counts)
    distance = np.abs(np.arange(256) - paper)
    paper_noise = 1.4826 * _median_level(np.bincount(distance, weights=counts, minlength=256))
    contrast = max(MIN_INK_CONTRAST, NOISE_MULTIPLE * paper_noise)
    ink = int(counts[distance >= contrast].sum())
    if ink >= max(MIN_INK_PIXELS, MIN_INK_FRACTION * pixels):
        return ""
    return (
        f"blank page: {ink} of {pixels:,} pixels differ from the paper (grey {paper}) by "
        f"{contrast:.0f}+ grey levels, fewer than {MIN_INK_FRACTION:.2%}; check the scan "
        "(exposure, empty page) or delete it"
    )


def _median_level(counts: np.ndarray) -> int:
    return int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))


def _grey_histogram(image: Image.Image) -> np.ndarray:
    if image.mode == "L" and "transparency" not in image.info:  # most scans: no pixel copy
        return np.asarray(image.histogram(), dtype=np.int64)
    return np.bincount(ink_on_white(image).ravel(), minlength=256)


def ink_on_white(image: Image.Image) -> np.ndarray:
    """8-bit greyscale pixels of a decoded image as ink on white paper (see module docstring)."""
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64).clip(0, 65535)
        return ((values + 128) // 257).astype(np.uint8)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        return np.nan_to_num(values * scale).clip(0, 255).round().astype(np.uint8)
    if "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info:
        return _composite_on_white(image.convert("RGBA"))
    return np.asarray(image.convert("L"))


def _composite_on_white(rgba: Image.Image) -> np.ndarray:
    colour = np.asarray(rgba.convert("L")).astype(np.int64)
    alpha = np.asarray(rgba.getchannel("A")).astype(np.int64)
    visible = colour[alpha > 0]
    if visible.size and int(visible.max()) - int(visible.min()) < MIN_INK_CONTRAST:
        # One colour everywhere it is visible: the strokes are drawn by alpha alone (white ink
        # would vanish on white paper), so opacity is the ink.
        return (255 - alpha).astype(np.uint8)
    return ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
