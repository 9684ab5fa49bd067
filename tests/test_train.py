"""Training end to end on a tiny synthetic set: both modes, saving, and a real interrupt + resume."""

import json

import keras
import numpy as np
import pytest
from conftest import TINY, train_and_kill

import sigkit
from sigkit.model import embed, find_tower
from sigkit.train import learning_rate, train


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["batch", "pairs"])
def test_train_saves_a_loadable_model_with_its_validation_threshold(tiny, tmp_path, mode):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, mode=mode, epochs=2, steps_per_epoch=3, seed=1)
    result = train(config, splits, images, tmp_path)
    assert list(result.history["epoch"]) == [0, 1]
    assert np.isfinite(result.history["loss"]).all() and result.history["val_eer"].between(0, 1).all()
    assert result.best_val_eer == pytest.approx(result.history["val_eer"].min())
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["threshold"] == pytest.approx(result.threshold) and card["config"]["train"]["mode"] == mode

    siamese = keras.saving.load_model(result.model_path, safe_mode=True)
    a, b = images["test"][:4], images["test"][4:8]
    distances = siamese.predict([a / 255.0, b / 255.0], verbose=0)[:, 0]
    emb = embed(find_tower(siamese), images["test"])
    np.testing.assert_allclose(distances, np.linalg.norm(emb[:4] - emb[4:8], axis=1), atol=1e-4)


@pytest.mark.slow
def test_same_seed_same_training(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=2, seed=3, augment=True)
    first = train(config, splits, images, tmp_path / "a").history["loss"].iloc[0]
    second = train(config, splits, images, tmp_path / "b").history["loss"].iloc[0]
    assert first == pytest.approx(second, rel=1e-4)


@pytest.mark.slow
def test_resuming_with_another_config_is_refused(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=1)
    train(config, splits, images, tmp_path)
    # more epochs: a resume, allowed
    assert len(train(config.replace(epochs=2), splits, images, tmp_path).history) == 2
    with pytest.raises(ValueError, match="learning_rate"):
        train(config.replace(epochs=3, learning_rate=0.5), splits, images, tmp_path)
    # a run saved before a setting existed resumes while that setting keeps its default
    state_file = tmp_path / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["train"]["positive_margin"]
    state_file.write_text(json.dumps(state))
    assert len(train(config.replace(epochs=3), splits, images, tmp_path).history) == 3
    # so does a run saved with the flat config of the versions before the groups
    state = json.loads(state_file.read_text())
    state["config"] = json.loads(json.dumps({**config.flat(), "data": None}))
    state_file.write_text(json.dumps(state))
    assert len(train(config.replace(epochs=4), splits, images, tmp_path).history) == 4
    with pytest.raises(ValueError, match="positive_margin"):
        train(config.replace(epochs=5, positive_margin=0.2), splits, images, tmp_path)
    # settings of the match head do not concern an embedding tower; switching the head does
    assert len(train(config.replace(epochs=5, match_temperature=0.9), splits, images, tmp_path).history) == 5
    with pytest.raises(ValueError, match="head"):
        train(config.replace(epochs=6, head="match"), splits, images, tmp_path)


@pytest.mark.slow
def test_a_run_stopped_by_its_time_budget_counts_as_finished(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=50, steps_per_epoch=1, time_budget_s=1e-3)
    first = train(config, splits, images, tmp_path)
    assert first.stopped == "time budget" and len(first.history) == 1
    again = train(config, splits, images, tmp_path)  # nothing more to do
    assert len(again.history) == 1 and again.seconds == pytest.approx(first.seconds)


def test_bad_inputs_get_clear_errors(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=1)
    with pytest.raises(ValueError, match="manifest rows"):
        train(config, splits, {**images, "train": images["train"][:3]}, tmp_path)
    one_writer = splits["val"][splits["val"]["writer"] == splits["val"]["writer"].iloc[0]]
    with pytest.raises(ValueError, match="validation needs at least 2 writers"):
        train(config, {**splits, "val": one_writer}, {**images, "val": images["val"][: len(one_writer)]}, tmp_path)
    with pytest.raises(ValueError, match="writer_mirrors needs mode='batch'"):
        train(config.replace(mode="pairs", writer_mirrors=2), splits, images, tmp_path / "pairs")


@pytest.mark.slow
def test_a_killed_run_resumes_after_its_last_finished_epoch(tiny, tmp_path):
    _, splits, images = tiny
    overrides = dict(TINY, epochs=14, steps_per_epoch=4, patience=1000, seed=4, dropout=0.3)
    run = tmp_path / "run"
    stopped_after = train_and_kill(splits, images, overrides, run)
    state = run / "checkpoint" / "state.json"
    assert 1 <= stopped_after < 13

    result = train(sigkit.profile("default", **overrides), splits, images, run)
    history = result.history
    assert list(history["epoch"]) == list(range(14)), "every epoch exactly once, none lost or repeated"
    assert json.loads(state.read_text())["epoch"] == 13
    # resuming restores weights, optimizer state and the data order: the same losses as a run
    # that was never interrupted
    uninterrupted = train(sigkit.profile("default", **overrides), splits, images, tmp_path / "straight").history
    np.testing.assert_allclose(history["loss"], uninterrupted["loss"], rtol=1e-3)


@pytest.mark.slow
def test_moving_average_weights_are_selected_and_saved(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=4, seed=1, ema_momentum=0.5, writer_mirrors=2)
    result = train(config, splits, images, tmp_path)
    saved = find_tower(keras.saving.load_model(result.model_path, safe_mode=True)).trainable_weights
    last = keras.saving.load_model(tmp_path / "checkpoint" / "last-0000.keras", safe_mode=True)
    trained = [keras.ops.convert_to_numpy(w) for w in last.trainable_weights]
    averages = [keras.ops.convert_to_numpy(a) for a in last.optimizer._model_variables_moving_average]
    # the checkpoint goes on from the trained weights; the selected model is their average
    assert any(not np.allclose(t, a) for t, a in zip(trained, averages))
    for weight, average in zip(saved, averages):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), average, atol=1e-6)


@pytest.mark.slow
def test_an_ensemble_trains_its_members_and_saves_one_model(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=2, seed=4, ensemble=2)
    result = train(config, splits, images, tmp_path)
    assert sorted(result.history["member"].unique()) == [0, 1]
    members = [
        find_tower(keras.saving.load_model(tmp_path / f"member-{i}" / "model.keras", safe_mode=True)) for i in range(2)
    ]
    assert [m.name for m in members] == ["member_0", "member_1"]
    tower = find_tower(keras.saving.load_model(result.model_path, safe_mode=True))
    emb = embed(tower, images["test"])
    parts = [embed(m, images["test"]) for m in members]
    # the ensemble's squared distance is the members' mean squared distance
    d2 = np.sum((emb[:3] - emb[3:6]) ** 2, axis=1)
    np.testing.assert_allclose(d2, np.mean([np.sum((p[:3] - p[3:6]) ** 2, axis=1) for p in parts], axis=0), rtol=1e-4)
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["threshold"] == pytest.approx(result.threshold) and len(card["members"]) == 2
    # a second call reuses the finished members
    again = train(config, splits, images, tmp_path)
    assert again.threshold == pytest.approx(result.threshold)


def test_learning_rate_schedules():
    config = sigkit.profile("default", learning_rate=1e-3, epochs=4)
    assert learning_rate(config.train, steps_per_epoch=5) == 1e-3
    cosine = learning_rate(config.replace(lr_schedule="cosine").train, steps_per_epoch=5)
    assert [float(cosine(step)) for step in (0, 10, 20)] == pytest.approx([1e-3, 5e-4, 0.0], abs=1e-9)
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate(config.replace(lr_schedule="step").train, steps_per_epoch=5)


@pytest.mark.slow
def test_a_cosine_run_ends_its_decay_with_the_last_epoch(tiny, tmp_path):
    _, splits, images = tiny
    config = sigkit.profile("default", **TINY, epochs=2, steps_per_epoch=3, seed=1, lr_schedule="cosine")
    train(config, splits, images, tmp_path)
    last = keras.saving.load_model(tmp_path / "checkpoint" / "last-0001.keras", safe_mode=True)
    assert int(last.optimizer.iterations) == 6
    assert float(last.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_a_short_training_learns_not_just_runs(tmp_path):
    """Learning, not just running: without augmentation or dropout, 25 epochs on 8 synthetic
    writers must fit them (the training writers' pairs near-perfectly separated, where the same
    tower untrained is near chance on skilled forgeries) and lower the validation EER."""
    from sigkit import synth
    from sigkit.datasets import load_dataset, split_writers
    from sigkit.metrics import eer
    from sigkit.model import tower_for
    from sigkit.preprocess import load_images, preprocess_options
    from sigkit.scoring import pair_scores

    folder = synth.generate(tmp_path / "synth", n_writers=16, n_genuine=8, n_forged=6, seed=3)
    splits = split_writers(load_dataset(folder), val=3, test=5, seed=0)
    config = sigkit.profile(
        "default", image_size=(48, 96), epochs=25, writers_per_batch=6, patience=100, augment=False, dropout=0.0
    )
    options = preprocess_options(config.preprocess)
    images = {name: load_images(part["decode_path"], **options) for name, part in splits.items()}
    keras.utils.set_random_seed(0)
    untrained = tower_for(config.model, config.preprocess.image_size)
    result = train(config, splits, images, tmp_path / "run")
    last = keras.saving.load_model(sorted((tmp_path / "run" / "checkpoint").glob("last-*.keras"))[-1], safe_mode=True)

    def skilled_eer(tower):
        pairs = pair_scores(embed(tower, images["train"]), splits["train"])
        pairs = pairs[pairs["kind"] != "random"]
        return eer(pairs["distance"], pairs["label"])[0]

    assert skilled_eer(untrained) > 0.25 and skilled_eer(last) < 0.05
    history = result.history
    assert history["loss"].iloc[-1] < 0.2 * history["loss"].iloc[0]
    assert history["val_eer"].min() < history["val_eer"].iloc[0] - 0.03


@pytest.mark.slow
def test_the_saved_model_holds_weights_not_the_optimizer(tiny, tmp_path):
    import zipfile

    import h5py

    _, splits, images = tiny
    result = train(
        sigkit.profile("default", **TINY, epochs=1, steps_per_epoch=2, ema_momentum=0.9), splits, images, tmp_path
    )
    with zipfile.ZipFile(result.model_path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    names = []
    with h5py.File(tmp_path / "model.weights.h5") as weights:
        weights.visit(names.append)
    assert not any("optimizer" in name for name in names)
    assert (tmp_path / "checkpoint").exists()  # the optimizer's state lives in the checkpoint, for resuming
