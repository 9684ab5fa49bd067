"""The protocol Kaggle notebooks publish on the SigComp 2011 Kaggle copy, reproduced as they run it.

Such a notebook trains a Siamese network on the pairs of `train_data.csv`, watches the pairs of
`test_data.csv` while it trains (its validation data), and reports Accuracy, Precision, Recall,
F1 and EER on those same test pairs, with a threshold read off them (or a fixed 0.5). Every test
pair of that copy is also a training pair and every test writer a training writer
(`sigkit.datasets.pair_lists.pair_list_overlap`), so the figure measures memory, not verification.
`published_protocol` runs exactly that with sigkit's model and trainer (pairs mode, the given
pairs), so the published figure can be set beside the honest one on the same data: writer-disjoint
splits of the de-duplicated images, thresholds from validation writers (`make reports DATA=...`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sigkit.config import Config
from sigkit.datasets.checks import check_files, default_cache_dir
from sigkit.datasets.errors import DatasetError
from sigkit.datasets.pair_lists import pair_list_overlap, read_pair_list
from sigkit.metrics import at_threshold, eer
from sigkit.preprocess import load_images, preprocess_options

FIXED_THRESHOLD = 0.5  # the distance threshold a notebook hard-codes when it reads none off the data


def pair_list_images(lists: list[pd.DataFrame], options: dict, cache_dir=None) -> tuple[pd.DataFrame, np.ndarray]:
    """(one row per image the lists name: path, writer, genuine, sha1; their preprocessed images)."""
    paths = sorted(set().union(*(set(p["path_a"]) | set(p["path_b"]) for p in lists)))
    checks = check_files([Path(p) for p in paths], max_pixels=50_000_000, transcode_dir=default_cache_dir())
    problems = [f"{path}: {check.problem}" for path, check in checks.items() if check.problem]
    if problems:
        raise DatasetError("the pair lists name unusable images:\n  " + "\n  ".join(problems[:20]))
    writer_of, genuine_of = {}, {}
    for pairs in lists:
        for side in ("a", "b"):
            for path, writer, kind in zip(pairs[f"path_{side}"], pairs[f"writer_{side}"], pairs["kind"]):
                writer_of[path] = writer
                genuine_of[path] = "_forg" not in Path(path).parent.name.lower()
    frame = pd.DataFrame(
        {
            "path": paths,
            "decode_path": [str(checks[Path(p)].decode_path) for p in paths],
            "writer": [writer_of[p] for p in paths],
            "genuine": [genuine_of[p] for p in paths],
            "sha1": [checks[Path(p)].sha1 for p in paths],
        }
    )
    return frame, load_images(frame["decode_path"], cache_dir=cache_dir, **options)


def positions(pairs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The pairs with columns a, b (row positions in `frame`), label, kind, writer (the claimed one)."""
    index = pd.Series(np.arange(len(frame)), index=frame["path"].to_numpy())
    return pd.DataFrame(
        {
            "a": index.loc[pairs["path_a"]].to_numpy(),
            "b": index.loc[pairs["path_b"]].to_numpy(),
            "label": pairs["label"].to_numpy(),
            "kind": pairs["kind"].to_numpy(),
            "writer": pairs["writer_a"].to_numpy(),
        }
    )


def pair_list_metrics(distances, labels) -> dict:
    """EER, and Accuracy / Precision / Recall / F1 at the test pairs' own EER threshold (as a
    published figure read off the test pairs has it) and at the fixed threshold 0.5."""
    value, threshold = eer(distances, labels)
    return {
        "eer": value,
        "threshold_on_test_pairs": threshold,
        "at_test_threshold": at_threshold(distances, labels, threshold),
        "at_fixed_threshold": at_threshold(distances, labels, FIXED_THRESHOLD),
    }


def published_protocol(config: Config, root: str | os.PathLike, run_dir: str | os.PathLike, cache_dir=None) -> dict:
    """Train on `train_data.csv`, select the epoch on `test_data.csv`, score `test_data.csv`.

    `config` is trained in pairs mode with one tower (the given pairs replace sampled ones).
    Returns the figures, the overlap of the two lists and the wall time; also `result.json` in
    `run_dir` (an interrupted run resumes from its checkpoint).
    """
    from sigkit.compare import pair_distances, scorer_for
    from sigkit.model import embed, find_tower, load_siamese
    from sigkit.train import train

    start = time.perf_counter()
    root, run_dir = Path(root), Path(run_dir)
    train_list = read_pair_list(root / "train_data.csv")
    test_list = read_pair_list(root / "test_data.csv")
    config = config.replace(mode="pairs", ensemble=1, writer_mirrors=1)
    frame, images = pair_list_images([train_list, test_list], preprocess_options(config), cache_dir=cache_dir)
    given = {"train": positions(train_list, frame), "val": positions(test_list, frame)}
    result = train(config, {"train": frame, "val": frame}, {"train": images, "val": images}, run_dir, pairs=given)
    tower = find_tower(load_siamese(result.model_path))
    test = given["val"]
    distances = pair_distances(embed(tower, images), test["a"], test["b"], scorer_for(tower))
    figures = {
        "protocol": "published: train on train_data.csv, epoch chosen and threshold read on test_data.csv",
        "pairs": {"train": len(train_list), "test": len(test_list)},
        "overlap": pair_list_overlap(train_list, test_list, dict(zip(frame["path"], frame["sha1"]))),
        **pair_list_metrics(distances, test["label"]),
        "epochs_run": int(len(result.history)),
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "config": json.loads(json.dumps(config.to_dict())),
    }
    (run_dir / "result.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures
