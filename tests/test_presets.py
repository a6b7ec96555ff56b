"""The shipped presets: every model has one, its hash holds, its card's metrics reproduce, and its name works."""

import importlib.util
import json
import re
import shutil

import numpy as np
import pytest

import evaluate
from conftest import ROOT, run_script
from zoo import data, evaluation, models, presets
from zoo.settings import Settings


def load_render(name="render"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "presets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Presets' working copies in a folder of this test run, for this process and the scripts it starts."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "preset-cache"))


def test_every_model_has_a_pinned_preset_with_a_card():
    assert presets.names() == list(models.MODELS)
    for name in presets.names():
        folder = presets.verify(name)
        card = json.loads((folder / "card.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        # The command that trained it, as a user types it: the default command, or it with longer training.
        assert card["name"] == name and card["command"] == load_render("make").training_command(config)
        assert card["command"].startswith(f"python train.py --model {name}")
        # An ensemble's command names its members' run folders (ensemble.py joins them); one run's has no --out.
        assert ("--out" in card["command"]) == ("members" in config)
        assert card["file_bytes"] == (folder / "model.keras").stat().st_size
        assert json.loads((folder / "config.json").read_text())["dataset"] == card["dataset"]


def test_all_presets_fit_the_size_budget():
    total = sum(path.stat().st_size for path in presets.PRESETS_DIR.glob("*/*") if path.is_file())
    assert total < 20e6, f"presets take {total:,} bytes"


@pytest.mark.parametrize("name", list(models.MODELS))
def test_the_card_metrics_reproduce_on_the_test_split(name):
    folder = presets.verify(name)
    card = json.loads((folder / "card.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    model = presets.load_keras_model(folder / "model.keras", compile=False)
    prepared = data.prepare(config["task"], Settings(**config["settings"]), vocabularies=config["vocabularies"])
    scores = evaluation.evaluate_keras(model, config, prepared, "test")
    for metric, entry in card["metrics"].items():
        assert scores[metric] == pytest.approx(entry["value"], abs=entry["tolerance"]), metric
        # The trivial baseline is far from what the model reaches.
        if entry["trivial_baseline"] is not None:
            assert abs(scores[metric] - entry["trivial_baseline"]) > 10 * entry["tolerance"]


def test_int8_storage_moves_no_weight_more_than_half_its_column_scale_and_plain_keras_refuses_it(tmp_path):
    import keras

    from zoo.layers import LSTM

    model = keras.Sequential([keras.Input((5, 3)), LSTM(8, return_sequences=True), keras.layers.Dense(4)])
    model.layers[-1].bias.assign([0.1234567, -0.5, 0.0, 2.0])  # one value float16 rounds
    model.save(tmp_path / "float32.keras")
    load_render("make").stored_as(tmp_path / "float32.keras", tmp_path / "int8.keras", "int8")

    loaded = presets.load_keras_model(tmp_path / "int8.keras", compile=False)
    for original, restored in zip(model.weights, loaded.weights):
        original, restored = original.numpy(), restored.numpy()
        if original.ndim == 1:  # biases stay float16
            np.testing.assert_allclose(restored, original.astype(np.float16), rtol=0)
            continue
        half_scale = np.abs(original).max(axis=0) / 127 / 2
        assert np.all(np.abs(restored - original) <= half_scale * 1.0001), original.shape
        assert not np.array_equal(restored, original)
    inputs = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(inputs), model.predict_on_batch(inputs), atol=0.05)
    # Int8 values loaded as weights would answer wrongly without a word, so plain Keras must refuse the file.
    with pytest.raises(ValueError, match="model.weights.h5"):
        keras.saving.load_model(tmp_path / "int8.keras")


def test_restore_stores_a_preset_again_in_int8_where_its_tolerance_holds(tmp_path, monkeypatch):
    shutil.copytree(presets.PRESETS_DIR / "framewise", tmp_path / "framewise")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    make = load_render("make")
    pins = {}
    monkeypatch.setattr(presets, "SHA256", dict(presets.SHA256))

    def update_pins(name, hashes):
        pins[name] = presets.SHA256[name] = hashes

    monkeypatch.setattr(make, "update_pins", update_pins)
    before = json.loads((tmp_path / "framewise" / "card.json").read_text())
    make.main(["--restore", "framewise"])

    card = json.loads((tmp_path / "framewise" / "card.json").read_text())
    model = tmp_path / "framewise" / "model.keras"
    assert card["weights_dtype"] == "int8" and card["file_bytes"] == model.stat().st_size < before["file_bytes"]
    assert pins["framewise"]["model.keras"] == presets.sha256(model)
    for metric, entry in card["metrics"].items():
        assert entry["float32"] == before["metrics"][metric]["float32"]
        assert abs(entry["value"] - entry["float32"]) <= entry["tolerance"]
    # Restoring again finds it stored already.
    pins.clear()
    make.main(["--restore", "framewise"])
    assert not pins


def test_a_corrupted_or_swapped_file_is_a_one_line_error(tmp_path, monkeypatch):
    for name in ("framewise", "window_ffn"):
        shutil.copytree(presets.PRESETS_DIR / name, tmp_path / name)
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    model = tmp_path / "framewise" / "model.keras"
    corrupted = bytearray(model.read_bytes())
    corrupted[len(corrupted) // 2] ^= 1
    model.write_bytes(bytes(corrupted))
    with pytest.raises(presets.PresetError, match="is corrupted or another model's") as error:
        presets.from_preset("framewise")
    assert "\n" not in str(error.value) and "git checkout" in str(error.value)
    shutil.copyfile(tmp_path / "window_ffn" / "model.keras", model)
    with pytest.raises(presets.PresetError, match="not the pinned"):
        presets.verify("framewise")


def test_an_existing_path_wins_over_a_preset_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert evaluate.find_run("framewise")[2].parent.name == "presets"
    (tmp_path / "framewise").mkdir()
    shutil.copyfile(presets.PRESETS_DIR / "window_ffn" / "model.keras", tmp_path / "framewise" / "model.keras")
    shutil.copyfile(presets.PRESETS_DIR / "window_ffn" / "config.json", tmp_path / "framewise" / "config.json")
    assert evaluate.find_run("framewise")[2].resolve() == tmp_path / "framewise"
    assert presets.from_preset("framewise").config["model"] == "window_ffn"


def test_unknown_names_list_the_presets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(presets.PresetError, match="g2p"):
        presets.from_preset("no-such-model")


def test_from_preset_answers_as_evaluate_does(capsys):
    preset = presets.from_preset("g2p")
    assert preset.card["name"] == "g2p" and "target" in preset.vocabularies
    (pronunciation,) = preset.predict(["zoology"])[0]
    assert evaluate.main(["g2p", "--input", "zoology"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == pronunciation and re.fullmatch(r"[a-z]+[0-2]?( [a-z]+[0-2]?)*", pronunciation)
    # The alignment plot goes to the preset's working copy, not into the repository.
    assert str(presets.cache_dir()) in lines[1]
    assert not list((ROOT / "presets" / "g2p").glob("alignment-*"))


def test_a_preset_name_scores_exports_and_streams_from_a_fresh_process():
    result = run_script("evaluate.py", "framewise", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads((ROOT / "presets" / "framewise" / "card.json").read_text())
    entry = card["metrics"]["frame_accuracy"]
    assert json.loads(result.stdout)["frame_accuracy"] == pytest.approx(entry["value"], abs=entry["tolerance"])
    result = run_script("evaluate.py", "char_lm", "--stream", "--length", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "per-frame latency" in result.stdout and result.stdout.count("\n") > 20
    # A bidirectional model cannot stream, and says so.
    result = run_script("evaluate.py", "framewise", "--stream")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_readme_and_docs_tables_are_the_cards_rendering():
    render = load_render()
    for path, text in render.renderings().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} differs: run `python presets/render.py`"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    changed = readme.replace(render.START, render.START + "\n| a typed row |", 1)
    assert render.with_table(changed, render.readme_table(render.cards())) == readme


def test_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_a_preset_exports_onnx_into_its_working_copy(capsys):
    assert evaluate.main(["framewise", "--export", "onnx"]) == 0
    written = capsys.readouterr().out
    assert str(presets.cache_dir()) in written and "model.onnx" in written
    assert (presets.working_copy("framewise") / "model.onnx").stat().st_size > 10_000
    assert not (ROOT / "presets" / "framewise" / "model.onnx").exists()


def test_the_g2p_preset_pronounces_alike_as_saved_model_tflite_and_onnx(capsys):
    import tensorflow as tf

    from zoo import onnx_export
    from zoo.tasks.translation import target_ids, token_strings

    assert evaluate.main(["g2p", "--export", "model"]) == 0
    assert evaluate.main(["g2p", "--export", "onnx"]) == 0
    capsys.readouterr()
    folder = presets.working_copy("g2p")
    config = json.loads((folder / "config.json").read_text())
    test_words = [example["source"].decode() for example in data.load(
        "translation", Settings(**config["settings"])).splits["test"].take(40).as_numpy_iterator()]
    words = test_words + ["zoology", "antidisestablishmentarianism", "a", "rhythm", "worcestershire", "gnocchi"]
    keras_answers = [answer[0] for answer in presets.from_preset("g2p").predict(words)]
    saved_model = tf.saved_model.load(str(folder / "saved_model"))
    assert [text.decode() for text in saved_model.serve(tf.constant(words))["translation"].numpy()] == keras_answers
    target = config["vocabularies"]["target"]["vocabulary"]
    _, end = target_ids(target)
    vectorizer = data.vectorizer_from_vocabulary(config["vocabularies"]["source"])
    tflite = evaluation.TFLiteRunner(folder / "model.tflite")
    session = onnx_export.onnx_session(folder / "model.onnx")
    input_name = session.get_inputs()[0].name
    for word, answer in zip(words, keras_answers):
        ids = vectorizer(tf.constant([word])).numpy().astype(np.int32)
        assert " ".join(token_strings(tflite.translate(ids, None, None, None)[0], target, end)) == answer, word
        onnx_ids = session.run(None, {input_name: ids})[0][0]
        assert " ".join(token_strings(onnx_ids, target, end)) == answer, word
