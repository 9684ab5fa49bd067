"""Small signature-like test images drawn with Pillow (no data set needed)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def scribble(seed: int = 0, size=(300, 160), paper: int = 225, ink: int = 40, noise: float = 6.0) -> np.ndarray:
    """An 8-bit grey image: a wavy pen line on noisy paper, different for each seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("L", size, paper)
    draw = ImageDraw.Draw(image)
    t = np.linspace(0, 1, 200)
    x = 0.15 * width + 0.7 * width * t
    y = height / 2 + 0.25 * height * np.sin(2 * np.pi * (2 + rng.random() * 2) * t + rng.random() * 6)
    draw.line(list(zip(x.tolist(), y.tolist())), fill=ink, width=int(rng.integers(2, 5)), joint="curve")
    array = np.asarray(image, dtype=np.float64) + rng.normal(0, noise, (height, width))
    return np.clip(array, 0, 255).astype(np.uint8)


def png_bytes(image: Image.Image | np.ndarray, fmt: str = "PNG") -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
