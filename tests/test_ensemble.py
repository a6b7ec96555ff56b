"""Ensembles of seq2seq models (`zoo.models.seq2seq.ensemble`, ensemble.py): the mean of the members' log-probabilities,
decoded, saved, stored in int8 and exported as one model."""

import json
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import evaluate
from conftest import run_script
from datasets.pipeline import OOV_ID, PAD_ID
from test_presets import load_render
from zoo import data, decoding, ensemble, evaluation, presets
from zoo.models import seq2seq
from zoo.settings import for_model
from zoo.tasks.translation import MAX_DECODE_LENGTH, target_ids

INFO = types.SimpleNamespace(source_vocabulary_size=11, target_vocabulary_size=9)
START, END = 2, 3


def members(attention="luong"):
    built = []
    for seed, depth in ((0, 2), (1, 1)):
        keras.utils.set_random_seed(seed)
        built.append(seq2seq.build(INFO, for_model("g2p", units=6, embedding_dim=4, depth=depth, attention=attention)))
    return built


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


SOURCE = np.array([[4, 5, 6, 7], [8, 9, 10, 0], [5, 0, 0, 0]])


def test_the_ensemble_outputs_the_mean_of_its_members_log_probabilities():
    models = members()
    inputs = {"source": SOURCE, "decoder_input": np.array([[START, 4, 5], [START, 6, 0], [START, 7, 8]])}
    expected = np.mean([log_softmax(np.asarray(model(inputs))) for model in models], axis=0)
    np.testing.assert_allclose(np.asarray(seq2seq.ensemble(models)(inputs)), expected, atol=1e-5)


@pytest.mark.parametrize("attention", ["luong", "none"])
def test_greedy_decoding_picks_the_best_mean_log_probability_at_every_step(attention):
    """Against a loop that feeds each member the whole prefix teacher-forced, not `decode_step`."""
    models = members(attention)
    length = 5
    expected = np.zeros((len(SOURCE), length), np.int64)
    for row, source in enumerate(SOURCE):
        prefix, done = [START], False
        for step in range(length):
            inputs = {"source": source[None], "decoder_input": np.array([prefix])}
            scores = np.mean([log_softmax(np.asarray(model(inputs))[0, -1]) for model in models], axis=0)
            scores[[PAD_ID, OOV_ID, START]] = -np.inf
            token = int(scores.argmax())
            done = done or token == END
            expected[row, step] = PAD_ID if done else token
            prefix.append(token)
    decoded = decoding.greedy_decode(seq2seq.ensemble(models), tf.constant(SOURCE, tf.int64), START, END, length)
    np.testing.assert_array_equal(decoded.numpy(), expected)


def test_an_ensemble_saves_stores_in_int8_and_loads_as_one_model(tmp_path):
    model = seq2seq.ensemble(members())
    model.save(tmp_path / "float32.keras")
    load_render("make").stored_as(tmp_path / "float32.keras", tmp_path / "int8.keras", "int8")
    loaded = presets.load_keras_model(tmp_path / "int8.keras", compile=False)
    assert [member.name for member in seq2seq.members(loaded)] == ["member_1", "member_2"]
    assert loaded.count_params() == model.count_params() and seq2seq.has_attention(loaded)
    source = tf.constant(SOURCE, tf.int64)
    beams = [decoding.beam_search(each, source, START, END, 6, 3).numpy() for each in (model, loaded)]
    assert beams[0].shape == (3, 6)
    greedy = [decoding.greedy_decode(each, source, START, END, 6).numpy() for each in (model, loaded)]
    # int8 moves each weight by at most half its column's scale: the tiny random members still agree on most tokens.
    assert np.mean(greedy[0] == greedy[1]) > 0.7


def test_a_single_model_or_a_classifier_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        seq2seq.ensemble(members()[:1])
    classifier = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no decoder"):
        seq2seq.ensemble([classifier, classifier])


def test_ensemble_py_writes_a_run_folder_that_evaluates_and_exports_alike(tiny_run, tmp_path, capsys):
    runs = [tiny_run("g2p"), tiny_run("g2p_shallow")]
    out = tmp_path / "ensemble"
    result = run_script("ensemble.py", *runs, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert [member["run"] for member in config["members"]] == list(map(str, runs))
    sizes = [json.loads((run / "config.json").read_text())["parameters"] for run in runs]
    assert config["parameters"] == sum(sizes) and [member["parameters"] for member in config["members"]] == sizes
    written = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert evaluate.main([str(out), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for key in ("exact_match", "word_error_rate", "bleu"):
        assert scored[key] == pytest.approx(written[key]), key

    texts = ["red cat", "blue dog sun", "tree", "sun sun moon tree"]
    preset = presets.from_preset(out)
    answers = [answer[0] for answer in preset.predict(texts)]
    saved_model = tf.saved_model.load(str(out / "saved_model"))
    assert [text.decode() for text in saved_model.serve(tf.constant(texts))["translation"].numpy()] == answers
    source_ids = data.vectorizer_from_vocabulary(config["vocabularies"]["source"])(tf.constant(texts)).numpy()
    start, end = target_ids(config["vocabularies"]["target"]["vocabulary"])
    keras_ids = evaluation.KerasRunner(preset.model).translate(source_ids, start, end, MAX_DECODE_LENGTH)
    tflite = evaluation.TFLiteRunner(out / "model.tflite")
    tflite_ids = tflite.translate(source_ids.astype(np.int32), start, end, MAX_DECODE_LENGTH)
    np.testing.assert_array_equal(tflite_ids, keras_ids)



def test_an_ensembles_card_command_trains_each_member_then_joins_them():
    member = "/usr/bin/python /home/me/rnn-zoo/train.py --model g2p --units 320 --out /scratch/g2p-{}"
    config = {"model": "g2p", "members": [
        {"run": "/scratch/g2p-0", "command": member.format(0), "seed": 0},
        {"run": "/scratch/g2p-1", "command": member.format(1) + " --seed 1", "seed": 1},
    ]}
    assert load_render("make").training_command(config) == (
        "python train.py --model g2p --units 320 --seed 0 --out runs/g2p-0 && "
        "python train.py --model g2p --units 320 --seed 1 --out runs/g2p-1 && "
        "python ensemble.py runs/g2p-0 runs/g2p-1 --out runs/g2p"
    )

def test_ensemble_py_refuses_runs_that_do_not_share_their_data(tiny_run, trained_run, tmp_path):
    out = tmp_path / "ensemble"
    result = run_script("ensemble.py", tiny_run("g2p"), tiny_run("g2p_letters"), "--out", out)
    assert result.returncode == 2 and "other validation and test examples" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    with pytest.raises(ensemble.EnsembleError, match="only seq2seq and g2p"):
        ensemble.combine([trained_run[0], tiny_run("g2p")], out, "test")
    with pytest.raises(ensemble.EnsembleError, match="at least two"):
        ensemble.combine([tiny_run("g2p")], out, "test")
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ensemble.EnsembleError, match="not an empty folder"):
        ensemble.combine([tiny_run("g2p"), tiny_run("g2p_shallow")], out, "test")
    assert (out / "notes.txt").read_text() == "mine"
