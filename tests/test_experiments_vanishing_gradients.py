import csv

import keras
import numpy as np

from experiments import vanishing_gradients
from experiments.vanishing_gradients import CHANCE, FEATURES, SYMBOLS, gradient_by_distance, one_hot, remember_first

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_remember_first_puts_the_answer_first_and_only_distractors_after():
    tokens, answers = remember_first(50, 6, np.random.default_rng(0))
    assert tokens.shape == (50, 7)
    np.testing.assert_array_equal(tokens[:, 0], answers)
    assert answers.max() < SYMBOLS <= tokens[:, 1:].min()
    # Every symbol turns up as an answer, so guessing is worth 1/SYMBOLS.
    assert set(answers) == set(range(SYMBOLS))


def test_gradient_by_distance_counts_back_from_the_output():
    frames = keras.Input((None, FEATURES))
    last_frame = keras.layers.Lambda(lambda x: x[:, -1])(frames)
    model = keras.Model(frames, keras.layers.Dense(SYMBOLS, activation="softmax")(last_frame))
    tokens, answers = remember_first(4, 3, np.random.default_rng(0))
    norms = gradient_by_distance(model, one_hot(tokens), answers)
    assert norms.shape == (4,)
    assert norms[0] > 0
    np.testing.assert_array_equal(norms[1:], 0)


def test_quick_run_writes_sane_results_and_plots(tmp_path):
    vanishing_gradients.main(["--quick", "--out", str(tmp_path)])

    rows = read_csv(tmp_path / "results.csv")
    assert [(row["cell"], row["k"]) for row in rows] == [
        (cell, k) for k in ("2", "4") for cell in ("basic", "lstm", "gru")
    ]
    for row in rows:
        assert 0 <= float(row["accuracy"]) <= 1
        assert float(row["chance"]) == CHANCE
        assert np.isfinite(float(row["mean_training_loss"]))
    # Same units (4) for every cell: W_xh, W_hh and b once for the basic cell, four times for the
    # LSTM, three times with two biases for Keras's GRU; then the 4 -> 8 softmax.
    output = 4 * SYMBOLS + SYMBOLS
    expected = {"basic": 16 * 4 + 4 * 4 + 4, "lstm": 4 * (16 * 4 + 4 * 4 + 4), "gru": 3 * (16 * 4 + 4 * 4 + 2 * 4)}
    assert {row["cell"]: int(row["parameters"]) for row in rows} == {
        cell: count + output for cell, count in expected.items()
    }

    gradients = read_csv(tmp_path / "gradients.csv")
    # The longest k only: frames 0 .. 4 steps before the output, per cell and stage.
    assert len(gradients) == 3 * 2 * 5
    assert {row["k"] for row in gradients} == {"4"}
    assert {int(row["distance"]) for row in gradients} == set(range(5))
    norms = np.array([float(row["gradient_norm"]) for row in gradients])
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)

    for name in ("accuracy.png", "gradients.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
