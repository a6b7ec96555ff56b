"""A task added in one new file (tests/toy_regression.py) trains, exports and evaluates through the library."""

import json

import numpy as np
import pytest
import tensorflow as tf

import evaluate
import toy_regression
from zoo import evaluation, settings, training


@pytest.fixture
def registered():
    toy_regression.register()
    yield
    toy_regression.unregister()


def write_sequences(path, count=60, dim=3, seed=0):
    """Sequences whose target is the sum of their first feature: a recurrent layer can learn it."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 7, size=count)
    features = rng.uniform(0.1, 1.0, size=(lengths.sum(), dim)).astype(np.float32)
    targets = np.add.reduceat(features[:, 0], np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    np.savez(path, features=features, targets=targets, lengths=lengths)
    return path


def test_a_new_task_trains_exports_and_evaluates_like_the_built_in_ones(registered, tmp_path, capsys):
    dataset = write_sequences(tmp_path / "sequences.npz")
    run = tmp_path / "run"
    toy = settings.for_model("toy_regression", dataset=str(dataset), epochs=40, patience=40)
    metrics = training.train(toy, run, command="test", verbose=0)
    capsys.readouterr()

    # Learnt from the data: well below always answering the training mean.
    assert metrics["mse"] < 0.5 * metrics["baseline_mse"], metrics
    for name in ("model.keras", "saved_model", "model.tflite", "stream.tflite", "config.json", "metrics.json"):
        assert (run / name).exists(), name
    assert json.loads((run / "config.json").read_text())["task"] == "sequence_regression"

    # The SavedModel loads with plain TensorFlow and agrees with Keras; TF Lite scores the same.
    frames = np.random.default_rng(1).uniform(0.1, 1.0, size=(2, 5, 3)).astype(np.float32)
    import keras

    expected = keras.saving.load_model(run / "model.keras").predict_on_batch(frames)
    saved_model = tf.saved_model.load(str(run / "saved_model"))
    served = saved_model.serve(tf.constant(frames))["value"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    scores = {}
    for artifact in (run, run / "saved_model", run / "model.tflite"):
        assert evaluate.main([str(artifact), "--json"]) == 0
        scores[artifact.name] = json.loads(capsys.readouterr().out)["mse"]
    assert scores["run"] == pytest.approx(metrics["mse"], rel=1e-5)
    assert scores["saved_model"] == pytest.approx(metrics["mse"], rel=1e-4)
    assert scores["model.tflite"] == pytest.approx(metrics["mse"], rel=1e-4)

    np.savez(tmp_path / "one.npz", features=frames[0])
    assert evaluate.main([str(run), "--input", str(tmp_path / "one.npz")]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(float(expected[0, 0]), abs=1e-4)


def test_the_registries_list_the_new_task_only_while_registered(registered):
    from zoo import models, tasks

    assert models.get("toy_regression").task in tasks.TASKS
    toy_regression.unregister()
    with pytest.raises(ValueError, match="Unknown model 'toy_regression'"):
        models.get("toy_regression")
    toy_regression.register()


def test_the_baseline_is_scored_on_the_same_split(registered, tmp_path):
    dataset = write_sequences(tmp_path / "sequences.npz")
    toy = settings.for_model("toy_regression", dataset=str(dataset))
    from zoo import data

    prepared = data.prepare("sequence_regression", toy)
    baseline = evaluation.baseline({"task": "sequence_regression"}, prepared, "test")
    targets = np.concatenate([target.numpy() for _, target in prepared.batches["test"]])
    train_mean = np.mean([target.numpy() for _, target in prepared.batches["train"].unbatch()])
    assert baseline["baseline_mse"] == pytest.approx(np.mean((targets - train_mean) ** 2), rel=1e-5)
