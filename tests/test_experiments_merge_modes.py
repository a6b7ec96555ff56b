"""experiments/merge_modes.py --quick writes its CSVs and plot with sane values."""

from experiments import common, merge_modes
from experiments_testing import assert_png, read_csv


def test_quick_run_compares_every_merge_mode_at_equal_parameters(tmp_path):
    assert merge_modes.main(["--quick", "--out", str(tmp_path)]) == 0

    rows = read_csv(tmp_path / "results.csv")
    tasks = list(common.BIDIRECTIONAL_TASKS)
    assert [(row["task"], row["merge"]) for row in rows] == [(t, m) for t in tasks for m in merge_modes.MERGE_MODES]
    for task in tasks:
        runs = {row["merge"]: row for row in rows if row["task"] == task}
        for row in runs.values():
            assert 0.0 <= float(row["accuracy"]) <= 1.0
            assert row["metric"] == common.BIDIRECTIONAL_TASKS[task]["metric"]
        budget = int(runs["sum"]["parameters"])
        assert int(runs["ave"]["parameters"]) == budget and runs["ave"]["units"] == runs["sum"]["units"]
        # Concat's wider output costs parameters, paid for with fewer units, but no more than needed.
        assert int(runs["concat"]["units"]) < int(runs["sum"]["units"])
        assert 0.9 * budget < int(runs["concat"]["parameters"]) <= budget

    summary = read_csv(tmp_path / "summary.csv")
    assert len(summary) == len(rows) and all(row["seeds"] == "1" for row in summary)
    assert_png(tmp_path / "merge_modes.png")


def test_units_for_parameters_is_the_largest_that_fits():
    from zoo.settings import for_model

    settings = for_model("framewise", merge="concat", units=8, limit=32)
    budget = common.parameters_of(for_model("framewise", merge="sum", units=8, limit=32))
    units = common.units_for_parameters(settings, budget)
    assert common.parameters_of(for_model("framewise", merge="concat", units=units, limit=32)) <= budget
    assert common.parameters_of(for_model("framewise", merge="concat", units=units + 1, limit=32)) > budget
