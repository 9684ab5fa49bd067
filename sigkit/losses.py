"""Contrastive losses on Euclidean distances between embeddings (Hadsell, Chopra, LeCun 2006).

Label convention, everywhere in sigkit: **1 = same writer, genuine pair** (the pair should be
close), **0 = forgery or other writer** (the pair should be at least `margin` apart):

    loss = y * d^2 + (1 - y) * max(margin - d, 0)^2

Published Siamese code often flips this (1 = dissimilar); the tests pin it down on hand-computed
values.
"""

from __future__ import annotations

import keras
from keras import ops


def contrastive(y_true, distance, margin):
    y = ops.cast(ops.reshape(y_true, (-1,)), distance.dtype)
    d = ops.reshape(distance, (-1,))
    return y * ops.square(d) + (1.0 - y) * ops.square(ops.relu(margin - d))


@keras.saving.register_keras_serializable(package="sigkit")
class ContrastiveLoss(keras.losses.Loss):
    """Pairs mode: `y_pred` is the (B,) or (B, 1) distance, `y_true` the (B,) label (1 = genuine pair)."""

    def __init__(self, margin: float = 1.0, name: str = "contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return contrastive(y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
