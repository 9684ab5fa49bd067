"""Training and evaluation inputs: Siamese pairs, and P writers x K images batches.

Pairs (the paper's setting), label 1 = same-writer genuine pair:

    genuine  two genuine signatures of one writer               label 1
    skilled  a genuine signature and a skilled forgery of it     label 0
    random   a genuine signature and another writer's genuine   label 0

`make_pairs` samples them from a manifest (row positions, deterministic for a seed);
`pair_dataset` turns them into a `tf.data.Dataset` of `((image_a, image_b), label)` that gathers
from the preprocessed image array, so each file is decoded once per run, not once per pair.

`pk_plan` / `pk_dataset` give the in-batch mode: each batch holds P writers x (k_genuine +
k_forged) images with `(writer, genuine)` targets, and the loss forms every pair inside it.

For evaluation, `validation_pairs` are the single-pair questions and `reference_draws` the
K-reference ones (K genuine signatures of a writer on file, every other signature questioned):
every scorer of `sigkit.scoring` walks these same questions, so their figures compare.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from sigkit.augment import AugmentConfig, augment_batch
from sigkit.preprocess import to_float
from sigkit.quiet import tensorflow_if_installed

tf = tensorflow_if_installed()

log = logging.getLogger(__name__)

PAIR_KINDS = ("genuine", "skilled", "random")


def _writer_rows(manifest: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """writer -> (positions of genuine rows, positions of forged rows)."""
    genuine = manifest["genuine"].to_numpy(bool)
    writers = manifest["writer"].astype(str).to_numpy()
    out = {}
    for writer in pd.unique(writers):
        mine = writers == writer
        out[writer] = (np.flatnonzero(mine & genuine), np.flatnonzero(mine & ~genuine))
    return out


def make_pairs(
    manifest: pd.DataFrame,
    *,
    seed: int = 0,
    max_positives_per_writer: int | None = None,
    negatives_per_positive: float = 1.0,
    skilled_fraction: float = 0.5,
) -> pd.DataFrame:
    """Sample pairs from `manifest`: columns `a`, `b` (row positions), `label`, `kind`.

    Positives are all genuine pairs of each writer (or a random `max_positives_per_writer` of
    them). Each writer then gets `negatives_per_positive` times as many negatives, a
    `skilled_fraction` of them skilled forgeries of that writer (topped up with random forgeries
    when the writer has too few forgeries) and the rest random forgeries.
    """
    if not 0.0 <= skilled_fraction <= 1.0:
        raise ValueError(f"skilled_fraction must be in [0, 1], not {skilled_fraction}")
    rng = np.random.default_rng(seed)
    rows = _writer_rows(manifest)
    writers = [w for w, (g, _) in rows.items() if len(g) >= 2]
    if len(writers) < 2:
        raise ValueError(f"pairs need at least 2 writers with 2 or more genuine signatures; found {len(writers)}")
    all_genuine = {w: rows[w][0] for w in writers}
    parts = []
    for writer in writers:
        genuine, forged = rows[writer]
        ia, ib = np.triu_indices(len(genuine), k=1)
        if max_positives_per_writer is not None and len(ia) > max_positives_per_writer:
            keep = rng.choice(len(ia), max_positives_per_writer, replace=False)
            ia, ib = ia[keep], ib[keep]
        parts.append((genuine[ia], genuine[ib], 1, "genuine"))

        n_negative = int(round(len(ia) * negatives_per_positive))
        n_skilled = min(int(round(n_negative * skilled_fraction)), len(genuine) * len(forged))
        if n_skilled:
            flat = rng.choice(len(genuine) * len(forged), n_skilled, replace=False)
            parts.append((genuine[flat // len(forged)], forged[flat % len(forged)], 0, "skilled"))
        n_random = n_negative - n_skilled
        if n_random:
            others = [w for w in writers if w != writer]
            other_writer = rng.choice(len(others), n_random)
            picks = [all_genuine[others[i]][rng.integers(len(all_genuine[others[i]]))] for i in other_writer]
            parts.append((rng.choice(genuine, n_random), np.asarray(picks), 0, "random"))
    frame = pd.DataFrame(
        {
            "a": np.concatenate([p[0] for p in parts]).astype(np.int64),
            "b": np.concatenate([p[1] for p in parts]).astype(np.int64),
            "label": np.concatenate([np.full(len(p[0]), p[2]) for p in parts]).astype(np.int32),
            "kind": np.concatenate([np.full(len(p[0]), p[3]) for p in parts]),
        }
    )
    return frame


def _images_tensor(images: np.ndarray) -> tf.Tensor:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            f"expected the (N, H, W, 1) uint8 array of sigkit.preprocess.load_images, got {images.dtype} {images.shape}"
        )
    return tf.constant(images)


def pair_dataset(
    images: np.ndarray,
    pairs: pd.DataFrame,
    *,
    batch_size: int = 32,
    shuffle: bool = True,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """`((image_a, image_b), label)` batches; float32 images in [0, 1], label float32 (1 = same).

    With `augment`, each side of each batch gets its own stateless seed from (seed, batch number),
    so the same seed gives the same batches and epochs after the first see new augmentations.
    `skip_batches` resumes an interrupted run where it stopped (cheap: nothing is gathered).
    """
    table = _images_tensor(images)
    data = tf.data.Dataset.from_tensor_slices(
        (pairs["a"].to_numpy(np.int64), pairs["b"].to_numpy(np.int64), pairs["label"].to_numpy(np.float32))
    )
    if shuffle:
        data = data.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        data = data.repeat()
    data = data.batch(batch_size, drop_remainder=drop_remainder).skip(skip_batches)

    def gather(a, b, label):
        return to_float(tf.gather(table, a)), to_float(tf.gather(table, b)), label

    data = data.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        data = tf.data.Dataset.zip(data, tf.data.Dataset.counter(start=skip_batches))

        def augment_pair(batch, step):
            a, b, label = batch
            seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), step]), num=2)
            return augment_batch(a, seeds[0], augment), augment_batch(b, seeds[1], augment), label

        data = data.map(augment_pair, num_parallel_calls=tf.data.AUTOTUNE)
    return data.map(lambda a, b, label: ((a, b), label)).prefetch(tf.data.AUTOTUNE)


def writer_codes(manifest: pd.DataFrame) -> np.ndarray:
    """Integer writer ids (0..W-1, in sorted writer order) aligned with the manifest rows."""
    return pd.Categorical(manifest["writer"].astype(str)).codes.astype(np.int32)


def validation_pairs(manifest: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The fixed pairs a run selects its model and threshold on: all genuine pairs, as many
    negatives, half skilled and half random. One rule for training and evaluation."""
    return make_pairs(manifest.reset_index(drop=True), seed=seed, skilled_fraction=0.5)


def pk_plan(
    manifest: pd.DataFrame,
    *,
    writers_per_batch: int,
    k_genuine: int,
    k_forged: int = 0,
    n_batches: int,
    seed: int = 0,
    mirrors: int = 1,
) -> np.ndarray:
    """(n_batches, P * (k_genuine + k_forged)) row positions: P writers, K images each.

    With `mirrors` 2 or 4, each writer also appears mirrored left-right (2), and upside down and
    turned half round (4), each as a writer of its own with its own mirrored forgeries: more
    writers for the same scans (35 CEDAR writers become 140). Such an entry is the row position
    plus `variant * len(manifest)`; `pk_dataset` undoes it and flips the image.

    Writers are drawn without replacement within a batch, images without replacement within a
    writer when it has enough (with replacement otherwise). A writer without forgeries (common
    in Kaggle-style or own collections) fills its forgery slots with more genuine signatures.
    Each writer's images are contiguous, so a batch split across GPUs keeps whole writers.
    """
    if k_genuine < 2:
        raise ValueError(
            f"k_genuine must be at least 2 (a positive pair needs two genuine signatures), not {k_genuine}"
        )
    if mirrors not in (1, 2, 4):
        raise ValueError(f"mirrors must be 1, 2 or 4, not {mirrors}")
    rng = np.random.default_rng(seed)
    rows = _writer_rows(manifest)
    writers = [w for w, (g, _) in rows.items() if len(g) >= 2]
    if len(writers) * mirrors < writers_per_batch:
        raise ValueError(f"a batch needs {writers_per_batch} writers; only {len(writers)} have 2+ genuine signatures")
    if k_forged:
        without = [w for w in writers if len(rows[w][1]) == 0]
        if without:
            log.warning(
                "%d writer(s) without forgeries fill their forgery slots with genuine signatures: %s",
                len(without),
                ", ".join(without[:10]),
            )

    def pick(pool: np.ndarray, k: int) -> np.ndarray:
        return rng.choice(pool, k, replace=len(pool) < k) if k else pool[:0]

    def writer_images(writer: str) -> np.ndarray:
        genuine, forged = rows[writer]
        if len(forged) == 0:
            return pick(genuine, k_genuine + k_forged)
        return np.concatenate([pick(genuine, k_genuine), pick(forged, k_forged)])

    plan = np.empty((n_batches, writers_per_batch * (k_genuine + k_forged)), np.int64)
    for i in range(n_batches):
        chosen = rng.choice(len(writers) * mirrors, writers_per_batch, replace=False)
        plan[i] = np.concatenate([writer_images(writers[j // mirrors]) + (j % mirrors) * len(manifest) for j in chosen])
    return plan


def mirror(images: tf.Tensor, variant: tf.Tensor) -> tf.Tensor:
    """Flip each (H, W, 1) image of a batch by its variant: 0 as is, 1 left-right, 2 upside down, 3 both."""
    variant = tf.reshape(variant, [-1, 1, 1, 1])
    images = tf.where(variant % 2 == 1, tf.reverse(images, [2]), images)
    return tf.where(variant >= 2, tf.reverse(images, [1]), images)


def pk_dataset(
    images: np.ndarray,
    manifest: pd.DataFrame,
    plan: np.ndarray,
    *,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    first_step: int = 0,
    mirrors: int = 1,
) -> tf.data.Dataset:
    """`(images, targets)` batches from a `pk_plan`; targets (B, 2) int32 = (writer id, genuine).

    `first_step` numbers the first batch (the augmentation seed), for resuming mid-plan;
    `mirrors` is the plan's (a mirrored writer gets its own writer id).
    """
    table = _images_tensor(images)
    n_rows = len(manifest)
    writer = tf.constant(writer_codes(manifest).astype(np.int64) * mirrors)
    genuine = tf.constant(manifest["genuine"].to_numpy(np.int64))
    data = tf.data.Dataset.from_tensor_slices(plan)
    data = tf.data.Dataset.zip(data, tf.data.Dataset.counter(start=first_step))

    def gather(entries, step):
        rows, variant = entries % n_rows, entries // n_rows
        batch = to_float(tf.gather(table, rows))
        if mirrors > 1:
            batch = mirror(batch, variant)
        if augment is not None:
            batch = augment_batch(batch, tf.stack([tf.cast(seed, tf.int64), step]), augment)
        targets = tf.stack([tf.gather(writer, rows) + variant, tf.gather(genuine, rows)], axis=1)
        return batch, tf.cast(targets, tf.int32)

    return data.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def reference_draws(manifest: pd.DataFrame, k: int, seed: int = 0, draws: int = 1, forgeries: str = "skilled"):
    """(draw, writer, references, questioned) of the K-reference protocol, row positions in `manifest`.

    Every K-reference scorer (mean distance, spread-corrected, writer-dependent classifiers) walks
    these same draws, so their figures compare on the same references. Questioned: the writer's
    other genuine signatures and its skilled forgeries (`forgeries="skilled"`), or the genuine
    signatures of every other writer in `manifest` (`"random"`). Writers with K or fewer genuine
    signatures are left out (nothing genuine left to question).
    """
    if forgeries not in ("skilled", "random"):
        raise ValueError(f"forgeries must be 'skilled' or 'random', not {forgeries!r}")
    manifest = manifest.reset_index(drop=True)
    genuine_rows = manifest.index[manifest["genuine"]].to_numpy()
    rng = np.random.default_rng(seed)
    writers = list(manifest.groupby("writer", sort=True))
    for draw, (writer, group) in ((d, w) for d in range(draws) for w in writers):
        genuine = group.index[group["genuine"]].to_numpy()
        if len(genuine) <= k:
            continue
        references = rng.choice(genuine, k, replace=False)
        if forgeries == "skilled":
            questioned = np.setdiff1d(group.index.to_numpy(), references)
        else:
            questioned = np.concatenate([np.setdiff1d(genuine, references), np.setdiff1d(genuine_rows, group.index)])
        yield draw, writer, references, questioned


def genuine_of(manifest: pd.DataFrame, writer, rows: np.ndarray) -> np.ndarray:
    """1 where row is a genuine signature of `writer`, else 0 (a forgery, or another writer's)."""
    chosen = manifest.iloc[rows]
    return ((chosen["writer"] == writer) & chosen["genuine"]).to_numpy(int)
