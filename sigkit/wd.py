"""Writer-dependent verification: a small classifier per writer on the tower's features.

For a writer with K references, a scikit-learn classifier learns the K references (class 1)
against a *background* of other writers' genuine signatures (class 0), class weights balancing
the skew; a questioned signature's score is its decision value (Hafemann et al. 2017 style).
The tower never saw the writer; the classifier learns what sets this writer's signatures apart
in the tower's feature space, which is what lets a tower trained on other corpora work on a new
one. Kinds: linear and RBF SVMs, logistic regression; the kind and C are chosen on validation
writers (`choose_settings`), never on the test writers.

Aligned (`aligned=True`, features of shape (V, N, D) from `sigkit.align.embed_variants`): every
turn and shift of the K references is a positive, and a questioned signature scores its highest
decision over its own variants, the classifier's form of the aligned distance (the smallest
distance over turns and shifts). The background may stay as it is (one embedding per image), so
the background shipped beside a tower serves both forms; where the background's images are at
hand, `background_with_variants` adds their own turns and shifts as negatives. What the aligned
form gains on CEDAR: docs/experiments.md ("Writer-dependent classifiers in register").

Scores come out as `distance` = minus the decision value, so that lower means genuine like every
other protocol of `sigkit.scoring` and the same EER, threshold and bootstrap code applies; the
draws of references are `sigkit.pairs.reference_draws`, the same as the distance protocols'.
`writer_decisions` is the one decision: the evaluation's protocols and `sigkit verify` both call it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from sigkit.metrics import eer
from sigkit.pairs import genuine_of, reference_draws

KINDS = ("linear", "rbf", "logreg")


@dataclass(frozen=True)
class WDSettings:
    """One writer-dependent classifier: its kind and its regularisation C (larger: fits harder)."""

    kind: str = "linear"
    C: float = 1.0

    def classifier(self):
        if self.kind == "linear":
            return SVC(kernel="linear", C=self.C, class_weight="balanced")
        if self.kind == "rbf":
            return SVC(kernel="rbf", C=self.C, gamma="scale", class_weight="balanced")
        if self.kind == "logreg":
            return LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000)
        raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def background_rows(manifest: pd.DataFrame, per_writer: int = 4, seed: int = 0) -> np.ndarray:
    """Positions of up to `per_writer` genuine signatures of each writer (a seeded draw): a
    background that covers every writer without letting the prolific ones dominate."""
    manifest = manifest.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    rows = [
        rng.choice(group.index.to_numpy(), min(per_writer, len(group)), replace=False)
        for _, group in manifest[manifest["genuine"]].groupby("writer", sort=True)
    ]
    if not rows:
        raise ValueError("no genuine signatures to draw a background from")
    return np.sort(np.concatenate(rows))


GRID = tuple(WDSettings(kind, c) for kind in KINDS for c in (0.1, 1.0, 10.0))


def flat(features: np.ndarray) -> np.ndarray:
    """(N, D) float64 rows: embeddings as they are, a match tower's (N, cells, C + 1) cells side by side."""
    features = np.asarray(features)
    return features.reshape(len(features), -1).astype(np.float64)


def by_variant(features: np.ndarray, aligned: bool = False) -> np.ndarray:
    """(V, N, F) float64 features: V = 1 for plain features, one row of `flat` features per
    variant for aligned ones ((V, N, ...) from `sigkit.align.embed_variants`)."""
    features = np.asarray(features)
    if not aligned:
        return flat(features)[None]
    if features.ndim < 3:
        raise ValueError(
            f"aligned features must be (variants, images, ...), not shape {features.shape}: "
            "embed them with sigkit.align.embed_variants"
        )
    return np.stack([flat(variant) for variant in features])


def draw_variants(variants: np.ndarray, per_image: int | None = None, seed: int = 0) -> np.ndarray:
    """(m, N, F) turns and shifts of each of N images, m of its own V - 1 (all when `per_image`
    is None; a seeded draw without replacement otherwise), never the image as it is. `variants`
    are (V, N, ...) from `sigkit.align.embed_variants`, [0] as they are."""
    features = by_variant(variants, aligned=True)
    count, images = len(features) - 1, features.shape[1]
    per_image = count if per_image is None else int(per_image)
    if not 0 <= per_image <= count:
        raise ValueError(f"per_image must be between 0 and the {count} variants beside each image, not {per_image}")
    rng = np.random.default_rng(seed)
    chosen = 1 + np.argsort(rng.random((images, count)), axis=1)[:, :per_image]  # (N, m) variant of each image
    return features[chosen.T, np.arange(images)]


def background_with_variants(variants: np.ndarray, per_image: int | None = None, seed: int = 0) -> np.ndarray:
    """(N x (1 + m), F) negatives for the aligned classifiers: every background image as it is,
    then m of its own turns and shifts (`draw_variants`).

    Why: an aligned classifier accepts a questioned signature on its best-matching variant, so
    it must also have learnt that a turned or shifted stranger is still a stranger (what that
    gains on CEDAR: docs/experiments.md, 2026-12-02); the plain classifier keeps the plain
    background."""
    extra = draw_variants(variants, per_image, seed)
    return np.concatenate([by_variant(variants, aligned=True)[0], extra.reshape(-1, extra.shape[-1])])


def writer_classifier(references: np.ndarray, background: np.ndarray, settings: WDSettings = WDSettings()):
    """The fitted classifier of one writer: `references` (class 1) against `background` (class 0)."""
    references, background = flat(references), flat(background)
    if len(references) < 1 or len(background) < 1:
        raise ValueError("a writer-dependent classifier needs at least one reference and one background signature")
    if references.shape[1] != background.shape[1]:
        raise ValueError(
            f"references have {references.shape[1]} features, the background {background.shape[1]}: "
            "embed both with the same tower"
        )
    x = np.concatenate([references, background])
    y = np.concatenate([np.ones(len(references), int), np.zeros(len(background), int)])
    return settings.classifier().fit(x, y)


def writer_decisions(
    variants: np.ndarray,
    references: np.ndarray,
    questioned: np.ndarray,
    background: np.ndarray,
    settings: WDSettings = WDSettings(),
) -> np.ndarray:
    """The writer-dependent decision values of the `questioned` rows (higher: more like the writer).

    `variants` are (V, N, F) features (`by_variant`; V = 1 for plain ones): one classifier learns
    every variant of the `references` rows against `background`, and each questioned signature
    keeps its best decision over its own variants (the aligned form; the plain one when V = 1)."""
    positives = variants[:, references].reshape(-1, variants.shape[-1])
    model = writer_classifier(positives, background, settings)
    return np.max([model.decision_function(variant[questioned]) for variant in variants], axis=0)


def wd_scores(
    features: np.ndarray,
    manifest: pd.DataFrame,
    background: np.ndarray,
    k: int,
    settings: WDSettings = WDSettings(),
    seed: int = 0,
    draws: int = 1,
    forgeries: str = "skilled",
    aligned: bool = False,
) -> pd.DataFrame:
    """The K-reference protocol scored by writer-dependent classifiers: columns like
    `sigkit.scoring.reference_scores` (writer, row, label, distance = -decision value, draw).
    With `aligned`, `features` carry a leading axis of variants (module docstring)."""
    variants = by_variant(features, aligned)
    manifest = manifest.reset_index(drop=True)
    rows = []
    for draw, writer, references, questioned in reference_draws(manifest, k, seed, draws, forgeries):
        decision = writer_decisions(variants, references, questioned, background, settings)
        rows.append(
            pd.DataFrame(
                {
                    "writer": writer,
                    "row": questioned,
                    "label": genuine_of(manifest, writer, questioned),
                    "distance": -decision,
                    "draw": draw,
                }
            )
        )
    if not rows:
        raise ValueError(f"no writer has more than k={k} genuine signatures")
    return pd.concat(rows, ignore_index=True)


def choose_settings(
    val_features: np.ndarray,
    val_manifest: pd.DataFrame,
    background: np.ndarray,
    k: int,
    grid=GRID,
    seed: int = 0,
    forgeries: str = "skilled",
    aligned: bool = False,
    draws: int = 1,
) -> tuple[WDSettings, pd.DataFrame]:
    """The settings of `grid` with the lowest EER on the validation writers, and every one's EER.

    `draws`: the EER pools that many draws of references (`reference_draws`, the first of them
    the one draw of the default). One draw of ten writers is noisy: on CEDAR it picked a kind
    that fell 2-5 points behind RBF on test, where ten draws picked RBF (docs/experiments.md,
    2026-12-02); each draw costs one more fit per writer and setting."""
    table = []
    for settings in grid:
        scores = wd_scores(
            val_features,
            val_manifest,
            background,
            k,
            settings,
            seed=seed,
            draws=draws,
            forgeries=forgeries,
            aligned=aligned,
        )
        table.append({**settings.to_dict(), "val_eer": eer(scores["distance"], scores["label"])[0]})
    table = pd.DataFrame(table)
    best = table.loc[table["val_eer"].idxmin()]
    return WDSettings(best["kind"], float(best["C"])), table


def save_background(features: np.ndarray, writers, path, variants: np.ndarray | None = None) -> None:
    """Write background features (float16) and their writers to `path` (`background.npz` beside a
    model is what `sigkit verify --method wd` reads); `variants`, (m, N, D) turns and shifts of the
    same images (`draw_variants`), are the aligned classifiers' extra negatives."""
    arrays = {"embeddings": np.asarray(features).astype(np.float16), "writers": np.asarray(writers).astype(str)}
    if variants is not None:
        variants = np.asarray(variants)
        if variants.ndim != 3 or variants.shape[1:] != arrays["embeddings"].shape:
            raise ValueError(
                f"background variants must be (m, {len(features)} images, dim) like the background, "
                f"not shape {variants.shape}"
            )
        arrays["variants"] = variants.astype(np.float16)
    np.savez_compressed(path, **arrays)


def background_beside(model_path, aligned: bool = False) -> np.ndarray | None:
    """The background features saved beside a model (`background.npz`), or None; `aligned`: with
    the turns and shifts stored beside them as extra negatives (`background_with_variants`), where
    the file has them."""
    from pathlib import Path

    path = Path(model_path).parent / "background.npz"
    if not path.is_file():
        return None
    with np.load(path) as stored:
        background = stored["embeddings"].astype(np.float32)
        if aligned and "variants" in stored.files:
            variants = stored["variants"].astype(np.float32)
            background = np.concatenate([background, variants.reshape(-1, variants.shape[-1])])
    return background
