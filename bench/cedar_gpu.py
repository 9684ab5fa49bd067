"""The paper profile (224x224, Siamese pairs, batch 32, Adam 1e-4) on CEDAR, trained on a GPU.

The GPU machine has JAX but no TensorFlow, and sigkit's model code is plain Keras 3 (`keras.ops`),
so training runs there on the JAX backend while preprocessing and the test protocol run here:

    python bench/cedar_gpu.py prepare .gpu/cedar.npz                  # here: preprocess, sample pairs
    KERAS_BACKEND=jax python bench/cedar_gpu.py train .gpu/cedar.npz OUT [time_budget_s=300]
    python bench/cedar_gpu.py report OUT/model.keras OUT/history.json  # here: bench/cedar.py's figures

Same protocol as bench/cedar.py (writers 1-35 train with 12 genuine each, 36-45 validation, 46-55
test; model selection and thresholds on validation). The test writers never leave this machine.
Augmentation on the GPU uses Keras' own random rotation, translation and zoom layers (sigkit's
augment.py is TensorFlow graph code); stroke-thickness variation is left out there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse_overrides  # noqa: E402  (TensorFlow-free)


def prepare(out: str, overrides: dict) -> None:
    """Preprocess the protocol's train and validation writers and sample the training pairs."""
    import sigkit
    from cedar import load_cedar
    from sigkit.pairs import make_pairs, validation_pairs
    from sigkit.paths import cedar_path

    config = sigkit.profile("paper", mode="pairs", **overrides)
    cedar = load_cedar(cedar_path(), config)
    splits, images = cedar["splits"], cedar["images"]
    train_pairs = make_pairs(splits["train"].reset_index(drop=True), seed=config.seed,
                             skilled_fraction=config.skilled_fraction)
    val_pairs = validation_pairs(splits["val"], seed=config.seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, train_images=images["train"], val_images=images["val"],
        train_a=train_pairs["a"].to_numpy(), train_b=train_pairs["b"].to_numpy(), train_label=train_pairs["label"].to_numpy(),
        val_a=val_pairs["a"].to_numpy(), val_b=val_pairs["b"].to_numpy(), val_label=val_pairs["label"].to_numpy(),
        config=json.dumps(config.to_dict()),
    )
    print(f"{out}: {len(images['train'])} train + {len(images['val'])} val images {images['train'].shape[1:]}, "
          f"{len(train_pairs)} training pairs, {Path(out).stat().st_size / 2**20:.1f} MiB")


def augmenter(config, seed: int):
    import keras

    layers = keras.layers
    return keras.Sequential([
        layers.RandomRotation(config.rotation_deg / 360.0, fill_mode="constant", fill_value=0.0, seed=seed),
        layers.RandomTranslation(config.shift_frac, config.shift_frac, fill_mode="constant", fill_value=0.0, seed=seed + 1),
        layers.RandomZoom(config.zoom_range, config.zoom_range, fill_mode="constant", fill_value=0.0, seed=seed + 2),
    ], name="augment")


def train_on_gpu(npz: str, out: str, overrides: dict) -> None:
    """Train with per-epoch validation EER; keep the best weights; save a float32 model."""
    import keras

    import sigkit
    from sigkit.losses import ContrastiveLoss
    from sigkit.metrics import eer
    from sigkit.model import build_siamese, build_tower, embed, tower_options

    budget = float(overrides.pop("time_budget_s", 300))
    data = np.load(npz)
    saved = {**json.loads(str(data["config"])), **overrides}
    config = sigkit.Config(**saved).replace(image_size=tuple(saved["image_size"]), widths=tuple(saved["widths"]))
    keras.utils.set_random_seed(config.seed)
    gpu = keras.backend.backend() == "jax" and __import__("jax").default_backend() == "gpu"
    print(f"backend {keras.backend.backend()}, gpu {gpu}, config {config}", flush=True)

    train_images, val_images = data["train_images"], data["val_images"]
    a, b, label = data["train_a"], data["train_b"], data["train_label"].astype(np.float32)
    shape = train_images.shape[1:]
    augment = augmenter(config, config.seed) if config.augment else None
    if gpu:  # as sigkit.train does on a GPU; bfloat16 needs no loss scaling
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    tower = build_tower(config.tower, **tower_options(config))
    siamese = build_siamese(tower)
    inputs = [keras.Input(shape, dtype="uint8", name=name) for name in ("image_a", "image_b")]
    scaled = [keras.layers.Rescaling(1 / 255.0, dtype="float32")(x) for x in inputs]
    if augment is not None:
        scaled = [augment(x) for x in scaled]
    trainer = keras.Model(inputs, siamese(scaled))
    trainer.compile(keras.optimizers.Adam(config.learning_rate), ContrastiveLoss(config.margin))

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    history, best, best_weights, start = [], np.inf, None, time.perf_counter()
    rng = np.random.default_rng(config.seed)
    # first-epoch step times: compilation vs steady speed
    step_timer = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch in (0, 1, 10, 50, 100) and print(
        f"step {batch} done at {time.perf_counter() - start:.1f} s", flush=True))
    for epoch in range(config.epochs):
        order = rng.permutation(len(a))
        tick = time.perf_counter()
        fit = trainer.fit([train_images[a[order]], train_images[b[order]]], label[order], batch_size=config.batch_size,
                          epochs=1, shuffle=False, verbose=0, callbacks=[step_timer] if epoch == 0 else [])
        seconds = time.perf_counter() - tick
        emb = embed(tower, val_images)
        distance = np.linalg.norm(emb[data["val_a"]] - emb[data["val_b"]], axis=1)
        val_eer = eer(distance, data["val_label"])[0]
        row = dict(epoch=epoch, loss=float(fit.history["loss"][-1]), val_eer=float(val_eer), seconds=round(seconds, 2),
                   train_images_per_s=round(2 * len(a) / seconds, 1))
        history.append(row)
        print(json.dumps(row), flush=True)
        if val_eer < best:
            best, best_weights = val_eer, tower.get_weights()
        if time.perf_counter() - start + seconds > budget:  # the next epoch would overrun
            break

    keras.mixed_precision.set_global_policy("float32")  # a float32 model loads and runs anywhere
    final = build_tower(config.tower, **tower_options(config))
    final.set_weights(best_weights)
    build_siamese(final).save(out_dir / "model.keras")
    steady = [r["train_images_per_s"] for r in history[1:]] or [history[0]["train_images_per_s"]]
    summary = dict(epochs_run=len(history), best_val_eer=float(best), train_seconds=round(time.perf_counter() - start, 1),
                   median_train_images_per_s=float(np.median(steady)), backend=keras.backend.backend(), gpu=gpu,
                   mixed_precision="mixed_bfloat16" if gpu else "float32", config=config.to_dict(), history=history)
    (out_dir / "history.json").write_text(json.dumps(summary, default=list))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, default=list))


def report(model_path: str, history_path: str) -> None:
    """bench/cedar.py's figures for the GPU-trained model (test writers stay here)."""
    import sigkit
    from cedar import load_cedar, test_figures, to_json
    from sigkit.paths import cedar_path

    summary = json.loads(Path(history_path).read_text())
    saved = summary["config"]
    config = sigkit.Config(**saved).replace(image_size=tuple(saved["image_size"]), widths=tuple(saved["widths"]))
    line = test_figures(model_path, load_cedar(cedar_path(), config), config.seed)
    line.update({k: v for k, v in summary.items() if k != "history"})
    print(to_json(line))


if __name__ == "__main__":
    stage, *rest = sys.argv[1:]
    if stage == "prepare":
        prepare(rest[0], parse_overrides(rest[1:]))
    elif stage == "train":
        train_on_gpu(rest[0], rest[1], parse_overrides(rest[2:]))
    elif stage == "report":
        report(rest[0], rest[1])
    else:
        raise SystemExit(f"unknown stage {stage!r}: prepare, train or report")
