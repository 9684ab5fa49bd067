"""sigkit.pairs: pair kinds and labels, determinism, and the tf.data batches."""

import numpy as np
import pandas as pd
import pytest

from sigkit.augment import AugmentConfig
from sigkit.pairs import make_pairs, pair_dataset, pk_dataset, pk_plan, writer_codes


def manifest(writers=5, genuine=6, forged=4):
    rows = []
    for w in range(writers):
        rows += [{"writer": f"w{w}", "genuine": True, "sample": str(i)} for i in range(genuine)]
        rows += [{"writer": f"w{w}", "genuine": False, "sample": str(i)} for i in range(forged)]
    return pd.DataFrame(rows)


def fake_images(n, size=(8, 16)):
    # each image carries its own row number, so a gathered image tells which row it came from
    return np.stack([np.full(size + (1,), i % 256, np.uint8) for i in range(n)])


def test_pair_kinds_have_the_right_writers_and_labels():
    m = manifest()
    pairs = make_pairs(m, seed=0)
    a, b = m.iloc[pairs["a"]].reset_index(drop=True), m.iloc[pairs["b"]].reset_index(drop=True)
    same_writer = (a["writer"] == b["writer"]).to_numpy()
    kind = pairs["kind"].to_numpy()
    assert (pairs["label"].to_numpy() == (kind == "genuine")).all()
    assert a["genuine"].all()  # the first image of every pair is a genuine reference
    assert (same_writer & b["genuine"].to_numpy())[kind == "genuine"].all()
    assert (same_writer & ~b["genuine"].to_numpy())[kind == "skilled"].all()
    assert (~same_writer & b["genuine"].to_numpy())[kind == "random"].all()
    assert (pairs["a"] != pairs["b"]).all()


def test_counts_follow_the_mix():
    pairs = make_pairs(manifest(), seed=0, negatives_per_positive=1.0, skilled_fraction=0.25)
    counts = pairs["kind"].value_counts()
    assert counts["genuine"] == 5 * 15  # C(6, 2) per writer
    assert counts["skilled"] + counts["random"] == counts["genuine"]
    assert abs(counts["skilled"] / counts["genuine"] - 0.25) < 0.05
    capped = make_pairs(manifest(), seed=0, max_positives_per_writer=4)
    assert capped["kind"].value_counts()["genuine"] == 20


def test_skilled_pairs_fall_back_to_random_without_forgeries():
    pairs = make_pairs(manifest(forged=0), seed=0, skilled_fraction=1.0)
    assert set(pairs["kind"]) == {"genuine", "random"}


def test_same_seed_same_pairs():
    m = manifest()
    pd.testing.assert_frame_equal(make_pairs(m, seed=3), make_pairs(m, seed=3))
    assert not make_pairs(m, seed=3).equals(make_pairs(m, seed=4))


def test_too_few_writers_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 writers"):
        make_pairs(manifest(writers=1))


def test_pair_dataset_gathers_the_right_images():
    m = manifest()
    pairs = make_pairs(m, seed=0)
    images = fake_images(len(m))
    data = pair_dataset(images, pairs, batch_size=16, shuffle=False)
    (a, b), label = next(iter(data))
    assert a.shape == (16, 8, 16, 1) and a.dtype.name == "float32"
    np.testing.assert_allclose(a.numpy()[:, 0, 0, 0] * 255, pairs["a"][:16] % 256, atol=1e-3)
    np.testing.assert_allclose(b.numpy()[:, 0, 0, 0] * 255, pairs["b"][:16] % 256, atol=1e-3)
    np.testing.assert_array_equal(label.numpy(), pairs["label"][:16])
    assert sum(len(y) for _, y in data) == len(pairs)


def test_pair_dataset_is_reproducible_with_augmentation():
    m = manifest()
    pairs = make_pairs(m, seed=0)
    images = np.zeros((len(m), 24, 48, 1), np.uint8)
    images[:, 8:16, 10:38] = 255

    def run(seed):
        return next(iter(pair_dataset(images, pairs, batch_size=8, augment=AugmentConfig(), seed=seed)))

    (a1, b1), y1 = run(1)
    (a2, b2), y2 = run(1)
    (a3, _), _ = run(2)
    np.testing.assert_array_equal(a1.numpy(), a2.numpy())
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    assert not np.array_equal(a1.numpy(), a3.numpy())


def test_pk_plan_draws_p_writers_with_k_images():
    m = manifest()
    plan = pk_plan(m, writers_per_batch=3, k_genuine=2, k_forged=1, n_batches=10, seed=0)
    assert plan.shape == (10, 9)
    for rows in plan:
        chunk = m.iloc[rows]
        assert chunk["writer"].nunique() == 3
        assert (chunk.groupby("writer")["genuine"].sum() == 2).all()
        assert (chunk.groupby("writer").size() == 3).all()
    np.testing.assert_array_equal(plan, pk_plan(m, writers_per_batch=3, k_genuine=2, k_forged=1, n_batches=10, seed=0))
    with pytest.raises(ValueError, match="needs 9 writers"):
        pk_plan(m, writers_per_batch=9, k_genuine=2, n_batches=1)
    with pytest.raises(ValueError, match="k_genuine must be at least 2"):
        pk_plan(m, writers_per_batch=2, k_genuine=1, n_batches=1)


def test_pk_plan_fills_forgery_slots_of_writers_without_forgeries(caplog):
    m = manifest(forged=0)
    plan = pk_plan(m, writers_per_batch=2, k_genuine=2, k_forged=2, n_batches=4, seed=0)
    assert plan.shape == (4, 8)
    assert m.iloc[plan.ravel()]["genuine"].all()
    assert "without forgeries" in caplog.text


def test_pk_dataset_targets_match_the_manifest():
    m = manifest()
    plan = pk_plan(m, writers_per_batch=2, k_genuine=2, k_forged=2, n_batches=3, seed=1)
    images = fake_images(len(m))
    batches = list(pk_dataset(images, m, plan))
    assert len(batches) == 3
    x, targets = batches[0]
    assert x.shape == (8, 8, 16, 1)
    np.testing.assert_array_equal(targets.numpy()[:, 0], writer_codes(m)[plan[0]])
    np.testing.assert_array_equal(targets.numpy()[:, 1], m["genuine"].to_numpy(int)[plan[0]])
    np.testing.assert_allclose(x.numpy()[:, 0, 0, 0] * 255, plan[0] % 256, atol=1e-3)


def test_mirrored_writers_are_writers_of_their_own_with_flipped_images():
    m = manifest()
    plan = pk_plan(m, writers_per_batch=6, k_genuine=2, k_forged=1, n_batches=20, seed=0, mirrors=4)
    assert plan.max() >= len(m) and plan.max() < 4 * len(m)  # some entries are mirrored copies
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(m), 8, 16, 1), dtype=np.uint8)
    x, targets = next(iter(pk_dataset(images, m, plan, mirrors=4)))
    entries = plan[0]
    rows, variant = entries % len(m), entries // len(m)
    np.testing.assert_array_equal(targets.numpy()[:, 0], writer_codes(m)[rows] * 4 + variant)
    np.testing.assert_array_equal(targets.numpy()[:, 1], m["genuine"].to_numpy(int)[rows])
    for image, row, v in zip(x.numpy(), rows, variant):
        expected = images[row] / 255.0
        expected = expected[:, ::-1] if v % 2 else expected
        expected = expected[::-1] if v >= 2 else expected
        np.testing.assert_allclose(image, expected, atol=1e-6)
    # within a batch each (writer, variant) keeps its k images, and the plan is seeded
    for entries in plan:
        assert (pd.Series(entries // len(m) * 100 + writer_codes(m)[entries % len(m)]).value_counts() == 3).all()
    np.testing.assert_array_equal(
        plan, pk_plan(m, writers_per_batch=6, k_genuine=2, k_forged=1, n_batches=20, seed=0, mirrors=4)
    )
    with pytest.raises(ValueError, match="mirrors must be 1, 2 or 4"):
        pk_plan(m, writers_per_batch=2, k_genuine=2, n_batches=1, mirrors=3)
