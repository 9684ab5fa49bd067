"""The capacity study: pre-trained towers of other sizes beside the shipped one; one JSON line a tower.

    python bench/capacity.py [towers=sigkit/shipped,reports/capacity-wide-tower]

Each folder holds what `python -m sigkit.shipped.build --out FOLDER` writes (`tower.keras`, its
card `tower.json`, `background.npz`); a candidate is trained with `--set`, e.g.
`--set widths=32,64,128,256` (channels x2). Every figure compared is the card's, measured on the
validation writers of the pre-training corpora (the build's seeded split, the same for every
tower of the same corpora and seed; CEDAR plays no part): EER on single skilled and random pairs,
and each verify method's EER at K = 1, 2, 3, 5, 12 references (`operating_points`). The first
tower is the one in use; a later one `replaces` it only when its validation EER is lower on
single skilled pairs and on the fusion at 5 and at 12 references (the zero-shot protocols the
README quotes), and its file is at most 10 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import parse_overrides, to_json

from sigkit.card import ModelCard
from sigkit.paths import resolve
from sigkit.quiet import import_tensorflow_quietly
from sigkit.shipped import CARD_FILE, TOWER_FILE

MAX_MB = 10.0
DECIDING = (("single", "skilled"), ("fusion", 5), ("fusion", 12))


def tower_line(folder: Path) -> dict:
    """Size, training and validation figures of the tower in `folder`, from its card and file."""
    from sigkit.calibration import CARD_ENTRY
    from sigkit.model import find_tower, load_siamese

    card = ModelCard.load(folder / CARD_FILE)
    tower = find_tower(load_siamese(folder / TOWER_FILE))
    config = card.config if isinstance(card.config, dict) else {}
    model = config.get("model", config)
    points = card.extra.get(CARD_ENTRY, {})
    return {
        "tower": str(folder),
        "widths": list(model.get("widths", [])),
        "input_size": card.extra.get("input_size"),
        "parameters": int(tower.count_params()),
        "megabytes": round((folder / TOWER_FILE).stat().st_size / 2**20, 2),
        "epochs_run": card.extra.get("epochs_run"),
        "best_epoch": card.epoch,
        "train_seconds": card.extra.get("train_seconds"),
        "stopped": card.extra.get("stopped"),
        "validation_writers": card.data.get("writers", {}).get("val"),
        "val_eer_single": {kind: card.extra["val_eers"][kind] for kind in ("skilled", "random")},
        "val_eer_by_method": {
            method: {int(k): point["val_eer"] for k, point in by_k.items()} for method, by_k in points.items()
        },
    }


def deciding_eers(line: dict) -> dict:
    """The validation EERs the choice rests on (`DECIDING`), by name."""
    eers = {}
    for method, which in DECIDING:
        if method == "single":
            eers[f"single_{which}"] = line["val_eer_single"][which]
        else:
            eers[f"{method}_k{which}"] = line["val_eer_by_method"].get(method, {}).get(which)
    return eers


def compare(folders: list[Path]) -> list[dict]:
    """One line a tower; every line after the first says whether it `replaces` the first."""
    lines = [tower_line(folder) for folder in folders]
    in_use = lines[0]
    for line in lines:
        line["deciding_val_eers"] = deciding_eers(line)
    for line in lines[1:]:
        if (
            line["validation_writers"] != in_use["validation_writers"]
            or line["val_eer_by_method"].keys() != in_use["val_eer_by_method"].keys()
        ):
            raise SystemExit(
                f"{line['tower']}: its card was not measured as {in_use['tower']}'s was (validation writers "
                f"{line['validation_writers']} vs {in_use['validation_writers']}): "
                "build both on the same corpora and seed"
            )
        pairs = list(zip(line["deciding_val_eers"].values(), in_use["deciding_val_eers"].values()))
        line["lower_on_every_deciding_eer"] = all(a is not None and b is not None and a < b for a, b in pairs)
        line["replaces"] = line["lower_on_every_deciding_eer"] and line["megabytes"] <= MAX_MB
    return lines


def main() -> None:
    overrides = parse_overrides(sys.argv[1:])
    towers = str(overrides.get("towers", "sigkit/shipped,reports/capacity-wide-tower"))
    folders = [resolve(name) for name in towers.split(",")]
    missing = [str(f) for f in folders if not (f / CARD_FILE).exists()]
    if missing:
        print(f"bench/capacity.py: skipped, no {CARD_FILE} in {', '.join(missing)} (build one with --out)")
        return
    import_tensorflow_quietly()
    for line in compare(folders):
        print(to_json(line))


if __name__ == "__main__":
    main()
