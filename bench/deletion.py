"""The deletion test on CEDAR's test writers: which heatmap shows where a trained model's decision
comes from? Prints one JSON line and writes the figure.

    python bench/deletion.py run=ablation-match-s0            # a run folder under reports/bench-cedar
    python bench/deletion.py model=path/to/model.keras writers=10 out=reports/reference/cedar-match

For every test writer (46-55): two genuine signatures, and a genuine one against a skilled
forgery, drawn by the seed. For each pair and each map the model has (`difference` for a match
model, `gradcam`, `attention` for CBAM, and `random` ink as the yardstick), the ink of the first
signature is blanked hottest first, 10 % at a time up to half, and the area under |change of the
distance| is taken (`sigkit.heatmaps.deletion_test`). Reported per map: the mean area, and its
paired difference to random ink with a 95 % interval over resampled writers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from cedar import load_cedar  # noqa: E402
from common import parse_overrides  # noqa: E402

import sigkit  # noqa: E402
from sigkit import heatmaps, plots  # noqa: E402
from sigkit.card import ModelCard  # noqa: E402
from sigkit.metrics import writer_bootstrap  # noqa: E402
from sigkit.model import find_tower, load_siamese  # noqa: E402
from sigkit.paths import cedar_path, project_root  # noqa: E402


def main() -> None:
    folder = cedar_path()
    if folder is None:
        print("bench/deletion.py: skipped, CEDAR not found (set SIGKIT_DATA to the folder of corpora, or SIGKIT_CEDAR)")
        return
    args = parse_overrides(sys.argv[1:])
    run_dir = project_root() / "reports" / "bench-cedar" / str(args.get("run", "ablation-match-s0"))
    model_path = Path(args.get("model", run_dir / "model.keras"))
    out = Path(args.get("out", model_path.parent))
    config = sigkit.Config.from_dict(ModelCard.for_model(model_path).config)
    seed = int(args.get("seed", config.seed))
    cedar = load_cedar(folder, config)
    test, images = cedar["splits"]["test"].reset_index(drop=True), cedar["images"]["test"]
    tower = find_tower(load_siamese(model_path))
    pairs = heatmaps.example_pairs(test, int(args.get("writers", 10)), seed=seed + 1)
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
    out.mkdir(parents=True, exist_ok=True)
    plots.save(heatmaps.deletion_figure(curves), out, "deletion_test")
    table.to_csv(out / "deletion_test.csv", index=False)
    (out / "deletion_test.json").write_text(json.dumps(line, indent=2))
    print(json.dumps(line, default=lambda v: list(v) if isinstance(v, tuple) else float(v)))
    np.set_printoptions(precision=4)
    print({method: np.round(curve, 4) for method, curve in curves.items()})


if __name__ == "__main__":
    main()
