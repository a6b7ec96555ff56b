import csv

import numpy as np

from experiments.time_sharing import FEATURES, describe
from conftest import run_script

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNITS = 256  # window_ffn's default


def test_quick_run_reads_parameters_and_context_off_the_models(tmp_path):
    result = run_script("experiments/time_sharing.py", "--quick", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))

    windows = [row for row in rows if row["model"] == "window_ffn"]
    assert [int(row["window"]) for row in windows] == [1, 3, 11]
    for row in windows:
        window = int(row["window"])
        assert int(row["context_frames"]) == window
        assert int(row["first_layer_parameters"]) == (window * FEATURES + 1) * UNITS
    parameters = [int(row["parameters"]) for row in windows]
    assert parameters == sorted(set(parameters))
    # Only the first layer grows with the window.
    assert len({int(row["parameters"]) - int(row["first_layer_parameters"]) for row in windows}) == 1

    recurrent = [row for row in rows if row["model"] != "window_ffn"]
    assert [(row["model"], row["direction"]) for row in recurrent] == [
        ("framewise", "unidirectional"), ("framewise", "bidirectional"), ("dense_birnn_dense", "bidirectional")
    ]
    sequence = int(rows[0]["sequence_frames"])
    for row in recurrent:
        # The output at the middle frame sees every frame up to it, or, both ways, all of them.
        expected = sequence // 2 + 1 if row["direction"] == "unidirectional" else sequence
        assert int(row["context_frames"]) == expected
    basic = recurrent[0]
    assert basic["cell"] == "basic"
    units = 128  # framewise's default
    assert int(basic["first_layer_parameters"]) == FEATURES * units + units * units + units

    assert (tmp_path / "parameters.png").read_bytes()[:8] == PNG_SIGNATURE


def test_a_longer_sequence_widens_a_recurrent_context_but_not_its_parameters():
    rng = np.random.default_rng(0)
    short, long = (rng.normal(size=(1, frames, FEATURES)).astype(np.float32) for frames in (21, 61))
    rows = [describe("framewise", frames, cell="gru", bidirectional=False) for frames in (short, long)]
    assert [row["context_frames"] for row in rows] == [11, 31]
    assert rows[0]["parameters"] == rows[1]["parameters"]
