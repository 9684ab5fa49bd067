"""sigkit.preprocess against scikit-image, and the invariants of its output."""

import glob
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from drawing import png_bytes, scribble
from PIL import Image, ImageDraw
from skimage.filters import gaussian, threshold_otsu

from sigkit import preprocess as pp
from sigkit.paths import cedar_path

CEDAR = cedar_path() or Path("no-cedar-here")


def tf_otsu(uint8_image: np.ndarray) -> int:
    return int(pp.otsu_threshold(tf.constant(uint8_image.astype(np.int32))))


def real_looking_images():
    rng = np.random.default_rng(7)
    yield "scribble", scribble(1)
    yield "dark paper", scribble(2, paper=150, ink=60, noise=12)
    yield (
        "bimodal",
        np.where(rng.random((64, 64)) < 0.1, rng.normal(50, 10, (64, 64)), rng.normal(200, 15, (64, 64)))
        .clip(0, 255)
        .astype(np.uint8),
    )
    yield "uniform noise", rng.integers(0, 256, (50, 70)).astype(np.uint8)
    yield "narrow range", rng.integers(100, 140, (40, 40)).astype(np.uint8)
    for path in sorted(glob.glob(str(CEDAR / "full_*" / "*_1_*.png")))[:6]:
        yield Path(path).name, np.asarray(Image.open(path).convert("L"))


@pytest.mark.parametrize("name,image", list(real_looking_images()))
def test_otsu_matches_skimage_within_one_grey_level(name, image):
    assert abs(tf_otsu(image) - threshold_otsu(image)) <= 1, name


def test_otsu_on_float_images_matches_skimage_within_one_grey_level():
    image = scribble(3)
    blurred = gaussian(image / 255.0, sigma=1.0, mode="reflect", truncate=4.0)
    ours = tf_otsu(np.round(blurred * 255).astype(np.uint8))
    assert abs(ours - threshold_otsu(blurred) * 255) <= 1


@pytest.mark.parametrize("sigma", [0.1, 0.3, 0.5, 1.0, 2.0, 3.3])
def test_gaussian_matches_skimage(sigma):
    image = scribble(4).astype(np.float32) / 255.0
    ours = pp.gaussian_blur(tf.constant(image[..., None]), sigma).numpy()[..., 0]
    reference = gaussian(image, sigma=sigma, mode="reflect", truncate=4.0, preserve_range=True)
    # float32 convolution against skimage's float64: agreement to 1e-5 of the [0, 1] range
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_gaussian_sigma_zero_is_identity():
    image = tf.random.uniform([10, 12, 1])
    np.testing.assert_array_equal(pp.gaussian_blur(image, 0.0).numpy(), image.numpy())


def test_output_shape_dtype_range_and_background():
    out = pp.preprocess(tf.constant(png_bytes(scribble(5))), size=(64, 128), sigma=1.0).numpy()
    assert out.shape == (64, 128, 1) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    # ink bright on zero: most of the canvas is background, and the corners are empty
    assert 0.01 < (out > 0.5).mean() < 0.5
    assert out[0, 0, 0] == out[-1, -1, 0] == 0.0


def test_crop_and_aspect_preserving_resize_centre_the_ink():
    canvas = np.full((200, 400), 230, np.uint8)
    canvas[90:110, 50:250] = 20  # a 20 x 200 bar: aspect 1:10, placed off-centre
    out = pp.preprocess(tf.constant(png_bytes(canvas)), size=(100, 100), sigma=0.0, margin=0).numpy()[..., 0]
    rows, cols = np.nonzero(out > 0.5)
    assert cols.min() <= 1 and cols.max() >= 98  # the long side fills the width
    assert 8 <= rows.max() - rows.min() + 1 <= 12  # the short side keeps the 1:10 aspect
    assert abs((rows.min() + rows.max()) / 2 - 49.5) <= 1  # centred vertically


def test_paper_tone_and_noise_do_not_survive():
    """The same ink on two papers must give (almost) the same preprocessed image."""
    light = scribble(6, paper=235, ink=40, noise=3)
    dark = scribble(6, paper=180, ink=40, noise=10)
    a = pp.preprocess(tf.constant(png_bytes(light)), size=(64, 128)).numpy()
    b = pp.preprocess(tf.constant(png_bytes(dark)), size=(64, 128)).numpy()
    assert np.abs(a - b).mean() < 0.02


def _variants(grey: np.ndarray):
    rgba_alpha_ink = np.zeros(grey.shape + (4,), np.uint8)
    rgba_alpha_ink[..., 3] = 255 - grey  # ink only in the alpha channel, colour all black
    yield "L", png_bytes(grey)
    yield "P", png_bytes(Image.fromarray(grey).convert("P"))
    yield "RGB", png_bytes(Image.fromarray(grey).convert("RGB"))
    yield "LA", png_bytes(Image.fromarray(grey).convert("LA"))
    yield "RGBA alpha ink", png_bytes(Image.fromarray(rgba_alpha_ink, "RGBA"))
    white_alpha_ink = rgba_alpha_ink.copy()
    white_alpha_ink[..., :3] = 255  # white "ink" whose shape lives only in the alpha channel
    yield "RGBA white, alpha ink", png_bytes(Image.fromarray(white_alpha_ink, "RGBA"))
    noisy = white_alpha_ink.copy()
    noisy[..., :3] = 255 - np.random.default_rng(0).integers(0, 8, grey.shape + (1,))  # near-white, noisy
    yield "RGBA near-white noisy, alpha ink", png_bytes(Image.fromarray(noisy, "RGBA"))
    yield "16-bit", png_bytes(Image.fromarray(grey.astype(np.uint16) * 257))
    yield "JPEG", png_bytes(Image.fromarray(grey), "JPEG")
    yield "BMP", png_bytes(Image.fromarray(grey), "BMP")
    yield "GIF", png_bytes(Image.fromarray(grey), "GIF")


def test_every_file_form_gives_the_same_signature():
    grey = scribble(8, noise=2)
    reference = pp.preprocess(tf.constant(png_bytes(grey)), size=(64, 128)).numpy() > 0.5
    for name, data in _variants(grey):
        out = pp.preprocess(tf.constant(data), size=(64, 128)).numpy() > 0.5
        iou = (out & reference).sum() / (out | reference).sum()
        assert iou > 0.9, f"{name}: IoU {iou:.2f}"


def test_large_scans_are_downscaled_before_filtering():
    big = np.asarray(Image.fromarray(scribble(9)).resize((3000, 1600)))
    out = pp.preprocess(tf.constant(png_bytes(big)), size=(64, 128), max_side=512).numpy()
    assert out.shape == (64, 128, 1) and out.max() > 0.9
    small = pp.limit_size(tf.zeros([1600, 3000, 1]), 512)
    assert tuple(small.shape[:2]) == (273, 512)


def test_grey_ink_mode_keeps_stroke_darkness():
    out = pp.preprocess(tf.constant(png_bytes(scribble(10))), size=(64, 128), ink="grey").numpy()
    values = out[out > 0]
    assert out.min() == 0.0 and values.max() <= 1.0
    assert len(np.unique(np.round(values, 2))) > 10  # not binary
    with pytest.raises(ValueError, match="ink must be"):
        pp.preprocess(tf.constant(png_bytes(scribble(10))), ink="colour")


def test_load_images_runs_in_order_and_caches(tmp_path):
    paths = []
    for seed in range(4):
        path = tmp_path / f"s{seed}.png"
        Image.fromarray(scribble(seed)).save(path)
        paths.append(path)
    images = pp.load_images(paths, size=(32, 64), sigma=1.0)
    assert images.shape == (4, 32, 64, 1) and images.dtype == np.uint8
    single = pp.preprocess(tf.io.read_file(str(paths[2])), size=(32, 64)).numpy()
    np.testing.assert_array_equal(images[2], pp.to_uint8(single).numpy())

    cache = tmp_path / "cache"
    first = pp.load_images(paths, cache_dir=cache, size=(32, 64))
    assert len(list(cache.glob("images-*.npy"))) == 1
    np.testing.assert_array_equal(first, pp.load_images(paths, cache_dir=cache, size=(32, 64)))
    pp.load_images(paths, cache_dir=cache, size=(32, 32))  # other options, other cache entry
    assert len(list(cache.glob("images-*.npy"))) == 2


def test_image_with_no_ink_gives_an_empty_canvas_not_an_error():
    out = pp.preprocess(tf.constant(png_bytes(np.full((40, 60), 200, np.uint8))), size=(16, 16)).numpy()
    assert out.shape == (16, 16, 1)


def tilted_bar(degrees: float, size=(300, 400)) -> np.ndarray:
    """Dark 8 x 240 bar on light paper, rising by `degrees` from left to right."""
    canvas = Image.new("L", (size[1], size[0]), 230)
    draw = ImageDraw.Draw(canvas)
    half = 120.0
    dx, dy = half * np.cos(np.radians(degrees)), half * np.sin(np.radians(degrees))
    centre = (size[1] / 2, size[0] / 2)
    draw.line([(centre[0] - dx, centre[1] + dy), (centre[0] + dx, centre[1] - dy)], fill=20, width=8)
    return np.asarray(canvas)


@pytest.mark.parametrize("degrees", [-25.0, -8.0, 0.0, 12.0, 25.0])
def test_ink_angle_reads_the_slope_of_a_bar(degrees):
    ink = tf.constant(tilted_bar(degrees)[..., None] < 128)
    # rows grow downwards, so a rising bar has a negative angle
    assert np.degrees(float(pp.ink_angle(ink))) == pytest.approx(-degrees, abs=1.0)


def test_deskew_levels_a_sloped_signature_and_keeps_every_stroke():
    sloped = tf.constant(png_bytes(tilted_bar(20.0)))
    level = pp.pipeline(sloped, size=(64, 256), sigma=0.0, margin=0, deskew_deg=30.0)
    assert abs(np.degrees(float(pp.ink_angle(level["turned"] >= 0.5)))) < 1.0
    # the level bar fills the width and is thin; without deskewing the crop keeps the slope
    rows = np.nonzero(level["output"].numpy()[..., 0].max(axis=1) > 0.5)[0]
    kept = pp.pipeline(sloped, size=(64, 256), sigma=0.0, margin=0)["output"].numpy()[..., 0]
    kept_rows = np.nonzero(kept.max(axis=1) > 0.5)[0]
    assert rows.max() - rows.min() + 1 <= 12 < 20 <= kept_rows.max() - kept_rows.min() + 1
    # nothing of the ink is cut off by the rotation: the ink's area survives
    ink_before = (level["ink"].numpy() > 0.5).sum()
    assert (level["turned"].numpy() > 0.5).sum() == pytest.approx(ink_before, rel=0.05)
    # the step-by-step figure shows the stage only when it runs
    assert "deskewed" in pp.steps(sloped, size=(64, 256), deskew_deg=30.0)
    assert "deskewed" not in pp.steps(sloped, size=(64, 256))


def test_deskew_turns_at_most_its_limit():
    steep = tf.constant(tilted_bar(40.0))[..., None] < 128
    turned, mask = pp.turn(tf.cast(steep, tf.float32), steep, pp.deskew_angle(steep, max_deg=15.0))
    assert np.degrees(float(pp.ink_angle(mask))) == pytest.approx(-25.0, abs=1.0)
    assert turned.shape[0] == turned.shape[1] >= 500  # the canvas holds the whole turned image


@pytest.mark.parametrize("degrees", [-8.0, 5.0])
def test_a_fixed_turn_slopes_a_level_signature_counter_clockwise(degrees):
    level = tf.constant(png_bytes(tilted_bar(0.0)))
    turned = pp.pipeline(level, size=(64, 256), sigma=0.0, margin=0, turn_deg=degrees)["turned"]
    # a bar that rises to the right after a counter-clockwise turn: negative angle, rows down
    assert np.degrees(float(pp.ink_angle(turned >= 0.5))) == pytest.approx(-degrees, abs=1.0)
    # and turning a sloped one back by its slope levels it, as deskewing does
    back = pp.pipeline(
        tf.constant(png_bytes(tilted_bar(degrees))), size=(64, 256), sigma=0.0, margin=0, turn_deg=-degrees
    )["turned"]
    assert abs(np.degrees(float(pp.ink_angle(back >= 0.5)))) < 1.0


def test_deskew_off_by_default_and_blank_images_survive_it():
    image = tf.constant(png_bytes(scribble(3)))
    np.testing.assert_array_equal(
        pp.preprocess(image, size=(32, 64)).numpy(), pp.preprocess(image, size=(32, 64), deskew_deg=0.0).numpy()
    )
    blank = pp.preprocess(tf.constant(png_bytes(np.full((40, 60), 200, np.uint8))), size=(16, 16), deskew_deg=30.0)
    assert blank.shape == (16, 16, 1)
