"""Cross-matching: compare two signatures cell by cell instead of as two global embeddings.

A skilled forger copies the overall shape and gets local detail wrong: a loop a little too
round, a stroke ending in the wrong place. A tower that squeezes each signature into one vector
averages that detail away before the two signatures ever meet. The match head keeps it:

    image -> conv blocks (+ CBAM) -> cells (h x w grid): a unit-length descriptor per cell
                                                        + a weight logit per cell

Each cell n of signature A attends over the cells m of signature B (cross-attention),

    attention[n, m] = softmax_m( cos(a_n, b_m) / temperature - locality * |pos_n - pos_m|^2 )

and its cost is the expected squared distance to the cells it attends to, 2 - 2 sum_m attention
cos(a_n, b_m): close to the distance to the best-matching nearby cell (a learned, soft version
of scoring over small shifts), large where B has nothing like A's stroke nearby. The costs are
pooled with A's own learned cell weights (softmax over cells: the network decides which cells
count, e.g. the ink and not the empty canvas), and the same is done from B to A:

    d(A, B)^2 = 1/2 [ sum_n w_a[n] cost_AB[n] + sum_m w_b[m] cost_BA[m] ]

so d is symmetric, small for a signature against itself (0 when every cell attends to itself
alone) and at most 2, like the Euclidean distance between unit-length embeddings: the
contrastive losses, thresholds and every scoring protocol apply unchanged. The attention has no
weights of its own; what it matches and how much each cell counts are learned by the tower,
which still runs once per image (in-batch training scores all B x B pairs from B tower passes).
Measured against one embedding per signature on CEDAR: README, Results, and docs/experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np
from keras import layers, ops

HEADS = ("embedding", "match")


def cell_offsets(grid) -> np.ndarray:
    """(N, N) squared distances between the cells of an h x w grid, in cells (row-major order)."""
    height, width = (int(v) for v in grid)
    rows, cols = np.divmod(np.arange(height * width), width)
    return ((rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2).astype(np.float32)


@dataclass(frozen=True)
class MatchHead:
    """The match head's settings, `Config.model.match` (flat names `match_dim`, `match_pool`, ...):
    the descriptor size of a cell, the pooling of the last feature map into cells, the softness of
    the matching and its preference for nearby cells, and the share of d^2 a global embedding
    takes (0: the cells alone)."""

    dim: int = 32
    pool: int = 2
    temperature: float = 0.3  # chosen on CEDAR's validation writers (docs/experiments.md)
    locality: float = 0.5
    global_weight: float = 0.0

    FLAT_NAMES: ClassVar[dict[str, str]] = {
        "dim": "match_dim",
        "pool": "match_pool",
        "temperature": "match_temperature",
        "locality": "match_locality",
        "global_weight": "match_global",
    }


@dataclass(frozen=True)
class MatchSettings:
    """How two signatures' match features are compared (what a saved model carries).

    `global_weight` > 0 puts a global unit-length embedding of each signature in row 0 of its
    features, and d^2 = global_weight * |g_a - g_b|^2 + (1 - global_weight) * the cells' d^2:
    the overall shape and the local detail in one distance.
    """

    grid: tuple[int, int]
    temperature: float = MatchHead.temperature
    locality: float = MatchHead.locality
    global_weight: float = MatchHead.global_weight
    members: int = 1  # > 1: an ensemble's features, the members' rows one after the other; d^2 is their mean

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(int(v) for v in self.grid))
        if self.temperature <= 0 or self.locality < 0 or not 0.0 <= self.global_weight < 1.0 or self.members < 1:
            raise ValueError(
                f"match temperature must be > 0, locality >= 0, global_weight in [0, 1) and members >= 1, "
                f"got {self.temperature}, {self.locality}, {self.global_weight}, {self.members}"
            )

    @property
    def offsets(self) -> np.ndarray:
        return cell_offsets(self.grid)

    def to_dict(self) -> dict:
        return {
            "grid": list(self.grid),
            "temperature": float(self.temperature),
            "locality": float(self.locality),
            "global_weight": float(self.global_weight),
            "members": int(self.members),
        }

    @property
    def rows(self) -> int:
        """Rows of one member's features: the cells, and the global embedding's row if any."""
        return self.grid[0] * self.grid[1] + (1 if self.global_weight else 0)


def per_member(features, settings: MatchSettings):
    """(P, M x rows, C + 1) ensemble features -> (P x M, rows, C + 1), one member's features a row."""
    if settings.members == 1:
        return features
    return ops.reshape(features, (-1, settings.rows, ops.shape(features)[-1]))


def member_mean(values, settings: MatchSettings):
    """(P x M, ...) per-member values -> (P, ...), their mean over the members."""
    if settings.members == 1:
        return values
    return ops.mean(ops.reshape(values, (-1, settings.members, *values.shape[1:])), axis=1)


def split_features(features, settings: MatchSettings):
    """(..., [1 +] N, C + 1) match features -> the global embedding (..., C) or None, the unit cell
    descriptors (..., N, C) and the cell weights (..., N), summing to 1."""
    glob = features[..., 0, :-1] if settings.global_weight else None
    cells = features[..., 1:, :] if settings.global_weight else features
    return glob, cells[..., :-1], ops.softmax(cells[..., -1], axis=-1)


def directed_costs(similarity, settings: MatchSettings):
    """(..., N, M) cosine similarities -> (..., N) expected squared distance of each cell of the
    first signature to the cells of the second it attends to."""
    logits = similarity / settings.temperature - settings.locality * settings.offsets
    return 2.0 - 2.0 * ops.sum(ops.softmax(logits, axis=-1) * similarity, axis=-1)


def cell_contributions(features_a, features_b, settings: MatchSettings):
    """(P, ., C + 1) twice -> (P, N), (P, N): each cell's share of the cells' part of d^2 (weight x
    cost, halved, scaled by 1 - global_weight), in A and in B: the map of where a pair differs.
    For an ensemble, the members' mean."""
    in_a, in_b = _cell_contributions(per_member(features_a, settings), per_member(features_b, settings), settings)
    return member_mean(in_a, settings), member_mean(in_b, settings)


def _cell_contributions(features_a, features_b, settings: MatchSettings):
    _, desc_a, weight_a = split_features(features_a, settings)
    _, desc_b, weight_b = split_features(features_b, settings)
    similarity = ops.einsum("pnc,pmc->pnm", desc_a, desc_b)
    scale = 0.5 * (1.0 - settings.global_weight)
    in_a = scale * weight_a * directed_costs(similarity, settings)
    in_b = scale * weight_b * directed_costs(ops.transpose(similarity, (0, 2, 1)), settings)
    return in_a, in_b


def match_distances(features_a, features_b, settings: MatchSettings, eps: float = 1e-9):
    """(P, ., C + 1) twice -> (P,) cross-matched distances of the pairs (a[i], b[i]); for an
    ensemble, the square root of the members' mean squared distance."""
    features_a, features_b = per_member(features_a, settings), per_member(features_b, settings)
    in_a, in_b = _cell_contributions(features_a, features_b, settings)
    squared = ops.sum(in_a, axis=-1) + ops.sum(in_b, axis=-1)
    if settings.global_weight:
        glob_a, glob_b = split_features(features_a, settings)[0], split_features(features_b, settings)[0]
        squared = squared + settings.global_weight * ops.sum(ops.square(glob_a - glob_b), axis=-1)
    return ops.sqrt(ops.maximum(member_mean(squared, settings), eps))


def all_pair_match_distances(features, settings: MatchSettings, eps: float = 1e-9):
    """(B, ., C + 1) -> (B, B) cross-matched distances of every pair in a batch (for the in-batch loss)."""
    if settings.members > 1:
        raise ValueError("an ensemble's members are trained one by one; the in-batch loss takes one tower's features")
    glob, desc, weight = split_features(features, settings)
    similarity = ops.einsum("anc,bmc->abnm", desc, desc)
    directed = ops.sum(weight[:, None, :] * directed_costs(similarity, settings), axis=-1)
    squared = 0.5 * (1.0 - settings.global_weight) * (directed + ops.transpose(directed))
    if settings.global_weight:
        gram = ops.matmul(glob, ops.transpose(glob))
        norms = ops.sum(ops.square(glob), axis=-1)
        squared = squared + settings.global_weight * ops.maximum(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0)
    return ops.sqrt(ops.maximum(squared, eps))


class _CarriesMatchSettings(layers.Layer):
    """A layer whose configuration is a `MatchSettings`: the layers of the match head carry it, so
    a saved tower says how its features are compared."""

    default_members = 1

    def __init__(
        self,
        grid,
        temperature: float = MatchHead.temperature,
        locality: float = MatchHead.locality,
        global_weight: float = MatchHead.global_weight,
        members: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        members = self.default_members if members is None else members
        self.settings = MatchSettings(grid, temperature, locality, global_weight, members)

    def get_config(self):
        return {**super().get_config(), **self.settings.to_dict()}


@keras.saving.register_keras_serializable(package="sigkit")
class MatchFeatures(_CarriesMatchSettings):
    """The last layer of a match tower: (B, h, w, C) descriptors, (B, h, w, 1) weight logits and,
    with a global weight, a (B, C) global embedding -> (B, [1 +] h * w, C + 1) features. No
    weights; it carries the `MatchSettings`, so a tower alone says how its features are compared
    (`sigkit.matching.scorer_for`)."""

    def call(self, inputs):
        descriptors, logits = inputs[:2]
        joined = ops.concatenate([ops.cast(descriptors, "float32"), ops.cast(logits, "float32")], axis=-1)
        rows = ops.reshape(joined, (-1, self.settings.grid[0] * self.settings.grid[1], ops.shape(joined)[-1]))
        if self.settings.global_weight:
            glob = ops.cast(inputs[2], "float32")
            glob_row = ops.concatenate([glob, ops.zeros_like(glob[:, :1])], axis=-1)[:, None, :]
            rows = ops.concatenate([glob_row, rows], axis=1)
        return rows

    def compute_output_shape(self, input_shapes):
        cells = self.settings.grid[0] * self.settings.grid[1] + (1 if self.settings.global_weight else 0)
        return (input_shapes[0][0], cells, input_shapes[0][-1] + 1)


@keras.saving.register_keras_serializable(package="sigkit")
class CrossMatchDistance(_CarriesMatchSettings):
    """(B, ., C + 1) twice -> (B, 1): the cross-matched distance of a Siamese match model."""

    def call(self, inputs):
        a, b = inputs
        return match_distances(a, b, self.settings)[:, None]

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 1)


@keras.saving.register_keras_serializable(package="sigkit")
class MatchEnsemble(_CarriesMatchSettings):
    """The last layer of an ensemble of match towers: their (B, rows, C + 1) features joined along
    the rows pass through unchanged; it carries the `MatchSettings` with the member count."""

    default_members = 2

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def join_match_members(members: list[keras.Model], name: str = "tower") -> keras.Model:
    """Match towers trained apart as one tower whose squared distance is the members' mean."""
    settings = {match_layer(member).settings for member in members}
    if len(settings) > 1:
        raise ValueError(f"ensemble members must compare alike, got match settings {sorted(map(str, settings))}")
    single = settings.pop()
    if single.members != 1:
        raise ValueError("ensemble members must be single towers")
    image = keras.Input(shape=members[0].input_shape[1:], name="image")
    joined = layers.Concatenate(axis=1, name="member_features", dtype="float32")([member(image) for member in members])
    config = {**single.to_dict(), "members": len(members)}
    return keras.Model(image, MatchEnsemble(**config, name="match_ensemble", dtype="float32")(joined), name=name)


def match_head(features, head: MatchHead, *, dropout: float, global_cell: int = 4):
    """The match head on a tower's last (B, H, W, C) feature map: pool to cells, a 1 x 1 conv to
    unit-length descriptors and one to a weight logit per cell; with `head.global_weight`, also a
    unit-length global embedding of the same size (grid pooling of `global_cell` windows, dense)."""
    inputs = features
    if head.pool > 1:
        features = layers.AveragePooling2D(head.pool, name="match_pool")(features)
    if dropout:
        features = layers.Dropout(dropout, name="dropout")(features)
    grid = tuple(int(v) for v in features.shape[1:3])
    descriptors = layers.Conv2D(head.dim, 1, name="match_descriptor", dtype="float32")(features)
    descriptors = layers.UnitNormalization(axis=-1, name="match_normalize", dtype="float32")(descriptors)
    logits = layers.Conv2D(1, 1, name="match_weight", dtype="float32")(features)
    parts = [descriptors, logits]
    if head.global_weight:
        pooled = layers.Flatten(name="flatten")(layers.AveragePooling2D(global_cell, name="grid_pool")(inputs))
        if dropout:
            pooled = layers.Dropout(dropout, name="global_dropout")(pooled)
        glob = layers.Dense(head.dim, name="embedding", dtype="float32")(pooled)
        parts.append(layers.UnitNormalization(name="l2_normalize", dtype="float32")(glob))
    features = MatchFeatures(
        grid, head.temperature, head.locality, head.global_weight, name="match_features", dtype="float32"
    )
    return features(parts)


def match_layer(tower: keras.Model) -> MatchFeatures | MatchEnsemble | None:
    """The layer ending a match tower (or an ensemble of them), with its `settings`; None for an
    embedding tower."""
    last = tower.layers[-1]
    return last if isinstance(last, (MatchFeatures, MatchEnsemble)) else None


class EuclideanScorer:
    """Distances between (N, D) embeddings; (V, N, D) aligned embeddings take the smallest over variants."""

    item_ndim = 1

    def pair(self, left, right, a, b) -> np.ndarray:
        """Distances of (left[a[i]], right[b[i]])."""
        return np.linalg.norm(left[a] - right[b], axis=-1)


class CrossMatchScorer:
    """Cross-matched distances between (N, [1 +] cells, C + 1) match features, in chunks of pairs."""

    item_ndim = 2

    def __init__(self, settings: MatchSettings, chunk: int = 2048):
        self.settings, self.chunk = settings, chunk

    def pair(self, left, right, a, b) -> np.ndarray:
        """Distances of (left[a[i]], right[b[i]])."""
        out = np.zeros(len(a), np.float32)
        for start in range(0, len(a), self.chunk):
            part = slice(start, start + self.chunk)
            out[part] = ops.convert_to_numpy(match_distances(left[a[part]], right[b[part]], self.settings))
        return out


def scorer_for(tower: keras.Model | None):
    """How the features of `tower` are compared: cross-matching for a match tower, Euclidean otherwise."""
    layer = match_layer(tower) if tower is not None else None
    return EuclideanScorer() if layer is None else CrossMatchScorer(layer.settings)


def feature_distance(tower: keras.Model, features_a, features_b):
    """Distance (P,) between two batches of `tower` outputs, in Keras ops (differentiable: the
    heatmaps take its gradient): cross-matched for a match tower, Euclidean otherwise."""
    layer = match_layer(tower)
    if layer is None:
        difference = ops.cast(features_a, "float32") - ops.cast(features_b, "float32")
        return ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-12)  # finite gradient at d = 0
    return match_distances(features_a, features_b, layer.settings, eps=1e-12)


def pair_distances(features, a, b, scorer=None) -> np.ndarray:
    """Distances of the pairs (a[i], b[i]) under `scorer` (None: Euclidean). Features of one
    image per row give the plain distance; a leading axis of variants (turns and shifts,
    `sigkit.align`) gives the smallest distance between one image as it is and the other under
    any variant, either way round."""
    scorer = scorer or EuclideanScorer()
    features = np.asarray(features)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if features.ndim == scorer.item_ndim + 1:
        return scorer.pair(features, features, a, b)
    if features.ndim != scorer.item_ndim + 2:
        raise ValueError(
            f"features of shape {features.shape} do not fit this scorer "
            f"(one image is {scorer.item_ndim}-D; aligned features add one leading axis)"
        )
    as_is = features[0]
    best = np.full(len(a), np.inf, np.float32)
    for variant in features:
        best = np.minimum(best, scorer.pair(as_is, variant, a, b))
        best = np.minimum(best, scorer.pair(variant, as_is, a, b))
    return best
