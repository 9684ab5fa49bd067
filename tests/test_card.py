"""The model card: what it saves loads back, and a card that cannot be used names its file and field."""

from __future__ import annotations

import json

import pytest

from sigkit.card import ModelCard

GOOD = {
    "threshold": 0.61,
    "threshold_rule": "EER point on validation writers",
    "val_eer": 0.12,
    "epoch": 3,
    "config": {"seed": 0, "image_size": [32, 64]},
    "members": [],
    "data": {"writers": {"train": 4}},
    "versions": {"keras": "3"},
    "corpora": {"cedar": 55},  # a field the card does not know travels in extra
}


def write(folder, values) -> object:
    path = folder / "model.json"
    path.write_text(json.dumps(values))
    return path


def test_a_saved_card_loads_back_with_its_extra_fields(tmp_path):
    card = ModelCard.load(write(tmp_path, GOOD))
    assert card.threshold == GOOD["threshold"] and card.epoch == 3 and card.extra == {"corpora": {"cedar": 55}}
    card.save(tmp_path / "again.json")
    assert ModelCard.load(tmp_path / "again.json") == card
    # nulls where a value may be unknown, and whole numbers where numbers go, are fine
    unknown = ModelCard.load(write(tmp_path, {**GOOD, "threshold": 1, "val_eer": None, "epoch": None}))
    assert unknown.threshold == 1 and unknown.val_eer is None and unknown.epoch is None


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("threshold", "abc", "a number or null"),
        ("threshold", float("nan"), "a number or null"),
        ("threshold", True, "a number or null"),
        ("val_eer", "0.12", "a number or null"),
        ("epoch", 2.5, "a whole number or null"),
        ("threshold_rule", 3, "text"),
        ("config", ["seed", 0], "an object"),
        ("members", {"val_eer": 0.1}, "a list"),
        ("data", "cedar", "an object"),
        ("versions", None, "an object"),
    ],
)
def test_a_field_of_the_wrong_type_is_named_with_its_file(tmp_path, field, value, expected):
    path = write(tmp_path, {**GOOD, field: value})
    with pytest.raises(ValueError) as error:
        ModelCard.for_model(tmp_path / "model.keras")
    message = str(error.value)
    assert message.startswith(f"{path}: field {field!r} is ") and f"not {expected}; " in message
    assert repr(value) in message or json.dumps(value) in message  # the bad value, as written


def test_a_bad_threshold_says_what_to_do(tmp_path):
    path = write(tmp_path, {**GOOD, "threshold": "abc"})
    with pytest.raises(ValueError, match=r"field 'threshold' is 'abc', not a number or null; .*--threshold"):
        ModelCard.load(path)


def test_a_card_that_is_not_a_json_object_names_its_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(GOOD)[:40])  # cut short, as a full disk would leave it
    with pytest.raises(ValueError, match="not valid JSON") as error:
        ModelCard.load(path)
    assert str(path) in str(error.value)
    path.write_text("[0.61]")
    with pytest.raises(ValueError, match="holds list") as error:
        ModelCard.load(path)
    assert str(path) in str(error.value)
