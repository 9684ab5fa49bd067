"""Shift-tolerant distances: the smallest distance over a few small whole-pixel shifts.

The preprocessing crops each signature to its ink box and fits it into the frame, so two genuine
signings of one writer land a few pixels apart whenever one has a longer flourish or a stray dot.
The `grid` tower keeps the layout of the strokes (that is what makes it work), so such a pair
looks farther apart than the writing is. Scoring a pair by the smallest distance over small
shifts of either signature compares the two in register. A forgery gains from this too, but
less: on CEDAR's validation writers the single-pair EER dropped by about 1-1.5 points for each of
five models (README, Results). Evaluation reports these `*_aligned` protocols beside the plain
ones, each with its own threshold from the validation writers.

The shifts are whole pixels, with background coming in at the edge: resampling would blur the
thin binary strokes, and the blur alone moved a signature's embedding as far as the shift saved
(on validation, the same shifts resampled to 3.84 px, with two zooms, scored worse than no
shift at all; whole pixels scored better).

`embed_aligned` embeds every image under each shift once; `aligned_distances` then scores any
pairs from those embeddings without running the model again.
"""

from __future__ import annotations

import numpy as np

from sigkit.model import embed

# (shift x as a fraction of the width, shift y as a fraction of the height), rounded to whole
# pixels; the first is the image as it is. 4 and 8 px sideways and 4 px up and down at 96 x 192.
# Chosen on CEDAR's validation writers (one model): adding zooms (0.92, 1.08) or the diagonal
# shifts scored no better there.
ALIGNMENTS = ((0.0, 0.0), (-0.04, 0.0), (-0.02, 0.0), (0.02, 0.0), (0.04, 0.0), (0.0, -0.04), (0.0, 0.04))


def realign(images: np.ndarray, shift_x: float, shift_y: float) -> np.ndarray:
    """(N, H, W, ...) images moved right by `shift_x` of their width and down by `shift_y` of their
    height, in whole pixels; what comes in at the edge is background (0)."""
    images = np.asarray(images)
    dx, dy = round(shift_x * images.shape[2]), round(shift_y * images.shape[1])
    if dx == 0 and dy == 0:
        return images
    out = np.zeros_like(images)
    height, width = images.shape[1:3]
    if abs(dx) >= width or abs(dy) >= height:
        return out
    out[:, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = \
        images[:, max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)]
    return out


def embed_aligned(tower, images: np.ndarray, alignments=ALIGNMENTS, chunk: int = 1024) -> np.ndarray:
    """(V, N, D) embeddings of `images` under each of V shifts; [0] under the first (as they are).

    `alignments=ALIGNMENTS[:1]` gives the plain embeddings, shape (1, N, D).
    """
    images = np.asarray(images)
    out = np.zeros((len(alignments), len(images), tower.output_shape[-1]), np.float32)
    for start in range(0, len(images), chunk):  # bounded memory: one chunk of shifted images at a time
        part = images[start : start + chunk]
        for v, alignment in enumerate(alignments):
            out[v, start : start + len(part)] = embed(tower, realign(part, *alignment))
    return out


def aligned_distances(aligned: np.ndarray, a, b) -> np.ndarray:
    """For pairs (a[i], b[i]): the smallest distance between one image as it is and the other
    under any shift, either way round (so swapping a and b gives the same). With one alignment,
    the plain Euclidean distance."""
    aligned = np.asarray(aligned)
    a, b = np.asarray(a), np.asarray(b)
    if aligned.ndim != 3:
        raise ValueError(f"aligned embeddings must be (alignments, images, dim), not shape {aligned.shape}")
    as_is = aligned[0]
    best = np.full(len(a), np.inf, np.float32)
    for variant in aligned:
        best = np.minimum(best, np.linalg.norm(as_is[a] - variant[b], axis=1))
        best = np.minimum(best, np.linalg.norm(variant[a] - as_is[b], axis=1))
    return best
