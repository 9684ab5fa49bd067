"""The tower shipped with sigkit: verification on day one, without a training set.

    model, card = sigkit.pretrained()              # the Siamese model and its ModelCard (card.extra: corpora, ...)
    background = sigkit.shipped.background()       # embedded genuine signatures of its training writers

One `cedar-cpu`-sized tower trained by `python -m sigkit.shipped.build` on public corpora other
than CEDAR (the card names them, with writer counts, preprocessing, validation figures and the
licence: non-commercial research, like the corpora). CEDAR is never among them, so the kit can
measure transfer on it honestly (`bench/transfer.py`). `sigkit verify` uses it when no model is
given; `sigkit.wd` uses the background for its writer-dependent classifiers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np  # noqa: F401  (the return type of background)

TOWER_FILE = "tower.keras"
CARD_FILE = "tower.json"  # the model card; `sigkit.card.ModelCard.for_model` finds it beside the .keras file
BACKGROUND_FILE = "background.npz"
FOLDER = Path(__file__).parent


class PretrainedMissing(FileNotFoundError):
    """The shipped files are not there (a checkout without them, or a deleted file)."""


def pretrained_path(folder: str | Path | None = None) -> Path:
    """The shipped `.keras` file (its model card sits beside it as `tower.json`)."""
    path = Path(folder or FOLDER) / TOWER_FILE
    if not path.is_file():
        raise PretrainedMissing(
            f"{path}: the pretrained tower is missing; rebuild it with "
            "`python -m sigkit.shipped.build --data DIR1,DIR2,...` or give a model file"
        )
    return path


def card(folder: str | Path | None = None):
    """The model card (`sigkit.card.ModelCard`): threshold, config; in `extra` the corpora and
    writer counts, preprocessing, input size, validation EERs, writer-dependent settings, licence."""
    from sigkit.card import ModelCard

    return ModelCard.for_model(pretrained_path(folder))


def load(folder: str | Path | None = None):
    """(the Siamese model, its model card), loaded with safe_mode=True."""
    from sigkit.model import load_siamese

    return load_siamese(pretrained_path(folder)), card(folder)


def background(folder: str | Path | None = None, aligned: bool = False) -> np.ndarray:
    """(N, D) float32 embeddings of genuine signatures of the training writers (4 per writer);
    `aligned`: followed by the turns and shifts stored for them, the negatives of the aligned
    writer-dependent classifiers (`sigkit.wd.background_with_variants`)."""
    from sigkit.wd import background_beside

    return background_beside(pretrained_path(folder), aligned=aligned)
