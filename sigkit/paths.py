"""Where things live: the project root, the embedded default data, the reports folder.

Notebooks run with their own folder as working directory in JupyterLab and with the caller's under
papermill; both find the project root by walking up to the folder that holds `notebooks/` and
`sigkit/`, so relative paths mean the same thing everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import sigkit


def project_root() -> Path:
    """The folder holding `notebooks/` and `sigkit/` (SIGKIT_HOME overrides)."""
    if os.environ.get("SIGKIT_HOME"):
        return Path(os.environ["SIGKIT_HOME"]).resolve()
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "sigkit").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return Path(sigkit.__file__).resolve().parents[1]


def resolve(path: str | os.PathLike) -> Path:
    """A path relative to the project root (absolute paths are kept)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def resolve_data(data, seed: int = 0, n_writers: int = 30) -> Path | list[Path]:
    """The folder(s) a `data` parameter names: None is the embedded synthetic set; a list, or a
    comma-separated string "a,b", names several corpora read as one (`sigkit.datasets.sources.data_folders`)."""
    from sigkit.datasets.sources import data_folders

    folders = data_folders(data)
    if isinstance(folders, str):
        return resolve(folders)
    if not folders:
        return default_data(seed=seed, n_writers=n_writers)
    return [resolve(folder) for folder in folders]


def default_data(seed: int = 0, n_writers: int = 30) -> Path:
    """The embedded default: a synthetic set under data/synth, generated on first use."""
    from sigkit import synth

    return synth.generate(project_root() / "data" / "synth", n_writers=n_writers, seed=seed)


def corpora_folder() -> Path:
    """Where real corpora live (SIGKIT_DATA, else shared/data beside the project); tests and
    benchmarks look for them there and skip what is absent."""
    return Path(os.environ.get("SIGKIT_DATA", project_root() / ".." / "shared" / "data")).resolve()


def corpus_path(name: str) -> Path | None:
    """`corpora_folder() / name` when it exists, else None."""
    path = corpora_folder() / name
    return path if path.is_dir() else None


def cedar_path() -> Path | None:
    """The real CEDAR set (SIGKIT_CEDAR, else `corpus_path("cedar")`), or None."""
    path = Path(os.environ["SIGKIT_CEDAR"]).resolve() if os.environ.get("SIGKIT_CEDAR") else corpora_folder() / "cedar"
    return path if (path / "full_org").is_dir() else None
