"""Is this signature genuine? Score a questioned file against K references of the claimed writer.

The everyday question, answered the way the evaluation's K-reference protocol scores it: the
mean distance (embeddings, or cross-matched cells) from the questioned signature to each reference, accepted as genuine
when it is at or below the threshold. The threshold defaults to the one stored with the model at
training time (`model.json` beside `model.keras`: the EER point on the validation writers).
Every file is checked (and preprocessed) exactly as the training data were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from sigkit.compare import pair_distances, scorer_for
from sigkit.config import Config
from sigkit.datasets.checks import check_files, default_cache_dir
from sigkit.model import embed, find_tower, load_siamese
from sigkit.preprocess import load_images, preprocess_options


class InputFileError(ValueError):
    """An input image sigkit cannot use, naming the file and what to do."""


def model_card(model_path: str | Path) -> dict:
    """`model.json` (or `<name>.json`) beside the model, as written at training time; {} if absent."""
    model_path = Path(model_path)
    for candidate in (model_path.with_suffix(".json"), model_path.parent / "model.json"):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"{candidate}: not valid JSON ({error}); delete it or pass --threshold") from error
    return {}


def preprocessing_for(tower: keras.Model, card: dict) -> dict:
    """The preprocessing the model was trained with: the card's config, the model's input size."""
    fields = {name: value for name, value in card.get("config", {}).items() if name in Config.__dataclass_fields__}
    config = Config().replace(**fields)
    height, width = tower.input_shape[1:3]
    return preprocess_options(config.replace(image_size=(int(height), int(width))))


def checked_images(paths: list[str | Path], options: dict) -> np.ndarray:
    """Preprocessed images of `paths`; a missing, empty, corrupt or blank file is named in the error."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
    checks = check_files(paths, max_pixels=50_000_000, transcode_dir=default_cache_dir())
    problems = [f"{path}: {check.problem}" for path, check in checks.items() if check.problem]
    if problems:
        raise InputFileError("cannot use these images:\n  " + "\n  ".join(problems))
    return load_images([checks[p].decode_path for p in paths], **options)


@dataclass
class Verdict:
    distance: float  # mean distance to the references
    threshold: float
    genuine: bool
    distances: list[float]  # to each reference

    def text(self) -> str:
        verdict = "GENUINE" if self.genuine else "FORGED"
        return (f"distance {self.distance:.4f} (mean of {len(self.distances)} references), threshold "
                f"{self.threshold:.4f}: {verdict}")


def verify(model_path: str | Path, references: list[str | Path], questioned: str | Path,
           threshold: float | None = None, explain: str | Path | None = None) -> Verdict:
    """The verdict on `questioned` given `references` of the claimed writer.

    With `explain` (a .png path), also draws where the questioned signature and each reference
    differ (`sigkit.heatmaps.explain_figure`), with the score and the verdict."""
    if not references:
        raise InputFileError("give at least one reference signature of the claimed writer")
    siamese = load_siamese(model_path)
    card = model_card(model_path)
    if threshold is None:
        if "threshold" not in card:
            raise ValueError(f"{model_path}: no model.json with a stored threshold beside it; pass --threshold")
        threshold = float(card["threshold"])
    tower = find_tower(siamese)
    images = checked_images([*references, questioned], preprocessing_for(tower, card))
    embeddings = embed(tower, images)
    reference_rows = np.arange(len(images) - 1)
    distances = pair_distances(embeddings, reference_rows, np.full_like(reference_rows, len(images) - 1), scorer_for(tower))
    mean = float(distances.mean())
    verdict = Verdict(distance=mean, threshold=float(threshold), genuine=mean <= threshold,
                      distances=[float(d) for d in distances])
    if explain:
        from sigkit.heatmaps import explain_figure

        figure = explain_figure(tower, images[-1], images[:-1], verdict.distances, verdict.text(),
                                names=[Path(p).name for p in [*references, questioned]])
        Path(explain).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(explain, dpi=120)
    return verdict
