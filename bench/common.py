"""Shared by the benchmarks: the real CEDAR set when present, else the synthetic default."""

from __future__ import annotations

import ast
from pathlib import Path

from sigkit.paths import cedar_path, default_data


def data_path() -> tuple[Path, str]:
    """(folder, name): CEDAR when present, else the embedded synthetic set."""
    cedar = cedar_path()
    if cedar is not None:
        return cedar, "CEDAR"
    return default_data(), "synthetic (CEDAR absent)"


def parse_overrides(args: list[str]) -> dict:
    """`key=value` command-line arguments -> dict, values as Python literals where they parse."""
    out = {}
    for arg in args:
        key, _, value = arg.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out
