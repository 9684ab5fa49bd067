"""Seeded training augmentation on batches of preprocessed signatures, in graph ops.

A signature varies between signings by a small rotation, a shift on the line, a change of size and
a different pen (stroke thickness). Each batch gets one random affine transform per image
(rotation, shift, zoom around the centre), optionally a smooth local warp (`warp_px`: one part
of the signature moved a little against another; off in the profiles, docs/experiments.md)
and, with probability `thickness_prob`, a 3x3 dilation or a soft erosion of its strokes.
Randomness is stateless: the same (seed, step) always gives the same batch, so a run is
reproducible and another seed gives other batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from sigkit.quiet import tensorflow_if_installed

tf = tensorflow_if_installed()


@dataclass(frozen=True)
class AugmentConfig:
    """The training augmentation, `Config.augment`. Its turns, shifts and zooms are wider than the
    `paper` profile's: a few dozen training writers show the tower little of how one writer's
    signings vary (docs/experiments.md, 2026-12-06)."""

    enabled: bool = True  # flat name `augment`; False: training sees the images as they are
    rotation_deg: float = 15.0
    shift_frac: float = 0.08
    zoom_range: float = 0.2
    thickness_prob: float = 0.5
    warp_px: float = 0.0  # largest local displacement of the elastic warp, in pixels (0: off)

    FLAT_NAMES: ClassVar[dict[str, str]] = {"enabled": "augment"}


def affine_transforms(batch: int, height: int, width: int, seed: tf.Tensor, options: AugmentConfig) -> tf.Tensor:
    """(batch, 8) projective transforms (output -> input pixel map) for ImageProjectiveTransformV3."""
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    angle = tf.random.stateless_uniform([batch], seeds[0], -1.0, 1.0) * (options.rotation_deg * math.pi / 180.0)
    zoom = 1.0 + tf.random.stateless_uniform([batch], seeds[1], -1.0, 1.0) * options.zoom_range
    shift = tf.random.stateless_uniform([batch, 2], seeds[2], -1.0, 1.0) * options.shift_frac
    shift_x, shift_y = shift[:, 0] * width, shift[:, 1] * height
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    # input = R(-angle) / zoom * (output - centre - shift) + centre
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    a0, a1, b0, b1 = cos, sin, -sin, cos
    ox, oy = centre_x + shift_x, centre_y + shift_y
    a2 = centre_x - (a0 * ox + a1 * oy)
    b2 = centre_y - (b0 * ox + b1 * oy)
    zeros = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def elastic_warp(images: tf.Tensor, seed: tf.Tensor, max_px: float, cells: tuple[int, int] = (3, 6)) -> tf.Tensor:
    """Move each image's strokes by a smooth random field (a few pixels, varying across the
    signature): the non-rigid part of how one writer's signings differ, which one affine map
    per image cannot give. The field is uniform noise on a coarse `cells` grid, bilinearly
    upsampled; pixels are sampled bilinearly, zero outside."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    coarse = tf.random.stateless_uniform([batch, cells[0] + 1, cells[1] + 1, 2], seed, -max_px, max_px)
    flow = tf.image.resize(coarse, [height, width], method="bilinear")
    rows = tf.cast(tf.range(height), tf.float32)[None, :, None] + flow[..., 0]
    cols = tf.cast(tf.range(width), tf.float32)[None, None, :] + flow[..., 1]
    top, left = tf.floor(rows), tf.floor(cols)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])  # out-of-image samples read the zero border
    index = tf.broadcast_to(tf.range(batch)[:, None, None], tf.shape(rows))

    def sample(r, c):
        r = tf.clip_by_value(tf.cast(r, tf.int32) + 1, 0, height + 1)
        c = tf.clip_by_value(tf.cast(c, tf.int32) + 1, 0, width + 1)
        return tf.gather_nd(padded, tf.stack([index, r, c], axis=-1))

    upper = sample(top, left) * (1 - dx) + sample(top, left + 1) * dx
    lower = sample(top + 1, left) * (1 - dx) + sample(top + 1, left + 1) * dx
    return upper * (1 - dy) + lower * dy


def change_thickness(images: tf.Tensor, seed: tf.Tensor, prob: float) -> tf.Tensor:
    """Per image: dilate or erode the strokes (3x3) with probability `prob`, else keep.

    The erosion is soft (the mean of the image and its 3x3 erosion): at small input sizes a
    plain erosion erases hairlines, a soft one thins strokes and keeps hairlines at half ink.
    """
    batch = tf.shape(images)[0]
    draw = tf.random.stateless_uniform([batch, 1, 1, 1], seed)
    dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
    eroded = 0.5 * (images - tf.nn.max_pool2d(-images, 3, 1, "SAME"))
    out = tf.where(draw < prob / 2.0, dilated, images)
    return tf.where((draw >= prob / 2.0) & (draw < prob), eroded, out)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, options: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """Augment a (B, H, W, 1) float batch; `seed` is a shape-[2] int tensor (stateless RNG).
    `options.enabled` is the caller's to read: whoever calls this augments."""
    seed = tf.cast(seed, tf.int64)
    shape = tf.shape(images)
    affine_seed, thickness_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    transforms = affine_transforms(shape[0], images.shape[1], images.shape[2], affine_seed, options)
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    if options.warp_px > 0:
        moved = elastic_warp(moved, tf.random.experimental.stateless_fold_in(seed, 3), options.warp_px)
    if options.thickness_prob > 0:
        moved = change_thickness(moved, thickness_seed, options.thickness_prob)
    return tf.clip_by_value(moved, 0.0, 1.0)
