"""The Kaggle SigComp 2011 copy under the protocol Kaggle notebooks publish; one JSON line.

    python bench/kaggle.py [run=NAME] [key=value ...]     # Config overrides of the `cpu` profile
    python bench/kaggle.py protocol=honest [run=NAME] [key=value ...]   # the same copy, honestly
    python bench/kaggle.py protocol=leaks [run=NAME] [steps=2] [key=value ...]  # the leaks taken away one by one
    python bench/kaggle.py protocol=summary [folder=reports/reference/kaggle]  # their summary.md

The paper's setting on a CPU-sized tower (`cpu` profile: Siamese pairs, batch 32, Adam 1e-4, 12 minutes), trained
on the pairs of `train_data.csv`, the epoch chosen on `test_data.csv`, and Accuracy / Precision /
Recall / F1 / EER on `test_data.csv` at the threshold read off those test pairs and at 0.5
(`sigkit.published`), with how much of the test list training already saw. `protocol=honest`:
the same copy de-duplicated (train/ and test/ merged by content), writers split 55 / 15 / 30 %
(`sigkit.datasets.SHARES_SPLIT`, seeded), one `cedar-cpu` tower, every threshold from the
validation writers, the test writers' figures with writer-bootstrap intervals
(`sigkit.evaluation.evaluate_run`). `protocol=leaks`: the published setting again, its leaks
taken away one at a time (`sigkit.published.leak_steps`; `steps=2` or `steps=1,2` trains only those
steps, e.g. the honest one for 100 epochs). `make reports
DATA=$SIGKIT_DATA/sigcomp2011-kaggle` runs the notebooks on it. Skips (exit 0, one line) when
the corpus is absent.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

from common import parse_overrides, say_skipped, show_progress

from sigkit.datasets import SHARES_SPLIT
from sigkit.paths import corpus_path, project_root, resolve
from sigkit.protocols import write_summary
from sigkit.quiet import import_tensorflow_quietly


def paper_setting() -> dict:
    """The paper's training (the `paper` profile's) on the `cpu` profile's tower, for 12 minutes."""
    from sigkit.config import PAPER_TRAINING

    return dict(PAPER_TRAINING, epochs=30, patience=10, time_budget_s=12 * 60)


def figures(protocol: str, root, out, overrides: dict, n_boot: int = 1000) -> dict:
    """The line of `protocol` (published, honest or leaks) on the copy at `root`, trained in `out`."""
    import sigkit
    from sigkit.published import leak_steps, published_protocol

    cache = project_root() / "reports" / "cache"
    if protocol == "honest":
        return honest(root, out, cache, overrides, n_boot)
    if protocol == "published":
        return published_protocol(sigkit.profile("cpu", **{**paper_setting(), **overrides}), root, out, cache_dir=cache)
    if protocol == "leaks":
        steps = overrides.pop("steps", None)
        only = None if steps is None else tuple(int(n) for n in (steps if isinstance(steps, tuple) else (steps,)))
        config = sigkit.profile("cpu", **{**paper_setting(), **overrides})
        return leak_steps(config, root, out, cache_dir=cache, only=only)
    raise SystemExit(f"protocol must be published, honest or leaks, not {protocol!r}")


def honest(root, out, cache, overrides: dict, n_boot: int = 1000) -> dict:
    """Writer-disjoint splits of the de-duplicated copy, thresholds from validation writers."""
    import sigkit
    from sigkit.evaluation import evaluate_run
    from sigkit.experiment import headline, prepare
    from sigkit.train import train

    start = time.perf_counter()
    settings = dict(ensemble=1, time_budget_s=900, **dataclasses.asdict(SHARES_SPLIT))
    config = sigkit.profile("cedar-cpu", **{**settings, **overrides})
    prepared = prepare(config, str(root), cache_dir=cache)
    result = train(config, prepared.splits, prepared.images, out)
    evaluation = evaluate_run(
        result.model_path,
        prepared.splits,
        prepared.images,
        seed=config.seed,
        n_boot=n_boot,
        aligned=False,
        curve_ks=(),
        background=None,
    )
    keys = ("eer", "accuracy", "precision", "recall", "f1", "threshold", "eer_ci")
    return {
        "protocol": "honest: de-duplicated, writers split 55 / 15 / 30 %, thresholds from validation writers",
        "writers": {name: int(part["writer"].nunique()) for name, part in prepared.splits.items()},
        **headline(evaluation),
        "at_val_threshold": {row["label"]: {k: row[k] for k in keys} for row in evaluation.to_json()},
        "epochs_run": int(len(result.history)),
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    root = corpus_path("sigcomp2011-kaggle")
    if root is None:
        say_skipped("bench/kaggle.py", "sigcomp2011-kaggle")
        return
    overrides = parse_overrides(sys.argv[1:])
    if overrides.get("protocol") == "summary":
        print(write_summary(resolve(overrides.get("folder", "reports/reference/kaggle"))))
        return
    show_progress()
    import_tensorflow_quietly()
    run = overrides.pop("run", time.strftime("%Y%m%d-%H%M%S"))
    protocol = overrides.pop("protocol", "published")
    out = project_root() / "reports" / "bench-kaggle" / run
    print(json.dumps(figures(protocol, root, out, overrides), default=float))


if __name__ == "__main__":
    main()
