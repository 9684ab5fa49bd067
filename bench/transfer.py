"""Transfer to CEDAR: the shipped tower zero-shot, fine-tuned, and training from scratch; one JSON line.

    python bench/transfer.py arm=zero-shot [seed=0]                    # the shipped tower as it is
    python bench/transfer.py arm=scratch [seed=0] [train_writers=35] [key=value ...]   # cedar-cpu, one tower
    python bench/transfer.py arm=finetune [seed=0] [train_writers=35] [key=value ...]  # from the shipped tower
    python bench/transfer.py arm=zero-shot model=path/to/model.keras  # another pre-trained tower
    python bench/transfer.py arm=zero-shot aligned=1 [seed=0] [variants_per_image=12|all]  # also the aligned scores
    python bench/transfer.py ... choice_draws=10   # the classifiers' kind and C chosen on 10 draws, not 1
    python bench/transfer.py arm=zero-shot fusion=1 [seed=0]  # the scorers fused (`sigkit.scoring.fuse`)

CEDAR's protocol as in bench/cedar.py; the validation writers also choose the writer-dependent
classifiers' kind and C. CEDAR is never among the shipped tower's training corpora. Reported:
single pairs, and K = 5 and 12 references over 10 draws by mean distance, spread-corrected and
writer-dependent (`sigkit.scoring`), skilled and random forgeries apart, with Accuracy /
Precision / Recall / F1 at the validation threshold. The writer-dependent classifiers' background
(`references`) is every genuine signature of CEDAR's training writers; a tower with a background
shipped beside it is also scored with that one (`references_shipped_background`, no CEDAR image)
and both (`references_both_backgrounds`). `aligned=1` adds `references_aligned[_<background>]`:
the same in register (`sigkit.align`, `sigkit.wd`), with two more backgrounds, CEDAR's training
writers with `variants_per_image` of each image's own turns and shifts as extra negatives, alone
(`references_aligned_variants`) and with the shipped one (`references_aligned_both_backgrounds_variants`).
`fusion=1` adds `references_fusion`: mean, spread-corrected and writer-dependent scores, plain and
aligned, each K alone and fused by weights learned on the validation writers (the writer-dependent
classifiers on the tower's own background, no CEDAR image; `sigkit.scoring.fuse`), with intervals
over test writers and the fusion's gain over the scorer the validation writers rank first, paired.
Skips (exit 0, one line saying so) when CEDAR is absent.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from cedar import load_cedar
from common import cedar_or_skip, parse_overrides, show_progress, to_json

from sigkit.datasets import CEDAR_SPLIT
from sigkit.paths import project_root, resolve
from sigkit.quiet import import_tensorflow_quietly
from sigkit.shipped import background as load_shipped_background
from sigkit.shipped import pretrained_path

ARMS = ("zero-shot", "scratch", "finetune")
# fine-tuning: a tenth of the from-scratch learning rate, so the pre-trained features are adapted, not replaced
FINETUNE = dict(init="pretrained", learning_rate=1e-4, ensemble=1, patience=15)
# from scratch: one tower too (the profile's default is a five-tower ensemble), so the arms compare tower for tower
SCRATCH = dict(ensemble=1)


def reference_rows(val, test, *, background, methods=("mean", "spread", "wd"), ks=(5, 12), aligned=False, **options):
    """One record per (method, K, forgeries) of `sigkit.scoring.evaluate` over 10 draws of the
    references, thresholds and the classifiers' kind and C from the validation writers."""
    from sigkit.scoring import Protocol, evaluate

    protocols = [Protocol(m, k, f, aligned) for m in methods for f in ("skilled", "random") for k in ks]
    return evaluate(test, val, protocols, background=background, **options).to_json()


def cedar_background(tower, cedar: dict) -> np.ndarray:
    """Every genuine signature of CEDAR's training writers (35 x 24), embedded: other writers of
    the target population, as a bank has its other customers' specimens (no forgeries, no labels
    beyond who signed)."""
    from sigkit.model import embed

    genuine = cedar["all_train"]["genuine"].to_numpy()
    return embed(tower, cedar["all_train_images"][genuine])


def embed_variants_of(tower, model_path, cedar: dict) -> dict:
    """Every turn and shift (`sigkit.align`) of CEDAR's validation and test images and of the training
    writers' genuine signatures (`train_genuine`), embedded by `tower` with the preprocessing on
    `model_path`'s card: (variants, images, dim) each, cached in reports/cache."""
    from sigkit.align import embed_variants
    from sigkit.card import ModelCard
    from sigkit.trained import preprocessing_of

    options, cache = preprocessing_of(ModelCard.for_model(model_path), tower), project_root() / "reports" / "cache"
    splits, images, genuine = cedar["splits"], cedar["images"], cedar["all_train"]["genuine"].to_numpy()
    named = {name: (splits[name]["decode_path"], images[name]) for name in ("val", "test")}
    named["train_genuine"] = (cedar["all_train"]["decode_path"][genuine], cedar["all_train_images"][genuine])
    return {
        name: embed_variants(tower, paths, options, images=pixels, cache_dir=cache)
        for name, (paths, pixels) in named.items()
    }


def aligned_tables(
    tower,
    model_path,
    cedar: dict,
    seed: int,
    shipped_background: np.ndarray | None,
    per_image: int | None = 12,
    choice_draws: int = 1,
) -> dict:
    """K references scored in register under the turns and shifts of `sigkit.align`: the smallest
    distance (mean and spread-corrected) and the writer-dependent classifiers' aligned form
    (`sigkit.wd`), one table per background (thresholds, kind and C from validation writers).
    `shipped_background` is the aligned one (with the turns and shifts stored beside the tower,
    where it has them). CEDAR's training writers serve as they are, and with `per_image` of their
    own turns and shifts as extra negatives (`sigkit.wd.background_with_variants`), alone
    (`_variants`) and with the shipped background (`_both_backgrounds_variants`)."""
    from sigkit.scoring import Features
    from sigkit.wd import background_with_variants

    splits = cedar["splits"]
    variants = embed_variants_of(tower, model_path, cedar)
    train_variants = variants["train_genuine"]
    with_variants = background_with_variants(train_variants, per_image, seed=seed)
    backgrounds = backgrounds_for(train_variants[0], shipped_background)
    backgrounds["references_variants"] = with_variants
    if shipped_background is not None:
        backgrounds["references_both_backgrounds_variants"] = np.concatenate([with_variants, shipped_background])
    tables = {}
    for name, background in backgrounds.items():
        methods = ("wd",) if tables else ("mean", "spread", "wd")  # the distances need no background: once
        tables[name.replace("references", "references_aligned", 1)] = reference_rows(
            Features(splits["val"], variants["val"][0], variants["val"]),
            Features(splits["test"], variants["test"][0], variants["test"]),
            background=background,
            methods=methods,
            aligned=True,
            seed=seed,
            choice_draws=choice_draws,
        )
    return tables


def fusion_table(tower, model_path, cedar: dict, seed: int, background, aligned_background, choice_draws: int = 1):
    """Every K-reference scorer, plain and aligned, and their fusion at each K, on skilled and
    random forgeries: thresholds, the classifiers' kind and C, and the fusion's weights from the
    validation writers; the writer-dependent classifiers on the tower's own background."""
    from sigkit.scoring import Features, Protocol, evaluate

    splits = cedar["splits"]
    variants = embed_variants_of(tower, model_path, cedar)
    protocols = [
        Protocol(method, k, forgeries, aligned)
        for k in (5, 12)
        for forgeries in ("skilled", "random")
        for aligned in (False, True)
        for method in ("mean", "spread", "wd")
    ]
    protocols += [Protocol("fusion", k, forgeries) for k in (5, 12) for forgeries in ("skilled", "random")]
    return evaluate(
        Features(splits["test"], variants["test"][0], variants["test"]),
        Features(splits["val"], variants["val"][0], variants["val"]),
        protocols,
        background=background,
        aligned_background=aligned_background,
        seed=seed,
        choice_draws=choice_draws,
        n_boot=1000,
    ).to_json()


def backgrounds_for(cedar_background: np.ndarray, shipped_background: np.ndarray | None) -> dict:
    """The backgrounds of the writer-dependent classifiers, by the key their table gets: CEDAR's
    training writers; with a tower that ships one, its own (no CEDAR image) and both together."""
    tables = {"references": cedar_background}
    if shipped_background is not None:
        tables["references_shipped_background"] = shipped_background
        tables["references_both_backgrounds"] = np.concatenate([tables["references"], shipped_background])
    return tables


def figures(
    model_path, cedar: dict, seed: int, shipped_background: np.ndarray | None = None, choice_draws: int = 1
) -> dict:
    from sigkit.matching import scorer_for
    from sigkit.model import embed, find_tower, load_siamese
    from sigkit.scoring import Features, Protocol, evaluate

    tower = find_tower(load_siamese(model_path))
    scorer = scorer_for(tower)
    splits, images = cedar["splits"], cedar["images"]
    val, test = (Features(splits[name], embed(tower, images[name])) for name in ("val", "test"))
    tables = backgrounds_for(cedar_background(tower, cedar), shipped_background)
    single = evaluate(test, val, [Protocol("single", 1, f) for f in ("skilled", "random")], seed=seed, scorer=scorer)
    keys = ("eer", "accuracy", "precision", "recall", "f1")
    out = {f"single_{f}": {k: single.row("single", forgeries=f)[k] for k in keys} for f in ("skilled", "random")}
    for name, background in tables.items():
        out[name] = reference_rows(
            val, test, background=background, seed=seed, scorer=scorer, choice_draws=choice_draws
        )
    return out


def transfer(
    folder,
    arm: str,
    config,
    *,
    model=None,
    aligned: bool = False,
    per_image: int | None = 12,
    choice_draws: int = 1,
    fusion: bool = False,
    train_writers: int = 35,
    split=CEDAR_SPLIT,
) -> dict:
    """The line of one arm: `model` (default: the shipped tower) as it is, or a tower trained by
    `config` in reports/bench-transfer, tested on `folder` split by `split`."""
    from sigkit.model import find_tower, load_siamese

    if arm not in ARMS:
        raise SystemExit(f"bench/transfer.py: arm must be one of {ARMS}, not {arm!r}")
    start = time.perf_counter()
    seed = config.seed
    cedar = load_cedar(folder, config, train_writers=train_writers, split=split)
    line = {"arm": arm, "seed": seed, "train_writers": train_writers if arm != "zero-shot" else 0}
    if arm == "zero-shot":
        model_path = resolve(model) if model else pretrained_path()
        beside = (model_path.parent / "background.npz").is_file()
        background = load_shipped_background(model_path.parent) if beside else None
        aligned_background = load_shipped_background(model_path.parent, aligned=True) if beside else None
        line["model"] = str(model_path)
    else:
        from sigkit.train import train

        run_dir = project_root() / "reports" / "bench-transfer" / f"{arm}-w{train_writers}-s{seed}"
        result = train(config, cedar["splits"], cedar["images"], run_dir)
        model_path, background, aligned_background = result.model_path, None, None
        line.update(
            epochs_run=int(len(result.history)),
            train_seconds=round(result.seconds, 1),
            val_eer_best=result.best_val_eer,
            run_dir=str(run_dir),
            config=config.to_dict(),
        )
    line["choice_draws"] = choice_draws
    line.update(figures(model_path, cedar, seed, background, choice_draws))
    if aligned:
        tower = find_tower(load_siamese(model_path))
        line.update(aligned_tables(tower, model_path, cedar, seed, aligned_background, per_image, choice_draws))
        line["variants_per_image"] = per_image
    if fusion:
        if background is None:
            raise SystemExit("bench/transfer.py: fusion=1 needs a tower with a background beside it (arm=zero-shot)")
        tower = find_tower(load_siamese(model_path))
        line["references_fusion"] = fusion_table(
            tower, model_path, cedar, seed, background, aligned_background, choice_draws
        )
    line["wall_seconds"] = round(time.perf_counter() - start, 1)
    return line


def main() -> None:
    folder = cedar_or_skip("bench/transfer.py")
    if folder is None:
        return
    show_progress()
    import_tensorflow_quietly()
    import sigkit

    overrides = parse_overrides(sys.argv[1:])
    arm = overrides.pop("arm", "zero-shot")
    per_image = overrides.pop("variants_per_image", 12)
    options = dict(
        model=overrides.pop("model", None),
        aligned=bool(overrides.pop("aligned", 0)),
        per_image=None if per_image in (None, "all") else int(per_image),
        choice_draws=int(overrides.pop("choice_draws", 1)),
        fusion=bool(overrides.pop("fusion", 0)),
        train_writers=int(overrides.pop("train_writers", 35)),
    )
    seed = int(overrides.pop("seed", 0))
    base = {"finetune": FINETUNE, "scratch": SCRATCH}.get(arm, {})
    line = transfer(folder, arm, sigkit.profile("cedar-cpu", seed=seed, **{**base, **overrides}), **options)
    print(to_json(line))
    out = project_root() / "reports" / "bench-transfer"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(to_json(line) + "\n")


if __name__ == "__main__":
    main()
