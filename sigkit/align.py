"""Aligned distances: the smallest distance over a few small turns and whole-pixel shifts.

The preprocessing crops each signature to its ink box and fits it into the frame, so two genuine
signings of one writer land a few pixels apart whenever one has a longer flourish or a stray dot,
and a writer's slope drifts from one signing to the next. The `grid` tower keeps the layout of the
strokes (that is what makes it work), so such a pair looks farther apart than the writing is.
Scoring a pair by the smallest distance over small turns and shifts of either signature compares
the two in register. A forgery gains from this too, but less (docs/experiments.md, 2026-12-06).
Evaluation reports these `*_aligned` protocols beside the plain ones, each with its own threshold
from the validation writers.

The turns are made on the scan, before the crop (`sigkit.preprocess`, `turn_deg`), and the
shifts are whole pixels of the preprocessed image: resampling the small binary image would blur
its thin strokes, and the blur alone moves a signature's embedding as far as the alignment saves.

`embed_variants` embeds every file under each turn and shift once (`embed_aligned` does the
shifts of images already preprocessed); `aligned_distances` then scores any pairs from those
embeddings without running the model again.
"""

from __future__ import annotations

import numpy as np

from sigkit.matching import match_layer, pair_distances
from sigkit.model import embed
from sigkit.preprocess import load_images, load_turned_images

# (shift x as a fraction of the width, shift y as a fraction of the height), rounded to whole
# pixels; the first is the image as it is. 4 and 8 px sideways and 4 px up and down at 96 x 192.
# Chosen on CEDAR's validation writers against zooms and more shifts (docs/experiments.md,
# 2026-12-06).
ALIGNMENTS = ((0.0, 0.0), (-0.04, 0.0), (-0.02, 0.0), (0.02, 0.0), (0.04, 0.0), (0.0, -0.04), (0.0, 0.04))


# Turns of the whole signature (degrees, counter-clockwise), made at the scan's resolution before
# the crop (`sigkit.preprocess`, `turn_deg`); the first is none. Chosen on CEDAR's validation
# writers against other angles, slants and stretches (docs/experiments.md, 2026-12-06).
TURNS = (0.0, -4.0, 4.0, -8.0, 8.0)


def scores_aligned(tower) -> bool:
    """Whether the aligned protocols apply to `tower`: not to a match tower, whose cross-matching
    already tolerates small shifts (and 35 variants x its cell matching would take most of an hour)."""
    return match_layer(tower) is None


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
    out[:, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = images[
        :, max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def embed_aligned(tower, images: np.ndarray, alignments=ALIGNMENTS, chunk: int = 4096) -> np.ndarray:
    """(V, N, D) embeddings of `images` under each of V shifts; [0] under the first (as they are).

    `alignments=ALIGNMENTS[:1]` gives the plain embeddings, shape (1, N, D). Every shift of a
    chunk of images goes through the tower in one call (a call's set-up costs as much as
    embedding dozens of images), at most about `chunk` shifted images at a time (bounded memory).
    """
    images = np.asarray(images)
    out = np.zeros((len(alignments), len(images), *tower.output_shape[1:]), np.float32)
    step = max(1, chunk // len(alignments))
    for start in range(0, len(images), step):
        part = images[start : start + step]
        shifted = np.concatenate([realign(part, *alignment) for alignment in alignments])
        out[:, start : start + len(part)] = embed(tower, shifted).reshape(len(alignments), len(part), *out.shape[2:])
    return out


def embed_variants(
    tower, paths, options: dict, images: np.ndarray | None = None, turns=TURNS, alignments=ALIGNMENTS, cache_dir=None
) -> np.ndarray:
    """(T x V, N, D) embeddings of the files `paths` turned by each of T angles, each under V shifts.

    `options` are the preprocessing options of the model (`sigkit.card.ModelCard.preprocessing`);
    `images`, when given, are the files already preprocessed without a turn (saves decoding them
    again). [0] is every image as it is (no turn, no shift), so `aligned_distances` takes the
    smallest distance over all turns and shifts of either signature. A few files' turns go through
    the tower together (one call: its set-up dominates there); many files' one turn at a time.
    """
    if not turns or turns[0] != 0:
        raise ValueError(f"the first turn must be 0 (the image as it is), got {tuple(turns)}")
    paths = list(paths)

    def turned(angle: float) -> np.ndarray:
        if angle == 0 and images is not None:
            return np.asarray(images)
        return load_images(paths, cache_dir=cache_dir, **{**options, "turn_deg": float(angle)})

    if len(paths) * len(turns) * len(alignments) <= 4096:
        first = turned(0.0)
        others = load_turned_images(paths, turns[1:], **options) if len(turns) > 1 else []
        together = embed_aligned(tower, np.concatenate([first, *others]), alignments)
        n = len(paths)
        return np.concatenate([together[:, t * n : (t + 1) * n] for t in range(len(turns))])
    return np.concatenate([embed_aligned(tower, turned(angle), alignments) for angle in turns])


def aligned_distances(aligned: np.ndarray, a, b, scorer=None) -> np.ndarray:
    """For pairs (a[i], b[i]): the smallest distance between one image as it is and the other
    under any variant (turn or shift), either way round (so swapping a and b gives the same).
    With one variant, the plain Euclidean distance. `scorer` compares other features
    (`sigkit.matching.scorer_for`: the cells of a match tower)."""
    aligned = np.asarray(aligned)
    if aligned.ndim != (scorer.item_ndim if scorer else 1) + 2:
        raise ValueError(f"aligned embeddings must be (alignments, images, dim), not shape {aligned.shape}")
    return pair_distances(aligned, a, b, scorer)
