"""sigkit.config: the settings each stage owns, their flat names, both stored forms, and profiles
that keep the settings the reference results were measured with."""

import json

import pytest

import sigkit
from sigkit.config import FLAT_NAMES, GROUPS, PROFILES, Config, profile
from sigkit.matching import MatchHead
from sigkit.model import ModelConfig

PROFILE_ORDER = ("paper", "cpu", "default", "cedar-cpu", "pretrain", "cedar-match")


def same(value):
    return (value,) * len(PROFILE_ORDER)


# Each profile's settings by flat name, copied from `profile(name).to_dict()` of the flat Config the
# reference results (README, docs/results.md) were measured with; columns in PROFILE_ORDER. Changes
# since: the `paper` profile trains in pairs mode, as the paper does (its benches set it), and
# `distribute` was added ("auto", what every run before it did).
PINNED = {
    "seed": same(0),
    "val_writers": (0.15, 0.15, 0.15, tuple(range(36, 46)), 0.1, tuple(range(36, 46))),
    "test_writers": (0.15, 0.15, 0.15, tuple(range(46, 56)), 0.0, tuple(range(46, 56))),
    "references_per_writer": (None, None, None, 12, None, 12),
    "image_size": ((224, 224), (96, 192), (96, 192), (96, 192), (96, 192), (96, 192)),
    "gaussian_sigma": same(1.0),
    "max_side": same(1024),
    "ink_margin": same(2),
    "ink": same("binary"),
    "deskew_deg": same(0.0),
    "augment": same(True),
    "rotation_deg": (8.0, 15.0, 15.0, 15.0, 15.0, 15.0),
    "shift_frac": (0.05, 0.08, 0.08, 0.08, 0.08, 0.08),
    "zoom_range": (0.1, 0.2, 0.2, 0.2, 0.2, 0.2),
    "thickness_prob": same(0.5),
    "warp_px": same(0.0),
    "skilled_fraction": same(0.5),
    "batch_size": same(32),
    "tower": same("cbam"),
    "widths": (
        (32, 64, 128, 256),
        (16, 32, 64, 128),
        (16, 32, 64, 128),
        (16, 32, 64, 128),
        (16, 32, 64, 128),
        (16, 32, 64, 128),
    ),
    "convs_per_block": (2, 1, 1, 1, 1, 1),
    "attention": same("last"),
    "embedding_dim": same(128),
    "norm": ("batch", "none", "none", "none", "none", "none"),
    "pooling": ("global", "grid", "grid", "grid", "grid", "grid"),
    "grid_cell": same(4),
    "dropout": same(0.2),
    "head": ("embedding", "embedding", "embedding", "embedding", "embedding", "match"),
    "match_dim": same(32),
    "match_pool": same(2),
    "match_temperature": same(0.3),
    "match_locality": same(0.5),
    "match_global": same(0.0),
    "mode": ("pairs", "batch", "batch", "batch", "batch", "batch"),  # the paper's: pairs, not batch as before
    "learning_rate": (0.0001, 0.001, 0.001, 0.001, 0.001, 0.001),
    "lr_schedule": same("constant"),
    "epochs": (100, 30, 15, 200, 300, 200),
    "steps_per_epoch": same(None),
    "margin": (1.0, 1.0, 1.0, 1.5, 1.5, 1.5),
    "positive_margin": (0.0, 0.0, 0.0, 0.3, 0.3, 0.3),
    "skilled_weight": same(1.0),
    "loss_average": same("all"),
    "writers_per_batch": same(8),
    "k_genuine": same(4),
    "k_forged": same(2),
    "writer_mirrors": (1, 1, 1, 4, 4, 4),
    "ensemble": (1, 1, 1, 5, 1, 5),
    "ema_momentum": (None, None, None, 0.99, 0.99, 0.99),
    "patience": (10, 10, 10, 20, 25, 20),
    "select_on": ("both", "both", "both", "both", "skilled", "both"),
    "init": same(None),
    "jit_compile": same("auto"),
    "mixed_precision": same("auto"),
    "distribute": same("auto"),
    "tensorboard": same(False),
    "time_budget_s": (None, None, None, 1500, 3000, 1500),
}


@pytest.mark.parametrize("name", PROFILE_ORDER)
def test_each_profile_keeps_the_settings_its_results_were_measured_with(name):
    column = PROFILE_ORDER.index(name)
    expected = {field: values[column] for field, values in PINNED.items()}
    assert profile(name).flat() == expected


def test_every_profile_is_pinned_and_every_setting_has_one_flat_name():
    assert set(PROFILE_ORDER) == set(PROFILES)
    assert set(FLAT_NAMES) == set(PINNED)  # the flat names of the Config before the groups, less `data`, and distribute
    assert len({path for path in FLAT_NAMES.values()}) == len(FLAT_NAMES)
    assert [f for f in Config.__dataclass_fields__] == ["seed", *GROUPS]


def test_config_is_the_default_profile_and_the_paper_profile_is_the_papers_method():
    assert Config() == profile("default")
    assert Config().preprocess.image_size == (96, 192)
    paper = profile("paper")
    assert (paper.train.mode, paper.preprocess.image_size, paper.train.epochs) == ("pairs", (224, 224), 100)
    assert (paper.train.batch_size, paper.train.learning_rate, paper.train.margin) == (32, 1e-4, 1.0)


def test_flat_names_go_to_their_group():
    config = sigkit.profile(
        "cedar-cpu", epochs=3, image_size=[64, 128], match_temperature=0.2, augment=False, seed=5, val_writers=[1, 2]
    )
    assert config.train.epochs == 3 and config.seed == 5
    assert config.preprocess.image_size == (64, 128)  # a YAML or JSON list becomes the tuple it stands for
    assert config.split.val_writers == (1, 2) and config.split.references_per_writer == 12
    assert config.model.match.temperature == 0.2 and config.augment.enabled is False
    assert config.train.ensemble == 5  # the profile's own settings stay
    assert sigkit.config_for("default", epochs=None, head="match").model.head == "match"
    with pytest.raises(ValueError, match="unknown Config field.*epoch.*known:.*epochs"):
        config.replace(epoch=4)


def test_to_dict_nests_by_group_and_from_dict_reads_it_and_the_flat_form():
    config = profile("cedar-match", seed=2, ema_momentum=0.9)
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["model"]["match"]["temperature"] == 0.3 and stored["train"]["ensemble"] == 5
    assert stored["seed"] == 2 and "epochs" not in stored
    assert Config.from_dict(stored) == config
    # the flat form of the versions before the groups, with a setting since dropped (`data`)
    flat = json.loads(json.dumps({**config.flat(), "data": None}))
    assert Config.from_dict(flat) == config
    # what a stored config leaves out keeps its default
    assert Config.from_dict({"train": {"epochs": 7}}) == Config().replace(epochs=7)
    assert Config.from_dict({"head": "match"}).model.head == "match"


def test_the_model_compares_by_the_settings_its_tower_uses():
    plain = ModelConfig()
    assert ModelConfig(match=MatchHead(temperature=0.9)).in_use() == plain.in_use()
    matched = ModelConfig(head="match")
    assert ModelConfig(head="match", match=MatchHead(temperature=0.9)).in_use() != matched.in_use()
    assert ModelConfig(tower="signet", widths=(8,)).in_use() == ModelConfig(tower="signet").in_use()
