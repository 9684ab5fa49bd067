"""From a model file and a data folder to `metrics.json` and the evaluation figures.

What `sigkit evaluate` runs, and what the evaluation notebook runs on its own split: embed the
test writers (and the validation writers, when given, to choose the thresholds on them), score
every protocol through `sigkit.scoring.evaluate`, write `metrics.json` (`write_metrics`, its one
writer) and the figures. With no validation writers the threshold is the one stored with the
model at training time, never one fitted to the test writers.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sigkit import plots
from sigkit.datasets import load_dataset, split_writers
from sigkit.scoring import Evaluation, Features, Protocol, evaluate, json_records, standard_protocols, usable
from sigkit.trained import TrainedModel
from sigkit.wd import background_rows

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


def evaluation_figures(evaluation: Evaluation, k: int = 5) -> dict:
    """Every evaluation figure, by file name: ROC and DET of the protocols at 1 and `k` references,
    FAR/FRR and the distance histograms of single pairs, the confusion matrix at `k` references,
    per-writer EER, and EER against the number of references for each way of deciding."""
    headline = {p: s for p, s in evaluation.scores.items() if p.k in (1, k) and p.method != "wd"}
    single = evaluation.row("single")
    mean = Protocol("mean", k)
    figures = {
        "03_roc": plots.roc(headline),
        "03_det": plots.det(headline),
        "03_far_frr": plots.far_frr_curves(
            evaluation.scores[Protocol()],
            single["threshold"],
            "FAR and FRR against the threshold (single pairs, skilled forgeries)",
        ),
        "03_distance_histograms": plots.distance_histograms(evaluation.pairs(), single["threshold"]),
        "03_per_writer_eer": plots.per_writer(evaluation.per_writer()),
    }
    if evaluation.has(mean):
        row = evaluation.row("mean", k)
        figures["03_confusion"] = plots.confusion_matrix(
            evaluation.scores[mean],
            row["threshold"],
            f"Confusion matrix, {mean.label} (accuracy {100 * row['accuracy']:.1f} %)",
        )
    curve = evaluation.curve()
    if len(curve) > 1:
        figures["03_eer_by_k"] = plots.eer_by_method(curve)
    return figures


METRICS_SCHEMA = "sigkit-metrics/2"


def write_metrics(evaluation: Evaluation, path: str | Path, extra: dict | None = None) -> Path:
    """`metrics.json`, the one schema (`docs/guide.md`, "metrics.json"): `schema`, what the caller
    adds in `extra` (model, data, writers, ...), `protocols` (one record per protocol: method, k,
    forgeries, aligned, label and its figures) and `per_writer_eer`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "schema": METRICS_SCHEMA,
        **(extra or {}),
        "protocols": evaluation.to_json(),
        "per_writer_eer": json_records(evaluation.per_writer()),
    }
    path.write_text(json.dumps(content, indent=2, default=float) + "\n")
    return path


def write_evaluation(evaluation: Evaluation, out_dir: str | Path, extra: dict | None = None, k: int = 5) -> Path:
    """`metrics.json` and the figures (PNG) under `out_dir`; returns the JSON path."""
    out_dir = Path(out_dir)
    for name, fig in evaluation_figures(evaluation, k).items():
        plots.save(fig, out_dir, name)
        plt.close(fig)
    return write_metrics(evaluation, out_dir / "metrics.json", extra)


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


def _scores_aligned_here(aligned: bool | str, model: TrainedModel, parts: dict) -> bool:
    """Whether this run scores aligned: asked for (or "auto" and affordable) and applicable at all."""
    applies = "val" in parts and model.aligns
    if aligned == "auto":
        return applies and aligned_is_affordable(sum(len(part) for part in parts.values()))
    return bool(aligned) and applies


CURVE_KS = (1, 2, 3, 5, 8, 12)


def evaluate_run(
    model: str | Path | TrainedModel,
    splits: dict,
    images: dict | None = None,
    *,
    k: int = 5,
    seed: int | None = None,
    n_boot: int = 1000,
    aligned: bool | str = "auto",
    draws: int = 10,
    cache_dir: str | Path | None = None,
    background: str | np.ndarray | None = "beside",
    curve_ks=CURVE_KS,
    choice_draws: int = 1,
    progress=None,
) -> Evaluation:
    """The one path from a model plus data to results: every protocol (`sigkit.scoring.evaluate`)
    on `splits["test"]`, thresholds chosen on `splits["val"]` (or, without validation writers,
    the threshold the model card stored at training time, never one fitted to the test writers).

    `images` are the splits' preprocessed images when already loaded (else they are decoded with
    the model's preprocessing). `aligned` scores every protocol a second time in register
    (`sigkit.align`) where that applies; "auto" only while that stays cheap
    (`aligned_is_affordable`). `background` feeds the writer-dependent protocols: "beside" the
    one stored beside the model (`background.npz`, e.g. the shipped tower; none: no such
    protocols), "train" four genuine signatures of each training writer of `splits`, or features.
    `curve_ks` adds each way of deciding at those K (skilled forgeries). With validation writers,
    single pairs and K references each get a fusion row too (`sigkit.scoring.fuse`: the scorers
    asking those questions combined by weights learned on the validation writers). `progress(message)` hears
    what is being embedded and scored. The embeddings come back in `Evaluation.embeddings`.
    """
    model = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    seed = model.seed if seed is None else seed
    say = progress or (lambda message: log.info(message))
    parts = _parts_to_score(splits)
    images = dict(images or {})
    for name, part in parts.items():
        if name not in images:
            say(f"preprocessing the {name} writers' {len(part)} images")
            images[name] = model.images(part["decode_path"], cache_dir=cache_dir)
    aligned = _scores_aligned_here(aligned, model, parts)
    emb = {}
    for number, (name, part) in enumerate(parts.items(), 1):
        what = "every turn and shift of " if aligned else ""
        say(f"embedding {number}/{len(parts)}: {what}the {name} writers' {len(part)} images")
        emb[name] = (
            model.variants(part["decode_path"], images=images[name], cache_dir=cache_dir)
            if aligned
            else model.embed(images[name])[None]
        )
    features = {name: Features(part, emb[name][0], emb[name] if aligned else None) for name, part in parts.items()}
    background, aligned_background = _backgrounds(model, background, splits, images, seed, say)
    has_val = "val" in parts
    protocols = standard_protocols(
        k, aligned=aligned, writer_dependent=background is not None and has_val, curve_ks=curve_ks, fusion=has_val
    )
    evaluation = evaluate(
        features["test"],
        features.get("val"),
        usable(protocols, *(part for part in parts.values())),
        threshold=None if has_val else model.distance_threshold(),
        seed=seed,
        draws=draws,
        n_boot=n_boot,
        scorer=model.scorer,
        background=background,
        aligned_background=aligned_background,
        choice_draws=choice_draws,
        progress=say,
    )
    evaluation.embeddings = emb
    return evaluation


def _backgrounds(model: TrainedModel, background, splits: dict, images: dict, seed: int, say):
    """(background, aligned background) features of the writer-dependent protocols (module doc)."""
    if background is None:
        return None, None
    if isinstance(background, str) and background == "beside":
        return model.background(), model.background(aligned=True)
    if isinstance(background, str) and background == "train":
        train = splits.get("train")
        if train is None or not len(train):
            raise ValueError('background="train" needs training writers in splits["train"]')
        rows = background_rows(train, per_writer=4, seed=seed)
        say(f"embedding the background: {len(rows)} genuine signatures of the training writers")
        chosen = images["train"][rows] if "train" in images else model.images(train["decode_path"].iloc[rows])
        return model.embed(chosen), None
    return np.asarray(background), None


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
    progress=None,
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
    evaluation = evaluate_run(model_path, splits, k=k, seed=seed, n_boot=n_boot, aligned=aligned, progress=progress)
    out_dir = Path(out_dir) if out_dir else Path(model_path).parent / "evaluation"
    extra = {
        "model": str(model_path),
        "data": str(data),
        "k": k,
        "test_writers": sorted(splits["test"]["writer"].unique().tolist()),
        "val_writers": sorted(splits["val"]["writer"].unique().tolist()),
    }
    return evaluation, write_evaluation(evaluation, out_dir, extra, k=k)
