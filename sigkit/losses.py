"""Contrastive losses on Euclidean distances between embeddings (Hadsell, Chopra, LeCun 2006).

Label convention, everywhere in sigkit: **1 = same writer, genuine pair** (the pair should be
close), **0 = forgery or other writer** (the pair should be at least `margin` apart):

    loss = y * d^2 + (1 - y) * max(margin - d, 0)^2

An optional `positive_margin` m+ (default 0: the loss above) stops pulling a genuine pair once it
is closer than m+: y * max(d - m+, 0)^2 (the "double-margin" contrastive loss), so a writer's
genuine signatures may keep some spread instead of collapsing onto one point.

Published Siamese code often flips this (1 = dissimilar); the tests pin it down on hand-computed
values.
"""

from __future__ import annotations

import keras
from keras import ops

from sigkit.matching import MatchSettings, all_pair_match_distances


def contrastive(y_true, distance, margin, positive_margin=0.0):
    y = ops.cast(ops.reshape(y_true, (-1,)), distance.dtype)
    d = ops.reshape(distance, (-1,))
    return y * ops.square(ops.relu(d - positive_margin)) + (1.0 - y) * ops.square(ops.relu(margin - d))


@keras.saving.register_keras_serializable(package="sigkit")
class ContrastiveLoss(keras.losses.Loss):
    """Pairs mode: `y_pred` is the (B,) or (B, 1) distance, `y_true` the (B,) label (1 = genuine pair)."""

    def __init__(self, margin: float = 1.0, positive_margin: float = 0.0, name: str = "contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)
        self.positive_margin = check_margins(margin, positive_margin)

    def call(self, y_true, y_pred):
        return contrastive(y_true, y_pred, self.margin, self.positive_margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "positive_margin": self.positive_margin}


def check_margins(margin, positive_margin) -> float:
    """The positive margin as a float; it must lie in [0, margin) or no pair is ever pushed or pulled."""
    if not 0.0 <= float(positive_margin) < float(margin):
        raise ValueError(f"positive_margin must be in [0, margin={margin}), got {positive_margin}")
    return float(positive_margin)


def pairwise_distances(embeddings, eps: float = 1e-9):
    """(B, D) -> (B, B) Euclidean distances, via the Gram matrix (one matmul, no (B, B, D) tensor)."""
    squared = ops.sum(ops.square(embeddings), axis=1)
    gram = ops.matmul(embeddings, ops.transpose(embeddings))
    return ops.sqrt(ops.maximum(squared[:, None] + squared[None, :] - 2.0 * gram, eps))


AVERAGES = ("all", "active")


@keras.saving.register_keras_serializable(package="sigkit")
class InBatchContrastiveLoss(keras.losses.Loss):
    """Batch mode: the contrastive loss over every useful pair inside a P x K batch.

    `y_pred` is the (B, D) embedding batch; `y_true` the (B, 2) int targets (writer id, genuine
    flag) of `sigkit.pairs.pk_dataset`. Each image goes through the tower once per step, and the
    loss sees B(B-1)/2 pairs instead of B/2. Pairs, upper triangle only:

        positive  same writer, both genuine                      -> max(d - positive_margin, 0)^2
        skilled   same writer, one genuine and one forgery       -> max(margin - d, 0)^2
        random    other writers, both genuine                    -> max(margin - d, 0)^2

    Forgery-forgery pairs and a forgery against another writer's genuine are masked out: they
    are not questions the verifier is ever asked. Each kind is averaged on its own and the three
    means are summed with weights, so the many random pairs of a batch do not drown the few
    positives. With `average="active"` each kind is averaged over its pairs that still cost
    something (the rest are already where the margins want them), so the loss does not fade as
    most pairs become easy.

    With `match` (the `MatchSettings` of a match tower, as a dict),
    `y_pred` is the (B, cells, C + 1) batch of match features and every pair's distance is the
    cross-matched one (`sigkit.matching`).
    """

    def __init__(
        self,
        margin: float = 1.0,
        skilled_weight: float = 1.0,
        random_weight: float = 1.0,
        positive_margin: float = 0.0,
        average: str = "all",
        match: dict | None = None,
        name: str = "in_batch_contrastive_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.match = MatchSettings(**match).to_dict() if match else None
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
        self.average = average
        self.margin = float(margin)
        self.positive_margin = check_margins(margin, positive_margin)
        self.skilled_weight = float(skilled_weight)
        self.random_weight = float(random_weight)

    def call(self, y_true, y_pred):
        writer = y_true[:, 0]
        genuine = ops.cast(y_true[:, 1], "bool")
        if self.match:
            distance = all_pair_match_distances(y_pred, MatchSettings(**self.match))
        else:
            distance = pairwise_distances(y_pred)
        size = ops.shape(y_pred)[0]
        upper = ops.triu(ops.ones((size, size), dtype="bool"), k=1)
        same_writer = ops.equal(writer[:, None], writer[None, :])
        both_genuine = ops.logical_and(genuine[:, None], genuine[None, :])
        one_forged = ops.not_equal(genuine[:, None], genuine[None, :])
        positive = upper & same_writer & both_genuine
        skilled = upper & same_writer & one_forged
        random = upper & ops.logical_not(same_writer) & both_genuine
        pull = ops.square(ops.relu(distance - self.positive_margin))
        push = ops.square(ops.relu(self.margin - distance))
        if self.average == "active":
            positive = positive & (pull > 0)
            skilled = skilled & (push > 0)
            random = random & (push > 0)
        return (
            masked_mean(pull, positive)
            + self.skilled_weight * masked_mean(push, skilled)
            + self.random_weight * masked_mean(push, random)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "skilled_weight": self.skilled_weight,
            "random_weight": self.random_weight,
            "positive_margin": self.positive_margin,
            "average": self.average,
            "match": self.match,
        }


def masked_mean(values, mask):
    mask = ops.cast(mask, values.dtype)
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)
