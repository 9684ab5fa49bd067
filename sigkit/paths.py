"""Where things live: the project root, the embedded default data, the reports folder, the corpora.

Notebooks run with their own folder as working directory in JupyterLab and with the caller's under
papermill; both find the project root by walking up to the folder that holds `notebooks/` and
`sigkit/`, so relative paths mean the same thing everywhere. An installed sigkit with no checkout
around works in the current directory: nothing is written inside the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path


def _is_checkout(folder: Path) -> bool:
    return (folder / "sigkit").is_dir() and (folder / "notebooks").is_dir()


def project_root() -> Path:
    """SIGKIT_HOME, else the checkout holding the working directory (the folder with `notebooks/`
    and `sigkit/`), else the checkout this sigkit was imported from, else the working directory."""
    if os.environ.get("SIGKIT_HOME"):
        return Path(os.environ["SIGKIT_HOME"]).resolve()
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if _is_checkout(folder):
            return folder
    package_parent = Path(__file__).resolve().parents[1]
    return package_parent if _is_checkout(package_parent) else Path.cwd()


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
    """The embedded default: a synthetic set under `project_root()/data/synth`, generated on first use."""
    from sigkit import synth

    return synth.generate(project_root() / "data" / "synth", n_writers=n_writers, seed=seed)


def corpora_folder(folder: str | os.PathLike | None = None) -> Path | None:
    """The folder of real corpora, one folder per corpus: `folder`, else SIGKIT_DATA, else None
    (no place is assumed); tests and benchmarks look for corpora there and skip what is absent."""
    folder = folder or os.environ.get("SIGKIT_DATA")
    return Path(folder).expanduser().resolve() if folder else None


def corpus_path(name: str, folder: str | os.PathLike | None = None) -> Path | None:
    """`corpora_folder(folder) / name` when it exists, else None."""
    corpora = corpora_folder(folder)
    path = corpora / name if corpora else None
    return path if path and path.is_dir() else None


def cedar_path() -> Path | None:
    """The real CEDAR set (SIGKIT_CEDAR, else `corpus_path("cedar")`), or None."""
    cedar = os.environ.get("SIGKIT_CEDAR")
    path = Path(cedar).expanduser().resolve() if cedar else corpus_path("cedar")
    return path if path and (path / "full_org").is_dir() else None
