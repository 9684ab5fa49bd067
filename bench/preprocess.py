"""Images/s of sigkit's tf.data preprocessing against a plain scikit-image loop, same files, same steps.

    python bench/preprocess.py [--limit N] [--size H W]

Both sides: decode, grey (alpha composited on white), downscale scans over 1024 px, Gaussian
(sigma 1), Otsu, ink mask, crop to the ink box, aspect-preserving antialiased resize, centred pad.
sigkit runs in tf.data with parallel calls (as training does); the
loop is the straightforward one-image-at-a-time code most projects start with.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import data_path
from PIL import Image
from skimage.filters import gaussian, threshold_otsu
from skimage.transform import resize

from sigkit.datasets import ink_on_white, load_dataset
from sigkit.quiet import import_tensorflow_quietly


def skimage_preprocess(path: str, size: tuple[int, int], sigma: float, max_side: int = 1024) -> np.ndarray:
    with Image.open(path) as image:
        grey = ink_on_white(image).astype(np.float64) / 255.0  # alpha composited on white, as sigkit does
    if max(grey.shape) > max_side:
        scale = max_side / max(grey.shape)
        grey = resize(grey, (round(grey.shape[0] * scale), round(grey.shape[1] * scale)), anti_aliasing=True)
    smooth = gaussian(grey, sigma=sigma, mode="reflect", truncate=4.0)
    ink = smooth <= threshold_otsu(smooth)
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    scale = min(size[0] / crop.shape[0], size[1] / crop.shape[1])
    shape = (max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale)))
    small = resize(crop, shape, anti_aliasing=True)
    out = np.zeros(size, np.float32)
    top, left = (size[0] - shape[0]) // 2, (size[1] - shape[1]) // 2
    out[top : top + shape[0], left : left + shape[1]] = small
    return out


def rates(paths: list[str], size: tuple[int, int], repeats: int) -> tuple[float, float]:
    """(sigkit images/s, scikit-image images/s), each the median of `repeats` timed runs."""
    from sigkit.preprocess import load_images

    load_images(paths[:32], size=size, sigma=1.0)  # trace the graph once, as any run does

    def sigkit_side():
        load_images(paths, size=size, sigma=1.0)

    def skimage_side():
        for path in paths:
            skimage_preprocess(path, size, 1.0)

    # alternate the two sides, so a slow spell of a shared machine hits both
    runs = {sigkit_side: [], skimage_side: []}
    for _ in range(repeats):
        for side in runs:
            start = time.perf_counter()
            side()
            runs[side].append(len(paths) / (time.perf_counter() - start))
    sigkit_rate, skimage_rate = (float(np.median(r)) for r in runs.values())
    return sigkit_rate, skimage_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N files")
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side; the median is reported")
    args = parser.parse_args()
    import_tensorflow_quietly()
    folder, name = data_path()
    paths = load_dataset(folder)["decode_path"].tolist()[: args.limit]
    size = tuple(args.size)
    sigkit_rate, skimage_rate = rates(paths, size, args.repeats)

    print(f"data: {name}, {len(paths)} images -> {size[0]}x{size[1]}, median of {args.repeats} runs per side")
    print(f"sigkit tf.data preprocessing: {sigkit_rate:8.1f} images/s")
    print(f"scikit-image loop:            {skimage_rate:8.1f} images/s")
    print(f"ratio sigkit / scikit-image:  {sigkit_rate / skimage_rate:8.2f}x")


if __name__ == "__main__":
    main()
