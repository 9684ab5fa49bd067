"""`sigkit verify` as a user meets it: thresholds for the number of references given, the fusion
of the three decisions, and many claims in one call from a CSV file."""

import shutil

import numpy as np
import pytest

from sigkit import cli, synth
from sigkit.trained import TrainedModel
from sigkit.verify import InputFileError, read_claims, verify, verify_all, verify_claims


@pytest.fixture(scope="module")
def writers(tmp_path_factory):
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=2, n_genuine=7, n_forged=2, seed=21)
    return {
        w: (
            sorted((folder / "full_org").glob(f"original_{w}_*.png")),
            sorted((folder / "full_forg").glob(f"forgeries_{w}_*.png")),
        )
        for w in (1, 2)
    }


@pytest.fixture(scope="module")
def model():
    """The shipped tower with a slice of its background: the same decisions, classifiers quick to fit."""
    import dataclasses

    shipped = TrainedModel.load()
    return dataclasses.replace(
        shipped, _backgrounds={aligned: shipped.background(aligned)[::8] for aligned in (False, True)}
    )


def test_the_threshold_follows_the_number_of_references(writers, model):
    from sigkit.verify import decision_threshold

    table = model.card.extra["operating_points"]
    for method in ("distance", "wd", "wd-aligned", "fusion"):
        for given, stored in ((1, "1"), (2, "2"), (4, "3"), (5, "5"), (11, "5"), (30, "12")):
            threshold, point = decision_threshold(model, method, given)
            assert point.k == int(stored) and threshold == pytest.approx(table[method][stored]["threshold"])
    genuine, forged = writers[1]
    one, between = verify(model, genuine[:1], forged[0]), verify(model, genuine[:4], forged[0])
    assert one.point.k == 1 and one.threshold == pytest.approx(table["distance"]["1"]["threshold"])
    assert between.point.k == 3 and "nearest below the 4 given" in between.text()
    assert "validation writers' skilled forgeries: FAR" in between.text()
    given = verify(model, genuine[:4], forged[0], threshold=0.25)  # a threshold given is used as it is
    assert given.threshold == 0.25 and given.point is None


@pytest.mark.slow
def test_fusion_combines_the_three_decisions_as_the_card_says(writers, model):
    genuine, forged = writers[1]
    questioned = [forged[0]]  # two references and one questioned file: turning and shifting few images
    fused = verify_all(model, genuine[:2], questioned, method="fusion")
    rule = fused[0].point.fusion
    assert list(rule.members) == ["distance", "wd", "wd-aligned"]
    members = np.array(
        [[v.distance for v in verify_all(model, genuine[:2], questioned, method=m)] for m in rule.members]
    )
    np.testing.assert_allclose([v.distance for v in fused], rule.apply(members.T), rtol=1e-6, atol=1e-6)
    assert all(v.genuine == (v.distance <= v.threshold) for v in fused) and "fused score" in fused[0].text()
    given = verify_all(model, genuine[:2], questioned, method="fusion", threshold=-5.0)  # the weights still apply
    assert given[0].distance == pytest.approx(fused[0].distance) and given[0].threshold == -5.0


@pytest.mark.slow
def test_many_claims_from_a_csv_score_as_one_call_each(writers, model, tmp_path, capsys):
    (tmp_path / "refs2").mkdir()
    for path in writers[2][0][:3]:
        shutil.copy(path, tmp_path / "refs2" / path.name)
    one, two = writers[1], writers[2]
    claims = tmp_path / "claims.csv"
    references_1 = ";".join(str(p) for p in one[0][:5])
    claims.write_text(
        "writer,references,questioned\n"
        f"1,{references_1},{one[0][5]}\n"
        f"2,refs2,{two[1][1]}\n"  # a folder of references, relative to the CSV
        f"1,{references_1},{one[1][0]}\n"
    )
    read = read_claims(claims)
    assert [(c.writer, len(c.references), len(c.questioned)) for c in read] == [("1", 5, 2), ("2", 3, 1)]
    together = verify_claims(model, read, method="wd")
    first, third = verify_all(model, one[0][:5], [one[0][5], one[1][0]], method="wd")
    alone = [first, verify(model, two[0][:3], two[1][1], method="wd"), third]
    np.testing.assert_allclose([v.distance for v in together], [v.distance for v in alone], rtol=1e-5, atol=1e-5)
    # in the file's order, though each writer's questioned files were scored together
    assert [v.writer for v in together] == ["1", "2", "1"] and [v.point.k for v in together] == [5, 3, 5]
    status = cli.main(["verify", "--claims", str(claims), "--method", "wd"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("writer,questioned,method,references,score,threshold,verdict") and len(lines) == 4
    assert status == (0 if all(v.genuine for v in together) else 1)
    assert lines[2].split(",")[:4] == ["2", str(two[1][1]), "wd", "3"]


def test_a_bad_claims_file_is_named_with_its_line(tmp_path, writers):
    bad = tmp_path / "bad.csv"
    bad.write_text("writer,questioned\n1,x.png\n")
    with pytest.raises(InputFileError, match="bad.csv: no column references"):
        read_claims(bad)
    bad.write_text(f"writer,references,questioned\n1,{writers[1][0][0]},{writers[1][0][1]}\n1,,{writers[1][0][2]}\n")
    with pytest.raises(InputFileError, match="bad.csv, line 3: no references"):
        read_claims(bad)
    bad.write_text(f"writer,references,questioned\n1,{writers[1][0][0]},missing.png\n")
    with pytest.raises(InputFileError, match="missing.png: no such file"):
        verify_claims(None, read_claims(bad))
    assert cli.main(["verify", "--claims", str(bad), "--reference", str(writers[1][0][0])]) == 2


@pytest.mark.slow
def test_thresholds_chosen_on_the_users_own_writers_replace_the_cards_and_are_cached(model, writers, tmp_path):
    population = synth.generate(tmp_path / "population", n_writers=3, n_genuine=6, n_forged=3, seed=8)
    mine = model.calibrated_on(population, cache_dir=tmp_path / "cache", draws=2)
    table = mine.card.extra["operating_points"]
    assert set(table) == {"distance", "wd", "wd-aligned", "fusion"} and set(table["distance"]) == {"1", "2", "3", "5"}
    assert table["wd"]["1"]["writers"] == 3 and table != model.card.extra["operating_points"]
    assert len(list((tmp_path / "cache" / "calibrations").glob("*.json"))) == 1
    again = model.calibrated_on(population, cache_dir=tmp_path / "cache", draws=2)  # read back from the cache
    assert again.card.extra["operating_points"] == table
    genuine, forged = writers[1]
    verdict = verify(mine, genuine[:2], forged[0], method="wd")
    assert verdict.threshold == pytest.approx(table["wd"]["2"]["threshold"]) and verdict.point.writers == 3
    only_genuine = tmp_path / "only-genuine"
    shutil.copytree(population / "full_org", only_genuine / "full_org")
    with pytest.raises(ValueError, match="no forgeries"):
        model.calibrated_on(only_genuine, cache_dir=tmp_path / "cache")
