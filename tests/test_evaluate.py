"""evaluate.py reads what train.py wrote: the same metrics from model.keras, the SavedModel and TF Lite."""

import json

import numpy as np
import pytest

import keras

import evaluate
from conftest import write_text, write_translation_tsv
from zoo import metrics, training
from zoo.models import cells
from zoo.settings import for_model
from zoo.tasks import translation


def evaluate_json(capsys, *arguments):
    assert evaluate.main([*map(str, arguments), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_artifact_of_the_run_scores_the_same(trained_run, capsys):
    out, _ = trained_run
    written = json.loads((out / "metrics.json").read_text())
    for artifact in (out, out / "saved_model", out / "model.tflite"):
        metrics = evaluate_json(capsys, artifact)
        assert metrics["accuracy"] == pytest.approx(written["accuracy"])
        assert metrics["confusion_matrix"] == written["confusion_matrix"]


def test_table_output_and_other_split(trained_run, capsys):
    out, _ = trained_run
    assert evaluate.main([str(out), "--split", "validation"]) == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "confusion matrix" in table and "validation" in table


@pytest.mark.parametrize("artifact", ["", "saved_model"])
def test_classifies_the_users_sentence(trained_run, artifact, capsys):
    out, _ = trained_run
    assert evaluate.main([str(out / artifact), "--input", "这本书很好"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] in ("negative", "positive")
    probabilities = [float(line.split(":")[1]) for line in lines[1:]]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)


def test_missing_run_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(tmp_path)])
    assert exit.value.code == 2
    assert "run folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def task_runs(tiny_run):
    """Tiny finished runs of the other three tasks, on users' own files."""
    return {model: tiny_run(model) for model in ("framewise", "seq2seq", "g2p", "char_lm")}


@pytest.mark.parametrize("model,metric", [("framewise", "frame_accuracy"), ("seq2seq", "bleu"), ("g2p", "bleu")])
def test_keras_saved_model_and_tflite_agree(task_runs, model, metric, capsys):
    out = task_runs[model]
    written = json.loads((out / "metrics.json").read_text())
    for artifact in (out, out / "saved_model", out / "model.tflite"):
        metrics = evaluate_json(capsys, artifact)
        assert metrics[metric] == pytest.approx(written[metric], abs=1e-6), artifact


def test_language_model_metrics(task_runs, capsys):
    out = task_runs["char_lm"]
    written = json.loads((out / "metrics.json").read_text())
    assert written["bits_per_character"] == pytest.approx(np.log2(written["perplexity"]))
    tflite = evaluate_json(capsys, out / "model.tflite")
    assert tflite["perplexity"] == pytest.approx(written["perplexity"], rel=1e-4)
    # The SavedModel scores whole texts, not training windows: close, not equal.
    saved = evaluate_json(capsys, out / "saved_model")
    assert 1.0 < saved["perplexity"] < 2 * written["perplexity"]


def test_seq2seq_beam_1_scores_as_greedy_and_beam_runs(task_runs, capsys):
    out = task_runs["seq2seq"]
    greedy = evaluate_json(capsys, out)
    assert evaluate_json(capsys, out, "--beam", 1)["exact_match"] == greedy["exact_match"]
    beam = evaluate_json(capsys, out, "--beam", 3)
    assert 0.0 <= beam["word_error_rate"] and beam["examples"] == greedy["examples"]


def test_runs_the_model_on_the_users_input(task_runs, tmp_path, capsys):
    assert evaluate.main([str(task_runs["seq2seq"]), "--input", "red cat"]) == 0
    assert set(capsys.readouterr().out.split()) <= {"red", "green", "blue", "cat", "dog", "sun", "moon", "tree"}
    assert evaluate.main([str(task_runs["char_lm"] / "saved_model"), "--input", "line", "--length", "15"]) == 0
    continued = capsys.readouterr().out.rstrip("\n")
    assert continued.startswith("line") and len(continued) == len("line") + 15

    frames = tmp_path / "frames.npz"
    np.savez(frames, features=np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32))
    assert evaluate.main([str(task_runs["framewise"]), "--input", str(frames)]) == 0
    labels = capsys.readouterr().out.split()
    assert len(labels) == 9 and set(labels) <= {"0", "1"}


def test_g2p_scores_each_word_against_its_closest_pronunciation():
    words = ["tomato", "tomato", "cat", "dog"]
    references = [["T", "AH0", "M", "EY1", "T", "OW2"], ["T", "AH0", "M", "AA1", "T", "OW2"],
                  ["K", "AE1", "T"], ["D", "AO1", "G"]]
    hypotheses = [["T", "AH0", "M", "AA1", "T", "OW2"]] * 2 + [["K", "AH0", "T"], ["D", "AO1", "G"]]
    scores = metrics.grapheme_to_phoneme(words, references, hypotheses)
    # Either pronunciation of "tomato" is right; "cat" has one wrong phoneme of 3.
    assert scores["word_error_rate"] == pytest.approx(1 / 3)
    assert scores["phoneme_error_rate"] == pytest.approx(1 / 12)
    assert scores["words"] == 3 and scores["examples"] == 4


def test_datasets_with_several_references_report_word_and_phoneme_error_rates():
    target = {"tokens": "words"}
    scores = translation.score(True, target, [(5, 6)], [["AH0", "B"]], [["AH0"]])
    assert scores["word_error_rate"] == 1.0 and scores["phoneme_error_rate"] == 0.5
    pairs = translation.score(False, target, [(5, 6)], [["AH0", "B"]], [["AH0"]])
    assert pairs["word_error_rate"] == 0.5 and "bleu" in pairs
    task = translation.Translation()
    assert task.main_metric_of(scores) == ("word_error_rate", False)
    assert task.main_metric_of(pairs) == ("bleu", True)


def test_cmudict_g2p_declares_several_references_and_a_tsv_with_repeated_words_is_detected(tmp_path):
    import datasets
    from datasets.cmudict_g2p.cmudict_g2p_dataset_builder import Builder

    assert Builder.SEVERAL_REFERENCES
    for name, train in (("dictionary", ["tomato\tT AH0 M EY1 T OW2", "tomato\tT AH0 M AA1 T OW2"]),
                        ("pairs", ["tomato\tT AH0 M EY1 T OW2", "potato\tP AH0 T EY1 T OW2"])):
        folder = tmp_path / name
        folder.mkdir()
        for split, lines in (("train", train), ("validation", ["cat\tK AE1 T"]), ("test", ["dog\tD AO1 G"])):
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    assert datasets.load("translation", tmp_path / "dictionary").several_references
    assert not datasets.load("translation", tmp_path / "pairs").several_references


WORDS = {"red", "green", "blue", "cat", "dog", "sun", "moon", "tree"}


def test_attention_model_input_writes_the_alignment_heatmap(task_runs, capsys):
    run = task_runs["g2p"]
    assert evaluate.main([str(run), "--input", "red cat"]) == 0
    lines = capsys.readouterr().out.splitlines()
    png = run / "alignment-red_cat.png"
    assert set(lines[0].split()) <= WORDS and lines[1] == f"Alignment heatmap: {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without attention there is no alignment, and the SavedModel returns none: the answer alone.
    for artifact in (task_runs["seq2seq"], run / "saved_model"):
        assert evaluate.main([str(artifact), "--input", "red cat"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 1


def test_alignment_has_a_row_per_output_token_and_the_end_each_over_the_letters(task_runs, tmp_path):
    import json

    import keras

    run = task_runs["g2p"]
    config = json.loads((run / "config.json").read_text())
    weights = translation.write_alignment(
        keras.saving.load_model(run / "model.keras"), config, "red cat", "cat red", tmp_path / "a.png"
    )
    # These pairs are split into words: rows "cat", "red" and the end token, columns "red", "cat".
    assert weights.shape == (3, 2)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "a.png").stat().st_size > 0


@pytest.mark.parametrize("model,cell,write_data,file_name,metric", [
    ("g2p", "lstm", write_translation_tsv, "pairs.tsv", "word_error_rate"),
    ("char_lm", "gru", write_text, "text.txt", "bits_per_character"),
])
def test_run_folders_saved_with_keras_layers_still_load_and_score(tmp_path, monkeypatch, capsys, model, cell,
                                                                  write_data, file_name, metric):
    """Runs trained before --cell lstm|gru built the zoo's layers hold keras.layers.LSTM/GRU: they still score."""
    monkeypatch.setitem(cells.LAYERS, cell, {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell])
    settings = for_model(model, dataset=str(write_data(tmp_path / file_name)), cell=cell, units=8, embedding_dim=4,
                         epochs=1)
    training.train(settings, tmp_path / "run", command="test", verbose=0)
    monkeypatch.undo()
    capsys.readouterr()
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    model_file = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert any(type(layer).__module__.startswith("keras") and type(layer).__name__ == cell.upper()
               for layer in model_file._flatten_layers())
    scored = evaluate_json(capsys, tmp_path / "run")
    assert scored[metric] == pytest.approx(saved[metric])
