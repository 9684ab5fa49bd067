"""The attention ablation on CEDAR: no attention, CBAM, and the cross-matching comparison head,
over several seeds, with paired writer-bootstrap intervals. Prints a markdown table and one JSON line.

    python bench/ablation.py                          # variants none, cbam, match; seeds 0 1 2
    python bench/ablation.py seeds=[0,1] variants=[cbam,match] match_temperature=0.2

Each variant is one tower of the `cedar-cpu` profile trained and tested by bench/cedar.py (same
data, protocol, augmentation, budget and seeds), differing only in the fields of `VARIANTS`. A
finished run (`reports/bench-cedar/ablation-<variant>-s<seed>/result.json` with the same config)
is read back, so an interrupted ablation resumes. Per variant, the mean over seeds of the
validation EERs and of the test EERs, with 95 % intervals over resampled test writers (the same
writers drawn for every seed) of the seed-mean test EERs and of each variant's difference to
CBAM (paired: the same pairs, the same resample; an interval that holds 0 cannot tell them apart).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cedar import train_and_test
from common import cedar_or_skip, parse_overrides, show_progress, to_json

from sigkit.datasets import CEDAR_SPLIT
from sigkit.metrics import eer, writer_bootstrap
from sigkit.paths import project_root
from sigkit.quiet import import_tensorflow_quietly

VARIANTS = {
    "none": dict(attention="none"),
    "cbam": dict(attention="last"),
    "match": dict(attention="last", head="match"),
}
PROTOCOLS = ("single_skilled", "single_random", "references_5_spread")


def run(variant: str, seed: int, overrides: dict, folder, out, split=CEDAR_SPLIT, n_boot: int = 1000):
    """One trained and tested tower (read back when already finished): its line and its test scores."""
    import sigkit

    config = sigkit.profile("cedar-cpu", **{**overrides, **VARIANTS[variant], "ensemble": 1, "seed": seed})
    run_dir = Path(out) / f"ablation-{variant}-s{seed}"
    record, scores = run_dir / "result.json", run_dir / "test_scores.csv"
    if record.exists() and scores.exists():
        line = json.loads(record.read_text())
        if sigkit.Config.from_dict(line["config"]) == config:
            return line, pd.read_csv(scores)
    line = train_and_test(folder, config, run_dir, split=split, n_boot=n_boot)
    return line, pd.read_csv(scores)


def seed_mean_eer(samples: list[pd.DataFrame]) -> float:
    return float(np.mean([eer(s["distance"], s["label"])[0] for s in samples]))


def mean_over_seeds(by_seed: dict, *keys: str) -> float:
    """The mean over seeds of the figure at `keys` in each seed's line."""
    values = []
    for line in by_seed.values():
        for key in keys:
            line = line[key]
        values.append(line)
    return np.mean(values)


def summarise(lines: dict, scores: dict, seeds: list[int], baseline: str = "cbam", n_boot: int = 1000) -> pd.DataFrame:
    """One row per variant: seed means with intervals, and the paired difference to `baseline`."""
    rows = []
    for variant, by_seed in lines.items():
        row = {
            "variant": variant,
            "seeds": len(by_seed),
            "val EER (selection)": 100 * mean_over_seeds(by_seed, "val_eer_best"),
            "val single skilled": 100 * mean_over_seeds(by_seed, "val_eer_by_protocol", "single pairs (skilled)"),
            "val 5 refs over 10 draws": 100 * mean_over_seeds(by_seed, "5ref_over_10_draws", "val_5ref_spread", "mean"),
        }
        for protocol in PROTOCOLS:
            own = [scores[variant][s][scores[variant][s]["protocol"] == protocol] for s in seeds]
            low, high = writer_bootstrap(own, seed_mean_eer, n_boot)
            row[f"test {protocol}"] = f"{100 * seed_mean_eer(own):.1f} ({100 * low:.1f}-{100 * high:.1f})"
            if variant != baseline and baseline in scores:
                base = [scores[baseline][s][scores[baseline][s]["protocol"] == protocol] for s in seeds]
                low, high = writer_bootstrap(
                    own + base, lambda x: seed_mean_eer(x[: len(seeds)]) - seed_mean_eer(x[len(seeds) :]), n_boot
                )
                row[f"vs {baseline}: {protocol}"] = f"{100 * low:+.1f} to {100 * high:+.1f}"
        row["test 5 refs over 10 draws"] = 100 * mean_over_seeds(
            by_seed, "5ref_over_10_draws", "test_5ref_spread", "mean"
        )
        # embedding towers also score aligned (turns and shifts, sigkit.align); a match tower's rows
        # repeat its plain ones
        row["test single aligned"] = 100 * mean_over_seeds(by_seed, "test_eer_single_skilled_aligned")
        row["test 5 refs aligned over 10 draws"] = 100 * mean_over_seeds(
            by_seed, "5ref_over_10_draws", "test_5ref_spread_aligned", "mean"
        )
        row["train min per tower"] = mean_over_seeds(by_seed, "train_seconds") / 60
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def markdown(table: pd.DataFrame) -> str:
    """A markdown table (floats to one decimal), without an extra dependency."""

    def cell(value):
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.1f}"
        return str(value)

    header = [table.index.name or "", *table.columns]
    rows = [[str(index), *(cell(v) for v in values)] for index, values in zip(table.index, table.to_numpy())]
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows])


def ablation(
    folder, variants: list[str], seeds: list[int], overrides: dict, out, split=CEDAR_SPLIT, n_boot: int = 1000
) -> pd.DataFrame:
    """Every variant at every seed, trained (or read back) under `out`, summarised in one table."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"bench/ablation.py: unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    lines = {variant: {} for variant in variants}
    scores = {variant: {} for variant in variants}
    for variant in variants:
        for seed in seeds:
            lines[variant][seed], scores[variant][seed] = run(variant, seed, overrides, folder, out, split, n_boot)
    return summarise(lines, scores, seeds, n_boot=n_boot)


def main() -> None:
    folder = cedar_or_skip("bench/ablation.py")
    if folder is None:
        return
    show_progress()
    import_tensorflow_quietly()
    overrides = parse_overrides(sys.argv[1:])
    seeds = [int(s) for s in overrides.pop("seeds", [0, 1, 2])]
    variants = [str(v) for v in overrides.pop("variants", list(VARIANTS))]
    out = project_root() / "reports" / "bench-cedar"
    table = ablation(folder, variants, seeds, overrides, out)
    line = to_json({"seeds": seeds, "overrides": overrides, "table": table.reset_index().to_dict("records")})
    (out / "ablation.md").write_text(markdown(table) + "\n")
    (out / "ablation.json").write_text(line)
    print(markdown(table))
    print(line)


if __name__ == "__main__":
    main()
