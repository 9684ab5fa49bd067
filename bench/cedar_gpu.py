"""The paper profile (224x224, Siamese pairs, batch 32, Adam 1e-4) on CEDAR, trained on a GPU.

The GPU machine has Keras on the JAX backend but no TensorFlow, so training runs on it while
preprocessing and the test protocol run on a CPU machine with TensorFlow:

    python bench/cedar_gpu.py prepare .gpu/cedar.npz                  # CPU: preprocess, sample pairs
    KERAS_BACKEND=jax python bench/cedar_gpu.py probe [steps=20]      # GPU: step speed, augmentation on/off
    KERAS_BACKEND=jax python bench/cedar_gpu.py train .gpu/cedar.npz OUT [time_budget_s=300]
    python bench/cedar_gpu.py report OUT/model.keras OUT/history.json  # CPU: bench/cedar.py's figures

Same protocol as bench/cedar.py (`sigkit.datasets.CEDAR_SPLIT`; model selection and thresholds on
the validation writers); the test writers never leave the CPU machine.

Library pieces: `prepare` and `report` run under TensorFlow on bench/cedar.py's `load_cedar`
and `test_figures` and `sigkit.pairs`' sampling. On the GPU machine the config, tower, Siamese
model, contrastive loss, embedding, validation distances and EER are sigkit's (`sigkit.config`,
`.model`, `.losses`, `.matching`, `.metrics`: plain Keras 3 and numpy, importable without
TensorFlow). What this script carries itself, and why: `sigkit.train.train` feeds `tf.data`
pipelines (`sigkit.pairs.pair_dataset`) and augments in TensorFlow graph ops (`sigkit.augment`),
neither of which runs without TensorFlow, so the epoch loop over numpy pairs (best weights by
validation EER, a time budget, bfloat16 mixed precision where sigkit.train uses float16) and the
augmentation are in this script. Keras' random rotation, translation and zoom layers (`augment_on=device`)
made a step 80 times slower on an H200 under JAX, so by default the same transforms and the
stroke-thickness variation run on the host CPUs between epochs (`host_augment`, `augment_on=host`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from common import parse_overrides, to_json

from sigkit.datasets import CEDAR_SPLIT
from sigkit.quiet import import_tensorflow_quietly


def prepare(out: str, overrides: dict, folder=None, split=CEDAR_SPLIT) -> None:
    """Preprocess the protocol's train and validation writers (of `folder`, default CEDAR) and
    sample the training pairs."""
    from cedar import load_cedar

    import sigkit
    from sigkit.pairs import make_pairs, validation_pairs
    from sigkit.paths import cedar_path

    config = sigkit.profile("paper", **overrides)
    cedar = load_cedar(folder or cedar_path(), config, split=split)
    splits, images = cedar["splits"], cedar["images"]
    train_pairs = make_pairs(
        splits["train"].reset_index(drop=True), seed=config.seed, skilled_fraction=config.train.skilled_fraction
    )
    val_pairs = validation_pairs(splits["val"], seed=config.seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        train_images=images["train"],
        val_images=images["val"],
        train_a=train_pairs["a"].to_numpy(),
        train_b=train_pairs["b"].to_numpy(),
        train_label=train_pairs["label"].to_numpy(),
        val_a=val_pairs["a"].to_numpy(),
        val_b=val_pairs["b"].to_numpy(),
        val_label=val_pairs["label"].to_numpy(),
        config=json.dumps(config.to_dict()),
    )
    print(
        f"{out}: {len(images['train'])} train + {len(images['val'])} val images {images['train'].shape[1:]}, "
        f"{len(train_pairs)} training pairs, {Path(out).stat().st_size / 2**20:.1f} MiB"
    )


def augmenter(options, seed: int):
    """Keras' random affine layers with the ranges of `options` (`Config.augment`)."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            layers.RandomRotation(options.rotation_deg / 360.0, fill_mode="constant", fill_value=0.0, seed=seed),
            layers.RandomTranslation(
                options.shift_frac, options.shift_frac, fill_mode="constant", fill_value=0.0, seed=seed + 1
            ),
            layers.RandomZoom(
                options.zoom_range, options.zoom_range, fill_mode="constant", fill_value=0.0, seed=seed + 2
            ),
        ],
        name="augment",
    )


def host_augment(images: np.ndarray, options, rng: np.random.Generator) -> np.ndarray:
    """sigkit.augment's transforms with the ranges of `options` (`Config.augment`), on the host CPUs
    in threads (why: the module docstring): per image one rotation + shift + zoom about the centre
    (OpenCV, else SciPy), then with probability `thickness_prob` a 3x3 dilation or a half-strength
    3x3 erosion (as sigkit.augment.change_thickness)."""
    from concurrent.futures import ThreadPoolExecutor

    n, height, width = images.shape[:3]
    angle = np.deg2rad(rng.uniform(-options.rotation_deg, options.rotation_deg, n))
    zoom = rng.uniform(1 - options.zoom_range, 1 + options.zoom_range, n)
    shift = rng.uniform(-options.shift_frac, options.shift_frac, (n, 2)) * (width, height)
    stroke = rng.uniform(0, 1, n)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    square = np.ones((3, 3), np.uint8)
    try:
        import cv2
    except ImportError:
        cv2 = None
        from scipy import ndimage

    def one(i: int) -> np.ndarray:
        c, s = np.cos(angle[i]) * zoom[i], np.sin(angle[i]) * zoom[i]
        forward = np.array([[c, -s], [s, c]])  # (x, y) -> rotated and zoomed about the centre
        offset = centre + shift[i] - forward @ centre
        image = images[i, :, :, 0]
        if cv2 is not None:
            moved = cv2.warpAffine(
                image,
                np.hstack([forward, offset[:, None]]),
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            dilate, erode = (lambda x: cv2.dilate(x, square)), (lambda x: cv2.erode(x, square))
        else:  # SciPy maps output (row, col) to input: the inverse transform, in (y, x) order
            inverse = np.linalg.inv(forward)[::-1, ::-1]
            moved = ndimage.affine_transform(image, inverse, offset=-(inverse @ offset[::-1]), order=1, cval=0)
            dilate, erode = (lambda x: ndimage.grey_dilation(x, size=3)), (lambda x: ndimage.grey_erosion(x, size=3))
        if stroke[i] < options.thickness_prob / 2:
            return dilate(moved)
        if stroke[i] < options.thickness_prob:
            return ((moved.astype(np.uint16) + erode(moved)) // 2).astype(np.uint8)
        return moved

    with ThreadPoolExecutor() as pool:
        return np.stack(list(pool.map(one, range(n))))[..., None]


def accelerator() -> str | None:
    """The GPU Keras' backend computes on, or None (a silent CPU fallback must not pass for a GPU)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax {device.device_kind}" if device.platform == "gpu" else None
    if keras.backend.backend() == "torch":
        import torch

        return f"torch {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else None
    return None


def build_trainer(config, shape, augment: bool):
    """(tower, trainer): uint8 pairs -> [0, 1] -> optional augmentation -> Siamese distance."""
    import keras

    from sigkit.losses import ContrastiveLoss
    from sigkit.model import build_siamese, tower_for

    tower = tower_for(config.model, config.preprocess.image_size)
    siamese = build_siamese(tower)
    inputs = [keras.Input(shape, dtype="uint8", name=name) for name in ("image_a", "image_b")]
    scaled = [keras.layers.Rescaling(1 / 255.0, dtype="float32")(x) for x in inputs]
    if augment:
        transform = augmenter(config.augment, config.seed)
        scaled = [transform(x) for x in scaled]
    trainer = keras.Model(inputs, siamese(scaled))
    loss = ContrastiveLoss(config.train.margin, positive_margin=config.train.positive_margin)
    trainer.compile(keras.optimizers.Adam(config.train.learning_rate), loss)
    return tower, trainer


def probe(overrides: dict) -> None:
    """Seconds per training step of the paper profile on random pairs, augmentation off and on."""
    import keras

    import sigkit

    steps = int(overrides.pop("steps", 20))
    config = sigkit.profile("paper", **overrides)
    device = accelerator()
    if device:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    shape = (*config.preprocess.image_size, 1)
    batch = config.train.batch_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
    label = rng.integers(0, 2, batch).astype(np.float32)
    for augment in (False, True):
        _, trainer = build_trainer(config, shape, augment)
        tick = time.perf_counter()
        trainer.train_on_batch([images, images], label)
        first = time.perf_counter() - tick
        tick = time.perf_counter()
        for _ in range(steps):
            loss = trainer.train_on_batch([images, images], label)
        float(np.asarray(loss))  # wait for the device
        step = (time.perf_counter() - tick) / steps
        print(
            json.dumps(
                dict(
                    backend=keras.backend.backend(),
                    device=device,
                    augment=augment,
                    first_step_s=round(first, 2),
                    step_s=round(step, 4),
                    train_images_per_s=round(2 * batch / step, 1),
                )
            ),
            flush=True,
        )


def load_prepared(npz: str, overrides: dict):
    """(arrays, config): what `prepare` wrote, its config with the command line's overrides."""
    import sigkit

    data = np.load(npz)
    return data, sigkit.Config.from_dict(json.loads(str(data["config"]))).replace(**overrides)


def step_timer(start: float):
    """A callback printing when a few first-epoch steps end: compilation vs steady speed."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: (
            batch in (0, 1, 10, 50, 100)
            and print(f"step {batch} done at {time.perf_counter() - start:.1f} s", flush=True)
        )
    )


def fit_epoch(trainer, pairs: tuple, config, rng: np.random.Generator, on_host: bool, callbacks: list):
    """One epoch over the training pairs in a new order, augmented on the host CPUs if `on_host`:
    (Keras history, seconds with the augmentation, seconds of the augmentation)."""
    train_images, a, b, label = pairs
    order = rng.permutation(len(a))
    tick = time.perf_counter()
    first, second = train_images[a[order]], train_images[b[order]]
    if on_host:
        first, second = host_augment(first, config.augment, rng), host_augment(second, config.augment, rng)
    augment_s = time.perf_counter() - tick
    fit = trainer.fit(
        [first, second],
        label[order],
        batch_size=config.train.batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return fit, time.perf_counter() - tick, augment_s


def validation_eer_of(tower, val_images: np.ndarray, data) -> float:
    """EER of the prepared validation pairs by the distance of their embeddings."""
    from sigkit.matching import pair_distances, scorer_for
    from sigkit.metrics import eer
    from sigkit.model import embed

    distance = pair_distances(embed(tower, val_images), data["val_a"], data["val_b"], scorer_for(tower))
    return eer(distance, data["val_label"])[0]


def save_float32_model(config, weights: list, out_dir: Path) -> None:
    """The Siamese model of a float32 tower with `weights` as out_dir/model.keras."""
    import keras

    from sigkit.model import build_siamese, tower_for

    keras.mixed_precision.set_global_policy("float32")  # a float32 model loads and runs anywhere
    final = tower_for(config.model, config.preprocess.image_size)
    final.set_weights(weights)
    build_siamese(final).save(out_dir / "model.keras")


def training_summary(history: list[dict], best: float, start: float, device, augment_on: str, config) -> dict:
    """What history.json keeps of a training: its outcome, speed (after the compiling first
    epoch), where and how it ran, the config and every epoch's row."""
    import keras

    steady = [r["train_images_per_s"] for r in history[1:]] or [history[0]["train_images_per_s"]]
    return dict(
        epochs_run=len(history),
        best_val_eer=float(best),
        train_seconds=round(time.perf_counter() - start, 1),
        median_train_images_per_s=float(np.median(steady)),
        backend=keras.backend.backend(),
        device=device,
        mixed_precision="mixed_bfloat16" if device is not None else "float32",
        augment_on=augment_on if config.augment.enabled else None,
        config=config.to_dict(),
        history=history,
    )


def train_on_gpu(npz: str, out: str, overrides: dict) -> None:
    """Train with per-epoch validation EER; keep the best weights; save a float32 model."""
    import keras

    budget = float(overrides.pop("time_budget_s", 300))
    augment_on = overrides.pop("augment_on", "host")  # "host" (OpenCV between epochs) or "device" (Keras layers)
    if augment_on not in ("host", "device"):
        raise SystemExit(f"augment_on must be 'host' or 'device', not {augment_on!r}")
    data, config = load_prepared(npz, overrides)
    keras.utils.set_random_seed(config.seed)
    device = accelerator()
    print(f"backend {keras.backend.backend()}, device {device}, config {config}", flush=True)

    train_images, val_images = data["train_images"], data["val_images"]
    a, b, label = data["train_a"], data["train_b"], data["train_label"].astype(np.float32)
    shape = train_images.shape[1:]
    if device is not None:  # as sigkit.train does on a GPU; bfloat16 needs no loss scaling
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    tower, trainer = build_trainer(config, shape, config.augment.enabled and augment_on == "device")
    on_host = config.augment.enabled and augment_on == "host"

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    history, best, best_weights, start = [], np.inf, None, time.perf_counter()
    rng = np.random.default_rng(config.seed)
    timer = step_timer(start)
    for epoch in range(config.train.epochs):
        callbacks = [timer] if epoch == 0 else []
        fit, seconds, augment_s = fit_epoch(trainer, (train_images, a, b, label), config, rng, on_host, callbacks)
        val_eer = validation_eer_of(tower, val_images, data)
        row = dict(
            epoch=epoch,
            loss=float(fit.history["loss"][-1]),
            val_eer=float(val_eer),
            seconds=round(seconds, 2),
            augment_seconds=round(augment_s, 2),
            train_images_per_s=round(2 * len(a) / seconds, 1),
        )
        history.append(row)
        print(json.dumps(row), flush=True)
        if val_eer < best:
            best, best_weights = val_eer, tower.get_weights()
        if time.perf_counter() - start + seconds > budget:  # the next epoch would overrun
            break

    save_float32_model(config, best_weights, out_dir)
    summary = training_summary(history, best, start, device, augment_on, config)
    (out_dir / "history.json").write_text(json.dumps(summary, default=list))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, default=list))


def report(model_path: str, history_path: str, folder=None, split=CEDAR_SPLIT, n_boot: int = 1000) -> None:
    """bench/cedar.py's figures for the GPU-trained model on `folder` (default CEDAR; test writers stay here)."""
    from cedar import load_cedar, test_figures

    import sigkit
    from sigkit.paths import cedar_path

    summary = json.loads(Path(history_path).read_text())
    config = sigkit.Config.from_dict(summary["config"])
    line = test_figures(model_path, load_cedar(folder or cedar_path(), config, split=split), config.seed, n_boot=n_boot)
    line.update({k: v for k, v in summary.items() if k != "history"})
    print(to_json(line))


def main() -> None:
    import_tensorflow_quietly()  # where TensorFlow is installed (here); Keras alone on the GPU machine
    stage, *rest = sys.argv[1:]
    if stage == "prepare":
        prepare(rest[0], parse_overrides(rest[1:]))
    elif stage == "probe":
        probe(parse_overrides(rest))
    elif stage == "train":
        train_on_gpu(rest[0], rest[1], parse_overrides(rest[2:]))
    elif stage == "report":
        report(rest[0], rest[1])
    else:
        raise SystemExit(f"unknown stage {stage!r}: prepare, probe, train or report")


if __name__ == "__main__":
    main()
