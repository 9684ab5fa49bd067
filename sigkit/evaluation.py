"""From a model file and a data folder to `metrics.json` and the evaluation figures.

What `sigkit evaluate` runs, and what the evaluation notebook runs on its own split: embed the
test writers (and the validation writers, when given, to choose the threshold on them), score
every protocol, write the numbers and the figures. With no validation writers the threshold is
the one stored with the model at training time, never one fitted to the test writers.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from pathlib import Path

import matplotlib.pyplot as plt

from sigkit import plots
from sigkit.align import ALIGNMENTS, embed_aligned, embed_variants, scores_aligned
from sigkit.card import ModelCard
from sigkit.datasets import load_dataset, split_writers
from sigkit.matching import scorer_for
from sigkit.model import find_tower, load_siamese
from sigkit.preprocess import load_images
from sigkit.scoring import Evaluation, evaluate_embeddings
from sigkit.wd import background_beside

log = logging.getLogger(__name__)


def parse_writers(tokens: list[str] | None) -> list[int | str] | None:
    """Command-line writer ids: `46-55` is a range, `7` a number (matches "007"), anything else a
    name or a pattern (`B-*`, `bhsig-bengali:*`: see `match_writers`)."""
    if tokens is None:
        return None
    ids: list[int | str] = []
    for token in tokens:
        for part in filter(None, token.split(",")):
            span = re.fullmatch(r"(\d+)-(\d+)", part)
            if span:
                ids.extend(range(int(span[1]), int(span[2]) + 1))
            else:
                ids.append(int(part) if part.isdigit() else part)
    return ids


def match_writers(ids, manifest) -> list[int | str] | None:
    """`ids` with every shell-style pattern (`*`, `?`, `[...]`) replaced by the manifest's writers it
    matches, so writer ids that are not numbers (`B-12`, `sigcomp2009:004`) can be named in bulk."""
    if ids is None:
        return None
    writers = sorted(manifest["writer"].astype(str).unique())
    out: list[int | str] = []
    for writer in ids:
        if isinstance(writer, str) and any(c in writer for c in "*?["):
            matched = fnmatch.filter(writers, writer)
            if not matched:
                raise ValueError(f"no writer matches {writer!r}; writers are e.g. {', '.join(writers[:5])}")
            out.extend(matched)
        else:
            out.append(writer)
    return out


def random_halves(manifest, val_share: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(validation writers, test writers): a seeded writer-disjoint split of every writer of the data,
    `val_share` of them to choose thresholds on, the rest to test (cross-dataset evaluation)."""
    if not 0 < val_share < 1:
        raise ValueError(f"--split takes the validation share in (0, 1), e.g. 0.3, not {val_share}")
    splits = split_writers(manifest, val=val_share, test=0.0, seed=seed)
    return sorted(splits["val"]["writer"].unique()), sorted(splits["train"]["writer"].unique())


def evaluation_figures(evaluation: Evaluation) -> dict:
    """Every evaluation figure, by file name."""
    k_name = next(name for name in evaluation.scores if name.startswith("references_") and not name.endswith("spread"))
    single = evaluation.metrics["single_skilled"]
    return {
        "03_roc": plots.roc(evaluation.scores),
        "03_det": plots.det(evaluation.scores),
        "03_far_frr": plots.far_frr_curves(
            evaluation.scores["single_skilled"],
            single["threshold"],
            "FAR and FRR against the threshold (single pairs, skilled forgeries)",
        ),
        "03_distance_histograms": plots.distance_histograms(evaluation.pairs, single["threshold"]),
        "03_confusion": plots.confusion_matrix(
            evaluation.scores[k_name],
            evaluation.metrics[k_name]["threshold"],
            f"Confusion matrix, {k_name} (accuracy {100 * evaluation.metrics[k_name]['accuracy']:.1f} %)",
        ),
        "03_per_writer_eer": plots.per_writer(evaluation.per_writer),
        "03_eer_vs_references": plots.eer_vs_references(evaluation.by_references),
    }


def write_evaluation(evaluation: Evaluation, out_dir: str | Path, extra: dict | None = None) -> Path:
    """`metrics.json` and the figures (PNG) under `out_dir`; returns the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fig in evaluation_figures(evaluation).items():
        plots.save(fig, out_dir, name)
        plt.close(fig)
    path = out_dir / "metrics.json"
    path.write_text(json.dumps({**(extra or {}), **evaluation.summary()}, indent=2, default=float))
    return path


ALIGNED_AUTO_MAX_IMAGES = 2000  # 35 turned and shifted embeddings each: about 3 minutes on a 2-core CPU


def aligned_is_affordable(n_images: int) -> bool:
    """Whether `aligned="auto"` scores aligned: up to `ALIGNED_AUTO_MAX_IMAGES` validation and test
    images (CEDAR's 20 writers: 960); above, it says what it skips and how to ask for it."""
    if n_images <= ALIGNED_AUTO_MAX_IMAGES:
        return True
    minutes = n_images * 35 / 250 / 60  # about 250 embeddings a second at 96 x 192 on a 2-core CPU
    log.warning(
        "aligned scoring skipped: %d images x 35 turns and shifts would take about %.0f minutes here; "
        "pass aligned=True to score it anyway",
        n_images,
        minutes,
    )
    return False


def _parts_to_score(splits: dict) -> dict:
    """The non-empty validation and test splits; test writers are required, validation ones optional."""
    parts = {name: splits[name] for name in ("val", "test") if name in splits and len(splits[name])}
    if "test" not in parts:
        raise ValueError("evaluate_run needs test writers (splits['test'] is missing or empty)")
    return parts


def _scores_aligned_here(aligned: bool | str, tower, parts: dict) -> bool:
    """Whether this run scores aligned: asked for (or "auto" and affordable) and applicable at all."""
    applies = "val" in parts and scores_aligned(tower)
    if aligned == "auto":
        return applies and aligned_is_affordable(sum(len(part) for part in parts.values()))
    return bool(aligned) and applies


def _embed_parts(tower, parts: dict, images: dict, options: dict, aligned: bool, cache_dir) -> dict:
    """Each part's embeddings: every turn and shift when scoring aligned, else the plain image only."""
    if aligned:
        return {
            name: embed_variants(tower, part["decode_path"], options, images=images[name], cache_dir=cache_dir)
            for name, part in parts.items()
        }
    return {name: embed_aligned(tower, images[name], ALIGNMENTS[:1]) for name in parts}


def evaluate_run(
    model_path: str | Path,
    splits: dict,
    images: dict | None = None,
    *,
    k: int = 5,
    seed: int | None = None,
    n_boot: int = 1000,
    aligned: bool | str = "auto",
    draws: int = 10,
    cache_dir: str | Path | None = None,
) -> Evaluation:
    """The one path from a model file plus data to metrics: every protocol on `splits["test"]`,
    thresholds chosen on `splits["val"]` (or, without validation writers, the threshold the model
    card stored at training time, never one fitted to the test writers).

    `images` are the splits' preprocessed images when already loaded (else they are decoded with
    the model card's preprocessing). `aligned` scores every protocol a second time with distances
    that tolerate a small turn and shift (`sigkit.align`, the `*_aligned` rows) where that applies
    (`sigkit.align.scores_aligned`; validation writers needed); "auto" only while that stays cheap
    (`aligned_is_affordable`). A model with a background beside it
    (`background.npz`, e.g. the shipped tower) also gets the writer-dependent protocol
    (`references_<k>_wd`, `sigkit.wd`). The embeddings come back in `Evaluation.embeddings`.
    """
    card = ModelCard.for_model(model_path)
    seed = int(card.config.get("seed", 0)) if seed is None else seed
    tower = find_tower(load_siamese(model_path))
    options = card.preprocessing(tower)
    parts = _parts_to_score(splits)
    if images is None:
        images = {name: load_images(p["decode_path"], cache_dir=cache_dir, **options) for name, p in parts.items()}
    threshold = None if "val" in parts else card.threshold
    if threshold is None and "val" not in parts:
        raise ValueError(f"{model_path}: no stored threshold (model.json) and no validation writers to choose one on")
    aligned = _scores_aligned_here(aligned, tower, parts)
    emb = _embed_parts(tower, parts, images, options, aligned, cache_dir)
    has_val = "val" in parts
    evaluation = evaluate_embeddings(
        emb["test"][0],
        parts["test"],
        emb["val"][0] if has_val else None,
        parts["val"] if has_val else None,
        threshold=threshold,
        k=k,
        seed=seed,
        n_boot=n_boot,
        test_aligned=emb["test"] if aligned else None,
        val_aligned=emb.get("val") if aligned else None,
        draws=draws,
        scorer=scorer_for(tower),
        background=background_beside(model_path),
        aligned_background=background_beside(model_path, aligned=True),
    )
    evaluation.embeddings = emb
    return evaluation


def evaluate_model(
    model_path: str | Path,
    data: str | Path,
    writers=None,
    val_writers=None,
    *,
    out_dir: str | Path | None = None,
    k: int = 5,
    seed: int | None = None,
    n_boot: int = 1000,
    aligned: bool | str = "auto",
    split: float | None = None,
) -> tuple[Evaluation, Path]:
    """`sigkit evaluate`: `evaluate_run` on the writers of `data`, written to `metrics.json` and figures.

    `writers` are the test writers (default: all but `val_writers`), `val_writers` choose the
    thresholds (default: the threshold stored with the model); both may hold patterns (`B-*`).
    `split` instead draws `split` of the writers for validation and tests on the rest.
    """
    manifest = load_dataset(data)
    writers, val_writers = match_writers(writers, manifest), match_writers(val_writers, manifest)
    if split is not None:
        if writers is not None or val_writers is not None:
            raise ValueError("give --split or --writers / --val-writers, not both")
        val_writers, writers = random_halves(manifest, split, seed=seed or 0)
    if writers is None:
        val = set()
        if val_writers:
            val = {str(w) for w in split_writers(manifest, val_writers=val_writers)["val"]["writer"]}
        writers = sorted(set(manifest["writer"].astype(str)) - val)
    splits = split_writers(manifest, val_writers=val_writers, test_writers=writers)
    evaluation = evaluate_run(model_path, splits, k=k, seed=seed, n_boot=n_boot, aligned=aligned)
    out_dir = Path(out_dir) if out_dir else Path(model_path).parent / "evaluation"
    has_val = len(splits["val"]) > 0
    extra = {
        "model": str(model_path),
        "data": str(data),
        "test_writers": sorted(splits["test"]["writer"].unique().tolist()),
        "val_writers": sorted(splits["val"]["writer"].unique().tolist()),
        "threshold_from": "validation writers" if has_val else "model.json (training-time validation)",
    }
    return evaluation, write_evaluation(evaluation, out_dir, extra)
