"""Heatmaps: CBAM attention maps, pair-distance Grad-CAM, overlays and the pair grid, on a tiny tower."""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.figure  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sigkit.heatmaps import (  # noqa: E402
    attention_maps,
    deletion_curve,
    deletion_figure,
    deletion_test,
    difference_maps,
    example_pairs,
    grad_cam,
    ink_attention_ratio,
    overlay,
    pair_distance,
    pair_grid,
)
from sigkit.matching import MatchHead  # noqa: E402
from sigkit.model import build_siamese, cbam_tower, find_tower, load_siamese, signet_tower  # noqa: E402


def tiny_tower(**kw):
    keras.utils.set_random_seed(0)
    return cbam_tower(input_shape=(32, 64, 1), widths=(8, 16), convs_per_block=1, embedding_dim=16, **kw)


def strokes(seed: int, n: int = 1) -> np.ndarray:
    """uint8 (n, 32, 64, 1) images like load_images gives: a few ink bars (255) on a black background."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 32, 64, 1), np.uint8)
    for image in images:
        for _ in range(4):
            row, col = rng.integers(2, 26), rng.integers(2, 50)
            image[row : row + rng.integers(2, 6), col : col + rng.integers(4, 14)] = 255
    return images


@pytest.fixture(scope="module")
def tower():
    return tiny_tower()


def test_attention_maps_have_the_image_size_and_lie_in_0_1(tower):
    maps = attention_maps(tower, strokes(0, n=3))
    assert maps.shape == (3, 32, 64) and maps.dtype == np.float32
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    # float images in [0, 1] give the same maps as the uint8 cache
    np.testing.assert_allclose(attention_maps(tower, strokes(0, n=3).astype("float32") / 255.0), maps, atol=1e-6)


def test_attention_all_picks_the_last_cbam_by_default_and_any_on_request():
    tower = tiny_tower(attention="all")
    images = strokes(1, n=2)
    last, first = attention_maps(tower, images), attention_maps(tower, images, layer="block1_cbam")
    np.testing.assert_allclose(attention_maps(tower, images, layer="block2_cbam"), last)
    np.testing.assert_allclose(attention_maps(tower, images, layer=0), first)
    assert first.shape == last.shape == (2, 32, 64) and not np.allclose(first, last)


def test_attention_maps_work_on_a_tower_loaded_from_a_keras_file(tmp_path, tower):
    images = strokes(2, n=2)
    path = tmp_path / "model.keras"
    build_siamese(tower).save(path)
    loaded = find_tower(load_siamese(path))
    np.testing.assert_allclose(attention_maps(loaded, images), attention_maps(tower, images), atol=1e-5)
    map_a, map_b = grad_cam(loaded, images[0], images[1])
    assert map_a.shape == map_b.shape == (32, 64)


def test_towers_without_cbam_are_refused_with_a_pointer_to_grad_cam():
    with pytest.raises(ValueError, match="no CBAM layer.*grad_cam"):
        attention_maps(tiny_tower(attention="none"), strokes(3))


def test_grad_cam_maps_are_normalised_and_not_empty_for_different_images(tower):
    images = strokes(4, n=2)
    map_a, map_b = grad_cam(tower, images[0], images[1])
    for heat in (map_a, map_b):
        assert heat.shape == (32, 64) and heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    alike_a, _ = grad_cam(tower, images[0], images[1], explain="similarity")
    assert alike_a.shape == (32, 64) and not np.allclose(alike_a, map_a)
    with pytest.raises(ValueError, match="explain"):
        grad_cam(tower, images[0], images[1], explain="both")


def test_grad_cam_runs_on_towers_without_attention():
    images = strokes(5, n=2)
    map_a, _ = grad_cam(tiny_tower(attention="none"), images[0], images[1])
    assert map_a.shape == (32, 64) and map_a.max() == pytest.approx(1.0)
    rng = np.random.default_rng(5)
    map_a, map_b = grad_cam(
        signet_tower(input_shape=(100, 140, 1), embedding_dim=8), rng.random((100, 140, 1)), rng.random((100, 140, 1))
    )
    assert map_a.shape == map_b.shape == (100, 140)


def test_overlay_is_an_rgb_image_in_0_1_with_dark_ink():
    image = strokes(6)[0]
    picture = overlay(image, np.zeros((32, 64)), alpha=0.4)
    assert picture.shape == (32, 64, 3) and picture.min() >= 0.0 and picture.max() <= 1.0
    ink = image[..., 0] > 0
    assert picture[ink].mean() < picture[~ink].mean()


def test_ink_attention_ratio_on_a_hand_made_case():
    image = np.zeros((10, 10, 1), np.uint8)
    image[4:6, :] = 255
    heat = np.full((10, 10), 0.2)
    heat[4:6, :] = 0.8
    assert ink_attention_ratio(heat, image) == pytest.approx(4.0)
    assert ink_attention_ratio(1.0 - heat, image) < 1.0
    assert np.isnan(ink_attention_ratio(heat, np.zeros((10, 10, 1), np.uint8)))


@pytest.mark.parametrize("method", ["attention", "gradcam", "difference"])
def test_pair_grid_draws_four_panels_a_row_with_the_distance(tower, method):
    images = strokes(7, n=3)
    fig = pair_grid(
        match_tower() if method == "difference" else tower,
        images,
        [(0, 1, "genuine-genuine"), (0, 2, "genuine-forgery")],
        method=method,
    )
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 8
    titles = [ax.get_title() for ax in fig.axes]
    assert "genuine-forgery" in titles[4] and "d = " in titles[4]
    matplotlib.pyplot.close(fig)


def test_an_ensemble_is_explained_by_its_members_mean_maps():
    from sigkit.model import build_ensemble

    first, second = tiny_tower(name="member_0"), tiny_tower(name="member_1", attention="all")
    ensemble = build_ensemble([first, second])
    images = strokes(5, n=2)
    np.testing.assert_allclose(
        attention_maps(ensemble, images),
        (attention_maps(first, images) + attention_maps(second, images)) / 2,
        atol=1e-6,
    )
    heat_a, heat_b = grad_cam(ensemble, images[0], images[1])
    assert heat_a.shape == heat_b.shape == (32, 64)
    assert 0.0 <= heat_a.min() and heat_a.max() <= 1.0
    with pytest.raises(ValueError, match="distinct names"):
        build_ensemble([first, first])


def match_tower():
    keras.utils.set_random_seed(0)
    return cbam_tower(
        input_shape=(32, 64, 1), widths=(8, 16), convs_per_block=1, head="match", match=MatchHead(dim=8, pool=4)
    )


def test_difference_maps_add_up_to_the_squared_match_distance():
    tower, a, b = match_tower(), strokes(5), strokes(6)
    map_a, map_b = difference_maps(tower, a, b)
    assert map_a.shape == map_b.shape == (32, 64) and (map_a >= 0).all() and (map_b >= 0).all()
    cell_area = (32 / 4) * (64 / 8)  # 4 x 8 cells
    assert (map_a.sum() + map_b.sum()) / cell_area == pytest.approx(pair_distance(tower, a, b) ** 2, rel=1e-4)
    with pytest.raises(ValueError, match="no match head"):
        difference_maps(tiny_tower(), a, b)


def test_grad_cam_explains_the_match_distance_on_the_map_before_the_cells():
    tower = match_tower()
    heat_a, heat_b = grad_cam(tower, strokes(5), strokes(6))
    assert heat_a.shape == (32, 64) and heat_a.max() == pytest.approx(1.0) and heat_b.max() == pytest.approx(1.0)


def test_deletion_curve_blanks_ink_hottest_first():
    tower, a, b = match_tower(), strokes(7), strokes(8)
    curve = deletion_curve(tower, a, b, heat=np.ones((32, 64)), fractions=(0.5, 1.0))
    assert len(curve) == 3 and curve[0] == pytest.approx(pair_distance(tower, a, b), rel=1e-5)
    assert curve[-1] == pytest.approx(pair_distance(tower, np.zeros_like(a), b), rel=1e-5)  # all ink gone
    # a map that is hot on the left half blanks the left ink first: half way, the right ink is untouched
    left_hot = np.zeros((32, 64))
    left_hot[:, :32] = 1.0
    left_ink = (a[0, :, :32, 0] > 0).sum() / (a[0, ..., 0] > 0).sum()
    only_left = a.copy()
    only_left[0, :, :32] = 0
    curve = deletion_curve(tower, a, b, heat=left_hot, fractions=(left_ink,))
    assert curve[1] == pytest.approx(pair_distance(tower, only_left, b), rel=1e-5)


def test_deletion_test_scores_every_available_map_against_random_ink():
    tower = match_tower()
    images = np.concatenate([strokes(9), strokes(10), strokes(11)])
    table, curves = deletion_test(tower, images, [(0, 1, 1), (0, 2, 0)], random_orders=2)
    assert set(table["method"]) == {"difference", "gradcam", "attention", "random"} == set(curves)
    assert len(table) == 8 and (table["area"] >= 0).all()
    assert all(len(c) == 6 and c[0] == 0 for c in curves.values())
    assert isinstance(deletion_figure(curves), matplotlib.figure.Figure)


def test_example_pairs_draw_for_writers_without_forgeries():
    """SigComp 2009 has writers with no forgeries: drawing their examples at random must not fail,
    and a writer without forgeries gives only the genuine pair."""
    import pandas as pd

    manifest = pd.DataFrame({"writer": ["a"] * 4 + ["b"] * 3, "genuine": [True, True, False, False, True, True, True]})
    for seed in (0, 1, 2):
        pairs = example_pairs(manifest, writers=2, seed=seed)
        titles = [title for _, _, title in pairs]
        assert titles == [
            "writer a: genuine vs genuine",
            "writer a: genuine vs skilled forgery",
            "writer b: genuine vs genuine",
        ]
        a_genuine, b_rows = pairs[0][:2], pairs[2][:2]
        assert set(a_genuine) <= {0, 1} and set(b_rows) <= {4, 5, 6} and len(set(b_rows)) == 2
        assert pairs[1][1] in (2, 3)
