"""Train the shipped tower again: one command, the corpora it names, the `pretrain` profile.

    python -m sigkit.shipped.build --data DIR1,DIR2,... [--out sigkit/shipped] [--seed 0]
    python -m sigkit.shipped.build --data DIR1,DIR2,... --card-only   # the card's decision entries again

Trains in `--run` (default reports/pretrain-<seed>; an interrupted run resumes there) and then
writes into `--out` the three files `sigkit.pretrained()` reads: `tower.keras`, `tower.json` (the
model card) and `background.npz` (genuine signatures of the training writers, embedded, and a
few turns and shifts of each: the negatives of the writer-dependent classifiers, `sigkit.wd`).
Never give it the corpus you will test transfer on (CEDAR stays untouched by the shipped tower).
"""

from __future__ import annotations

if __name__ == "__main__":  # the command, before the imports below bring TensorFlow in (sigkit.quiet)
    from sigkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()

import argparse
import ast
import datetime
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from sigkit.align import embed_variants
from sigkit.calibration import CARD_ENTRY
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
from sigkit.wd import background_rows, choose_settings, draw_variants, save_background, wd_scores

LICENCE = (
    "Trained on public signature corpora licensed for non-commercial academic research only; "
    "the weights inherit that restriction. No image of them is shipped."
)
BACKGROUND_PER_WRITER = 4
WD_K = 5  # references per writer when the card's writer-dependent settings and threshold are chosen
# turns and shifts stored per background image for the aligned classifiers (`sigkit.wd.draw_variants`):
# a few carry most of what all of them do, at about 1 MB (docs/experiments.md, 2026-12-06)
BACKGROUND_VARIANTS_PER_IMAGE = 4


def background_variants(tower, split, images, rows, options: dict, cache_dir, seed: int) -> np.ndarray:
    """(m, N, D) turns and shifts of the background images `rows` of `split` (`sigkit.align`),
    BACKGROUND_VARIANTS_PER_IMAGE of each, a seeded draw."""
    variants = embed_variants(tower, split["decode_path"].iloc[rows], options, images=images[rows], cache_dir=cache_dir)
    return draw_variants(variants, BACKGROUND_VARIANTS_PER_IMAGE, seed=seed)


def with_variants(background: np.ndarray, variants: np.ndarray) -> np.ndarray:
    """The aligned classifiers' negatives: the background, then its turns and shifts."""
    return np.concatenate([background, variants.reshape(-1, variants.shape[-1])])


def writer_dependent_entry(val_features, val_manifest, background, seed: int, aligned: bool = False) -> dict:
    """The model card's writer-dependent settings (kind and C chosen on the validation writers) and
    threshold (their EER point, skilled forgeries, K = WD_K); `aligned`: the classifiers' aligned
    form on (variants, images, dim) features (`sigkit.wd`)."""
    settings, _ = choose_settings(val_features, val_manifest, background, WD_K, seed=seed, aligned=aligned)
    scores = wd_scores(val_features, val_manifest, background, WD_K, settings, seed=seed, aligned=aligned)
    val_eer, threshold = eer(scores["distance"], scores["label"])
    return {
        **settings.to_dict(),
        "threshold": float(threshold),
        "k": WD_K,
        "val_eer_skilled": float(val_eer),
        "threshold_rule": f"EER point of the validation writers' skilled forgeries, K = {WD_K}",
    }


def operating_points_entry(
    val_manifest, val_variants, background, aligned_background, entries: dict, seed: int
) -> dict:
    """The card's table of thresholds per verify method and per number of references
    (`sigkit.calibration`), on the validation writers, with the writer-dependent classifiers the
    card's `entries` name (chosen at K = WD_K)."""
    from sigkit.calibration import calibrate, points_table
    from sigkit.scoring import Features
    from sigkit.wd import WDSettings

    settings = {
        method: WDSettings(entries[entry]["kind"], float(entries[entry]["C"]))
        for method, entry in (("wd", "writer_dependent"), ("wd-aligned", "writer_dependent_aligned"))
    }
    points = calibrate(
        Features(val_manifest, val_variants[0], val_variants),
        settings=settings,
        background=background,
        aligned_background=aligned_background,
        seed=seed,
    )
    return points_table(points)


def recorded_arguments(argv: list[str]) -> str:
    """The command's arguments for the card, the corpora folder written `$SIGKIT_DATA` when it is set."""
    arguments, corpora = " ".join(argv), corpora_folder()
    return arguments.replace(str(corpora), "$SIGKIT_DATA") if corpora else arguments


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
    writer_dependent = writer_dependent_entry(val_features, prepared.splits["val"], background, seed)
    val_variants = embed_variants(
        tower,
        prepared.splits["val"]["decode_path"],
        preprocess_options(config.preprocess),
        images=prepared.images["val"],
        cache_dir=run_dir.parent / "cache",
    )
    turned = background_variants(
        tower,
        train_split,
        prepared.images["train"],
        rows,
        preprocess_options(config.preprocess),
        run_dir.parent / "cache",
        seed,
    )
    writer_dependent_aligned = writer_dependent_entry(
        val_variants, prepared.splits["val"], with_variants(background, turned), seed, aligned=True
    )

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.model_path, out / TOWER_FILE)
    save_background(background, train_split["writer"].to_numpy()[rows], out / BACKGROUND_FILE, variants=turned)
    counts = corpus_counts(prepared.manifest)
    source = ModelCard.for_model(result.model_path)  # what training wrote
    card = ModelCard(
        threshold=float(result.threshold),
        threshold_rule=f"EER point on the validation writers' {config.train.select_on} pairs",
        val_eer=float(result.best_val_eer),
        epoch=source.epoch,
        config=source.config,
        data=data_summary(prepared.splits),
        versions=source.versions or library_versions(),
        extra={
            "name": "sigkit pretrained tower",
            "created": datetime.date.today().isoformat(),
            "command": "python -m sigkit.shipped.build " + recorded_arguments(sys.argv[1:]),
            "licence": LICENCE,
            "corpora": {name: {k: int(v) for k, v in row.items()} for name, row in counts.to_dict("index").items()},
            "input_size": [int(s) for s in tower.input_shape[1:3]],
            "preprocessing": {
                k: list(v) if isinstance(v, tuple) else v for k, v in preprocess_options(config.preprocess).items()
            },
            "val_eers": {kind: float(value[0]) for kind, value in eers.items()},
            "epochs_run": int(len(result.history)),
            "stopped": result.stopped,
            "train_seconds": round(result.seconds, 1),
            "background": {
                "file": BACKGROUND_FILE,
                "images": int(len(rows)),
                "per_writer": BACKGROUND_PER_WRITER,
                "variants_per_image": BACKGROUND_VARIANTS_PER_IMAGE,
            },
            "writer_dependent": writer_dependent,
            "writer_dependent_aligned": writer_dependent_aligned,
        },
    )
    card.extra[CARD_ENTRY] = operating_points_entry(
        prepared.splits["val"], val_variants, background, with_variants(background, turned), card.extra, seed
    )
    card.save(out / CARD_FILE)
    return card


def refresh_card(data, out: Path, seed: int = 0, **overrides) -> ModelCard:
    """Recompute the writer-dependent entries of the card in `out` for the tower and background
    already there (no training): the validation writers of `data` split as the build split them.
    The background's turns and shifts are embedded again from the same images (drawn as the build
    drew them) and stored beside it."""
    from sigkit.shipped import background as shipped_background

    card = ModelCard.load(out / CARD_FILE)
    config = profile("pretrain", seed=seed, **overrides)
    tower = find_tower(load_siamese(out / TOWER_FILE))
    if tuple(tower.input_shape[1:3]) != tuple(config.preprocess.image_size):
        raise ValueError(
            f"{out / TOWER_FILE} takes {tuple(tower.input_shape[1:3])} images, the pretrain profile gives "
            f"{tuple(config.preprocess.image_size)}: give the --set settings of its command "
            f"({card.extra.get('command')})"
        )
    prepared = prepare(config, data, cache_dir=resolve("reports/cache"))
    if data_summary(prepared.splits)["writers"] != card.data["writers"]:
        raise ValueError(
            f"{out / CARD_FILE}: trained on {card.data['writers']} writers, but {data} splits into "
            f"{data_summary(prepared.splits)['writers']}: give the corpora of its command ({card.extra.get('command')})"
        )
    background = shipped_background(out)
    train_split = prepared.splits["train"].reset_index(drop=True)
    rows = background_rows(train_split, BACKGROUND_PER_WRITER, seed=seed)
    with np.load(out / BACKGROUND_FILE) as stored:
        writers = stored["writers"]
    if list(writers) != list(train_split["writer"].to_numpy()[rows]):
        raise ValueError(
            f"{out / BACKGROUND_FILE}: its writers are not the ones {data} draws with seed {seed}: "
            f"give the corpora and seed of its command ({card.extra.get('command')})"
        )
    options, cache = preprocess_options(config.preprocess), resolve("reports/cache")
    turned = background_variants(tower, train_split, prepared.images["train"], rows, options, cache, seed)
    val = prepared.splits["val"]
    variants = embed_variants(tower, val["decode_path"], options, images=prepared.images["val"], cache_dir=cache)
    card.extra["writer_dependent"] = writer_dependent_entry(variants[0], val, background, seed)
    card.extra["writer_dependent_aligned"] = writer_dependent_entry(
        variants, val, with_variants(background, turned), seed, aligned=True
    )
    card.extra[CARD_ENTRY] = operating_points_entry(
        val, variants, background, with_variants(background, turned), card.extra, seed
    )
    card.extra["background"]["variants_per_image"] = BACKGROUND_VARIANTS_PER_IMAGE
    save_background(background, writers, out / BACKGROUND_FILE, variants=turned)
    card.save(out / CARD_FILE)
    return card


def settings_from(pairs: list[str]) -> dict:
    """`KEY=VALUE` strings -> overrides, each value read as a Python literal where it parses
    (`widths=32,64,128,256` -> a tuple, `image_size=128,256`, `learning_rate=5e-4`)."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE, not {pair!r}")
        try:
            settings[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key.strip()] = value
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sigkit.shipped.build", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", required=True, help="corpus folders, comma-separated (never the transfer test corpus)"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent), help="where the shipped files go")
    parser.add_argument("--run", default=None, help="training folder (default reports/pretrain-<seed>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None, help="training seconds (default: the profile's)")
    parser.add_argument("--ensemble", type=int, default=None, help="towers sharing the time budget (default: 1)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the pretrain profile, e.g. --set widths=32,64,128,256 (repeatable; the capacity study)",
    )
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="no training: recompute the card's writer-dependent entries and thresholds per method and K "
        "for the tower already in --out",
    )
    args = parser.parse_args(argv)
    if args.card_only:
        card = refresh_card(args.data, Path(args.out), seed=args.seed, **settings_from(args.set))
        print(json.dumps({k: card.extra[k] for k in ("writer_dependent", "writer_dependent_aligned")}))
        for method, by_k in card.extra[CARD_ENTRY].items():
            for k, point in by_k.items():
                print(
                    f"{method:>10} K={k:>2}: threshold {point['threshold']:+.4f}, validation FAR "
                    f"{100 * point['far']:.1f} %, FRR {100 * point['frr']:.1f} % ({point['writers']} writers)"
                )
        return 0
    run_dir = resolve(args.run or f"reports/pretrain-{args.seed}")
    overrides = {"time_budget_s": args.time_budget} if args.time_budget else {}
    if args.ensemble:
        overrides["ensemble"] = args.ensemble
    overrides.update(settings_from(args.set))
    card = build(args.data, Path(args.out), run_dir, seed=args.seed, **overrides)
    shown = {"corpora": card.extra["corpora"], "writers": card.data["writers"], "val_eers": card.extra["val_eers"]}
    print(json.dumps({**shown, "epochs_run": card.extra["epochs_run"], "train_seconds": card.extra["train_seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
