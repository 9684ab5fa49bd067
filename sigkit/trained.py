"""A trained model, loaded once: what verification and evaluation read from a model file.

`TrainedModel.load(path)` (no path: the tower shipped with sigkit) gathers everything a model
file brings: the Siamese model and its tower, the model card beside it (`sigkit.card`), the
preprocessing it was trained with, how its features are compared (`sigkit.matching.scorer_for`),
the background signatures stored beside it for the writer-dependent classifiers (`sigkit.wd`)
and their settings and thresholds. `sigkit verify`, `sigkit evaluate` and the notebooks read
these attributes instead of loading each piece from its own module.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sigkit.align import embed_variants, scores_aligned
from sigkit.calibration import CARD_ENTRY, OperatingPoint, point_for
from sigkit.card import ModelCard
from sigkit.config import Config
from sigkit.matching import scorer_for
from sigkit.model import embed, find_tower, load_siamese
from sigkit.preprocess import load_images, preprocess_options
from sigkit.wd import WDSettings, background_beside, background_with_variants, flat


def preprocessing_of(card: ModelCard, tower) -> dict:
    """The preprocessing a model was trained with (`sigkit.preprocess.load_images` options): the
    card's config, at the model's own input size."""
    height, width = tower.input_shape[1:3]
    config = Config.from_dict(card.config).replace(image_size=(int(height), int(width)))
    return preprocess_options(config.preprocess)


# where the model card keeps each writer-dependent method's classifier and threshold
CARD_ENTRIES = {False: "writer_dependent", True: "writer_dependent_aligned"}


@dataclass
class TrainedModel:
    path: Path
    siamese: object = field(repr=False)
    tower: object = field(repr=False)
    card: ModelCard = field(repr=False)
    options: dict = field(repr=False)  # the preprocessing of `sigkit.preprocess.load_images`
    _backgrounds: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "TrainedModel":
        """The model at `path` (a `.keras` file with its card beside it), or the shipped tower."""
        if path is None:
            from sigkit.shipped import pretrained_path

            path = pretrained_path()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file; give a .keras file written by sigkit's training")
        siamese = load_siamese(path)
        tower = find_tower(siamese)
        card = ModelCard.for_model(path)
        return cls(path, siamese, tower, card, preprocessing_of(card, tower))

    @property
    def scorer(self):
        """How two signatures' features are compared (None: Euclidean distance of embeddings)."""
        return scorer_for(self.tower)

    @property
    def seed(self) -> int:
        return int(self.card.config.get("seed", 0))

    @property
    def aligns(self) -> bool:
        """Whether aligned scoring (turns and shifts, `sigkit.align`) applies to this tower."""
        return scores_aligned(self.tower)

    def images(self, files, cache_dir=None) -> np.ndarray:
        """`files` preprocessed as the model's training data were."""
        return load_images(list(files), cache_dir=cache_dir, **self.options)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return embed(self.tower, images)

    def variants(self, files, images: np.ndarray | None = None, cache_dir=None) -> np.ndarray:
        """(V, N, ...) features of every turn and shift of `files` ([0]: as they are)."""
        return embed_variants(self.tower, list(files), self.options, images=images, cache_dir=cache_dir)

    def background(self, aligned: bool = False) -> np.ndarray | None:
        """The background features stored beside the model (`background.npz`), or None; `aligned`:
        followed by their own turns and shifts where the file holds them."""
        if aligned not in self._backgrounds:
            self._backgrounds[aligned] = background_beside(self.path, aligned=aligned)
        return self._backgrounds[aligned]

    def with_background(self, folder: str | Path, cache_dir: str | Path | None = None) -> "TrainedModel":
        """This model with the genuine signatures of `folder` (other writers of the user's own
        population, in any layout `sigkit.datasets.load_dataset` reads) added to the background
        of its writer-dependent classifiers: a background of the same script and scanner as the
        claimed writer's. Their features (and, for the aligned classifier, their own turns and
        shifts) are computed once and cached in `cache_dir` (default `~/.cache/sigkit`), keyed by
        the model file and the images' contents. The card's settings and thresholds stay."""
        from sigkit.datasets import default_cache_dir, load_dataset

        genuine = load_dataset(folder).query("genuine")
        if genuine.empty:
            raise ValueError(f"{folder}: no genuine signatures to use as background")
        key = hashlib.sha1(self.path.read_bytes() + "".join(sorted(genuine["sha1"])).encode()).hexdigest()[:16]
        cache = Path(cache_dir or default_cache_dir().parent) / "backgrounds" / f"{key}.npz"
        if cache.is_file():
            with np.load(cache) as stored:
                plain, variants = stored["embeddings"], stored["variants"]
        else:
            files = genuine["decode_path"].tolist()
            images = self.images(files)
            plain, variants = self.embed(images), self.variants(files, images=images)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, embeddings=plain, variants=variants)
        own = {False: plain, True: background_with_variants(variants, seed=self.seed)}
        combined = {}
        for aligned, features in own.items():
            stored = self.background(aligned)
            combined[aligned] = flat(features) if stored is None else np.concatenate([flat(stored), flat(features)])
        return dataclasses.replace(self, _backgrounds=combined)

    def calibrated_on(self, folder: str | Path, cache_dir: str | Path | None = None, draws: int = 5) -> "TrainedModel":
        """This model with its thresholds per method and per number of references chosen on the
        writers of `folder` (genuine signatures and skilled forgeries of the user's own population,
        in any layout `sigkit.datasets.load_dataset` reads; `sigkit.calibration.calibrate`) instead
        of the card's: thresholds chosen on other scripts and scanners need not carry over. The
        table is computed once and cached in `cache_dir` (default `~/.cache/sigkit`), keyed by the
        model, its background and the images; the card's classifier settings stay."""
        import json

        from sigkit.calibration import calibrate, points_table
        from sigkit.datasets import default_cache_dir, load_dataset
        from sigkit.scoring import Features

        manifest = load_dataset(folder).reset_index(drop=True)
        if manifest["genuine"].all():
            raise ValueError(
                f"{folder}: no forgeries; calibrating a threshold needs skilled forgeries of some of its writers"
            )
        backgrounds = [self.background(aligned) for aligned in (False, True)]
        digest = hashlib.sha1(self.path.read_bytes() + "".join(sorted(manifest["sha1"])).encode() + str(draws).encode())
        for background in backgrounds:
            digest.update(b"" if background is None else np.ascontiguousarray(background).tobytes())
        cache = Path(cache_dir or default_cache_dir().parent) / "calibrations" / f"{digest.hexdigest()[:16]}.json"
        if cache.is_file():
            table = json.loads(cache.read_text())
        else:
            files = manifest["decode_path"].tolist()
            images = self.images(files)
            variants = self.variants(files, images=images) if self.aligns else None
            plain = variants[0] if variants is not None else self.embed(images)
            settings = {
                method: self.writer_dependent(aligned)[0]
                for method, aligned in (("wd", False), ("wd-aligned", True))
                if CARD_ENTRIES[aligned] in self.card.extra
            }
            points = calibrate(
                Features(manifest, plain, variants),
                settings=settings,
                background=backgrounds[0],
                aligned_background=backgrounds[1],
                scorer=self.scorer,
                seed=self.seed,
                draws=draws,
            )
            if not points:
                raise ValueError(f"{folder}: no writer has two genuine signatures or more to calibrate on")
            table = points_table(points)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(table, indent=1) + "\n")
        card = dataclasses.replace(self.card, extra={**self.card.extra, CARD_ENTRY: table})
        return dataclasses.replace(self, card=card)

    def required_background(self, aligned: bool = False) -> np.ndarray:
        background = self.background(aligned)
        if background is None:
            raise ValueError(
                f"{self.path.parent / 'background.npz'}: no background beside the model, which the "
                "writer-dependent methods need (embedded genuine signatures of writers other than the "
                "claimed one); use the shipped tower (no --model), or write one with sigkit.wd.save_background"
            )
        return background

    def writer_dependent(self, aligned: bool = False) -> tuple[WDSettings, float]:
        """(classifier settings, threshold) the model card stores for the writer-dependent method."""
        entry = CARD_ENTRIES[aligned]
        stored = self.card.extra.get(entry)
        if stored is None:
            raise ValueError(
                f"{self.path}: its model card has no {entry} settings and threshold; "
                "use --method distance, or the shipped tower"
            )
        try:
            return WDSettings(stored["kind"], float(stored["C"])), float(stored["threshold"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{self.path}: the model card's {entry} entry must hold kind, C and threshold, not {stored!r}"
            ) from error

    def operating_point(self, method: str, k: int) -> OperatingPoint | None:
        """The card's threshold for `method` with `k` references (`sigkit.calibration.point_for`:
        the nearest stored K at or below), with its validation FAR and FRR; None when the card
        has no such table (a model trained by the user: see `distance_threshold`)."""
        table = self.card.extra.get(CARD_ENTRY)
        try:
            return point_for(table, method, k)
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{self.path}: the model card's {CARD_ENTRY} entry is damaged ({error!r}); restore the file, "
                "or recompute it (python -m sigkit.shipped.build ... --card-only)"
            ) from error

    def distance_threshold(self) -> float:
        """The distance threshold stored at training time (the EER point on validation writers)."""
        if self.card.threshold is None:
            raise ValueError(f"{self.path}: no model card with a stored threshold beside it; pass --threshold")
        return float(self.card.threshold)
