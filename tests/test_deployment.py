"""Deployment: SavedModels that plain TensorFlow loads, TF Lite on LiteRT with built-in ops, and streaming.

Every architecture's Keras model, SavedModel and model.tflite agree on inputs
of several lengths; unidirectional models fed one frame at a time through
stream.tflite or the SavedModel's `step` reproduce the whole-sequence outputs.
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import evaluate
from zoo import data, decoding, export, models, streaming
from zoo.models import cells
from zoo.tasks import translation
from zoo.data import DataInfo
from zoo.settings import for_model

LENGTHS = (1, 4, 13)
TOLERANCE = 1e-5
# The basic cell, the LSTM (which streams h and c) and the GRU.
STREAMING_RUNS = ("framewise_stream", "framewise_stream_lstm", "char_lm", "char_lm_gru")


@pytest.fixture(scope="module")
def run_of(tiny_run, trained_run):
    """run_of(name) -> a finished tiny run folder of `name` (sentiment: the session's train.py run)."""
    return lambda name: trained_run[0] if name == "sentiment" else tiny_run(name)


def load_run(run):
    return keras.saving.load_model(run / "model.keras"), json.loads((run / "config.json").read_text())


def raw_inputs(model, config, seed=0):
    """serving_default's inputs, LENGTHS frames or tokens long: {"frames": (3, 13, dim)} or {"text": (3,)}."""
    if config["task"] == "frames":
        rng = np.random.default_rng(seed)
        frames = np.zeros((len(LENGTHS), max(LENGTHS), model.inputs[0].shape[-1]), np.float32)
        for row, length in enumerate(LENGTHS):
            frames[row, :length] = rng.normal(size=(length, frames.shape[-1]))
        return {"frames": frames}
    entry = config["vocabularies"]["source" if config["task"] == "translation" else "text"]
    tokens = [token for token in entry["vocabulary"] if token.strip()]
    separator = " " if entry["tokens"] == "words" else ""
    texts = [separator.join(tokens[index % len(tokens)] for index in range(length)) for length in LENGTHS]
    return {"text": np.array(texts)}


def token_ids(config, texts):
    entry = config["vocabularies"]["source" if config["task"] == "translation" else "text"]
    return data.vectorizer_from_vocabulary(entry)(texts).numpy()


def keras_outputs(model, config, inputs):
    """What serving_default should return for `inputs`, computed with the Keras model (and token_ids for seq2seq)."""
    task = config["task"]
    if task == "frames":
        return {"probabilities": model(inputs["frames"]).numpy()}
    ids = token_ids(config, inputs["text"])
    if task == "sentiment":
        return {"probabilities": model(ids).numpy()}
    if task == "language_model":
        return {"probabilities": tf.nn.softmax(model(ids)).numpy()}
    target = config["vocabularies"]["target"]
    start, end = translation.target_ids(target["vocabulary"])
    decoded = decoding.greedy_decode(model, ids, start, end, translation.MAX_DECODE_LENGTH)
    text = translation.detokenize(decoded, target["vocabulary"], target["tokens"]).numpy()
    return {"token_ids": decoded.numpy(), "translation": np.char.decode(text.astype(bytes), "utf-8")}


def assert_agree(expected, actual, where):
    """Every output both have: floats within TOLERANCE, ids and strings equal."""
    shared = set(expected) & set(actual)
    assert shared, f"{where}: no output in common ({sorted(expected)} vs {sorted(actual)})"
    for key in shared:
        if expected[key].dtype.kind == "f":
            difference = np.abs(expected[key] - actual[key]).max()
            assert difference <= TOLERANCE, f"{where} {key}: max abs diff {difference:.2e}"
        else:
            np.testing.assert_array_equal(expected[key], actual[key], err_msg=f"{where} {key}")


def as_numpy(outputs):
    """A signature's outputs as NumPy arrays, strings decoded."""
    arrays = {key: value.numpy() for key, value in outputs.items()}
    return {
        key: np.char.decode(value.astype(bytes), "utf-8") if value.dtype == object else value
        for key, value in arrays.items()
    }


@pytest.mark.parametrize("name", list(models.MODELS))
def test_keras_saved_model_and_tflite_agree(run_of, name):
    run = run_of(name)
    model, config = load_run(run)
    inputs = raw_inputs(model, config)
    expected = keras_outputs(model, config, inputs)

    serving = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"]
    saved = as_numpy(serving(**{key: tf.constant(value) for key, value in inputs.items()}))
    assert_agree(expected, saved, f"{name} SavedModel")

    # model.tflite runs one unpadded sequence at a time; Keras ran them padded, in one batch.
    sequence = export.tflite_interpreter(run / "model.tflite").get_signature_runner("sequence")
    ids = None if config["task"] == "frames" else token_ids(config, inputs["text"])
    for row, length in enumerate(LENGTHS):
        if ids is None:
            lite = sequence(frames=inputs["frames"][row : row + 1, :length])
        else:
            length = int((ids[row] != 0).sum())
            (input_name,) = sequence.get_input_details()
            lite = sequence(**{input_name: ids[row : row + 1, :length].astype(np.int32)})
        row_expected = {
            key: value[row : row + 1, :length] if value.ndim == 3 else value[row : row + 1]
            for key, value in expected.items()
        }
        assert_agree(row_expected, lite, f"{name} TF Lite, length {length}")


@pytest.mark.parametrize("name", ["sentiment", "seq2seq", "g2p"])
def test_saved_model_stores_each_weight_once(run_of, name):
    run = run_of(name)
    model, _ = load_run(run)
    reader = tf.train.load_checkpoint(str(run / "saved_model" / "variables" / "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    stored = sum(
        int(np.prod(shape)) for key, shape in reader.get_variable_to_shape_map().items()
        if key.endswith("VARIABLE_VALUE") and dtypes[key].is_floating
    )
    assert stored == model.count_params()


def test_saved_models_load_with_tensorflow_alone(run_of, tmp_path):
    """A fresh Python without this repository on its path calls every SavedModel's serving_default on raw inputs."""
    names = list(models.MODELS)
    expected = {}
    for name in names:
        model, config = load_run(run_of(name))
        inputs = raw_inputs(model, config)
        np.savez(tmp_path / f"{name}-inputs.npz", **inputs)
        expected[name] = keras_outputs(model, config, inputs)
    script = """
import sys
import numpy as np
import tensorflow as tf


# Refuses this repository's packages, which its editable install puts on every Python's path.
class WithoutTheRepository:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("zoo", "datasets", "experiments"):
            raise ImportError(f"{name} belongs to the repository: a SavedModel must load without it")


sys.meta_path.insert(0, WithoutTheRepository())
for saved_model, name in zip(sys.argv[1::2], sys.argv[2::2]):
    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    with np.load(name + "-inputs.npz") as inputs:
        outputs = serving(**{key: tf.constant(inputs[key]) for key in inputs})
    outputs = {key: value.numpy() for key, value in outputs.items()}
    # Strings as unicode arrays: np.load refuses pickled object arrays.
    outputs = {
        key: np.char.decode(value.astype(bytes), "utf-8") if value.dtype == object else value
        for key, value in outputs.items()
    }
    np.savez(name + "-outputs.npz", **outputs)
"""
    arguments = [argument for name in names for argument in (str(run_of(name) / "saved_model"), name)]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, *arguments],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in names:
        with np.load(tmp_path / f"{name}-outputs.npz") as outputs:
            assert_agree(expected[name], dict(outputs), f"{name} SavedModel in a fresh process")


@pytest.mark.parametrize("name", ["seq2seq", "g2p"])
def test_saved_model_beam_search_matches_keras(run_of, name):
    model, config = load_run(run_of(name))
    inputs = raw_inputs(model, config)
    target = config["vocabularies"]["target"]
    start, end = translation.target_ids(target["vocabulary"])
    ids = decoding.beam_search(model, token_ids(config, inputs["text"]), start, end, translation.MAX_DECODE_LENGTH,
                               3, translation.LENGTH_PENALTY)
    expected = translation.detokenize(ids, target["vocabulary"], target["tokens"]).numpy()
    saved = tf.saved_model.load(str(run_of(name) / "saved_model"))
    np.testing.assert_array_equal(saved.beam_search(tf.constant(inputs["text"]), tf.constant(3))["translation"].numpy(),
                                  expected)


def stream(step, sequence, state_size, frame_dtype):
    """step's outputs (time, classes) over `sequence`, one frame at a time from a zero state."""
    state = np.zeros((1, state_size), np.float32)
    outputs = []
    for frame in np.asarray(sequence, dtype=frame_dtype):
        result = step(frame=frame[None], state=state)
        state = np.asarray(result["next_state"])
        outputs.append(np.asarray(result["output"])[0])
    return np.stack(outputs)


@pytest.mark.parametrize("name", STREAMING_RUNS)
def test_streaming_reproduces_the_whole_sequence(run_of, name):
    run = run_of(name)
    model, config = load_run(run)
    size = streaming.state_size(model)
    recurrent_layers = config["settings"]["depth"] if config["task"] == "frames" else 1
    assert size == recurrent_layers * config["settings"]["units"] * cells.state_count(config["settings"]["cell"])
    lite = export.tflite_interpreter(run / "stream.tflite").get_signature_runner("step")
    details = lite.get_input_details()
    assert list(details["state"]["shape"]) == [1, size]
    saved_step = tf.saved_model.load(str(run / "saved_model")).signatures["step"]

    def saved(frame, state):
        return saved_step(frame=tf.constant(frame), state=tf.constant(state))

    inputs = raw_inputs(model, config, seed=1)
    for row, length in enumerate(LENGTHS):
        if config["task"] == "frames":
            sequence = inputs["frames"][row, :length].copy()
            # An all-zero frame is padding to the whole-sequence model: the state must carry over it.
            sequence[length // 2] = 0.0
            expected = model(sequence[None]).numpy()[0]
        else:
            ids = token_ids(config, inputs["text"][row : row + 1])
            sequence = ids[0, : (ids[0] != 0).sum()]
            expected = tf.nn.softmax(model(sequence[None])).numpy()[0]
        for where, step in (("stream.tflite", lite), ("SavedModel step", saved)):
            outputs = stream(step, sequence, size, details["frame"]["dtype"])
            difference = np.abs(outputs - expected).max()
            assert difference <= TOLERANCE, f"{name} {where}, {len(sequence)} frames: max abs diff {difference:.2e}"


@pytest.mark.parametrize("cell", models.CELLS)
def test_step_function_carries_every_cells_state(cell):
    """Two stacked layers of each cell (the LSTM carries h and c), untrained, stepped in a tf.function."""
    info = DataInfo(num_classes=3, feature_dim=4, feature_mean=[0.0] * 4, feature_variance=[1.0] * 4)
    settings = for_model("framewise", units=5, depth=2, bidirectional=False, cell=cell)
    model = models.get("framewise").build(info, settings)
    frames = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    size = streaming.state_size(model)
    assert size == 2 * 5 * cells.state_count(cell)
    outputs = stream(tf.function(streaming.step_function(model, "frames")), frames, size, np.float32)
    np.testing.assert_allclose(outputs, model(frames[None]).numpy()[0], atol=TOLERANCE)


@pytest.mark.parametrize("name,why", [
    ("framewise", "backward direction that starts at the last frame"),
    ("window_ffn", "after frame t"),
])
def test_models_that_need_the_whole_sequence_refuse_to_stream(run_of, name, why, capsys):
    run = run_of(name)
    assert not (run / "stream.tflite").exists()
    assert "step" not in tf.saved_model.load(str(run / "saved_model")).signatures
    for flags in (["--export", "stream"], ["--stream"]):
        with pytest.raises(SystemExit) as exit:
            evaluate.main([str(run), *flags])
        assert exit.value.code == 2
        error = capsys.readouterr().err.strip()
        assert why in error and "cannot stream" in error and len(error.splitlines()) == 1, error


def test_stream_demo_prints_labels_as_they_arrive_and_latency(run_of, capsys):
    run = run_of("framewise_stream")
    assert evaluate.main([str(run), "--stream"]) == 0
    lines = capsys.readouterr().out.splitlines()
    frames = [line.split() for line in lines[2:-1]]
    assert [int(frame[0]) for frame in frames] == list(range(len(frames))) and frames
    assert all(frame[1].strip("'") in ("0", "1") and frame[-1].endswith("ms") for frame in frames)
    assert lines[-1].startswith("per-frame latency: median")


def test_stream_tflite_scores_as_the_whole_sequence_model(run_of, capsys):
    run = run_of("framewise_stream")
    written = json.loads((run / "metrics.json").read_text())
    for artifact in ("model.tflite", "stream.tflite"):
        assert evaluate.main([str(run / artifact), "--json"]) == 0
        metrics = json.loads(capsys.readouterr().out)
        assert metrics["frame_accuracy"] == pytest.approx(written["frame_accuracy"], abs=1e-6), artifact


@pytest.mark.parametrize("what,quantize", [("model", "float16"), ("stream", "dynamic")])
def test_quantized_export_reports_its_accuracy_cost(run_of, tmp_path, what, quantize, capsys):
    run = shutil.copytree(run_of("framewise_stream"), tmp_path / "run")
    assert evaluate.main([str(run), "--export", what, "--quantize", quantize, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert (run / f"{what}-{quantize}.tflite").exists()
    assert metrics["quantize"] == quantize
    assert metrics["frame_accuracy_cost"] == pytest.approx(metrics["float_frame_accuracy"] - metrics["frame_accuracy"])
    assert abs(metrics["frame_accuracy_cost"]) <= 0.1


def test_export_writes_the_saved_model_again_when_it_lacks_the_endpoint(run_of, tmp_path, capsys):
    run = shutil.copytree(run_of("char_lm"), tmp_path / "run")
    shutil.rmtree(run / "saved_model")
    (run / "stream.tflite").unlink()
    assert evaluate.main([str(run), "--export", "stream"]) == 0
    assert "again from model.keras" in capsys.readouterr().err
    assert (run / "stream.tflite").exists() and "step" in tf.saved_model.load(str(run / "saved_model")).signatures


@pytest.mark.parametrize("arguments,message", [
    (["--quantize", "dynamic"], "applies to --export only"),
    (["--stream", "--export", "model"], "one at a time"),
    (["--export", "stream", "--quantize", "int4"], "invalid choice"),
])
def test_bad_deployment_flags_exit_2(run_of, arguments, message, capsys):
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(run_of("framewise_stream")), *arguments])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["framewise", "framewise_stream_lstm"])
def test_model_tflite_agrees_with_keras_on_a_long_sequence(run_of, name):
    """model.tflite replays its blocks of 32 frames from their first states (recurrence._loop_and_replay)."""
    run = run_of(name)
    model, _ = load_run(run)
    frames = np.random.default_rng(3).normal(size=(1, 300, model.inputs[0].shape[-1])).astype("float32")
    frames[0, 150] = 0.0  # padding inside the sequence: the state must carry over it
    sequence = export.tflite_interpreter(run / "model.tflite").get_signature_runner("sequence")
    difference = np.abs(sequence(frames=frames)["probabilities"] - model(frames).numpy()).max()
    assert difference <= TOLERANCE, f"{name}: max abs diff {difference:.2e}"
