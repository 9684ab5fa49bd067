"""The tower shipped with sigkit: it loads safely, its model card tells the truth about the file,
and `sigkit verify` works without a model, by distance and by a writer-dependent classifier."""

import keras
import numpy as np
import pytest

import sigkit
from sigkit import cli, shipped, synth
from sigkit.model import embed, find_tower, tower_for
from sigkit.train import copy_initial_weights
from sigkit.trained import preprocessing_of


@pytest.fixture(scope="module")
def loaded():
    return sigkit.pretrained()


def test_the_shipped_file_loads_in_safe_mode_and_is_small():
    path = shipped.pretrained_path()
    model = keras.saving.load_model(path, safe_mode=True)
    assert len(model.inputs) == 2 and path.stat().st_size <= 10 * 2**20


def test_the_model_card_matches_the_file(loaded):
    model, card = loaded
    tower = find_tower(model)
    assert list(tower.input_shape[1:3]) == card.extra["input_size"]
    stated = {k: list(v) if isinstance(v, tuple) else v for k, v in preprocessing_of(card, tower).items()}
    assert stated == card.extra["preprocessing"]
    background = shipped.background()
    assert background.shape == (card.extra["background"]["images"], tower.output_shape[-1])
    # the aligned classifiers' negatives: the same background, then its stored turns and shifts
    aligned = shipped.background(aligned=True)
    per_image = card.extra["background"]["variants_per_image"]
    assert aligned.shape == ((1 + per_image) * len(background), background.shape[1])
    np.testing.assert_array_equal(aligned[: len(background)], background)
    assert not np.allclose(aligned[len(background) : 2 * len(background)], background, atol=1e-3)
    corpora = card.extra["corpora"]
    assert sum(c["writers"] for c in corpora.values()) == card.data["writers"]["train"] + card.data["writers"]["val"]
    assert sorted(corpora) == card.data["corpora"]
    assert not any("cedar" in name.lower() for name in corpora)  # CEDAR stays the untouched test of transfer
    assert "non-commercial" in card.extra["licence"]
    assert card.val_eer == card.extra["val_eers"]["skilled"] and 0 <= card.extra["val_eers"]["random"] < 0.5
    for entry in ("writer_dependent", "writer_dependent_aligned"):
        assert {"kind", "C", "threshold", "k", "val_eer_skilled"} <= set(card.extra[entry])
    assert 0 < card.threshold < 2


def test_the_shipped_embeddings_are_unit_length_and_reproduce_the_background_scale(loaded):
    model, card = loaded
    tower = find_tower(model)
    blank = np.zeros((2, *card.extra["input_size"], 1), np.uint8)
    emb = embed(tower, blank)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(shipped.background(), axis=1), 1.0, atol=1e-2)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=2, n_genuine=6, n_forged=2, seed=11)
    genuine = sorted(str(p) for p in (folder / "full_org").glob("original_1_*.png"))
    forged = sorted(str(p) for p in (folder / "full_forg").glob("forgeries_1_*.png"))
    return genuine, forged


@pytest.mark.slow
@pytest.mark.parametrize("method", ["distance", "wd", "wd-aligned"])
def test_verify_needs_no_model(scans, capsys, method):
    genuine, forged = scans
    status = cli.main(["verify", "--reference", *genuine[:5], "--questioned", genuine[5], "--method", method])
    out = capsys.readouterr().out
    assert status in (0, 1) and "threshold" in out and ("GENUINE" in out) == (status == 0)
    assert ("writer-dependent score" in out) == (method != "distance")


def test_the_flat_card_of_the_shipped_tower_and_its_nested_form_give_the_same_config_and_scores(scans, tmp_path):
    """Cards written before the config groups hold a flat config (the shipped one does); the same
    card with the config nested by group reads as the same config and scores alike."""
    import json
    import shutil

    from sigkit.card import ModelCard
    from sigkit.verify import verify

    flat_card = ModelCard.for_model(shipped.pretrained_path())
    assert "epochs" in flat_card.config and "train" not in flat_card.config  # the flat form
    config = sigkit.Config.from_dict(flat_card.config)
    assert config.train.epochs == flat_card.config["epochs"] and config.model.widths == (16, 32, 64, 128)
    nested = json.loads(json.dumps(config.to_dict()))
    assert sigkit.Config.from_dict(nested) == config
    for name in (shipped.TOWER_FILE, shipped.BACKGROUND_FILE):
        shutil.copyfile(shipped.pretrained_path().parent / name, tmp_path / name)
    ModelCard.from_dict({**flat_card.to_dict(), "config": nested}).save(tmp_path / shipped.CARD_FILE)
    genuine, _ = scans
    as_shipped = verify(None, genuine[:3], genuine[5])
    as_nested = verify(tmp_path / shipped.TOWER_FILE, genuine[:3], genuine[5])
    assert as_nested.distance == pytest.approx(as_shipped.distance, abs=1e-6)
    assert as_nested.threshold == as_shipped.threshold


@pytest.fixture
def without_variants(tmp_path):
    """A copy of the shipped files whose background has no turns and shifts stored."""
    import shutil

    from sigkit.wd import save_background

    path = shipped.pretrained_path()
    for name in (shipped.TOWER_FILE, shipped.CARD_FILE):
        shutil.copyfile(path.parent / name, tmp_path / name)
    with np.load(path.parent / shipped.BACKGROUND_FILE) as stored:
        save_background(stored["embeddings"], stored["writers"], tmp_path / shipped.BACKGROUND_FILE)
    return tmp_path / shipped.TOWER_FILE


def test_the_aligned_writer_dependent_decision_with_one_variant_is_the_plain_one(without_variants):
    import dataclasses

    from sigkit.card import ModelCard
    from sigkit.trained import TrainedModel
    from sigkit.verify import writer_dependent_scores

    model = TrainedModel.load()
    features = shipped.background()[:6] + 0.01  # 5 references and a questioned signature
    same = ModelCard(  # one classifier for both forms, so only the variants differ
        threshold=model.card.threshold,
        extra={
            "writer_dependent": model.card.extra["writer_dependent"],
            "writer_dependent_aligned": model.card.extra["writer_dependent"],
        },
    )
    # with one variant and the same negatives (no stored turns and shifts), the forms agree
    bare_background = dataclasses.replace(TrainedModel.load(without_variants), card=same)
    plain = writer_dependent_scores(bare_background, features, range(5), [5], aligned=False)[0]
    aligned = writer_dependent_scores(bare_background, features[None], range(5), [5], aligned=True)[0]
    assert aligned == pytest.approx(plain, abs=1e-6)
    assert model.writer_dependent(aligned=True)[1] == model.card.extra["writer_dependent_aligned"]["threshold"]
    bare = dataclasses.replace(model, card=ModelCard(threshold=0.5, extra={}))
    with pytest.raises(ValueError, match="writer_dependent_aligned"):
        writer_dependent_scores(bare, features[None], range(5), [5], aligned=True)[0]


def test_the_aligned_decision_learns_the_stored_turns_and_shifts_as_negatives(without_variants):
    """The same questioned signature scores otherwise once the background's variants are gone:
    `wd-aligned` reads them from background.npz, the plain `wd` never does."""
    from sigkit.trained import TrainedModel
    from sigkit.verify import writer_dependent_scores

    models = [TrainedModel.load(), TrainedModel.load(without_variants)]
    features = shipped.background()[:6] + 0.01
    with_variants, without = (
        writer_dependent_scores(m, features[None], range(5), [5], aligned=True)[0] for m in models
    )
    assert with_variants != pytest.approx(without, abs=1e-4)
    plain = [writer_dependent_scores(m, features, range(5), [5], aligned=False)[0] for m in models]
    assert plain[0] == pytest.approx(plain[1], abs=1e-6)


def test_fine_tuning_can_start_from_the_shipped_tower(loaded):
    _, card = loaded
    config = sigkit.profile("default", init="pretrained")
    assert list(config.preprocess.image_size) == card.extra["input_size"]
    tower = tower_for(config.model, config.preprocess.image_size)
    copy_initial_weights(tower, config.train.init)
    images = np.random.default_rng(0).integers(0, 255, (3, *card.extra["input_size"], 1), dtype=np.uint8)
    np.testing.assert_allclose(embed(tower, images), embed(find_tower(loaded[0]), images), atol=1e-5)


def test_a_missing_shipped_file_says_how_to_rebuild_it(tmp_path):
    with pytest.raises(shipped.PretrainedMissing, match="python -m sigkit.shipped.build"):
        shipped.pretrained_path(tmp_path)


def test_refreshing_the_card_on_other_corpora_is_refused(scans, tmp_path):
    import shutil
    from pathlib import Path

    from sigkit.shipped.build import refresh_card

    for name in (shipped.TOWER_FILE, shipped.CARD_FILE, shipped.BACKGROUND_FILE):
        shutil.copyfile(shipped.pretrained_path().parent / name, tmp_path / name)
    folder = str(Path(scans[0][0]).parents[1])  # the synthetic set: 2 writers, not 255
    with pytest.raises(ValueError, match="give the corpora of its command"):
        refresh_card(folder, tmp_path)
    # a tower trained with other --set settings is refreshed with them, not the profile's
    with pytest.raises(ValueError, match="give the --set settings of its command"):
        refresh_card(folder, tmp_path, image_size=(128, 256))
    assert (tmp_path / shipped.CARD_FILE).read_text() == (
        shipped.pretrained_path().parent / shipped.CARD_FILE
    ).read_text()


@pytest.mark.slow
def test_a_background_of_the_users_own_writers_joins_the_shipped_one_and_is_cached(scans, tmp_path):
    """`verify --background FOLDER`: the folder's genuine signatures are added to the shipped
    background of the writer-dependent classifiers (plain and aligned), embedded once and cached."""
    from sigkit.trained import TrainedModel
    from sigkit.verify import InputFileError, verify

    genuine, forged = scans
    population = synth.generate(tmp_path / "population", n_writers=3, n_genuine=4, n_forged=1, seed=5)
    model = TrainedModel.load()
    mine = model.with_background(population, cache_dir=tmp_path / "cache")
    for aligned in (False, True):
        shipped_rows = len(model.background(aligned))
        assert len(mine.required_background(aligned)) > shipped_rows  # the shipped rows, then the user's
        np.testing.assert_allclose(mine.required_background(aligned)[:shipped_rows], model.background(aligned))
    assert len(list((tmp_path / "cache" / "backgrounds").glob("*.npz"))) == 1
    again = model.with_background(population, cache_dir=tmp_path / "cache")  # read back from the cache
    np.testing.assert_array_equal(again.required_background(True), mine.required_background(True))
    with_own = verify(mine, genuine[:5], forged[0], method="wd")
    without = verify(model, genuine[:5], forged[0], method="wd")
    assert with_own.distance != pytest.approx(without.distance, abs=1e-9)  # other negatives, another classifier
    with pytest.raises(InputFileError, match="background folder is for --method wd"):
        verify(model, genuine[:5], forged[0], background=population)


def test_build_settings_are_read_as_the_profile_would_take_them():
    from sigkit.config import profile
    from sigkit.shipped.build import settings_from

    settings = settings_from(["widths=32,64,128,256", "learning_rate=5e-4", "tower=cbam"])
    assert settings == {"widths": (32, 64, 128, 256), "learning_rate": 5e-4, "tower": "cbam"}
    assert profile("pretrain", **settings).model.widths == (32, 64, 128, 256)
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        settings_from(["widths"])
