"""Heatmaps: where a trained tower looks on a signature, to check that it judges the strokes.

Two views, both returned as (H, W) maps in [0, 1] at the input image size:

- `attention_maps`: the CBAM spatial attention itself (what the network *chose* to weight).
  Needs a tower with CBAM; it is read off the layer, no gradients involved.
- `grad_cam`: Grad-CAM of the pair distance d = ||f(a) - f(b)|| on the last feature map, for any
  tower (CBAM, no attention, SigNet). Sign convention, used everywhere here: with
  `explain="difference"` (default) the map follows +dd/dA, the regions that push the pair *apart*
  (for a forgery: where it gives itself away); with `explain="similarity"` it follows -dd/dA, the
  regions that make the pair look *alike*.

A match tower (`sigkit.matching`) has a third view, read off the comparison itself:

- `difference_maps`: each cell's share of the pair's squared distance (its weight times its cost
  of finding a match in the other signature), for both signatures: where the two differ.

An ensemble tower (`sigkit.model.build_ensemble`) gets the mean of its members' maps.

`overlay` and `pair_grid` draw them; `ink_attention_ratio` sums a map up in one number.
`deletion_test` checks whether a map is faithful: blank the ink it ranks first, step by step,
and see how fast the pair's distance moves, against random ink (a map that shows where the
decision comes from moves it faster).
"""

from __future__ import annotations

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from sigkit.attention import CBAM
from sigkit.matching import cell_contributions, feature_distance, match_layer
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
        # the match head's 1 x 1 convs sit after pooling into cells: explain the map before them
        if (
            isinstance(layer, FEATURE_MAP_LAYERS)
            and len(layer.output.shape) == 4
            and not layer.name.startswith("match_")
        ):
            return layer
    raise ValueError(f"tower {tower.name!r} has no 4-D feature map for Grad-CAM")


def grad_cam(tower: keras.Model, image_a, image_b, layer: str | None = None, explain: str = "difference"):
    """Grad-CAM of the pair distance d(f(a), f(b)) for one pair: two (H, W) maps in [0, 1].

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
        distance = feature_distance(tower, embeddings[:1], embeddings[1:])[0]
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
    outputs = tower(np.concatenate([as_float_batch(image_a)[:1], as_float_batch(image_b)[:1]]), training=False)
    return float(ops.convert_to_numpy(feature_distance(tower, outputs[:1], outputs[1:]))[0])


def difference_maps(tower: keras.Model, image_a, image_b) -> tuple[np.ndarray, np.ndarray]:
    """A match tower's own account of a pair: each cell's share of d^2 (its weight times its cost
    of finding a match in the other signature), upsampled to (H, W) for a and for b. Not
    stretched: the values add up to the cells' part of d^2 over both maps (per cell area), so
    pairs stay comparable. (A global embedding's part, if the tower has one, has no place.)"""
    layer = match_layer(tower)
    if layer is None:
        raise ValueError(
            f"tower {tower.name!r} embeds each signature alone (no match head), so there are no "
            "cell-wise differences to show; use sigkit.heatmaps.grad_cam instead"
        )
    pair = np.concatenate([as_float_batch(image_a)[:1], as_float_batch(image_b)[:1]])
    outputs = tower(pair, training=False)
    in_a, in_b = cell_contributions(outputs[:1], outputs[1:], layer.settings)
    cells = ops.reshape(ops.concatenate([in_a, in_b]), (2, *layer.settings.grid, 1))
    maps = ops.convert_to_numpy(ops.image.resize(cells, pair.shape[1:3], interpolation="nearest"))[..., 0]
    return maps[0], maps[1]


PAIR_GRID_METHODS = {
    "attention": "CBAM spatial attention",
    "gradcam": "Grad-CAM of the pair distance",
    "difference": "Where the pair differs: each cell's share of the cross-matched distance",
}


def pair_grid(tower: keras.Model, images, pairs, titles=None, method: str = "attention", alpha: float = 0.5):
    """One row per (index_a, index_b, label) pair: image a, overlay a, image b, overlay b.

    `method` is "attention" (CBAM map, needs CBAM), "gradcam" (distance Grad-CAM, "difference"
    sign) or "difference" (a match tower's `difference_maps`, stretched per image). Each row title
    gives the label (or `titles[i]`) and the pair distance; attention maps are
    shown stretched per image so their contrast is visible, with the unstretched ink ratio as caption.
    """
    if method not in PAIR_GRID_METHODS:
        raise ValueError(f"method must be one of {PAIR_GRID_METHODS}, not {method!r}")
    batch = as_float_batch(images)
    height, width = batch.shape[1:3]
    fig, axes = plt.subplots(
        len(pairs),
        4,
        figsize=(4 * 2.4 * width / max(height, width) + 0.4, len(pairs) * 2.4 * height / max(height, width) + 0.8),
        squeeze=False,
    )
    for row, (index_a, index_b, label) in enumerate(pairs):
        image_a, image_b = batch[index_a : index_a + 1], batch[index_b : index_b + 1]
        if method == "attention":
            heats = attention_maps(tower, np.concatenate([image_a, image_b]))
            notes = [f"ink ratio {ink_attention_ratio(h, i):.2f}" for h, i in zip(heats, (image_a, image_b))]
            heats = stretch(heats)
        elif method == "difference":
            heats, notes = stretch(np.stack(difference_maps(tower, image_a, image_b))), ["differs", "differs"]
        else:
            heats, notes = grad_cam(tower, image_a, image_b), ["Grad-CAM", "Grad-CAM"]
        # the row title rides on the first panel, on two short lines, so it cannot spill onto the next
        row_title = f"{titles[row] if titles else label}\nd = {pair_distance(tower, image_a, image_b):.3f}"
        panels = [
            (1.0 - image_a[0, ..., 0], row_title),
            (overlay(image_a, heats[0], alpha), notes[0]),
            (1.0 - image_b[0, ..., 0], "image b"),
            (overlay(image_b, heats[1], alpha), notes[1]),
        ]
        for ax, (picture, caption) in zip(axes[row], panels):
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
            ax.set_title(caption, fontsize=7, fontweight="bold" if caption is row_title else "normal")
            ax.axis("off")
    fig.suptitle(PAIR_GRID_METHODS[method])
    fig.tight_layout()
    return fig


DELETION_METHODS = ("difference", "gradcam", "attention", "random")


def example_pairs(manifest, writers: int, seed: int = 0) -> list[tuple[int, int, str]]:
    """(row a, row b, title) pairs of the first `writers` writers of `manifest` (sorted): two of a
    writer's genuine signatures, and a genuine one against a skilled forgery where there is one.
    Rows are positions in `manifest`; with `seed` > 0 each writer's signatures are drawn at random."""
    manifest = manifest.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pairs = []
    for writer in sorted(manifest["writer"].unique())[:writers]:
        genuine = manifest.index[(manifest["writer"] == writer) & manifest["genuine"]].to_numpy()
        forged = manifest.index[(manifest["writer"] == writer) & ~manifest["genuine"]].to_numpy()
        if seed:
            # index draws, not rng.permutation(array): numpy refuses to shuffle an empty read-only index
            genuine, forged = genuine[rng.permutation(len(genuine))], forged[rng.permutation(len(forged))]
        if len(genuine) >= 2:
            pairs.append((int(genuine[0]), int(genuine[1]), f"writer {writer}: genuine vs genuine"))
        if len(genuine) and len(forged):
            pairs.append((int(genuine[0]), int(forged[0]), f"writer {writer}: genuine vs skilled forgery"))
    return pairs


def explanation_map(tower: keras.Model, image_a, image_b, method: str) -> np.ndarray:
    """The (H, W) map of image a that `method` gives for the pair (a, b)."""
    if method == "difference":
        return difference_maps(tower, image_a, image_b)[0]
    if method == "gradcam":
        return grad_cam(tower, image_a, image_b)[0]
    if method == "attention":
        return attention_maps(tower, image_a)[0]
    raise ValueError(f"method must be one of {DELETION_METHODS[:-1]} (random needs no map), not {method!r}")


def deletion_curve(
    tower: keras.Model, image_a, image_b, heat=None, fractions=(0.1, 0.2, 0.3, 0.4, 0.5), seed: int = 0
) -> np.ndarray:
    """Distances of (a, b) as the ink of a is blanked in `heat` order, hottest first (random order
    when `heat` is None): [d with all ink, d with the first fractions[0] of the ink gone, ...]."""
    a, b = as_float_batch(image_a)[:1], as_float_batch(image_b)[:1]
    ink = np.flatnonzero(a[0, ..., 0] > 0.5)
    rng = np.random.default_rng(seed)
    if heat is None:
        order = rng.permutation(ink)
    else:  # hottest first; ties (flat regions of a map) broken at random
        values = np.asarray(heat, np.float64).ravel()[ink]
        order = ink[np.lexsort((rng.random(len(ink)), -values))]
    steps = [a[0]]
    for fraction in fractions:
        blanked = a[0].copy().reshape(-1)
        blanked[order[: int(round(fraction * len(ink)))]] = 0.0
        steps.append(blanked.reshape(a.shape[1:]))
    outputs = tower(np.concatenate([np.stack(steps), b]), training=False)
    reference = ops.repeat(outputs[-1:], len(steps), axis=0)
    return ops.convert_to_numpy(feature_distance(tower, outputs[:-1], reference)).astype(np.float64)


def deletion_test(
    tower: keras.Model,
    images,
    pairs,
    methods=None,
    fractions=(0.1, 0.2, 0.3, 0.4, 0.5),
    random_orders: int = 3,
    seed: int = 0,
):
    """For each (index_a, index_b, label) pair and map method: the mean absolute change of the
    distance over the deletion steps (the area under |d(step) - d(all ink)|, per unit of ink
    fraction). Larger = the map ranks first the ink the distance depends on. "random" averages
    `random_orders` random orders of the ink. Returns one row per pair and method (a DataFrame)
    and the mean curves per method ((method -> array over [0, *fractions]) for the figure)."""
    import pandas as pd

    if methods is None:
        has_cbam = any(cbam_layers(member) for member in ensemble_members(tower))  # an ensemble averages its maps
        available = {"attention": has_cbam, "difference": match_layer(tower) is not None}
        methods = [m for m in DELETION_METHODS if available.get(m, True)]
    batch = as_float_batch(images)
    rows, curves = [], {m: [] for m in methods}
    for index_a, index_b, label in pairs:
        a, b = batch[index_a : index_a + 1], batch[index_b : index_b + 1]
        for method in methods:
            if method == "random":
                curve = np.mean(
                    [deletion_curve(tower, a, b, None, fractions, seed + i) for i in range(random_orders)], axis=0
                )
            else:
                curve = deletion_curve(tower, a, b, explanation_map(tower, a, b, method), fractions, seed)
            moved = np.abs(curve - curve[0])
            area = np.trapezoid(moved, [0.0, *fractions]) / fractions[-1]
            rows.append(
                {
                    "a": index_a,
                    "b": index_b,
                    "label": label,
                    "method": method,
                    "area": float(area),
                    "distance": float(curve[0]),
                }
            )
            curves[method].append(moved)
    return pd.DataFrame(rows), {m: np.mean(c, axis=0) for m, c in curves.items()}


def deletion_figure(curves: dict, fractions=(0.1, 0.2, 0.3, 0.4, 0.5)):
    """Mean |d(step) - d(all ink)| against the share of ink blanked, one line per map method."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, moved in curves.items():
        ax.plot([0.0, *fractions], moved, marker="o", label=method, linestyle="--" if method == "random" else "-")
    ax.set_xlabel("share of the ink of signature a blanked (hottest first)")
    ax.set_ylabel("mean |change of distance|")
    ax.set_title("Deletion test: how fast each map moves the distance")
    ax.legend()
    fig.tight_layout()
    return fig


def explain_figure(tower: keras.Model, questioned, references, distances, verdict: str, names=None, alpha: float = 0.5):
    """Why a verdict: one row per reference (at most 6), the questioned signature and the reference,
    each with the map of where it differs from the other (a match tower's own `difference_maps`,
    else distance Grad-CAM), the pair's distance above; the score and the verdict on top."""
    references = as_float_batch(references)[:6]
    questioned = as_float_batch(questioned)[:1]
    height, width = questioned.shape[1:3]
    method = "cell differences" if match_layer(tower) is not None else "Grad-CAM of the distance"
    fig, axes = plt.subplots(
        len(references),
        2,
        squeeze=False,
        figsize=(2 * 3.0 * width / max(height, width) + 0.4, len(references) * 3.0 * height / max(height, width) + 1.0),
    )
    for row, reference in enumerate(references):
        reference = reference[None]
        if match_layer(tower) is not None:
            heats = stretch(np.stack(difference_maps(tower, questioned, reference)))
        else:
            heats = grad_cam(tower, questioned, reference)
        titles = [
            f"questioned{f' ({names[-1]})' if names else ''}\nd = {distances[row]:.3f}",
            f"reference {row + 1}{f' ({names[row]})' if names else ''}",
        ]
        for ax, picture, heat, title in zip(axes[row], (questioned, reference), heats, titles):
            ax.imshow(overlay(picture, heat, alpha))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.suptitle(f"{verdict}\nred = where the pair differs most ({method})", fontsize=9)
    fig.tight_layout()
    return fig
