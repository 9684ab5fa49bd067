"""Every protocol, scored and measured in one place: from features to one table of results.

A **protocol** (`Protocol`) is one way of asking "is this signature genuine?" of writers the
model never saw, named by four fields, never by a name to parse:

- `method`: `single` (one reference per decision: the pairs of `sigkit.pairs.validation_pairs`),
  or K references on file (`sigkit.pairs.reference_draws`: K genuine signatures of the claimed
  writer, every other signature of that writer questioned) decided by `mean` distance to the
  references, `spread` (that distance minus the references' own mean distance: a writer who
  signs loosely gets a looser threshold), or `wd` (a classifier per writer, `sigkit.wd`); or
  `fusion`: the other protocols asking the same questions (single pairs for k = 1, the K-reference
  protocols at that K otherwise; plain and aligned) combined by weights learned on the validation
  writers only (`fuse`);
- `k`: the references per decision (1 for single pairs);
- `forgeries`: `skilled` (the writer's genuine signatures against forgeries of them) or `random`
  (against other writers' genuine signatures);
- `aligned`: every distance (or classifier decision) the best over small turns and shifts of
  the signatures (`sigkit.align`), so two signings in a slightly different slope or place are
  compared in register.

`evaluate` scores a list of protocols on test writers with each threshold chosen on validation
writers (never on the test writers), over several draws of the references, and returns an
`Evaluation`: one row per protocol with the paper's metrics, the EER over draws and its interval
over test writers. `sigkit.evaluation` (a model file to `metrics.json`), the notebooks, `sigkit
evaluate` and the benchmarks all go through it.

Features are (N, D) embeddings, or a match tower's (N, cells, C + 1) cells scored with its
`scorer` (`sigkit.matching.scorer_for`); aligned protocols read (V, N, ...) variants
(`sigkit.align.embed_variants`, [0] the images as they are).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from sigkit.matching import pair_distances
from sigkit.metrics import at_threshold, bootstrap_intervals, eer, per_writer_eer, roc_auc, writer_bootstrap
from sigkit.pairs import genuine_of, reference_draws, validation_pairs
from sigkit.wd import choose_settings, wd_scores

METHODS = ("single", "mean", "spread", "wd", "fusion")
FORGERIES = ("skilled", "random")
METHOD_WORDS = {"mean": "mean distance", "spread": "spread-corrected", "wd": "writer-dependent", "fusion": "fusion"}
# the columns that name one question: a single pair, or a questioned signature under one draw of references
QUESTION_KEYS = {True: ["writer", "row", "draw"], False: ["a", "b"]}


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


def summarise_draws(scores: pd.DataFrame) -> dict:
    """Each draw's EER of K-reference `scores`, their mean and standard deviation, and the pooled EER."""
    each = [eer(s["distance"], s["label"])[0] for _, s in scores.groupby("draw")]
    return {
        "draws": each,
        "mean": float(np.mean(each)),
        "std": float(np.std(each)),
        "pooled": eer(scores["distance"], scores["label"])[0],
    }


@dataclass(frozen=True)
class Protocol:
    """One question asked of the test writers (module docstring): its fields are the row's keys."""

    method: str = "single"
    k: int = 1
    forgeries: str = "skilled"
    aligned: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.forgeries not in FORGERIES:
            raise ValueError(f"forgeries must be one of {FORGERIES}, not {self.forgeries!r}")
        if self.method == "single" and self.k != 1:
            raise ValueError("single pairs have one reference (k=1)")
        if self.method == "fusion" and self.aligned:
            raise ValueError("fusion combines the plain and the aligned protocols: it is not aligned itself")
        if self.k < 1 or (self.method == "spread" and self.k < 2):
            raise ValueError(f"{self.method} needs k >= {2 if self.method == 'spread' else 1}, not {self.k}")

    @property
    def references(self) -> bool:
        """Whether the protocol decides on K references on file (not single pairs; a fusion at k = 1
        fuses single pairs)."""
        return self.method != "single" and not (self.method == "fusion" and self.k == 1)

    @property
    def label(self) -> str:
        """How a table or a legend names it, e.g. "5 refs, spread-corrected, aligned (skilled)"."""
        if not self.references:
            what = "single pairs" + (", fusion" if self.method == "fusion" else "")
        else:
            what = f"{self.k} refs, {METHOD_WORDS[self.method]}"
        return f"{what}{', aligned' if self.aligned else ''} ({self.forgeries})"

    def fuses(self, other: "Protocol") -> bool:
        """Whether `other` is one of the scorers this fusion protocol combines: the same questions
        (single pairs, or K references at the same K), the same forgeries, not a fusion itself."""
        return (
            self.method == "fusion"
            and other.method != "fusion"
            and other.forgeries == self.forgeries
            and other.references == self.references
            and (not self.references or other.k == self.k)
        )

    @property
    def threshold_carries_over(self) -> bool:
        """Whether a threshold stored at training time (single pairs' raw distances) applies: the
        spread-corrected, writer-dependent and aligned scores have scales of their own."""
        return self.method in ("single", "mean") and not self.aligned

    def to_dict(self) -> dict:
        return asdict(self)


def standard_protocols(
    k: int = 5,
    *,
    aligned: bool = False,
    writer_dependent: bool = False,
    curve_ks=(),
    forgeries=FORGERIES,
    fusion: bool = False,
) -> list[Protocol]:
    """The protocols an evaluation reports: single pairs and K references by each method, for
    skilled and random forgeries (each again aligned with `aligned`); `curve_ks` adds each
    method at those K on skilled forgeries (how EER falls with K); `fusion` adds, for single pairs
    and for K references, the fusion of those scorers where there are two or more."""
    methods = ["mean", *(["spread"] if k >= 2 else []), *(["wd"] if writer_dependent else [])]
    protocols = []
    for align in (False, True) if aligned else (False,):
        for kind in forgeries:
            protocols += [Protocol("single", 1, kind, align)]
            protocols += [Protocol(method, k, kind, align) for method in methods]
    if fusion:
        for kind in forgeries:
            for fused in (Protocol("fusion", 1, kind), Protocol("fusion", k, kind)):
                if sum(fused.fuses(p) for p in protocols) >= 2:
                    protocols.append(fused)
    for curve_k in curve_ks:
        for method in ("mean", *(["spread"] if curve_k >= 2 else []), *(["wd"] if writer_dependent else [])):
            protocols.append(Protocol(method, curve_k, "skilled", False))
    return list(dict.fromkeys(protocols))


def usable(protocols, *manifests) -> list[Protocol]:
    """The protocols whose K leaves a questioned genuine signature for some writer of every manifest."""

    def fits(k):
        return all((m[m["genuine"]].groupby("writer").size() > k).any() for m in manifests)

    return [p for p in protocols if not p.references or fits(p.k)]


@dataclass
class Features:
    """One set of writers ready to score: its manifest, each image's features, and (for aligned
    protocols) every image's turns and shifts, (V, N, ...) with [0] the images as they are."""

    manifest: pd.DataFrame
    plain: np.ndarray
    variants: np.ndarray | None = None

    def __post_init__(self):
        self.manifest = self.manifest.reset_index(drop=True)
        if len(self.plain) != len(self.manifest):
            raise ValueError(f"{len(self.plain)} feature rows for {len(self.manifest)} images")
        if self.variants is not None and (np.ndim(self.variants) < 3 or len(self.variants[0]) != len(self.plain)):
            raise ValueError(
                f"aligned features must be (variants, {len(self.plain)} images, ...), "
                f"not shape {np.shape(self.variants)}"
            )

    def of(self, protocol: Protocol) -> np.ndarray:
        if not protocol.aligned:
            return self.plain
        if self.variants is None:
            raise ValueError(f"{protocol.label} needs aligned features (sigkit.align.embed_variants)")
        return self.variants


def protocol_scores(
    protocol: Protocol,
    features: Features,
    *,
    seed: int = 0,
    draws: int = 1,
    scorer=None,
    background: np.ndarray | None = None,
    settings=None,
) -> pd.DataFrame:
    """The questions of `protocol` on `features`' writers with their scores (lower: more genuine):
    writer (the claimed one), row, label (1 genuine), distance, draw (and kind for single pairs).
    K references are drawn `draws` times (the first draw the one of `draws=1`); `wd` needs the
    `background` (features of other writers' genuine signatures) and the classifier `settings`."""
    values = features.of(protocol)
    if protocol.method == "single":
        pairs = pair_scores(values, features.manifest, seed=seed, scorer=scorer)
        return pairs[pairs["kind"].isin(["genuine", protocol.forgeries])].assign(draw=0)
    if protocol.method == "wd":
        if background is None or settings is None:
            raise ValueError("writer-dependent scores need background features and classifier settings")
        return wd_scores(
            values,
            features.manifest,
            background,
            protocol.k,
            settings,
            seed=seed,
            draws=draws,
            forgeries=protocol.forgeries,
            aligned=protocol.aligned,
        )
    return reference_scores(
        values,
        features.manifest,
        protocol.k,
        seed=seed,
        draws=draws,
        scorer=scorer,
        forgeries=protocol.forgeries,
        spread_correction=protocol.method == "spread",
    )


def measure(
    test: pd.DataFrame, val: pd.DataFrame | None, threshold: float | None = None, n_boot: int = 0, seed: int = 0
) -> dict:
    """The figures of one protocol's test scores: EER per draw of the references (mean, std) and
    of all draws pooled, ROC AUC, and Accuracy, Precision, Recall, F1, FAR, FRR at the threshold
    chosen beforehand: the EER point of the validation scores `val` (all draws pooled), or the
    given `threshold` when there are no validation writers. With `n_boot`, 95 % intervals of the
    pooled EER and the accuracy over resampled test writers."""
    out = {}
    if val is not None:
        out["val_eer"], threshold = eer(val["distance"], val["label"])
    elif threshold is None:
        raise ValueError("a threshold needs validation scores or a given threshold; never the test set's own")
    each = summarise_draws(test)
    out.update(
        eer=each["mean"],
        eer_std=each["std"],
        eer_pooled=each["pooled"],
        draws=len(each["draws"]),
        writers=int(test["writer"].nunique()),
        auc=roc_auc(test["distance"], test["label"]),
        threshold=float(threshold),
        **at_threshold(test["distance"], test["label"], threshold),
    )
    if n_boot:
        statistics = {
            "eer_ci": lambda distances, labels: eer(distances, labels)[0],
            "accuracy_ci": lambda distances, labels: at_threshold(distances, labels, threshold)["accuracy"],
        }
        out.update({name: list(bounds) for name, bounds in bootstrap_intervals(test, statistics, n_boot, seed).items()})
    return out


@dataclass(frozen=True)
class FusionRule:
    """How several scores of the same question become one: each z-normalised by `centre` and
    `scale` (its validation scores' mean and spread), then combined `weights`-weighted, plus
    `intercept`. Learned on validation writers (`FusionRule.fit`), applied anywhere (`apply`,
    `sigkit verify --method fusion` reads it from the model card). Lower fused scores are more genuine."""

    members: tuple  # what each column is, e.g. ("distance", "wd", "wd-aligned") or protocol labels
    centre: tuple
    scale: tuple
    weights: tuple  # on the z-normalised scores
    intercept: float = 0.0
    combine: str = "mean"  # "mean" (equal weights) or "logistic" (fitted)

    @classmethod
    def fit(
        cls, values: np.ndarray, labels, members, seed: int = 0, groups=None, folds: int = 5
    ) -> tuple["FusionRule", dict]:
        """The rule for `values` (questions x scorers) with `labels` (1 genuine): the plain mean of
        the z-normalised scores, or a logistic regression of them (genuine against forged, classes
        balanced), whichever has the lower EER (the mean on a tie); and the EER of each candidate.

        With `groups` (each question's writer), the EERs compared are held-out ones: the writers
        split into `folds` folds, each fold scored by the candidate fitted on the others (a
        regression always wins on the scores it was fitted to, so an in-sample comparison would
        pick it even where it overfits a few writers). Without, the EERs on these same scores."""
        values, labels = np.asarray(values, np.float64), np.asarray(labels).astype(int)
        if values.ndim != 2 or values.shape[1] < 2:
            raise ValueError(f"a fusion needs two scorers or more, not {values.shape[1:] or 'one'}")
        candidates = cls._candidates(values, labels, members, seed)
        if groups is not None and len(np.unique(groups)) >= 2:
            held_out = cls._held_out_scores(values, labels, members, seed, np.asarray(groups), folds)
            eers = {name: eer(scores, labels)[0] for name, scores in held_out.items()}
        else:
            eers = {name: eer(rule.apply(values), labels)[0] for name, rule in candidates.items()}
        chosen = min(candidates, key=lambda name: (eers[name], name != "mean"))
        return candidates[chosen], {name: float(value) for name, value in eers.items()}

    @classmethod
    def _candidates(cls, values: np.ndarray, labels: np.ndarray, members, seed: int) -> dict:
        """Both rules fitted on `values`: "mean" and "logistic"."""
        from sklearn.linear_model import LogisticRegression

        centre, scale = values.mean(axis=0), values.std(axis=0) + 1e-12
        z = (values - centre) / scale
        n = values.shape[1]
        common = dict(members=tuple(members), centre=tuple(map(float, centre)), scale=tuple(map(float, scale)))
        out = {"mean": cls(**common, weights=(1.0 / n,) * n, combine="mean")}
        if len(np.unique(labels)) == 2:
            logistic = LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed).fit(z, labels)
            out["logistic"] = cls(
                **common,
                weights=tuple(float(-w) for w in logistic.coef_[0]),
                intercept=float(-logistic.intercept_[0]),
                combine="logistic",
            )
        return out

    @classmethod
    def _held_out_scores(cls, values, labels, members, seed: int, groups: np.ndarray, folds: int) -> dict:
        """Each question scored by each candidate fitted without its writer's fold (folds of
        writers drawn by `seed`)."""
        writers = np.unique(groups)
        fold_of = dict(zip(writers, np.random.default_rng(seed).permutation(len(writers)) % min(folds, len(writers))))
        fold = np.array([fold_of[g] for g in groups])
        out = {"mean": np.zeros(len(values)), "logistic": np.zeros(len(values))}
        for f in np.unique(fold):
            held, kept = fold == f, fold != f
            fitted = cls._candidates(values[kept], labels[kept], members, seed)
            for name in out:
                out[name][held] = fitted.get(name, fitted["mean"]).apply(values[held])
        return out

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The fused score of each row of `values` (questions x scorers, in the order of `members`)."""
        values = np.asarray(values, np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.members):
            raise ValueError(f"the fusion of {list(self.members)} needs {len(self.members)} scores a question")
        z = (values - np.asarray(self.centre)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights) + self.intercept

    def to_dict(self) -> dict:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "FusionRule":
        fields = ("members", "centre", "scale", "weights")
        return cls(**{k: tuple(v) if k in fields else v for k, v in values.items() if k in cls.__dataclass_fields__})


def side_by_side(scores_by: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """(the first scorer's questions, questions x scorers) of scores of the same questions: the
    scorers draw their questions from the same seeded generator, so the same rows in the same
    order (checked; a ValueError names the scorer that differs)."""
    names = list(scores_by)
    first = scores_by[names[0]].reset_index(drop=True)
    keys = QUESTION_KEYS["row" in first] + ["label"]
    asked = first[keys].to_numpy()
    columns = []
    for name in names:
        frame = scores_by[name]
        if len(frame) != len(first) or not np.array_equal(frame[keys].to_numpy(), asked):
            raise ValueError(f"{_named(name)} does not score the questions of {_named(names[0])}")
        columns.append(frame["distance"].to_numpy(np.float64))
    return first, np.stack(columns, axis=1)


def _named(scorer) -> str:
    """How a fusion names one of its scorers: a protocol's label, or the name it was given."""
    return scorer.label if isinstance(scorer, Protocol) else str(scorer)


def fuse(members: dict, val_members: dict, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(test scores, validation scores, how) of the fusion of `members` (protocol -> test scores of
    the same questions; `val_members` their validation scores), by the `FusionRule` fitted on the
    validation scores. The test writers are never seen: normalisation, weights and the choice
    between mean and logistic regression (by their EERs held out over folds of the validation
    writers) come from the validation writers alone."""
    protocols = list(members)
    if len(protocols) < 2:
        raise ValueError(f"a fusion needs two scorers or more, not {len(protocols)}")
    test, test_values = side_by_side(members)
    val, val_values = side_by_side({p: val_members[p] for p in protocols})
    rule, val_eers = FusionRule.fit(
        val_values, val["label"], [_named(p) for p in protocols], seed=seed, groups=val["writer"].to_numpy()
    )
    how = {
        "fusion": rule.combine,
        "members": list(rule.members),
        "weights": list(rule.weights),  # on the z-normalised distances
        "val_eer": val_eers,
    }
    return test.assign(distance=rule.apply(test_values)), val.assign(distance=rule.apply(val_values)), how


def fusion_gain(member: pd.DataFrame, fused: pd.DataFrame, n_boot: int = 0, seed: int = 0) -> dict:
    """How much lower the fused EER is than `member`'s on the same questions (EER mean over the
    draws, in points of rate: positive, the fusion is better), with `n_boot` a paired 95 %
    interval over resampled test writers (the same writers drawn for both)."""

    def mean_over_draws(frame: pd.DataFrame) -> float:
        draws, distance, label = (frame[c].to_numpy() for c in ("draw", "distance", "label"))
        return float(np.mean([eer(distance[draws == d], label[draws == d])[0] for d in np.unique(draws)]))

    out = {"gain": mean_over_draws(member) - mean_over_draws(fused)}
    if n_boot:
        low, high = writer_bootstrap(
            [member, fused], lambda sets: mean_over_draws(sets[0]) - mean_over_draws(sets[1]), n_boot, seed
        )
        out["gain_ci"] = [low, high]
    return out


def fuse_across(evaluations: dict, *, seed: int = 0, n_boot: int = 0) -> pd.DataFrame:
    """Several models' evaluations of the same writers (`name -> Evaluation`, the same seed and
    draws, so the same questions) fused, thresholds and weights from their validation writers:
    for each protocol every model scored, the models' scores of it fused; and for each set of
    questions (single pairs, or K references; skilled or random), every scorer of every model
    asking them. One row each: label, members, the fusion's figures (`measure`), the member the
    validation writers rank first and the fusion's paired gain over it (`fusion_gain`)."""
    names = list(evaluations)
    common = [
        p
        for p in evaluations[names[0]].val_scores
        if p.method != "fusion" and all(p in e.scores and p in e.val_scores for e in evaluations.values())
    ]
    groups = {f"{p.label}, {len(names)} models": [(name, p) for name in names] for p in common}
    for fused in dict.fromkeys(Protocol("fusion", p.k if p.references else 1, p.forgeries) for p in common):
        members = [(name, p) for p in common if fused.fuses(p) for name in names]
        if len(members) > len(names):
            groups[f"{fused.label}, every scorer of {len(names)} models"] = members
    rows = []
    for label, members in groups.items():
        test = {f"{name}: {p.label}": evaluations[name].scores[p] for name, p in members}
        val = {f"{name}: {p.label}": evaluations[name].val_scores[p] for name, p in members}
        fused_test, fused_val, how = fuse(test, val, seed=seed)
        best = min(val, key=lambda m: eer(val[m]["distance"], val[m]["label"])[0])
        rows.append(
            {
                "label": label,
                **measure(fused_test, fused_val, n_boot=n_boot, seed=seed),
                "best_member": best,
                "best_member_eer": summarise_draws(test[best])["mean"],
                **fusion_gain(test[best], fused_test, n_boot=n_boot, seed=seed),
                "classifier": how,
            }
        )
    return pd.DataFrame(rows)


def evaluate(
    test: Features,
    val: Features | None,
    protocols,
    *,
    threshold: float | None = None,
    seed: int = 0,
    draws: int = 10,
    n_boot: int = 0,
    scorer=None,
    background: np.ndarray | None = None,
    aligned_background: np.ndarray | None = None,
    choice_draws: int = 1,
    progress=None,
) -> "Evaluation":
    """Every protocol of `protocols` on the `test` writers, thresholds from the `val` writers.

    Without validation writers, `threshold` (the one stored at training time) serves the
    protocols it carries over to (`Protocol.threshold_carries_over`); the others are left out.
    K references are drawn `draws` times on both sides. The writer-dependent protocols need
    `background` (and use `aligned_background`, the background with its own turns and shifts,
    for their aligned form where given); each (K, forgeries, aligned) gets its classifier's kind
    and C chosen on `choice_draws` draws of the validation writers. `progress(message)` is told
    what is being scored, one protocol at a time."""
    protocols = list(dict.fromkeys(protocols))
    if val is None:
        if threshold is None:
            raise ValueError("no validation writers and no stored threshold: nothing to choose a threshold on")
        protocols = [p for p in protocols if p.threshold_carries_over]
    if any(p.method == "wd" for p in protocols) and (background is None or val is None):
        raise ValueError("writer-dependent protocols need background features and validation writers")
    # a fusion comes after the scorers it combines
    protocols = [p for p in protocols if p.method != "fusion"] + [p for p in protocols if p.method == "fusion"]
    rows, scores, val_scores, chosen = [], {}, {}, {}
    for number, protocol in enumerate(protocols, 1):
        if progress:
            progress(f"scoring {number}/{len(protocols)}: {protocol.label}")
        common = dict(seed=seed, draws=1 if protocol.method == "single" else draws, scorer=scorer)
        settings = None
        if protocol.method == "fusion":
            members = [p for p in scores if protocol.fuses(p)]
            if len(members) < 2:
                continue  # nothing to combine among the protocols asked for
            scores[protocol], val_scores[protocol], how = fuse(
                {p: scores[p] for p in members}, {p: val_scores[p] for p in members}, seed=seed
            )
            figures = measure(scores[protocol], val_scores[protocol], n_boot=n_boot, seed=seed)
            # the scorer the validation writers would have picked alone: what the fusion must beat
            best = min(members, key=lambda p: eer(val_scores[p]["distance"], val_scores[p]["label"])[0])
            how["best_member"] = best.label
            how.update(fusion_gain(scores[best], scores[protocol], n_boot=n_boot, seed=seed))
            rows.append(
                {
                    **protocol.to_dict(),
                    "label": protocol.label,
                    **figures,
                    "threshold_from": "validation writers",
                    "classifier": how,
                }
            )
            continue
        if protocol.method == "wd":
            aligned_negatives = protocol.aligned and aligned_background is not None
            common["background"] = aligned_background if aligned_negatives else background
            key = (protocol.k, protocol.forgeries, protocol.aligned)
            if key not in chosen:
                chosen[key] = choose_settings(
                    val.of(protocol),
                    val.manifest,
                    common["background"],
                    protocol.k,
                    seed=seed,
                    forgeries=protocol.forgeries,
                    aligned=protocol.aligned,
                    draws=choice_draws,
                )[0]
            settings = common["settings"] = chosen[key]
        scores[protocol] = protocol_scores(protocol, test, **common)
        if val is not None:
            val_scores[protocol] = protocol_scores(protocol, val, **common)
        figures = measure(scores[protocol], val_scores.get(protocol), threshold, n_boot=n_boot, seed=seed)
        rows.append(
            {
                **protocol.to_dict(),
                "label": protocol.label,
                **figures,
                "threshold_from": "validation writers" if val is not None else "model card",
                "classifier": settings.to_dict() if settings is not None else None,
            }
        )
    return Evaluation(pd.DataFrame(rows), scores, val_scores)


@dataclass
class Evaluation:
    """One evaluation: `table` has a row per protocol (method, k, forgeries, aligned, label, the
    figures of `measure`, threshold_from, classifier); `scores` / `val_scores` hold each
    protocol's test and validation scores for the figures; `embeddings` what was embedded."""

    table: pd.DataFrame
    scores: dict
    val_scores: dict
    embeddings: dict = field(default_factory=dict, repr=False)

    def protocols(self) -> list[Protocol]:
        return list(self.scores)

    def row(self, method: str = "single", k: int = 1, forgeries: str = "skilled", aligned: bool = False) -> dict:
        """The figures of one protocol (KeyError naming it when it was not scored)."""
        wanted = Protocol(method, k, forgeries, aligned)
        match = self.table[
            (self.table["method"] == method)
            & (self.table["k"] == k)
            & (self.table["forgeries"] == forgeries)
            & (self.table["aligned"] == aligned)
        ]
        if match.empty:
            raise KeyError(f"{wanted.label} was not scored in this evaluation")
        return match.iloc[0].to_dict()

    def ranked(self, k: int, forgeries: str = "skilled") -> pd.DataFrame:
        """The K-reference decisions on `forgeries` (every method scored at that K: plain, aligned,
        fusion), best first by `choice_eer`: the validation EER, except for a fusion, whose weights
        were fitted on those same writers and so look better there than they are: its EER held out
        over folds of the validation writers (`FusionRule.fit`)."""
        part = self.table[(self.table["k"] == k) & (self.table["forgeries"] == forgeries)]
        part = part[part["method"] != "single"]
        if "val_eer" not in part or part["val_eer"].isna().all():
            raise KeyError(f"no {k}-reference decision on {forgeries} forgeries was scored with validation writers")

        def choice_eer(row) -> float:
            if row["method"] == "fusion":
                return float(row["classifier"]["val_eer"][row["classifier"]["fusion"]])
            return float(row["val_eer"])

        return part.assign(choice_eer=part.apply(choice_eer, axis=1)).sort_values("choice_eer", kind="stable")

    def chosen(self, k: int, forgeries: str = "skilled") -> dict:
        """The row of the K-reference decision the validation writers pick (`ranked`'s first): the
        one to report as "the best decision", since picking by test EER would fit the test writers."""
        return self.ranked(k, forgeries).iloc[0].to_dict()

    def has(self, protocol: Protocol) -> bool:
        return protocol in self.scores

    def pairs(self) -> pd.DataFrame:
        """The single pairs of every kind (genuine, skilled, random) with their distances."""
        single = [s for p, s in self.scores.items() if p.method == "single" and not p.aligned]
        return pd.concat(single).drop_duplicates(["a", "b"]).reset_index(drop=True) if single else pd.DataFrame()

    def per_writer(self, protocols=None) -> pd.DataFrame:
        """Each test writer's own EER under each of `protocols` (default: single pairs and the first
        K-reference protocol on skilled forgeries)."""
        if protocols is None:
            skilled = [p for p in self.scores if p.forgeries == "skilled" and not p.aligned]
            protocols = [next(p for p in skilled if p.method == method) for method in ("single", "mean")]
        frames = [per_writer_eer(self.scores[p]).assign(protocol=p.label) for p in protocols]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def curve(self, forgeries: str = "skilled", aligned: bool = False) -> pd.DataFrame:
        """Test EER (mean over draws) against K, one column per K-reference method (a fusion is
        scored at one K only: it is a row of the table, not a curve)."""
        table = self.table
        curves = ~table["method"].isin(["single", "fusion"])
        part = table[curves & (table["forgeries"] == forgeries) & (table["aligned"] == aligned)]
        methods = [m for m in METHODS if m in set(part["method"])]
        return part.pivot_table(index="k", columns="method", values="eer").reindex(columns=methods)

    def percent(self) -> pd.DataFrame:
        """The table for reading: rates in percent, intervals as "low-high", one row per protocol."""
        shown = self.table.set_index("label")
        rates = ["eer", "eer_std", "val_eer", "accuracy", "precision", "recall", "f1", "far", "frr"]
        out = 100 * shown[[c for c in rates if c in shown]].astype(float)
        if "eer_ci" in shown:
            out["eer 95% CI"] = [f"{100 * lo:.1f}-{100 * hi:.1f}" for lo, hi in shown["eer_ci"]]
        out["auc"] = shown["auc"]
        return out.round(2)

    def to_json(self) -> list[dict]:
        """The table as JSON-ready records (`metrics.json`'s `protocols`)."""
        return json_records(self.table)


def json_records(table: pd.DataFrame) -> list[dict]:
    """Records with plain Python numbers and NaN as None."""
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return [{key: _plain(value) for key, value in record.items()} for record in records]


def _plain(value):
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.floating):
        return float(value)
    return value
