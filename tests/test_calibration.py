"""Operating points per method and per number of references, chosen on validation writers."""

import numpy as np
import pytest

from sigkit.calibration import OperatingPoint, calibrate, point_for, points_table
from sigkit.scoring import Features
from sigkit.wd import WDSettings


def writer_features(manifest, rng, spread: float) -> np.ndarray:
    """Each writer's genuine signatures near its own centre, its forgeries farther off."""
    features = np.zeros((len(manifest), 16), np.float32)
    for _, group in manifest.groupby("writer"):
        centre = rng.normal(size=16)
        for row, genuine in zip(group.index, group["genuine"]):
            offset = rng.normal(0, spread if genuine else 3 * spread, 16)
            features[row] = centre + offset
    return features


def test_every_method_gets_a_threshold_per_k_with_its_validation_rates(tiny):
    _, splits, _ = tiny
    val = splits["val"].reset_index(drop=True)
    rng = np.random.default_rng(0)
    plain = writer_features(val, rng, 0.3)
    variants = np.stack([plain, plain + rng.normal(0, 0.05, plain.shape).astype(np.float32)])
    background = rng.normal(size=(40, 16)).astype(np.float32)
    settings = {"wd": WDSettings("rbf", 1.0), "wd-aligned": WDSettings("rbf", 1.0)}
    points = calibrate(Features(val, plain, variants), settings=settings, background=background, ks=(1, 3, 99), draws=2)
    table = points_table(points)
    assert set(table) == {"distance", "wd", "wd-aligned", "fusion"}
    assert all(set(by_k) == {"1", "3"} for by_k in table.values())  # no writer has 99 genuine signatures
    for point in points:
        assert 0 <= point.far <= 1 and 0 <= point.frr <= 1 and point.writers == val["writer"].nunique()
        assert abs(point.far - point.val_eer) < 0.2 and abs(point.frr - point.val_eer) < 0.2
    fusion = point_for(table, "fusion", 3)
    assert fusion.fusion is not None and list(fusion.fusion.members) == ["distance", "wd", "wd-aligned"]
    # three references decide better than one on writers this separable
    assert point_for(table, "distance", 3).val_eer < point_for(table, "distance", 1).val_eer + 0.05


def test_the_nearest_stored_k_below_is_used():
    def point(k, threshold):
        return OperatingPoint("distance", k, threshold, 0.1, 0.1, 0.1, 10, 100)

    table = points_table([point(1, 0.5), point(3, 0.7), point(12, 0.9)])
    assert point_for(table, "distance", 2).k == 1
    assert point_for(table, "distance", 5).threshold == pytest.approx(0.7)
    assert point_for(table, "distance", 40).k == 12
    assert point_for(table, "wd", 5) is None and point_for(None, "distance", 5) is None
    assert "FAR 10.0 %, FRR 10.0 %" in point(3, 0.7).text() and "3 references" in point(3, 0.7).text()
