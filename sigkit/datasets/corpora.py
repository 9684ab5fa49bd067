"""Several corpora as one training set: each read in its own layout, writers kept apart by corpus.

    manifest = load_corpora(["data/bhsig-bengali", "data/sigcomp2009"])

Each folder goes through `manifest.load_folder` (its own layout, checks and duplicates). A writer id
becomes "<corpus>:<writer>" (the corpus is the folder's name), so writer "1" of one corpus never
merges with writer "1" of another. An image whose bytes already came from an earlier corpus is
dropped with one warning (DuplicateImagesWarning): a scan redistributed in two collections must
not sit on both sides of a pair or a split. Writers without forgeries stay: they give genuine
pairs and random negatives. `manifest.attrs["corpora"]` counts writers and images per corpus.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sigkit.datasets.errors import DatasetError, DuplicateImagesWarning
from sigkit.datasets.manifest import COLUMNS, load_folder, manifest_order

SEPARATOR = ":"


def corpus_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Each folder's name, numbered when two folders share one (a/data, b/data -> data, data-2)."""
    names: list[str] = []
    for path in paths:
        name = Path(path).expanduser().absolute().name
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name}-{n}"
        names.append(candidate)
    return names


def load_corpora(paths: Sequence[str | os.PathLike], **options) -> pd.DataFrame:
    """One manifest of several corpora; `options` go to each `load_folder` call."""
    if not paths:
        raise DatasetError("load_corpora needs at least one data folder")
    parts, skipped, counts, seen = [], [], [], {}
    for name, path in zip(corpus_names(paths), paths):
        manifest = load_folder(path, **options)
        skipped += manifest.attrs.get("skipped", [])
        duplicate = manifest["sha1"].isin(seen)
        for row in manifest[duplicate].itertuples():
            skipped.append({"path": row.path, "reason": f"same bytes as {seen[row.sha1]}"})
        if duplicate.any():
            first = manifest[duplicate].iloc[0]
            warnings.warn(
                f"dropped {int(duplicate.sum())} image(s) of {path} already read from another corpus, "
                f"e.g. {first['path']} (same bytes as {seen[first['sha1']]})",
                DuplicateImagesWarning,
                stacklevel=2,
            )
        manifest = manifest[~duplicate]
        seen.update(zip(manifest["sha1"], manifest["path"]))
        manifest = manifest.assign(corpus=name, writer=name + SEPARATOR + manifest["writer"].astype(str))
        parts.append(manifest)
        counts.append(
            {
                "corpus": name,
                "path": str(Path(path).expanduser().absolute()),
                "layout": str(manifest["source"].iloc[0]) if len(manifest) else None,
                "writers": int(manifest["writer"].nunique()),
                "genuine": int(manifest["genuine"].sum()),
                "forged": int((~manifest["genuine"]).sum()),
                "duplicates_dropped": int(duplicate.sum()),
            }
        )
    merged = pd.concat(parts, ignore_index=True)[COLUMNS]
    rows = zip(merged["writer"], merged["genuine"], merged["sample"], merged["path"])
    order = [i for _, i in sorted((manifest_order(*row), i) for i, row in enumerate(rows))]
    merged = merged.iloc[order].reset_index(drop=True)
    merged.attrs["skipped"] = skipped
    merged.attrs["corpora"] = counts
    return merged


def corpus_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Writers, genuine and forged images per corpus (one row for a single-corpus manifest)."""
    groups = manifest.groupby("corpus", sort=False)
    return pd.DataFrame(
        {
            "writers": groups["writer"].nunique(),
            "genuine": groups["genuine"].sum(),
            "forged": groups["genuine"].size() - groups["genuine"].sum(),
        }
    ).astype(int)
