"""Thresholds for the references a user has: one operating point per decision method and per K.

A threshold chosen for five references is the wrong one for one: with fewer references the mean
distance to them is noisier and the writer-dependent classifier knows less of the writer, so
genuine signatures score worse and a K = 5 threshold rejects them. `calibrate` chooses, on the
validation writers only, the EER point of skilled forgeries for each way `sigkit verify` decides
(`VERIFY_METHODS`: mean distance to the references, the writer-dependent classifier plain and in
register, and their fusion, `sigkit.scoring.FusionRule`) at each K of `CARD_KS`, and keeps what a
user should know of it: the threshold, the false acceptance and false rejection rates there, and
how many writers and questions it rests on. The shipped tower's card stores the table
(`sigkit.shipped.build`); `point_for` picks the entry for the K a user gave, the nearest stored K
below when it falls between (fewer references than given: the threshold errs towards rejecting
a forgery, never towards accepting one it was not chosen for).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sigkit.metrics import at_threshold, eer
from sigkit.scoring import Features, FusionRule, Protocol, protocol_scores, side_by_side, usable

CARD_KS = (1, 2, 3, 5, 12)
CARD_ENTRY = "operating_points"  # where a model card keeps the table
# each verify method as the protocol the evaluation scores: K references, skilled forgeries
MEMBERS = {
    "distance": lambda k: Protocol("mean", k),
    "wd": lambda k: Protocol("wd", k),
    "wd-aligned": lambda k: Protocol("wd", k, aligned=True),
}
VERIFY_METHODS = (*MEMBERS, "fusion")


@dataclass(frozen=True)
class OperatingPoint:
    """Where one method decides for K references: accept a score at or below `threshold`; at it,
    the validation writers' skilled forgeries are accepted at rate `far` and their genuine
    signatures rejected at rate `frr` (`writers` writers, `questions` questions over the draws)."""

    method: str
    k: int
    threshold: float
    far: float
    frr: float
    val_eer: float
    writers: int
    questions: int
    fusion: FusionRule | None = None  # how the members' scores are combined (method "fusion")

    def text(self) -> str:
        return (
            f"threshold chosen for {self.k} reference{'s' if self.k > 1 else ''} on {self.writers} validation "
            f"writers' skilled forgeries: FAR {100 * self.far:.1f} %, FRR {100 * self.frr:.1f} %"
        )

    def to_dict(self) -> dict:
        values = asdict(self)
        values["fusion"] = self.fusion.to_dict() if self.fusion is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "OperatingPoint":
        values = dict(values)
        fusion = values.pop("fusion", None)
        return cls(**values, fusion=FusionRule.from_dict(fusion) if fusion else None)


def operating_point(method: str, k: int, scores, fusion: FusionRule | None = None) -> OperatingPoint:
    """The EER point of `scores` (columns distance, label, writer) as an `OperatingPoint`."""
    val_eer, threshold = eer(scores["distance"], scores["label"])
    rates = at_threshold(scores["distance"], scores["label"], threshold)
    return OperatingPoint(
        method=method,
        k=int(k),
        threshold=float(threshold),
        far=float(rates["far"]),
        frr=float(rates["frr"]),
        val_eer=float(val_eer),
        writers=int(scores["writer"].nunique()),
        questions=int(len(scores)),
        fusion=fusion,
    )


def calibrate(
    val: Features,
    *,
    settings: dict | None = None,
    background: np.ndarray | None = None,
    aligned_background: np.ndarray | None = None,
    ks=CARD_KS,
    scorer=None,
    seed: int = 0,
    draws: int = 5,
    progress=None,
) -> list[OperatingPoint]:
    """The operating point of every method at every K of `ks` on the validation writers `val`
    (skilled forgeries, `draws` draws of the references pooled). The writer-dependent methods need
    `settings` ({"wd": WDSettings, "wd-aligned": WDSettings}) and the `background` (and, aligned,
    `aligned_background`; `val.variants` too); without them only the distance is calibrated. A
    fusion of the methods at hand is fitted at each K (its weights on these same writers). A K no
    validation writer has more genuine signatures than is left out."""
    settings = settings or {}
    methods = ["distance"]
    if background is not None:
        methods += [m for m in ("wd", "wd-aligned") if m in settings]
    if "wd-aligned" in methods and val.variants is None:
        methods.remove("wd-aligned")
    points = []
    for k in ks:
        if not usable([Protocol("mean", k)], val.manifest):
            continue
        scores = {}
        for method in methods:
            if progress:
                progress(f"calibrating {method} at K = {k}")
            protocol = MEMBERS[method](k)
            negatives = aligned_background if protocol.aligned and aligned_background is not None else background
            scores[method] = protocol_scores(
                protocol,
                val,
                seed=seed,
                draws=draws,
                scorer=scorer,
                background=negatives,
                settings=settings.get(method),
            )
            points.append(operating_point(method, k, scores[method]))
        if len(scores) >= 2:
            questions, values = side_by_side(scores)
            rule, _ = FusionRule.fit(
                values, questions["label"], list(scores), seed=seed, groups=questions["writer"].to_numpy()
            )
            points.append(operating_point("fusion", k, questions.assign(distance=rule.apply(values)), rule))
    return points


def points_table(points: list[OperatingPoint]) -> dict:
    """The card's form: {method: {"K": point}}."""
    table: dict = {}
    for point in points:
        table.setdefault(point.method, {})[str(point.k)] = point.to_dict()
    return table


def point_for(table: dict | None, method: str, k: int) -> OperatingPoint | None:
    """The stored operating point of `method` for `k` references: the largest stored K at or below
    `k`; None when the table has none for the method (a card without the table, or K below all)."""
    stored = (table or {}).get(method) or {}
    below = [int(key) for key in stored if int(key) <= k]
    return OperatingPoint.from_dict(stored[str(max(below))]) if below else None
