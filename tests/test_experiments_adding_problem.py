import keras
import numpy as np
import pytest

from experiments import adding_problem
from experiments.adding_problem import BASELINE, adding, build, chosen_rates, gate_statistics, lstm_gates
from experiments_testing import assert_png, read_csv


def test_adding_marks_one_number_in_each_half_and_targets_their_sum():
    frames, targets = adding(20_000, 9, np.random.default_rng(0))
    assert frames.shape == (20_000, 9, 2) and targets.shape == (20_000, 1)
    numbers, markers = frames[..., 0], frames[..., 1]
    assert set(np.unique(markers)) == {0, 1}
    np.testing.assert_array_equal(markers[:, :4].sum(axis=1), 1)
    np.testing.assert_array_equal(markers[:, 4:].sum(axis=1), 1)
    assert 0 <= numbers.min() and numbers.max() <= 1
    np.testing.assert_allclose(targets[:, 0], (numbers * markers).sum(axis=1), rtol=1e-6)
    # The baseline of the literature: answering 1 scores the variance of the sum of two uniforms.
    assert np.mean((1 - targets) ** 2) == pytest.approx(BASELINE, abs=0.007)


def test_adding_needs_a_marker_in_each_half():
    with pytest.raises(ValueError, match="at least 2"):
        adding(4, 1, np.random.default_rng(0))


def test_forget_bias_sets_only_the_lstm_forget_gate():
    model = build("lstm", 3, 2, 1, lstm_forget_bias=4.0)
    bias = model.get_layer("recurrent").cell.bias.numpy()
    np.testing.assert_array_equal(bias, [0] * 3 + [4] * 3 + [0] * 6)
    with pytest.raises(ValueError, match="LSTM only"):
        build("gru", 3, 2, 1, lstm_forget_bias=4.0)


def test_lstm_gates_recompute_the_layer_keras_runs():
    keras.utils.set_random_seed(0)
    model = build("lstm", 5, 2, 1, lstm_forget_bias=2.0)
    layer = model.get_layer("recurrent")
    frames, _ = adding(7, 12, np.random.default_rng(1))
    inputs, forgets, last = lstm_gates(layer, frames)
    assert inputs.shape == forgets.shape == (7, 12, 5)
    np.testing.assert_allclose(last, layer(frames).numpy(), atol=1e-5)
    assert 0 < forgets.min() and forgets.max() < 1


def test_memory_span_multiplies_the_forget_gates_after_the_kept_frame():
    model = build("lstm", 4, 2, 1, lstm_forget_bias=3.0)
    layer = model.get_layer("recurrent")
    # Zero weights: every forget gate is sigmoid(3), every input gate sigmoid(0).
    layer.cell.kernel.assign(np.zeros(layer.cell.kernel.shape))
    layer.cell.recurrent_kernel.assign(np.zeros(layer.cell.recurrent_kernel.shape))
    frames, _ = adding(6, 10, np.random.default_rng(2))
    kept = np.zeros((6, 10), bool)
    kept[:3, 2] = kept[3:, 5] = True
    statistics = gate_statistics(layer, frames, kept)
    forget = 1 / (1 + np.exp(-3.0))
    # 7 later frames for half the sequences, 4 for the other half.
    assert statistics["log10_memory_span"] == pytest.approx(5.5 * np.log10(forget), abs=0.01)
    assert statistics["forget_gate_mean"] == pytest.approx(forget, abs=1e-4)
    assert statistics["input_gate_kept"] == statistics["input_gate_rest"] == pytest.approx(0.5)


def test_chosen_rates_compare_seed_zero_training_mse():
    rows = [
        dict(variant="lstm", T=50, seed=0, learning_rate=0.01, final_training_mse=0.2),
        dict(variant="lstm", T=50, seed=0, learning_rate=0.003, final_training_mse=0.1),
        dict(variant="lstm", T=50, seed=1, learning_rate=0.01, final_training_mse=0.0),
        dict(variant="lstm", T=100, seed=0, learning_rate=0.01, final_training_mse=0.1),
    ]
    assert chosen_rates(rows) == {("lstm", 50): 0.003, ("lstm", 100): 0.01}


def test_quick_run_writes_sane_results_and_plot(tmp_path):
    adding_problem.main(["--quick", "--out", str(tmp_path)])
    quick = adding_problem.QUICK
    variants = ["basic", "lstm", "gru"]
    rows = read_csv(tmp_path / "results.csv")
    sweep = [row for row in rows if row["variant"] in variants]
    assert [(row["variant"], int(row["T"]), float(row["learning_rate"])) for row in sweep] == [
        (name, length, rate) for length in quick["lengths"] for name in variants for rate in quick["learning_rates"]
    ]
    chosen = {int(row["T"]): row["learning_rate"] for row in sweep
              if row["variant"] == "lstm" and row["chosen_rate"] == "True"}
    # The larger forget bias runs at the rate chosen for Keras's, its only change.
    assert [(row["variant"], int(row["T"]), row["learning_rate"]) for row in rows[len(sweep):]] == [
        ("lstm, forget bias 5", length, chosen[length]) for length in quick["lengths"]
    ]
    for row in rows:
        assert 0 < float(row["test_mse"]) and np.isfinite(float(row["final_training_mse"]))
        # 1,000 held-out sequences: their MSE of answering 1 lies near the baseline of 1/6.
        assert float(row["test_mse_answering_1"]) == pytest.approx(BASELINE, abs=0.03)
    for name in variants:
        for length in quick["lengths"]:
            chosen = [row for row in rows if (row["variant"], int(row["T"])) == (name, length)]
            assert sum(row["chosen_rate"] == "True" for row in chosen) == 1

    curves = read_csv(tmp_path / "curves.csv")
    assert len(curves) == len(rows) * (quick["evaluations"] + 1)
    assert {int(row["step"]) for row in curves} == {0, quick["steps"] // 2, quick["steps"]}

    first_symbol = read_csv(tmp_path / "first_symbol.csv")
    assert [float(row["forget_bias"]) for row in first_symbol] == [1.0, 5.0]
    assert all(0 <= float(row["accuracy"]) <= 1 for row in first_symbol)

    gates = read_csv(tmp_path / "gates.csv")
    lstm_runs = sum(row["variant"].startswith("lstm") for row in rows)
    assert len(gates) == lstm_runs + len(first_symbol)
    for row in gates:
        for name in ("input_gate_kept", "input_gate_rest", "forget_gate_mean"):
            assert 0 < float(row[name]) < 1
        assert float(row["log10_memory_span"]) <= 0
    # After a few steps the forget gates still sit near their bias: sigmoid(1) ≈ 0.73, sigmoid(5) ≈ 0.99.
    spans = {float(row["forget_bias"]): float(row["log10_memory_span"])
             for row in gates if row["task"] == "first_symbol"}
    assert spans[5.0] > -0.1 > spans[1.0]

    assert_png(tmp_path / "mse.png")
