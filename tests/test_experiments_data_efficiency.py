"""experiments/data_efficiency.py --quick writes its CSVs and plot with sane values."""

from experiments import data_efficiency
from experiments_testing import assert_png, read_csv


def test_training_sizes_are_rounded_shares_of_the_training_split():
    assert data_efficiency.training_sizes(data_efficiency.FRACTIONS, 484) == [24, 48, 121, 242, 484]
    assert data_efficiency.training_sizes([0.001, 2.0], 484) == [1, 484]


def test_quick_run_writes_results_summary_and_plot(tmp_path):
    assert data_efficiency.main(["--quick", "--out", str(tmp_path)]) == 0

    rows = read_csv(tmp_path / "results.csv")
    labels = [label for label, *_ in data_efficiency.MODELS]
    assert [row["model"] for row in rows] == labels
    for row in rows:
        assert 0.0 <= float(row["frame_accuracy"]) <= 1.0
        assert int(row["train_utterances"]) == data_efficiency.QUICK_TOTAL
        assert int(row["train_frames"]) > int(row["train_utterances"])
        assert int(row["epochs"]) == 1 and float(row["seconds"]) > 0
    parameters = {row["model"]: int(row["parameters"]) for row in rows}
    # The window's first weight matrix grows with it; the recurrent layer's does not.
    assert 0 < parameters["window_ffn, 3 frames"] < parameters["window_ffn, 11 frames"] < parameters["window_ffn, 41 frames"]
    assert 0 < parameters["framewise, unidirectional"] < parameters["framewise, bidirectional"]

    summary = read_csv(tmp_path / "summary.csv")
    assert [row["model"] for row in summary] == labels
    for row, run in zip(summary, rows):
        assert row["seeds"] == "1" and row["frame_accuracy_std"] == "0.0"
        assert float(row["frame_accuracy_mean"]) == float(run["frame_accuracy"])
    assert_png(tmp_path / "accuracy.png")
