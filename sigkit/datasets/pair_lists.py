"""Pair lists as Kaggle notebooks use them: `train_data.csv` / `test_data.csv` of the Kaggle
"Signature Verification Dataset" (ICDAR 2011 SigComp, Dutch).

Each line is `image_a,image_b,label`, the images relative to the split's folder
(`068/09_068.png,068_forg/03_0113068.PNG,1`), no header. Their label convention is the reverse of
sigkit's: there **1 means a forged pair**, here 1 means a genuine pair (same writer, both
genuine). `read_pair_list` turns the file into sigkit's convention and checks the convention
against the folder names (`<writer>_forg/` holds forgeries) instead of trusting it, so a list
written the other way round is an error, not a silently inverted benchmark.

What such a list measures is another matter: the Kaggle `test/` folder is not held out (its
writers and images also sit in `train/`, and every test pair is also a training pair); see
`pair_list_overlap`.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pandas as pd

from sigkit.datasets.errors import DatasetError

KAGGLE_FORGED_LABEL = 1  # the Kaggle CSVs label a forged pair 1


def _writer_and_kind(relative: str) -> tuple[str, bool]:
    folder = PurePosixPath(relative).parts[0]
    forged = folder.lower().endswith("_forg")
    return (folder[: -len("_forg")] if forged else folder), not forged


def read_pair_list(
    csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None, forged_label: int = KAGGLE_FORGED_LABEL
) -> pd.DataFrame:
    """The pairs of a Kaggle-style CSV in sigkit's convention.

    Columns: path_a, path_b (absolute), label (1 = genuine pair, 0 = forged or another writer),
    writer_a, writer_b, kind ("genuine", "skilled" or "random"), csv_label (as in the file).
    `image_root` is the folder the CSV's paths start from (default: `train/` or `test/` beside the
    CSV, after its name). `forged_label` is the value the file gives a forged pair (1 in the Kaggle
    files; 0 for a list written the usual way); it is checked against the folder names.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: no such pair list")
    if forged_label not in (0, 1):
        raise ValueError(f"forged_label must be 0 or 1, not {forged_label!r}")
    root = Path(image_root) if image_root else csv_path.parent / csv_path.stem.split("_")[0]
    raw = pd.read_csv(csv_path, header=None, names=["a", "b", "csv_label"], dtype={"a": str, "b": str})
    if raw.empty or raw.isna().any().any():
        raise DatasetError(f"{csv_path}: expected lines 'image_a,image_b,label' with no gaps")
    raw["csv_label"] = raw["csv_label"].astype(int)
    if not raw["csv_label"].isin([0, 1]).all():
        raise DatasetError(f"{csv_path}: labels must be 0 or 1, found {sorted(raw['csv_label'].unique())}")
    parts_a = [_writer_and_kind(a) for a in raw["a"]]
    parts_b = [_writer_and_kind(b) for b in raw["b"]]
    same_writer = [wa == wb for (wa, _), (wb, _) in zip(parts_a, parts_b)]
    both_genuine = [ga and gb for (_, ga), (_, gb) in zip(parts_a, parts_b)]
    genuine_pair = pd.Series([s and g for s, g in zip(same_writer, both_genuine)])
    label = (raw["csv_label"] != forged_label).astype(int)
    agree = float((label == genuine_pair.astype(int)).mean())
    if agree < 0.9:
        raise DatasetError(
            f"{csv_path}: only {100 * agree:.0f} % of its labels agree with the folder names under "
            f"forged_label={forged_label} (a '<writer>_forg/' image makes a forged pair); the list "
            f"probably uses the other convention: pass forged_label={1 - forged_label}"
        )
    pairs = pd.DataFrame(
        {
            "path_a": [str(root / a) for a in raw["a"]],
            "path_b": [str(root / b) for b in raw["b"]],
            "label": label.to_numpy(),
            "writer_a": [w for w, _ in parts_a],
            "writer_b": [w for w, _ in parts_b],
            "kind": ["genuine" if g else ("skilled" if s else "random") for g, s in zip(genuine_pair, same_writer)],
            "csv_label": raw["csv_label"].to_numpy(),
        }
    )
    missing = sorted({p for p in pd.concat([pairs["path_a"], pairs["path_b"]]) if not Path(p).is_file()})
    if missing:
        raise DatasetError(
            f"{csv_path}: {len(missing)} image(s) of the list are missing under {root}, "
            f"e.g. {missing[0]}; pass image_root= the folder the list's paths start from"
        )
    return pairs


def pair_list_overlap(train: pd.DataFrame, test: pd.DataFrame, sha1_of: dict[str, str] | None = None) -> dict:
    """How much of a test pair list is not held out from a training one: shared pairs (in either
    order), shared writers, and, given `sha1_of` (path -> sha1), test images whose bytes are also
    training images."""

    def keys(frame):
        return {frozenset((a, b)) for a, b in zip(frame["path_a"].map(_relative), frame["path_b"].map(_relative))}

    test_keys = keys(test)
    shared_pairs = len(test_keys & keys(train))

    def writers(frame):
        return set(frame["writer_a"]) | set(frame["writer_b"])

    out = {
        "test_pairs": len(test_keys),
        "test_pairs_also_in_train": shared_pairs,
        "test_writers": len(writers(test)),
        "test_writers_also_in_train": len(writers(test) & writers(train)),
    }
    if sha1_of is not None:
        train_bytes = {sha1_of[p] for p in pd.concat([train["path_a"], train["path_b"]]) if p in sha1_of}
        test_images = set(pd.concat([test["path_a"], test["path_b"]]))
        out["test_images"] = len(test_images)
        out["test_images_also_in_train"] = sum(sha1_of.get(p) in train_bytes for p in test_images)
    return out


def _relative(path: str) -> str:
    """The part of a path a pair list wrote (writer folder and file), whatever split folder it sits in."""
    parts = PurePosixPath(Path(path).as_posix()).parts
    return "/".join(parts[-2:])
