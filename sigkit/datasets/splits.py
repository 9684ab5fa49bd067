"""Writer-disjoint splits, per-writer reference limits and counts, all on a finished manifest.

Verification is judged on writers the model never saw, so a writer's images never straddle two
splits. Everything here works on the DataFrame alone (no files are opened), keeps the manifest's
natural writer order, and draws at random only from an explicit seed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sigkit.datasets.errors import DatasetError, shortlist
from sigkit.datasets.manifest import natural_key


@dataclass(frozen=True)
class SplitConfig:
    """Which writers validate and test, and how many genuine signatures each training writer keeps:
    `Config.split`. Seed-free: `Config.seed` draws the writers."""

    val_writers: float | int | tuple = 0.15  # a share, a count, or explicit writer ids (then train = the rest)
    test_writers: float | int | tuple = 0.15
    references_per_writer: int | None = None  # limited-sample setting; None = all genuine

    def __post_init__(self):
        for name in ("val_writers", "test_writers"):
            if isinstance(getattr(self, name), list):  # JSON gives a list
                object.__setattr__(self, name, tuple(getattr(self, name)))


# The splits the kit's figures are measured on, defined here once (profiles, notebooks and benches
# name them). CEDAR's fixed protocol: writers 1-35 train with 12 genuine references each (the
# limited-sample setting), 36-45 validate, 46-55 test.
CEDAR_SPLIT = SplitConfig(val_writers=tuple(range(36, 46)), test_writers=tuple(range(46, 56)), references_per_writer=12)
# a corpus without a fixed protocol (the cross-corpus and Kaggle tables): 55 / 15 / 30 % of its
# writers to training, validation and test, drawn by the seed, every genuine signature kept
SHARES_SPLIT = SplitConfig(val_writers=0.15, test_writers=0.3, references_per_writer=None)
# a tower pre-trained for transfer (the shipped tower, the `across` arm): every corpus 90 / 10 into
# training and validation writers, no test writers (it is tested on a corpus it never saw)
PRETRAIN_SPLIT = SplitConfig(val_writers=0.1, test_writers=0.0, references_per_writer=None)


def corpus_split(corpus: str) -> SplitConfig:
    """The split a corpus is measured with: CEDAR's fixed protocol for "cedar", else `SHARES_SPLIT`."""
    return CEDAR_SPLIT if corpus == "cedar" else SHARES_SPLIT


def split_writers(
    manifest: pd.DataFrame,
    val: float | int = 0.15,
    test: float | int = 0.15,
    seed: int = 0,
    *,
    train_writers: Iterable[int | str] | None = None,
    val_writers: Iterable[int | str] | None = None,
    test_writers: Iterable[int | str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Writer-disjoint "train", "val" and "test" manifests.

    `val` and `test` are a fraction of the writers (0.15) or a count (10). Explicit writer lists
    replace the random split, and writers named in none of them are left out (CEDAR's fixed protocol
    is `CEDAR_SPLIT`, through `splits_for`). A number also matches a zero-padded id (1 -> "001"). With
    several corpora (`load_corpora`) and shares, each corpus is split by the shares, so that every
    corpus is seen in training and in validation.
    """
    writers = _writers(manifest)
    explicit = (train_writers, val_writers, test_writers)
    if any(ids is not None for ids in explicit):
        groups = _explicit_split(writers, *explicit)
    else:
        groups = _random_split_by_corpus(manifest, writers, val, test, seed)
    splits = {name: manifest[manifest["writer"].isin(group)].reset_index(drop=True) for name, group in groups.items()}
    _assert_writer_disjoint(splits)
    return splits


def limit_references(manifest: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame:
    """At most `n` genuine samples per writer, drawn at random; forgeries are all kept.

    A writer's draw depends only on the seed and its own files, so it is the same whether the
    manifest holds every writer or only one split. `n=None` returns the manifest unchanged.
    """
    if n is None:
        return manifest
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    keep = pd.Series(True, index=manifest.index)
    for writer, genuine in manifest[manifest["genuine"]].groupby("writer", sort=False):
        if len(genuine) <= n:
            continue
        candidates = genuine.sort_values("path").index.to_numpy()
        chosen = _writer_rng(seed, str(writer)).choice(candidates, size=int(n), replace=False)
        keep.loc[candidates] = False
        keep.loc[chosen] = True
    return manifest[keep].reset_index(drop=True)


def splits_for(manifest: pd.DataFrame, split: SplitConfig, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The split `split` (`Config.split`) asks for: its val/test shares drawn with `seed` (or
    explicit writer ids, the other writers then train), and its `references_per_writer` cap on the
    training writers (the limited-sample setting)."""
    if isinstance(split.val_writers, (list, tuple)) or isinstance(split.test_writers, (list, tuple)):
        val, test = (
            list(ids) if isinstance(ids, (list, tuple)) else [] for ids in (split.val_writers, split.test_writers)
        )
        named = {
            str(w)
            for part in split_writers(manifest, val_writers=val, test_writers=test).values()
            for w in part["writer"]
        }
        splits = split_writers(
            manifest, train_writers=sorted(set(_writers(manifest)) - named), val_writers=val, test_writers=test
        )
    else:
        splits = split_writers(manifest, val=split.val_writers, test=split.test_writers, seed=seed)
    if split.references_per_writer:
        splits["train"] = limit_references(splits["train"], split.references_per_writer, seed=seed)
    return splits


def rows_in(manifest: pd.DataFrame, part: pd.DataFrame) -> np.ndarray:
    """Positions in `manifest` of the rows of `part` (matched by path), e.g. to take a split's
    images out of an array preprocessed for the whole manifest."""
    position = pd.Series(np.arange(len(manifest)), index=manifest["path"].to_numpy())
    missing = ~part["path"].isin(position.index)
    if missing.any():
        raise DatasetError(
            f"{int(missing.sum())} file(s) are not in the manifest, e.g. {part['path'][missing].iloc[0]}"
        )
    return position.loc[part["path"].to_numpy()].to_numpy()


def summarize(manifest: pd.DataFrame) -> pd.DataFrame:
    """Genuine and forged counts per writer (index "writer", natural order)."""
    counts = (
        manifest.groupby(["writer", "genuine"])
        .size()
        .unstack("genuine", fill_value=0)
        .reindex(columns=[True, False], fill_value=0)
        .rename(columns={True: "genuine", False: "forged"})
        .astype(int)
    )
    counts.columns.name = None
    return counts.reindex(_writers(manifest))


def _writers(manifest: pd.DataFrame) -> list[str]:
    return sorted(manifest["writer"].astype(str).unique(), key=natural_key)


def _random_split(writers: list[str], val: float | int, test: float | int, seed: int) -> dict[str, list[str]]:
    n_val = _writer_count(val, len(writers), "val")
    n_test = _writer_count(test, len(writers), "test")
    n_train = len(writers) - n_val - n_test
    if n_train < 1:
        raise DatasetError(
            f"cannot split {len(writers)} writer(s) into train/val/test: val={val!r} takes "
            f"{n_val} and test={test!r} takes {n_test}, leaving no training writer; "
            "use a dataset with more writers or lower val/test (0 gives an empty split)"
        )
    shuffled = [writers[i] for i in np.random.default_rng(seed).permutation(len(writers))]
    groups = {
        "train": shuffled[n_test + n_val :],
        "val": shuffled[n_test : n_test + n_val],
        "test": shuffled[:n_test],
    }
    return {name: sorted(group, key=natural_key) for name, group in groups.items()}


def _random_split_by_corpus(
    manifest: pd.DataFrame, writers: list[str], val: float | int, test: float | int, seed: int
) -> dict[str, list[str]]:
    shares = not isinstance(val, (int, np.integer)) and not isinstance(test, (int, np.integer))
    if not shares or "corpus" not in manifest or manifest["corpus"].nunique() < 2:
        return _random_split(writers, val, test, seed)
    corpus_of = dict(zip(manifest["writer"].astype(str), manifest["corpus"]))
    groups: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for corpus in manifest["corpus"].unique():
        part = _random_split([w for w in writers if corpus_of[w] == corpus], val, test, seed)
        for name in groups:
            groups[name] += part[name]
    return {name: sorted(group, key=natural_key) for name, group in groups.items()}


def _writer_count(share: float | int, n_writers: int, name: str) -> int:
    if isinstance(share, (bool, np.bool_)):
        raise ValueError(f"{name} must be a fraction or a writer count, got {share!r}")
    if isinstance(share, (int, np.integer)):
        if share < 0:
            raise ValueError(f"{name} must be >= 0 writers, got {share}")
        return int(share)
    if not 0.0 <= share < 1.0:
        raise ValueError(f"{name} as a fraction must be in [0, 1), got {share!r}; pass an int for a writer count")
    # Any positive fraction asks for that split to exist, so it gets at least one writer.
    return max(1, round(share * n_writers)) if share > 0 else 0


def _explicit_split(
    writers: list[str], train: Iterable | None, val: Iterable | None, test: Iterable | None
) -> dict[str, list[str]]:
    groups = {
        name: _known_writers(ids, writers, name) for name, ids in (("train", train), ("val", val), ("test", test))
    }
    seen: dict[str, str] = {}
    clashes = []
    for name, group in groups.items():
        for writer in group:
            if writer in seen and seen[writer] != name:
                clashes.append(f"{writer!r} ({seen[writer]} and {name})")
            seen[writer] = name
    if clashes:
        raise DatasetError(f"writers named in two splits: {shortlist(clashes)}")
    return groups


def _known_writers(ids: Iterable | None, writers: list[str], split: str) -> list[str]:
    if ids is None:
        return []
    if isinstance(ids, (str, int)):
        raise TypeError(f"{split}_writers must be a list of writer ids, got {ids!r}")
    by_number = defaultdict(list)
    for writer in writers:
        if writer.isdigit():
            by_number[int(writer)].append(writer)
    known, unknown = [], []
    for raw in ids:
        writer = str(raw).strip()
        if writer in writers:
            known.append(writer)
        elif writer.isdigit() and len(by_number[int(writer)]) == 1:  # 1 -> "001"
            known.append(by_number[int(writer)][0])
        else:
            unknown.append(writer)
    if unknown:
        raise DatasetError(
            f"unknown writer id(s) in {split}_writers: {shortlist(unknown)}; the manifest's "
            f"writers are {shortlist(writers)}"
        )
    return sorted(dict.fromkeys(known), key=natural_key)


def _assert_writer_disjoint(splits: dict[str, pd.DataFrame]) -> None:
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = set(splits[first]["writer"]) & set(splits[second]["writer"])
            if shared:
                raise AssertionError(f"writers in both {first} and {second}: {sorted(shared)}")


def _writer_rng(seed: int, writer: str) -> np.random.Generator:
    writer_key = int.from_bytes(hashlib.sha1(writer.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, writer_key])
