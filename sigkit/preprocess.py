"""Signature preprocessing in TensorFlow graph ops, so it runs inside `tf.data` in parallel.

Steps, each a small function that tests can compare with scikit-image:

    decode_grayscale  file bytes -> grey in [0, 1], paper bright, ink dark (alpha composited on white)
    limit_size        scans larger than `max_side` are downscaled first (area), Otsu needs no more
    gaussian_blur     separable Gaussian, sigma in pixels, reflect padding, truncate = 4 sigma
    otsu_threshold    Otsu's threshold on the 256-level histogram (same rule as skimage)
    ink_mask          background removal: ink = pixels at or below the threshold
    turn              optional: level the ink's main axis (deskew) or turn by a fixed angle
    crop_to_ink       crop to the ink's bounding box (plus a margin)
    resize_and_pad    aspect-preserving resize, centred on a black canvas of (H, W)

The output is ink bright (1) on a zero background, float32 in [0, 1], shape (H, W, 1). Nothing of
the paper survives: tone, noise and file format are gone, so a model cannot tell genuine from forged
by the scanner (CEDAR's genuine and forged scans differ in paper tone).

TIFF is not decoded here (TensorFlow has no TIFF decoder): `sigkit.datasets` transcodes TIFF files
to PNG once, and the manifest's `decode_path` points at the PNG.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from sigkit.quiet import tensorflow_if_installed

tf = tensorflow_if_installed()
log = logging.getLogger(__name__)

PREPROCESS_VERSION = 1  # bump when the output of `preprocess` changes, so caches are rebuilt
INK_MODES = ("binary", "grey")
FLAT_COLOUR_RANGE = 12  # grey levels; the same rule as sigkit.datasets' alpha check


@dataclass(frozen=True)
class PreprocessConfig:
    """How scans become network inputs, `Config.preprocess` (`preprocess_options` turns it into
    the keyword arguments of `preprocess`, `load_images` and `pipeline`)."""

    image_size: tuple[int, int] = (96, 192)  # (H, W) of the output; the `paper` profile has 224 x 224
    gaussian_sigma: float = 1.0
    max_side: int = 1024  # larger scans are downscaled first; Otsu and Gaussian need no more
    ink_margin: int = 2
    # "binary" (Otsu mask only) or "grey" (stroke darkness kept). Not grey on CEDAR: there the
    # ink's tone alone tells forged scans from genuine ones (docs/experiments.md, 2026-12-06)
    ink: str = "binary"
    deskew_deg: float = 0.0  # level the ink's main axis, turning at most this much (0 = off)

    def __post_init__(self):
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))  # JSON gives a list


def decode_grayscale(contents: tf.Tensor) -> tf.Tensor:
    """PNG/JPEG/BMP/GIF bytes -> (h, w, 1) float32 grey in [0, 1]; alpha composited over white.

    Handles 1 (L, 16-bit), 2 (LA), 3 (RGB, palette) and 4 (RGBA) channels, so an RGBA file
    whose ink lives only in the alpha channel comes out as dark ink on white paper.
    """
    image = tf.io.decode_image(contents, channels=0, dtype=tf.float32, expand_animations=False)
    channels = tf.shape(image)[-1]
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    colour_channels = channels - tf.cast(has_alpha, tf.int32)
    colour = image[..., :colour_channels]
    grey = tf.cond(
        tf.equal(colour_channels, 3),
        lambda: tf.image.rgb_to_grayscale(colour[..., :3]),
        lambda: colour[..., :1],
    )
    grey = tf.cond(has_alpha, lambda: composite_alpha(grey, image[..., -1:]), lambda: grey)
    return tf.ensure_shape(grey, [None, None, 1])


def composite_alpha(grey: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """Grey over white paper; when the colour is one flat value, the ink is the alpha itself.

    A white (or any single-colour) RGBA whose signature lives only in the alpha channel would
    vanish if composited over white, so then the alpha is the ink.
    """
    visible = alpha > 0
    colour_range = tf.reduce_max(tf.where(visible, grey, 0.0)) - tf.reduce_min(tf.where(visible, grey, 1.0))
    alpha_only = (colour_range < FLAT_COLOUR_RANGE / 255.0) & (tf.reduce_min(alpha) < tf.reduce_max(alpha))
    return tf.cond(alpha_only, lambda: 1.0 - alpha, lambda: grey * alpha + (1.0 - alpha))


def limit_size(grey: tf.Tensor, max_side: int) -> tf.Tensor:
    """Downscale (area averaging) so that the long side is at most `max_side`; never upscale."""
    shape = tf.shape(grey)[:2]
    long_side = tf.reduce_max(shape)
    scale = tf.minimum(1.0, max_side / tf.cast(long_side, tf.float32))
    new_shape = tf.maximum(1, tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32))
    return tf.cond(
        long_side > max_side,
        lambda: tf.image.resize(grey, new_shape, method="area"),
        lambda: grey,
    )


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The 1-D kernel skimage/scipy use: radius = int(truncate * sigma + 0.5), normalised."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_blur(grey: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian filter with symmetric padding (skimage's mode='reflect').

    Written as a weighted sum of shifted slices rather than `conv2d`: for one channel and a
    short kernel this is several times faster on CPU inside `tf.data` (measured in
    bench/preprocess.py), and exact to float32 rounding.
    """
    if sigma <= 0:
        return grey
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    if radius == 0:  # sigma below 1/8: the kernel is [1]
        return grey
    padded = tf.pad(grey[..., 0], [[radius, radius], [radius, radius]], "SYMMETRIC")
    height, width = tf.shape(grey)[0], tf.shape(grey)[1]
    # the kernel is symmetric: add the mirrored slices first, multiply once per pair
    last = 2 * radius
    rows = float(kernel[radius]) * padded[radius : radius + height, :] + tf.add_n(
        [
            float(kernel[i]) * (padded[i : i + height, :] + padded[last - i : last - i + height, :])
            for i in range(radius)
        ]
    )
    both = float(kernel[radius]) * rows[:, radius : radius + width] + tf.add_n(
        [float(kernel[i]) * (rows[:, i : i + width] + rows[:, last - i : last - i + width]) for i in range(radius)]
    )
    return both[..., tf.newaxis]


def to_levels(grey: tf.Tensor) -> tf.Tensor:
    """[0, 1] float grey -> int32 grey levels 0..255."""
    return tf.cast(tf.round(tf.clip_by_value(grey, 0.0, 1.0) * 255.0), tf.int32)


def otsu_threshold(levels: tf.Tensor) -> tf.Tensor:
    """Otsu's threshold of int grey levels 0..255, as a level: ink is `levels <= threshold`.

    The same rule as `skimage.filters.threshold_otsu` on a uint8 image: maximise the
    between-class variance over the split after each histogram bin, first maximum wins.
    """
    hist = tf.cast(tf.math.bincount(tf.reshape(levels, [-1]), minlength=256, maxlength=256), tf.float64)
    centres = tf.range(256, dtype=tf.float64)
    weight_low = tf.cumsum(hist)
    weight_high = tf.cumsum(hist, reverse=True)
    mean_low = tf.math.divide_no_nan(tf.cumsum(hist * centres), weight_low)
    mean_high = tf.math.divide_no_nan(tf.cumsum(hist * centres, reverse=True), weight_high)
    between = weight_low[:-1] * weight_high[1:] * tf.square(mean_low[:-1] - mean_high[1:])
    return tf.cast(tf.argmax(between), tf.int32)


def ink_mask(grey: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Background removal: (boolean ink mask, Otsu threshold in [0, 1])."""
    levels = to_levels(grey)
    threshold = otsu_threshold(levels)
    return levels <= threshold, tf.cast(threshold, tf.float32) / 255.0


def ink_box(ink: tf.Tensor, margin: int = 0) -> tf.Tensor:
    """[top, left, height, width] of the ink's bounding box plus `margin`, clipped to the image."""
    ink2d = ink[..., 0]
    shape = tf.shape(ink2d)
    rows = tf.where(tf.reduce_any(ink2d, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(ink2d, axis=0))[:, 0]
    top = tf.maximum(tf.cast(tf.reduce_min(rows), tf.int32) - margin, 0)
    left = tf.maximum(tf.cast(tf.reduce_min(cols), tf.int32) - margin, 0)
    bottom = tf.minimum(tf.cast(tf.reduce_max(rows), tf.int32) + 1 + margin, shape[0])
    right = tf.minimum(tf.cast(tf.reduce_max(cols), tf.int32) + 1 + margin, shape[1])
    return tf.stack([top, left, bottom - top, right - left])


def ink_angle(ink: tf.Tensor) -> tf.Tensor:
    """Angle (radians, y pointing down) of the ink's main axis from its second moments; 0 without ink."""
    points = tf.cast(tf.where(ink[..., 0]), tf.float32)  # (n, 2) rows, cols
    centred = points - tf.reduce_mean(points, axis=0, keepdims=True)
    count = tf.cast(tf.shape(points)[0], tf.float32)
    mu_yy = tf.math.divide_no_nan(tf.reduce_sum(centred[:, 0] ** 2), count)
    mu_xx = tf.math.divide_no_nan(tf.reduce_sum(centred[:, 1] ** 2), count)
    mu_xy = tf.math.divide_no_nan(tf.reduce_sum(centred[:, 0] * centred[:, 1]), count)
    return 0.5 * tf.math.atan2(2.0 * mu_xy, mu_xx - mu_yy)


def rotate(image: tf.Tensor, angle: tf.Tensor) -> tf.Tensor:
    """Rotate (h, w, 1) by `angle` about its centre onto a zero canvas big enough to lose nothing.

    The canvas is the image's diagonal on each side; bilinear sampling.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.cast(tf.math.ceil(tf.norm(shape)), tf.int32)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    canvas = tf.image.pad_to_bounding_box(image, (side - height) // 2, (side - width) // 2, side, side)
    centre = (tf.cast(side, tf.float32) - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # output -> input map: input = R(angle) (output - centre) + centre
    transform = tf.stack([cos, -sin, centre - (cos - sin) * centre, sin, cos, centre - (sin + cos) * centre, 0.0, 0.0])
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=canvas[tf.newaxis],
        transforms=transform[tf.newaxis],
        output_shape=tf.stack([side, side]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return rotated[0]


def deskew_angle(mask: tf.Tensor, max_deg: float) -> tf.Tensor:
    """The turn (radians) that levels the ink's main axis, at most `max_deg` degrees either way.

    A writer signs at a slightly different slope each time (on CEDAR up to 20 degrees apart);
    levelling the line removes that before the crop, which would otherwise shrink a sloped
    signature. `max_deg` caps the correction so that a tall, round signature (whose main axis says
    little) is not turned on its side.
    """
    limit = float(max_deg) * np.pi / 180.0
    return tf.clip_by_value(ink_angle(mask), -limit, limit)


def turn(foreground: tf.Tensor, mask: tf.Tensor, angle: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The foreground and its ink mask turned by `angle` (radians; `rotate`), before the crop.

    At the scan's resolution, so the thin strokes stay sharp after the later downscale (turning
    the 96 x 192 output instead blurs them).
    """
    return rotate(foreground, angle), rotate(tf.cast(mask, tf.float32), angle) >= 0.5


def crop_to_ink(image: tf.Tensor, ink: tf.Tensor, margin: int = 0) -> tf.Tensor:
    """Crop `image` to the bounding box of `ink` (the whole image when there is no ink)."""
    box = tf.cond(
        tf.reduce_any(ink),
        lambda: ink_box(ink, margin),
        lambda: tf.concat([[0, 0], tf.shape(image)[:2]], axis=0),
    )
    return image[box[0] : box[0] + box[2], box[1] : box[1] + box[3]]


def resize_and_pad(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Aspect-preserving resize to fit (H, W), centred on a zero canvas."""
    height, width = int(size[0]), int(size[1])
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.minimum(height / shape[0], width / shape[1])
    new_h = tf.clip_by_value(tf.cast(tf.round(shape[0] * scale), tf.int32), 1, height)
    new_w = tf.clip_by_value(tf.cast(tf.round(shape[1] * scale), tf.int32), 1, width)
    new_shape = tf.stack([new_h, new_w])
    # area averaging when shrinking (an antialiasing box filter, cheaper than antialiased
    # bilinear), bilinear when enlarging (area would give blocks)
    resized = tf.cond(
        scale < 1.0,
        lambda: tf.image.resize(image, new_shape, method="area"),
        lambda: tf.image.resize(image, new_shape, method="bilinear"),
    )
    padded = tf.image.pad_to_bounding_box(resized, (height - new_h) // 2, (width - new_w) // 2, height, width)
    return tf.ensure_shape(tf.clip_by_value(padded, 0.0, 1.0), [height, width, 1])


def pipeline(
    contents: tf.Tensor,
    size: tuple[int, int] = PreprocessConfig.image_size,
    sigma: float = PreprocessConfig.gaussian_sigma,
    max_side: int = PreprocessConfig.max_side,
    margin: int = PreprocessConfig.ink_margin,
    ink: str = PreprocessConfig.ink,
    deskew_deg: float = PreprocessConfig.deskew_deg,
    turn_deg: float = 0.0,
    turn_rad: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """Every stage of the preprocessing, by name; `preprocess` keeps the last one only.

    `deskew_deg` levels the ink's main axis (by at most that many degrees); `turn_deg` turns the
    signature by a fixed angle (positive: counter-clockwise on screen), which is how
    `sigkit.align` compares two signings written at slightly different slopes; `turn_rad`, a
    float32 tensor, gives that angle in radians instead (one traced graph for every angle).
    """
    if ink not in INK_MODES:
        raise ValueError(f"ink must be one of {INK_MODES}, not {ink!r}")
    grey = limit_size(decode_grayscale(contents), max_side)
    smooth = gaussian_blur(grey, sigma)
    mask, threshold = ink_mask(smooth)
    if ink == "binary":
        foreground = tf.cast(mask, tf.float32)
    else:
        darkness = tf.math.divide_no_nan(threshold - smooth, threshold)
        foreground = tf.where(mask, tf.clip_by_value(darkness, 1.0 / 255.0, 1.0), 0.0)
    stages = {"grey": grey, "smooth": smooth, "threshold": threshold, "ink": foreground}
    if deskew_deg or turn_deg or turn_rad is not None:
        # rows grow downwards, so `rotate` by a positive angle turns counter-clockwise on screen
        angle = turn_rad if turn_rad is not None else tf.constant(np.radians(float(turn_deg)), tf.float32)
        if deskew_deg:
            angle += deskew_angle(mask, deskew_deg)
        foreground, mask = turn(foreground, mask, angle)
        stages["turned"] = foreground
    cropped = crop_to_ink(foreground, mask, margin)
    return {**stages, "cropped": cropped, "output": resize_and_pad(cropped, size)}


def preprocess(contents: tf.Tensor, **options) -> tf.Tensor:
    """File bytes -> (H, W, 1) float32, ink bright on a zero background, values in [0, 1].

    Options (see `pipeline`): size (H, W), sigma of the Gaussian, max_side, margin around the
    ink box, and `ink="binary"` (the default: only the Otsu mask, no grey level of the scan
    survives) or `ink="grey"` (stroke darkness below the threshold, rescaled to (0, 1]).
    """
    return pipeline(contents, **options)["output"]


def steps(contents: tf.Tensor, **options) -> dict[str, np.ndarray]:
    """Each intermediate image of `preprocess` with a caption, for the step-by-step figure."""
    stages = pipeline(contents, **options)
    size = stages["output"].shape
    shown = {
        "grey": stages["grey"].numpy()[..., 0],
        f"Gaussian (sigma {options.get('sigma', PreprocessConfig.gaussian_sigma)})": stages["smooth"].numpy()[..., 0],
        f"Otsu ink (t = {float(stages['threshold']):.2f})": stages["ink"].numpy()[..., 0],
    }
    if "turned" in stages:
        shown["deskewed" if options.get("deskew_deg") else "turned"] = stages["turned"].numpy()[..., 0]
    shown["cropped to ink"] = stages["cropped"].numpy()[..., 0]
    shown[f"resized and padded {size[0]}x{size[1]}"] = stages["output"].numpy()[..., 0]
    return shown


def preprocess_options(settings: PreprocessConfig) -> dict:
    """The keyword arguments of `preprocess` that `settings` (`Config.preprocess`) sets."""
    return dict(
        size=tuple(settings.image_size),
        sigma=settings.gaussian_sigma,
        max_side=settings.max_side,
        margin=settings.ink_margin,
        ink=settings.ink,
        deskew_deg=settings.deskew_deg,
    )


def image_dataset(paths, **options) -> tf.data.Dataset:
    """A deterministic-order `tf.data.Dataset` of preprocessed images, decoded in parallel."""
    paths = [str(p) for p in paths]
    return (
        tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
        .map(lambda path: preprocess(tf.io.read_file(path), **options), num_parallel_calls=tf.data.AUTOTUNE)
        .with_options(_one_image_a_thread())
    )


def _one_image_a_thread() -> tf.data.Options:
    """One image per thread, no intra-op threads: the ops are small, and splitting each of them
    across cores costs more than it saves (measured in bench/preprocess.py)."""
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


def load_turned_images(paths, angles, batch_size: int = 64, **options) -> np.ndarray:
    """(len(angles), N, H, W, 1) uint8: every file of `paths` preprocessed turned by each angle
    (degrees), as `load_images(paths, turn_deg=angle)` gives them, through one traced pipeline
    (tracing the preprocessing costs more than preprocessing a few files: `sigkit verify`)."""
    paths = [str(p) for p in paths]
    if not paths or not len(angles):
        raise ValueError("load_turned_images: no image paths or no angles given")
    radians = np.array([np.float32(np.radians(float(a))) for a in angles], np.float32)
    pairs = tf.data.Dataset.from_tensor_slices(
        (tf.constant(np.repeat(radians, len(paths))), tf.constant(paths * len(angles), dtype=tf.string))
    )
    batches = (
        pairs.map(
            lambda angle, path: to_uint8(preprocess(tf.io.read_file(path), turn_rad=angle, **options)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .with_options(_one_image_a_thread())
        .batch(batch_size)
    )
    images = np.concatenate([batch.numpy() for batch in batches], axis=0)
    return images.reshape(len(angles), len(paths), *images.shape[1:])


def _cache_key(paths: list[str], options: dict) -> str:
    digest = hashlib.sha1(json.dumps({"v": PREPROCESS_VERSION, "options": options}, sort_keys=True).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


PROGRESS_FROM = 2000  # images: below this, preprocessing takes seconds and shows no progress bar


def load_images(paths, cache_dir: str | os.PathLike | None = None, batch_size: int = 64, **options) -> np.ndarray:
    """Preprocess every file once: an (N, H, W, 1) uint8 array (ink 255 on 0), in `paths` order.

    Stored as uint8 to keep a whole data set in memory (CEDAR at 224 x 224: 130 MB instead of
    530 MB in float32); `sigkit.pairs` turns it back into [0, 1] floats on the fly. With
    `cache_dir`, the array is saved there under a key of the files (path, size, mtime) and the
    options, so the next notebook of a run reuses it instead of decoding again.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("load_images: no image paths given")
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"images-{_cache_key(paths, options)}.npy"
        if cache_file.exists():
            log.info("preprocessed images from cache %s", cache_file)
            return np.load(cache_file)
    batches = image_dataset(paths, **options).map(to_uint8).batch(batch_size).prefetch(2)
    # a progress bar where it takes a while (thousands of scans: minutes on a 2-core CPU)
    progress = keras.utils.Progbar(len(paths), unit_name="image") if len(paths) >= PROGRESS_FROM else None
    try:
        chunks = []
        for batch in batches:
            chunks.append(batch.numpy())
            if progress is not None:
                progress.add(len(chunks[-1]))
        images = np.concatenate(chunks, axis=0)
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(
            f"{first_undecodable(paths)}: TensorFlow cannot decode this file although Pillow "
            f"could; convert it to PNG or remove it ({error.message.splitlines()[0]})"
        ) from error
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(".partial.npy")
        np.save(partial, images)
        partial.replace(cache_file)  # atomic: an interrupted run never leaves a half-written cache
    return images


def first_undecodable(paths: list[str]) -> str:
    """The first file `decode_grayscale` fails on (to name it in an error)."""
    for path in paths:
        try:
            decode_grayscale(tf.io.read_file(path))
        except tf.errors.InvalidArgumentError:
            return path
    return "one of the files"


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(image * 255.0), tf.uint8)


def to_float(image: tf.Tensor) -> tf.Tensor:
    """uint8 cache -> float32 in [0, 1]."""
    return tf.cast(image, tf.float32) / 255.0
