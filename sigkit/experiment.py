"""One experiment, end to end: data -> preprocess -> split -> train -> evaluate, recorded on disk.

The notebooks share these steps: each loads the same data and split from a `Config` (the
preprocessed images come from the run's cache after the first notebook), and the comparison
notebook trains variants (attention off, fewer references) with everything else held equal. A
finished variant leaves `<folder>/result.json`; running it again reads that file instead of
training again, so an interrupted comparison resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sigkit.config import Config
from sigkit.datasets import load_dataset, rows_in, splits_for
from sigkit.paths import resolve_data
from sigkit.preprocess import load_images, preprocess_options
from sigkit.scoring import Evaluation


@dataclass
class Prepared:
    """A data set ready for training: manifest, writer-disjoint splits, images aligned with each split."""

    data_path: Path | list[Path]  # several corpora: a list
    manifest: pd.DataFrame
    all_images: np.ndarray  # aligned with `manifest`
    splits: dict[str, pd.DataFrame]
    images: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        """The data set's name: its folder's, or the corpora's joined by "+"."""
        paths = self.data_path if isinstance(self.data_path, list) else [self.data_path]
        return "+".join(Path(path).name for path in paths)

    def with_split(self, splits: dict[str, pd.DataFrame]) -> "Prepared":
        """The same data under another split (e.g. fewer references per training writer)."""
        images = {name: self.all_images[rows_in(self.manifest, part)] for name, part in splits.items()}
        return Prepared(self.data_path, self.manifest, self.all_images, splits, images)


def prepare(
    config: Config, data: str | list | None = None, synth_writers: int = 30, cache_dir: str | Path | None = None
) -> Prepared:
    """Load `data` (None: the embedded synthetic set), split it as `config` says, preprocess once."""
    data_path = resolve_data(data, seed=config.seed, n_writers=synth_writers)
    manifest = load_dataset(data_path)
    images = load_images(manifest["decode_path"], cache_dir=cache_dir, **preprocess_options(config.preprocess))
    return Prepared(data_path, manifest, images, {}, {}).with_split(splits_for(manifest, config.split, config.seed))


def evaluate_model_file(model_path: str | Path, prepared: Prepared, **options) -> Evaluation:
    """Every protocol on the prepared test writers, thresholds chosen on its validation writers:
    `sigkit.evaluation.evaluate_run` (with its `options`) on the images already preprocessed."""
    from sigkit.evaluation import evaluate_run

    return evaluate_run(model_path, prepared.splits, prepared.images, **options)


def headline(evaluation: Evaluation, k: int = 5) -> dict:
    """The figures a comparison needs, in percent (with the single-pair interval when computed)."""
    single, refs = evaluation.row("single"), evaluation.row("mean", k)
    out = {
        "eer_single_skilled": 100 * single["eer"],
        "eer_single_random": 100 * evaluation.row("single", forgeries="random")["eer"],
        f"eer_{k}ref": 100 * refs["eer"],
        f"accuracy_{k}ref": 100 * refs["accuracy"],
        "accuracy_single_skilled": 100 * single["accuracy"],
    }
    if single.get("eer_ci") is not None:
        out["eer_single_skilled_ci"] = [100 * bound for bound in single["eer_ci"]]
    return out


def ablation_verdicts(results: dict, baseline: str, arms) -> list[str]:
    """One sentence per arm: its single-pair skilled test EER against the baseline's, and whether
    it falls below, inside or above the baseline's 95 % interval over test writers (helps, cannot
    be told apart, hurts). One seed's interval, not a paired test: a first look, no more."""
    base = results[baseline]
    interval = base.get("eer_single_skilled_ci")
    sentences = []
    for arm in arms:
        eer_arm, eer_base = results[arm]["eer_single_skilled"], base["eer_single_skilled"]
        text = f"{arm}: single-pair skilled EER {eer_arm:.1f} % against {eer_base:.1f} % for {baseline}"
        if interval is None:
            sentences.append(text + " (no interval recorded: run again to compare)")
        elif eer_arm < interval[0]:
            sentences.append(
                text + f", below its 95 % interval {interval[0]:.1f}-{interval[1]:.1f}: helps on these writers"
            )
        elif eer_arm > interval[1]:
            sentences.append(
                text + f", above its 95 % interval {interval[0]:.1f}-{interval[1]:.1f}: hurts on these writers"
            )
        else:
            sentences.append(
                text + f", inside its 95 % interval {interval[0]:.1f}-{interval[1]:.1f}: cannot be told apart"
            )
    return sentences


STUDIES = ("auto", "none", "ablation", "full")


def study_plan(
    config: Config,
    studies: str = "auto",
    *,
    main_seconds: float | None = None,
    references_grid=(2, 6),
    auto_max_train_s: float = 150.0,
    budget_factor: float = 1.5,
    budget_s: float | None = None,
    overrides: dict | None = None,
) -> tuple[dict[str, Config], str]:
    """The variants the comparison notebook trains, by name, and a sentence saying why these.

    `main` is the run's own model (`config`; read back, not trained again). "ablation" adds
    `no_attention`; "full" also the comparison head and one variant per `references_grid` entry
    (the limited-data curve); "none" only `main`. "auto" is "ablation" when the run's own training
    took at most `auto_max_train_s` seconds (`main_seconds`), else "none": on a large corpus the
    studies would multiply the run's time. Every trained variant keeps the main run's stopping rule
    (its epochs and patience on the validation writers) and gets a time budget of `budget_s`, by
    default `budget_factor` times the main training's seconds, as a safety net. `overrides` (flat names) apply to every
    variant, `main` included (which then trains too).
    """
    if studies not in STUDIES:
        raise ValueError(f"studies must be one of {STUDIES}, not {studies!r}")
    chosen = studies
    if studies == "auto":
        fits = main_seconds is not None and main_seconds <= auto_max_train_s
        chosen = "ablation" if fits else "none"
        took = "unknown" if main_seconds is None else f"{main_seconds:.0f} s"
        why = (
            f"studies='auto': the run's own training took {took}, "
            + ("within" if fits else "over")
            + f" the {auto_max_train_s:.0f} s up to which the ablation is trained by default"
        )
    else:
        why = f"studies={studies!r}"
    base = config.replace(**(overrides or {}))
    budget = budget_s if budget_s is not None else (None if main_seconds is None else budget_factor * main_seconds)
    if budget is not None and base.train.time_budget_s is not None:
        budget = min(budget, base.train.time_budget_s)
    arm = base.replace(time_budget_s=budget) if budget is not None else base
    plan = {"main": base}
    if chosen in ("ablation", "full"):
        plan["no_attention"] = arm.replace(attention="none")
    if chosen == "full":
        plan["comparison"] = arm.replace(head="match", ensemble=1)
        plan.update({f"references_{n}": arm.replace(references_per_writer=n) for n in references_grid})
    trained = [name for name in plan if name != "main"]
    return plan, why + (f": training {', '.join(trained)}." if trained else ": no variant trained.")


def run_variant(
    config: Config, prepared: Prepared, folder: str | Path, k: int = 5, trained: str | Path | None = None
) -> dict:
    """Train `config` on `prepared` in `folder` (or read its recorded result) and evaluate it.

    `trained` is a finished run folder (`model.keras` and its card): when its configuration is
    `config`, that model is evaluated instead of training the same thing again (the comparison
    notebook's baseline is the run's own model).
    """
    folder = Path(folder)
    record = folder / "result.json"
    wanted = json.loads(json.dumps(config.to_dict()))
    if record.exists():
        saved = json.loads(record.read_text())
        if Config.from_dict(saved["config"]) == config:
            return saved
    variant = prepared.with_split(splits_for(prepared.manifest, config.split, config.seed))  # its own references
    start = time.perf_counter()
    reused, stopped = _same_run(trained, config), None
    if reused is not None:
        model_path, epochs_run, val_eer = reused
    else:
        from sigkit.train import train  # TensorFlow input pipelines: only when a variant really trains

        result = train(config, variant.splits, variant.images, folder)
        model_path, epochs_run, val_eer = result.model_path, len(result.history), result.best_val_eer
        stopped = result.stopped
    # one draw of references and no K curve: the variants compare on the figures of `headline`
    evaluation = evaluate_model_file(
        model_path, variant, k=k, seed=config.seed, n_boot=200, aligned=False, draws=1, curve_ks=(), background=None
    )
    saved = {
        "config": wanted,
        "references_used": int(variant.splits["train"].query("genuine").groupby("writer").size().median()),
        "epochs_run": int(epochs_run),
        "val_eer": 100 * val_eer,
        "seconds": round(time.perf_counter() - start, 1),
        "stopped": stopped,
        **({"reused": Path(trained).name} if reused is not None else {}),  # the run folder moves when it is done
        **headline(evaluation, k),
    }
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(saved, indent=2))
    return saved


def variant_history(run_dir: str | Path, name: str) -> pd.DataFrame | None:
    """A comparison variant's validation curve (`history.csv`): its own folder's under
    `<run>/experiments/`, or notebook 02's when the variant is the run's own model read back (of an
    ensemble, the first tower's); None when neither was recorded."""
    for folder in (Path(run_dir) / "experiments" / name, Path(run_dir) / "model"):
        if (folder / "history.csv").is_file():
            history = pd.read_csv(folder / "history.csv")
            return history[history["member"] == history["member"].min()] if "member" in history else history
    return None


def _same_run(trained: str | Path | None, config: Config) -> tuple[Path, int, float] | None:
    """(model path, epochs run, validation EER) of the finished run `trained` when it was trained
    with `config`, else None."""
    from sigkit.card import ModelCard

    model_path = Path(trained) / "model.keras" if trained is not None else None
    if model_path is None or not model_path.is_file():
        return None
    card = ModelCard.for_model(model_path)
    if Config.from_dict(card.config) != config or card.val_eer is None:
        return None
    history = model_path.parent / "history.csv"
    epochs_run = len(pd.read_csv(history)) if history.is_file() else int(card.epoch or 0)
    return model_path, epochs_run, float(card.val_eer)
