"""Verification metrics from distances (small = same writer) and labels (1 = genuine pair).

The positive class is *genuine*: a pair is accepted as genuine when its distance is at or below
the threshold. FAR (false acceptance rate) is the share of forgery pairs accepted, FRR (false
rejection rate) the share of genuine pairs rejected. The equal error rate is where they cross,
interpolated linearly between the two operating points around the crossing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def far_frr(distances, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FAR, FRR) at every distinct distance, plus one threshold below them all.

    The points of scikit-learn's `roc_curve(labels, -distances, drop_intermediate=False)`, computed
    in numpy: the bootstrap intervals call this tens of thousands of times, and the input checks
    of `roc_curve` cost more than the curve (tests/test_metrics.py holds the two equal).
    """
    distances = np.asarray(distances, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("FAR/FRR need both genuine (label 1) and forgery (label 0) pairs")
    order = np.argsort(distances, kind="mergesort")  # ascending distance = descending score
    ranked = distances[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    accepted_genuine = np.cumsum(labels[order], dtype=np.float64)[last_of_each]
    accepted_forged = 1 + last_of_each - accepted_genuine
    far = np.r_[0.0, accepted_forged] / accepted_forged[-1]
    frr = 1.0 - np.r_[0.0, accepted_genuine] / accepted_genuine[-1]
    thresholds = np.r_[ranked[0] - 1e-12, ranked[last_of_each]]  # the first point accepts nothing
    return thresholds, far, frr


def eer(distances, labels) -> tuple[float, float]:
    """(equal error rate, its threshold), interpolated where FAR - FRR changes sign."""
    thresholds, far, frr = far_frr(distances, labels)
    gap = far - frr  # rises from -1 to +1
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0 or i == 0:
        return float(far[i]), float(thresholds[i])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    rate = far[i - 1] + t * (far[i] - far[i - 1])
    return float(rate), float(thresholds[i - 1] + t * (thresholds[i] - thresholds[i - 1]))


def at_threshold(distances, labels, threshold: float) -> dict[str, float]:
    """Accuracy, Precision, Recall, F1, FAR, FRR when `distance <= threshold` means genuine."""
    distances = np.asarray(distances, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    accepted = distances <= threshold
    tp = int((accepted & labels).sum())
    fp = int((accepted & ~labels).sum())
    fn = int((~accepted & labels).sum())
    tn = int((~accepted & ~labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": (tp + tn) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "far": fp / (fp + tn) if fp + tn else 0.0,
        "frr": fn / (fn + tp) if fn + tp else 0.0,
    }


def roc_auc(distances, labels) -> float:
    """Area under the ROC curve with genuine as the positive class (score = -distance): the
    trapezoids under the points of `far_frr`, as scikit-learn's `roc_auc_score` sums them
    (tests/test_metrics.py compares the two)."""
    labels = np.asarray(labels).ravel().astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("ROC AUC needs both genuine (label 1) and forgery (label 0) pairs")
    _, far, frr = far_frr(distances, labels)
    return float(np.trapezoid(1.0 - frr, far))


def choose_threshold(distances, labels, rule: str = "eer") -> float:
    """A decision threshold from *validation* pairs: the EER point or the best accuracy."""
    if rule == "eer":
        return eer(distances, labels)[1]
    if rule == "accuracy":
        thresholds, far, frr = far_frr(distances, labels)
        labels = np.asarray(labels).ravel().astype(bool)
        errors = far * (~labels).sum() + frr * labels.sum()
        return float(thresholds[int(np.argmin(errors))])
    raise ValueError(f"rule must be 'eer' or 'accuracy', not {rule!r}")


def per_writer_eer(scores: pd.DataFrame) -> pd.DataFrame:
    """EER of each writer's own scores (columns writer, distance, label); writers lacking a class are left out."""
    rows = []
    for writer, group in scores.groupby("writer", sort=True):
        n_genuine = int(group["label"].sum())
        if 0 < n_genuine < len(group):
            rows.append(
                {
                    "writer": writer,
                    "eer": eer(group["distance"], group["label"])[0],
                    "genuine": n_genuine,
                    "forged": len(group) - n_genuine,
                }
            )
    return pd.DataFrame(rows, columns=["writer", "eer", "genuine", "forged"])


def bootstrap_ci(
    scores: pd.DataFrame, statistic, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of `statistic(scores)` over resamples of whole *writers*.

    Pairs of one writer are correlated, so resampling pairs would make the interval too narrow;
    a resample that happens to lack genuine or forged scores is drawn again.
    """
    return writer_bootstrap([scores], lambda samples: statistic(samples[0]), n_boot, seed, level)


def bootstrap_intervals(
    scores: pd.DataFrame, statistics: dict, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """`bootstrap_ci` of several statistics of (distances, labels) arrays at once, by name: the same
    resamples of writers (drawn as `bootstrap_ci` draws them, so each interval is the one it gives),
    each statistic computed on numpy arrays rather than on a DataFrame per resample."""
    writers = sorted(set(scores["writer"]))
    if len(writers) < 2:
        raise ValueError("a confidence interval over writers needs at least 2 writers")
    owner = scores["writer"].to_numpy()
    rows = {w: np.flatnonzero(owner == w) for w in writers}
    distances, labels = scores["distance"].to_numpy(np.float64), scores["label"].to_numpy()
    rng = np.random.default_rng(seed)
    values: dict[str, list] = {name: [] for name in statistics}
    kept = 0
    while kept < n_boot:
        pick = np.concatenate([rows[writers[i]] for i in rng.integers(len(writers), size=len(writers))])
        if 0 < labels[pick].sum() < len(pick):
            for name, statistic in statistics.items():
                values[name].append(statistic(distances[pick], labels[pick]))
            kept += 1
    tail = (1.0 - level) / 2.0
    return {name: (float(np.quantile(v, tail)), float(np.quantile(v, 1.0 - tail))) for name, v in values.items()}


def writer_bootstrap(
    score_sets: list[pd.DataFrame],
    statistic,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    both_labels: bool = True,
) -> tuple[float, float]:
    """Percentile interval of `statistic([resampled set, ...])`, each resample drawing the same
    writers (with replacement) from every set: paired, so models scored on the same writers
    (several seeds or variants) can be compared under one resample of writers. With
    `both_labels`, a resample lacking genuine or forged scores (`label`) in a set is drawn again."""
    writers = sorted(set.union(*(set(s["writer"]) for s in score_sets)))
    if len(writers) < 2:
        raise ValueError("a confidence interval over writers needs at least 2 writers")
    # each writer's row positions in each set: a resample is one `take` per set, not a concat of groups
    rows = [{w: np.flatnonzero(s["writer"].to_numpy() == w) for w in set(s["writer"])} for s in score_sets]
    labels = [s["label"].to_numpy() for s in score_sets]
    rng = np.random.default_rng(seed)
    values = []
    while len(values) < n_boot:
        drawn = [writers[i] for i in rng.integers(len(writers), size=len(writers))]
        picks = [np.concatenate([by_writer[w] for w in drawn if w in by_writer]) for by_writer in rows]
        if not both_labels or all(0 < label[pick].sum() < len(pick) for label, pick in zip(labels, picks)):
            values.append(statistic([s.iloc[pick] for s, pick in zip(score_sets, picks)]))
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))
