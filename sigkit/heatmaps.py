"""Heatmaps: where a trained tower looks on a signature, to check that it judges the strokes.

Two views, both returned as (H, W) maps in [0, 1] at the input image size:

- `attention_maps`: the CBAM spatial attention itself (what the network *chose* to weight).
  Needs a tower with CBAM; it is read off the layer, no gradients involved.
- `grad_cam`: Grad-CAM of the pair distance d = ||f(a) - f(b)|| on the last feature map, for any
  tower (CBAM, no attention, SigNet). Sign convention, used everywhere here: with
  `explain="difference"` (default) the map follows +dd/dA, the regions that push the pair *apart*
  (for a forgery: where it gives itself away); with `explain="similarity"` it follows -dd/dA, the
  regions that make the pair look *alike*.

An ensemble tower (`sigkit.model.build_ensemble`) gets the mean of its members' maps.

`overlay` and `pair_grid` draw them; `ink_attention_ratio` sums a map up in one number.
"""

from __future__ import annotations

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from sigkit.attention import CBAM
from sigkit.model import ensemble_members

# layers whose 4-D output is a feature map Grad-CAM can explain; pooling, dropout and reshapes
# only move or drop those values, so they are skipped when choosing the default layer
FEATURE_MAP_LAYERS = (keras.layers.Conv2D, keras.layers.Activation, keras.layers.ReLU, CBAM)
EXPLAIN = ("difference", "similarity")


def as_float_batch(images) -> np.ndarray:
    """uint8 (ink 255) or float [0, 1] images, (N, H, W, 1), (H, W, 1) or (H, W) -> float32 (N, H, W, 1)."""
    images = np.asarray(images)
    floats = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    if floats.ndim == 2:
        floats = floats[..., None]
    return floats[None] if floats.ndim == 3 else floats


def upsample(maps, size) -> np.ndarray:
    """(N, h, w, 1) maps -> (N, H, W) float32 by bilinear interpolation."""
    resized = ops.image.resize(ops.cast(maps, "float32"), tuple(size), interpolation="bilinear")
    return ops.convert_to_numpy(resized)[..., 0]


def stretch(heat: np.ndarray) -> np.ndarray:
    """Min-max each (H, W) map to [0, 1]; a flat map becomes zeros (nothing stands out)."""
    heat = np.asarray(heat, np.float32)
    axes = tuple(range(heat.ndim - 2, heat.ndim))
    low, high = heat.min(axis=axes, keepdims=True), heat.max(axis=axes, keepdims=True)
    return np.where(high - low > 1e-12, (heat - low) / np.maximum(high - low, 1e-12), 0.0).astype(np.float32)


def cbam_layers(tower: keras.Model) -> list[CBAM]:
    return [layer for layer in tower.layers if isinstance(layer, CBAM)]


def attention_maps(tower: keras.Model, images, layer: str | int = -1) -> np.ndarray:
    """CBAM spatial attention of `images` as (N, H, W) in [0, 1], upsampled to the image size.

    `layer` picks the CBAM layer when there are several (attention="all"): a layer name or an index
    into the tower's CBAM layers, the last (deepest) by default. The values are the layer's own
    sigmoid outputs, not stretched, so maps of different images and models stay comparable.
    """
    members = ensemble_members(tower)
    if len(members) > 1:
        return np.mean([attention_maps(member, images, layer) for member in members], axis=0)
    cbams = cbam_layers(tower)
    if not cbams:
        raise ValueError(
            f"tower {tower.name!r} has no CBAM layer (attention='none' or the SigNet tower), so it has no "
            "attention map to show; use sigkit.heatmaps.grad_cam for a gradient heatmap instead"
        )
    if isinstance(layer, str):
        cbam = tower.get_layer(layer)
        if not isinstance(cbam, CBAM):
            raise ValueError(f"layer {layer!r} is not a CBAM layer; CBAM layers: {[c.name for c in cbams]}")
    else:
        cbam = cbams[layer]
    batch = as_float_batch(images)
    # the map is a function of what *enters* the layer, so run the tower only up to there
    features = keras.Model(tower.input, cbam.input)(batch, training=False)
    return np.clip(upsample(cbam.spatial_map(features), batch.shape[1:3]), 0.0, 1.0)


def last_feature_layer(tower: keras.Model) -> keras.layers.Layer:
    """The deepest conv/activation/CBAM layer with a 4-D output: the last spatial map before pooling."""
    for layer in reversed(tower.layers):
        if isinstance(layer, FEATURE_MAP_LAYERS) and len(layer.output.shape) == 4:
            return layer
    raise ValueError(f"tower {tower.name!r} has no 4-D feature map for Grad-CAM")


def grad_cam(tower: keras.Model, image_a, image_b, layer: str | None = None, explain: str = "difference"):
    """Grad-CAM of d = ||f(a) - f(b)|| for one pair: two (H, W) maps in [0, 1].

    `layer` names the feature map to explain; by default the last conv/activation/CBAM output
    before pooling (`last_feature_layer`): the finest map that still knows the whole tower's
    features. `explain` sets the sign (see the module docstring). Each map is the ReLU of the
    gradient-weighted channel sum, min-max normalised; all zeros when no region pushes that way.
    """
    import tensorflow as tf

    if explain not in EXPLAIN:
        raise ValueError(f"explain must be one of {EXPLAIN}, not {explain!r}")
    members = ensemble_members(tower)
    if len(members) > 1:
        maps = np.array([grad_cam(member, image_a, image_b, layer, explain) for member in members])
        return tuple(stretch(maps.mean(axis=0)))
    target = tower.get_layer(layer) if layer else last_feature_layer(tower)
    probe = keras.Model(tower.input, [target.output, tower.output])
    pair = np.concatenate([as_float_batch(image_a)[:1], as_float_batch(image_b)[:1]])
    with tf.GradientTape() as tape:
        features, embeddings = probe(pair, training=False)
        # eps keeps the gradient finite for identical images (d = 0)
        distance = tf.sqrt(tf.reduce_sum(tf.square(tf.cast(embeddings[0] - embeddings[1], tf.float32))) + 1e-12)
    gradients = tf.cast(tape.gradient(distance, features), tf.float32)
    if explain == "similarity":
        gradients = -gradients
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(channel_weights * tf.cast(features, tf.float32), axis=-1, keepdims=True))
    maps = stretch(upsample(cam, pair.shape[1:3]))
    return maps[0], maps[1]


def overlay(image, heat, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """(H, W, 3) RGB in [0, 1]: the signature as dark ink on white paper, `heat` in `cmap` on top."""
    ink = as_float_batch(image)[0, ..., 0]
    paper = np.repeat((1.0 - ink)[..., None], 3, axis=-1)
    colours = matplotlib.colormaps[cmap](np.clip(np.asarray(heat, np.float32), 0.0, 1.0))[..., :3]
    return np.clip((1.0 - alpha) * paper + alpha * colours, 0.0, 1.0).astype(np.float32)


def ink_attention_ratio(heat, image, threshold: float = 0.5) -> float:
    """Mean heat on ink pixels / mean heat on background: above 1 means the map sits on the strokes."""
    ink = as_float_batch(image)[0, ..., 0] > threshold
    heat = np.asarray(heat, np.float64)
    if not ink.any() or ink.all():
        return float("nan")  # no ink or no background: nothing to compare
    return float(heat[ink].mean() / max(heat[~ink].mean(), 1e-12))


def pair_distance(tower: keras.Model, image_a, image_b) -> float:
    embeddings = ops.convert_to_numpy(tower(np.concatenate([image_a, image_b]), training=False))
    return float(np.linalg.norm(embeddings[0].astype(np.float64) - embeddings[1]))


def pair_grid(tower: keras.Model, images, pairs, titles=None, method: str = "attention", alpha: float = 0.5):
    """One row per (index_a, index_b, label) pair: image a, overlay a, image b, overlay b.

    `method` is "attention" (CBAM map, needs CBAM) or "gradcam" (distance Grad-CAM, "difference"
    sign). Each row title gives the label (or `titles[i]`) and the pair distance; attention maps are
    shown stretched per image so their contrast is visible, with the unstretched ink ratio as caption.
    """
    if method not in ("attention", "gradcam"):
        raise ValueError(f"method must be 'attention' or 'gradcam', not {method!r}")
    batch = as_float_batch(images)
    height, width = batch.shape[1:3]
    fig, axes = plt.subplots(len(pairs), 4, figsize=(4 * 2.4 * width / max(height, width) + 0.4,
                                                     len(pairs) * 2.4 * height / max(height, width) + 0.8), squeeze=False)
    for row, (index_a, index_b, label) in enumerate(pairs):
        image_a, image_b = batch[index_a : index_a + 1], batch[index_b : index_b + 1]
        if method == "attention":
            heats = attention_maps(tower, np.concatenate([image_a, image_b]))
            notes = [f"ink ratio {ink_attention_ratio(h, i):.2f}" for h, i in zip(heats, (image_a, image_b))]
            heats = stretch(heats)
        else:
            heats, notes = grad_cam(tower, image_a, image_b), ["Grad-CAM", "Grad-CAM"]
        # the row title rides on the first panel, on two short lines, so it cannot spill onto the next
        row_title = f"{titles[row] if titles else label}\nd = {pair_distance(tower, image_a, image_b):.3f}"
        panels = [(1.0 - image_a[0, ..., 0], row_title), (overlay(image_a, heats[0], alpha), notes[0]),
                  (1.0 - image_b[0, ..., 0], "image b"), (overlay(image_b, heats[1], alpha), notes[1])]
        for ax, (picture, caption) in zip(axes[row], panels):
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
            ax.set_title(caption, fontsize=7, fontweight="bold" if caption is row_title else "normal")
            ax.axis("off")
    fig.suptitle("CBAM spatial attention" if method == "attention" else "Grad-CAM of the pair distance")
    fig.tight_layout()
    return fig
