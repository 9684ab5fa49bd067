"""Biometric figures from scores (columns `distance`, `label`; 1 = genuine, small distance = same).

ROC and DET show every operating point at once; FAR/FRR against the threshold shows where the
validation threshold sits; the histograms show why: how far genuine, skilled and random pairs
lie apart. DET axes are normal deviates, so two Gaussian score distributions give a straight line.
"""

from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

from sigkit.metrics import at_threshold, eer, far_frr, roc_auc

KIND_COLOURS = {"genuine": "tab:green", "skilled": "tab:red", "random": "tab:blue"}
DET_TICKS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6]


def line_styles(protocols) -> dict:
    """One colour per protocol (`sigkit.scoring.Protocol`); its aligned twin in the same colour, dashed."""
    bases = list(dict.fromkeys(dataclasses.replace(p, aligned=False) for p in protocols))
    return {
        p: dict(color=f"C{bases.index(dataclasses.replace(p, aligned=False)) % 10}", ls="--" if p.aligned else "-")
        for p in protocols
    }


def roc(scores: dict) -> matplotlib.figure.Figure:
    """ROC of each protocol (`Protocol` -> its scores): genuine acceptance (1 - FRR) against FAR."""
    fig, ax = plt.subplots(figsize=(5, 5))
    styles = line_styles(scores)
    for protocol, frame in scores.items():
        _, far, frr = far_frr(frame["distance"], frame["label"])
        auc = roc_auc(frame["distance"], frame["label"])
        ax.plot(far, 1 - frr, **styles[protocol], label=f"{protocol.label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set(
        xlabel="false acceptance rate (FAR)",
        ylabel="genuine acceptance rate (1 - FRR)",
        title="ROC, test writers",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right", fontsize=7)
    return fig


def det(scores: dict) -> matplotlib.figure.Figure:
    """DET: FRR against FAR on normal-deviate axes, EER points marked."""
    fig, ax = plt.subplots(figsize=(5, 5))
    limit = norm.ppf([DET_TICKS[0], DET_TICKS[-1]])
    styles = line_styles(scores)
    for protocol, frame in scores.items():
        _, far, frr = far_frr(frame["distance"], frame["label"])
        rate, _ = eer(frame["distance"], frame["label"])
        (line,) = ax.plot(
            norm.ppf(np.clip(far, 1e-4, 1 - 1e-4)),
            norm.ppf(np.clip(frr, 1e-4, 1 - 1e-4)),
            **styles[protocol],
            label=f"{protocol.label} (EER {100 * rate:.1f} %)",
        )
        point = norm.ppf(np.clip(rate, 1e-4, 1 - 1e-4))
        ax.plot(point, point, "o", color=line.get_color())
    ax.plot(limit, limit, ":", color="grey")
    ticks = norm.ppf(DET_TICKS)
    labels = [f"{100 * t:g}" for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(xlim=limit, ylim=limit, xlabel="FAR (%)", ylabel="FRR (%)", title="DET, test writers (normal-deviate axes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return fig


def far_frr_curves(frame: pd.DataFrame, threshold: float | None = None, title: str = "") -> matplotlib.figure.Figure:
    """FAR and FRR against the distance threshold; the EER point and the validation threshold marked."""
    thresholds, far, frr = far_frr(frame["distance"], frame["label"])
    rate, at = eer(frame["distance"], frame["label"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(thresholds, far, where="post", label="FAR (forgeries accepted)", color="tab:red")
    ax.step(thresholds, frr, where="post", label="FRR (genuine rejected)", color="tab:green")
    ax.plot(at, rate, "ko", label=f"EER {100 * rate:.1f} % at {at:.3f}")
    if threshold is not None:
        ax.axvline(threshold, ls="--", color="grey", label=f"validation threshold {threshold:.3f}")
    ax.set(
        xlabel="distance threshold (accept when distance <= threshold)",
        ylabel="rate",
        ylim=(0, 1.02),
        title=title or "FAR and FRR against the threshold",
    )
    ax.legend(fontsize=8)
    return fig


def distance_histograms(pairs: pd.DataFrame, threshold: float | None = None) -> matplotlib.figure.Figure:
    """Distance distributions of genuine, skilled-forgery and random-forgery pairs."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(pairs["distance"].min(), pairs["distance"].max(), 40)
    for kind, colour in KIND_COLOURS.items():
        part = pairs.loc[pairs["kind"] == kind, "distance"]
        if len(part):
            ax.hist(part, bins=bins, alpha=0.45, density=True, color=colour, label=f"{kind} ({len(part)} pairs)")
    if threshold is not None:
        ax.axvline(threshold, ls="--", color="black", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="embedding distance", ylabel="density", title="Pair distances, test writers")
    ax.legend(fontsize=8)
    return fig


def confusion_matrix(frame: pd.DataFrame, threshold: float, title: str = "") -> matplotlib.figure.Figure:
    """Counts of accepted / rejected genuine and forged cases at `threshold`."""
    accepted = frame["distance"].to_numpy() <= threshold
    genuine = frame["label"].to_numpy().astype(bool)
    counts = np.array(
        [
            [np.sum(genuine & accepted), np.sum(genuine & ~accepted)],
            [np.sum(~genuine & accepted), np.sum(~genuine & ~accepted)],
        ]
    )
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(counts / counts.sum(axis=1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        share = count / counts[i].sum()
        ax.text(
            j, i, f"{count}\n{100 * share:.1f} %", ha="center", va="center", color="white" if share > 0.5 else "black"
        )
    ax.set_xticks([0, 1], ["accepted\n(genuine)", "rejected\n(forged)"])
    ax.set_yticks([0, 1], ["genuine", "forged"])
    accuracy = at_threshold(frame["distance"], frame["label"], threshold)["accuracy"]
    ax.set(xlabel="decision", ylabel="truth", title=title or f"Confusion matrix (accuracy {100 * accuracy:.1f} %)")
    return fig


def training_curves(history: pd.DataFrame) -> matplotlib.figure.Figure:
    """Training loss and validation EER per epoch, the best epoch marked; one line per ensemble member."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    members = history.groupby("member") if "member" in history else [(None, history)]
    for member, part in members:
        suffix = "" if member is None else f", member {member}"
        left.plot(part["epoch"] + 1, part["loss"], label=f"training loss{suffix}")
        (line,) = right.plot(
            part["epoch"] + 1,
            100 * part["val_eer"],
            label=f"validation EER{suffix}",
            color="tab:orange" if member is None else None,
        )
        best = part["val_eer"].idxmin()
        right.plot(
            part.loc[best, "epoch"] + 1,
            100 * part.loc[best, "val_eer"],
            "o",
            color=line.get_color(),
            markeredgecolor="k",
            label=f"best: epoch {int(part.loc[best, 'epoch']) + 1}, {100 * part.loc[best, 'val_eer']:.1f} %",
        )
    left.set(xlabel="epoch", ylabel="contrastive loss", title="Training loss")
    right.set(xlabel="epoch", ylabel="EER (%)", title="Validation EER (model selection)")
    right.legend(fontsize=7)
    return fig


def eer_by_method(curve: pd.DataFrame) -> matplotlib.figure.Figure:
    """Test EER (skilled forgeries, mean over draws of the references) against K, one line per way
    of deciding (`sigkit.scoring.Evaluation.curve`: mean distance, spread-corrected, writer-dependent)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    labels = {"mean": "mean distance", "spread": "spread-corrected distance", "wd": "writer-dependent classifier"}
    for method in curve.columns:
        ax.plot(curve.index, 100 * curve[method], "o-", label=labels.get(method, method))
    ax.set(
        xlabel="references of the claimed writer (K)",
        ylabel="EER, skilled forgeries (%)",
        title="EER against K, three ways to decide",
        xticks=list(curve.index),
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def per_writer(table: pd.DataFrame) -> matplotlib.figure.Figure:
    """Each test writer's own EER, per protocol: a few hard writers often carry the mean."""
    protocols = list(table["protocol"].unique())
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 3.6), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        part = table[table["protocol"] == protocol].sort_values("eer")
        ax.bar(part["writer"].astype(str), 100 * part["eer"], color="tab:purple")
        ax.axhline(100 * part["eer"].mean(), ls="--", color="grey", label=f"mean {100 * part['eer'].mean():.1f} %")
        ax.set(xlabel="writer", ylabel="EER (%)", title=f"Per-writer EER, {protocol}")
        ax.tick_params(axis="x", rotation=90, labelsize=7)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
