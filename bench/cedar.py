"""Train on real CEDAR and print one JSON line of honest test figures.

    python bench/cedar.py [key=value ...]        # Config overrides, e.g. image_size=[128,256] epochs=60
    python bench/cedar.py run=w20 ensemble=1 train_writers=20   # train on 20 of the 35 training writers
    python bench/cedar.py synthetic_writers=30   # 30 synthetic writers added to the training writers

Protocol (`sigkit.datasets.CEDAR_SPLIT`): writers 1-35 train with 12 genuine references each and
all their forgeries, 36-45 validate (model selection, every threshold), 46-55 test. The line holds
the test EERs of single pairs (skilled and random forgeries) and of 5 references (mean distance and
spread-corrected; the mean over 10 draws of the references, with their spread and pooled EER in
`5ref_over_10_draws`), plain and aligned (`sigkit.align`), with writer-bootstrap intervals and the
figures at the validation threshold (`sigkit.evaluation.evaluate_run`);
every protocol's validation EER; the EER on the training writers' pairs with and without a
signature training never saw (a memorisation check); the config and times.

Skips (exit 0, one line saying so) when CEDAR is absent. Needs at most 30 minutes here with the
default `cedar-cpu` profile (a 5-tower ensemble; the towers share a 25-minute training budget).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import cedar_or_skip, parse_overrides, show_progress, to_json

from sigkit.datasets import CEDAR_SPLIT, limit_references, load_dataset, rows_in, splits_for
from sigkit.paths import project_root
from sigkit.quiet import import_tensorflow_quietly

CEDAR_DATA = "CEDAR writers 1-35 train (12 genuine refs each), 36-45 val, 46-55 test"


def with_synthetic_writers(train_set, n_writers: int, seed: int):
    """Training writers plus `n_writers` synthetic ones (12 genuine + 12 forged each)."""
    from sigkit import synth

    folder = synth.generate(
        project_root() / "data" / f"synth-train-{n_writers}",
        n_writers=n_writers,
        n_genuine=12,
        n_forged=12,
        seed=1000 + seed,
    )
    extra = load_dataset(folder)
    extra["writer"] = "synth-" + extra["writer"]
    return pd.concat([train_set, extra], ignore_index=True)


def load_cedar(folder, config, synthetic_writers: int = 0, train_writers: int | None = None, split=CEDAR_SPLIT) -> dict:
    """`split`'s splits of `folder` and their preprocessed images (cached in reports/cache).

    Returns splits, images (aligned with the splits), `all_train` / `all_train_images` (every
    signature of the training writers, for the memorisation check) and `data`, what the line says
    of the split. `train_writers` trains on that many of the training writers, drawn by the seed
    (the learning curve over writers; validation and test writers unchanged); None: all of them.
    """
    from sigkit.preprocess import load_images, preprocess_options

    manifest = load_dataset(folder)
    splits = splits_for(manifest, dataclasses.replace(split, references_per_writer=None))
    writers = splits["train"]["writer"].unique()
    train_writers = len(writers) if train_writers is None else train_writers
    if not 2 <= train_writers <= len(writers):
        raise SystemExit(
            f"bench/cedar.py: train_writers must be 2-{len(writers)} (CEDAR's training writers), not {train_writers}"
        )
    if train_writers < len(writers):
        chosen = np.random.default_rng(config.seed).choice(len(writers), train_writers, replace=False)
        splits["train"] = splits["train"][splits["train"]["writer"].isin(writers[chosen])].reset_index(drop=True)
    all_train = splits["train"]
    splits["train"] = limit_references(all_train, split.references_per_writer, seed=config.seed)
    if synthetic_writers:
        splits["train"] = with_synthetic_writers(splits["train"], synthetic_writers, config.seed)
    options = preprocess_options(config.preprocess)
    cache = project_root() / "reports" / "cache"
    images = {
        name: load_images(part["decode_path"], cache_dir=cache, **options)
        for name, part in splits.items()
        if name != "train"
    }
    # each file decoded once: the training writers in full, the limited set taken from them
    all_train_images = load_images(all_train["decode_path"], cache_dir=cache, **options)
    real = splits["train"][~splits["train"]["writer"].str.startswith("synth-")]
    images["train"] = all_train_images[rows_in(all_train, real)]
    if synthetic_writers:
        extra = splits["train"][splits["train"]["writer"].str.startswith("synth-")]
        images["train"] = np.concatenate(
            [images["train"], load_images(extra["decode_path"], cache_dir=cache, **options)]
        )
    if split != CEDAR_SPLIT:
        data = f"{train_writers} training writers, {split}"
    elif train_writers < len(writers):
        data = CEDAR_DATA.replace("writers 1-35 train", f"{train_writers} of writers 1-35 train")
    else:
        data = CEDAR_DATA
    return dict(splits=splits, images=images, all_train=all_train, all_train_images=all_train_images, data=data)


def test_figures(model_path, cedar: dict, seed: int, scores_csv=None, n_boot: int = 1000) -> dict:
    """The protocol's figures for a trained model: test EERs, metrics at validation thresholds.

    `scores_csv`: also write the test scores of the single-pair and 5-reference protocols there
    (protocol, writer, label, distance), for comparisons over seeds (bench/ablation.py)."""
    from sigkit.evaluation import evaluate_run
    from sigkit.matching import scorer_for
    from sigkit.model import find_tower, load_siamese
    from sigkit.scoring import Protocol, summarise_draws

    evaluation = evaluate_run(
        model_path,
        cedar["splits"],
        cedar["images"],
        k=5,
        seed=seed,
        n_boot=n_boot,
        aligned=True,
        curve_ks=(),
        background=None,
        cache_dir=project_root() / "reports" / "cache",
    )
    aligns = evaluation.table["aligned"].any()

    def row(method="single", k=1, forgeries="skilled", aligned=False):
        # where aligned scoring does not apply (sigkit.align.scores_aligned), the plain row stands in
        return evaluation.row(method, k, forgeries, aligned and aligns)

    if scores_csv:
        write_test_scores(evaluation, scores_csv)
    single, single_random, five, five_spread = row(), row(forgeries="random"), row("mean", 5), row("spread", 5)
    single_aligned, five_spread_aligned = row(aligned=True), row("spread", 5, aligned=True)
    val_five_spread = summarise_draws(evaluation.val_scores[Protocol("spread", 5)])
    tower = find_tower(load_siamese(model_path))
    train_writer_eer, train_seen_eer = memorisation_eers(tower, cedar, seed, scorer_for(tower))
    keys = ("threshold", "accuracy", "precision", "recall", "f1", "far", "frr")
    return {
        "data": cedar["data"],
        "test_eer_single_skilled": single["eer"],
        "test_eer_single_random": single_random["eer"],
        # the same protocols scored aligned (sigkit.align: small turns and shifts)
        "test_eer_single_skilled_aligned": single_aligned["eer"],
        "test_eer_5ref_skilled_spread_aligned": five_spread_aligned["eer"],
        # K references: the mean EER over 10 draws of each writer's references
        "test_eer_5ref_skilled": five["eer"],
        "test_eer_5ref_skilled_spread": five_spread["eer"],
        # 95 % intervals over resampled test writers
        "test_eer_ci": {
            "single_skilled": single["eer_ci"],
            "single_skilled_aligned": single_aligned["eer_ci"],
            "references_5_spread": five_spread["eer_ci"],
            "single_random": single_random["eer_ci"],
        },
        "single_at_val_threshold": {k: single[k] for k in keys},
        "single_aligned_at_val_threshold": {k: single_aligned[k] for k in keys},
        "5ref_spread_aligned_at_val_threshold": {k: five_spread_aligned[k] for k in keys},
        "5ref_at_val_threshold": {k: five[k] for k in keys},
        "5ref_spread_at_val_threshold": {k: five_spread[k] for k in keys},
        # every protocol on the validation writers (what settings may be chosen by)
        "val_eer_by_protocol": {r["label"]: r["val_eer"] for r in evaluation.to_json()},
        # each writer's 5 references drawn 10 times: mean and spread of the EER over the draws
        "5ref_over_10_draws": {
            **{
                name: {"mean": r["eer"], "std": r["eer_std"], "pooled": r["eer_pooled"]}
                for name, r in (
                    ("test_5ref", five),
                    ("test_5ref_spread", five_spread),
                    ("test_5ref_spread_aligned", five_spread_aligned),
                )
            },
            "val_5ref_spread": {key: val_five_spread[key] for key in ("mean", "std", "pooled")},
        },
        "train_writer_unseen_sample_eer": train_writer_eer,
        "train_writer_seen_sample_eer": train_seen_eer,
    }


def write_test_scores(evaluation, scores_csv) -> None:
    """The single-pair and spread-corrected 5-reference test scores as CSV, for comparing seeds."""
    from sigkit.scoring import Protocol

    kept = {
        "single_skilled": Protocol(),
        "single_random": Protocol(forgeries="random"),
        "references_5_spread": Protocol("spread", 5),
    }
    first_draw = [
        evaluation.scores[p].query("draw == 0")[["writer", "label", "distance"]].assign(protocol=name)
        for name, p in kept.items()
    ]
    pd.concat(first_draw).to_csv(scores_csv, index=False)


def memorisation_eers(tower, cedar: dict, seed: int, scorer=None) -> tuple[float, float]:
    """(EER of training writers' skilled pairs that touch a signature training never saw, EER of the
    others): a memorisation check, and a check that inference mode matches training mode."""
    from sigkit.metrics import eer
    from sigkit.model import embed
    from sigkit.scoring import pair_scores

    train_writers = cedar["all_train"].reset_index(drop=True)
    train_pairs = pair_scores(embed(tower, cedar["all_train_images"]), train_writers, seed=seed, scorer=scorer)
    train_pairs = train_pairs[train_pairs["kind"] != "random"]
    is_unseen = ~train_writers["path"].isin(cedar["splits"]["train"]["path"]).to_numpy()
    touches_unseen = is_unseen[train_pairs["a"]] | is_unseen[train_pairs["b"]]
    train_writer_eer = eer(train_pairs["distance"][touches_unseen], train_pairs["label"][touches_unseen])[0]
    train_seen_eer = eer(train_pairs["distance"][~touches_unseen], train_pairs["label"][~touches_unseen])[0]
    return train_writer_eer, train_seen_eer


def train_and_test(
    folder,
    config,
    run_dir,
    *,
    synthetic_writers: int = 0,
    train_writers: int | None = None,
    split=CEDAR_SPLIT,
    n_boot: int = 1000,
) -> dict:
    """Train `config` on `folder` split by `split` in `run_dir`, test it: the bench's line, also
    written to `run_dir/result.json` (with the test scores in `run_dir/test_scores.csv`)."""
    from sigkit.card import ModelCard
    from sigkit.train import train

    start = time.perf_counter()
    run_dir = Path(run_dir)
    cedar = load_cedar(folder, config, synthetic_writers, train_writers, split)
    result = train(config, cedar["splits"], cedar["images"], run_dir)
    line = test_figures(result.model_path, cedar, config.seed, run_dir / "test_scores.csv", n_boot)
    line.update(
        {
            "val_eer_best": result.best_val_eer,
            "members_val_eer": [m["val_eer"] for m in ModelCard.for_model(result.model_path).members],
            "epochs_run": int(len(result.history)),
            "train_seconds": round(result.seconds, 1),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "config": config.to_dict(),
            "run_dir": str(run_dir),
        }
    )
    (run_dir / "result.json").write_text(to_json(line))
    return line


def main() -> None:
    folder = cedar_or_skip("bench/cedar.py")
    if folder is None:
        return
    show_progress()
    import_tensorflow_quietly()
    import sigkit

    overrides = parse_overrides(sys.argv[1:])
    run_name = overrides.pop("run", time.strftime("%Y%m%d-%H%M%S"))
    synthetic_writers = int(overrides.pop("synthetic_writers", 0))
    train_writers = int(overrides.pop("train_writers", 35))
    config = sigkit.profile("cedar-cpu", **overrides)
    run_dir = project_root() / "reports" / "bench-cedar" / run_name
    line = train_and_test(folder, config, run_dir, synthetic_writers=synthetic_writers, train_writers=train_writers)
    print(to_json(line))


if __name__ == "__main__":
    main()
