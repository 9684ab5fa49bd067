"""The Kaggle SigComp 2011 copy under the protocol Kaggle notebooks publish; one JSON line.

    python bench/kaggle.py [run=NAME] [key=value ...]     # Config overrides of the `cpu` profile

The paper's setting on a CPU-sized tower (`cpu` profile: Siamese pairs, batch 32, Adam 1e-4), trained
on the pairs of `train_data.csv`, the epoch chosen on `test_data.csv`, and Accuracy / Precision /
Recall / F1 / EER on `test_data.csv` at the threshold read off those test pairs and at 0.5
(`sigkit.published`), with how much of the test list training already saw. The honest protocol on
the same data is `make reports DATA=$SIGKIT_DATA/sigcomp2011-kaggle` (writer-disjoint, de-duplicated,
thresholds from validation writers). Skips (exit 0, one line) when the corpus is absent.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from common import parse_overrides

import sigkit
from sigkit.paths import corpus_path, project_root
from sigkit.published import published_protocol

PAPER_SETTING = dict(mode="pairs", batch_size=32, learning_rate=1e-4, epochs=30, patience=10, time_budget_s=20 * 60)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    root = corpus_path("sigcomp2011-kaggle")
    if root is None:
        print("bench/kaggle.py: skipped, sigcomp2011-kaggle not found (set SIGKIT_DATA to the folder of corpora)")
        return
    overrides = parse_overrides(sys.argv[1:])
    run = overrides.pop("run", time.strftime("%Y%m%d-%H%M%S"))
    config = sigkit.profile("cpu", **{**PAPER_SETTING, **overrides})
    out = project_root() / "reports" / "bench-kaggle" / run
    figures = published_protocol(config, root, out, cache_dir=project_root() / "reports" / "cache")
    print(json.dumps(figures, default=float))


if __name__ == "__main__":
    main()
