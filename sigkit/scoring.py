"""Scoring questioned signatures against references, from embeddings.

Two protocols, both writer-independent (the model never saw these writers):

- **single pairs**: the distance of each pair from `sigkit.pairs.make_pairs` (genuine, skilled
  and random pairs), one reference per decision.
- **K references** (writer-dependent decision): each writer's first K genuine signatures (a
  seeded draw) are the references; every other signature of that writer, genuine or skilled
  forgery, is questioned and scored by its mean (or min) distance to the K references. This is
  how a bank verifies a cheque against the specimens on file.

Embeddings are (N, D) arrays, or (V, N, D) from `sigkit.align.embed_aligned`: then every distance
is the aligned one (the `*_aligned` protocols: small turns and shifts). Every function takes a
`scorer` (`sigkit.matching.scorer_for(tower)`): None compares embeddings by Euclidean distance,
a match tower's scorer cross-matches its (N, cells, C + 1) features.

A decision threshold is always chosen on validation writers and applied unchanged to test writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sigkit.matching import pair_distances
from sigkit.metrics import at_threshold, bootstrap_ci, eer, per_writer_eer, roc_auc
from sigkit.pairs import validation_pairs


def distances(embeddings: np.ndarray, a, b, scorer=None) -> np.ndarray:
    """Distances of the pairs (a[i], b[i]): plain for one embedding per image, aligned for
    (V, N, ...) variants (`sigkit.align.aligned_distances`)."""
    return pair_distances(embeddings, a, b, scorer)


def pair_scores(embeddings: np.ndarray, manifest: pd.DataFrame, seed: int = 0, scorer=None) -> pd.DataFrame:
    """The validation-rule pairs of `manifest` with their distances: a, b, label, kind, writer, distance.

    `writer` is the claimed writer (the one of image `a`), for per-writer figures and intervals.
    """
    pairs = validation_pairs(manifest, seed=seed)
    pairs["writer"] = manifest["writer"].to_numpy()[pairs["a"].to_numpy()]
    pairs["distance"] = distances(embeddings, pairs["a"], pairs["b"], scorer)
    return pairs


def reference_draws(manifest: pd.DataFrame, k: int, seed: int = 0, draws: int = 1, forgeries: str = "skilled"):
    """(draw, writer, references, questioned) of the K-reference protocol, row positions in `manifest`.

    Every K-reference scorer (mean distance, spread-corrected, writer-dependent classifiers) walks
    these same draws, so their figures compare on the same references. Questioned: the writer's
    other genuine signatures and its skilled forgeries (`forgeries="skilled"`), or the genuine
    signatures of every other writer in `manifest` (`"random"`). Writers with K or fewer genuine
    signatures are left out (nothing genuine left to question).
    """
    if forgeries not in ("skilled", "random"):
        raise ValueError(f"forgeries must be 'skilled' or 'random', not {forgeries!r}")
    manifest = manifest.reset_index(drop=True)
    genuine_rows = manifest.index[manifest["genuine"]].to_numpy()
    rng = np.random.default_rng(seed)
    writers = list(manifest.groupby("writer", sort=True))
    for draw, (writer, group) in ((d, w) for d in range(draws) for w in writers):
        genuine = group.index[group["genuine"]].to_numpy()
        if len(genuine) <= k:
            continue
        references = rng.choice(genuine, k, replace=False)
        if forgeries == "skilled":
            questioned = np.setdiff1d(group.index.to_numpy(), references)
        else:
            questioned = np.concatenate([np.setdiff1d(genuine, references), np.setdiff1d(genuine_rows, group.index)])
        yield draw, writer, references, questioned


def genuine_of(manifest: pd.DataFrame, writer, rows: np.ndarray) -> np.ndarray:
    """1 where row is a genuine signature of `writer`, else 0 (a forgery, or another writer's)."""
    chosen = manifest.iloc[rows]
    return ((chosen["writer"] == writer) & chosen["genuine"]).to_numpy(int)


def reference_scores(
    embeddings: np.ndarray,
    manifest: pd.DataFrame,
    k: int,
    seed: int = 0,
    aggregate: str = "mean",
    spread_correction: bool | str = False,
    draws: int = 1,
    scorer=None,
    forgeries: str = "skilled",
) -> pd.DataFrame:
    """Questioned signatures scored against K references of their writer.

    Columns: writer (the claimed one), row (position in `manifest`), label (1 genuine, 0 forgery),
    distance, draw. The draws and the questioned signatures (skilled forgeries of the writer, or
    with `forgeries="random"` other writers' genuine signatures) are `reference_draws`.
    With `draws` > 1 the references are drawn that many times (the first draw is the one of
    `draws=1`) and every draw's scores are returned: with a few test writers, which 5 of a
    writer's signatures become references moves the EER by points (`eer_over_draws`).
    Writers with K or fewer genuine signatures are left out (nothing genuine left to question).
    With `spread_correction`, the score is corrected by the writer's spread, the mean distance among the
    K references themselves (K >= 2): `"difference"` (or True) subtracts it, `"ratio"` divides by
    it. A writer who signs loosely gets a looser threshold. It uses only the references, as a bank
    could on the specimens it holds. The difference was chosen on CEDAR's validation writers
    (README, Results): it beat the ratio there for every model tried.
    """
    if aggregate not in ("mean", "min"):
        raise ValueError(f"aggregate must be 'mean' or 'min', not {aggregate!r}")
    if spread_correction is True:
        spread_correction = "difference"
    if spread_correction not in (False, "difference", "ratio"):
        raise ValueError(f"spread_correction must be False, True, 'difference' or 'ratio', not {spread_correction!r}")
    manifest = manifest.reset_index(drop=True)
    rows = []
    for draw, writer, references, questioned in reference_draws(manifest, k, seed, draws, forgeries):
        rows_q, rows_r = np.meshgrid(questioned, references, indexing="ij")
        to_references = distances(embeddings, rows_q.ravel(), rows_r.ravel(), scorer).reshape(len(questioned), k)
        score = to_references.mean(axis=1) if aggregate == "mean" else to_references.min(axis=1)
        if spread_correction:
            if k < 2:
                raise ValueError("spread_correction needs k >= 2 references (their spread is the scale)")
            first, second = np.triu_indices(k, 1)
            spread = distances(embeddings, references[first], references[second], scorer).mean()
            score = score - spread if spread_correction == "difference" else score / max(spread, 1e-6)
        rows.append(
            pd.DataFrame(
                {
                    "writer": writer,
                    "row": questioned,
                    "label": genuine_of(manifest, writer, questioned),
                    "distance": score,
                    "draw": draw,
                }
            )
        )
    if not rows:
        raise ValueError(f"no writer has more than k={k} genuine signatures")
    return pd.concat(rows, ignore_index=True)


def eer_over_draws(
    embeddings: np.ndarray,
    manifest: pd.DataFrame,
    k: int = 5,
    draws: int = 10,
    seed: int = 0,
    spread_correction: bool | str = False,
    scorer=None,
) -> dict:
    """The K-reference EER over `draws` draws of the references: each draw's EER, their mean and
    standard deviation, and the EER of all draws' scores pooled. Threshold-free; a steadier figure
    than one draw when a test set has few writers."""
    return summarise_draws(
        reference_scores(
            embeddings, manifest, k, seed=seed, spread_correction=spread_correction, draws=draws, scorer=scorer
        )
    )


def summarise_draws(scores: pd.DataFrame) -> dict:
    """Each draw's EER of K-reference `scores`, their mean and standard deviation, and the pooled EER."""
    each = [eer(s["distance"], s["label"])[0] for _, s in scores.groupby("draw")]
    return {
        "draws": each,
        "mean": float(np.mean(each)),
        "std": float(np.std(each)),
        "pooled": eer(scores["distance"], scores["label"])[0],
    }


def protocol_metrics(
    val: pd.DataFrame | None, test: pd.DataFrame, threshold: float | None = None, n_boot: int = 0, seed: int = 0
) -> dict:
    """Test EER and ROC AUC (threshold-free) and the test metrics at a threshold fixed beforehand.

    The threshold is the EER point of the validation scores `val`, or, with no validation writers,
    the given `threshold` (e.g. the one stored with the model at training time). With `n_boot`,
    95 % intervals of the test EER and accuracy over resampled test writers are added.
    """
    out = {}
    if val is not None:
        out["val_eer"], threshold = eer(val["distance"], val["label"])
    elif threshold is None:
        raise ValueError("a threshold needs validation scores or a given threshold; never the test set's own")
    out.update(
        eer=eer(test["distance"], test["label"])[0],
        auc=roc_auc(test["distance"], test["label"]),
        threshold=float(threshold),
        **at_threshold(test["distance"], test["label"], threshold),
    )
    if n_boot:
        out["eer_ci"] = bootstrap_ci(test, lambda s: eer(s["distance"], s["label"])[0], n_boot, seed)
        out["accuracy_ci"] = bootstrap_ci(
            test, lambda s: at_threshold(s["distance"], s["label"], threshold)["accuracy"], n_boot, seed
        )
    return out


def skilled_only(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["kind"].isin(["genuine", "skilled"])]


def random_only(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["kind"].isin(["genuine", "random"])]


def protocol_scores(
    embeddings: np.ndarray,
    manifest: pd.DataFrame,
    k: int = 5,
    seed: int = 0,
    aligned: np.ndarray | None = None,
    scorer=None,
) -> dict[str, pd.DataFrame]:
    """The scores of each protocol on one set of writers: single pairs (skilled, random) and K references.

    With `aligned` (`sigkit.align.embed_aligned` of the same images), every protocol is scored a
    second time with aligned distances (small turns and shifts), under its name + `_aligned`.
    """
    if aligned is not None:
        if np.ndim(aligned) != np.ndim(embeddings) + 1 or len(aligned[0]) != len(embeddings):
            raise ValueError(
                f"aligned embeddings must be (alignments, {len(embeddings)} images, dim) like the "
                f"embeddings, not shape {np.shape(aligned)}"
            )
        shifted = protocol_scores(aligned, manifest, k=k, seed=seed, scorer=scorer)
        return {
            **protocol_scores(embeddings, manifest, k=k, seed=seed, scorer=scorer),
            **{f"{name}_aligned": scores for name, scores in shifted.items()},
        }
    pairs = pair_scores(embeddings, manifest, seed=seed, scorer=scorer)
    out = {"single_skilled": skilled_only(pairs), "single_random": random_only(pairs)}
    out[f"references_{k}"] = reference_scores(embeddings, manifest, k, seed=seed, scorer=scorer)
    if k >= 2:
        out[f"references_{k}_spread"] = reference_scores(
            embeddings, manifest, k, seed=seed, spread_correction=True, scorer=scorer
        )
    return out


def eer_by_references(
    embeddings: np.ndarray, manifest: pd.DataFrame, ks=(1, 2, 3, 5, 8, 12), seed: int = 0, scorer=None
) -> pd.DataFrame:
    """Test EER (skilled forgeries) against the number of references K, mean and min distance.

    A K is skipped when no writer has more than K genuine signatures (nothing left to question).
    """
    rows = []
    for k in ks:
        for aggregate in ("mean", "min"):
            try:
                scores = reference_scores(embeddings, manifest, k, seed=seed, aggregate=aggregate, scorer=scorer)
            except ValueError:
                continue
            if 0 < scores["label"].sum() < len(scores):
                rows.append(
                    {
                        "k": k,
                        "aggregate": aggregate,
                        "eer": eer(scores["distance"], scores["label"])[0],
                        "writers": scores["writer"].nunique(),
                    }
                )
    return pd.DataFrame(rows, columns=["k", "aggregate", "eer", "writers"])


def add_writer_dependent(
    val,
    test,
    val_emb,
    val_manifest,
    test_emb,
    test_manifest,
    background,
    k: int,
    seed: int,
    val_aligned=None,
    test_aligned=None,
    aligned_background=None,
) -> dict:
    """Add `references_<k>_wd` (`sigkit.wd`, kind and C chosen on the validation writers) to the
    validation and test score dicts, and with aligned embeddings `references_<k>_wd_aligned`
    (the classifiers' aligned form, against `aligned_background` where given: the background with
    its own turns and shifts); returns protocol name -> the chosen settings."""
    from sigkit.wd import choose_settings, wd_scores

    forms = {f"references_{k}_wd": (val_emb, test_emb, False)}
    if val_aligned is not None and test_aligned is not None:
        forms[f"references_{k}_wd_aligned"] = (val_aligned, test_aligned, True)
    chosen = {}
    for name, (val_features, test_features, aligned) in forms.items():
        negatives = aligned_background if aligned and aligned_background is not None else background
        settings, _ = choose_settings(val_features, val_manifest, negatives, k, seed=seed, aligned=aligned)
        val[name] = wd_scores(val_features, val_manifest, negatives, k, settings, seed=seed, aligned=aligned)
        test[name] = wd_scores(test_features, test_manifest, negatives, k, settings, seed=seed, aligned=aligned)
        chosen[name] = settings
    return chosen


@dataclass
class Evaluation:
    """Everything the evaluation notebook and `sigkit evaluate` show, from embeddings.

    `metrics[protocol]` holds the numbers of `protocol_metrics`; `scores[protocol]` the test
    scores (and `val_scores` the validation ones) for the figures.
    """

    metrics: dict
    scores: dict
    val_scores: dict
    per_writer: pd.DataFrame
    by_references: pd.DataFrame
    pairs: pd.DataFrame = field(repr=False)
    over_draws: dict = field(default_factory=dict)  # K-reference protocol -> `eer_over_draws` on the test writers
    embeddings: dict = field(default_factory=dict, repr=False)  # split -> (variants, N, ...) when kept (evaluate_run)

    def table(self) -> pd.DataFrame:
        """One row per protocol: the paper's metrics in percent, with intervals."""
        rows = []
        for protocol, m in self.metrics.items():
            row = {
                "protocol": protocol,
                **{key: 100 * m[key] for key in ("accuracy", "precision", "recall", "f1", "eer", "far", "frr")},
            }
            if "eer_ci" in m:
                row["eer 95% CI"] = f"{100 * m['eer_ci'][0]:.1f}-{100 * m['eer_ci'][1]:.1f}"
                row["accuracy 95% CI"] = f"{100 * m['accuracy_ci'][0]:.1f}-{100 * m['accuracy_ci'][1]:.1f}"
            row["auc"], row["threshold"] = m["auc"], m["threshold"]
            rows.append(row)
        return pd.DataFrame(rows).set_index("protocol")

    def summary(self) -> dict:
        """JSON-ready: the metrics per protocol, per-writer EER and EER against K."""
        return {
            "metrics": self.metrics,
            "per_writer_eer": self.per_writer.to_dict("records"),
            "eer_by_references": self.by_references.to_dict("records"),
            "references_over_draws": self.over_draws,
        }

    def draws_table(self) -> pd.DataFrame:
        """One row per K-reference protocol: its test EER over the draws of references, in percent."""
        rows = [
            {
                "protocol": name,
                "mean EER": 100 * d["mean"],
                "std": 100 * d["std"],
                "pooled EER": 100 * d["pooled"],
                "draws": len(d["draws"]),
            }
            for name, d in self.over_draws.items()
        ]
        return pd.DataFrame(rows, columns=["protocol", "mean EER", "std", "pooled EER", "draws"]).set_index("protocol")


def _test_and_val_scores(
    test_emb, test_manifest, val_emb, val_manifest, k: int, seed: int, test_aligned, val_aligned, scorer
) -> tuple[dict, dict]:
    """(test, validation) scores of every protocol; without validation writers only the protocols
    a stored threshold fits (raw distances: spread-corrected and aligned scores have other scales)."""
    if val_emb is not None and (test_aligned is None) != (val_aligned is None):
        raise ValueError(
            "give aligned embeddings of both the test and the validation writers, or of neither: "
            "the aligned protocols take their thresholds from the validation writers"
        )
    test = protocol_scores(test_emb, test_manifest, k=k, seed=seed, aligned=test_aligned, scorer=scorer)
    val = (
        protocol_scores(val_emb, val_manifest, k=k, seed=seed, aligned=val_aligned, scorer=scorer)
        if val_emb is not None
        else {}
    )
    if not val:
        test = {name: scores for name, scores in test.items() if "spread" not in name and not name.endswith("aligned")}
    return test, val


def _reference_eers_over_draws(
    test: dict,
    test_emb,
    test_manifest,
    test_aligned,
    k: int,
    seed: int,
    draws: int,
    scorer,
    background,
    wd_settings,
    aligned_background=None,
) -> dict:
    """`summarise_draws` of each K-reference protocol in `test` over `draws` draws of the references
    (none when draws <= 1), each scored the way its protocol is (aligned, spread-corrected, writer-dependent)."""
    over_draws = {}
    for name in test if draws > 1 else ():
        if name.startswith("references_"):
            if name in wd_settings:
                from sigkit.wd import wd_scores

                aligned = name.endswith("_aligned")
                features = test_aligned if aligned else test_emb
                negatives = aligned_background if aligned and aligned_background is not None else background
                scores = wd_scores(
                    features, test_manifest, negatives, k, wd_settings[name], seed=seed, draws=draws, aligned=aligned
                )
                over_draws[name] = summarise_draws(scores)
                continue
            embeddings = test_aligned if name.endswith("_aligned") else test_emb
            over_draws[name] = eer_over_draws(
                embeddings,
                test_manifest,
                k=k,
                draws=draws,
                seed=seed,
                spread_correction="spread" in name,
                scorer=scorer,
            )
    return over_draws


def evaluate_embeddings(
    test_emb: np.ndarray,
    test_manifest: pd.DataFrame,
    val_emb: np.ndarray | None = None,
    val_manifest: pd.DataFrame | None = None,
    *,
    threshold: float | None = None,
    k: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    test_aligned: np.ndarray | None = None,
    val_aligned: np.ndarray | None = None,
    draws: int = 10,
    scorer=None,
    background: np.ndarray | None = None,
    aligned_background: np.ndarray | None = None,
) -> Evaluation:
    """All protocols on the test writers; thresholds from the validation writers (or `threshold`).

    `test_aligned` / `val_aligned` (`sigkit.align.embed_variants`) add the aligned
    `*_aligned` protocols. Without validation writers the stored threshold applies to the
    raw-distance protocols only (spread-corrected and aligned scores have other scales, so they are left out).
    Each K-reference protocol is also scored over `draws` draws of the references (`over_draws`;
    threshold-free): with few test writers one draw of references moves its EER by points.
    With `background` (features of genuine signatures of writers outside both sets, e.g. the
    training writers) and validation writers, `references_<k>_wd` adds the writer-dependent
    classifiers of `sigkit.wd`, their kind and C chosen on the validation writers (and with aligned
    embeddings `references_<k>_wd_aligned`, their aligned form, against `aligned_background` where
    given: the background followed by its own turns and shifts, `sigkit.wd.background_with_variants`).
    """
    test, val = _test_and_val_scores(
        test_emb, test_manifest, val_emb, val_manifest, k, seed, test_aligned, val_aligned, scorer
    )
    wd_settings = {}
    if background is not None and val:
        wd_settings = add_writer_dependent(
            val,
            test,
            val_emb,
            val_manifest,
            test_emb,
            test_manifest,
            background,
            k,
            seed,
            val_aligned,
            test_aligned,
            aligned_background,
        )
    metrics = {
        name: protocol_metrics(val.get(name), scores, threshold=threshold, n_boot=n_boot, seed=seed)
        for name, scores in test.items()
    }
    per_writer = pd.concat(
        [per_writer_eer(test[name]).assign(protocol=name) for name in ("single_skilled", f"references_{k}")],
        ignore_index=True,
    )
    over_draws = _reference_eers_over_draws(
        test, test_emb, test_manifest, test_aligned, k, seed, draws, scorer, background, wd_settings, aligned_background
    )
    return Evaluation(
        metrics=metrics,
        scores=test,
        val_scores=val,
        per_writer=per_writer,
        by_references=eer_by_references(test_emb, test_manifest, seed=seed, scorer=scorer),
        pairs=pair_scores(test_emb, test_manifest, seed=seed, scorer=scorer),
        over_draws=over_draws,
    )
