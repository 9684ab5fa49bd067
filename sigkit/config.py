"""One configuration for the whole kit: the settings each stage owns, one seed, named profiles.

    Config
      seed         writer splits, pair sampling, augmentation and weight initialisation
      split        SplitConfig       sigkit.datasets.splits   validation and test writers, references kept
      preprocess   PreprocessConfig  sigkit.preprocess        image size, Gaussian, ink, deskew
      augment      AugmentConfig     sigkit.augment           training augmentation
      model        ModelConfig       sigkit.model             the tower; its match head is `model.match`
                                                              (MatchHead, sigkit.matching)
      train        TrainConfig       sigkit.train             mode and sampling, loss, optimiser, schedule,
                                                              selection, ensemble, start, budget, devices

Each group's defaults are written once, in its own module, and together they are the `default`
profile: `Config()` is a tower a 2-core CPU trains in minutes. `PROFILES` says what each other
profile changes.

Every setting also has a flat name, unique across the groups (`epochs`, `image_size`, `augment`,
`match_temperature`, ...): `profile`, `config_for` and `Config.replace` take flat names (so do the
notebooks' parameters and YAML files), `Config.to_dict` nests by group, and `Config.from_dict`
reads both forms (run folders and model cards written before the groups hold the flat one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sigkit.augment import AugmentConfig
from sigkit.datasets.splits import CEDAR_SPLIT, PRETRAIN_SPLIT, SplitConfig
from sigkit.model import ModelConfig
from sigkit.preprocess import PreprocessConfig
from sigkit.train import TrainConfig


@dataclass(frozen=True)
class Config:
    seed: int = 0
    split: SplitConfig = field(default_factory=SplitConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def replace(self, **changes) -> Config:
        """A copy with settings changed, by flat name (`epochs=30`, `image_size=(64, 128)`);
        unknown names are an error, not a silent no-op."""
        unknown = sorted(set(changes) - set(FLAT_NAMES))
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; known: {sorted(FLAT_NAMES)}")
        config = self
        for name, value in changes.items():
            config = _with(config, FLAT_NAMES[name], value)
        return config

    def to_dict(self) -> dict:
        """Nested by group: {"seed": 0, "split": {...}, ..., "model": {..., "match": {...}}, "train": {...}}."""
        return dataclasses.asdict(self)

    def flat(self) -> dict:
        """Every setting by its flat name."""
        return {name: _get(self, path) for name, path in FLAT_NAMES.items()}

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        """The config `values` describe: the nested form of `to_dict`, or the flat one of run
        folders written before the groups. Settings missing from it keep their defaults; names this
        version does not know (settings of other versions) are left out."""
        flat = {}
        for key, value in values.items():
            if key in GROUPS and isinstance(value, dict):
                flat.update(_flat_names_in(value, (key,)))
            elif key in FLAT_NAMES:
                flat[key] = value
        return cls().replace(**flat)


GROUPS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "seed")


def _paths(settings, prefix: tuple = ()) -> dict[str, tuple[str, ...]]:
    """flat name -> path of attributes, for every setting in `settings` and the groups inside it."""
    renamed = getattr(type(settings), "FLAT_NAMES", {})
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            found = _paths(value, prefix + (f.name,))
        else:
            found = {renamed.get(f.name, f.name): prefix + (f.name,)}
        clash = set(found) & set(out)
        if clash:
            raise TypeError(f"Config settings share the flat name(s) {sorted(clash)}")
        out.update(found)
    return out


FLAT_NAMES: dict[str, tuple[str, ...]] = _paths(Config())
_BY_PATH = {path: name for name, path in FLAT_NAMES.items()}


def _get(settings, path: tuple[str, ...]):
    for name in path:
        settings = getattr(settings, name)
    return settings


def _with(settings, path: tuple[str, ...], value):
    """`settings` with the setting at `path` replaced (frozen groups are copied, not changed)."""
    if len(path) == 1:
        return dataclasses.replace(settings, **{path[0]: value})
    return dataclasses.replace(settings, **{path[0]: _with(getattr(settings, path[0]), path[1:], value)})


def _flat_names_in(values: dict, prefix: tuple[str, ...]) -> dict:
    """The settings of one nested group dict by flat name; unknown names left out."""
    out = {}
    for key, value in values.items():
        path = prefix + (key,)
        if path in _BY_PATH:
            out[_BY_PATH[path]] = value
        elif isinstance(value, dict):
            out.update(_flat_names_in(value, path))
    return out


# The paper's training method: the contrastive loss (the default) on Siamese pairs, 32 a batch,
# Adam at 1e-4
PAPER_TRAINING = dict(mode="pairs", batch_size=32, learning_rate=1e-4)

# What each profile changes from `Config()`; why each setting: docs/experiments.md, 2026-12-06.
PROFILES: dict[str, dict] = {
    # a tower a 2-core CPU trains in minutes (make reports)
    "default": {},
    "cpu": dict(epochs=30),
    # the paper's method for a GPU (bench/cedar_gpu.py): its training for 100 epochs on 224 x 224
    # inputs, the full-size tower (two convs a block, 32-256 channels, batch norm, global pooling)
    # and milder augmentation
    "paper": dict(
        PAPER_TRAINING,
        epochs=100,
        image_size=(224, 224),
        widths=(32, 64, 128, 256),
        convs_per_block=2,
        norm="batch",
        pooling="global",
        rotation_deg=8.0,
        shift_frac=0.05,
        zoom_range=0.10,
    ),
    # bench/cedar.py and make reports on CEDAR: the fixed protocol (CEDAR_SPLIT) and what fights the noise of a few
    # dozen training writers: mirrored writers, moving-average weights, a 5-tower seed ensemble
    # sharing a 25-minute budget, a contrastive margin above 1 (the embeddings have unit length, so
    # distances run to 2 and a larger margin keeps pushing skilled forgeries just beyond 1) and a
    # positive margin (genuine pairs already close are not pulled further)
    "cedar-cpu": dict(
        epochs=200,
        patience=20,
        time_budget_s=25 * 60,
        **dataclasses.asdict(CEDAR_SPLIT),
        writer_mirrors=4,
        ema_momentum=0.99,
        ensemble=5,
        margin=1.5,
        positive_margin=0.3,
    ),
}
# the tower shipped with sigkit (sigkit.shipped): one cedar-cpu tower trained on several public
# corpora at once (PRETRAIN_SPLIT: the shipped tower is tested on CEDAR, which it never sees),
# selected on skilled forgeries (random ones are easy for any tower that saw many writers), within
# 50 minutes on a 2-core CPU
PROFILES["pretrain"] = dict(
    PROFILES["cedar-cpu"],
    ensemble=1,
    **dataclasses.asdict(PRETRAIN_SPLIT),
    epochs=300,
    patience=25,
    time_budget_s=50 * 60,
    select_on="skilled",
)
# the same with the comparison head (sigkit.matching): five match towers, their distances averaged
PROFILES["cedar-match"] = dict(PROFILES["cedar-cpu"], head="match")


def profile(name: str = "default", **overrides) -> Config:
    """The named profile as a Config, with overrides (flat names) applied on top."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return Config().replace(**{**PROFILES[name], **overrides})


def config_for(profile_name: str = "default", **overrides) -> Config:
    """`profile(profile_name, **overrides)` with the `None` overrides left out.

    Notebook parameters default to None ("as the profile says"), so a notebook can pass all of
    them without overriding, say, the `cedar-cpu` profile's references per writer with None.
    """
    return profile(profile_name, **{name: value for name, value in overrides.items() if value is not None})
