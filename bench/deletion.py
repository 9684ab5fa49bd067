"""The deletion test on CEDAR's test writers: which heatmap shows where a trained model's decision
comes from? Prints one JSON line and writes the figure.

    python bench/deletion.py run=ablation-match-s0            # a run folder under reports/bench-cedar
    python bench/deletion.py model=path/to/model.keras writers=10 out=reports/reference/cedar-match

Two genuine signatures and a genuine one against a skilled forgery of each test writer, drawn by
the seed, are put through `sigkit.heatmaps.deletion_test` with every map the model has (and
`random` ink as the yardstick). Reported per map: the mean area under |change of the distance|,
and its paired difference to random ink with a 95 % interval over resampled writers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from cedar import load_cedar
from common import cedar_or_skip, parse_overrides, to_json

from sigkit.card import ModelCard
from sigkit.datasets import CEDAR_SPLIT
from sigkit.metrics import writer_bootstrap
from sigkit.paths import project_root
from sigkit.quiet import import_tensorflow_quietly


def deletion(model_path, folder, out, *, writers: int = 10, seed: int | None = None, split=CEDAR_SPLIT):
    """(line, curves): the deletion test of `model_path` on the test writers of `folder`; its
    figure, table and line are written under `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import sigkit
    from sigkit import heatmaps, plots
    from sigkit.model import find_tower, load_siamese

    config = sigkit.Config.from_dict(ModelCard.for_model(model_path).config)
    seed = config.seed if seed is None else seed
    cedar = load_cedar(folder, config, split=split)
    test, images = cedar["splits"]["test"].reset_index(drop=True), cedar["images"]["test"]
    tower = find_tower(load_siamese(model_path))
    pairs = heatmaps.example_pairs(test, writers, seed=seed + 1)
    table, curves = heatmaps.deletion_test(tower, images, pairs, seed=seed)
    table["writer"] = test["writer"].to_numpy()[table["a"].to_numpy()]
    table["label"] = [int("genuine vs genuine" in title) for title in table["label"]]
    random = table[table["method"] == "random"].set_index(["a", "b"])["area"]
    line = {"model": str(model_path), "pairs": len(pairs), "writers": int(table["writer"].nunique()), "maps": {}}
    for method, rows in table.groupby("method"):
        entry = {
            "mean_area": float(rows["area"].mean()),
            "genuine_pairs": float(rows[rows["label"] == 1]["area"].mean()),
            "skilled_pairs": float(rows[rows["label"] == 0]["area"].mean()),
        }
        if method != "random":
            gain = rows.assign(gain=rows["area"].to_numpy() - random.loc[list(zip(rows["a"], rows["b"]))].to_numpy())
            entry["minus_random"] = float(gain["gain"].mean())
            entry["minus_random_95ci"] = writer_bootstrap(
                [gain], lambda s: float(s[0]["gain"].mean()), 1000, seed, both_labels=False
            )
        line["maps"][method] = entry
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots.save(heatmaps.deletion_figure(curves), out, "deletion_test")
    table.to_csv(out / "deletion_test.csv", index=False)
    (out / "deletion_test.json").write_text(json.dumps(line, indent=2))
    return line, curves


def main() -> None:
    folder = cedar_or_skip("bench/deletion.py")
    if folder is None:
        return
    import_tensorflow_quietly()
    args = parse_overrides(sys.argv[1:])
    run_dir = project_root() / "reports" / "bench-cedar" / str(args.get("run", "ablation-match-s0"))
    model_path = Path(args.get("model", run_dir / "model.keras"))
    seed = int(args["seed"]) if "seed" in args else None
    line, curves = deletion(
        model_path, folder, Path(args.get("out", model_path.parent)), writers=int(args.get("writers", 10)), seed=seed
    )
    print(to_json(line))
    np.set_printoptions(precision=4)
    print({method: np.round(curve, 4) for method, curve in curves.items()})


if __name__ == "__main__":
    main()
