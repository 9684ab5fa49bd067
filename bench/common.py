"""Shared by the benchmarks: the real CEDAR set when present, else the synthetic default."""

from __future__ import annotations

from pathlib import Path

from sigkit.paths import cedar_path, default_data


def data_path() -> tuple[Path, str]:
    """(folder, name): CEDAR when present, else the embedded synthetic set."""
    cedar = cedar_path()
    if cedar is not None:
        return cedar, "CEDAR"
    return default_data(), "synthetic (CEDAR absent)"
