"""The literature table shipped with sigkit (sigkit/literature.csv) and the comparison chart beside its own results."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest

from sigkit import literature

SEED_FIGURES = {"accuracy": 91.12, "precision": 92.27, "recall": 92.43, "f1": 90.75, "eer": 4.88}


@pytest.fixture(scope="module")
def published():
    return literature.load_literature()


def value_of(table, method_contains, metric, dataset=None):
    rows = table[table["method"].str.contains(method_contains, regex=False) & (table["metric"] == metric)]
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    assert len(rows) == 1, f"expected one {method_contains} / {dataset} / {metric} row, found {len(rows)}"
    return rows["value"].iloc[0]


def test_seed_paper_figures_are_recorded_exactly(published):
    for metric, value in SEED_FIGURES.items():
        assert value_of(published, "(seed paper)", metric) == value


def test_required_literature_rows_are_present(published):
    assert value_of(published, "SigNet (Dey", "accuracy", dataset="CEDAR") == 100
    assert value_of(published, "(Liu et al.)", "accuracy") == pytest.approx(94.10)
    hafemann = published[published["doi"] == "10.1016/j.patcog.2017.05.012"]
    assert {"CEDAR", "GPDS-160"} <= set(hafemann["dataset"]) and set(hafemann["metric"]) == {"eer"}


def test_every_row_is_comparable_and_in_percent(published):
    for column in ("method", "dataset", "protocol", "citation", "source_note"):
        assert (published[column].str.len() > 0).all(), column
    assert published["value"].between(0, 100).all()
    assert not published.duplicated(["method", "dataset", "metric"]).any()
    assert not published["measured"].any()


def test_the_table_is_read_from_the_package_wherever_the_program_runs(tmp_path, monkeypatch, published):
    # a working directory and a project root without the table: an installed sigkit's situation
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGKIT_HOME", str(tmp_path))
    assert literature.load_literature().equals(published)


def test_dey_cedar_row_says_the_threshold_was_tuned_on_test_pairs(published):
    row = published[published["method"].str.startswith("SigNet (Dey") & (published["dataset"] == "CEDAR")]
    assert "tuned on test" in row["protocol"].iloc[0]


GOOD_HEADER = ",".join(literature.COLUMNS)
GOOD_ROW = "M,2020,CEDAR,WI Siamese,eer,4.5,Someone 2020,,read in abstract"


@pytest.mark.parametrize(
    "content, complaint",
    [
        ("method,year,dataset,metric,value\nM,2020,CEDAR,eer,4.5\n", "missing column"),
        (f"{GOOD_HEADER}\n{GOOD_ROW.replace('WI Siamese', '')}\n", "empty 'protocol' on line(s) 2"),
        (f"{GOOD_HEADER}\n{GOOD_ROW}\n{GOOD_ROW.replace('CEDAR', '  ')}\n", "empty 'dataset' on line(s) 3"),
        (f"{GOOD_HEADER}\n{GOOD_ROW.replace('4.5', '0.045e4')}\n", "0 to 100"),
        (f"{GOOD_HEADER}\n{GOOD_ROW.replace('4.5', 'n/a')}\n", "0 to 100"),
        (f'{GOOD_HEADER}\n{GOOD_ROW}\n"unclosed,2020\n', "not a readable CSV"),
    ],
)
def test_malformed_csv_raises_value_error_naming_the_file(tmp_path, content, complaint):
    path = tmp_path / "broken_literature.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="broken_literature.csv") as error:
        literature.load_literature(path)
    assert complaint in str(error.value)


def test_with_measured_adds_flagged_rows(published):
    table = literature.with_measured(
        published,
        {"accuracy": 89.3, "EER": 10.0},
        dataset="CEDAR",
        protocol="WI Siamese, threshold on validation writers",
    )
    mine = table[table["measured"]]
    assert len(table) == len(published) + 2
    assert set(mine["metric"]) == {"accuracy", "eer"} and (mine["method"] == "sigkit (this run)").all()
    assert (mine["dataset"] == "CEDAR").all() and len(published) == len(table[~table["measured"]])


@pytest.mark.parametrize(
    "measured, dataset, protocol",
    [
        ({"eer": 140.0}, "CEDAR", "WI"),
        ({"eer": 10.0}, "", "WI"),
        ({"eer": 10.0}, "CEDAR", " "),
    ],
)
def test_with_measured_refuses_results_that_cannot_be_compared(published, measured, dataset, protocol):
    with pytest.raises(ValueError):
        literature.with_measured(published, measured, dataset=dataset, protocol=protocol)


def test_chart_has_one_panel_per_metric_labelled_with_datasets_and_highlights_sigkit(published):
    table = literature.with_measured(
        published,
        {"accuracy": 89.3, "eer": 10.0},
        dataset="synthetic",
        protocol="WI Siamese, threshold on validation writers",
    )
    fig = literature.comparison_chart(table, metrics=("accuracy", "eer"))
    try:
        assert len(fig.axes) == 2
        for ax, metric in zip(fig.axes, ("accuracy", "eer")):
            labels = [tick.get_text() for tick in ax.get_yticklabels()]
            rows = table[table["metric"] == metric]
            assert len(ax.patches) == len(labels) == len(rows)
            for dataset in rows["dataset"]:
                assert any(dataset in label.replace("\n", " ") for label in labels), dataset
            own = [bar for bar in ax.patches if mcolors.same_color(bar.get_facecolor(), literature.OWN_COLOUR)]
            assert len(own) == 1
        assert "lower is better" in fig.axes[1].get_title(loc="left")
    finally:
        plt.close(fig)


def test_chart_keeps_a_panel_for_a_metric_without_rows(published):
    fig = literature.comparison_chart(published, metrics=("accuracy", "auc"))
    try:
        assert len(fig.axes) == 2 and not fig.axes[1].patches
    finally:
        plt.close(fig)


def test_ablation_verdicts_read_each_arm_against_the_baseline_interval():
    from sigkit.experiment import ablation_verdicts

    results = {
        "cbam": {"eer_single_skilled": 15.0, "eer_single_skilled_ci": [11.0, 19.0]},
        "better": {"eer_single_skilled": 9.5},
        "same": {"eer_single_skilled": 17.0},
        "worse": {"eer_single_skilled": 22.0},
    }
    better, same, worse = ablation_verdicts(results, "cbam", ["better", "same", "worse"])
    assert "helps" in better and "9.5 %" in better and "11.0-19.0" in better
    assert "cannot be told apart" in same and "hurts" in worse
    del results["cbam"]["eer_single_skilled_ci"]
    assert "no interval" in ablation_verdicts(results, "cbam", ["better"])[0]
