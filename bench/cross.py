"""Across corpora: each shared corpus as the target, a tower trained on it against one trained on the others.

    python bench/cross.py target=bhsig-bengali arm=within [seed=0] [key=value ...]
    python bench/cross.py target=bhsig-bengali arm=across [seed=0] [decisions=all] [run=NAME] [key=value ...]
    python bench/cross.py table [FILE]     # the markdown table of recorded lines (reports/bench-cross/results.jsonl)

Targets: cedar, bhsig-bengali, sigcomp2009, sigcomp2011-kaggle (folders under SIGKIT_DATA). The
target's writers are split once per seed by `sigkit.datasets.corpus_split`: CEDAR by its fixed
protocol, the others 55 / 15 / 30 % (seeded, writer-disjoint). `within` trains on
the target's training writers; `across` trains on every writer of the other corpora except CEDAR
(CEDAR is never trained on for another target: it stays the untouched test of transfer), 10 % of
them choosing the epoch. Both are scored alike by `sigkit.evaluation.evaluate_run` on the target's
test writers with every threshold from the target's validation writers: single pairs (skilled and
random forgeries) and 5 references, writer-bootstrap 95 % intervals. Both train one `cedar-cpu`
tower for the same number of steps (`epochs` x `steps_per_epoch`), so the arms get equal compute
whatever else runs on the machine. One JSON line per run, appended to
`reports/bench-cross/results.jsonl`. Skips (exit 0, one line) when a corpus it needs is absent.

`run` names the training folder under reports/bench-cross (default TARGET-ARM-sSEED; a run of
other settings needs its own). `decisions=all` also scores, at 5 references, the writer-dependent
decision (its background: four genuine signatures of each of the target's training writers, whom
the `across` tower never saw), every protocol aligned, and their fusion, and records the one the
validation writers choose (`Evaluation.ranked`: a fusion by its EER held out over folds of them)
beside every candidate's validation and test EER; about 10 minutes more on a 2-core CPU for
BHSig-Bengali's 45 validation and test writers.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from common import parse_overrides, say_skipped, show_progress

from sigkit.datasets import PRETRAIN_SPLIT, corpus_split
from sigkit.paths import corpus_path, project_root
from sigkit.quiet import import_tensorflow_quietly

TARGETS = ("cedar", "bhsig-bengali", "sigcomp2009", "sigcomp2011-kaggle")
ARMS = ("within", "across")
# equal compute for every arm: a fixed number of steps, no time budget
STEPS = dict(ensemble=1, epochs=40, steps_per_epoch=40, patience=15, time_budget_s=None)
PROTOCOLS = {  # the record's names for the rows of sigkit.scoring.evaluate it keeps, as Protocol fields
    "single_skilled": dict(),
    "single_random": dict(forgeries="random"),
    "references_5": dict(method="mean", k=5),
    "references_5_spread": dict(method="spread", k=5),
}
DECISIONS = ("plain", "all")


def target_split(target: str, seed: int, split=None):
    """(config, prepared target): the target split by `split` (default `corpus_split(target)`) for this seed."""
    import sigkit
    from sigkit.experiment import prepare

    split = corpus_split(target) if split is None else split
    config = sigkit.profile("cedar-cpu", seed=seed, **STEPS, **dataclasses.asdict(split))
    return config, prepare(config, str(corpus_path(target)), cache_dir=project_root() / "reports" / "cache")


def train_arm(arm: str, target: str, target_config, target_data, seed: int, overrides: dict, run_dir):
    """Train the arm's tower; returns (TrainResult, training writers, corpora trained on)."""
    import sigkit
    from sigkit.experiment import prepare
    from sigkit.train import train

    if arm == "within":
        config = target_config.replace(**overrides)
        result = train(config, target_data.splits, target_data.images, run_dir)
        return result, int(target_data.splits["train"]["writer"].nunique()), [target]
    sources = [name for name in TARGETS if name not in (target, "cedar")]
    config = sigkit.profile("cedar-cpu", seed=seed, **STEPS, **dataclasses.asdict(PRETRAIN_SPLIT)).replace(**overrides)
    data = prepare(config, [str(corpus_path(name)) for name in sources], cache_dir=project_root() / "reports" / "cache")
    result = train(config, data.splits, data.images, run_dir)
    return result, int(data.splits["train"]["writer"].nunique()), sources


def run(
    target: str,
    arm: str,
    seed: int,
    overrides: dict,
    split=None,
    n_boot: int = 1000,
    decisions: str = "plain",
    run_name: str | None = None,
) -> dict:
    """The line of one arm on one target (corpora under SIGKIT_DATA), trained in reports/bench-cross;
    `decisions="all"` adds the decisions of the module docstring and the validation writers' choice."""
    from sigkit.evaluation import evaluate_run
    from sigkit.scoring import Protocol, json_records

    start = time.perf_counter()
    config, target_data = target_split(target, seed, split)
    run_name = run_name or default_run(target, arm, seed)
    run_dir = project_root() / "reports" / "bench-cross" / run_name
    result, train_writers, corpora = train_arm(arm, target, config, target_data, seed, overrides, run_dir)
    every = decisions == "all"
    evaluation = evaluate_run(
        result.model_path,
        target_data.splits,
        target_data.images,
        k=5,
        seed=seed,
        n_boot=n_boot,
        aligned=every,
        curve_ks=(),
        background="train" if every else None,
    )
    line = {
        "target": target,
        "arm": arm,
        "seed": seed,
        "run": run_name,
        "trained_on": corpora,
        "train_writers": train_writers,
        "target_writers": {name: int(part["writer"].nunique()) for name, part in target_data.splits.items()},
        **{
            name: {key: evaluation.row(**fields).get(key) for key in ("eer", "eer_ci", "accuracy", "f1")}
            for name, fields in PROTOCOLS.items()
            if evaluation.has(Protocol(**fields))
        },
        "epochs_run": int(len(result.history)),
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "overrides": overrides,
        "decisions": decisions,
    }
    if every:
        ranked = json_records(evaluation.ranked(k=5))  # best first
        keys = ("label", "method", "aligned", "val_eer", "choice_eer", "eer", "eer_ci", "accuracy", "f1")
        line["references_5_chosen"] = {key: ranked[0][key] for key in keys}
        line["references_5_by_decision"] = {
            row["label"]: {key: row[key] for key in ("val_eer", "choice_eer", "eer")} for row in ranked
        }
    return line


def default_run(target: str, arm: str, seed: int) -> str:
    """The training folder's name under reports/bench-cross when `run` does not name one."""
    return f"{target}-{arm}-s{seed}"


def table(lines: list[dict]) -> str:
    """Markdown: one row per target, within and across side by side (EER %, 95 % interval)."""

    def cell(line, name):
        figures = line.get(name) if line else None
        if not figures or figures.get("eer") is None:
            return "-"
        low, high = figures.get("eer_ci") or (None, None)
        interval = f" ({100 * low:.1f}-{100 * high:.1f})" if low is not None else ""
        return f"{100 * figures['eer']:.1f}{interval}"

    latest = {}  # the last line of each run
    for line in lines:
        run_name = line.get("run") or default_run(line["target"], line["arm"], line["seed"])
        latest[(line["target"], line["arm"], line["seed"], run_name)] = line
    rows = [
        "| target (test writers) | trained on | single skilled | single random | 5 refs | 5 refs spread-corrected "
        "| 5 refs, validation's choice |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (target, arm, seed, run_name), line in sorted(
        latest.items(), key=lambda item: (TARGETS.index(item[0][0]), ARMS.index(item[0][1]), item[0][2])
    ):
        trained = f"{arm}: {' + '.join(line['trained_on'])} ({line['train_writers']} writers), seed {seed}"
        if run_name != default_run(target, arm, seed):
            trained += f", {run_name}: {line['epochs_run']} epochs, {line['train_seconds']:.0f} s"
        cells = " | ".join(cell(line, name) for name in [*PROTOCOLS, "references_5_chosen"])
        if "references_5_chosen" in line:
            cells += f" ({line['references_5_chosen']['label'].removeprefix('5 refs, ').removesuffix(' (skilled)')})"
        rows.append(f"| {target} ({line['target_writers']['test']}) | {trained} | {cells} |")
    return "\n".join(rows)


def main() -> None:
    out = project_root() / "reports" / "bench-cross"
    if sys.argv[1:2] == ["table"]:
        results = Path(sys.argv[2]) if len(sys.argv) > 2 else out / "results.jsonl"
        lines = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        print(table(lines))
        return
    overrides = parse_overrides(sys.argv[1:])
    target, arm = overrides.pop("target", "cedar"), overrides.pop("arm", "within")
    seed = int(overrides.pop("seed", 0))
    decisions, run_name = overrides.pop("decisions", "plain"), overrides.pop("run", None)
    if target not in TARGETS or arm not in ARMS or decisions not in DECISIONS:
        raise SystemExit(
            f"bench/cross.py: target must be one of {TARGETS}, arm one of {ARMS} and decisions one of {DECISIONS}"
        )
    needed = [target] if arm == "within" else [target] + [name for name in TARGETS if name not in (target, "cedar")]
    missing = [name for name in needed if corpus_path(name) is None]
    if missing:
        say_skipped("bench/cross.py", ", ".join(missing))
        return
    show_progress()
    import_tensorflow_quietly()
    line = run(target, arm, seed, overrides, decisions=decisions, run_name=run_name)
    print(json.dumps(line, default=float))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(json.dumps(line, default=float) + "\n")


if __name__ == "__main__":
    main()
