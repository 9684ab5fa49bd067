"""CBAM, the contrastive loss and the Siamese model: shapes, values, serialisation."""

import json
import zipfile

import keras
import numpy as np
import pytest

from sigkit.attention import CBAM
from sigkit.losses import ContrastiveLoss
from sigkit.model import EuclideanDistance, build_siamese, build_tower, cbam_tower, find_tower


def test_cbam_keeps_shape_and_maps_lie_in_0_1():
    layer = CBAM(reduction=4, kernel_size=5)
    x = np.random.default_rng(0).normal(size=(2, 12, 20, 16)).astype("float32")
    out = layer(x)
    assert tuple(out.shape) == x.shape
    spatial = keras.ops.convert_to_numpy(layer.spatial_map(x))
    channel = keras.ops.convert_to_numpy(layer.channel_weights(x))
    assert spatial.shape == (2, 12, 20, 1) and channel.shape == (2, 1, 1, 16)
    assert spatial.min() > 0 and spatial.max() < 1 and channel.min() > 0 and channel.max() < 1
    # the output is the input scaled by both maps, so it can only shrink in magnitude
    assert np.all(np.abs(keras.ops.convert_to_numpy(out)) <= np.abs(x) + 1e-6)


def test_cbam_config_round_trip():
    layer = CBAM(reduction=2, kernel_size=3, name="att")
    clone = CBAM.from_config(layer.get_config())
    assert (clone.reduction, clone.kernel_size, clone.name) == (2, 3, "att")


def test_contrastive_loss_hand_computed_values_and_label_convention():
    loss = ContrastiveLoss(margin=1.0, reduction=None)
    d = np.array([0.0, 0.5, 0.5, 1.5, 0.2], "float32")
    y = np.array([1, 1, 0, 0, 0], "float32")  # 1 = same-writer genuine pair
    expected = [0.0, 0.25, 0.25, 0.0, 0.64]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y, d)), expected, rtol=1e-6)
    # a genuine pair far apart costs d^2; a forgery pair far apart costs nothing
    assert float(ContrastiveLoss(margin=2.0)(np.array([1.0]), np.array([[3.0]]))) == pytest.approx(9.0)
    assert float(ContrastiveLoss(margin=2.0)(np.array([0.0]), np.array([[3.0]]))) == pytest.approx(0.0)
    assert ContrastiveLoss.from_config(ContrastiveLoss(margin=0.7).get_config()).margin == pytest.approx(0.7)


def test_contrastive_loss_positive_margin_stops_pulling_close_genuine_pairs():
    loss = ContrastiveLoss(margin=1.5, positive_margin=0.3, reduction=None)
    d = np.array([0.2, 0.5, 1.0, 2.0], "float32")
    y = np.array([1, 1, 0, 0], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y, d)), [0.0, 0.2**2, 0.5**2, 0.0], rtol=1e-5)
    assert ContrastiveLoss.from_config(loss.get_config()).positive_margin == pytest.approx(0.3)
    with pytest.raises(ValueError, match="positive_margin"):
        ContrastiveLoss(margin=1.0, positive_margin=1.0)


def test_euclidean_distance():
    a = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    b = np.array([[3.0, 4.0], [1.0, 1.0]], "float32")
    d = keras.ops.convert_to_numpy(EuclideanDistance()([a, b]))
    np.testing.assert_allclose(d[:, 0], [5.0, 0.0], atol=1e-4)


def small_tower(**kw):
    return cbam_tower(input_shape=(32, 64, 1), widths=(8, 16), convs_per_block=1, embedding_dim=16, **kw)


@pytest.mark.parametrize("attention", ["last", "all", "none"])
def test_tower_options(attention):
    tower = small_tower(attention=attention)
    n_cbam = sum(isinstance(layer, CBAM) for layer in tower.layers)
    assert n_cbam == {"last": 1, "all": 2, "none": 0}[attention]
    emb = keras.ops.convert_to_numpy(tower(np.random.default_rng(0).random((3, 32, 64, 1)).astype("float32")))
    assert emb.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)


def test_grid_pooling_keeps_the_layout():
    tower = small_tower(pooling="grid")
    assert tower.get_layer("grid_pool").output.shape[1:3] == (4, 8)  # 16 x 32 map in 4 x 4 cells
    image = np.zeros((1, 32, 64, 1), "float32")
    image[0, 4:12, 4:20] = 1.0
    moved = np.roll(image, 36, axis=2)  # the same stroke, elsewhere
    emb = keras.ops.convert_to_numpy(tower(np.concatenate([image, moved])))
    assert np.linalg.norm(emb[0] - emb[1]) > 1e-3
    with pytest.raises(ValueError, match="pooling"):
        small_tower(pooling="spp")
    finer = small_tower(pooling="grid", grid_cell=2)
    assert finer.get_layer("grid_pool").output.shape[1:3] == (8, 16)


def test_signet_tower_builds_with_the_published_widths():
    tower = build_tower("signet", input_shape=(155, 220, 1))
    widths = [layer.filters for layer in tower.layers if isinstance(layer, keras.layers.Conv2D)]
    assert widths == [96, 256, 384, 256]
    assert tower.output_shape == (None, 128)
    with pytest.raises(ValueError, match="unknown tower"):
        build_tower("resnet")


def test_siamese_save_load_safe_mode_gives_the_same_distances(tmp_path):
    siamese = build_siamese(small_tower())
    x = np.random.default_rng(1).random((4, 32, 64, 1)).astype("float32")
    y = np.random.default_rng(2).random((4, 32, 64, 1)).astype("float32")
    before = siamese.predict([x, y], verbose=0)
    path = tmp_path / "model.keras"
    siamese.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict([x, y], verbose=0), before, atol=1e-6)
    assert find_tower(loaded).name == "tower"
    # no Lambda layer anywhere in the stored config
    with zipfile.ZipFile(path) as archive:
        assert "Lambda" not in archive.read("config.json").decode()
    assert json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["name"] == "siamese"


def test_load_siamese_refuses_unsafe_and_foreign_files(tmp_path):
    from sigkit.model import ModelFileError, load_siamese

    good = tmp_path / "good.keras"
    build_siamese(small_tower()).save(good)
    assert load_siamese(good).name == "siamese"

    inputs = keras.Input((4,))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    unsafe_path = tmp_path / "unsafe.keras"
    unsafe.save(unsafe_path)
    with pytest.raises(ModelFileError, match="arbitrary code") as info:
        load_siamese(unsafe_path)
    assert "unsafe.keras" in str(info.value)

    junk = tmp_path / "junk.keras"
    junk.write_text("not a zip")
    with pytest.raises(ModelFileError, match="junk.keras"):
        load_siamese(junk)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a copy interrupted half-way
    with pytest.raises(ModelFileError, match="cut.keras: not a complete .keras archive"):
        load_siamese(cut)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_siamese(tmp_path / "missing.keras")
    legacy = tmp_path / "model.h5"
    legacy.write_bytes(b"\x89HDF")
    with pytest.raises(ModelFileError, match="not a .keras file"):
        load_siamese(legacy)

    plain = tmp_path / "plain.keras"
    small_tower().save(plain)
    with pytest.raises(ModelFileError, match="not a sigkit Siamese"):
        load_siamese(plain)


def test_in_batch_loss_on_a_hand_made_batch():
    from sigkit.losses import InBatchContrastiveLoss, pairwise_distances

    # writer 0: genuine at (0,0) and (0.6,0), a forgery at (0,0.5); writer 1: genuine at (3,0),
    # and a forgery of writer 1 at (0.1, 0) that must be masked against writer 0's genuine
    emb = np.array([[0, 0], [0.6, 0], [0, 0.5], [3, 0], [0.1, 0]], "float32")
    targets = np.array([[0, 1], [0, 1], [0, 0], [1, 1], [1, 0]], "int32")
    d = keras.ops.convert_to_numpy(pairwise_distances(emb))
    np.testing.assert_allclose(d[0, 1], 0.6, atol=1e-4)
    margin = 1.0
    positive = 0.6**2  # (0, 1)
    skilled = np.mean(  # pairs (0,2), (1,2) of writer 0 and (3,4) of writer 1
        [(margin - 0.5) ** 2, max(margin - np.hypot(0.6, 0.5), 0) ** 2, max(margin - 2.9, 0) ** 2]
    )
    random = np.mean([max(margin - 3.0, 0) ** 2, max(margin - 2.4, 0) ** 2])  # (0,3), (1,3)
    loss = InBatchContrastiveLoss(margin=margin, skilled_weight=2.0)
    value = float(loss(targets, emb))
    assert value == pytest.approx(positive + 2.0 * skilled + random, rel=1e-4)
    # the masked pairs matter not: moving the other writer's forgery onto writer 0's genuine
    # changes only its own skilled pair with writer 1's genuine
    moved = emb.copy()
    moved[4] = [0.0, 0.0]
    expected = positive + 2.0 * np.mean([(margin - 0.5) ** 2, max(margin - np.hypot(0.6, 0.5), 0) ** 2, 0.0]) + random
    assert float(loss(targets, moved)) == pytest.approx(expected, rel=1e-4)
    assert InBatchContrastiveLoss.from_config(loss.get_config()).skilled_weight == 2.0
    # a positive margin of 0.5 leaves only the genuine pair's 0.1 beyond it
    loose = InBatchContrastiveLoss(margin=margin, skilled_weight=2.0, positive_margin=0.5)
    assert float(loose(targets, emb)) == pytest.approx(0.1**2 + 2.0 * skilled + random, rel=1e-4)
    assert InBatchContrastiveLoss.from_config(loose.get_config()).positive_margin == 0.5
    # averaging over the active pairs only: skilled pairs (0,2), (1,2) cost, (3,4) is beyond the
    # margin; both random pairs are beyond it, so the random term is 0, not a mean of zeros
    active = InBatchContrastiveLoss(margin=margin, skilled_weight=2.0, average="active")
    skilled_active = np.mean([(margin - 0.5) ** 2, (margin - np.hypot(0.6, 0.5)) ** 2])
    assert float(active(targets, emb)) == pytest.approx(positive + 2.0 * skilled_active, rel=1e-4)
    assert InBatchContrastiveLoss.from_config(active.get_config()).average == "active"
    with pytest.raises(ValueError, match="average"):
        InBatchContrastiveLoss(average="hardest")


@pytest.mark.slow
def test_a_fresh_process_loads_a_saved_model_after_import_sigkit_model(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "model.keras"
    siamese = build_siamese(small_tower())
    siamese.save(path)
    x = np.random.default_rng(5).random((2, 32, 64, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = siamese.predict([x, x[::-1]], verbose=0)
    code = (
        "import sys, numpy as np, keras, sigkit.model\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "x = np.load(sys.argv[2]); np.save(sys.argv[3], m.predict([x, x[::-1]], verbose=0))\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "x.npy"), str(tmp_path / "out.npy")],
        check=True,
        capture_output=True,
    )
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)
