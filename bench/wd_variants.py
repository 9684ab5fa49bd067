"""Aligned writer-dependent classifiers with the background's own turns and shifts as negatives.

    python bench/wd_variants.py [seeds=0,1,2] [per_image=0] [C=1.0]   # prints one line per split

The shipped tower zero-shot on CEDAR, random forgeries, K = 5 references, 10 draws: the aligned
writer-dependent classifier (`sigkit.wd`, RBF) on both backgrounds (CEDAR's training writers and
the shipped one) as the transfer benchmark scores it, and the same with the variants of CEDAR's
training writers (`sigkit.align`) added as negatives: `per_image` drawn variants of each
image, 0 for all 34. The question: does teaching each classifier that a turned or shifted
stranger is still a stranger cut false accepts? A probe with one fixed kind and C; validation
and test writers printed apart, so the validation writers can decide before the kit adopts it.
Skips when CEDAR is absent.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from cedar import embed_variants_of, load_cedar
from common import parse_overrides

import sigkit
from sigkit.metrics import eer
from sigkit.model import find_tower, load_siamese
from sigkit.paths import cedar_path
from sigkit.scoring import genuine_of, reference_draws
from sigkit.shipped import background as shipped_background
from sigkit.shipped import pretrained_path
from sigkit.wd import WDSettings, writer_classifier


def random_eer(variants, manifest, negatives, settings, seed: int, k: int = 5, draws: int = 10) -> float:
    """EER (%) of the aligned classifiers on random forgeries: best decision over the questioned variants."""
    manifest = manifest.reset_index(drop=True)
    scores, labels = [], []
    for _, writer, references, questioned in reference_draws(manifest, k, seed, draws, "random"):
        model = writer_classifier(variants[:, references].reshape(-1, variants.shape[-1]), negatives, settings)
        scores.append(np.max([model.decision_function(v[questioned]) for v in variants], axis=0))
        labels.append(genuine_of(manifest, writer, questioned))
    return 100 * eer(-np.concatenate(scores), np.concatenate(labels))[0]


def main() -> None:
    folder = cedar_path()
    if folder is None:
        print("bench/wd_variants.py: skipped, CEDAR not found (set SIGKIT_DATA or SIGKIT_CEDAR)")
        return
    args = parse_overrides(sys.argv[1:])
    seeds = args.get("seeds", (0, 1, 2))
    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    per_image, settings = int(args.get("per_image", 0)), WDSettings("rbf", float(args.get("C", 1.0)))
    cedar = load_cedar(folder, sigkit.profile("cedar-cpu", seed=0))
    model_path = pretrained_path()
    tower = find_tower(load_siamese(model_path))
    variants = embed_variants_of(tower, model_path, cedar)
    splits, train = cedar["splits"], variants["train_genuine"]
    both = np.concatenate([train[0], shipped_background(model_path.parent)])
    extra = train[1:]
    if per_image:
        rng = np.random.default_rng(0)
        extra = extra[rng.integers(0, len(extra), (per_image, extra.shape[1])), np.arange(extra.shape[1])]
    negatives = {"both": both, "both+variants": np.concatenate([both, extra.reshape(-1, extra.shape[-1])])}
    for name, negative in negatives.items():
        for split in ("val", "test"):
            start = time.perf_counter()
            figures = [random_eer(variants[split], splits[split], negative, settings, seed) for seed in seeds]
            print(
                f"{name:14s} {split:4s} seeds {seeds}: EER % {[round(f, 2) for f in figures]}"
                f" mean {np.mean(figures):.3f} ({len(negative)} negatives, {time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
