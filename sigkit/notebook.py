"""What every numbered notebook does first, in one place: quiet TensorFlow's start-up lines, build the
run's `Config` from the notebook's parameters, make its run folder and load its data.

    from sigkit.notebook import setup
    run = setup(profile, data, run_dir, seed=seed, synth_writers=synth_writers,
                references_per_writer=references_per_writer, overrides=overrides)
    run.config, run.prepared.splits, run.prepared.images, run.save(fig, "02_training_curves")

Each notebook then reads the same data and split; the preprocessed images come from the run's
cache after the first notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sigkit.quiet import import_tensorflow_quietly

if TYPE_CHECKING:
    from sigkit.config import Config
    from sigkit.experiment import Prepared


@dataclass
class NotebookRun:
    """One notebook's view of the run: its config, its folder and (unless asked not to) its data."""

    config: Config
    run_dir: Path
    data_path: Path | list[Path]
    prepared: Prepared | None = None

    @property
    def cache_dir(self) -> Path:
        """Preprocessed images, shared by every run beside this one."""
        return self.run_dir.parent / "cache"

    def save(self, fig, name: str) -> Path:
        """Write `fig` to `<run>/figures/<name>.png` and return the path."""
        from sigkit.plots import save

        return save(fig, self.run_dir, name)

    def describe(self) -> str:
        """One line: the data and, when loaded, each split's writers and images."""
        line = f"data: {self.data_path}"
        if self.prepared is not None:
            parts = {
                name: f"{p['writer'].nunique()} writers, {len(p)} images" for name, p in self.prepared.splits.items()
            }
            line += "\n" + "; ".join(f"{name}: {text}" for name, text in parts.items())
        return line


def setup(
    profile: str = "default",
    data=None,
    run_dir: str | Path = "reports/default",
    *,
    seed: int = 0,
    synth_writers: int = 30,
    references_per_writer: int | None = None,
    overrides: dict | None = None,
    load_data: bool = True,
    **settings,
) -> NotebookRun:
    """The run a notebook's parameters describe.

    `profile` with `seed`, `references_per_writer`, `settings` (flat names; None means "as the
    profile says") and `overrides` on top; `data` None is the embedded synthetic set of
    `synth_writers` writers. With `load_data` the data is loaded, split and preprocessed once
    (`sigkit.experiment.prepare`); notebook 01, which walks through those steps itself, passes False.
    """
    import_tensorflow_quietly()  # before TensorFlow is first imported, so its C++ start-up lines stay out of the output
    from sigkit.config import config_for
    from sigkit.experiment import prepare
    from sigkit.paths import resolve, resolve_data

    changes = {"references_per_writer": references_per_writer, **settings, **(overrides or {})}
    config = config_for(profile, seed=seed, **changes)
    folder = resolve(run_dir)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    if not load_data:
        return NotebookRun(config, folder, resolve_data(data, seed=seed, n_writers=synth_writers))
    prepared = prepare(config, data, synth_writers=synth_writers, cache_dir=folder.parent / "cache")
    return NotebookRun(config, folder, prepared.data_path, prepared)
