"""Train on real CEDAR and print one JSON line of honest test figures.

    python bench/cedar.py [key=value ...]        # Config overrides, e.g. image_size=[128,256] epochs=60
    python bench/cedar.py run=w20 ensemble=1 train_writers=20   # train on 20 of the 35 training writers

Protocol (fixed): writers 1-35 train with 12 genuine references each (the limited-sample setting)
and all their forgeries, 36-45 validation, 46-55 test. Model selection and every decision
threshold come from the validation writers. Reported:

- test EER (threshold-free) for single pairs, skilled forgeries and random forgeries apart;
- test EER for a questioned signature scored against K = 5 references of the claimed writer
  (mean distance), skilled forgeries; also with the references' own mean spread taken off that
  distance (uses the references only);
- Accuracy, Precision, Recall, F1 at the threshold chosen on the validation writers, per protocol;
- the single-pair and spread-corrected 5-reference figures again with aligned distances
  (`sigkit.align`: the smallest distance over a few turns and whole-pixel shifts of either
  signature);
- the same protocols' EERs on the validation writers (what settings may be chosen by);
- every K-reference EER over 10 draws of each writer's references (mean, standard deviation and
  all draws pooled): with 10 writers one draw moves the EER by points;
- EER on the training writers' pairs, with and without a signature training never saw (a
  memorisation check, and a check that inference mode matches training mode);
- the config and wall time.

Skips (exit 0, one line saying so) when CEDAR is absent. Needs at most 30 minutes here with the
default `cedar-cpu` profile (a 5-tower ensemble; the towers share a 25-minute training budget).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time

import numpy as np
import pandas as pd
from common import parse_overrides

import sigkit
from sigkit import scoring
from sigkit.card import ModelCard
from sigkit.datasets import CEDAR_SPLIT, limit_references, load_dataset, rows_in, splits_for
from sigkit.evaluation import evaluate_run
from sigkit.matching import scorer_for
from sigkit.metrics import eer
from sigkit.model import embed, find_tower, load_siamese
from sigkit.paths import cedar_path, project_root
from sigkit.preprocess import load_images, preprocess_options
from sigkit.scoring import Protocol
from sigkit.train import train
from sigkit.trained import preprocessing_of


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


def load_cedar(folder, config, synthetic_writers: int = 0, train_writers: int = 35) -> dict:
    """The fixed protocol's splits and preprocessed images (decoded once, cached in reports/cache).

    Returns splits, images (aligned with the splits) and `all_train` / `all_train_images`: every
    signature of the training writers, for the memorisation check. `train_writers` < 35 trains on
    that many of writers 1-35, drawn by the seed (the learning curve over writers; validation
    and test writers unchanged).
    """
    manifest = load_dataset(folder)
    splits = splits_for(manifest, dataclasses.replace(CEDAR_SPLIT, references_per_writer=None))
    writers = splits["train"]["writer"].unique()
    if not 2 <= train_writers <= len(writers):
        raise SystemExit(
            f"bench/cedar.py: train_writers must be 2-{len(writers)} (CEDAR's training writers), not {train_writers}"
        )
    if train_writers < len(writers):
        chosen = np.random.default_rng(config.seed).choice(len(writers), train_writers, replace=False)
        splits["train"] = splits["train"][splits["train"]["writer"].isin(writers[chosen])].reset_index(drop=True)
    all_train = splits["train"]
    splits["train"] = limit_references(all_train, CEDAR_SPLIT.references_per_writer, seed=config.seed)
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
    return dict(splits=splits, images=images, all_train=all_train, all_train_images=all_train_images)


def embed_variants_of(tower, model_path, cedar: dict) -> dict:
    """Every turn and shift (`sigkit.align`) of CEDAR's validation and test images and of the
    training writers' genuine signatures (`train_genuine`), embedded by `tower` with the
    preprocessing on `model_path`'s card: (variants, images, dim) each, cached in reports/cache."""
    from sigkit.align import embed_variants

    options, cache = preprocessing_of(ModelCard.for_model(model_path), tower), project_root() / "reports" / "cache"
    splits, images, genuine = cedar["splits"], cedar["images"], cedar["all_train"]["genuine"].to_numpy()
    named = {name: (splits[name]["decode_path"], images[name]) for name in ("val", "test")}
    named["train_genuine"] = (cedar["all_train"]["decode_path"][genuine], cedar["all_train_images"][genuine])
    return {
        name: embed_variants(tower, paths, options, images=pixels, cache_dir=cache)
        for name, (paths, pixels) in named.items()
    }


def test_figures(model_path, cedar: dict, seed: int, scores_csv=None) -> dict:
    """The protocol's figures for a trained model: test EERs, metrics at validation thresholds.

    `scores_csv`: also write the test scores of the single-pair and 5-reference protocols there
    (protocol, writer, label, distance), for comparisons over seeds (bench/ablation.py)."""
    evaluation = evaluate_run(
        model_path,
        cedar["splits"],
        cedar["images"],
        k=5,
        seed=seed,
        n_boot=1000,
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
    single, five, five_spread = row(), row("mean", 5), row("spread", 5)
    single_aligned, five_spread_aligned = row(aligned=True), row("spread", 5, aligned=True)
    tower = find_tower(load_siamese(model_path))
    train_writer_eer, train_seen_eer = memorisation_eers(tower, cedar, seed, scorer_for(tower))
    keys = ("threshold", "accuracy", "precision", "recall", "f1", "far", "frr")
    return {
        "data": "CEDAR writers 1-35 train (12 genuine refs each), 36-45 val, 46-55 test",
        "test_eer_single_skilled": single["eer"],
        "test_eer_single_random": row(forgeries="random")["eer"],
        # the same protocols scored aligned (sigkit.align: small turns and shifts)
        "test_eer_single_skilled_aligned": single_aligned["eer"],
        "test_eer_5ref_skilled_spread_aligned": five_spread_aligned["eer"],
        # K references: the mean EER over 10 draws of each writer's references
        "test_eer_5ref_skilled": five["eer"],
        "test_eer_5ref_skilled_spread": five_spread["eer"],
        # 95 % intervals over resampled test writers (1000 draws)
        "test_eer_ci": {
            "single_skilled": single["eer_ci"],
            "single_skilled_aligned": single_aligned["eer_ci"],
            "references_5_spread": five_spread["eer_ci"],
            "single_random": row(forgeries="random")["eer_ci"],
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
            name: {"mean": r["eer"], "std": r["eer_std"], "pooled": r["eer_pooled"]}
            for name, r in (
                ("test_5ref", five),
                ("test_5ref_spread", five_spread),
                ("test_5ref_spread_aligned", five_spread_aligned),
            )
        },
        "train_writer_unseen_sample_eer": train_writer_eer,
        "train_writer_seen_sample_eer": train_seen_eer,
    }


def write_test_scores(evaluation, scores_csv) -> None:
    """The single-pair and spread-corrected 5-reference test scores as CSV, for comparing seeds."""
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
    train_writers = cedar["all_train"].reset_index(drop=True)
    train_pairs = scoring.pair_scores(embed(tower, cedar["all_train_images"]), train_writers, seed=seed, scorer=scorer)
    train_pairs = train_pairs[train_pairs["kind"] != "random"]
    is_unseen = ~train_writers["path"].isin(cedar["splits"]["train"]["path"]).to_numpy()
    touches_unseen = is_unseen[train_pairs["a"]] | is_unseen[train_pairs["b"]]
    train_writer_eer = eer(train_pairs["distance"][touches_unseen], train_pairs["label"][touches_unseen])[0]
    train_seen_eer = eer(train_pairs["distance"][~touches_unseen], train_pairs["label"][~touches_unseen])[0]
    return train_writer_eer, train_seen_eer


def to_json(line: dict) -> str:
    return json.dumps(line, default=lambda v: list(v) if isinstance(v, tuple) else float(v))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = cedar_path()
    if folder is None:
        print("bench/cedar.py: skipped, CEDAR not found (set SIGKIT_DATA to the folder of corpora, or SIGKIT_CEDAR)")
        return
    start = time.perf_counter()
    overrides = parse_overrides(sys.argv[1:])
    run_name = overrides.pop("run", time.strftime("%Y%m%d-%H%M%S"))
    synthetic_writers = int(overrides.pop("synthetic_writers", 0))
    train_writers = int(overrides.pop("train_writers", 35))
    config = sigkit.profile("cedar-cpu", **overrides)
    cedar = load_cedar(folder, config, synthetic_writers, train_writers)
    run_dir = project_root() / "reports" / "bench-cedar" / run_name
    result = train(config, cedar["splits"], cedar["images"], run_dir)
    line = test_figures(result.model_path, cedar, config.seed, scores_csv=run_dir / "test_scores.csv")
    if train_writers < 35:
        line["data"] = line["data"].replace("writers 1-35 train", f"{train_writers} of writers 1-35 train")
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
    print(to_json(line))


if __name__ == "__main__":
    main()
