"""The shipped card's thresholds per number of references on writers it never saw; one JSON line.

    python bench/calibration.py [seed=0] [draws=10]

CEDAR's test writers (46-55), skilled forgeries, every verify method (`sigkit.calibration`) at
each K the card stores: the false acceptance and false rejection rates at the card's threshold
for that K (chosen on the pre-training validation writers, no CEDAR image), beside those at the
one threshold every K used before (the K = 5 point of the card's `writer_dependent` entries, and
the card's single-pair distance threshold). Nothing is chosen here: it reads how far thresholds
chosen on other corpora carry. Skips when CEDAR is absent.
"""

from __future__ import annotations

import sys

from cedar import load_cedar
from common import cedar_or_skip, parse_overrides, show_progress, to_json

from sigkit.quiet import import_tensorflow_quietly


def carried_thresholds(model, test, seed: int = 0, draws: int = 10) -> list[dict]:
    """One record per (method, K): the test writers' EER, and FAR / FRR at the card's threshold
    for that K and at the one shared threshold (`model`: a `sigkit.trained.TrainedModel`;
    `test`: `sigkit.scoring.Features` with variants)."""
    from sigkit.calibration import CARD_ENTRY, MEMBERS
    from sigkit.metrics import at_threshold, eer
    from sigkit.scoring import FusionRule, protocol_scores, side_by_side

    table = model.card.extra[CARD_ENTRY]
    shared = {
        "distance": model.distance_threshold(),
        "wd": model.writer_dependent(False)[1],
        "wd-aligned": model.writer_dependent(True)[1],
    }
    settings = {"wd": model.writer_dependent(False)[0], "wd-aligned": model.writer_dependent(True)[0]}
    records = []
    for k in sorted(int(key) for key in table["distance"]):
        scores = {}
        for method, protocol_of in MEMBERS.items():
            protocol = protocol_of(k)
            scores[method] = protocol_scores(
                protocol,
                test,
                seed=seed,
                draws=draws,
                scorer=model.scorer,
                background=model.required_background(protocol.aligned),
                settings=settings.get(method),
            )
        rule = FusionRule.from_dict(table["fusion"][str(k)]["fusion"])
        questions, values = side_by_side({m: scores[m] for m in rule.members})
        scores["fusion"] = questions.assign(distance=rule.apply(values))
        for method, frame in scores.items():
            card = at_threshold(frame["distance"], frame["label"], table[method][str(k)]["threshold"])
            record = {
                "method": method,
                "k": k,
                "test_eer": eer(frame["distance"], frame["label"])[0],
                "card_threshold": {"far": card["far"], "frr": card["frr"]},
                "card_val": {key: table[method][str(k)][key] for key in ("far", "frr")},
            }
            if method in shared:
                one = at_threshold(frame["distance"], frame["label"], shared[method])
                record["shared_threshold"] = {"far": one["far"], "frr": one["frr"]}
            records.append(record)
    return records


def main() -> None:
    folder = cedar_or_skip("bench/calibration.py")
    if folder is None:
        return
    show_progress()
    import_tensorflow_quietly()
    import sigkit
    from sigkit.scoring import Features
    from sigkit.trained import TrainedModel

    overrides = parse_overrides(sys.argv[1:])
    seed, draws = int(overrides.get("seed", 0)), int(overrides.get("draws", 10))
    model = TrainedModel.load()
    cedar = load_cedar(folder, sigkit.profile("cedar-cpu", seed=seed))
    test = cedar["splits"]["test"]
    variants = model.variants(test["decode_path"], images=cedar["images"]["test"])
    records = carried_thresholds(model, Features(test, variants[0], variants), seed=seed, draws=draws)
    print(to_json({"seed": seed, "draws": draws, "writers": int(test["writer"].nunique()), "rows": records}))


if __name__ == "__main__":
    main()
