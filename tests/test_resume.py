"""A run whose checkpoint cannot be read: a finished run still reports, an unfinished one goes on
from its best saved model, and without one the error names the file and says what to do."""

import json
import logging
import shutil
from pathlib import Path

import pytest
from conftest import TINY

import sigkit
from sigkit.train import train

pytestmark = pytest.mark.slow  # every test here resumes a trained run

OVERRIDES = dict(TINY, epochs=2, steps_per_epoch=1, seed=5)


@pytest.fixture(scope="module")
def two_epochs(tiny, tmp_path_factory) -> Path:
    _, splits, images = tiny
    run = tmp_path_factory.mktemp("resume") / "run"
    train(sigkit.profile("default", **OVERRIDES), splits, images, run)
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def cut_short(path: Path) -> Path:
    """Half the file, as a full disk or an interrupted copy leaves it."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_a_finished_run_reports_without_its_checkpoint(tiny, two_epochs, tmp_path):
    _, splits, images = tiny
    run = copy_of(two_epochs, tmp_path)
    cut_short(run / "checkpoint" / "last-0001.keras")
    model = (run / "model.keras").read_bytes()
    result = train(sigkit.profile("default", **OVERRIDES), splits, images, run)
    assert list(result.history["epoch"]) == [0, 1]
    assert (run / "model.keras").read_bytes() == model


@pytest.mark.parametrize("damaged", ["last-0001.keras", "state.json"])
def test_a_damaged_checkpoint_goes_on_from_the_best_saved_model(tiny, two_epochs, tmp_path, caplog, damaged):
    _, splits, images = tiny
    run = copy_of(two_epochs, tmp_path)
    file = cut_short(run / "checkpoint" / damaged)
    best = json.loads((run / "model.json").read_text())
    with caplog.at_level(logging.WARNING, logger="sigkit.train"):
        result = train(sigkit.profile("default", **{**OVERRIDES, "epochs": 3}), splits, images, run)
    assert str(file) in caplog.text and "best saved model" in caplog.text
    assert list(result.history["epoch"]) == [0, 1, 2]  # the epochs after the best ran again, once each
    assert result.best_val_eer <= best["val_eer"]  # the best model stays unless a better one replaced it
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2
    assert sorted(p.name for p in (run / "checkpoint").glob("*.keras")) == ["last-0002.keras"]


@pytest.mark.parametrize("damaged", ["last-0001.keras", "state.json"])
def test_without_a_usable_best_model_the_error_says_what_to_do(tiny, two_epochs, tmp_path, damaged):
    _, splits, images = tiny
    run = copy_of(two_epochs, tmp_path)
    file = cut_short(run / "checkpoint" / damaged)
    cut_short(run / "model.keras")
    history, card = (run / "history.csv").read_bytes(), (run / "model.json").read_bytes()
    with pytest.raises(ValueError, match="cannot resume") as error:
        train(sigkit.profile("default", **{**OVERRIDES, "epochs": 3}), splits, images, run)
    message = str(error.value)
    assert message.startswith(f"{file}: ") and str(run / "model.keras") in message and "delete" in message
    # nothing was overwritten: what the run wrote is still there for the user to decide on
    assert (run / "history.csv").read_bytes() == history and (run / "model.json").read_bytes() == card
