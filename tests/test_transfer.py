"""Pre-train, then fine-tune (`Config.init`), selection on skilled or random pairs (`select_on`),
and writer-dependent classifiers (`sigkit.wd`) on synthetic stand-ins."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, train_and_kill

import sigkit
from sigkit.metrics import eer
from sigkit.model import embed, find_tower, load_siamese
from sigkit.scoring import reference_draws, reference_scores
from sigkit.train import train
from sigkit.wd import (
    GRID,
    WDSettings,
    background_rows,
    background_with_variants,
    choose_settings,
    wd_scores,
    writer_classifier,
)


@pytest.mark.slow
def test_select_on_picks_the_validation_pairs_and_logs_both_kinds(tiny, tmp_path):
    _, splits, images = tiny
    runs = {}
    for select_on in ("skilled", "random"):
        config = sigkit.profile("default", **TINY, epochs=2, steps_per_epoch=2, seed=1, select_on=select_on)
        runs[select_on] = train(config, splits, images, tmp_path / select_on)
    for select_on, result in runs.items():
        history = result.history
        assert {"val_eer_skilled", "val_eer_random"} <= set(history.columns)
        np.testing.assert_allclose(history["val_eer"], history[f"val_eer_{select_on}"])
        card = json.loads((tmp_path / select_on / "model.json").read_text())
        assert f"({select_on} pairs)" in card["threshold_rule"]
    # same seed, same training: the two runs differ only in what they select on
    np.testing.assert_allclose(runs["skilled"].history["loss"], runs["random"].history["loss"], rtol=1e-5)
    with pytest.raises(ValueError, match="select_on"):
        train(sigkit.profile("default", **TINY, epochs=1, select_on="forged"), splits, images, tmp_path / "bad")


@pytest.mark.slow
def test_fine_tuning_starts_from_the_pretrained_weights(tiny, tmp_path):
    _, splits, images = tiny
    pre = train(
        sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=2, seed=5), splits, images, tmp_path / "pre"
    )
    from sigkit.model import tower_for
    from sigkit.train import copy_initial_weights

    config = sigkit.profile("default", **TINY, init=str(pre.model_path))
    tower = tower_for(config.model, config.preprocess.image_size)
    copy_initial_weights(tower, config.train.init)
    source = find_tower(load_siamese(pre.model_path))
    np.testing.assert_allclose(embed(tower, images["test"]), embed(source, images["test"]), atol=1e-5)

    other = sigkit.profile("default", **{**TINY, "widths": (8, 8)}, init=str(pre.model_path))
    with pytest.raises(ValueError, match="fine-tune with the settings it was trained with"):
        copy_initial_weights(tower_for(other.model, other.preprocess.image_size), other.train.init)
    with pytest.raises(ValueError, match="no such model file"):
        copy_initial_weights(tower, str(tmp_path / "missing.keras"))


@pytest.mark.slow
def test_a_killed_fine_tuning_resumes_from_its_checkpoint_not_from_the_init(tiny, tmp_path):
    _, splits, images = tiny
    pre = train(
        sigkit.profile("default", **TINY, epochs=2, steps_per_epoch=3, seed=6), splits, images, tmp_path / "pre"
    )
    overrides = dict(
        TINY, epochs=10, steps_per_epoch=4, patience=1000, seed=7, learning_rate=3e-4, init=str(pre.model_path)
    )
    run = tmp_path / "fine"
    train_and_kill(splits, images, overrides, run)
    resumed = train(sigkit.profile("default", **overrides), splits, images, run).history
    assert list(resumed["epoch"]) == list(range(10))
    straight = train(sigkit.profile("default", **overrides), splits, images, tmp_path / "straight").history
    np.testing.assert_allclose(resumed["loss"], straight["loss"], rtol=1e-3)
    scratch = train(
        sigkit.profile("default", **{**overrides, "init": None, "epochs": 1}), splits, images, tmp_path / "scratch"
    ).history
    assert scratch["loss"].iloc[0] != pytest.approx(straight["loss"].iloc[0], rel=1e-3), "init changed nothing"


# ------------------------------------------------------------------------------------------------
# writer-dependent classifiers on stand-in features: each writer a cluster, its forgeries near it


def stand_in(n_writers=8, genuine=10, forged=6, dim=12, seed=0, forgery_offset=0.6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (n_writers, dim))
    rows, features = [], []
    for w in range(n_writers):
        style = rng.normal(0, 1, dim)  # the direction a forger of this writer gets wrong
        style /= np.linalg.norm(style)
        for i in range(genuine):
            rows.append({"writer": f"w{w}", "genuine": True})
            features.append(centres[w] + 0.25 * rng.normal(0, 1, dim))
        for i in range(forged):
            rows.append({"writer": f"w{w}", "genuine": False})
            features.append(centres[w] + forgery_offset * style + 0.25 * rng.normal(0, 1, dim))
    return np.array(features, np.float32), pd.DataFrame(rows)


def test_writer_classifier_tells_a_writer_from_the_background():
    features, manifest = stand_in(seed=1)
    background = features[manifest["writer"] != "w0"][manifest["genuine"][manifest["writer"] != "w0"].to_numpy()]
    own = features[(manifest["writer"] == "w0").to_numpy() & manifest["genuine"].to_numpy()]
    for settings in GRID:
        model = writer_classifier(own[:5], background, settings)
        assert (model.decision_function(own[5:]) > model.decision_function(background[:20]).max()).all(), settings
    with pytest.raises(ValueError, match="same tower"):
        writer_classifier(own[:5], background[:, :4])


def test_wd_scores_walk_the_same_draws_as_the_distance_protocols():
    features, manifest = stand_in(seed=2)
    background, _ = stand_in(n_writers=12, seed=3)
    for forgeries in ("skilled", "random"):
        wd = wd_scores(features, manifest, background, k=5, draws=3, seed=4, forgeries=forgeries)
        distance = reference_scores(features, manifest, 5, seed=4, draws=3, forgeries=forgeries)
        columns = ["writer", "row", "label", "draw"]
        pd.testing.assert_frame_equal(wd[columns], distance[columns])
    # other writers' signatures lie outside what the writer's classifier accepts
    assert eer(wd["distance"], wd["label"])[0] < 0.05


@pytest.mark.slow
def test_aligned_wd_scores_a_misregistered_signature_by_its_best_variant():
    features, manifest = stand_in(seed=11, forgery_offset=2.0)
    background, _ = stand_in(n_writers=12, seed=12)
    rng = np.random.default_rng(13)
    # variant 0 is each image as it is; half the genuine images are knocked out of register there
    # (as a crop a few pixels off moves an embedding), and one of the other variants puts them back
    misregistered = manifest["genuine"].to_numpy() & (rng.random(len(manifest)) < 0.5)
    variants = np.stack([features + 0.05 * rng.normal(0, 1, features.shape).astype(np.float32) for _ in range(4)])
    variants[0, misregistered] += rng.normal(0, 1, (misregistered.sum(), features.shape[1]))
    rbf = WDSettings("rbf", 1.0)  # skilled forgeries: a kernel draws a boundary around the references
    plain = wd_scores(variants[0], manifest, background, k=5, settings=rbf, draws=3, seed=14)
    aligned = wd_scores(variants, manifest, background, k=5, settings=rbf, draws=3, seed=14, aligned=True)
    columns = ["writer", "row", "label", "draw"]
    pd.testing.assert_frame_equal(aligned[columns], plain[columns])
    assert eer(aligned["distance"], aligned["label"])[0] < 0.15 < 0.3 < eer(plain["distance"], plain["label"])[0]
    # one variant: the aligned form is the plain one
    one = wd_scores(variants[:1], manifest, background, k=5, settings=rbf, draws=3, seed=14, aligned=True)
    np.testing.assert_allclose(one["distance"], plain["distance"])
    best, _ = choose_settings(variants, manifest, background, k=5, aligned=True)
    assert best in GRID
    from sigkit.scoring import Features, evaluate, standard_protocols

    both = Features(manifest, variants[0], variants)
    protocols = [p for p in standard_protocols(5, aligned=True, writer_dependent=True) if p.aligned and p.references]
    table = evaluate(both, both, protocols, draws=2, background=background).table
    assert set(table["method"]) == {"mean", "spread", "wd"} and len(table) == 6 and table["aligned"].all()
    with pytest.raises(ValueError, match="embed_variants"):
        wd_scores(features, manifest, background, k=5, aligned=True)


def test_background_variants_are_each_image_as_it_is_then_its_own_turns_and_shifts():
    rng = np.random.default_rng(15)
    variants = rng.normal(0, 1, (6, 9, 4)).astype(np.float32)  # 6 variants of 9 background images
    variants[:, :, 0] = np.arange(6)[:, None]  # feature 0 names the variant, feature 1 the image
    variants[:, :, 1] = np.arange(9)[None, :]
    every = background_with_variants(variants)
    assert every.shape == (9 * 6, 4)
    np.testing.assert_array_equal(every[:9], variants[0])  # the plain background first, as it is
    drawn = background_with_variants(variants, per_image=2, seed=3)
    assert drawn.shape == (9 * 3, 4)
    np.testing.assert_array_equal(drawn[:9], variants[0])
    for image in range(9):
        rows = drawn[9:][drawn[9:, 1] == image]
        # two distinct turns or shifts of this very image, never the plain one again
        assert len(rows) == 2 and len(set(rows[:, 0])) == 2 and 0 not in rows[:, 0]
        for row in rows:
            np.testing.assert_array_equal(row, variants[int(row[0]), image])
    np.testing.assert_array_equal(drawn, background_with_variants(variants, per_image=2, seed=3))
    assert not np.array_equal(drawn, background_with_variants(variants, per_image=2, seed=4))
    np.testing.assert_array_equal(background_with_variants(variants, per_image=0), variants[0])
    with pytest.raises(ValueError, match="5 variants"):
        background_with_variants(variants, per_image=6)
    with pytest.raises(ValueError, match="embed_variants"):
        background_with_variants(variants[0])


def test_a_saved_background_keeps_its_variants_for_the_aligned_form_only(tmp_path):
    from sigkit.wd import background_beside, draw_variants, save_background

    rng = np.random.default_rng(17)
    variants = rng.normal(0, 1, (5, 7, 4)).astype(np.float32)
    drawn = draw_variants(variants, per_image=2, seed=1)
    save_background(variants[0], [f"w{i}" for i in range(7)], tmp_path / "background.npz", variants=drawn)
    model = tmp_path / "model.keras"  # background_beside reads the file beside the model
    np.testing.assert_allclose(background_beside(model), variants[0], atol=1e-2)
    expected = background_with_variants(variants, per_image=2, seed=1)
    np.testing.assert_allclose(background_beside(model, aligned=True), expected, atol=1e-2)
    save_background(variants[0], [f"w{i}" for i in range(7)], tmp_path / "background.npz")
    assert background_beside(model, aligned=True).shape == (7, 4)  # no variants stored: the plain one
    with pytest.raises(ValueError, match="like the background"):
        save_background(variants[0], list("abcdefg"), tmp_path / "background.npz", variants=drawn[:, :3])
    assert background_beside(tmp_path / "elsewhere" / "model.keras") is None


def test_a_turned_stranger_learnt_as_a_stranger_is_no_longer_accepted():
    """The aligned classifier accepts a questioned signature on its best variant: a stranger whose
    shifted variant lands near the writer is accepted, unless the background taught the classifier
    that strangers' shifted variants are strangers."""
    rng = np.random.default_rng(16)
    dim, shift = 8, np.zeros(8, np.float32)
    shift[0] = 3.0  # a shift moves every embedding the same way
    writer = rng.normal(0, 0.2, (5, dim)).astype(np.float32)  # the claimed writer's references, near 0
    stranger = np.zeros(dim, np.float32)
    stranger[:2] = -3.0, 1.0  # the stranger's shifted variant lands beside the writer, not on it
    strangers = (stranger + rng.normal(0, 0.2, (40, dim))).astype(np.float32)
    background = strangers[:30]
    variants = np.stack([background, background + shift])  # (2, 30, dim): as it is, shifted
    positives = np.concatenate([writer, writer + shift])
    questioned = np.stack([strangers[30:], strangers[30:] + shift])
    plain = writer_classifier(positives, variants[0], WDSettings("rbf", 1.0))
    taught = writer_classifier(positives, background_with_variants(variants), WDSettings("rbf", 1.0))

    def accepted(model, images):
        return (np.max([model.decision_function(v) for v in images], axis=0) > 0).mean()

    assert accepted(plain, questioned) > 0.8  # accepted on its shifted variant
    assert accepted(taught, questioned) < 0.2  # rejected once shifted strangers are negatives
    own = rng.normal(0, 0.2, (10, dim)).astype(np.float32)
    assert accepted(taught, np.stack([own, own + shift])) > 0.8  # the writer's own signatures still are


def test_random_forgery_draws_question_other_writers_genuine_signatures():
    _, manifest = stand_in(n_writers=3, genuine=6, forged=2)
    for draw, writer, references, questioned in reference_draws(manifest, 2, forgeries="random"):
        chosen = manifest.iloc[questioned]
        assert chosen["genuine"].all() and len(references) == 2
        assert set(chosen["writer"]) == {"w0", "w1", "w2"}
        assert (chosen["writer"] == writer).sum() == 4  # its other genuine signatures; the rest are others'
    features, manifest = stand_in(seed=5)
    scores = reference_scores(features, manifest, 3, forgeries="random")
    assert set(scores["label"]) == {0, 1}
    assert (scores["label"] == 1).sum() == 8 * 7


def test_settings_are_chosen_on_validation_writers():
    # forgeries well off each writer's cluster: only a kernel classifier draws a boundary around
    # the writer's references (linear ones only separate the writer from the background)
    features, manifest = stand_in(n_writers=10, seed=6, forgery_offset=2.0)
    background, _ = stand_in(n_writers=20, seed=7)
    best, table = choose_settings(features, manifest, background, k=5, seed=0)
    assert len(table) == len(GRID)
    assert best.kind == "rbf" and table["val_eer"].min() < 0.1 < table[table["kind"] == "linear"]["val_eer"].min()
    rows = background_rows(manifest, per_writer=3)
    assert len(rows) == 30 and manifest.iloc[rows]["genuine"].all()


def test_settings_can_be_chosen_on_several_draws_of_references():
    features, manifest = stand_in(n_writers=6, genuine=10, seed=9)
    background, _ = stand_in(n_writers=12, seed=10)
    grid = (WDSettings("linear", 1.0), WDSettings("rbf", 1.0))
    _, one = choose_settings(features, manifest, background, k=3, grid=grid, seed=2)
    _, three = choose_settings(features, manifest, background, k=3, grid=grid, seed=2, draws=3)
    for i, settings in enumerate(grid):
        pooled = wd_scores(features, manifest, background, 3, settings, seed=2, draws=3)
        first = pooled[pooled["draw"] == 0]
        assert three["val_eer"][i] == pytest.approx(eer(pooled["distance"], pooled["label"])[0])
        assert one["val_eer"][i] == pytest.approx(eer(first["distance"], first["label"])[0])
    assert pooled["draw"].nunique() == 3


@pytest.mark.slow
def test_evaluation_adds_the_writer_dependent_protocol_when_given_a_background():
    from sigkit.scoring import Features, Protocol, evaluate, standard_protocols, usable

    val_features, val_manifest = stand_in(n_writers=6, genuine=14, seed=8)
    test_features, test_manifest = stand_in(n_writers=6, genuine=14, seed=9)
    background, _ = stand_in(n_writers=15, seed=10)
    test, val = Features(test_manifest, test_features), Features(val_manifest, val_features)
    wd = Protocol("wd", 5)
    evaluation = evaluate(test, val, standard_protocols(5, writer_dependent=True), draws=3, background=background)
    assert evaluation.has(wd) and evaluation.row("wd", 5)["draws"] == 3
    assert evaluation.row("wd", 5)["classifier"]["kind"] in ("linear", "rbf", "logreg")
    plain = evaluate(test, val, standard_protocols(5), draws=1)
    assert not plain.has(wd)
    with pytest.raises(ValueError, match="background"):
        evaluate(test, val, [wd])
    # the aligned form against its own negatives; the plain form keeps the plain background
    test = Features(test_manifest, test_features, np.stack([test_features, test_features + 0.05]))
    val = Features(val_manifest, val_features, np.stack([val_features, val_features + 0.05]))
    protocols = [wd, Protocol("wd", 5, aligned=True)]
    alone = evaluate(test, val, protocols, draws=2, background=background)
    extra = background + np.random.default_rng(18).normal(0, 0.5, background.shape).astype(np.float32)
    both = evaluate(test, val, protocols, draws=2, background=background, aligned_background=extra)
    pd.testing.assert_frame_equal(alone.scores[wd], both.scores[wd])
    assert not np.allclose(alone.scores[protocols[1]]["distance"], both.scores[protocols[1]]["distance"])

    curve_protocols = standard_protocols(3, writer_dependent=True, curve_ks=(12,))
    table = evaluate(test, val, curve_protocols, draws=2, background=background).table
    refs = table[table["method"] != "single"]
    assert len(refs) == 3 * 2 + 3 and set(refs["method"]) == {"mean", "spread", "wd"}
    assert refs[refs["forgeries"] == "random"]["eer"].max() < 0.1  # other writers are far apart here
    curve = evaluate(test, val, usable(standard_protocols(1, curve_ks=(1, 5, 13, 14)), test_manifest), draws=2).curve()
    assert list(curve.index) == [1, 5, 13] and list(curve.columns) == ["mean", "spread"]  # K = 14 leaves nothing
