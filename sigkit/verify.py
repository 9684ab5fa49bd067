"""Is this signature genuine? Score a questioned file against K references of the claimed writer.

The everyday question, answered the way the evaluation's K-reference protocol scores it: the
mean distance (embeddings, or cross-matched cells) from the questioned signature to each reference, accepted as genuine
when it is at or below the threshold. The threshold defaults to the one stored with the model at
training time (`model.json` beside `model.keras`: the EER point on the validation writers).
Every file is checked (and preprocessed) exactly as the training data were.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sigkit.datasets.checks import check_files, default_cache_dir
from sigkit.matching import pair_distances
from sigkit.trained import TrainedModel
from sigkit.wd import by_variant, writer_decisions

log = logging.getLogger(__name__)


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
    questioned: str = ""
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        verdict = "GENUINE" if self.genuine else "FORGED"
        what = (
            f"distance {self.distance:.4f} (mean of {len(self.distances)} references)"
            if self.method == "distance"
            else f"writer-dependent score {self.distance:.4f} ({len(self.distances)} references)"
        )
        return "\n".join(
            [f"{what}, threshold {self.threshold:.4f}: {verdict}", *(f"warning: {w}" for w in self.warnings)]
        )


METHODS = ("distance", "wd", "wd-aligned")


def verify(
    model_path: str | Path | TrainedModel | None,
    references: list[str | Path],
    questioned: str | Path,
    threshold: float | None = None,
    explain: str | Path | None = None,
    method: str = "distance",
    background: str | Path | None = None,
) -> Verdict:
    """The verdict on `questioned` given `references` of the claimed writer.

    `model_path` None uses the tower shipped with sigkit (`sigkit.shipped`); a `TrainedModel`
    already loaded is used as it is (many verdicts, one load). `method` "distance"
    accepts when the mean distance to the references is at or below the threshold; "wd" trains a
    writer-dependent classifier on the references against the model's background signatures
    (`sigkit.wd`) and accepts when minus its decision value is at or below the card's threshold;
    "wd-aligned" does the same in register (every turn and shift of the references a positive, the
    questioned signature's best decision over its own; `sigkit.align`), its own threshold.
    With `explain` (a .png path), also draws where the questioned signature and each reference
    differ (`sigkit.heatmaps.explain_figure`), with the score and the verdict. `background`: see
    `verify_all`."""
    return verify_all(model_path, references, [questioned], threshold, explain, method, background)[0]


def verify_all(
    model_path: str | Path | TrainedModel | None,
    references: list[str | Path],
    questioned: list[str | Path],
    threshold: float | None = None,
    explain: str | Path | None = None,
    method: str = "distance",
    background: str | Path | None = None,
) -> list[Verdict]:
    """`verify` for several questioned signatures of one claimed writer: the model loaded, every
    file checked and embedded, and a writer-dependent classifier trained once for all of them.
    With several, `explain` names a folder or a .png whose stem each questioned file's name extends.
    `background`, a folder of other writers' genuine signatures of the user's own population, joins
    the model's background for the writer-dependent methods (`TrainedModel.with_background`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not references:
        raise InputFileError("give at least one reference signature of the claimed writer")
    if not questioned:
        raise InputFileError("give at least one questioned signature")
    if background is not None and method == "distance":
        raise InputFileError("a background folder is for --method wd or wd-aligned; the distance method uses none")
    model = model_path if isinstance(model_path, TrainedModel) else TrainedModel.load(model_path)
    if background is not None:
        model = model.with_background(background)
    aligned = method == "wd-aligned"
    if threshold is None:
        threshold = model.distance_threshold() if method == "distance" else model.writer_dependent(aligned)[1]
    files = checked_paths([*references, *questioned])
    images = model.images(files)
    embeddings = model.embed(images)
    k, reference_rows = len(references), np.arange(len(references))
    scores = []
    for row in range(k, len(files)):
        distances = pair_distances(embeddings, reference_rows, np.full_like(reference_rows, row), model.scorer)
        scores.append((float(distances.mean()), distances))
    if method != "distance":
        features = model.variants(files, images=images) if aligned else embeddings
        decisions = writer_dependent_scores(model, features, k, aligned)
        scores = [(decision, distances) for decision, (_, distances) in zip(decisions, scores)]
    verdicts = []
    for position, (score, distances) in enumerate(scores):
        path = Path(questioned[position])
        verdict = Verdict(
            distance=score,
            threshold=float(threshold),
            genuine=score <= threshold,
            distances=[float(d) for d in distances],
            method=method,
            questioned=str(path),
            warnings=same_file_warnings(path, references),
        )
        for warning in verdict.warnings:
            log.warning(warning)
        if explain:
            out = Path(explain) if len(questioned) == 1 else explanation_path(explain, path)
            rows = [*reference_rows, k + position]
            _save_explanation(model.tower, images[rows], verdict, [*references, path], out)
        verdicts.append(verdict)
    return verdicts


def writer_dependent_scores(model: TrainedModel, features: np.ndarray, k: int, aligned: bool) -> list[float]:
    """Minus the decision values of the writer-dependent classifier the model card names
    (`sigkit.wd.writer_decisions`, the same decision the evaluation scores), trained once on the
    first `k` of `features` (the references) and applied to the rest (the questioned signatures);
    `features` are (N, ...), or aligned (variants, N, ...)."""
    settings, _ = model.writer_dependent(aligned)
    variants = by_variant(features, aligned=aligned)
    references, questioned = np.arange(k), np.arange(k, variants.shape[1])
    decisions = writer_decisions(variants, references, questioned, model.required_background(aligned), settings)
    return [-float(d) for d in decisions]


def same_file_warnings(questioned: Path, references: list[str | Path]) -> list[str]:
    """A warning for each reference whose bytes are the questioned file's: a copy proves nothing."""
    digest = _sha1(questioned)
    return [
        f"{questioned} is byte-identical to the reference {reference}: a copy of a reference, not a new signing"
        for reference in references
        if _sha1(Path(reference)) == digest
    ]


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def explanation_path(explain: str | Path, questioned: Path) -> Path:
    """Where the explanation of one of several questioned files goes: `<folder>/<name>.png`, or
    `<stem>-<name>.png` beside `explain` when it names a .png."""
    explain = Path(explain)
    if explain.suffix.lower() == ".png":
        return explain.with_name(f"{explain.stem}-{questioned.stem}.png")
    return explain / f"{questioned.stem}.png"


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
