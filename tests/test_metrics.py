"""Verification metrics against hand-computed cases and scikit-learn; K-reference scoring."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from sigkit.metrics import (
    at_threshold,
    bootstrap_ci,
    bootstrap_intervals,
    choose_threshold,
    eer,
    far_frr,
    per_writer_eer,
    roc_auc,
    writer_bootstrap,
)
from sigkit.scoring import reference_scores, summarise_draws


def test_perfect_and_inverted_separation():
    d = np.array([0.1, 0.2, 0.8, 0.9])
    y = np.array([1, 1, 0, 0])
    rate, threshold = eer(d, y)
    assert rate == 0.0 and 0.2 <= threshold < 0.8
    assert eer(d, 1 - y)[0] == pytest.approx(1.0)


def test_hand_computed_eer_is_interpolated():
    # thresholds: accept <= 0.1 -> FAR 0, FRR 1/2; accept <= 0.2 -> FAR 1/2, FRR 1/2 : crossing
    d = np.array([0.1, 0.2, 0.3, 0.4])
    y = np.array([1, 0, 1, 0])
    rate, threshold = eer(d, y)
    assert rate == pytest.approx(0.5)
    # a 1-in-4 overlap: FAR and FRR cross between two operating points
    d = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7])
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    rate, _ = eer(d, y)
    # accept <= 0.3: FAR 0, FRR 1/4; accept <= 0.35: FAR 1/4, FRR 1/4 -> EER exactly 1/4
    assert rate == pytest.approx(0.25)


def test_far_frr_match_sklearn_roc_curve():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    d = rng.normal(1.0 - 0.6 * y, 0.4)
    thresholds, far, frr = far_frr(d, y)
    fpr, tpr, sk_thresholds = roc_curve(y, -d, drop_intermediate=False)
    # sklearn scores are -distance: accept when -d >= -t, i.e. d <= t
    ours = dict(zip(np.round(thresholds[1:], 12), zip(far[1:], frr[1:])))
    for f, t, s in zip(fpr[1:], tpr[1:], sk_thresholds[1:]):
        o_far, o_frr = ours[np.round(-s, 12)]
        assert o_far == pytest.approx(f) and o_frr == pytest.approx(1 - t)
    # the EER lies between the sklearn operating points around the crossing
    rate, _ = eer(d, y)
    gap = fpr - (1 - tpr)
    i = np.argmax(gap >= 0)
    assert min(fpr[i - 1], 1 - tpr[i - 1]) - 1e-9 <= rate <= max(fpr[i], 1 - tpr[i]) + 1e-9


def test_eer_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        eer([0.1, 0.2], [1, 1])


def test_metrics_at_threshold_hand_computed():
    d = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.25])
    y = np.array([1, 1, 0, 1, 0, 0])
    m = at_threshold(d, y, 0.25)  # accepted: 0.1 (TP), 0.2 (TP), 0.25 (FP)
    assert m["accuracy"] == pytest.approx(4 / 6)  # TP 2, TN 2 (0.3, 0.7), FN 1 (0.6), FP 1
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["far"] == pytest.approx(1 / 3) and m["frr"] == pytest.approx(1 / 3)


def test_reference_scores_against_k_references():
    # writer w: 6 genuine at the origin (plus a little noise), 3 forgeries far away
    rows, points = [], []
    rng = np.random.default_rng(0)
    for w, centre in (("a", 0.0), ("b", 10.0)):
        for i in range(6):
            rows.append({"writer": w, "genuine": True})
            points.append([centre + rng.normal(0, 0.1), 0.0])
        for i in range(3):
            rows.append({"writer": w, "genuine": False})
            points.append([centre, 5.0])
    manifest = pd.DataFrame(rows)
    scores = reference_scores(np.array(points), manifest, k=2, seed=0)
    assert len(scores) == 2 * (9 - 2)
    assert set(scores["label"]) == {0, 1}
    assert scores.groupby("writer").size().to_dict() == {"a": 7, "b": 7}
    assert scores[scores["label"] == 1]["distance"].max() < 1.0 < scores[scores["label"] == 0]["distance"].min()
    assert eer(scores["distance"], scores["label"])[0] == 0.0
    minimum = reference_scores(np.array(points), manifest, k=2, seed=0, aggregate="min")
    assert (minimum["distance"] <= scores["distance"] + 1e-12).all()
    with pytest.raises(ValueError, match="more than k=6"):
        reference_scores(np.array(points), manifest, k=6)


def test_spread_corrected_reference_scores_take_off_or_divide_by_the_references_spread():
    rng = np.random.default_rng(1)
    manifest = pd.DataFrame({"writer": ["a"] * 8 + ["b"] * 8, "genuine": ([True] * 6 + [False] * 2) * 2})
    points = rng.normal(size=(16, 3))
    points[8:] *= 3  # writer b signs three times as loosely
    plain = reference_scores(points, manifest, k=3, seed=0)
    shifted = reference_scores(points, manifest, k=3, seed=0, spread_correction=True)
    offset = (plain["distance"] - shifted["distance"]).groupby(plain["writer"])
    assert (offset.std() < 1e-9).all()  # one offset per writer ...
    assert offset.mean()["b"] > 2 * offset.mean()["a"] > 0  # ... the larger, the looser the writer signs
    scaled = reference_scores(points, manifest, k=3, seed=0, spread_correction="ratio")
    ratio = (plain["distance"] / scaled["distance"]).groupby(plain["writer"])
    assert (ratio.std() < 1e-9).all()  # one scale per writer
    doubled = reference_scores(points * 2, manifest, k=3, seed=0, spread_correction="ratio")
    np.testing.assert_allclose(doubled["distance"], scaled["distance"])  # scale-free
    with pytest.raises(ValueError, match="k >= 2"):
        reference_scores(points, manifest, k=1, spread_correction=True)
    with pytest.raises(ValueError, match="spread_correction must be"):
        reference_scores(points, manifest, k=3, spread_correction="z")


def test_several_draws_of_references_start_with_the_single_draw_and_differ_after():
    rng = np.random.default_rng(2)
    manifest = pd.DataFrame({"writer": ["a"] * 12 + ["b"] * 12, "genuine": ([True] * 8 + [False] * 4) * 2})
    points = rng.normal(size=(24, 4))
    points[~manifest["genuine"].to_numpy()] += 1.0  # forgeries a little apart
    one = reference_scores(points, manifest, k=3, seed=5)
    many = reference_scores(points, manifest, k=3, seed=5, draws=4)
    assert len(many) == 4 * len(one) and sorted(many["draw"].unique()) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(many[many["draw"] == 0].reset_index(drop=True), one)
    # later draws pick other references, so other signatures are questioned
    assert not all((many[many["draw"] == d]["row"].to_numpy() == one["row"].to_numpy()).all() for d in (1, 2, 3))
    summary = summarise_draws(many)
    assert summary["draws"][0] == eer(one["distance"], one["label"])[0]
    assert summary["mean"] == pytest.approx(np.mean(summary["draws"]))
    assert len(set(summary["draws"])) > 1 and summary["std"] > 0.0  # which references: it matters


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    d = np.round(rng.normal(1.0 - 0.5 * y, 0.4), 1)  # rounded: many ties
    assert roc_auc(d, y) == pytest.approx(roc_auc_score(y, -d), abs=1e-12)
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == pytest.approx(1.0)


def test_choose_threshold_rules():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([1, 1, 1, 0, 1, 0])
    # best accuracy: accept <= 0.3 (1 error) or <= 0.5 (1 error); the first is kept
    assert choose_threshold(d, y, "accuracy") == pytest.approx(0.3)
    assert at_threshold(d, y, choose_threshold(d, y, "accuracy"))["accuracy"] == pytest.approx(5 / 6)
    assert choose_threshold(d, y, "eer") == pytest.approx(eer(d, y)[1])
    with pytest.raises(ValueError, match="rule"):
        choose_threshold(d, y, "f1")


def test_per_writer_eer_by_hand():
    scores = pd.DataFrame(
        {
            "writer": ["a"] * 4 + ["b"] * 4 + ["c"] * 2,
            "distance": [0.1, 0.2, 0.8, 0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "label": [1, 1, 0, 0, 1, 0, 1, 0, 1, 1],
        }
    )
    table = per_writer_eer(scores).set_index("writer")
    assert list(table.index) == ["a", "b"]  # c has no forgery: no EER
    assert table.loc["a", "eer"] == 0.0 and table.loc["b", "eer"] == pytest.approx(0.5)
    assert table.loc["b", "genuine"] == 2 and table.loc["b", "forged"] == 2


def test_bootstrap_ci_over_writers():
    rng = np.random.default_rng(2)
    writers = np.repeat([f"w{i}" for i in range(20)], 20)
    y = np.tile(np.r_[np.ones(10), np.zeros(10)], 20).astype(int)
    d = rng.normal(1.0 - 0.5 * y, 0.4)
    scores = pd.DataFrame({"writer": writers, "distance": d, "label": y})
    point = eer(d, y)[0]
    low, high = bootstrap_ci(scores, lambda s: eer(s["distance"], s["label"])[0], n_boot=200)
    assert low <= point <= high and high - low < 0.2
    assert bootstrap_ci(scores, lambda s: eer(s["distance"], s["label"])[0], n_boot=200) == (low, high)  # seeded
    with pytest.raises(ValueError, match="2 writers"):
        bootstrap_ci(scores[scores["writer"] == "w0"], len)
    # several statistics on arrays at once: the same resamples, so the same intervals
    accuracy = lambda s: at_threshold(s["distance"], s["label"], 0.75)["accuracy"]  # noqa: E731
    both = bootstrap_intervals(
        scores.sample(frac=1, random_state=0),  # rows in any order
        {"eer": lambda d, y: eer(d, y)[0], "accuracy": lambda d, y: at_threshold(d, y, 0.75)["accuracy"]},
        n_boot=200,
    )
    assert both["eer"] == (low, high) and both["accuracy"] == bootstrap_ci(scores, accuracy, n_boot=200)


def test_writer_bootstrap_resamples_the_same_writers_in_every_set():
    rng = np.random.default_rng(3)
    writers = np.repeat([f"w{i}" for i in range(12)], 20)
    y = np.tile(np.r_[np.ones(10), np.zeros(10)], 12).astype(int)
    weak = pd.DataFrame({"writer": writers, "distance": rng.normal(1.0 - 0.3 * y, 0.4), "label": y})
    strong = weak.assign(distance=weak["distance"] - 0.6 * y)  # the same pairs, genuine ones pulled closer
    difference = lambda s: eer(s[0]["distance"], s[0]["label"])[0] - eer(s[1]["distance"], s[1]["label"])[0]  # noqa: E731
    assert writer_bootstrap([weak, weak], difference, n_boot=100) == (0.0, 0.0)  # paired: identical sets never differ
    low, high = writer_bootstrap([weak, strong], difference, n_boot=200)
    assert 0.0 < low < high  # the stronger scores win under every resample of writers
    single = bootstrap_ci(weak, lambda s: eer(s["distance"], s["label"])[0], n_boot=100)
    assert writer_bootstrap([weak], lambda s: eer(s[0]["distance"], s[0]["label"])[0], n_boot=100) == single


@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_far_frr_are_roc_curves_points_exactly_ties_included(decimals):
    """The numpy curve and scikit-learn's give the same points, tied distances included (rounded
    scores tie often), so every EER and interval is what `roc_curve` gave."""
    rng = np.random.default_rng(decimals or 7)
    for _ in range(50):
        y = rng.integers(0, 2, int(rng.integers(4, 80)))
        y[:2] = [0, 1]
        d = rng.random(len(y))
        d = np.round(d, decimals) if decimals else d
        thresholds, far, frr = far_frr(d, y)
        fpr, tpr, sk_thresholds = roc_curve(y, -d, drop_intermediate=False)
        np.testing.assert_array_equal(far, fpr)
        np.testing.assert_array_equal(frr, 1 - tpr)
        np.testing.assert_array_equal(thresholds[1:], -sk_thresholds[1:])
        assert roc_auc(d, y) == pytest.approx(roc_auc_score(y, -d), abs=1e-12)
