"""sigkit.augment: seeded, shape-preserving, and each transform does what it says."""

import dataclasses

import numpy as np
import tensorflow as tf

from sigkit.augment import AugmentConfig, augment_batch, change_thickness, elastic_warp


def strokes(batch=4, size=(48, 96), seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((batch,) + size + (1,), np.float32)
    for i in range(batch):
        row = rng.integers(10, size[0] - 10)
        images[i, row : row + 3, 10 : size[1] - 10] = 1.0  # a horizontal stroke
        col = rng.integers(20, size[1] - 20)
        images[i, 8 : size[0] - 8, col : col + 3] = 1.0  # and a vertical one
    return tf.constant(images)


def test_same_seed_same_batch_other_seed_other_batch():
    images = strokes()
    a = augment_batch(images, tf.constant([1, 2]))
    b = augment_batch(images, tf.constant([1, 2]))
    c = augment_batch(images, tf.constant([1, 3]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.abs(a.numpy() - c.numpy()).mean() > 1e-3
    assert np.abs(a.numpy() - images.numpy()).mean() > 1e-3


def test_shape_and_range_hold():
    out = augment_batch(strokes(), tf.constant([0, 0])).numpy()
    assert out.shape == (4, 48, 96, 1) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_zero_strength_is_identity():
    images = strokes()
    off = AugmentConfig(rotation_deg=0, shift_frac=0, zoom_range=0, thickness_prob=0)
    np.testing.assert_allclose(augment_batch(images, tf.constant([5, 5]), off).numpy(), images.numpy(), atol=1e-5)


def test_shift_moves_ink_and_rotation_tilts_it():
    images = strokes(batch=1)
    shifted = augment_batch(
        images, tf.constant([3, 4]), AugmentConfig(rotation_deg=0, shift_frac=0.2, zoom_range=0, thickness_prob=0)
    ).numpy()

    def centre(x):
        return np.argwhere(x[0, ..., 0] > 0.5).mean(axis=0)

    assert np.linalg.norm(centre(shifted) - centre(images.numpy())) > 0.5
    rotated = augment_batch(
        images, tf.constant([3, 4]), AugmentConfig(rotation_deg=20, shift_frac=0, zoom_range=0, thickness_prob=0)
    ).numpy()
    assert not np.allclose(rotated, images.numpy(), atol=1e-3)
    assert abs(rotated.sum() - images.numpy().sum()) / images.numpy().sum() < 0.25  # ink kept


def test_thickness_dilates_or_erodes():
    images = strokes(batch=64)
    out = change_thickness(images, tf.constant([9, 9]), prob=1.0).numpy()
    ink_before = images.numpy().sum(axis=(1, 2, 3))
    ink_after = out.sum(axis=(1, 2, 3))
    assert (ink_after > ink_before).any() and (ink_after < ink_before).any()
    kept = change_thickness(images, tf.constant([9, 9]), prob=0.0).numpy()
    np.testing.assert_array_equal(kept, images.numpy())


def test_gpu_bench_host_augmentation_matches_the_options():
    """bench/cedar_gpu.py's host-side augmentation: identity when every option is 0, seeded, and a
    pure shift moves the strokes by the drawn amount (the SciPy path; OpenCV is not installed here)."""
    import sys
    from pathlib import Path

    import sigkit

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from cedar_gpu import host_augment

    images = (strokes(batch=3).numpy() * 255).astype(np.uint8)
    still = sigkit.profile("paper", rotation_deg=0.0, zoom_range=0.0, shift_frac=0.0, thickness_prob=0.0).augment
    np.testing.assert_array_equal(host_augment(images, still, np.random.default_rng(0)), images)

    moving = sigkit.profile("paper").augment
    a = host_augment(images, moving, np.random.default_rng(5))
    np.testing.assert_array_equal(a, host_augment(images, moving, np.random.default_rng(5)))
    assert a.shape == images.shape and a.dtype == np.uint8 and np.abs(a.astype(int) - images).mean() > 1

    shift_only = dataclasses.replace(still, shift_frac=0.1)
    shifted = host_augment(images, shift_only, np.random.default_rng(1))
    draws = np.random.default_rng(1)  # host_augment draws angles, zooms, then shifts
    draws.uniform(size=3), draws.uniform(size=3)
    dx, dy = draws.uniform(-0.1, 0.1, (3, 2))[0] * (96, 48)
    ink = np.argwhere(images[0, :, :, 0] > 127).mean(axis=0)
    moved = np.argwhere(shifted[0, :, :, 0] > 127).mean(axis=0)
    np.testing.assert_allclose(moved - ink, [dy, dx], atol=1.0)


def test_elastic_warp_moves_strokes_by_at_most_its_displacement():
    images = strokes(batch=8)
    kept = elastic_warp(images, tf.constant([1, 1], tf.int64), 0.0).numpy()
    np.testing.assert_allclose(kept, images.numpy(), atol=1e-6)
    warped = elastic_warp(images, tf.constant([1, 1], tf.int64), 3.0).numpy()
    again = elastic_warp(images, tf.constant([1, 1], tf.int64), 3.0).numpy()
    other = elastic_warp(images, tf.constant([1, 2], tf.int64), 3.0).numpy()
    np.testing.assert_array_equal(warped, again)
    assert np.abs(warped - other).mean() > 1e-3 and np.abs(warped - images.numpy()).mean() > 1e-3
    assert warped.shape == images.shape
    before, after = images.numpy().sum(axis=(1, 2, 3)), warped.sum(axis=(1, 2, 3))
    assert np.all(np.abs(after - before) / before < 0.2)  # strokes move, ink stays
    # no ink lands farther than the displacement from where some ink was
    near = tf.nn.max_pool2d(images, 2 * 3 + 3, 1, "SAME").numpy()
    assert warped[near == 0].max() == 0.0


def test_warp_is_part_of_the_augmentation_when_asked():
    images = strokes()
    rigid = AugmentConfig(rotation_deg=0, shift_frac=0, zoom_range=0, thickness_prob=0)
    np.testing.assert_allclose(augment_batch(images, tf.constant([2, 2]), rigid).numpy(), images.numpy(), atol=1e-5)
    warped = augment_batch(images, tf.constant([2, 2]), dataclasses.replace(rigid, warp_px=2.0)).numpy()
    assert np.abs(warped - images.numpy()).mean() > 1e-3
