"""Scoring questioned signatures against references, from embeddings.

Two protocols, both writer-independent (the model never saw these writers):

- **single pairs**: the distance of each pair from `sigkit.pairs.make_pairs` (genuine, skilled
  and random pairs), one reference per decision.
- **K references** (writer-dependent decision): each writer's first K genuine signatures (a
  seeded draw) are the references; every other signature of that writer, genuine or skilled
  forgery, is questioned and scored by its mean (or min) distance to the K references. This is
  how a bank verifies a cheque against the specimens on file.

A decision threshold is always chosen on validation writers and applied unchanged to test writers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sigkit.metrics import at_threshold, eer
from sigkit.pairs import pair_distances, validation_pairs


def pair_scores(embeddings: np.ndarray, manifest: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The validation-rule pairs of `manifest` with their distances: a, b, label, kind, distance."""
    pairs = validation_pairs(manifest, seed=seed)
    pairs["distance"] = pair_distances(embeddings, pairs)
    return pairs


def reference_scores(embeddings: np.ndarray, manifest: pd.DataFrame, k: int, seed: int = 0,
                     aggregate: str = "mean", normalise: bool = False) -> pd.DataFrame:
    """Questioned signatures scored against K references of their writer.

    Columns: writer, row (position in `manifest`), label (1 genuine, 0 skilled forgery), distance.
    Writers with K or fewer genuine signatures are left out (nothing genuine left to question).
    With `normalise`, the distance is divided by the mean distance among the K references
    themselves (K >= 2): a writer who signs loosely gets a looser threshold. It uses only the
    references, as a bank could on the specimens it holds.
    """
    if aggregate not in ("mean", "min"):
        raise ValueError(f"aggregate must be 'mean' or 'min', not {aggregate!r}")
    manifest = manifest.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    rows = []
    for writer, group in manifest.groupby("writer", sort=True):
        genuine = group.index[group["genuine"]].to_numpy()
        if len(genuine) <= k:
            continue
        references = rng.choice(genuine, k, replace=False)
        questioned = np.setdiff1d(group.index.to_numpy(), references)
        distances = np.linalg.norm(embeddings[questioned][:, None, :] - embeddings[references][None, :, :], axis=2)
        score = distances.mean(axis=1) if aggregate == "mean" else distances.min(axis=1)
        if normalise:
            if k < 2:
                raise ValueError("normalise needs k >= 2 references (their spread is the scale)")
            spread = np.linalg.norm(embeddings[references][:, None] - embeddings[references][None], axis=2)
            score = score / max(spread[np.triu_indices(k, 1)].mean(), 1e-6)
        rows.append(pd.DataFrame({"writer": writer, "row": questioned,
                                  "label": manifest.loc[questioned, "genuine"].to_numpy(int), "distance": score}))
    if not rows:
        raise ValueError(f"no writer has more than k={k} genuine signatures")
    return pd.concat(rows, ignore_index=True)


def protocol_metrics(val: pd.DataFrame, test: pd.DataFrame) -> dict:
    """EER on test (threshold-free) and the test metrics at the validation EER threshold."""
    val_eer, threshold = eer(val["distance"], val["label"])
    test_eer, _ = eer(test["distance"], test["label"])
    return {"eer": test_eer, "val_eer": val_eer, "threshold": threshold,
            **at_threshold(test["distance"], test["label"], threshold)}


def skilled_only(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["kind"].isin(["genuine", "skilled"])]


def random_only(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["kind"].isin(["genuine", "random"])]
