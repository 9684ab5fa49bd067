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

from sigkit.calibration import VERIFY_METHODS, OperatingPoint
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
    distance: float  # the method's score: mean distance, minus the writer-dependent decision value, or fused
    threshold: float
    genuine: bool
    distances: list[float]  # to each reference
    method: str = "distance"
    questioned: str = ""
    warnings: list[str] = field(default_factory=list)
    point: OperatingPoint | None = None  # where the threshold comes from, when the card has one for this K
    writer: str = ""  # the claimed writer, when the claim names one

    def text(self) -> str:
        verdict = "GENUINE" if self.genuine else "FORGED"
        k = len(self.distances)
        references = f"{k} reference{'s' if k > 1 else ''}"
        what = {
            "distance": f"distance {self.distance:.4f} ({'mean of ' if k > 1 else 'to '}{references})",
            "fusion": f"fused score {self.distance:.4f} ({references})",
        }.get(self.method, f"writer-dependent score {self.distance:.4f} ({references})")
        lines = [f"{what}, threshold {self.threshold:.4f}: {verdict}"]
        if self.point is not None:
            nearest = f" (the nearest below the {k} given)" if self.point.k != k else ""
            lines.append(self.point.text() + nearest)
        return "\n".join([*lines, *(f"warning: {w}" for w in self.warnings)])


METHODS = VERIFY_METHODS


def verify(
    model_path: str | Path | TrainedModel | None,
    references: list[str | Path],
    questioned: str | Path,
    threshold: float | None = None,
    explain: str | Path | None = None,
    method: str = "distance",
    background: str | Path | None = None,
    calibration: str | Path | None = None,
) -> Verdict:
    """The verdict on `questioned` given `references` of the claimed writer.

    `model_path` None uses the tower shipped with sigkit (`sigkit.shipped`); a `TrainedModel`
    already loaded is used as it is (many verdicts, one load). `method` "distance"
    accepts when the mean distance to the references is at or below the threshold; "wd" trains a
    writer-dependent classifier on the references against the model's background signatures
    (`sigkit.wd`) and accepts when minus its decision value is at or below the threshold;
    "wd-aligned" does the same in register (every turn and shift of the references a positive, the
    questioned signature's best decision over its own; `sigkit.align`); "fusion" combines the
    three scores by the weights the card stores (`sigkit.calibration`). The threshold, unless
    given, is the card's for the method and the number of references (`TrainedModel.operating_point`),
    else the one stored at training time.
    With `explain` (a .png path), also draws where the questioned signature and each reference
    differ (`sigkit.heatmaps.explain_figure`), with the score and the verdict. `background` and
    `calibration`: see `verify_all`."""
    return verify_all(model_path, references, [questioned], threshold, explain, method, background, calibration)[0]


def verify_all(
    model_path: str | Path | TrainedModel | None,
    references: list[str | Path],
    questioned: list[str | Path],
    threshold: float | None = None,
    explain: str | Path | None = None,
    method: str = "distance",
    background: str | Path | None = None,
    calibration: str | Path | None = None,
) -> list[Verdict]:
    """`verify` for several questioned signatures of one claimed writer: the model loaded, every
    file checked and embedded, and a writer-dependent classifier trained once for all of them.
    With several, `explain` names a folder or a .png whose stem each questioned file's name extends.
    `background`, a folder of other writers' genuine signatures of the user's own population, joins
    the model's background for the writer-dependent methods (`TrainedModel.with_background`).
    `calibration`, a folder of writers of that population with skilled forgeries, chooses the
    thresholds per method and K on them instead of the card's (`TrainedModel.calibrated_on`)."""
    if not references:
        raise InputFileError("give at least one reference signature of the claimed writer")
    if not questioned:
        raise InputFileError("give at least one questioned signature")
    claim = Claim(writer="", references=[Path(r) for r in references], questioned=[Path(q) for q in questioned])
    model, files = _prepared(model_path, method, background, [claim], calibration)
    verdicts = _judge(model, files, claim, method, threshold)
    if explain:
        for position, verdict in enumerate(verdicts):
            out = Path(explain) if len(questioned) == 1 else explanation_path(explain, Path(verdict.questioned))
            rows = files.rows([*references, questioned[position]])
            _save_explanation(model.tower, files.images[rows], verdict, [*references, questioned[position]], out)
    return verdicts


@dataclass
class Claim:
    """Questioned signatures said to be `writer`'s, with that writer's reference signatures."""

    writer: str
    references: list[Path]
    questioned: list[Path]
    lines: list[int] = field(default_factory=list)  # each questioned file's line in the claims file


def read_claims(path: str | Path) -> list[Claim]:
    """The claims of a CSV file with columns `writer`, `references` and `questioned`, one row per
    questioned signature. `references` holds the reference files separated by `;`, or a folder
    (every image in it); relative paths are read from the CSV's folder. Rows with the same writer
    and references form one claim (one classifier, each reference embedded once). A ValueError
    names the file, the line and what to do."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: not a readable CSV ({error}); write columns writer,references,questioned")
    missing = {"writer", "references", "questioned"} - set(table.columns)
    if missing:
        raise InputFileError(
            f"{path}: no column {', '.join(sorted(missing))}; write a header line writer,references,questioned "
            "(references: files separated by ';', or a folder)"
        )
    if table.empty:
        raise InputFileError(f"{path}: no claims; write one row per questioned signature under the header")
    claims: dict[tuple, Claim] = {}
    for line, row in zip(range(2, len(table) + 2), table.itertuples(index=False)):
        where = f"{path}, line {line}"
        if not row.questioned.strip():
            raise InputFileError(f"{where}: no questioned file; give the signature to verify")
        references = _reference_files(row.references, path.parent, where)
        key = (row.writer, tuple(references))
        claim = claims.setdefault(key, Claim(row.writer, references, []))
        claim.questioned.append(_beside(row.questioned.strip(), path.parent))
        claim.lines.append(line)
    return list(claims.values())


def _beside(name: str, folder: Path) -> Path:
    named = Path(name).expanduser()
    return named if named.is_absolute() else folder / named


def _reference_files(text: str, folder: Path, where: str) -> list[Path]:
    from sigkit.datasets.layouts import IMAGE_EXTENSIONS

    names = [name.strip() for name in text.split(";") if name.strip()]
    if not names:
        raise InputFileError(f"{where}: no references; give the claimed writer's files separated by ';', or a folder")
    if len(names) == 1 and _beside(names[0], folder).is_dir():
        directory = _beside(names[0], folder)
        files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise InputFileError(
                f"{where}: the folder {directory} holds no image ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return files
    return [_beside(name, folder) for name in names]


def verify_claims(
    model_path: str | Path | TrainedModel | None,
    claims: list[Claim],
    threshold: float | None = None,
    method: str = "distance",
    background: str | Path | None = None,
    calibration: str | Path | None = None,
) -> list[Verdict]:
    """The verdicts of many claims in one call: the model loaded once, every file checked before
    anything is scored (so a bad file stops the call before any work, named with the claim), each
    distinct file embedded once, one writer-dependent classifier per claim. In the order of the
    claims file's lines (`read_claims`), else of the claims."""
    if not claims:
        raise InputFileError("no claims to verify")
    model, files = _prepared(model_path, method, background, claims, calibration)
    judged = []
    for number, claim in enumerate(claims):
        lines = claim.lines or [None] * len(claim.questioned)
        for position, (line, verdict) in enumerate(zip(lines, _judge(model, files, claim, method, threshold))):
            judged.append(((line if line is not None else 0, number, position), verdict))
    return [verdict for _, verdict in sorted(judged, key=lambda item: item[0])]


class _Files:
    """Every file of a call, checked, preprocessed and embedded once (turns and shifts when asked)."""

    def __init__(self, model: TrainedModel, paths: list[Path]):
        self.paths = list(dict.fromkeys(Path(p) for p in paths))
        self._row = {path: row for row, path in enumerate(self.paths)}
        self.decode = checked_paths(self.paths)
        self.images = model.images(self.decode)
        self.embeddings = model.embed(self.images)
        self._model, self._variants = model, None

    def rows(self, paths) -> np.ndarray:
        return np.array([self._row[Path(p)] for p in paths])

    def variants(self) -> np.ndarray:
        if self._variants is None:
            self._variants = self._model.variants(self.decode, images=self.images)
        return self._variants


def _prepared(
    model_path, method: str, background, claims: list[Claim], calibration=None
) -> tuple[TrainedModel, _Files]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if background is not None and method == "distance":
        raise InputFileError(
            "a background folder is for --method wd, wd-aligned or fusion; the distance method uses none"
        )
    model = model_path if isinstance(model_path, TrainedModel) else TrainedModel.load(model_path)
    if background is not None:
        model = model.with_background(background)
    if calibration is not None:
        model = model.calibrated_on(calibration)
    paths = [path for claim in claims for path in (*claim.references, *claim.questioned)]
    return model, _Files(model, paths)


def decision_threshold(
    model: TrainedModel, method: str, k: int, threshold: float | None = None
) -> tuple[float, OperatingPoint | None]:
    """(threshold, where it comes from) for `method` with `k` references: the one given, else the
    card's for that method and K (`TrainedModel.operating_point`), else the one stored at training
    time (the distance's, or the writer-dependent entry's)."""
    point = model.operating_point(method, k) if threshold is None else None
    if threshold is not None:
        return float(threshold), None
    if point is not None:
        return point.threshold, point
    if method == "fusion":
        raise ValueError(
            f"{model.path}: its model card has no fusion weights; use the shipped tower, "
            "or another --method (distance, wd, wd-aligned)"
        )
    if method == "distance":
        return model.distance_threshold(), None
    return model.writer_dependent(method == "wd-aligned")[1], None


def _judge(model: TrainedModel, files: _Files, claim: Claim, method: str, threshold: float | None) -> list[Verdict]:
    """The verdicts of one claim's questioned signatures."""
    k = len(claim.references)
    threshold, point = decision_threshold(model, method, k, threshold)
    references, questioned = files.rows(claim.references), files.rows(claim.questioned)
    a, b = np.repeat(questioned, k), np.tile(references, len(questioned))
    distances = pair_distances(files.embeddings, a, b, model.scorer).reshape(len(questioned), k)
    if method == "fusion":  # the card's weights for this K, whether or not a threshold was given
        stored = point or model.operating_point("fusion", k)
        rule = stored.fusion if stored is not None else None
        if rule is None:
            raise ValueError(f"{model.path}: its model card has no fusion weights; use another --method")
        members = [_scores(model, files, references, questioned, member, distances) for member in rule.members]
        scores = rule.apply(np.stack(members, axis=1))
    else:
        scores = _scores(model, files, references, questioned, method, distances)
    verdicts = []
    for position, score in enumerate(scores):
        path = claim.questioned[position]
        verdict = Verdict(
            distance=float(score),
            threshold=float(threshold),
            genuine=bool(score <= threshold),
            distances=[float(d) for d in distances[position]],
            method=method,
            questioned=str(path),
            warnings=same_file_warnings(path, claim.references),
            point=point,
            writer=claim.writer,
        )
        for warning in verdict.warnings:
            log.warning(warning)
        verdicts.append(verdict)
    return verdicts


def _scores(model, files: _Files, references, questioned, method: str, distances) -> np.ndarray:
    """One method's score of each questioned signature (lower: more genuine)."""
    if method == "distance":
        return distances.mean(axis=1)
    aligned = method == "wd-aligned"
    features = files.variants() if aligned else files.embeddings
    return np.asarray(writer_dependent_scores(model, features, references, questioned, aligned))


def writer_dependent_scores(
    model: TrainedModel, features: np.ndarray, references, questioned, aligned: bool
) -> list[float]:
    """Minus the decision values of the writer-dependent classifier the model card names
    (`sigkit.wd.writer_decisions`, the same decision the evaluation scores), trained once on the
    `references` rows of `features` and applied to the `questioned` rows; `features` are
    (N, ...), or aligned (variants, N, ...)."""
    settings, _ = model.writer_dependent(aligned)
    variants = by_variant(features, aligned=aligned)
    decisions = writer_decisions(
        variants, np.asarray(references), np.asarray(questioned), model.required_background(aligned), settings
    )
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
