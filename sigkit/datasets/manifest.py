"""`load_folder`: from one folder of signature images to the manifest, one checked row per image.

It strings the steps together: find the files and their layout (`layouts`), check every file
(`checks`), drop byte-identical duplicates, skip or raise on the problems (`strict`), drop writers
left with too few genuine samples, and build the sorted DataFrame whose `attrs["skipped"]` lists
every dropped file with its reason. `sigkit.datasets.sources.load_dataset`, the entry for a data
parameter, calls it for one folder; `corpora` calls it once per corpus.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sigkit.datasets.checks import FileCheck, check_files, default_cache_dir
from sigkit.datasets.errors import DatasetError, DuplicateImagesWarning
from sigkit.datasets.layouts import (
    Entry,
    dataset_folder,
    detect_layout,
    image_files,
    layout_mismatch_reason,
    single_top_folder,
)

# The package's name, not this module's: the log lines keep the logger they always had.
logger = logging.getLogger("sigkit.datasets")

COLUMNS = [
    "path",
    "writer",
    "genuine",
    "sample",
    "source",
    "decode_path",
    "format",
    "mode",
    "height",
    "width",
    "file_bytes",
    "corpus",
    "sha1",
]
_SHOWN_IN_ERRORS = 20


@dataclasses.dataclass(frozen=True)
class _Skip:
    path: str
    reason: str


def load_folder(
    path: str | os.PathLike,
    *,
    strict: bool = False,
    min_genuine: int = 2,
    max_pixels: int | None = 50_000_000,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The manifest of one signature folder: one row per usable image, columns `COLUMNS`.

    Rows are sorted by writer (numbers in natural order), genuine first, sample, path. Problems
    are logged and skipped, or raised together as one DatasetError when `strict` is true.
    `max_pixels=None` lifts the size limit. See the `sigkit.datasets` docstring for layouts and
    checks.
    """
    _check_limits(min_genuine, max_pixels)
    root = dataset_folder(path)
    files = image_files(root)
    try:
        layout, entries, unmatched = detect_layout(root, files)
    except DatasetError:
        inner = single_top_folder(root, files)
        if inner is None:
            raise
        # a download's own top folder (Kaggle's sign_data/, a zip's folder): the data set is one level down
        logger.warning("%s holds one data set one level down; using %s", root, inner)
        return load_folder(inner, strict=strict, min_genuine=min_genuine, max_pixels=max_pixels, cache_dir=cache_dir)
    transcode_dir = Path(cache_dir).expanduser().absolute() if cache_dir else default_cache_dir()
    checks = check_files([entry.path for entry in entries], max_pixels, transcode_dir)

    entries, duplicates = _drop_duplicates(entries, checks)
    if duplicates:
        warnings.warn(
            f"dropped {len(duplicates)} duplicate image file(s) in {root}, e.g. "
            f"{duplicates[0].path} ({duplicates[0].reason}); each image is kept once, so that "
            "it cannot sit in two splits",
            DuplicateImagesWarning,
            stacklevel=2,
        )
    problems = [_Skip(str(p), layout_mismatch_reason(layout)) for p in unmatched]
    problems += [_Skip(str(e.path), checks[e.path].problem) for e in entries if checks[e.path].problem]
    _skip_or_raise(problems, strict)

    usable = _unique_samples([e for e in entries if not checks[e.path].problem], root)
    rows = [_row(entry, checks[entry.path], layout.name, root.name) for entry in usable]
    rows, writer_skips = _drop_writers_with_few_genuine(rows, min_genuine, strict)
    return _finished_manifest(rows, problems + writer_skips + duplicates, root, len(files), layout.name)


def _check_limits(min_genuine, max_pixels) -> None:
    """Reject a min_genuine or max_pixels that is not a count (a bool passes isinstance(int))."""
    if isinstance(min_genuine, bool) or not isinstance(min_genuine, int) or min_genuine < 0:
        raise ValueError(f"min_genuine must be an integer >= 0, got {min_genuine!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or max_pixels < 1):
        raise ValueError(f"max_pixels must be a positive pixel count or None, got {max_pixels!r}")


def _finished_manifest(rows: list[dict], skipped: list[_Skip], root: Path, n_files: int, layout: str) -> pd.DataFrame:
    """The sorted manifest of the usable rows, its skipped files in attrs; an error when none is usable."""
    if not rows:
        raise DatasetError(
            f"no usable images in {root}: all {n_files} image file(s) were skipped; first reasons:\n{_listing(skipped)}"
        )
    manifest = _manifest(rows)
    manifest.attrs["skipped"] = [dataclasses.asdict(skip) for skip in skipped]
    logger.info(
        "%s: %d images of %d writers (%s layout), %d file(s) skipped",
        root,
        len(manifest),
        manifest["writer"].nunique(),
        layout,
        len(skipped),
    )
    return manifest


def _unique_samples(entries: list[Entry], root: Path) -> list[Entry]:
    # Two files with one stem in one writer's set (e.g. train/001/a.png and test/001/a.png with
    # different bytes) would make `sample` ambiguous; their relative paths never are.
    counts = Counter((e.writer, e.genuine, e.sample) for e in entries)
    return [
        e
        if counts[(e.writer, e.genuine, e.sample)] == 1
        else dataclasses.replace(e, sample=e.path.relative_to(root).with_suffix("").as_posix())
        for e in entries
    ]


def _drop_duplicates(entries: list[Entry], checks: dict[Path, FileCheck]) -> tuple[list[Entry], list[_Skip]]:
    kept_by_hash: dict[str, Path] = {}
    kept, dropped = [], []
    for entry in sorted(entries, key=lambda e: str(e.path)):
        sha1 = checks[entry.path].sha1
        if sha1 and sha1 in kept_by_hash:
            dropped.append(_Skip(str(entry.path), f"same bytes as {kept_by_hash[sha1]}"))
            continue
        kept_by_hash[sha1] = entry.path
        kept.append(entry)
    return kept, dropped


def _skip_or_raise(problems: list[_Skip], strict: bool) -> None:
    if problems and strict:
        raise DatasetError(
            f"{len(problems)} unusable file(s) (strict=True; strict=False skips them):\n" + _listing(problems)
        )
    for problem in problems:
        logger.warning("skipping %s: %s", problem.path, problem.reason)


def _row(entry: Entry, check: FileCheck, source: str, corpus: str) -> dict:
    return {
        "path": str(entry.path),
        "writer": entry.writer,
        "genuine": entry.genuine,
        "sample": entry.sample,
        "source": source,
        "decode_path": str(check.decode_path),
        "format": check.format,
        "mode": check.mode,
        "height": check.height,
        "width": check.width,
        "file_bytes": check.file_bytes,
        "corpus": corpus,
        "sha1": check.sha1,
    }


def _drop_writers_with_few_genuine(rows: list[dict], min_genuine: int, strict: bool) -> tuple[list[dict], list[_Skip]]:
    genuine_counts = Counter(row["writer"] for row in rows if row["genuine"])
    too_few = sorted({row["writer"] for row in rows if genuine_counts[row["writer"]] < min_genuine}, key=natural_key)
    if not too_few:
        return rows, []
    reasons = {
        writer: (
            f"writer {writer!r} has {genuine_counts[writer]} genuine sample(s) after the "
            f"file checks, fewer than min_genuine={min_genuine}: add genuine scans or lower "
            "min_genuine"
        )
        for writer in too_few
    }
    if strict:
        raise DatasetError(
            "writers with too few genuine samples (strict=True):\n" + "\n".join(f"  {reasons[w]}" for w in too_few)
        )
    for writer in too_few:
        logger.warning("skipping %s", reasons[writer])
    skips = [_Skip(row["path"], reasons[row["writer"]]) for row in rows if row["writer"] in reasons]
    return [row for row in rows if row["writer"] not in reasons], skips


def _manifest(rows: list[dict]) -> pd.DataFrame:
    rows = sorted(rows, key=lambda row: manifest_order(row["writer"], row["genuine"], row["sample"], row["path"]))
    manifest = pd.DataFrame(rows, columns=COLUMNS)
    return manifest.astype({"genuine": bool, "height": "int64", "width": "int64", "file_bytes": "int64"})


def manifest_order(writer: str, genuine: bool, sample: str, path: str) -> tuple:
    """A manifest row's place: writers in natural order, genuine before forged, then sample and path."""
    return natural_key(writer), not genuine, natural_key(sample), path


def natural_key(text: str) -> tuple:
    """Sort "2" before "10": digit runs compare as numbers, the raw text breaks ties."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), text


def _listing(skips: Sequence[_Skip]) -> str:
    lines = [f"  {skip.path}: {skip.reason}" for skip in skips[:_SHOWN_IN_ERRORS]]
    if len(skips) > _SHOWN_IN_ERRORS:
        lines.append(f"  ... and {len(skips) - _SHOWN_IN_ERRORS} more")
    return "\n".join(lines)
