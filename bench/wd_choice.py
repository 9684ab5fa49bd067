"""How should the writer-dependent classifier's kind and C be chosen? On one validation draw, or more?

    python bench/wd_choice.py [seeds=0,1,2,3,4] [k=12] [forgeries=skilled] [background=shipped]
    python bench/wd_choice.py k=5 forgeries=random background=both_variants

The shipped tower zero-shot on CEDAR, the aligned writer-dependent classifiers (`sigkit.wd`) as
`bench/transfer.py aligned=1` scores them. For every setting of `sigkit.wd.GRID`: the validation
writers' EER on the first draw of references (what `choose_settings` looks at by default), pooled
over the first three and over all ten draws (what the validation threshold already uses), and
the test EER (mean over the same ten draws). Then the setting each rule picks and its test EER:
one, three or ten draws, any kind or RBF only. The question: is a kind that slips on test
(linear, logistic regression) picked because one draw of ten validation writers is noisy?
`background`: `shipped` (stored beside the tower, with its turns and shifts), `cedar` (CEDAR's
training writers), `both`, and the last two with 12 of each CEDAR image's own turns and shifts
(`cedar_variants`, `both_variants`). Skips when CEDAR is absent.
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
from sigkit.scoring import summarise_draws
from sigkit.shipped import background as shipped_background
from sigkit.shipped import pretrained_path
from sigkit.wd import GRID, background_with_variants, wd_scores

DRAWS = 10
BACKGROUNDS = ("shipped", "cedar", "both", "cedar_variants", "both_variants")
VARIANTS_PER_IMAGE = 12  # bench/transfer.py's default


def background_for(which: str, train: np.ndarray, shipped: np.ndarray, seed: int) -> np.ndarray:
    """The negatives of `bench/transfer.py aligned=1`'s backgrounds, by name (`train`: the variants
    of CEDAR's training writers' genuine signatures, the image as it is first)."""
    if which == "shipped":
        return shipped
    cedar = train[0] if which in ("cedar", "both") else background_with_variants(train, VARIANTS_PER_IMAGE, seed=seed)
    return np.concatenate([cedar, shipped]) if which.startswith("both") else cedar


def pooled_eer(scores, draws: int) -> float:
    """EER (%) of the first `draws` draws of references pooled, as `choose_settings(draws=)` sees them."""
    first = scores[scores["draw"] < draws]
    return 100 * eer(first["distance"], first["label"])[0]


def rule_pick(table: list[dict], column: str, kinds=None) -> dict:
    rows = [row for row in table if kinds is None or row["kind"] in kinds]
    return min(rows, key=lambda row: row[column])


def main() -> None:
    folder = cedar_path()
    if folder is None:
        print("bench/wd_choice.py: skipped, CEDAR not found (set SIGKIT_DATA or SIGKIT_CEDAR)")
        return
    args = parse_overrides(sys.argv[1:])
    seeds = args.get("seeds", (0, 1, 2, 3, 4))
    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    k, forgeries, which = int(args.get("k", 12)), args.get("forgeries", "skilled"), args.get("background", "shipped")
    if which not in BACKGROUNDS:  # before minutes of embedding, not after
        raise SystemExit(f"bench/wd_choice.py: background must be one of {BACKGROUNDS}, not {which!r}")
    cedar = load_cedar(folder, sigkit.profile("cedar-cpu", seed=0))
    model_path = pretrained_path()
    tower = find_tower(load_siamese(model_path))
    variants = embed_variants_of(tower, model_path, cedar)
    splits, train = cedar["splits"], variants["train_genuine"]
    shipped = shipped_background(model_path.parent, aligned=True)
    rules = {
        "1 draw, any kind (today)": ("val_1", None),
        "3 draws, any kind": ("val_3", None),
        "10 draws, any kind": ("val_10", None),
        "1 draw, RBF only": ("val_1", ("rbf",)),
        "10 draws, RBF only": ("val_10", ("rbf",)),
    }
    picked = {name: [] for name in rules}
    for seed in seeds:
        start, table = time.perf_counter(), []
        background = background_for(which, train, shipped, seed)
        for settings in GRID:
            common = dict(seed=seed, draws=DRAWS, forgeries=forgeries, aligned=True)
            val = wd_scores(variants["val"], splits["val"], background, k, settings, **common)
            test = wd_scores(variants["test"], splits["test"], background, k, settings, **common)
            table.append(
                {
                    **settings.to_dict(),
                    **{f"val_{n}": pooled_eer(val, n) for n in (1, 3, DRAWS)},
                    "test": 100 * summarise_draws(test)["mean"],
                }
            )
        print(f"seed {seed} ({time.perf_counter() - start:.0f} s), {forgeries} K={k}, background {which}:", flush=True)
        for row in table:
            print(
                f"  {row['kind']:6s} C={row['C']:<5g} val 1 draw {row['val_1']:5.2f}"
                f"  val 10 draws {row['val_10']:5.2f}  test {row['test']:5.2f}  val 3 draws {row['val_3']:5.2f}",
                flush=True,
            )
        for name, (column, kinds) in rules.items():
            row = rule_pick(table, column, kinds)
            picked[name].append(row["test"])
            print(f"  {name:26s} picks {row['kind']} C={row['C']:g}: test {row['test']:.2f}", flush=True)
    for name, figures in picked.items():
        print(f"{name:26s} test EER % {[round(f, 2) for f in figures]} mean {np.mean(figures):.2f}", flush=True)


if __name__ == "__main__":
    main()
