"""Is this signature genuine? Score a questioned file against K references of the claimed writer.

The everyday question, answered the way the evaluation's K-reference protocol scores it: the
mean distance (embeddings, or cross-matched cells) from the questioned signature to each reference, accepted as genuine
when it is at or below the threshold. The threshold defaults to the one stored with the model at
training time (`model.json` beside `model.keras`: the EER point on the validation writers).
Every file is checked (and preprocessed) exactly as the training data were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigkit.card import ModelCard
from sigkit.datasets.checks import check_files, default_cache_dir
from sigkit.matching import pair_distances, scorer_for
from sigkit.model import embed, find_tower, load_siamese
from sigkit.preprocess import load_images


class InputFileError(ValueError):
    """An input image sigkit cannot use, naming the file and what to do."""


def checked_paths(paths: list[str | Path]) -> list[str]:
    """The files sigkit decodes for `paths`; a missing, empty, corrupt or blank file is named in the error."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
    checks = check_files(paths, max_pixels=50_000_000, transcode_dir=default_cache_dir())
    problems = [f"{path}: {check.problem}" for path, check in checks.items() if check.problem]
    if problems:
        raise InputFileError("cannot use these images:\n  " + "\n  ".join(problems))
    return [checks[p].decode_path for p in paths]


@dataclass
class Verdict:
    distance: float  # mean distance to the references, or minus the writer-dependent decision value
    threshold: float
    genuine: bool
    distances: list[float]  # to each reference
    method: str = "distance"

    def text(self) -> str:
        verdict = "GENUINE" if self.genuine else "FORGED"
        what = (
            f"distance {self.distance:.4f} (mean of {len(self.distances)} references)"
            if self.method == "distance"
            else f"writer-dependent score {self.distance:.4f} ({len(self.distances)} references)"
        )
        return f"{what}, threshold {self.threshold:.4f}: {verdict}"


METHODS = ("distance", "wd", "wd-aligned")
CARD_ENTRY = {"wd": "writer_dependent", "wd-aligned": "writer_dependent_aligned"}


def background_for(model_path: Path, aligned: bool = False) -> np.ndarray:
    """The background signatures a writer-dependent classifier needs: `background.npz` beside the
    model (`aligned`: with the turns and shifts stored there, `sigkit.wd.background_beside`)."""
    from sigkit.wd import background_beside

    background = background_beside(model_path, aligned=aligned)
    if background is None:
        raise ValueError(
            f"{Path(model_path).parent / 'background.npz'}: no background beside the model, which "
            "--method wd needs (embedded genuine signatures of writers other than the claimed one); "
            "use the shipped tower (no --model), or write one with sigkit.wd.save_background"
        )
    return background


def wd_decision(
    card: ModelCard, model_path: Path, features: np.ndarray, threshold: float | None, method: str = "wd"
) -> tuple[float, float]:
    """(score, threshold) of the writer-dependent classifier the model card names (`sigkit.wd`):
    `features` are the references' and then the questioned signature's, (N, D), or with
    "wd-aligned" (variants, N, D) (the classifiers' aligned form)."""
    from sigkit.wd import WDSettings, by_variant, writer_classifier

    stored = card.extra.get(CARD_ENTRY[method])
    if stored is None:
        raise ValueError(
            f"{model_path}: its model card has no {CARD_ENTRY[method]} settings and threshold; "
            "use --method distance, or the shipped tower"
        )
    aligned = method == "wd-aligned"
    variants = by_variant(features, aligned=aligned)
    settings = WDSettings(stored["kind"], float(stored["C"]))
    background = background_for(model_path, aligned=aligned)
    model = writer_classifier(variants[:, :-1].reshape(-1, variants.shape[-1]), background, settings)
    score = -float(max(model.decision_function(variant[-1:])[0] for variant in variants))
    return score, float(stored["threshold"] if threshold is None else threshold)


def verify(
    model_path: str | Path | None,
    references: list[str | Path],
    questioned: str | Path,
    threshold: float | None = None,
    explain: str | Path | None = None,
    method: str = "distance",
) -> Verdict:
    """The verdict on `questioned` given `references` of the claimed writer.

    `model_path` None uses the tower shipped with sigkit (`sigkit.shipped`). `method` "distance"
    accepts when the mean distance to the references is at or below the threshold; "wd" trains a
    writer-dependent classifier on the references against the model's background signatures
    (`sigkit.wd`) and accepts when minus its decision value is at or below the card's threshold;
    "wd-aligned" does the same in register (every turn and shift of the references a positive, the
    questioned signature's best decision over its own; `sigkit.align`), its own threshold.
    With `explain` (a .png path), also draws where the questioned signature and each reference
    differ (`sigkit.heatmaps.explain_figure`), with the score and the verdict."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not references:
        raise InputFileError("give at least one reference signature of the claimed writer")
    if model_path is None:
        from sigkit.shipped import pretrained_path

        model_path = pretrained_path()
    siamese = load_siamese(model_path)
    card = ModelCard.for_model(model_path)
    if threshold is None and method == "distance":
        if card.threshold is None:
            raise ValueError(f"{model_path}: no model.json with a stored threshold beside it; pass --threshold")
        threshold = float(card.threshold)
    tower = find_tower(siamese)
    options = card.preprocessing(tower)
    files = checked_paths([*references, questioned])
    images = load_images(files, **options)
    embeddings = embed(tower, images)
    reference_rows = np.arange(len(images) - 1)
    distances = pair_distances(
        embeddings, reference_rows, np.full_like(reference_rows, len(images) - 1), scorer_for(tower)
    )
    score = float(distances.mean())
    if method == "wd":
        score, threshold = wd_decision(card, Path(model_path), embeddings, threshold)
    elif method == "wd-aligned":
        from sigkit.align import embed_variants

        variants = embed_variants(tower, files, options, images=images)
        score, threshold = wd_decision(card, Path(model_path), variants, threshold, method)
    verdict = Verdict(
        distance=score,
        threshold=float(threshold),
        genuine=score <= threshold,
        distances=[float(d) for d in distances],
        method=method,
    )
    if explain:
        _save_explanation(tower, images, verdict, [*references, questioned], explain)
    return verdict


def _save_explanation(tower, images: np.ndarray, verdict: Verdict, files: list[str | Path], out: str | Path) -> None:
    """Draw where the questioned signature (the last image) and each reference differ, into out."""
    from sigkit.heatmaps import explain_figure

    figure = explain_figure(
        tower,
        images[-1],
        images[:-1],
        verdict.distances,
        verdict.text(),
        names=[Path(p).name for p in files],
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
