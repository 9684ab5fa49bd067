"""Shared fixtures: a tiny synthetic data set, split and preprocessed, for training tests."""

import pytest

import sigkit
from sigkit import synth
from sigkit.datasets import load_dataset, split_writers
from sigkit.preprocess import load_images, preprocess_options

TINY = dict(image_size=(32, 64), widths=(8, 16), convs_per_block=1, embedding_dim=16, writers_per_batch=3,
            k_genuine=2, k_forged=1, batch_size=12, learning_rate=1e-3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=8, n_genuine=5, n_forged=4, seed=2)
    manifest = load_dataset(folder)
    splits = split_writers(manifest, val=2, test=2, seed=0)
    options = preprocess_options(sigkit.profile("default", **TINY))
    images = {name: load_images(part["decode_path"], **options) for name, part in splits.items()}
    return folder, splits, images


