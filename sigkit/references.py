"""K references, three ways to decide, skilled and random forgeries apart: the transfer table.

For each K, each kind of forgery and each method, the validation writers choose the threshold
(the EER point of their scores, all draws pooled) and the test writers are scored over the same
draws of references:

- `mean`: mean distance to the K references (`sigkit.scoring.reference_scores`);
- `spread`: that distance minus the references' own mean distance (the writer's spread);
- `wd`: a writer-dependent classifier on the tower's features against a background of other
  writers' genuine signatures (`sigkit.wd`), its kind and C chosen on the validation writers at
  that K, for skilled and for random forgeries apart (each question gets its own).

One row per (method, forgeries, K): the test EER over the draws (mean, std) and Accuracy,
Precision, Recall, F1, FAR, FRR of all draws at the validation threshold.
"""

from __future__ import annotations

import pandas as pd

from sigkit.metrics import at_threshold, eer
from sigkit.scoring import reference_scores, summarise_draws
from sigkit.wd import choose_settings, wd_scores

METHODS = ("mean", "spread", "wd")


def method_scores(
    features,
    manifest,
    k: int,
    method: str,
    forgeries: str,
    draws: int,
    seed: int,
    scorer=None,
    background=None,
    settings=None,
    aligned: bool = False,
) -> pd.DataFrame:
    """The K-reference scores of one method (lower = genuine), every draw. `aligned`: `features`
    carry a leading axis of turns and shifts (`sigkit.align.embed_variants`)."""
    if method == "wd":
        return wd_scores(
            features, manifest, background, k, settings, seed=seed, draws=draws, forgeries=forgeries, aligned=aligned
        )
    return reference_scores(
        features,
        manifest,
        k,
        seed=seed,
        draws=draws,
        scorer=scorer,
        forgeries=forgeries,
        spread_correction=method == "spread",
    )


def reference_table(
    val_features,
    val_manifest,
    test_features,
    test_manifest,
    *,
    background=None,
    ks=(5, 12),
    methods=METHODS,
    draws: int = 10,
    seed: int = 0,
    scorer=None,
    aligned: bool = False,
    choice_draws: int = 1,
) -> pd.DataFrame:
    """The table of the module docstring; `wd` needs `background` (features of other writers),
    its kind and C chosen on `choice_draws` draws of the validation writers' references.
    With `aligned`, the features are (variants, images, dim) and every method scores in register:
    the smallest distance over turns and shifts, and the writer-dependent classifiers' aligned
    form (`sigkit.wd`); the background stays one embedding per image."""
    if "wd" in methods and background is None:
        raise ValueError("the wd method needs background features (genuine signatures of other writers)")
    rows = []
    for k in ks:
        # the classifier's kind and C are chosen for each question (skilled or random forgeries)
        chosen = {
            forgeries: choose_settings(
                val_features,
                val_manifest,
                background,
                k,
                seed=seed,
                forgeries=forgeries,
                aligned=aligned,
                draws=choice_draws,
            )[0]
            for forgeries in ("skilled", "random")
            if "wd" in methods
        }
        for method in methods:
            if method == "spread" and k < 2:
                continue
            for forgeries in ("skilled", "random"):
                settings = chosen.get(forgeries)
                common = dict(
                    method=method,
                    forgeries=forgeries,
                    draws=draws,
                    seed=seed,
                    scorer=scorer,
                    background=background,
                    settings=settings,
                    aligned=aligned,
                )
                val = method_scores(val_features, val_manifest, k, **common)
                test = method_scores(test_features, test_manifest, k, **common)
                val_eer, threshold = eer(val["distance"], val["label"])
                over = summarise_draws(test)
                rows.append(
                    {
                        "method": method,
                        "forgeries": forgeries,
                        "k": k,
                        "eer": over["mean"],
                        "eer_std": over["std"],
                        "val_eer": val_eer,
                        "threshold": float(threshold),
                        **at_threshold(test["distance"], test["label"], threshold),
                        "classifier": settings.to_dict() if method == "wd" else None,
                    }
                )
    return pd.DataFrame(rows)


def curve_by_k(
    val_features,
    val_manifest,
    test_features,
    test_manifest,
    *,
    background=None,
    ks=(1, 2, 3, 5, 8, 12),
    draws: int = 10,
    seed: int = 0,
    scorer=None,
) -> pd.DataFrame:
    """Test EER (skilled forgeries, mean over draws) against K, one column per method."""
    methods = METHODS if background is not None else METHODS[:2]
    table = reference_table(
        val_features,
        val_manifest,
        test_features,
        test_manifest,
        background=background,
        ks=usable_ks(ks, val_manifest, test_manifest),
        methods=methods,
        draws=draws,
        seed=seed,
        scorer=scorer,
    )
    skilled = table[table["forgeries"] == "skilled"]
    return skilled.pivot(index="k", columns="method", values="eer").reindex(columns=list(methods))


def usable_ks(ks, *manifests) -> list[int]:
    """The K of `ks` that leave a questioned genuine signature for some writer of every manifest."""
    return [k for k in ks if all((m[m["genuine"]].groupby("writer").size() > k).any() for m in manifests)]


def as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """`reference_table` with its rates in percent, for printing."""
    rates = ["eer", "eer_std", "val_eer", "accuracy", "precision", "recall", "f1", "far", "frr"]
    shown = table.drop(columns=["classifier"]).copy()
    shown[[c for c in rates if c in shown]] = 100 * shown[[c for c in rates if c in shown]]
    return shown.round(2)


__all__ = ["METHODS", "as_percent", "curve_by_k", "method_scores", "reference_table", "usable_ks"]
