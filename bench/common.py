"""Shared by the benchmarks. Free of TensorFlow: bench/cedar_gpu.py imports it where there is none."""

from __future__ import annotations

import ast
import json
import logging
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


def show_progress() -> None:
    """sigkit's progress lines (training epochs, what is being embedded and scored) on the console."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def say_skipped(bench: str, missing: str) -> None:
    """The one line a bench prints when a corpus it needs is absent (it then exits 0)."""
    where = "the folder of corpora, or SIGKIT_CEDAR" if missing == "CEDAR" else "the folder of corpora"
    print(f"{bench}: skipped, {missing} not found (set SIGKIT_DATA to {where})")


def cedar_or_skip(bench: str) -> Path | None:
    """The real CEDAR folder, or None after saying that `bench` skips."""
    folder = cedar_path()
    if folder is None:
        say_skipped(bench, "CEDAR")
    return folder


def to_json(line: dict) -> str:
    """One JSON line: tuples as lists, numpy numbers as floats."""
    return json.dumps(line, default=lambda v: list(v) if isinstance(v, tuple) else float(v))
