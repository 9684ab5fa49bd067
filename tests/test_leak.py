"""Tests for sigkit.leak: background cues give forgeries away on raw files, not after preprocessing.

The data set is drawn in tmp_path in CEDAR's layout: 6 writers x 4 genuine + 4 forged scribbles,
where the forged scans lie on darker, noisier paper -- the kind of cue CEDAR's real scans carry.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from drawing import scribble
from PIL import Image

from sigkit.datasets import load_dataset
from sigkit.leak import (
    leak_auc,
    leak_check,
    leak_figure,
    preprocessed_background_features,
    preprocessed_ink_tone_features,
    raw_background_features,
    score_auc,
)
from sigkit.preprocess import load_images

WRITERS, PER_CLASS = 6, 4
IMAGE_SIZE = (32, 64)


def paper_tone_set(root: Path) -> Path:
    """CEDAR layout; genuine paper ~235 (noise 4), forged paper ~205 (noise 8)."""
    for w in range(1, WRITERS + 1):
        for n in range(1, PER_CLASS + 1):
            genuine = scribble(seed=100 * w + n, size=(120, 64), paper=235 - w, noise=4.0)
            forged = scribble(seed=100 * w + 50 + n, size=(120, 64), paper=205 - w, noise=8.0)
            for folder, name, pixels in [("full_org", "original", genuine), ("full_forg", "forgeries", forged)]:
                (root / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(root / folder / f"{name}_{w}_{n}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("leak")
    manifest = load_dataset(paper_tone_set(base / "cedar"), cache_dir=base / "cache")
    images = load_images(manifest["decode_path"], size=IMAGE_SIZE)
    return manifest, images


def test_raw_features_describe_the_paper_not_the_ink(data):
    manifest, _ = data
    features = raw_background_features(manifest)
    assert len(features) == len(manifest) == 2 * WRITERS * PER_CLASS
    assert {
        "bg_mean",
        "bg_std",
        "bg_p5",
        "bg_p50",
        "bg_p95",
        "bg_noise",
        "mode_code",
        "height",
        "width",
        "aspect",
        "file_bytes",
        "format_code",
    } <= set(features.columns)
    genuine = manifest["genuine"].to_numpy()
    # the ink (grey 40) is left out: the background median is the paper tone
    assert features.loc[genuine, "bg_p50"].between(225, 240).all()
    assert features.loc[~genuine, "bg_p50"].between(195, 210).all()
    assert features.loc[~genuine, "bg_noise"].mean() > features.loc[genuine, "bg_noise"].mean()


def test_preprocessed_background_is_one_constant(data):
    _, images = data
    features = preprocessed_background_features(images)
    assert len(features) == len(images)
    assert (features["bg_mean"] == 0).all() and (features["bg_p95"] == 0).all()
    assert (features[["height", "width"]].to_numpy() == IMAGE_SIZE).all()


def test_leak_check_raw_leaks_preprocessed_does_not(data):
    manifest, images = data
    table = leak_check(manifest, images, n_boot=300)
    assert list(table.index) == ["raw files", "sigkit preprocessed", "sigkit preprocessed, ink tone"]
    raw, pre = table.loc["raw files"], table.loc["sigkit preprocessed"]
    tone = table.loc["sigkit preprocessed, ink tone"]
    assert tone["auc"] < 0.7 and tone["ci_low"] <= 0.5 <= tone["ci_high"]  # binary ink: one tone
    assert raw["auc"] > 0.8 and raw["ci_low"] > 0.5
    assert pre["auc"] < 0.7 and pre["ci_low"] <= 0.5 <= pre["ci_high"]
    assert pre["n_features"] == 0  # nothing of the paper survives preprocessing
    assert (table["n"] == len(manifest)).all() and (table["n_writers"] == WRITERS).all()
    fig = leak_figure(table)
    assert len(fig.axes) == 1
    plt.close(fig)


def test_random_labels_score_at_chance(data):
    manifest, _ = data
    features = raw_background_features(manifest)
    labels = np.random.default_rng(1).permutation(np.arange(len(manifest)) % 2)
    result = leak_auc(features, labels, manifest["writer"], n_boot=300)
    assert abs(result["auc"] - 0.5) < 0.25
    assert result["ci_low"] <= 0.5 <= result["ci_high"]


def test_constant_columns_are_dropped_and_folds_never_share_a_writer():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], 10)  # 3 writers: 3 folds, not 5
    labels = np.tile([0, 1], 15)
    features = pd.DataFrame({"constant": 7.0, "signal": labels + rng.normal(0, 0.1, 30), "missing": np.nan})
    result = leak_auc(features, labels, groups, n_boot=100)
    assert result["n_features"] == 1 and result["n_writers"] == 3 and result["n"] == 30
    assert result["auc"] > 0.95
    only_constant = leak_auc(features[["constant"]], labels, groups, n_boot=100)
    assert only_constant["n_features"] == 0
    assert only_constant["auc"] == only_constant["ci_low"] == only_constant["ci_high"] == 0.5


def test_score_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = rng.integers(0, 6, 200).astype(float)  # many ties
    assert score_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_leak_auc_refuses_what_it_cannot_cross_validate():
    features = pd.DataFrame({"x": np.arange(6.0)})
    with pytest.raises(ValueError, match="two writers"):
        leak_auc(features, [0, 1] * 3, ["a"] * 6)
    with pytest.raises(ValueError, match="both classes"):
        leak_auc(features, [1] * 6, list("aabbcc"))
    with pytest.raises(ValueError, match="one row per image"):
        leak_auc(features, [0, 1] * 2, list("aabb"))


def pen_tone_set(root: Path) -> Path:
    """CEDAR layout on one paper; the forged set written with a lighter pen (ink 110 vs 30)."""
    for w in range(1, WRITERS + 1):
        for n in range(1, PER_CLASS + 1):
            for folder, name, ink, seed in [("full_org", "original", 30, 0), ("full_forg", "forgeries", 110, 50)]:
                (root / folder).mkdir(parents=True, exist_ok=True)
                pixels = scribble(seed=100 * w + seed + n, size=(120, 64), paper=225, ink=ink, noise=4.0)
                Image.fromarray(pixels).save(root / folder / f"{name}_{w}_{n}.png")
    return root


@pytest.mark.slow
def test_ink_tone_row_catches_a_pen_that_grey_ink_keeps_and_binary_ink_drops(tmp_path):
    manifest = load_dataset(pen_tone_set(tmp_path / "cedar"), cache_dir=tmp_path / "cache")
    for ink, leaks in [("grey", True), ("binary", False)]:
        images = load_images(manifest["decode_path"], size=IMAGE_SIZE, ink=ink)
        tone = leak_check(manifest, images, n_boot=200).loc["sigkit preprocessed, ink tone"]
        if leaks:
            assert tone["auc"] > 0.8 and tone["ci_low"] > 0.5, ink
        else:
            assert (preprocessed_ink_tone_features(images)["ink_max"] == 255).all()
            assert tone["ci_low"] <= 0.5 <= tone["ci_high"], ink
