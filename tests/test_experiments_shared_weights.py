"""experiments/shared_weights.py --quick writes its CSVs and plot with sane values."""

from experiments import common, shared_weights
from experiments_testing import assert_png, read_csv


def test_quick_run_compares_every_sharing_with_the_parameters_it_saves(tmp_path):
    assert shared_weights.main(["--quick", "--out", str(tmp_path)]) == 0

    rows = read_csv(tmp_path / "results.csv")
    tasks = list(common.BIDIRECTIONAL_TASKS)
    names = ["none", "input", "recurrent", "all"]
    assert [(row["task"], row["shared"]) for row in rows] == [(task, name) for task in tasks for name in names]
    for task, inputs in zip(tasks, [39, 8]):  # 39-dim frames; sentiment's --quick embeddings of 8
        runs = {row["shared"]: row for row in rows if row["task"] == task}
        parameters = {name: int(row["parameters"]) for name, row in runs.items()}
        units = int(runs["none"]["units"])
        # Sharing everything drops one direction's W_xh, W_hh and b.
        assert parameters["none"] - parameters["all"] == inputs * units + units * units + units
        assert parameters["none"] - parameters["input"] == inputs * units + units
        assert parameters["none"] - parameters["recurrent"] == units * units
        assert all(0.0 <= float(row["accuracy"]) <= 1.0 for row in runs.values())

    summary = read_csv(tmp_path / "summary.csv")
    assert [row["shared"] for row in summary] == names * len(tasks)
    assert_png(tmp_path / "shared_weights.png")
