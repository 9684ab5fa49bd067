"""Keras callbacks of a sigkit run: validation EER and the best model, checkpoints that resume.

One mutable `state` dict is shared by both callbacks and saved with every checkpoint:

    epoch            last finished epoch (-1 before the first)
    best_val_eer     best validation EER so far, best_epoch, threshold (its EER threshold)
    wait             epochs since the best (early stopping)
    seconds          training time so far, across resumes (the time budget)
    stopped          why training ended early ("early stopping", "time budget"), or None
    checkpoint       file name of the last epoch's model, written before the state names it
    config           the run's Config, to refuse resuming with another one
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sigkit.card import ModelCard, library_versions
from sigkit.matching import pair_distances, scorer_for
from sigkit.metrics import eer
from sigkit.model import build_siamese, embed, inference_copy

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary name, then rename: a kill never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


def save_atomic(model: keras.Model, path: Path) -> None:
    partial = path.with_name(path.stem + ".partial.keras")
    model.save(partial)
    os.replace(partial, path)


def run_card(state: dict, select_on: str, data: dict | None = None) -> ModelCard:
    """The model card of a run's selected model: its threshold and how it was chosen (on the
    validation pairs `select_on` names), its config."""
    return ModelCard(
        threshold=state["threshold"],
        threshold_rule="EER point on validation writers" + ("" if select_on == "both" else f" ({select_on} pairs)"),
        val_eer=state["best_val_eer"],
        epoch=state["best_epoch"],
        config=state["config"],
        data=data or {},
        versions=library_versions(),
    )


SELECT_ON = ("both", "skilled", "random")


def validation_eers(tower, val_images: np.ndarray, val_pairs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(EER, threshold at the EER point) of the fixed validation pairs under `tower`: all of them
    ("both"), genuine against skilled forgeries ("skilled") and against other writers ("random");
    a kind without pairs (no forgeries among the validation writers) is left out."""
    distances = pair_distances(embed(tower, val_images), val_pairs["a"], val_pairs["b"], scorer_for(tower))
    if not np.isfinite(distances).all():
        raise FloatingPointError("the embeddings are not finite (training diverged); lower the learning rate")
    labels, kinds = val_pairs["label"].to_numpy(), val_pairs["kind"].to_numpy()
    out = {"both": eer(distances, labels)}
    for kind in ("skilled", "random"):
        chosen = (kinds == "genuine") | (kinds == kind)
        if (kinds == kind).any() and (kinds == "genuine").any():
            out[kind] = eer(distances[chosen], labels[chosen])
    return out


def selected(eers: dict, select_on: str) -> tuple[float, float]:
    """The (EER, threshold) of `validation_eers` that `select_on` (`SELECT_ON`) names, or a clear error."""
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {SELECT_ON}, not {select_on!r}")
    if select_on not in eers:
        raise ValueError(
            f"select_on={select_on!r} but the validation writers give no {select_on} forgery pairs; "
            "select on 'both' or 'random', or put writers with forgeries into validation"
        )
    return eers[select_on]


def validation_eer(
    tower, val_images: np.ndarray, val_pairs: pd.DataFrame, select_on: str = "both"
) -> tuple[float, float]:
    """(EER, threshold at the EER point) of the validation pairs of kind `select_on` (`SELECT_ON`)."""
    return selected(validation_eers(tower, val_images, val_pairs), select_on)


class ValidationEER(keras.callbacks.Callback):
    """Adds `val_eer` (of the `select_on` pairs) and `val_eer_skilled` / `val_eer_random` to the
    epoch logs; saves the best Siamese model by `val_eer`, with its threshold."""

    def __init__(
        self,
        tower,
        val_images: np.ndarray,
        val_pairs: pd.DataFrame,
        run_dir: Path,
        state: dict,
        select_on: str = "both",
        data: dict | None = None,
    ):
        super().__init__()
        selected({kind: None for kind in SELECT_ON}, select_on)  # an unknown name fails here, not after an epoch
        self.tower, self.val_images, self.val_pairs = tower, val_images, val_pairs
        self.run_dir, self.state, self.select_on = run_dir, state, select_on
        self.data = data  # what the model card says of the training data (sigkit.card.data_summary)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        with moving_average_weights(self.model):
            self.validate(epoch, logs)

    def validate(self, epoch, logs):
        try:
            eers = validation_eers(self.tower, self.val_images, self.val_pairs)
        except FloatingPointError as error:
            raise FloatingPointError(f"epoch {epoch}: {error}") from None
        val_eer, threshold = selected(eers, self.select_on)
        logs["val_eer"] = val_eer  # the one that selects
        for kind in ("skilled", "random"):
            logs[f"val_eer_{kind}"] = eers.get(kind, (float("nan"), None))[0]
        if val_eer < self.state["best_val_eer"]:
            self.state.update(best_val_eer=val_eer, best_epoch=epoch, threshold=threshold, wait=0)
            save_atomic(build_siamese(inference_copy(self.tower)), self.run_dir / "model.keras")
            run_card(self.state, self.select_on, self.data).save(self.run_dir / "model.json")
        else:
            self.state["wait"] += 1


@contextmanager
def moving_average_weights(model: keras.Model):
    """Inside the block the model holds its optimizer's moving average of the weights (when the
    optimizer keeps one, `use_ema=True`); the trained weights come back afterwards.

    Selecting and saving the average de-noises model selection: one epoch's weights carry the
    noise of its last few batches.
    """
    optimizer = getattr(model, "optimizer", None)
    if not (getattr(optimizer, "use_ema", False) and getattr(optimizer, "built", False)):
        yield  # no average kept, or none yet (before the first step)
        return
    variables = model.trainable_variables  # the optimizer's variables, in the order it was built with
    trained = [keras.ops.convert_to_numpy(variable) for variable in variables]
    optimizer.finalize_variable_values(variables)  # the public way in: the averages into the variables
    try:
        yield
    finally:
        for variable, value in zip(variables, trained):
            variable.assign(value)


class Checkpoint(keras.callbacks.Callback):
    """After the history row: the last model with its optimizer state, then the state naming it.

    Also stops training early (no better `val_eer` for `patience` epochs) or when the next
    epoch would overrun `time_budget_s` (judged by the slowest epoch so far), and reseeds dropout
    from (seed, epoch) so a resumed epoch draws what an uninterrupted one would.
    """

    def __init__(self, folder: Path, state: dict, *, seed: int, patience: int, time_budget_s: float | None):
        super().__init__()
        self.folder, self.state, self.seed = folder, state, seed
        self.patience = patience
        self.time_budget_s = time_budget_s or math.inf
        self.slowest = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        for layer in all_layers(self.model):
            generator = getattr(layer, "seed_generator", None)  # Dropout's, the only random layer of a tower
            if isinstance(generator, keras.random.SeedGenerator):
                generator.state.assign(np.array([self.seed, epoch], generator.state.dtype))

    def on_epoch_end(self, epoch, logs=None):
        took = time.perf_counter() - self.epoch_start
        self.slowest = max(self.slowest, took)
        self.state["seconds"] += took
        self.state["epoch"] = epoch
        if self.state["wait"] >= self.patience:
            self.state["stopped"] = "early stopping"
        elif self.state["seconds"] + self.slowest > self.time_budget_s:
            self.state["stopped"] = "time budget"
        self.folder.mkdir(exist_ok=True)
        name = f"last-{epoch:04d}.keras"
        save_atomic(self.model, self.folder / name)
        self.state["checkpoint"] = name
        write_json_atomic(self.folder / "state.json", self.state)
        # every other checkpoint goes once the state names this one: the previous epoch's, and any
        # a resume could not read or a kill left half-written
        for old in self.folder.glob("last-*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)
        if self.state["stopped"]:
            log.info("%s after epoch %d", self.state["stopped"], epoch)
            self.model.stop_training = True


def all_layers(model: keras.Model):
    """Every layer, nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
