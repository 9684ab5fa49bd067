"""What a `data` parameter names, and `load_dataset`, the one entry that reads it.

A data parameter (a notebook's `data`, `make reports DATA=...`, `prepare`, `sigkit info`) names
one folder, or several corpora read as one training set: a list, or one string "a,b".
`data_folders` is the one place that tells the two apart; `sigkit.paths.resolve_data` and
`load_dataset` both go by it. `load_dataset` reads one folder with `manifest.load_folder` and
several with `corpora.load_corpora`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from sigkit.datasets.corpora import load_corpora
from sigkit.datasets.errors import DatasetError
from sigkit.datasets.manifest import load_folder


def data_folders(data: str | os.PathLike | Sequence[str | os.PathLike] | None) -> str | list[str]:
    """The folder `data` names as a string, or the several it names as a list (empty: none).

    A string with commas names several ("a,b"); a list names several even with one entry (writer
    ids then start with the corpus name, as for any list); a path object is always one folder.
    """
    if data is None:
        return []
    if isinstance(data, os.PathLike):
        return str(data)
    if isinstance(data, str):
        parts = [part.strip() for part in data.split(",") if part.strip()]
        return parts[0] if len(parts) == 1 else parts
    return [str(part) for part in data]


def load_dataset(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    strict: bool = False,
    min_genuine: int = 2,
    max_pixels: int | None = 50_000_000,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The manifest of what `path` names (`data_folders`): one row per usable image.

    One folder is read by `manifest.load_folder` (row order, `strict` and the limits are
    described there); several (a list, or one string "a,b") as one training set by
    `corpora.load_corpora`, whose writer ids start with the corpus name.
    """
    folders = data_folders(path)
    options = dict(strict=strict, min_genuine=min_genuine, max_pixels=max_pixels, cache_dir=cache_dir)
    if isinstance(folders, str):
        return load_folder(folders, **options)
    if not folders:
        raise DatasetError(f"no data folder named in {path!r}: give a folder, a list of folders or 'a,b'")
    return load_corpora(folders, **options)
