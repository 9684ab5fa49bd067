"""Training: `train(config, splits, run_dir)` -> the best Siamese model by validation EER.

Two modes over one tower:

- `pairs`: the paper's setting. The Siamese model sees `((a, b), label)` batches and the
  `ContrastiveLoss`; each pair costs two tower passes.
- `batch` (default): P writers x K images per step, one tower pass per image, and the
  `InBatchContrastiveLoss` over every positive, skilled and random pair inside the batch.

After each epoch the validation writers' images are embedded once and the EER of fixed validation
pairs is computed (`val_eer`); the best model by it is saved as `model.keras` with its EER
threshold in `model.json` (the verifier's default threshold: chosen on validation writers, never
on test). Every epoch also writes `checkpoint/last.keras` (weights and optimizer state) and
`checkpoint/state.json`; calling `train` again on the same run folder resumes after the last
finished epoch, with the same data order it would have had. Early stopping counts epochs without a
better `val_eer` and survives a resume too. `history.csv` holds one row per epoch.

Devices: one code path. With GPUs, mixed precision (float16 compute, float32 embedding and loss)
and `tf.distribute.MirroredStrategy` over all of them; on CPU neither.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from sigkit.augment import AugmentOptions
from sigkit.config import Config
from sigkit.losses import ContrastiveLoss, InBatchContrastiveLoss
from sigkit.metrics import eer
from sigkit.model import build_siamese, build_tower
from sigkit.pairs import make_pairs, pair_dataset, pk_dataset, pk_plan

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_path: Path
    history: pd.DataFrame
    best_val_eer: float
    threshold: float
    seconds: float


def tower_options(config: Config) -> dict:
    shape = tuple(config.image_size) + (1,)
    if config.tower == "signet":
        return dict(input_shape=shape, embedding_dim=config.embedding_dim)
    return dict(
        input_shape=shape, widths=tuple(config.widths), convs_per_block=config.convs_per_block,
        attention=config.attention, embedding_dim=config.embedding_dim, norm=config.norm, dropout=config.dropout,
        pooling=config.pooling,
    )


def device_strategy(config: Config) -> tf.distribute.Strategy:
    """MirroredStrategy over several GPUs, the default strategy otherwise; sets mixed precision."""
    gpus = tf.config.list_physical_devices("GPU")
    use_mixed = bool(gpus) if config.mixed_precision == "auto" else bool(config.mixed_precision)
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def embed(tower: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, H, W, 1) uint8 -> (N, D) float32 embeddings, inference mode."""
    data = tf.data.Dataset.from_tensor_slices(images).batch(batch_size).map(lambda x: tf.cast(x, tf.float32) / 255.0)
    return np.asarray(tower.predict(data, verbose=0), np.float32)


def pair_distances(embeddings: np.ndarray, pairs: pd.DataFrame) -> np.ndarray:
    a, b = embeddings[pairs["a"].to_numpy()], embeddings[pairs["b"].to_numpy()]
    return np.linalg.norm(a - b, axis=1)


class ValidationEER(keras.callbacks.Callback):
    """Adds `val_eer` to the epoch logs; saves the best model and its threshold."""

    def __init__(self, tower, val_images, val_pairs, run_dir: Path, state: dict):
        super().__init__()
        self.tower, self.val_images, self.val_pairs = tower, val_images, val_pairs
        self.run_dir = run_dir
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        distances = pair_distances(embed(self.tower, self.val_images), self.val_pairs)
        val_eer, threshold = eer(distances, self.val_pairs["label"].to_numpy())
        logs["val_eer"] = val_eer
        if val_eer < self.state["best_val_eer"]:
            self.state.update(best_val_eer=val_eer, best_epoch=epoch, threshold=threshold, wait=0)
            save_atomic(build_siamese(self.tower), self.run_dir / "model.keras")
            (self.run_dir / "model.json").write_text(json.dumps(model_card(self.state), indent=2))
        else:
            self.state["wait"] += 1


class Checkpoint(keras.callbacks.Callback):
    """After the history row: the last model with optimizer state, the run state, early stopping."""

    def __init__(self, folder: Path, patience: int, state: dict, seed: int):
        super().__init__()
        self.folder, self.patience, self.state, self.seed = folder, patience, state, seed

    def on_epoch_begin(self, epoch, logs=None):
        # Dropout draws from per-layer seed generators whose state a checkpoint does not pin to
        # the epoch; reseeding from (seed, epoch) makes a resumed epoch the same as an
        # uninterrupted one.
        for layer in all_layers(self.model):
            for generator in getattr(layer, "_seed_generators", []):
                generator.state.assign(np.array([self.seed, epoch], np.int64))

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(exist_ok=True)
        self.state["epoch"] = epoch
        save_atomic(self.model, self.folder / "last.keras")
        (self.folder / "state.json").write_text(json.dumps(self.state, indent=2))
        if self.state["wait"] >= self.patience:
            log.info("early stop: no better val_eer for %d epochs", self.patience)
            self.model.stop_training = True


class TimeBudget(keras.callbacks.Callback):
    """Stop before an epoch that would end past `seconds` of training (judged by the slowest so far)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.slowest = 0.0
        self.epoch_start = self.start

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.slowest = max(self.slowest, now - self.epoch_start)
        if now - self.start + self.slowest > self.seconds:
            log.info("time budget of %.0f s reached after epoch %d", self.seconds, epoch)
            self.model.stop_training = True


def all_layers(model: keras.Model):
    """Every layer, nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def model_card(state: dict) -> dict:
    """What `model.json` says next to `model.keras`: the threshold and how it was chosen."""
    return {
        "threshold": state["threshold"],
        "threshold_rule": "EER point on validation writers",
        "val_eer": state["best_val_eer"],
        "epoch": state["best_epoch"],
        "config": state["config"],
    }


def save_atomic(model: keras.Model, path: Path) -> None:
    """Save to a temporary name and rename, so an interrupt never leaves a half-written model."""
    partial = path.with_name(path.stem + ".partial.keras")
    model.save(partial)
    partial.replace(path)


def train(config: Config, splits: dict[str, pd.DataFrame], images: dict[str, np.ndarray], run_dir: str | Path) -> TrainResult:
    """Train on `splits["train"]`, select on `splits["val"]`; `images[name]` aligned with each split."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    train_set, val_set = splits["train"].reset_index(drop=True), splits["val"].reset_index(drop=True)
    val_pairs = make_pairs(val_set, seed=config.seed, skilled_fraction=0.5)
    augment = AugmentOptions.from_config(config) if config.augment else None

    if config.mode == "batch":
        batch = config.writers_per_batch * (config.k_genuine + config.k_forged)
        steps = config.steps_per_epoch or max(1, len(train_set) // batch)
        plan = pk_plan(train_set, writers_per_batch=config.writers_per_batch, k_genuine=config.k_genuine,
                       k_forged=config.k_forged, n_batches=steps * config.epochs, seed=config.seed)
    elif config.mode == "pairs":
        train_pairs = make_pairs(train_set, seed=config.seed, skilled_fraction=config.skilled_fraction)
        steps = config.steps_per_epoch or max(1, len(train_pairs) // config.batch_size)
    else:
        raise ValueError(f"mode must be 'batch' or 'pairs', not {config.mode!r}")

    checkpoint = run_dir / "checkpoint"
    state_file = checkpoint / "state.json"
    strategy = device_strategy(config)
    jit = "auto" if config.jit_compile == "auto" else bool(config.jit_compile)
    with strategy.scope():
        if state_file.exists():
            state = json.loads(state_file.read_text())
            trainable = keras.saving.load_model(checkpoint / "last.keras", safe_mode=True)
            tower = trainable if config.mode == "batch" else trainable.get_layer("tower")
            log.info("resuming %s after epoch %d", run_dir, state["epoch"])
        else:
            state = {"epoch": -1, "best_val_eer": float("inf"), "best_epoch": -1, "threshold": None, "wait": 0,
                     "config": _jsonable(config.to_dict())}
            tower = build_tower(config.tower, **tower_options(config))
            optimizer = keras.optimizers.Adam(config.learning_rate)
            if config.mode == "batch":
                trainable = tower
                trainable.compile(optimizer, InBatchContrastiveLoss(config.margin, config.skilled_weight), jit_compile=jit)
            else:
                trainable = build_siamese(tower)
                trainable.compile(optimizer, ContrastiveLoss(config.margin), jit_compile=jit)

    first_epoch = state["epoch"] + 1
    if state["wait"] >= config.patience or first_epoch >= config.epochs:
        log.info("%s already finished", run_dir)
    else:
        if config.mode == "batch":
            data = pk_dataset(images["train"], train_set, plan[first_epoch * steps :], augment=augment,
                              seed=config.seed, first_step=first_epoch * steps)
        else:
            data = pair_dataset(images["train"], train_pairs, batch_size=config.batch_size, augment=augment,
                                seed=config.seed, repeat=True, skip_batches=first_epoch * steps)
        history = run_dir / "history.csv"
        if first_epoch > 0 and history.exists():  # drop rows of an epoch that ran but was not checkpointed
            rows = pd.read_csv(history)
            rows[rows["epoch"] < first_epoch].to_csv(history, index=False)
        callbacks = [
            ValidationEER(tower, images["val"], val_pairs, run_dir, state),
            keras.callbacks.CSVLogger(str(history), append=first_epoch > 0),
            Checkpoint(checkpoint, config.patience, state, config.seed),
        ]
        if config.time_budget_s:
            callbacks.append(TimeBudget(config.time_budget_s))
        if config.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
        start = time.perf_counter()
        trainable.fit(data, epochs=config.epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
                      callbacks=callbacks, verbose=2, shuffle=False)
        state["seconds"] = state.get("seconds", 0.0) + time.perf_counter() - start
        state_file.write_text(json.dumps(state, indent=2))
    return TrainResult(
        model_path=run_dir / "model.keras",
        history=pd.read_csv(run_dir / "history.csv"),
        best_val_eer=float(state["best_val_eer"]),
        threshold=float(state["threshold"]),
        seconds=float(state.get("seconds", 0.0)),
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
