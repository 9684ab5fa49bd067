"""The Siamese network: one shared embedding tower, Euclidean distance between embeddings.

    image_a --\\                       /-- embedding_a --\\
               tower (shared weights)                    EuclideanDistance -> d
    image_b --/                       \\-- embedding_b --/

Two towers a user can pick by name:

- `"cbam"` (default): small VGG-style conv blocks with a CBAM attention layer (where: after the
  last block, after every block, or nowhere for the ablation), global average + max pooling, a
  dense embedding, optional L2 normalisation.
- `"signet"`: SigNet (Dey et al. 2017) as a baseline: conv 96@11x11/4, 256@5x5, 384@3x3,
  256@3x3, FC 1024, FC 128.

Every layer is a built-in or a registered sigkit class, so saved `.keras` files load with
`safe_mode=True` after `import sigkit`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers, ops

from sigkit.attention import CBAM
from sigkit.matching import HEADS, CrossMatchDistance, MatchHead, join_match_members, match_head, match_layer
from sigkit.preprocess import PreprocessConfig

ATTENTION_PLACES = ("last", "all", "none")
NORMS = ("batch", "group", "layer", "none")
POOLINGS = ("global", "grid")
TOWER_KINDS = ("cbam", "signet")


@dataclass(frozen=True)
class ModelConfig:
    """The tower, `Config.model`; its defaults are a tower a 2-core CPU trains in minutes.

    No normalisation layers (the fastest on a 2-core CPU, and on CEDAR no worse than batch or group norm) and
    grid pooling, which keeps where the strokes are as well as what they are. The `paper` profile
    (`sigkit.config`) has the full-size tower instead: two convs a block, 32-256 channels, batch
    norm, global pooling. Why each setting: docs/experiments.md, 2026-12-06.
    """

    tower: str = "cbam"  # "cbam" or "signet"
    widths: tuple[int, ...] = (16, 32, 64, 128)
    convs_per_block: int = 1
    attention: str = "last"  # "last", "all" or "none" (the ablation)
    embedding_dim: int = 128
    norm: str = "none"  # "batch", "group", "layer" or "none"
    pooling: str = "grid"  # "global" (average + max) or "grid" (cells of the last map, layout kept)
    grid_cell: int = 4  # grid pooling: side of a cell in feature-map pixels (4: 3 x 6 cells at 96 x 192)
    dropout: float = 0.2
    # "embedding" (one vector per signature, Euclidean distance) or "match" (cells of both
    # signatures cross-matched, `sigkit.matching`, with the settings of `match`)
    head: str = "embedding"
    match: MatchHead = field(default_factory=MatchHead)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))  # JSON gives a list

    def in_use(self) -> "ModelConfig":
        """This config with the settings its tower does not use at their defaults: two configs
        that build the same tower then compare equal (a resumed run may change the others)."""
        if self.tower == "signet":
            return ModelConfig(tower="signet", embedding_dim=self.embedding_dim)
        return self if self.head == "match" else dataclasses.replace(self, match=MatchHead())


@keras.saving.register_keras_serializable(package="sigkit")
class EuclideanDistance(layers.Layer):
    """(B, D), (B, D) -> (B, 1) Euclidean distance; `eps` keeps the gradient finite at d = 0."""

    def __init__(self, eps: float = 1e-9, **kwargs):
        super().__init__(**kwargs)
        self.eps = float(eps)

    def call(self, inputs):
        a, b = inputs
        return ops.sqrt(ops.maximum(ops.sum(ops.square(a - b), axis=-1, keepdims=True), self.eps))

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "eps": self.eps}


def _norm(kind: str, name: str):
    if kind == "batch":
        return layers.BatchNormalization(name=name)
    if kind == "group":
        return layers.GroupNormalization(groups=8, name=name)
    if kind == "layer":
        return layers.LayerNormalization(axis=[1, 2, 3], name=name)
    return None


def cbam_tower(
    input_shape=(*PreprocessConfig.image_size, 1),
    widths=ModelConfig.widths,
    convs_per_block: int = ModelConfig.convs_per_block,
    attention: str = ModelConfig.attention,
    reduction: int = 8,
    embedding_dim: int = ModelConfig.embedding_dim,
    l2_normalize: bool = True,
    dropout: float = ModelConfig.dropout,
    norm: str = ModelConfig.norm,
    pooling: str = ModelConfig.pooling,
    grid_cell: int = ModelConfig.grid_cell,
    head: str = ModelConfig.head,
    match: MatchHead = MatchHead(),
    name: str = "tower",
) -> keras.Model:
    """Conv blocks (3x3 convs, norm, ReLU, 2x2 max-pool) with CBAM, pooled to an embedding.

    `pooling="global"` averages and maxes over the whole map (position-free stroke statistics);
    `pooling="grid"` averages `grid_cell` x `grid_cell` windows of the last feature map and keeps
    their layout (where the strokes are, too): a 3 x 6 grid at 96 x 192 input with four blocks
    and the default 4.

    `head="match"` ends the tower in cells to be cross-matched (`sigkit.matching`, settings
    `match`) instead of one embedding; pooling, embedding size and normalisation do not apply then.
    """
    _check_choices(pooling=pooling, attention=attention, norm=norm, head=head)
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv_blocks(image, widths, convs_per_block, norm, attention, reduction)
    if head == "match":
        features = match_head(x, match, dropout=dropout, global_cell=grid_cell)
        return keras.Model(image, features, name=name)
    embedding = _embedding_head(x, pooling, grid_cell, dropout, embedding_dim, l2_normalize)
    return keras.Model(image, embedding, name=name)


def _check_choices(*, pooling: str, attention: str, norm: str, head: str) -> None:
    """Fail early, naming the choices, on a tower option that is not one of them."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if attention not in ATTENTION_PLACES:
        raise ValueError(f"attention must be one of {ATTENTION_PLACES}, not {attention!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")


def _conv_blocks(x, widths, convs_per_block: int, norm: str, attention: str, reduction: int):
    """The VGG-style blocks (3x3 convs, norm, ReLU, CBAM where asked, 2x2 max-pool between blocks)."""
    for block, width in enumerate(widths, start=1):
        for conv in range(1, convs_per_block + 1):
            x = layers.Conv2D(width, 3, padding="same", use_bias=norm == "none", name=f"block{block}_conv{conv}")(x)
            normalise = _norm(norm, f"block{block}_norm{conv}")
            if normalise is not None:
                x = normalise(x)
            x = layers.Activation("relu", name=f"block{block}_relu{conv}")(x)
        if attention == "all" or (attention == "last" and block == len(widths)):
            x = CBAM(reduction=reduction, name=f"block{block}_cbam")(x)
        if block < len(widths):
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return x


def _embedding_head(x, pooling: str, grid_cell: int, dropout: float, embedding_dim: int, l2_normalize: bool):
    """The feature map pooled (globally or on a grid) and projected to the embedding."""
    if pooling == "global":
        pooled = layers.Concatenate(name="pool")(
            [layers.GlobalAveragePooling2D(name="avg_pool")(x), layers.GlobalMaxPooling2D(name="max_pool")(x)]
        )
    else:
        pooled = layers.Flatten(name="flatten")(layers.AveragePooling2D(grid_cell, name="grid_pool")(x))
    if dropout:
        pooled = layers.Dropout(dropout, name="dropout")(pooled)
    # float32 from here on even under mixed precision: distances and the loss need the range
    embedding = layers.Dense(embedding_dim, name="embedding", dtype="float32")(pooled)
    if l2_normalize:
        embedding = layers.UnitNormalization(name="l2_normalize", dtype="float32")(embedding)
    return embedding


def signet_tower(
    input_shape=(155, 220, 1), embedding_dim: int = 128, dropout: float = 0.3, name: str = "tower"
) -> keras.Model:
    """SigNet (Dey et al. 2017), with batch norm in place of local response normalisation."""
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(image)
    x = layers.BatchNormalization(name="norm1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.BatchNormalization(name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool4")(x)
    x = layers.Dropout(dropout, name="dropout4")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout + 0.2, name="dropout_fc1")(x)
    embedding = layers.Dense(embedding_dim, name="embedding", dtype="float32")(x)
    return keras.Model(image, embedding, name=name)


TOWERS = {"cbam": cbam_tower, "signet": signet_tower}


def build_tower(kind: str = "cbam", **options) -> keras.Model:
    """A tower by name (`"cbam"` or `"signet"`) with its options."""
    if kind not in TOWERS:
        raise ValueError(f"unknown tower {kind!r}; choose one of {sorted(TOWERS)}")
    return TOWERS[kind](**options)


def tower_options(model: ModelConfig, image_size) -> dict:
    """The `build_tower` options of `model` (`Config.model`) for images of `image_size` (H, W)."""
    shape = tuple(image_size) + (1,)
    if model.tower == "signet":
        if model.head != "embedding":
            raise ValueError(f"the SigNet tower has an embedding head only, not head={model.head!r}; use tower='cbam'")
        return dict(input_shape=shape, embedding_dim=model.embedding_dim)
    return dict(
        input_shape=shape,
        widths=tuple(model.widths),
        convs_per_block=model.convs_per_block,
        attention=model.attention,
        embedding_dim=model.embedding_dim,
        norm=model.norm,
        dropout=model.dropout,
        pooling=model.pooling,
        grid_cell=model.grid_cell,
        head=model.head,
        match=model.match,
    )


def tower_for(model: ModelConfig, image_size, name: str = "tower") -> keras.Model:
    """The tower `model` (`Config.model`) describes, for images of `image_size` (H, W)."""
    return build_tower(model.tower, **tower_options(model, image_size), name=name)


def build_ensemble(members: list[keras.Model], name: str = "tower") -> keras.Model:
    """Several towers (trained with different seeds) as one tower: their embeddings side by side,
    scaled by 1/sqrt(M), so that the ensemble's squared distance is the members' mean squared
    distance (and unit-length members give a unit-length ensemble embedding).

    Built from `Concatenate` and `Rescaling` only: it saves and loads like any sigkit tower, and
    `build_siamese`, `embed`, `verify` and `evaluate` use it unchanged. Member names must differ.
    Match towers are joined by `sigkit.matching.join_match_members` (their squared cross-matched
    distances averaged).
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs 2 or more towers, got {len(members)}")
    kinds = {match_layer(member) is not None for member in members}
    if len(kinds) > 1:
        raise ValueError("an ensemble joins match towers or embedding towers, not both")
    if len({member.name for member in members}) < len(members):
        raise ValueError(f"ensemble members need distinct names, got {[m.name for m in members]}")
    shapes = {tuple(member.input_shape[1:]) for member in members}
    if len(shapes) > 1:
        raise ValueError(f"ensemble members must take the same input, got shapes {sorted(shapes)}")
    if kinds == {True}:
        return join_match_members(members, name=name)
    image = keras.Input(shape=members[0].input_shape[1:], name="image")
    joined = layers.Concatenate(name="member_embeddings", dtype="float32")([member(image) for member in members])
    embedding = layers.Rescaling(1.0 / np.sqrt(len(members)), name="mean_scale", dtype="float32")(joined)
    return keras.Model(image, embedding, name=name)


def ensemble_members(tower: keras.Model) -> list[keras.Model]:
    """The member towers of a `build_ensemble` tower; a plain tower is its own only member."""
    members = [layer for layer in tower.layers if isinstance(layer, keras.Model)]
    return members or [tower]


def inference_copy(tower: keras.Model) -> keras.Model:
    """`tower` rebuilt from its config with its current weights and nothing else.

    A tower trained in batch mode is itself the compiled model, so saving it (or a Siamese model
    around it) would also write the optimizer's moments and moving averages: three times the
    weights, of no use to a saved model.
    """
    copy = keras.Model.from_config(tower.get_config())  # clone_model would compile the copy like the original
    copy.set_weights(tower.get_weights())
    return copy


def build_siamese(tower: keras.Model, name: str = "siamese") -> keras.Model:
    """`(image_a, image_b) -> distance` sharing one tower's weights: Euclidean between embeddings,
    or cross-matched between the cells of a match tower (`sigkit.matching`)."""
    shape = tower.input_shape[1:]
    image_a = keras.Input(shape=shape, name="image_a")
    image_b = keras.Input(shape=shape, name="image_b")
    matcher = match_layer(tower)
    if matcher is None:
        compare = EuclideanDistance(name="distance", dtype="float32")
    else:
        compare = CrossMatchDistance(**matcher.settings.to_dict(), name="distance", dtype="float32")
    distance = compare([tower(image_a), tower(image_b)])
    return keras.Model([image_a, image_b], distance, name=name)


def embed(tower: keras.Model, images, batch_size: int = 256) -> np.ndarray:
    """(N, H, W, 1) uint8 images (the preprocessed cache) -> (N, D) float32 embeddings, inference mode
    (a match tower gives (N, cells, C + 1) features; `sigkit.matching.scorer_for` compares them).

    Plain numpy in, numpy out, so it runs on any Keras backend (the GPU bench uses JAX).
    """
    images = np.asarray(images)
    chunks = [
        tower.predict(images[start : start + 4096].astype(np.float32) / 255.0, batch_size=batch_size, verbose=0)
        for start in range(0, len(images), 4096)
    ]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, *tower.output_shape[1:]), np.float32)


def find_tower(siamese: keras.Model) -> keras.Model:
    """The shared tower inside a Siamese model (for embeddings and heatmaps)."""
    towers = [layer for layer in siamese.layers if isinstance(layer, keras.Model)]
    if len(towers) != 1:
        raise ValueError(f"expected one shared tower in {siamese.name!r}, found {len(towers)}")
    return towers[0]


class ModelFileError(ValueError):
    """A model file sigkit cannot use, with what to do about it."""


def load_siamese(path) -> keras.Model:
    """Load a sigkit `.keras` Siamese model with `safe_mode=True`, or say clearly why not.

    Refused: a missing file, a file that is not a Keras archive, a model that needs unsafe
    deserialisation (a `Lambda` layer or other arbitrary code), and a model that is not a
    two-input Siamese network giving one distance.
    """
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file; train one (sigkit.train.train) or check the path")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras file; sigkit saves and loads the Keras 3 '.keras' format only")
    if not zipfile.is_zipfile(path):  # Keras would call a cut-short archive "not found"
        raise ModelFileError(
            f"{path}: not a complete .keras archive ({path.stat().st_size} bytes; an interrupted copy, "
            "download or save cuts it short); copy it again, or train the model again"
        )
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error) or "unsafe" in str(error).lower():
            raise ModelFileError(
                f"{path}: refused, loading it would run arbitrary code (a Lambda layer or a pickled "
                "function). sigkit models use registered layers only; if you trust the file's source, "
                "rebuild the model with sigkit.model and load its weights instead."
            ) from error
        raise ModelFileError(f"{path}: not a sigkit model ({error})") from error
    except (OSError, KeyError, TypeError) as error:
        raise ModelFileError(f"{path}: not a readable Keras archive ({type(error).__name__}: {error})") from error
    if len(model.inputs) != 2 or tuple(model.output_shape) != (None, 1):
        raise ModelFileError(
            f"{path}: a Keras model, but not a sigkit Siamese network (inputs {len(model.inputs)}, output "
            f"shape {model.output_shape}); expected (image_a, image_b) -> distance"
        )
    return model
