"""Score fusion as one more protocol: scorers combined by weights learned on validation writers only."""

import numpy as np
import pandas as pd
import pytest

from sigkit.metrics import eer
from sigkit.scoring import Features, Protocol, evaluate, fuse, standard_protocols


def single_pair_scores(rng, n_pairs: int, informative: bool) -> pd.DataFrame:
    label = np.tile([1, 0], n_pairs // 2)
    centre = np.where(label == 1, 0.3, 0.7) if informative else np.full(n_pairs, 0.5)
    return pd.DataFrame(
        {
            "a": np.arange(n_pairs),
            "b": np.arange(n_pairs) + 10_000,
            "writer": np.repeat(np.arange(n_pairs // 20), 20).astype(str),
            "label": label,
            "distance": centre + rng.normal(0, 0.12, n_pairs),
        }
    )


def test_fusion_learns_its_weights_on_the_validation_writers_only():
    rng = np.random.default_rng(0)
    plain, aligned = Protocol(), Protocol(aligned=True)
    val = {plain: single_pair_scores(rng, 2000, True), aligned: single_pair_scores(rng, 2000, False)}
    test = {plain: single_pair_scores(rng, 1000, True), aligned: single_pair_scores(rng, 1000, False)}
    fused_test, fused_val, how = fuse(test, val)
    # a useless scorer beside a good one: the regression puts its weight on the good one, and the
    # validation writers choose it over the plain mean of the two
    assert how["fusion"] == "logistic" and how["members"] == [plain.label, aligned.label]
    assert abs(how["weights"][0]) > 5 * abs(how["weights"][1])
    assert (
        eer(fused_test["distance"], fused_test["label"])[0]
        < eer(test[plain]["distance"], test[plain]["label"])[0] + 0.02
    )
    assert len(fused_test) == 1000 and len(fused_val) == 2000
    # the test scores never move the weights
    shuffled = {p: s.assign(distance=rng.permutation(s["distance"].to_numpy())) for p, s in test.items()}
    assert fuse(shuffled, val)[2]["weights"] == how["weights"]


def test_fusion_refuses_scorers_that_ask_other_questions():
    rng = np.random.default_rng(1)
    plain, aligned = Protocol(), Protocol(aligned=True)
    scores = {plain: single_pair_scores(rng, 200, True), aligned: single_pair_scores(rng, 200, True)}
    other = {plain: scores[plain], aligned: scores[aligned].assign(b=scores[aligned]["b"] + 1)}
    with pytest.raises(ValueError, match="does not score the questions"):
        fuse(other, scores)
    with pytest.raises(ValueError, match="two scorers or more"):
        fuse({plain: scores[plain]}, {plain: scores[plain]})


def test_fusion_protocols_are_named_by_their_questions():
    assert Protocol("fusion", 1).label == "single pairs, fusion (skilled)" and not Protocol("fusion", 1).references
    assert Protocol("fusion", 5, "random").label == "5 refs, fusion (random)"
    assert Protocol("fusion", 5).fuses(Protocol("spread", 5, aligned=True))
    assert not Protocol("fusion", 5).fuses(Protocol("mean", 3)) and not Protocol("fusion", 1).fuses(Protocol("mean", 1))
    with pytest.raises(ValueError, match="not aligned itself"):
        Protocol("fusion", 5, aligned=True)
    plain_only = standard_protocols(3, fusion=True)  # single pairs: one scorer, nothing to fuse
    assert Protocol("fusion", 1) not in plain_only and Protocol("fusion", 3) in plain_only  # mean and spread
    assert Protocol("fusion", 1) in standard_protocols(3, aligned=True, fusion=True)


def test_the_fusion_rows_join_the_evaluation_table(tiny):
    _, splits, _ = tiny
    rng = np.random.default_rng(2)

    def features(part):
        plain = rng.normal(size=(len(part), 8)).astype(np.float32)
        variants = np.stack([plain, plain + rng.normal(0, 0.1, plain.shape).astype(np.float32)])
        return Features(part, plain, variants)

    protocols = standard_protocols(2, aligned=True, fusion=True, forgeries=("skilled",))
    evaluation = evaluate(features(splits["test"]), features(splits["val"]), protocols, draws=2)
    fused = evaluation.table[evaluation.table["method"] == "fusion"].set_index("k")
    assert set(fused.index) == {1, 2}
    assert len(fused.loc[1, "classifier"]["members"]) == 2  # single pairs, plain and aligned
    assert len(fused.loc[2, "classifier"]["members"]) == 4  # mean and spread, plain and aligned
    assert (fused["threshold_from"] == "validation writers").all() and fused["eer"].between(0, 1).all()


def test_a_fusion_rule_applies_anywhere_as_it_was_fitted():
    from sigkit.scoring import FusionRule

    rng = np.random.default_rng(3)
    labels = np.tile([1, 0], 500)
    good = np.where(labels == 1, 0.3, 0.7) + rng.normal(0, 0.1, labels.size)
    noise = rng.normal(5.0, 2.0, labels.size)  # another scale entirely: the z-normalisation absorbs it
    rule, eers = FusionRule.fit(np.stack([good, noise], axis=1), labels, ["good", "noise"])
    again = FusionRule.from_dict(rule.to_dict())  # as the model card stores it
    values = np.stack([good[:7], noise[:7]], axis=1)
    assert np.allclose(again.apply(values), rule.apply(values)) and again == rule
    assert set(eers) == {"mean", "logistic"} and rule.combine == min(eers, key=lambda n: (eers[n], n != "mean"))
    with pytest.raises(ValueError, match="needs 2 scores a question"):
        rule.apply(values[:, :1])


def test_the_gain_of_a_fusion_is_paired_over_the_same_writers():
    from sigkit.scoring import fusion_gain

    rng = np.random.default_rng(4)
    member = single_pair_scores(rng, 2000, True).assign(draw=0)
    better = member.assign(distance=np.where(member["label"] == 1, 0.25, 0.75) + rng.normal(0, 0.05, len(member)))
    gain = fusion_gain(member, better, n_boot=200)
    low, high = gain["gain_ci"]
    assert gain["gain"] > 0.02 and 0 < low <= gain["gain"] <= high  # clearly better, every resample agrees
    same = fusion_gain(member, member, n_boot=50)
    assert same["gain"] == pytest.approx(0.0, abs=1e-12) and same["gain_ci"] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_fusion_across_models_fuses_each_protocol_and_every_scorer(tiny):
    from sigkit.scoring import fuse_across

    _, splits, _ = tiny
    rng = np.random.default_rng(5)

    def evaluation():
        def features(part):
            return Features(part, rng.normal(size=(len(part), 8)).astype(np.float32))

        protocols = standard_protocols(2, forgeries=("skilled",))
        return evaluate(features(splits["test"]), features(splits["val"]), protocols, draws=2)

    table = fuse_across({"a": evaluation(), "b": evaluation()}, n_boot=20).set_index("label")
    assert (
        "single pairs (skilled), 2 models" in table.index and "2 refs, mean distance (skilled), 2 models" in table.index
    )
    every = table.loc["2 refs, fusion (skilled), every scorer of 2 models"]
    assert len(every["classifier"]["members"]) == 4  # mean and spread of each model
    assert every["best_member"] in every["classifier"]["members"]
    assert every["gain"] == pytest.approx(every["best_member_eer"] - every["eer"], abs=1e-9)
    assert every["gain_ci"][0] <= every["gain_ci"][1]


def test_held_out_writers_choose_the_plain_mean_where_a_regression_would_overfit():
    """Fifteen equally good scorers, six writers: a regression fitted on the same few questions
    looks best in-sample and is worse on new ones; compared on held-out writers it is chosen less
    often, and the rules chosen so do better on fresh questions (over 20 draws of the data)."""
    from sigkit.scoring import FusionRule

    in_sample, held_out = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        labels, groups = np.tile([1, 0], 24), np.repeat(np.arange(6), 8)
        values = np.where(labels[:, None] == 1, 0.0, 1.0) + rng.normal(0, 1.0, (48, 15))
        fresh_labels = np.tile([1, 0], 2000)
        fresh = np.where(fresh_labels[:, None] == 1, 0.0, 1.0) + rng.normal(0, 1.0, (4000, 15))
        for chosen, options in ((in_sample, {}), (held_out, {"groups": groups})):
            rule, _ = FusionRule.fit(values, labels, list(range(15)), seed=seed, **options)
            chosen.append((rule.combine, eer(rule.apply(fresh), fresh_labels)[0]))
    picks = {name: sum(c == "logistic" for c, _ in rules) for name, rules in (("in", in_sample), ("out", held_out))}
    assert picks["out"] < picks["in"]
    assert np.mean([e for _, e in held_out]) < np.mean([e for _, e in in_sample]) - 0.003
