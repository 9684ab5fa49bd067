"""Score fusion across models on CEDAR: several trained towers' scores of the same questions
combined by weights learned on the validation writers; one JSON line.

    python bench/fusion.py models=A.keras,B.keras[,shipped] [seed=0] [k=5]

Each model is evaluated on CEDAR's protocol (writers 36-45 choose thresholds, 46-55 are tested;
`sigkit.evaluation.evaluate_run`, 10 draws of the references, the writer-dependent rows where a
background lies beside the model), then `sigkit.scoring.fuse_across` fuses, for every protocol
all models scored, the models' scores, and for each set of questions every scorer of every model.
Each fused row gives the member the validation writers rank first and the fusion's gain over it
with a paired 95 % interval over test writers. `shipped` names the tower shipped with sigkit.
The seed draws the references (the models stay as trained). Skips when CEDAR is absent.
"""

from __future__ import annotations

import sys
import time

from cedar import load_cedar
from common import cedar_or_skip, parse_overrides, show_progress, to_json

from sigkit.paths import resolve
from sigkit.quiet import import_tensorflow_quietly


def fused_figures(model_paths: dict, cedar: dict, seed: int, k: int = 5, n_boot: int = 1000) -> dict:
    """The line: each model's own rows and the fused rows (`fuse_across`)."""
    from sigkit.evaluation import evaluate_run
    from sigkit.scoring import fuse_across, json_records

    splits = {name: cedar["splits"][name] for name in ("val", "test")}
    evaluations = {
        name: evaluate_run(path, splits, k=k, seed=seed, n_boot=0, aligned=False, curve_ks=())
        for name, path in model_paths.items()
    }
    keys = ("label", "eer", "val_eer", "accuracy", "precision", "recall", "f1")
    return {
        "models": {name: str(path) for name, path in model_paths.items()},
        "each": {name: [{key: row[key] for key in keys} for row in e.to_json()] for name, e in evaluations.items()},
        "fused": json_records(fuse_across(evaluations, seed=seed, n_boot=n_boot)),
    }


def main() -> None:
    folder = cedar_or_skip("bench/fusion.py")
    if folder is None:
        return
    show_progress()
    import_tensorflow_quietly()
    import sigkit
    from sigkit.shipped import pretrained_path

    overrides = parse_overrides(sys.argv[1:])
    seed, k = int(overrides.pop("seed", 0)), int(overrides.pop("k", 5))
    named = str(overrides.pop("models", "")).split(",")
    if len([n for n in named if n]) < 2:
        raise SystemExit("bench/fusion.py: give models=A.keras,B.keras (two or more; `shipped` for the shipped tower)")
    paths = {name: pretrained_path() if name == "shipped" else resolve(name) for name in named if name}
    start = time.perf_counter()
    cedar = load_cedar(folder, sigkit.profile("cedar-cpu", seed=seed))
    line = {"seed": seed, "k": k, **fused_figures(paths, cedar, seed, k)}
    line["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(to_json(line))


if __name__ == "__main__":
    main()
