"""Train the shipped tower again: one command, the corpora it names, the `pretrain` profile.

    python -m sigkit.shipped.build --data DIR1,DIR2,... [--out sigkit/shipped] [--seed 0]

Trains in `--run` (default reports/pretrain-<seed>; an interrupted run resumes there) and then
writes into `--out` the three files `sigkit.pretrained()` reads: `tower.keras`, `tower.json` (the
model card) and `background.npz` (genuine signatures of the training writers, embedded: the
negatives of the writer-dependent classifiers, `sigkit.wd`). Never give it the corpus you will
test transfer on (CEDAR stays untouched by the shipped tower).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path

from sigkit.callbacks import validation_eers
from sigkit.card import ModelCard, data_summary, library_versions
from sigkit.config import profile
from sigkit.datasets import corpus_counts
from sigkit.experiment import prepare
from sigkit.metrics import eer
from sigkit.model import embed, find_tower, load_siamese
from sigkit.pairs import validation_pairs
from sigkit.paths import corpora_folder, resolve
from sigkit.preprocess import preprocess_options
from sigkit.shipped import BACKGROUND_FILE, CARD_FILE, TOWER_FILE
from sigkit.wd import background_rows, choose_settings, save_background, wd_scores

LICENCE = (
    "Trained on public signature corpora licensed for non-commercial academic research only; "
    "the weights inherit that restriction. No image of them is shipped."
)
BACKGROUND_PER_WRITER = 4
WD_K = 5  # references per writer when the card's writer-dependent settings and threshold are chosen


def build(data, out: Path, run_dir: Path, seed: int = 0, **overrides) -> ModelCard:
    """Train (or resume) the `pretrain` profile on `data` and write the shipped files to `out`."""
    from sigkit.train import train

    config = profile("pretrain", seed=seed, **overrides)
    prepared = prepare(config, data, cache_dir=run_dir.parent / "cache")
    result = train(config, prepared.splits, prepared.images, run_dir)
    tower = find_tower(load_siamese(result.model_path))
    eers = validation_eers(tower, prepared.images["val"], validation_pairs(prepared.splits["val"], seed=config.seed))
    train_split = prepared.splits["train"].reset_index(drop=True)
    rows = background_rows(train_split, BACKGROUND_PER_WRITER, seed=seed)
    background = embed(tower, prepared.images["train"][rows])
    val_features = embed(tower, prepared.images["val"])
    settings, _ = choose_settings(val_features, prepared.splits["val"], background, WD_K, seed=seed)
    val_scores = wd_scores(val_features, prepared.splits["val"], background, WD_K, settings, seed=seed)
    wd_eer, wd_threshold = eer(val_scores["distance"], val_scores["label"])

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.model_path, out / TOWER_FILE)
    save_background(background, train_split["writer"].to_numpy()[rows], out / BACKGROUND_FILE)
    counts = corpus_counts(prepared.manifest)
    source = ModelCard.for_model(result.model_path)  # what training wrote
    card = ModelCard(
        threshold=float(result.threshold),
        threshold_rule=f"EER point on the validation writers' {config.select_on} pairs",
        val_eer=float(result.best_val_eer),
        epoch=source.epoch,
        config=source.config,
        data=data_summary(prepared.splits),
        versions=source.versions or library_versions(),
        extra={
            "name": "sigkit pretrained tower",
            "created": datetime.date.today().isoformat(),
            "command": "python -m sigkit.shipped.build "
            + " ".join(sys.argv[1:]).replace(str(corpora_folder()), "$SIGKIT_DATA"),
            "licence": LICENCE,
            "corpora": {name: {k: int(v) for k, v in row.items()} for name, row in counts.to_dict("index").items()},
            "input_size": [int(s) for s in tower.input_shape[1:3]],
            "preprocessing": {k: list(v) if isinstance(v, tuple) else v for k, v in preprocess_options(config).items()},
            "val_eers": {kind: float(value[0]) for kind, value in eers.items()},
            "epochs_run": int(len(result.history)),
            "stopped": result.stopped,
            "train_seconds": round(result.seconds, 1),
            "background": {"file": BACKGROUND_FILE, "images": int(len(rows)), "per_writer": BACKGROUND_PER_WRITER},
            "writer_dependent": {
                **settings.to_dict(),
                "threshold": float(wd_threshold),
                "k": WD_K,
                "val_eer_skilled": float(wd_eer),
                "threshold_rule": f"EER point of the validation writers' skilled forgeries, K = {WD_K}",
            },
        },
    )
    card.save(out / CARD_FILE)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sigkit.shipped.build", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", required=True, help="corpus folders, comma-separated (never the transfer test corpus)"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent), help="where the shipped files go")
    parser.add_argument("--run", default=None, help="training folder (default reports/pretrain-<seed>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None, help="training seconds (default: the profile's)")
    args = parser.parse_args(argv)
    run_dir = resolve(args.run or f"reports/pretrain-{args.seed}")
    overrides = {"time_budget_s": args.time_budget} if args.time_budget else {}
    card = build(args.data, Path(args.out), run_dir, seed=args.seed, **overrides)
    shown = {"corpora": card.extra["corpora"], "writers": card.data["writers"], "val_eers": card.extra["val_eers"]}
    print(json.dumps({**shown, "epochs_run": card.extra["epochs_run"], "train_seconds": card.extra["train_seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
