"""One default configuration object for the whole kit, plus named profiles.

Every notebook, script and benchmark starts from `Config()` (or `profile(name)`) and overrides
fields; one `seed` drives writer splits, pair sampling, augmentation and weight initialisation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class Config:
    # data
    data: str | list | None = None  # None = the embedded synthetic set; a list (or "a,b"): several corpora
    seed: int = 0
    val_writers: float | int | tuple = 0.15  # a share, a count, or explicit writer ids (then train = the rest)
    test_writers: float | int | tuple = 0.15
    references_per_writer: int | None = None  # limited-sample setting; None = all genuine

    # preprocessing (see sigkit.preprocess)
    image_size: tuple[int, int] = (224, 224)
    gaussian_sigma: float = 1.0
    max_side: int = 1024  # larger scans are downscaled first; Otsu and Gaussian need no more
    ink_margin: int = 2
    # "binary" (Otsu mask only) or "grey" (stroke darkness kept). Not grey on CEDAR: the ink's
    # tone alone tells its forged scans from the genuine ones (AUC 0.86; README, Results)
    ink: str = "binary"
    deskew_deg: float = 0.0  # level the ink's main axis, turning at most this much (0 = off)

    # augmentation (training only; see sigkit.augment)
    augment: bool = True
    rotation_deg: float = 8.0
    shift_frac: float = 0.05
    zoom_range: float = 0.10
    thickness_prob: float = 0.5
    warp_px: float = 0.0  # elastic warp: largest local displacement in pixels (0: off)

    # pairs (see sigkit.pairs)
    skilled_fraction: float = 0.5  # share of negatives that are skilled forgeries
    batch_size: int = 32

    # model (see sigkit.model)
    tower: str = "cbam"  # "cbam" or "signet"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: int = 2
    attention: str = "last"  # "last", "all" or "none" (the ablation)
    embedding_dim: int = 128
    norm: str = "batch"
    pooling: str = "global"  # "global" (average + max) or "grid" (cells of the last map, layout kept)
    grid_cell: int = 4  # grid pooling: side of a cell in feature-map pixels (4: 3 x 6 cells at 96 x 192)
    dropout: float = 0.2
    # "embedding" (one vector per signature, Euclidean distance) or "match" (cells of both
    # signatures cross-matched; sigkit.matching): descriptor size, pooling of the last map into
    # cells, softness of the matching and its preference for nearby cells
    head: str = "embedding"
    match_dim: int = 32
    match_pool: int = 2
    match_temperature: float = 0.3  # 0.3 beat 0.1 and 1.0 on CEDAR's validation writers (docs/experiments.md)
    match_locality: float = 0.5
    match_global: float = 0.0  # > 0: a global embedding joins the cells, with this share of d^2

    # training (paper defaults; see sigkit.train)
    mode: str = "batch"  # "pairs" (the paper's Siamese pairs) or "batch" (in-batch all pairs)
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over epochs x steps (sigkit.train.learning_rate)
    epochs: int = 100
    steps_per_epoch: int | None = None  # None: one pass over the training pairs / images
    margin: float = 1.0
    positive_margin: float = 0.0  # genuine pairs closer than this are not pulled further (0: the paper's loss)
    skilled_weight: float = 1.0
    loss_average: str = "all"  # batch mode: "all" pairs of a kind, or only the "active" ones (loss > 0)
    writers_per_batch: int = 8  # batch mode: P writers x (k_genuine + k_forged) images
    k_genuine: int = 4
    k_forged: int = 2
    writer_mirrors: int = 1  # batch mode: 2 or 4 adds mirrored copies of each writer as new writers
    ensemble: int = 1  # towers trained with seeds seed, seed + 1, ... and used as one (sigkit.train.train_ensemble)
    ema_momentum: float | None = None  # select and save the weights' moving average (e.g. 0.99); None = off
    patience: int = 10  # early stopping on validation EER
    select_on: str = "both"  # which validation pairs select the model: "both", "skilled" or "random" forgeries
    init: str | None = None  # start from this tower's weights (a .keras file, or "pretrained": the shipped tower)
    jit_compile: bool | str = "auto"
    mixed_precision: bool | str = "auto"  # "auto": on when a GPU is present
    tensorboard: bool = False
    time_budget_s: float | None = None  # stop after the epoch that would overrun this budget

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed; unknown names are an error, not a silent no-op."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# A tower a 2-core CPU trains in minutes. No normalisation layers: fastest here, and on CEDAR no
# worse than batch or group norm; grid pooling keeps the strokes' layout (3 points of validation
# EER better than global pooling on CEDAR); stronger geometric augmentation (1 point more).
# README, Results.
CPU_BASE = dict(
    image_size=(96, 192),
    widths=(16, 32, 64, 128),
    convs_per_block=1,
    norm="none",
    pooling="grid",
    learning_rate=1e-3,
    rotation_deg=15.0,
    zoom_range=0.2,
    shift_frac=0.08,
)

PROFILES: dict[str, dict] = {
    # the paper's setting, for a GPU
    "paper": dict(image_size=(224, 224), batch_size=32, learning_rate=1e-4, epochs=100),
    # small enough for a 2-core CPU (see CPU_BASE)
    "cpu": dict(CPU_BASE, epochs=30),
    "default": dict(CPU_BASE, epochs=15),
    # bench/cedar.py and make reports on CEDAR: the fixed protocol (writers 1-35 train with 12
    # genuine references each, 36-45 validation, 46-55 test) and the settings that helped there:
    # mirrored writers, moving-average weights, a 5-tower seed ensemble sharing a 25-minute budget
    # (five towers beat three on validation for the 5-reference protocols),
    # a contrastive margin of 1.5 on the unit-length embeddings (1.4 and 1.7 beat 1.0 on validation)
    # and a positive margin of 0.3 (0.3 beat 0, 0.15, 0.45 and 0.6 on validation)
    "cedar-cpu": dict(
        CPU_BASE,
        epochs=200,
        patience=20,
        time_budget_s=25 * 60,
        val_writers=tuple(range(36, 46)),
        test_writers=tuple(range(46, 56)),
        references_per_writer=12,
        writer_mirrors=4,
        ema_momentum=0.99,
        ensemble=5,
        margin=1.5,
        positive_margin=0.3,
    ),
}
# the tower shipped with sigkit (sigkit.shipped): one cedar-cpu tower trained on several public
# corpora at once, every corpus split 90 / 10 into training and validation writers (no test
# writers: the shipped tower is tested on CEDAR, which it never sees), selected on skilled
# forgeries (random ones are easy for any tower that saw many writers), within 50 minutes here
PROFILES["pretrain"] = dict(
    PROFILES["cedar-cpu"],
    ensemble=1,
    val_writers=0.1,
    test_writers=0.0,
    references_per_writer=None,
    epochs=300,
    patience=25,
    time_budget_s=50 * 60,
    select_on="skilled",
)
# the same with the comparison head (sigkit.matching): five match towers, their distances averaged
PROFILES["cedar-match"] = dict(PROFILES["cedar-cpu"], head="match")


def profile(name: str = "default", **overrides) -> Config:
    """The named profile as a Config, with overrides applied on top."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return Config().replace(**{**PROFILES[name], **overrides})


def config_for(profile_name: str = "default", **overrides) -> Config:
    """`profile(profile_name, **overrides)` with the `None` overrides left out.

    Notebook parameters default to None ("as the profile says"), so a notebook can pass all of
    them without overriding, say, the `cedar-cpu` profile's references per writer with None.
    """
    return profile(profile_name, **{name: value for name, value in overrides.items() if value is not None})
