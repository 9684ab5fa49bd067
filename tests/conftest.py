"""Shared fixtures: a tiny synthetic data set, split and preprocessed, for training tests."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sigkit.quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # the suite's output shows the tests, not TensorFlow's C++ start-up lines

import sigkit  # noqa: E402
from sigkit import synth  # noqa: E402
from sigkit.datasets import load_dataset, split_writers  # noqa: E402
from sigkit.preprocess import load_images, preprocess_options  # noqa: E402

# The real corpora are looked for in SIGKIT_DATA only (sigkit.paths); a checkout beside shared/data
# uses that folder unless told otherwise. Set here, before the test modules look for them.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("SIGKIT_DATA") and SHARED_DATA.is_dir():
    os.environ["SIGKIT_DATA"] = str(SHARED_DATA)

TINY = dict(
    image_size=(32, 64),
    widths=(8, 16),
    convs_per_block=1,
    embedding_dim=16,
    writers_per_batch=3,
    k_genuine=2,
    k_forged=1,
    batch_size=12,
    learning_rate=1e-3,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=8, n_genuine=5, n_forged=4, seed=2)
    manifest = load_dataset(folder)
    splits = split_writers(manifest, val=2, test=2, seed=0)
    options = preprocess_options(sigkit.profile("default", **TINY).preprocess)
    images = {name: load_images(part["decode_path"], **options) for name, part in splits.items()}
    return folder, splits, images


RUNNER = """
import sys, pickle, sigkit
from sigkit.train import train
splits, images, overrides = pickle.load(open(sys.argv[1], "rb"))
train(sigkit.profile("default", **overrides), splits, images, sys.argv[2])
"""


def train_and_kill(splits, images, overrides: dict, run, after_epoch: int = 1) -> int:
    """Train `profile("default", **overrides)` in a child process into `run` and SIGKILL it (a real,
    unannounced stop, as a crash would be) once epoch `after_epoch` is checkpointed; the last
    checkpointed epoch."""
    payload = run.parent / f"{run.name}-payload.pkl"
    payload.write_bytes(pickle.dumps((splits, images, overrides)))
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(payload), str(run)],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = run / "checkpoint" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= after_epoch:
            break
        time.sleep(0.2)
    assert child.poll() is None, "the run ended before it could be interrupted"
    child.send_signal(signal.SIGKILL)
    child.wait()
    return json.loads(state.read_text())["epoch"]
