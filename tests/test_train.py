"""train.py end to end: the run folder's outputs, resume after an interruption, and usage errors."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from conftest import ROOT, run_script, write_frames_npz
from zoo import settings, training

OUTPUTS = ["model.keras", "saved_model", "model.tflite", "config.json", "metrics.json", "history.csv", "learning_curves.png"]


def test_train_writes_every_output(trained_run):
    out, result = trained_run
    for name in OUTPUTS:
        assert (out / name).exists(), name
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    assert not (out / "checkpoint").exists()
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"

    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "sentiment" and config["dataset"] == "product_reviews_zh"
    assert config["settings"]["limit"] == 64 and config["settings"]["units"] == 8
    assert config["settings"]["cell"] == "gru"  # sentiment's registry default
    assert "train.py" in config["command"] and "--limit" in config["command"]
    assert {"tensorflow", "keras", "python"} <= set(config["versions"])
    assert config["vocabularies"]["text"]["tokens"] == "chars"

    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["examples"] > 0 and sum(map(sum, metrics["confusion_matrix"])) == metrics["examples"]
    with open(out / "history.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 1 and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])
    assert "parameters" in result.stdout and "Test metrics" in result.stdout


def test_interrupted_run_resumes_from_its_last_epoch(tmp_path):
    frames = write_frames_npz(tmp_path / "frames.npz")
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "train.py"), "--model", "framewise", "--dataset", str(frames),
               "--units", "4", "--patience", "1000", "--out", str(out)]
    process = subprocess.Popen([*command, "--epochs", "1000"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    metadata = out / "checkpoint" / "training_metadata.json"
    deadline = time.monotonic() + 120
    while not metadata.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = json.loads(metadata.read_text())["epoch"]
    assert done >= 1 and not (out / "model.keras").exists()

    result = subprocess.run([*command, "--epochs", str(done + 1)], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming the interrupted run in {out} from epoch {done + 1}" in result.stdout
    with open(out / "history.csv") as file:
        epochs = [int(row["epoch"]) for row in csv.DictReader(file)]
    assert epochs[-1] == done and len(epochs) >= done + 1
    assert (out / "model.keras").exists()


def test_a_time_budget_ends_training_after_the_epochs_that_fit(tmp_path, capsys):
    frames = write_frames_npz(tmp_path / "frames.npz")
    out = tmp_path / "run"
    # A budget of a few milliseconds: the first epoch overruns it, so it is the last of the 50.
    budgeted = settings.for_model("framewise", dataset=str(frames), units=4, epochs=50, patience=1000,
                                  schedule="cosine", time_budget=1e-4)
    training.train(budgeted, out, command="test", verbose=1)
    with open(out / "history.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [0]
    assert "Time budget 0.0001 min" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["settings"]["time_budget"] == 1e-4
    assert (out / "model.keras").exists() and not (out / "checkpoint").exists()


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    settings = {"model": "framewise", "units": 4}
    (out / "config.json").write_text(json.dumps({"settings": settings, "vocabularies": {}}))
    frames = write_frames_npz(tmp_path / "frames.npz")
    with pytest.raises(SystemExit) as exit:
        train.main(["--model", "framewise", "--dataset", str(frames), "--units", "8", "--out", str(out)])
    assert exit.value.code == 2


def test_finished_run_folder_is_not_overwritten(trained_run, capsys):
    out, _ = trained_run
    before = (out / "model.keras").stat().st_mtime
    with pytest.raises(SystemExit) as exit:
        train.main(["--model", "sentiment", "--limit", "64", "--out", str(out)])
    assert exit.value.code == 2
    assert "holds a finished sentiment run" in capsys.readouterr().err
    assert (out / "model.keras").stat().st_mtime == before


@pytest.mark.parametrize(
    "arguments,listed",
    [
        (["--model", "transformer"], "'sentiment', 'framewise', 'dense_birnn_dense', 'window_ffn', 'seq2seq', 'g2p', 'char_lm'"),
        (["--cell", "rnn"], "'basic', 'lstm', 'gru'"),
        (["--tokens", "bytes"], "'chars', 'words'"),
        (["--window", "4"], "must be odd"),
        (["--epochs", "0"], "positive integer"),
        (["--ema", "1"], "must be in [0, 1)"),
        (["--weight-decay", "-0.1"], "must be in [0, 1)"),
        (["--merge", "max"], "'sum', 'concat', 'ave', 'mul'"),
        (["--share-weights", "both"], "'none', 'input', 'recurrent', 'all'"),
        (["--cell", "lstm", "--share-weights", "all"], "basic cell only"),
        (["--model", "sentiment", "--share-weights", "all"], "not the gru cell: add --cell basic"),
        (["--unknown-flag"], "unrecognized arguments"),
    ],
)
def test_bad_flag_values_exit_2_listing_the_valid_ones(arguments, listed, capsys):
    with pytest.raises(SystemExit) as exit:
        train.main(arguments)
    assert exit.value.code == 2
    assert listed in capsys.readouterr().err


def test_merge_and_share_weights_reach_the_model_and_its_config(tmp_path):
    out = tmp_path / "run"
    dataset = write_frames_npz(tmp_path / "frames.npz")
    arguments = ["--model", "framewise", "--dataset", dataset, "--units", "4", "--epochs", "1",
                 "--merge", "concat", "--share-weights", "recurrent", "--out", out]
    assert train.main(map(str, arguments)) == 0
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert (settings["merge"], settings["share_weights"]) == ("concat", "recurrent")
    model = keras.saving.load_model(out / "model.keras")
    assert model.get_layer("output").kernel.shape[0] == 8
    assert len(model.get_layer("recurrent_1").trainable_weights) == 5


def test_unknown_dataset_lists_the_known_ones_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        train.main(["--model", "seq2seq", "--dataset", "no_such_dataset", "--out", str(out)])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert "no_such_dataset" in error and "number_words, cmudict_g2p" in error
    assert not out.exists()


def test_list_prints_every_model_with_its_default_dataset(capsys):
    assert train.main(["--list"]) == 0
    listing = capsys.readouterr().out
    for name, dataset in [("sentiment", "product_reviews_zh"), ("window_ffn", "spoken_digit_frames"),
                          ("seq2seq", "number_words"), ("char_lm", "pydoc_text")]:
        assert name in listing and dataset in listing


def test_help_documents_every_flag_with_its_default():
    result = run_script("train.py", "--help")
    assert result.returncode == 0
    for flag in ["--model", "--dataset", "--epochs", "--batch-size", "--learning-rate", "--units", "--cell",
                 "--clipnorm", "--seed", "--limit", "--out", "--list", "--merge", "--share-weights", "--steps",
                 "--time-budget"]:
        assert flag in result.stdout
    assert result.stdout.count("default") >= 15


class ScriptedValidationLoss(keras.callbacks.Callback):
    """Replaces val_loss by a fixed sequence, keeps each epoch's weights, and can interrupt the run."""

    def __init__(self, losses, weights_by_epoch, interrupt_before=None):
        super().__init__()
        self.losses, self.weights_by_epoch, self.interrupt_before = losses, weights_by_epoch, interrupt_before

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.interrupt_before:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.losses[epoch]
        self.weights_by_epoch[epoch] = self.model.get_weights()


def test_resumed_run_keeps_early_stopping_count_and_best_weights(tmp_path):
    # Best at epoch 3 (index 2); with patience 3 training stops after epoch 6 (index 5). A
    # restarted count would run on to index 6 and keep the weights of index 3 instead.
    losses = [3.0, 2.0, 1.0, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1]
    inputs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    targets = inputs.sum(axis=1, keepdims=True)
    weights_by_epoch = {}

    def fit(interrupt_before=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.01), loss="mse")
        callbacks = [
            keras.callbacks.BackupAndRestore(str(tmp_path / training.CHECKPOINT)),
            ScriptedValidationLoss(losses, weights_by_epoch, interrupt_before),
            training.ResumableEarlyStopping(tmp_path / training.CHECKPOINT, patience=3, restore_best_weights=True),
        ]
        history = model.fit(inputs, targets, epochs=len(losses), callbacks=callbacks, verbose=0)
        return model, history

    with pytest.raises(KeyboardInterrupt):
        fit(interrupt_before=4)
    model, history = fit()

    assert history.epoch == [4, 5]
    for weights, best in zip(model.get_weights(), weights_by_epoch[2]):
        np.testing.assert_array_equal(weights, best)


class BatchRecorder(keras.Model):
    """A linear model that records the first column of every batch it trains on (run eagerly)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen = []

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.seen.append(data[0].numpy()[:, 0].astype(int).tolist())
        return super().train_step(data)


def shuffled_id_batches():
    """12 ids in 3 batches, reshuffled every pass; a new dataset with the same seed draws the same orders."""
    ids = tf.data.Dataset.range(12).shuffle(12, seed=1).batch(4)
    return ids.map(lambda batch: (tf.cast(batch[:, None], "float32"), tf.zeros_like(batch, "float32")))


def test_fit_trains_epoch_after_epoch_on_successive_passes_of_one_iterator():
    passes = shuffled_id_batches()
    expected = [[batch.numpy()[:, 0].astype(int).tolist() for batch, _ in passes] for _ in range(3)]
    prepared = types.SimpleNamespace(batches={"train": shuffled_id_batches(), "validation": shuffled_id_batches()})
    model = BatchRecorder()
    model.compile("sgd", "mse", run_eagerly=True)
    history, _ = training.fit(model, prepared, settings.Settings(epochs=3), callbacks=[], verbose=0)

    assert len(history.history["loss"]) == 3
    # Keras would make a new iterator at every epoch's start and one more at every epoch's end, dropping a
    # shuffled order each time: epoch 2 trained on the third pass.
    assert [model.seen[epoch * 3 : epoch * 3 + 3] for epoch in range(3)] == expected
