"""The leak check: can genuine and forged be told apart without looking at the signature?

On CEDAR the genuine and the forged scans were made apart, and the paper tone, scanner noise and
file properties differ between the two sets. A model trained on the raw files could learn those
cues instead of the handwriting and still score well. sigkit's preprocessing (Gaussian, Otsu ink
mask, crop to the ink, resize and pad onto a black canvas) is meant to remove them. This module
measures whether it does:

    table = leak_check(manifest, images)   # images: load_images(manifest["decode_path"], ...)

`raw_background_features` describes each file by what is NOT the signature: the grey levels and
noise of the paper away from the ink, plus mode, size and byte count of the file.
`preprocessed_background_features` takes the same cues from sigkit's uint8 output, and
`preprocessed_ink_tone_features` the tone of its ink (constant with `ink="binary"`; with
`ink="grey"` it carries the scan's contrast, and on CEDAR it alone gives forgeries away). `leak_auc`
fits a standardised logistic regression on them, cross-validated by writer (no writer in both
the train and the test fold), and reports the out-of-fold ROC AUC of "forged" with a 95 %
bootstrap interval that resamples writers, not images. Raw files should score well above 0.5;
preprocessed images should sit at 0.5. When every cue is constant (sigkit's background is
exactly zero) nothing is left to learn: the AUC is exactly 0.5 and `n_features` is 0.

This is an analysis, not the training path: raw files are opened with Pillow, one at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from skimage.filters import threshold_otsu
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sigkit.datasets.ink import ink_on_white
from sigkit.metrics import roc_auc

NEAR_INK_PX = 4  # background = pixels farther than this from any ink pixel
MAX_FOLDS = 5
PERCENTILES = (5, 50, 95)
HIGH_PASS = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])


def background_stats(grey: np.ndarray, ink: np.ndarray) -> dict[str, float]:
    """Grey-level statistics and noise of the pixels not within NEAR_INK_PX of the ink."""
    near_ink = ndimage.maximum_filter(ink, size=2 * NEAR_INK_PX + 1)  # a square dilation, faster
    background = ~near_ink
    if not background.any():  # ink (and its surroundings) everywhere: no paper to describe
        names = ["bg_mean", "bg_std", *(f"bg_p{p}" for p in PERCENTILES), "bg_noise"]
        return dict.fromkeys(names, np.nan)
    # not the share of background: that is the amount of ink, a property of the signature
    grey = grey.astype(np.int64)
    paper = grey[background].astype(np.float64)
    # pixel minus the mean of its 3 x 3 neighbourhood, in integers: exactly 0 on flat paper
    high_pass = ndimage.correlate(grey, HIGH_PASS, mode="reflect") / 9.0
    stats = {"bg_mean": paper.mean(), "bg_std": paper.std()}
    stats |= {f"bg_p{p}": value for p, value in zip(PERCENTILES, np.percentile(paper, PERCENTILES))}
    stats["bg_noise"] = float(high_pass[background].std())
    return stats


def raw_background_features(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per file of the manifest: paper statistics away from the Otsu-dark ink, plus file cues."""
    rows = []
    for path in manifest["path"]:
        with Image.open(path) as image:
            grey = ink_on_white(image)
        ink = grey <= threshold_otsu(grey)
        rows.append(background_stats(grey, ink))
    features = pd.DataFrame(rows, index=manifest.index)
    features["mode_code"] = pd.Categorical(manifest["mode"]).codes
    features["format_code"] = pd.Categorical(manifest["format"]).codes
    features["height"] = manifest["height"].astype(float)
    features["width"] = manifest["width"].astype(float)
    features["aspect"] = features["width"] / features["height"]
    features["file_bytes"] = manifest["file_bytes"].astype(float)
    return features


def planes(images: np.ndarray) -> np.ndarray:
    """sigkit's (N, H, W, 1) output as (N, H, W)."""
    images = np.asarray(images)
    return images[..., 0] if images.ndim == 4 else images


def preprocessed_background_features(images: np.ndarray) -> pd.DataFrame:
    """The same cues on sigkit's (N, H, W, 1) uint8 output: ink is any non-zero pixel."""
    images = planes(images)
    features = pd.DataFrame([background_stats(image, image > 0) for image in images])
    features["height"] = float(images.shape[1])
    features["width"] = float(images.shape[2])
    features["aspect"] = features["width"] / features["height"]
    return features


def preprocessed_ink_tone_features(images: np.ndarray) -> pd.DataFrame:
    """The tone of the ink in sigkit's output: its brightest value and 95th percentile per image.

    With `ink="binary"` every stroke is the same full value, so only anti-aliased edges vary; with
    `ink="grey"` the tone is the stroke darkness relative to the paper, which a scanner, a pen
    or a paper set can shift for a whole class of files.
    """
    rows = []
    for image in planes(images):
        ink = image[image > 0]
        rows.append(
            {"ink_max": float(ink.max()), "ink_p95": float(np.percentile(ink, 95))}
            if ink.size
            else {"ink_max": np.nan, "ink_p95": np.nan}
        )
    return pd.DataFrame(rows)


def leak_auc(features: pd.DataFrame, labels, groups, seed: int = 0, n_boot: int = 1000) -> dict:
    """Out-of-fold ROC AUC of a logistic regression on `features`, folds and bootstrap by group.

    Returns {"auc", "ci_low", "ci_high", "n", "n_writers", "n_features"}: the CI is the 2.5 and
    97.5 percentiles of the AUC over `n_boot` resamplings of the writers (groups) with
    replacement. Missing values take the column median; constant columns are dropped.
    """
    labels = np.asarray(labels).astype(int)
    groups = np.asarray(groups)
    if len(labels) != len(features) or len(groups) != len(features):
        raise ValueError(
            f"features ({len(features)}), labels ({len(labels)}) and groups ({len(groups)}) must have one row per image"
        )
    if len(np.unique(labels)) != 2:
        raise ValueError("leak_auc needs both classes among the labels")
    writers = np.unique(groups)
    if len(writers) < 2:
        raise ValueError("leak_auc needs at least two writers (groups) to cross-validate")
    values = features.astype(float).reset_index(drop=True)
    values = values.fillna(values.median())
    varies = values.std(ddof=0).fillna(0) > 1e-9 * (1 + values.abs().max().fillna(0))
    values = values.loc[:, varies].to_numpy()

    scores = np.zeros(len(labels))
    if values.shape[1]:
        folds = GroupKFold(n_splits=min(MAX_FOLDS, len(writers)), shuffle=True, random_state=seed)
        for train, test in folds.split(values, labels, groups):
            if len(np.unique(labels[train])) < 2:
                continue  # one class to learn from: no ranking, the test fold keeps score 0
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            model.fit(values[train], labels[train])
            scores[test] = model.decision_function(values[test])

    rows_of = [np.flatnonzero(groups == writer) for writer in writers]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(writers), len(writers))])
        if len(np.unique(labels[rows])) == 2:
            boot.append(score_auc(labels[rows], scores[rows]))
    ci_low, ci_high = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return {
        "auc": score_auc(labels, scores),
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "n": int(len(labels)),
        "n_writers": int(len(writers)),
        "n_features": int(values.shape[1]),
    }


def score_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of a score that is high for label 1 (`sigkit.metrics.roc_auc` takes distances)."""
    return roc_auc(-np.asarray(scores, float), labels)


def leak_check(manifest: pd.DataFrame, images: np.ndarray, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """AUC (forged = positive) of cues other than the strokes' shape, one row per set of cues.

    Rows: "raw files" (paper and file cues), "sigkit preprocessed" (the same cues after
    preprocessing), "sigkit preprocessed, ink tone" (`preprocessed_ink_tone_features`).

    `images` are sigkit's preprocessed images of the manifest's rows, in the same order.
    """
    if len(images) != len(manifest):
        raise ValueError(
            f"{len(images)} images for {len(manifest)} manifest rows: pass "
            "load_images(manifest['decode_path'], ...) of this manifest"
        )
    forged, writers = ~manifest["genuine"].to_numpy(bool), manifest["writer"].to_numpy()
    results = {
        "raw files": leak_auc(raw_background_features(manifest), forged, writers, seed, n_boot),
        "sigkit preprocessed": leak_auc(preprocessed_background_features(images), forged, writers, seed, n_boot),
        "sigkit preprocessed, ink tone": leak_auc(
            preprocessed_ink_tone_features(images), forged, writers, seed, n_boot
        ),
    }
    return pd.DataFrame.from_dict(results, orient="index").rename_axis("images")


def leak_check_by_corpus(manifest: pd.DataFrame, images: np.ndarray, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """`leak_check` of each corpus alone (rows "<corpus>: <images>"): every collection was scanned
    its own way, so a cue is looked for where it could live. Corpora without both genuine and
    forged images are left out; one corpus gives `leak_check`'s own rows."""
    corpora = manifest["corpus"].unique() if "corpus" in manifest else []
    if len(corpora) < 2:
        return leak_check(manifest, images, seed=seed, n_boot=n_boot)
    tables = []
    for corpus in corpora:
        rows = np.flatnonzero(manifest["corpus"].to_numpy() == corpus)
        part = manifest.iloc[rows].reset_index(drop=True)
        if part["genuine"].all() or not part["genuine"].any():
            continue
        table = leak_check(part, images[rows], seed=seed, n_boot=n_boot)
        tables.append(table.set_axis([f"{corpus}: {name}" for name in table.index]))
    if not tables:
        raise ValueError("no corpus holds both genuine and forged images: nothing to check for leaks")
    return pd.concat(tables).rename_axis("images")


def leak_figure(table: pd.DataFrame):
    """AUC per row of `leak_check` with its 95 % CI, and a dashed line at chance (0.5)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 0.6 + 0.5 * len(table)))
    positions = np.arange(len(table))
    errors = [table["auc"] - table["ci_low"], table["ci_high"] - table["auc"]]
    ax.errorbar(table["auc"], positions, xerr=errors, fmt="o", capsize=4, color="tab:blue")
    ax.axvline(0.5, linestyle="--", color="grey", label="chance")
    ax.set(
        yticks=positions,
        yticklabels=list(table.index),
        xlim=(0.0, 1.02),
        ylim=(-0.6, len(table) - 0.4),
        xlabel="ROC AUC of forged vs genuine without the strokes' shape (95 % CI)",
    )
    ax.invert_yaxis()
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig
