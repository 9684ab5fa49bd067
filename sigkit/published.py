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
    start = time.perf_counter()
    lists = read_lists(root)
    config = config.replace(mode="pairs", ensemble=1, writer_mirrors=1)
    frame, images = pair_list_images(list(lists.values()), preprocess_options(config.preprocess), cache_dir=cache_dir)
    figures = {
        "protocol": "published: train on train_data.csv, epoch chosen and threshold read on test_data.csv",
        "pairs": {"train": len(lists["train"]), "test": len(lists["test"])},
        "overlap": pair_list_overlap(lists["train"], lists["test"], dict(zip(frame["path"], frame["sha1"]))),
        **train_and_score(config, frame, images, lists["train"], lists["test"], lists["test"], run_dir),
    }
    figures["wall_seconds"] = round(time.perf_counter() - start, 1)
    (Path(run_dir) / "result.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def read_lists(root: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The copy's two pair lists, `train` and `test`, in sigkit's label convention."""
    return {name: read_pair_list(Path(root) / f"{name}_data.csv") for name in ("train", "test")}


def train_and_score(
    config: Config, frame, images, train_list, select_list, test_list, run_dir, threshold_from: str = "test"
) -> dict:
    """Train one tower on `train_list`, choose its epoch on `select_list`, score `test_list`.

    `threshold_from="test"` reads the threshold off the test pairs (the EER point, as a published
    figure does); `"selection"` takes it from the selection pairs (the honest way when those are
    validation writers'). Accuracy / Precision / Recall / F1 are also given at the fixed 0.5.
    """
    from sigkit.matching import pair_distances, scorer_for
    from sigkit.model import embed, find_tower, load_siamese
    from sigkit.train import train

    if threshold_from not in ("test", "selection"):
        raise ValueError(f"threshold_from must be 'test' or 'selection', not {threshold_from!r}")
    given = {"train": positions(train_list, frame), "val": positions(select_list, frame)}
    result = train(config, {"train": frame, "val": frame}, {"train": images, "val": images}, run_dir, pairs=given)
    tower = find_tower(load_siamese(result.model_path))
    test = positions(test_list, frame)
    distances = pair_distances(embed(tower, images), test["a"], test["b"], scorer_for(tower))
    figures = pair_list_metrics(distances, test["label"])
    if threshold_from == "selection":
        figures["threshold_on_selection_pairs"] = result.threshold
        figures["at_selection_threshold"] = at_threshold(distances, test["label"], result.threshold)
    return {
        **figures,
        "epochs_run": int(len(result.history)),
        "train_seconds": round(result.seconds, 1),
        "config": json.loads(json.dumps(config.to_dict())),
    }


LEAK_STEPS = {
    "published": "train on train_data.csv; epoch and threshold on test_data.csv",
    "test writers out": "train on the pairs of writers test_data.csv does not name (in this copy its writers, "
    "images and pairs leave training together); epoch and threshold still on test_data.csv",
    "validation writers choose": "the same training writers; epoch and threshold from validation writers "
    "held out of training, never from the test pairs",
}


def leak_steps(
    config: Config,
    root: str | os.PathLike,
    run_dir: str | os.PathLike,
    val_writers: int = 8,
    cache_dir=None,
    only: tuple[int, ...] | None = None,
) -> dict:
    """The published figure with its leaks taken away one at a time (`LEAK_STEPS`), one tower per step,
    each trained alike on the same images and scored on the same test pairs.

    `val_writers` of the writers the test list does not name are held out (seeded by `config.seed`)
    in the last two steps, so those steps train on the same writers and differ only in what
    chooses the epoch and the threshold. Each step leaves `<run_dir>/<n>/result.json`; a finished
    step is read back, not trained again. `only` (step numbers, 0 = published) trains just those
    steps; the others appear only where their record already exists (a long run of one step).
    """
    start = time.perf_counter()
    lists = read_lists(root)
    config = config.replace(mode="pairs", ensemble=1, writer_mirrors=1)
    frame, images = pair_list_images(list(lists.values()), preprocess_options(config.preprocess), cache_dir=cache_dir)
    train_list, test_list = lists["train"], lists["test"]
    held_out_train, validation = split_off_writers(train_list, test_list, val_writers, config.seed)
    plans = {
        "published": (train_list, test_list, "test"),
        "test writers out": (held_out_train, test_list, "test"),
        "validation writers choose": (held_out_train, validation, "selection"),
    }
    if only is not None and not set(only) <= set(range(len(plans))):
        raise ValueError(f"only names steps 0-{len(plans) - 1} ({', '.join(plans)}), not {sorted(only)}")
    steps = []
    for n, (name, (trained_on, chosen_on, threshold_from)) in enumerate(plans.items()):
        folder = Path(run_dir) / str(n)
        record = folder / "result.json"
        if record.exists():
            steps.append(json.loads(record.read_text()))
            continue
        if only is not None and n not in only:
            continue
        figures = train_and_score(config, frame, images, trained_on, chosen_on, test_list, folder, threshold_from)
        step = {
            "step": name,
            "what": LEAK_STEPS[name],
            "training_pairs": len(trained_on),
            "training_writers": len(_writers(trained_on)),
            **figures,
        }
        record.write_text(json.dumps(step, indent=2) + "\n")
        steps.append(step)
    return {
        "protocol": "the published protocol with its leaks taken away one at a time",
        "test_pairs": len(test_list),
        "validation_writers": sorted(_writers(validation)),
        "steps": steps,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def split_off_writers(
    train_list: pd.DataFrame, test_list: pd.DataFrame, val_writers: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the training pairs of writers neither the test list nor validation names, the pairs of
    `val_writers` writers drawn from the rest): writer-disjoint from each other and from the test list."""
    test_writers = _writers(test_list)
    free = sorted(_writers(train_list) - test_writers)
    if len(free) < val_writers + 2:
        raise ValueError(
            f"only {len(free)} writers are outside the test list; too few for {val_writers} validation writers"
        )
    chosen = set(np.random.default_rng(seed).choice(free, size=val_writers, replace=False))

    def involves(frame, writers):
        return frame["writer_a"].isin(writers) | frame["writer_b"].isin(writers)

    training = train_list[~involves(train_list, test_writers | chosen)]
    validation = train_list[involves(train_list, chosen) & ~involves(train_list, test_writers)]
    return training.reset_index(drop=True), validation.reset_index(drop=True)


def _writers(pairs: pd.DataFrame) -> set:
    return set(pairs["writer_a"]) | set(pairs["writer_b"])
