"""The attention ablation on CEDAR: no attention, CBAM, and the cross-matching comparison head,
over several seeds, with paired writer-bootstrap intervals. Prints a markdown table and one JSON line.

    python bench/ablation.py                          # variants none, cbam, match; seeds 0 1 2
    python bench/ablation.py seeds=[0,1] variants=[cbam,match] match_temperature=0.2

Each variant is one tower of the `cedar-cpu` profile (ensemble=1, the same data, protocol,
augmentation, budget and seeds), differing only in the named fields. A finished run
(`reports/bench-cedar/ablation-<variant>-s<seed>/result.json` with the same config) is read back,
so an interrupted ablation resumes. Reported per variant, as the mean over seeds:

- validation: the best validation EER (model selection) and the single-pair skilled EER;
- test: single-pair skilled and random EER, and the 5-reference spread-corrected EER over 10
  draws of the references;
- 95 % intervals of the seed-mean test EERs over resampled test writers (the same writers drawn
  for every seed), and of each variant's difference to CBAM (paired: the same pairs, the same
  resample); an interval of the difference that holds 0 means the two cannot be told apart.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import numpy as np
import pandas as pd
from cedar import load_cedar, test_figures, to_json
from common import parse_overrides

import sigkit
from sigkit.metrics import eer, writer_bootstrap
from sigkit.paths import cedar_path, project_root
from sigkit.train import train

VARIANTS = {
    "none": dict(attention="none"),
    "cbam": dict(attention="last"),
    "match": dict(attention="last", head="match"),
}
PROTOCOLS = ("single_skilled", "single_random", "references_5_spread")


def run(variant: str, seed: int, overrides: dict, folder) -> tuple[dict, pd.DataFrame]:
    """One trained and evaluated tower: its bench line and its test scores."""
    config = sigkit.profile("cedar-cpu", **{**overrides, **VARIANTS[variant], "ensemble": 1, "seed": seed})
    run_dir = project_root() / "reports" / "bench-cedar" / f"ablation-{variant}-s{seed}"
    record, scores = run_dir / "result.json", run_dir / "test_scores.csv"
    if record.exists() and scores.exists():
        line = json.loads(record.read_text())
        if sigkit.Config.from_dict(line["config"]) == config:
            return line, pd.read_csv(scores)
    start = time.perf_counter()
    cedar = load_cedar(folder, config)
    result = train(config, cedar["splits"], cedar["images"], run_dir)
    line = test_figures(result.model_path, cedar, seed, scores_csv=scores)
    line.update(
        val_eer_best=result.best_val_eer,
        epochs_run=int(len(result.history)),
        train_seconds=round(result.seconds, 1),
        wall_seconds=round(time.perf_counter() - start, 1),
        config=config.to_dict(),
    )
    record.write_text(to_json(line))
    return line, pd.read_csv(scores)


def seed_mean_eer(samples: list[pd.DataFrame]) -> float:
    return float(np.mean([eer(s["distance"], s["label"])[0] for s in samples]))


def summarise(lines: dict, scores: dict, seeds: list[int], baseline: str = "cbam", n_boot: int = 1000) -> pd.DataFrame:
    """One row per variant: seed means with intervals, and the paired difference to `baseline`."""
    rows = []
    for variant, by_seed in lines.items():
        row = {
            "variant": variant,
            "seeds": len(by_seed),
            "val EER (selection)": 100 * np.mean([line["val_eer_best"] for line in by_seed.values()]),
            "val single skilled": 100
            * np.mean([line["val_eer_by_protocol"]["single pairs (skilled)"] for line in by_seed.values()]),
            "val 5 refs over 10 draws": 100
            * np.mean([line["5ref_over_10_draws"]["val_5ref_spread"]["mean"] for line in by_seed.values()]),
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
        row["test 5 refs over 10 draws"] = 100 * np.mean(
            [line["5ref_over_10_draws"]["test_5ref_spread"]["mean"] for line in by_seed.values()]
        )
        # embedding towers also score aligned (turns and shifts, sigkit.align);
        # a match tower's rows repeat its plain ones
        row["test single aligned"] = 100 * np.mean(
            [line["test_eer_single_skilled_aligned"] for line in by_seed.values()]
        )
        row["test 5 refs aligned over 10 draws"] = 100 * np.mean(
            [line["5ref_over_10_draws"]["test_5ref_spread_aligned"]["mean"] for line in by_seed.values()]
        )
        row["train min per tower"] = np.mean([line["train_seconds"] for line in by_seed.values()]) / 60
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = cedar_path()
    if folder is None:
        print("bench/ablation.py: skipped, CEDAR not found (set SIGKIT_DATA to the folder of corpora, or SIGKIT_CEDAR)")
        return
    overrides = parse_overrides(sys.argv[1:])
    seeds = [int(s) for s in overrides.pop("seeds", [0, 1, 2])]
    variants = [str(v) for v in overrides.pop("variants", list(VARIANTS))]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"bench/ablation.py: unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    lines, scores = {}, {}
    for variant in variants:
        lines[variant], scores[variant] = {}, {}
        for seed in seeds:
            lines[variant][seed], scores[variant][seed] = run(variant, seed, overrides, folder)
    table = summarise(lines, scores, seeds)
    out = project_root() / "reports" / "bench-cedar"
    (out / "ablation.md").write_text(markdown(table) + "\n")
    (out / "ablation.json").write_text(
        to_json({"seeds": seeds, "overrides": overrides, "table": table.reset_index().to_dict("records")})
    )
    print(markdown(table))
    print(to_json({"seeds": seeds, "overrides": overrides, "table": table.reset_index().to_dict("records")}))


if __name__ == "__main__":
    main()
