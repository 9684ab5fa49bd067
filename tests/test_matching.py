"""Cross-matching (sigkit.matching): the distance on hand-made cells, its layer, loss and scorer
agreeing, and a match model trained, saved, loaded and evaluated like an embedding model."""

import json

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from conftest import TINY

import sigkit  # noqa: E402
from sigkit import cli  # noqa: E402
from sigkit.losses import ContrastiveLoss, InBatchContrastiveLoss
from sigkit.matching import (
    CrossMatchScorer,
    MatchHead,
    MatchSettings,
    all_pair_match_distances,
    cell_offsets,
    match_distances,
    pair_distances,
    scorer_for,
)
from sigkit.model import build_ensemble, build_siamese, build_tower, embed, find_tower, load_siamese
from sigkit.scoring import Features, evaluate, standard_protocols
from sigkit.train import train

STROKE, BLANK = np.eye(3)[0], np.eye(3)[1]


def cells(*descriptors, weights=None):
    """One signature's match features: a row of cells (unit descriptors) and equal weight logits."""
    desc = np.stack(descriptors).astype(np.float32)
    logits = np.zeros((len(desc), 1), np.float32) if weights is None else np.asarray(weights, np.float32)[:, None]
    return np.concatenate([desc, logits], axis=1)


def distance(a, b, grid, temperature=0.05, locality=0.5):
    return float(
        keras.ops.convert_to_numpy(match_distances(a[None], b[None], MatchSettings(grid, temperature, locality)))[0]
    )


def test_cell_offsets_are_squared_grid_distances():
    offsets = cell_offsets((2, 3))
    assert offsets.shape == (6, 6) and offsets[0, 0] == 0
    assert offsets[0, 1] == 1 and offsets[0, 3] == 1 and offsets[0, 5] == 1 + 4 and offsets[5, 0] == 5


def test_a_stroke_moved_one_cell_matches_only_while_locality_allows_it():
    here = cells(STROKE, BLANK, BLANK, BLANK)
    moved = cells(BLANK, STROKE, BLANK, BLANK)
    assert distance(here, here, (1, 4)) < 0.01
    near = distance(here, moved, (1, 4), locality=0.5)
    far = distance(here, moved, (1, 4), locality=50.0)
    assert near < 0.05 < 0.5 < far  # a one-cell shift is forgiven, unless matching must stay in place
    missing = cells(BLANK, BLANK, BLANK, BLANK)
    # a stroke with nothing like it anywhere costs its full share (0.5 here), far above a moved one
    assert (
        distance(here, missing, (1, 4)) == pytest.approx(0.5, abs=0.01) and distance(here, missing, (1, 4)) > 10 * near
    )


def test_cell_weights_decide_which_cells_count():
    a = cells(STROKE, BLANK, weights=[0.0, 0.0])
    b = cells(STROKE, np.eye(3)[2], weights=[0.0, 0.0])
    equal = distance(a, b, (1, 2), locality=50.0)
    stroke_only = distance(
        cells(STROKE, BLANK, weights=[10.0, -10.0]),
        cells(STROKE, np.eye(3)[2], weights=[10.0, -10.0]),
        (1, 2),
        locality=50.0,
    )
    assert stroke_only < 0.05 < equal


def random_features(seed, shape):
    """Unit descriptors with random weight logits, (..., rows, C + 1)."""
    rng = np.random.default_rng(seed)
    desc = rng.normal(size=shape)
    return np.concatenate(
        [desc / np.linalg.norm(desc, axis=-1, keepdims=True), rng.normal(size=(*shape[:-1], 1))], -1
    ).astype(np.float32)


def test_a_global_row_adds_its_share_of_the_squared_distance():
    features = random_features(4, (2, 7, 4))  # row 0: the global embedding, rows 1-6: 2 x 3 cells
    hybrid = MatchSettings((2, 3), 0.1, 0.5, global_weight=0.3)
    cells_only = keras.ops.convert_to_numpy(
        match_distances(features[:1, 1:], features[1:, 1:], MatchSettings((2, 3), 0.1, 0.5))
    )
    glob = np.sum((features[0, 0, :-1] - features[1, 0, :-1]) ** 2)
    got = keras.ops.convert_to_numpy(match_distances(features[:1], features[1:], hybrid))
    np.testing.assert_allclose(got**2, 0.3 * glob + 0.7 * cells_only**2, rtol=1e-5)
    every = keras.ops.convert_to_numpy(all_pair_match_distances(features, hybrid))
    np.testing.assert_allclose(every[0, 1], got[0], rtol=1e-5)
    with pytest.raises(ValueError, match="global_weight"):
        MatchSettings((2, 3), global_weight=1.0)


def test_pairs_and_all_pairs_agree_and_are_symmetric():
    features = random_features(0, (5, 6, 4))
    settings = MatchSettings((2, 3), 0.1, 0.5)
    every = keras.ops.convert_to_numpy(all_pair_match_distances(features, settings))
    a, b = np.triu_indices(5, 1)
    np.testing.assert_allclose(
        every[a, b], keras.ops.convert_to_numpy(match_distances(features[a], features[b], settings)), atol=1e-5
    )
    np.testing.assert_allclose(every, every.T, atol=1e-6)
    scorer = CrossMatchScorer(settings, chunk=3)
    np.testing.assert_allclose(pair_distances(features, a, b, scorer), every[a, b], atol=1e-5)


def test_aligned_match_features_take_the_smallest_distance_over_variants():
    features = random_features(1, (3, 4, 6, 4))
    scorer = CrossMatchScorer(MatchSettings((2, 3), 0.1, 0.5))
    got = pair_distances(features, [0, 1], [2, 3], scorer)
    expected = [
        min(
            min(
                scorer.pair(features[0], v, np.array([i]), np.array([j]))[0],
                scorer.pair(v, features[0], np.array([i]), np.array([j]))[0],
            )
            for v in features
        )
        for i, j in ((0, 2), (1, 3))
    ]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (got <= pair_distances(features[0], [0, 1], [2, 3], scorer) + 1e-6).all()
    with pytest.raises(ValueError, match="do not fit"):
        pair_distances(features[0, 0], [0], [1], scorer)


def test_in_batch_match_loss_equals_the_pair_loss_on_the_same_pairs():
    features = random_features(2, (4, 6, 4))
    settings = {"grid": [2, 3], "temperature": 0.1, "locality": 0.5}
    targets = np.array([[0, 1], [0, 1], [0, 0], [1, 1]])  # positive (0,1); skilled (0,2),(1,2); random (0,3),(1,3)
    in_batch = float(InBatchContrastiveLoss(1.5, match=settings)(targets, features))
    d = lambda i, j: match_distances(features[[i]], features[[j]], MatchSettings((2, 3), 0.1, 0.5))  # noqa: E731
    pair = ContrastiveLoss(1.5)
    expected = (
        float(pair(np.ones(1), d(0, 1)))
        + float(pair(np.zeros(2), keras.ops.concatenate([d(0, 2), d(1, 2)])))
        + float(pair(np.zeros(2), keras.ops.concatenate([d(0, 3), d(1, 3)])))
    )
    assert in_batch == pytest.approx(expected, rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(InBatchContrastiveLoss(1.5, match=settings)))
    assert float(restored(targets, features)) == pytest.approx(in_batch, rel=1e-6)


def match_tower(match=MatchHead(dim=8, pool=4), **options):
    return build_tower(
        "cbam",
        input_shape=(32, 64, 1),
        widths=(8, 16),
        convs_per_block=1,
        norm="none",
        head="match",
        match=match,
        **options,
    )


@pytest.mark.slow
@pytest.mark.parametrize("global_weight", [0.0, 0.5])
def test_a_match_model_saves_and_loads_in_safe_mode_with_the_same_distances(tmp_path, global_weight):
    tower = match_tower(MatchHead(dim=8, pool=4, global_weight=global_weight))
    assert tower.output_shape == (None, 4 * 8 + (1 if global_weight else 0), 9)
    siamese = build_siamese(tower)
    images = np.random.default_rng(3).integers(0, 2, (4, 32, 64, 1)).astype(np.uint8) * 255
    siamese.save(tmp_path / "m.keras")
    loaded = load_siamese(tmp_path / "m.keras")
    predicted = loaded.predict([images[:2] / 255.0, images[2:] / 255.0], verbose=0)[:, 0]
    features = embed(find_tower(loaded), images)
    np.testing.assert_allclose(
        predicted, pair_distances(features, [0, 1], [2, 3], scorer_for(find_tower(loaded))), atol=1e-5
    )
    np.testing.assert_allclose(
        predicted, siamese.predict([images[:2] / 255.0, images[2:] / 255.0], verbose=0)[:, 0], atol=1e-6
    )


@pytest.mark.slow
def test_match_towers_join_into_an_ensemble_whose_squared_distance_is_the_members_mean(tmp_path):
    keras.utils.set_random_seed(5)
    members = [match_tower(name=f"member_{i}") for i in range(3)]
    ensemble = build_ensemble(members)
    images = np.random.default_rng(6).integers(0, 2, (4, 32, 64, 1)).astype(np.uint8) * 255
    each = np.array([pair_distances(embed(m, images), [0, 1], [2, 3], scorer_for(m)) for m in members])
    joined = pair_distances(embed(ensemble, images), [0, 1], [2, 3], scorer_for(ensemble))
    np.testing.assert_allclose(joined**2, (each**2).mean(axis=0), rtol=1e-5)
    siamese = build_siamese(ensemble)
    siamese.save(tmp_path / "ensemble.keras")
    loaded = load_siamese(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(
        loaded.predict([images[:2] / 255.0, images[2:] / 255.0], verbose=0)[:, 0], joined, rtol=1e-5
    )
    from sigkit.heatmaps import difference_maps, pair_distance

    map_a, map_b = difference_maps(find_tower(loaded), images[0], images[2])
    cell_area = (32 / 4) * (64 / 8)
    assert (map_a.sum() + map_b.sum()) / cell_area == pytest.approx(
        pair_distance(find_tower(loaded), images[0], images[2]) ** 2, rel=1e-4
    )
    with pytest.raises(ValueError, match="not both"):
        build_ensemble([members[0], build_tower("cbam", input_shape=(32, 64, 1), widths=(8, 16), name="plain")])


@pytest.mark.slow
def test_a_match_tower_trains_in_both_modes_and_is_evaluated_by_every_protocol(tiny, tmp_path, capsys):
    _, splits, images = tiny
    for mode in ("batch", "pairs"):
        config = sigkit.profile(
            "default", **TINY, mode=mode, epochs=2, steps_per_epoch=3, seed=1, head="match", match_dim=8, match_pool=4
        )
        result = train(config, splits, images, tmp_path / mode)
        assert np.isfinite(result.history["loss"]).all() and result.history["val_eer"].between(0, 1).all()
        card = json.loads((tmp_path / mode / "model.json").read_text())
        assert card["config"]["model"]["head"] == "match"
    config = sigkit.profile(
        "default", **TINY, epochs=1, steps_per_epoch=2, seed=1, head="match", match_dim=8, match_pool=4, ensemble=2
    )
    joined = find_tower(load_siamese(train(config, splits, images, tmp_path / "ensemble").model_path))
    assert scorer_for(joined).settings.members == 2
    tower = find_tower(load_siamese(tmp_path / "batch" / "model.keras"))
    scorer = scorer_for(tower)
    assert isinstance(scorer, CrossMatchScorer)
    evaluation = evaluate(
        Features(splits["test"], embed(tower, images["test"])),
        Features(splits["val"], embed(tower, images["val"])),
        standard_protocols(2),
        n_boot=0,
        draws=2,
        scorer=scorer,
    )
    assert {(m, k) for m, k in zip(evaluation.table["method"], evaluation.table["k"])} == {
        ("single", 1),
        ("mean", 2),
        ("spread", 2),
    }
    assert evaluation.table["eer"].between(0, 1).all()

    # sigkit verify scores with the cross-matched distance and draws where the pair differs
    test = splits["test"].reset_index(drop=True)
    genuine = test[test["genuine"]]
    writer_paths = genuine[genuine["writer"] == genuine["writer"].iloc[0]]["path"].tolist()
    out = tmp_path / "why" / "explain.png"
    status = cli.main(
        [
            "verify",
            "--model",
            str(tmp_path / "batch" / "model.keras"),
            "--reference",
            *writer_paths[:2],
            "--questioned",
            writer_paths[2],
            "--explain",
            str(out),
        ]
    )
    assert status in (0, 1) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.imread(out).shape[2] in (3, 4)
    rows = [test.index[test["path"] == p][0] for p in writer_paths[:3]]
    features = embed(tower, images["test"][rows])
    expected = pair_distances(features, [0, 1], [2, 2], scorer).mean()
    assert f"distance {expected:.4f}" in capsys.readouterr().out


def test_a_signet_tower_with_a_match_head_is_refused_clearly():
    from sigkit.model import ModelConfig, tower_options

    with pytest.raises(ValueError, match="SigNet"):
        tower_options(ModelConfig(tower="signet", head="match"), (32, 64))
