"""Training: `train(config, splits, run_dir)` -> the best Siamese model by validation EER.

Two modes over one tower:

- `pairs`: the paper's setting. The Siamese model sees `((a, b), label)` batches and the
  `ContrastiveLoss`; each pair costs two tower passes.
- `batch` (default): P writers x K images per step, one tower pass per image, and the
  `InBatchContrastiveLoss` over every positive, skilled and random pair inside the batch.

After each epoch the validation writers' images are embedded once and the EER of fixed validation
pairs is computed (`val_eer`, of the pairs `config.train.select_on` names: skilled forgeries, random
ones or both; the others are logged beside it); the best model by it is saved as `model.keras` with its EER
threshold in `model.json` (the verifier's default threshold: chosen on validation writers, never
on test). Every epoch also writes `checkpoint/last-<epoch>.keras` (weights and optimizer state) and
`checkpoint/state.json`; calling `train` again on the same run folder resumes after the last
finished epoch, with the same data order it would have had; a checkpoint that cannot be read
(a file cut short) falls back on the best saved model (`resume_from_best`). `config.train.init`
starts the tower from another run's weights (pre-train on many writers, fine-tune on the target's own, with this
config's learning rate, epochs and patience). Early stopping counts epochs without a
better `val_eer` and survives a resume too. `history.csv` holds one row per epoch.

`TrainConfig` (`Config.train`) holds the settings of this stage, sampling included; `train`
takes the whole `sigkit.Config`, since a run also needs the seed, the model and the augmentation.

Devices: one code path. With GPUs, mixed precision (float16 compute, float32 embedding, distance
and loss) and `tf.distribute.MirroredStrategy` over all of them; on CPU neither, unless
`distribute` asks (`device_strategy`: several CPU devices, or several machines). In batch mode
each replica gets whole writers (P must divide among the replicas), so its in-batch pairs stay
meaningful.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import keras
import numpy as np
import pandas as pd

from sigkit.callbacks import Checkpoint, ValidationEER, run_card, save_atomic, validation_eer
from sigkit.card import CARD_NAME, ModelCard, data_summary
from sigkit.losses import ContrastiveLoss, InBatchContrastiveLoss
from sigkit.matching import match_layer
from sigkit.model import build_ensemble, build_siamese, find_tower, inference_copy, load_siamese, tower_for
from sigkit.pairs import make_pairs, pair_dataset, pk_dataset, pk_plan, validation_pairs
from sigkit.quiet import tensorflow_if_installed

tf = tensorflow_if_installed()

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How a tower is trained, `Config.train`: mode and sampling, loss, optimiser and schedule,
    model selection, ensemble, start, budget and devices. The defaults train the default profile's
    tower on a 2-core CPU in minutes; `sigkit.config.PROFILES` says what each profile changes."""

    mode: str = "batch"  # "pairs" (the paper's Siamese pairs) or "batch" (in-batch all pairs)
    # pairs mode: pairs per step and the share of negatives that are skilled forgeries
    batch_size: int = 32
    skilled_fraction: float = 0.5
    # batch mode: P writers x (k_genuine + k_forged) images a step; `writer_mirrors` 2 or 4 adds
    # mirrored copies of each writer as new writers
    writers_per_batch: int = 8
    k_genuine: int = 4
    k_forged: int = 2
    writer_mirrors: int = 1
    steps_per_epoch: int | None = None  # None: one pass over the training pairs / images
    # the contrastive loss (sigkit.losses)
    margin: float = 1.0
    positive_margin: float = 0.0  # genuine pairs closer than this are not pulled further (0: the paper's loss)
    skilled_weight: float = 1.0
    loss_average: str = "all"  # batch mode: "all" pairs of a kind, or only the "active" ones (loss > 0)
    # Adam's learning rate and its schedule
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over epochs x steps (`learning_rate` below)
    ema_momentum: float | None = None  # select and save the weights' moving average (e.g. 0.99); None = off
    epochs: int = 15
    patience: int = 10  # early stopping on validation EER
    time_budget_s: float | None = None  # stop after the epoch that would overrun this budget
    select_on: str = "both"  # which validation pairs select the model: "both", "skilled" or "random" forgeries
    ensemble: int = 1  # towers trained with seeds seed, seed + 1, ... and used as one (`train_ensemble`)
    init: str | None = None  # start from this tower's weights (a .keras file, or "pretrained": the shipped tower)
    jit_compile: bool | str = "auto"
    mixed_precision: bool | str = "auto"  # "auto": on when a GPU is present
    distribute: str = "auto"  # DISTRIBUTE: how the steps spread over devices (`device_strategy`)
    tensorboard: bool = False

    # what a resumed run may change: how long to go on and on what, not what is trained
    RESUMABLE: ClassVar[tuple[str, ...]] = ("epochs", "patience", "time_budget_s", "distribute", "tensorboard")


class RunConfig(Protocol):
    """What a training run reads of a `sigkit.Config`. `sigkit.config` composes this module's
    `TrainConfig` into `Config`, so this module names the shape it needs rather than importing it."""

    seed: int
    split: object
    preprocess: object
    augment: object
    model: object
    train: TrainConfig

    def flat(self) -> dict: ...

    def to_dict(self) -> dict: ...


@dataclass
class TrainResult:
    model_path: Path
    history: pd.DataFrame
    best_val_eer: float
    threshold: float
    seconds: float
    stopped: str | None


# "auto": MirroredStrategy over the GPUs when there are several, else one device; "one": one device
# always; "mirrored": MirroredStrategy over every GPU, or every (logical) CPU device when there is
# none; "multiworker": MultiWorkerMirroredStrategy over the machines the TF_CONFIG environment
# variable names (docs/guide.md, "GPU")
DISTRIBUTE = ("auto", "one", "mirrored", "multiworker")


def device_strategy(settings: TrainConfig) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy `settings.distribute` names (`DISTRIBUTE`); sets mixed precision.

    Keras' `fit` splits each batch among the replicas and sums their gradients, so a step on N
    replicas is the step on one device (tests/test_distribute.py). In batch mode each replica must
    get whole writers, so P (`writers_per_batch`) must divide among the replicas."""
    if settings.distribute not in DISTRIBUTE:
        raise ValueError(f"distribute must be one of {DISTRIBUTE}, not {settings.distribute!r}")
    gpus = tf.config.list_physical_devices("GPU")
    use_mixed = bool(gpus) if settings.mixed_precision == "auto" else bool(settings.mixed_precision)
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    if settings.distribute == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif settings.distribute == "mirrored" or (settings.distribute == "auto" and len(gpus) > 1):
        devices = None if gpus else [device.name for device in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        return tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if settings.mode == "batch" and settings.writers_per_batch % replicas:
        raise ValueError(
            f"writers_per_batch ({settings.writers_per_batch}) must divide among {replicas} replicas, "
            "so that each replica's in-batch pairs come from whole writers"
        )
    return strategy


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(settings: TrainConfig, steps_per_epoch: int):
    """The optimizer's learning rate: `settings.learning_rate` throughout, or a cosine decay from it
    to 0 over `settings.epochs` epochs (a built-in Keras schedule, so checkpoints resume on it; a
    resumed run keeps the decay it started with, even if `epochs` changes)."""
    if settings.lr_schedule == "constant":
        return settings.learning_rate
    if settings.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            settings.learning_rate, decay_steps=settings.epochs * steps_per_epoch
        )
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, not {settings.lr_schedule!r}")


def check_inputs(
    splits: dict[str, pd.DataFrame], images: dict[str, np.ndarray], config: RunConfig, given_val_pairs: bool = False
) -> None:
    """Clear errors before anything is built, not a TensorFlow trace in the first epoch."""
    for name in ("train", "val"):
        if name not in splits or name not in images:
            raise ValueError(f"train() needs splits[{name!r}] and images[{name!r}]")
        if len(splits[name]) != len(images[name]):
            raise ValueError(
                f"{name}: {len(splits[name])} manifest rows but {len(images[name])} images; "
                "load the images from this split's decode_path column"
            )
        if images[name].shape[1:3] != tuple(config.preprocess.image_size):
            raise ValueError(
                f"{name}: images are {images[name].shape[1:3]}, the config says {tuple(config.preprocess.image_size)}"
            )
    val_writers = splits["val"][splits["val"]["genuine"]].groupby("writer").size()
    if not given_val_pairs and (val_writers >= 2).sum() < 2:
        raise ValueError(
            "validation needs at least 2 writers with 2+ genuine signatures (model selection and "
            "the threshold come from them); give split_writers a larger val share"
        )


def initial_tower_path(init: str) -> Path:
    """The file `TrainConfig.init` names: "pretrained" is the tower shipped with sigkit."""
    if init == "pretrained":
        from sigkit.shipped import pretrained_path

        return pretrained_path()
    from sigkit.paths import resolve

    return resolve(init)


def copy_initial_weights(tower: keras.Model, init: str) -> None:
    """Start `tower` from the weights of the tower in `init` (pre-train, then fine-tune).

    The fine-tuning config must build the same tower (image size, widths, head, pooling, ...):
    a mismatch is an error naming the file, not a silent partial copy.
    """
    path = initial_tower_path(init)
    source = find_tower(load_siamese(path))
    mismatch = None
    if tuple(source.input_shape[1:]) != tuple(tower.input_shape[1:]):
        mismatch = (
            f"it takes images of shape {tuple(source.input_shape[1:])}, this config {tuple(tower.input_shape[1:])}"
        )
    else:
        theirs, ours = source.get_weights(), tower.get_weights()
        if [w.shape for w in theirs] != [w.shape for w in ours]:
            mismatch = f"its {len(theirs)} weight arrays do not match the {len(ours)} of the tower this config builds"
    if mismatch:
        raise ValueError(
            f"init={init!r} ({path}): {mismatch}; fine-tune with the settings it was trained with "
            "(its model.json lists them: image_size, widths, convs_per_block, norm, pooling, head, ...)"
        )
    tower.set_weights(source.get_weights())
    log.info("starting from the weights of %s", path)


# what a saved `checkpoint/state.json` holds (`new_state`)
STATE_KEYS = frozenset(
    {"epoch", "best_val_eer", "best_epoch", "threshold", "wait", "seconds", "stopped", "checkpoint", "config"}
)


def new_state(config: RunConfig) -> dict:
    return {
        "epoch": -1,
        "best_val_eer": float("inf"),
        "best_epoch": -1,
        "threshold": None,
        "wait": 0,
        "seconds": 0.0,
        "stopped": None,
        "checkpoint": None,
        "config": json.loads(json.dumps(config.to_dict())),
    }


def what_is_trained(config: RunConfig) -> RunConfig:
    """`config` less what a resumed run may change: the resumable training settings at their
    defaults (`TrainConfig.RESUMABLE`) and the model's settings its tower does not use."""
    defaults = TrainConfig()
    train = dataclasses.replace(config.train, **{name: getattr(defaults, name) for name in TrainConfig.RESUMABLE})
    return dataclasses.replace(config, model=config.model.in_use(), train=train)


def check_same_run(state: dict, config: RunConfig, run_dir: Path) -> None:
    """Refuse to resume a run trained with another config. The saved config may be of an older
    version (flat, or without settings added since: those count as their defaults)."""
    before = what_is_trained(type(config).from_dict(state["config"])).flat()
    now = what_is_trained(config).flat()
    changed = sorted(name for name in now if now[name] != before[name])
    if changed:
        raise ValueError(
            f"{run_dir} holds a run with another config ({', '.join(changed)} differ); "
            "use a new run folder, or the same config to resume it"
        )


def training_schedule(
    config: RunConfig, train_set: pd.DataFrame, train_pairs: pd.DataFrame | None = None
) -> tuple[int, np.ndarray | pd.DataFrame]:
    """(steps per epoch, what the steps draw): the P x K batch plan of every epoch (batch mode) or
    the training pairs (pairs mode; `train_pairs` when given, e.g. a published pair list)."""
    settings = config.train
    if train_pairs is not None and settings.mode != "pairs":
        raise ValueError("given training pairs need mode='pairs'")
    if settings.mode == "batch":
        batch = settings.writers_per_batch * (settings.k_genuine + settings.k_forged)
        steps = settings.steps_per_epoch or max(1, len(train_set) // batch)
        plan = pk_plan(
            train_set,
            writers_per_batch=settings.writers_per_batch,
            k_genuine=settings.k_genuine,
            k_forged=settings.k_forged,
            n_batches=steps * settings.epochs,
            seed=config.seed,
            mirrors=settings.writer_mirrors,
        )
        return steps, plan
    if settings.mode == "pairs":
        if settings.writer_mirrors > 1:
            raise ValueError("writer_mirrors needs mode='batch' (mirrored writers are drawn into P x K batches)")
        if train_pairs is None:
            train_pairs = make_pairs(train_set, seed=config.seed, skilled_fraction=settings.skilled_fraction)
        return settings.steps_per_epoch or max(1, len(train_pairs) // settings.batch_size), train_pairs
    raise ValueError(f"mode must be 'batch' or 'pairs', not {settings.mode!r}")


def build_or_resume(
    config: RunConfig, run_dir: Path, steps: int, tower_name: str
) -> tuple[dict, keras.Model | None, keras.Model | None]:
    """(state, the model `fit` trains, its tower): the last checkpoint of `run_dir` when there is
    one (refused if it was trained with another config), else a new compiled model. A finished
    run needs no model (None, None), so a damaged checkpoint cannot stop it from reporting; one
    that cannot be read hands over to `resume_from_best`."""
    checkpoint = run_dir / "checkpoint"
    state_file = checkpoint / "state.json"
    settings = config.train
    strategy = device_strategy(settings)
    with strategy.scope():
        if not state_file.exists():
            tower = tower_for(config.model, config.preprocess.image_size, name=tower_name)
            if settings.init:
                copy_initial_weights(tower, settings.init)
            return new_state(config), compiled_model(config, steps, tower), tower
        state, damage = read_state(state_file)
        if damage is None:
            check_same_run(state, config, run_dir)
            if finished(state, config):
                return state, None, None
            last = checkpoint / state["checkpoint"]
            damage = unreadable_archive(last)
            if damage is None:
                trainable = keras.saving.load_model(last, safe_mode=True)
                tower = trainable if settings.mode == "batch" else trainable.get_layer("tower")
                log.info("resuming %s after epoch %d", run_dir, state["epoch"])
                return state, trainable, tower
            damage = f"{last}: {damage}"
        else:
            damage = f"{state_file}: {damage}"
        return resume_from_best(config, run_dir, state, damage, steps, tower_name)


def compiled_model(config: RunConfig, steps: int, tower: keras.Model) -> keras.Model:
    """The model `fit` trains around `tower`, with a new optimizer: the tower itself under the
    in-batch loss (batch mode), or a Siamese model around it under the pair loss (pairs mode)."""
    settings = config.train
    jit = "auto" if settings.jit_compile == "auto" else bool(settings.jit_compile)
    optimizer = keras.optimizers.Adam(
        learning_rate(settings, steps),
        use_ema=settings.ema_momentum is not None,
        ema_momentum=settings.ema_momentum or 0.99,
    )
    if settings.mode == "batch":
        matcher = match_layer(tower)
        trainable, loss = (
            tower,
            InBatchContrastiveLoss(
                settings.margin,
                settings.skilled_weight,
                positive_margin=settings.positive_margin,
                average=settings.loss_average,
                match=matcher.settings.to_dict() if matcher else None,
            ),
        )
    else:
        trainable = build_siamese(tower)
        loss = ContrastiveLoss(settings.margin, positive_margin=settings.positive_margin)
    trainable.compile(optimizer, loss, jit_compile=jit)
    return trainable


def finished(state: dict, config: RunConfig) -> bool:
    """Whether the run of `state` has nothing left to train under `config` (stopped, or all epochs)."""
    return bool(state["stopped"]) or state["epoch"] + 1 >= config.train.epochs


def read_state(path: Path) -> tuple[dict | None, str | None]:
    """(the saved state, None), or (None, why it cannot be used)."""
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"not valid JSON ({error})"
    if not isinstance(state, dict):
        return None, f"holds {type(state).__name__}, not a training state"
    missing = sorted(STATE_KEYS - set(state))
    if missing:
        return None, f"lacks {', '.join(missing)}"
    if not isinstance(state["checkpoint"], str):
        return None, f"names no checkpoint file ({state['checkpoint']!r})"
    return state, None


def unreadable_archive(path: Path) -> str | None:
    """Why `path` is not a whole `.keras` archive (missing, cut short, a damaged member), or None."""
    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"not a whole .keras archive ({error})"
    return f"not a whole .keras archive (its member {damaged} is damaged)" if damaged else None


def resume_from_best(
    config: RunConfig, run_dir: Path, state: dict | None, damage: str, steps: int, tower_name: str
) -> tuple[dict, keras.Model, keras.Model]:
    """Go on after the best saved model when the checkpoint cannot be read (`damage` says which
    file and why): its weights (`model.keras`) and its epoch (`model.json`) take over, with a new
    optimizer (moments, and a cosine schedule, start afresh); the epochs after it run again.
    Nothing finished is lost: the best model stays until a better one replaces it. Without a
    usable best model, a ValueError saying what to do."""
    best, card_path = run_dir / "model.keras", run_dir / CARD_NAME
    try:
        card = ModelCard.load(card_path)
        if card.epoch is None or card.val_eer is None or card.threshold is None:
            raise ValueError(f"{card_path} names no selected epoch with its validation EER and threshold")
        unreadable = unreadable_archive(best)
        if unreadable:
            raise ValueError(f"{best}: {unreadable}")
        source = find_tower(load_siamese(best))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{damage}; the run cannot resume from it, and its best saved model cannot take over ({error}). "
            f"To train this run again from the start, delete {run_dir / 'checkpoint'}, {best} and {card_path} "
            "(or use a new run folder)"
        ) from error
    before = state or {}
    state = {
        **new_state(config),
        "epoch": card.epoch,
        "best_epoch": card.epoch,
        "best_val_eer": card.val_eer,
        "threshold": card.threshold,
        "seconds": before.get("seconds", 0.0),
        "config": card.config,
    }
    check_same_run(state, config, run_dir)
    tower = tower_for(config.model, config.preprocess.image_size, name=tower_name)
    tower.set_weights(source.get_weights())
    if not before:
        rerun = "the epochs after it run again; the training time before is not counted in time_budget_s"
    elif before["epoch"] == card.epoch + 1:
        rerun = f"epoch {before['epoch']} runs again"
    elif before["epoch"] > card.epoch:
        rerun = f"epochs {card.epoch + 1}-{before['epoch']} run again"
    else:
        rerun = "no epoch runs again"
    log.warning(
        "%s; going on from the best saved model %s (epoch %d, validation EER %.4f) with a new optimizer state: %s",
        damage,
        best,
        card.epoch,
        card.val_eer,
        rerun,
    )
    return state, compiled_model(config, steps, tower), tower


def training_dataset(
    config: RunConfig, images: np.ndarray, train_set: pd.DataFrame, schedule, first_epoch: int, steps: int
):
    """The `tf.data` input of `fit` from `first_epoch` on: what an uninterrupted run would draw there."""
    augment = config.augment if config.augment.enabled else None
    if config.train.mode == "batch":
        return pk_dataset(
            images,
            train_set,
            schedule[first_epoch * steps :],
            augment=augment,
            seed=config.seed,
            first_step=first_epoch * steps,
            mirrors=config.train.writer_mirrors,
        )
    return pair_dataset(
        images,
        schedule,
        batch_size=config.train.batch_size,
        augment=augment,
        seed=config.seed,
        repeat=True,
        skip_batches=first_epoch * steps,
    )


def training_callbacks(
    config: RunConfig,
    tower: keras.Model,
    val_images: np.ndarray,
    val_pairs: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    run_dir: Path,
    state: dict,
    first_epoch: int,
) -> list:
    """Per-epoch model selection on the validation writers, the epoch log and the checkpoint (and
    TensorBoard when asked); a resumed run appends to its log."""
    callbacks = [
        ValidationEER(
            tower, val_images, val_pairs, run_dir, state, select_on=config.train.select_on, data=data_summary(splits)
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=first_epoch > 0),
        Checkpoint(
            run_dir / "checkpoint",
            state,
            seed=config.seed,
            patience=config.train.patience,
            time_budget_s=config.train.time_budget_s,
        ),
    ]
    if config.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    return callbacks


def fit_epochs(
    trainable: keras.Model, data, settings: TrainConfig, first_epoch: int, steps: int, callbacks: list
) -> None:
    """`fit` from `first_epoch` to `settings.epochs`, then float32 again whatever happened."""
    try:
        trainable.fit(
            data,
            epochs=settings.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=2,
            shuffle=False,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")  # do not leak into the caller's models


def train(
    config: RunConfig,
    splits: dict[str, pd.DataFrame],
    images: dict[str, np.ndarray],
    run_dir: str | Path,
    tower_name: str = "tower",
    pairs: dict[str, pd.DataFrame] | None = None,
) -> TrainResult:
    """Train on `splits["train"]`, select on `splits["val"]`; `images[name]` aligned with each split.

    With `config.train.ensemble` > 1, trains that many towers (see `train_ensemble`). `pairs` replaces the
    sampled pairs with given ones (`pairs["train"]`, `pairs["val"]`: columns a, b as row positions
    in that split, label, kind), as a published pair list fixes them (`sigkit.published`); pairs mode.
    """
    pairs = pairs or {}
    check_inputs(splits, images, config, given_val_pairs="val" in pairs)
    if config.train.ensemble > 1:
        if pairs:
            raise ValueError("given pairs train one tower; set ensemble=1")
        return train_ensemble(config, splits, images, run_dir)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    train_set = splits["train"].reset_index(drop=True)
    val_pairs = pairs["val"] if "val" in pairs else validation_pairs(splits["val"], seed=config.seed)
    steps, schedule = training_schedule(config, train_set, pairs.get("train"))
    state, trainable, tower = build_or_resume(config, run_dir, steps, tower_name)

    first_epoch = state["epoch"] + 1
    history = run_dir / "history.csv"
    if finished(state, config):
        log.info("%s already finished (%s)", run_dir, state["stopped"] or "all epochs")
    else:
        data = training_dataset(config, images["train"], train_set, schedule, first_epoch, steps)
        if first_epoch > 0 and history.exists():  # drop rows of an epoch that ran but was not checkpointed
            rows = pd.read_csv(history)
            rows[rows["epoch"] < first_epoch].to_csv(history, index=False)
        callbacks = training_callbacks(config, tower, images["val"], val_pairs, splits, run_dir, state, first_epoch)
        fit_epochs(trainable, data, config.train, first_epoch, steps, callbacks)
    return TrainResult(
        model_path=run_dir / "model.keras",
        history=pd.read_csv(history),
        best_val_eer=float(state["best_val_eer"]),
        threshold=float(state["threshold"]),
        seconds=float(state["seconds"]),
        stopped=state["stopped"],
    )


def train_ensemble(
    config: RunConfig, splits: dict[str, pd.DataFrame], images: dict[str, np.ndarray], run_dir: str | Path
) -> TrainResult:
    """`config.train.ensemble` towers, seeds seed, seed + 1, ..., each trained and selected by `train`
    in `run_dir/member-<i>`, then joined by `build_ensemble` into `run_dir/model.keras`.

    One small tower trained on a few dozen writers is noisy (its validation EER moves by points
    between seeds); the ensemble averages that out. The time budget is shared: each member gets
    what is left divided by the members still to train. The ensemble's threshold is its own EER
    point on the validation writers. Resumes like `train`: finished members are reused.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    results: list[TrainResult] = []
    members = config.train.ensemble
    for i in range(members):
        budget = None
        if config.train.time_budget_s:
            left = max(config.train.time_budget_s - sum(r.seconds for r in results), 1.0)  # 0 would mean "no budget"
            budget = left / (members - i)
        member = config.replace(seed=config.seed + i, ensemble=1, time_budget_s=budget)
        results.append(train(member, splits, images, run_dir / f"member-{i}", tower_name=f"member_{i}"))
    towers = [find_tower(keras.saving.load_model(r.model_path, safe_mode=True)) for r in results]
    tower = build_ensemble(towers)
    val_pairs = validation_pairs(splits["val"], seed=config.seed)
    val_eer, threshold = validation_eer(tower, images["val"], val_pairs, config.train.select_on)
    save_atomic(build_siamese(inference_copy(tower)), run_dir / "model.keras")
    state = {
        "threshold": threshold,
        "best_val_eer": val_eer,
        "best_epoch": None,
        "config": json.loads(json.dumps(config.to_dict())),
    }
    card = run_card(state, config.train.select_on, data_summary(splits))
    card.members = [{"val_eer": r.best_val_eer, "epochs": len(r.history)} for r in results]
    card.save(run_dir / "model.json")
    history = pd.concat([r.history.assign(member=i) for i, r in enumerate(results)], ignore_index=True)
    history.to_csv(run_dir / "history.csv", index=False)
    return TrainResult(
        model_path=run_dir / "model.keras",
        history=history,
        best_val_eer=float(val_eer),
        threshold=float(threshold),
        seconds=sum(r.seconds for r in results),
        stopped=", ".join(sorted({r.stopped or "all epochs" for r in results})),
    )
