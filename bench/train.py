"""Training throughput on this CPU: plain Keras Siamese vs sigkit `pairs` vs sigkit `batch` mode.

    python bench/train.py [--steps 30] [--profile cedar-cpu]

Same tower, same input size, same optimizer, for all three:

(a) a straightforward Keras Siamese as in the keras.io `siamese_contrastive` example: numpy pair
    arrays in memory, `fit(x=[a, b], y)`, two tower calls per pair;
(b) sigkit `pairs` mode: the same Siamese fed by `sigkit.pairs.pair_dataset` (images gathered from
    the preprocessed cache in tf.data, augmentation on);
(c) sigkit `batch` mode: P writers x K images through the tower once per step, the in-batch
    contrastive loss over every positive, skilled and random pair in the batch (augmentation on),
    with and without XLA.

Pairs/s counts the pairs whose loss is computed per second; images/s the tower passes per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import data_path

from sigkit.datasets import load_dataset
from sigkit.quiet import import_tensorflow_quietly


def timed_fit(model, steps: int, warmup: int, **fit_args) -> float:
    """Seconds per step, after `warmup` steps (graph tracing, XLA compilation) are done."""
    data = fit_args.pop("x")
    if isinstance(data, list):  # numpy inputs
        y = fit_args.pop("y")
        batch = fit_args.pop("batch_size")
        model.fit(x=[d[: warmup * batch] for d in data], y=y[: warmup * batch], batch_size=batch, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(
            x=[d[: steps * batch] for d in data],
            y=y[: steps * batch],
            batch_size=batch,
            epochs=1,
            verbose=0,
            shuffle=True,
        )
        return (time.perf_counter() - start) / steps
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def in_batch_pairs(manifest, plan_row) -> int:
    """Pairs the in-batch loss scores in one batch: positive + skilled + random."""
    writer = manifest["writer"].to_numpy()[plan_row]
    genuine = manifest["genuine"].to_numpy()[plan_row]
    same = writer[:, None] == writer[None, :]
    gg = genuine[:, None] & genuine[None, :]
    one_forged = genuine[:, None] != genuine[None, :]
    upper = np.triu(np.ones_like(same), k=1).astype(bool)
    return int((upper & ((same & gg) | (same & one_forged) | (~same & gg))).sum())


def batch_mode_rates(config, manifest, images, steps: int, warmup: int) -> dict:
    """(pairs/s, images/s) of sigkit batch mode, without and then with XLA, by row label."""
    import keras

    from sigkit.losses import InBatchContrastiveLoss
    from sigkit.model import tower_for
    from sigkit.pairs import pk_dataset, pk_plan

    rows = {}
    settings = config.train
    plan = pk_plan(
        manifest,
        writers_per_batch=settings.writers_per_batch,
        k_genuine=settings.k_genuine,
        k_forged=settings.k_forged,
        n_batches=2 * (steps + warmup),
        seed=0,
    )
    scored = np.mean([in_batch_pairs(manifest, row) for row in plan])
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        tower = tower_for(config.model, config.preprocess.image_size)
        tower.compile(
            keras.optimizers.Adam(settings.learning_rate), InBatchContrastiveLoss(settings.margin), jit_compile=jit
        )
        data = pk_dataset(images, manifest, plan, augment=config.augment).repeat()
        step = timed_fit(tower, steps, warmup, x=data)
        rows[f"(c) sigkit batch mode{' + XLA' if jit else ''}"] = (scored / step, plan.shape[1] / step)
    return rows


def rates(config, manifest, images, steps: int, warmup: int) -> dict:
    """(pairs/s, images/s) by row label: (a) numpy pairs, (b) sigkit pairs mode, (c) sigkit batch mode."""
    import keras

    from sigkit.losses import ContrastiveLoss
    from sigkit.model import build_siamese, tower_for
    from sigkit.pairs import make_pairs, pair_dataset

    pairs = make_pairs(manifest, seed=0).sample(frac=1.0, random_state=0).reset_index(drop=True)
    settings = config.train
    batch = settings.batch_size
    n_pairs = (steps + warmup) * batch
    rows = {}

    def siamese():
        keras.utils.set_random_seed(0)
        model = build_siamese(tower_for(config.model, config.preprocess.image_size))
        model.compile(
            keras.optimizers.Adam(settings.learning_rate), ContrastiveLoss(settings.margin), jit_compile=False
        )
        return model

    # (a) numpy pairs, the keras.io way
    a = images[pairs["a"][:n_pairs]].astype("float32") / 255.0
    b = images[pairs["b"][:n_pairs]].astype("float32") / 255.0
    y = pairs["label"][:n_pairs].to_numpy("float32")
    step = timed_fit(siamese(), steps, warmup, x=[a, b], y=y, batch_size=batch)
    rows["(a) keras.io-style numpy pairs"] = (batch / step, 2 * batch / step)

    # (b) sigkit pairs mode
    data = pair_dataset(images, pairs, batch_size=batch, augment=config.augment, repeat=True)
    step = timed_fit(siamese(), steps, warmup, x=data)
    rows["(b) sigkit pairs mode"] = (batch / step, 2 * batch / step)

    # (c) sigkit batch mode, without and with XLA
    rows.update(batch_mode_rates(config, manifest, images, steps, warmup))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", default="cedar-cpu")
    args = parser.parse_args()
    import_tensorflow_quietly()
    import sigkit
    from sigkit.preprocess import load_images, preprocess_options

    config = sigkit.profile(args.profile)
    folder, name = data_path()
    manifest = load_dataset(folder)
    images = load_images(manifest["decode_path"], **preprocess_options(config.preprocess))
    rows = rates(config, manifest, images, args.steps, args.warmup)

    settings = config.train
    base = rows["(a) keras.io-style numpy pairs"][0]
    print(
        f"data: {name}, input {config.preprocess.image_size[0]}x{config.preprocess.image_size[1]}, "
        f"tower {config.model.tower} widths {list(config.model.widths)}, pairs batch {settings.batch_size}, "
        f"P x K = {settings.writers_per_batch} x {settings.k_genuine + settings.k_forged}, "
        f"{args.steps} timed steps each"
    )
    for label, (pairs_per_s, images_per_s) in rows.items():
        print(
            f"{label:38s} {pairs_per_s:9.1f} pairs/s {images_per_s:8.1f} images/s  "
            f"{pairs_per_s / base:6.1f}x pairs/s of (a)"
        )


if __name__ == "__main__":
    main()
