"""The run folder's contract: `model.keras` and its model card `model.json`, one small dataclass.

Training writes the card next to the model; verification, evaluation, the notebooks and the
benchmarks read it through `ModelCard.for_model(path)`, the one reader. It says what a user of
the model must know: the config it was trained with (and so its preprocessing), the decision
threshold and how it was chosen, the ensemble's members, the data it saw (writers and images per
split, corpora), and the library versions. Fields a card does not know (the shipped tower's
corpora, its writer-dependent settings) travel in `extra` and stay at the JSON's top level.
Reading a card checks the type of every field it knows, so a hand-edited or damaged card is an
error naming the file and the field, not a conversion failure wherever the field is first used.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

CARD_NAME = "model.json"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Each known field of a card: does a value fit, what the field must hold, how to repair it.
_FIELD_RULES = {
    "threshold": (
        lambda v: v is None or _number(v),
        "a number or null",
        "write the distance at or below which a pair is genuine, or null and give verify a --threshold",
    ),
    "val_eer": (
        lambda v: v is None or _number(v),
        "a number or null",
        "write the selected model's validation EER as a fraction (e.g. 0.12), or null",
    ),
    "epoch": (lambda v: v is None or _whole(v), "a whole number or null", "write the selected epoch (e.g. 3), or null"),
    "threshold_rule": (
        lambda v: isinstance(v, str),
        "text",
        'write how the threshold was chosen (e.g. "EER point on validation writers")',
    ),
    "config": (
        lambda v: isinstance(v, dict),
        "an object",
        "restore the run's settings ({} means the defaults, which may not be what the model was trained with)",
    ),
    "members": (lambda v: isinstance(v, list), "a list", "write [] for a single tower"),
    "data": (lambda v: isinstance(v, dict), "an object", "write {} when unknown"),
    "versions": (lambda v: isinstance(v, dict), "an object", "write {} when unknown"),
}


def library_versions() -> dict:
    """Python, sigkit, Keras and its backend, NumPy (TensorFlow when it is installed)."""
    import keras
    import numpy as np

    from sigkit.version import __version__

    versions = {
        "python": platform.python_version(),
        "sigkit": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    try:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return versions


def data_summary(splits: dict) -> dict:
    """Writers and images per split, and the corpora they come from (manifest column `corpus`)."""
    summary = {"writers": {}, "images": {}}
    corpora = set()
    for name, part in splits.items():
        summary["writers"][name] = int(part["writer"].nunique())
        summary["images"][name] = int(len(part))
        if "corpus" in part:
            corpora |= set(part["corpus"].astype(str))
    summary["corpora"] = sorted(corpora)
    return summary


@dataclass
class ModelCard:
    threshold: float | None = None  # distance at or below which a pair is genuine
    threshold_rule: str = "EER point on validation writers"
    val_eer: float | None = None  # the selected model's validation EER
    epoch: int | None = None  # the selected epoch (None for an ensemble)
    config: dict = field(default_factory=dict)  # sigkit.Config.to_dict() of the run (flat in older cards)
    members: list = field(default_factory=list)  # an ensemble's towers: val_eer, epochs
    data: dict = field(default_factory=dict)  # data_summary of the training splits
    versions: dict = field(default_factory=dict)  # library_versions at training time
    extra: dict = field(default_factory=dict)  # anything else, kept at the JSON's top level

    @classmethod
    def from_dict(cls, values: dict, source: str = "model card") -> "ModelCard":
        """The card of `values` (a card's JSON); a ValueError naming `source` and the field when a
        known field holds the wrong type."""
        if not isinstance(values, dict):
            raise ValueError(
                f"{source}: holds {type(values).__name__} {_shown(values)}, not a model card (a JSON object); "
                "restore the file written by sigkit.train.train, or delete it and give verify a --threshold"
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        for name, value in known.items():
            fits, expected, fix = _FIELD_RULES[name]
            if not fits(value):
                raise ValueError(f"{source}: field {name!r} is {_shown(value)}, not {expected}; {fix}")
        return cls(**known, extra={k: v for k, v in values.items() if k not in names})

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return json.loads(json.dumps({**values, **self.extra}))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the card (to a temporary name, then renamed: a kill never leaves half a file)."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelCard":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{path}: not valid JSON ({error}); restore the file written by sigkit.train.train, "
                "or delete it and give verify a --threshold"
            ) from error
        return cls.from_dict(values, source=str(path))

    @classmethod
    def for_model(cls, model_path: str | os.PathLike) -> "ModelCard":
        """The card beside `model_path` (`<name>.json`, else `model.json`); an empty card if none."""
        model_path = Path(model_path)
        for candidate in (model_path.with_suffix(".json"), model_path.parent / CARD_NAME):
            if candidate.is_file():
                return cls.load(candidate)
        return cls()


def _shown(value, limit: int = 60) -> str:
    """`value` as in the file, cut short: a message names a bad field, it does not dump a dict."""
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
