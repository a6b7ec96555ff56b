"""ONNX export: every architecture's model.onnx on onnxruntime agrees with its SavedModel.

Needs the optional packages of requirements-onnx.txt, which .ci/run installs.
"""

import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

import evaluate
from test_deployment import LENGTHS, assert_agree, load_run, raw_inputs, token_ids
from zoo import models, onnx_export, tasks


@pytest.fixture(scope="module")
def run_of(tiny_run, trained_run):
    """run_of(name) -> a finished tiny run folder of `name` (sentiment: the session's train.py run)."""
    return lambda name: trained_run[0] if name == "sentiment" else tiny_run(name)


def onnx_outputs(session, **inputs):
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


@pytest.mark.parametrize("name", list(models.MODELS))
def test_model_onnx_agrees_with_the_saved_model(run_of, tmp_path, name, capsys):
    run = shutil.copytree(run_of(name), tmp_path / "run")
    assert evaluate.main([str(run), "--export", "onnx"]) == 0
    assert "Wrote" in capsys.readouterr().out
    model, config = load_run(run)
    session = onnx_export.onnx_session(run / "model.onnx")
    signature = tasks.get(config["task"]).onnx_signature
    endpoint = tf.saved_model.load(str(run / "saved_model")).signatures[signature]
    inputs = raw_inputs(model, config)
    if config["task"] == "frames":
        # Any batch: the three sequences zero-padded to one length, as serving_default takes them.
        expected = {key: value.numpy() for key, value in endpoint(frames=tf.constant(inputs["frames"])).items()}
        assert_agree(expected, onnx_outputs(session, frames=inputs["frames"]), f"{name} ONNX")
        return
    ids = token_ids(config, inputs["text"])
    (input_name,) = endpoint.structured_input_signature[1]
    for row in range(len(LENGTHS)):
        row_ids = ids[row : row + 1, : int((ids[row] != 0).sum())].astype(np.int32)
        expected = {key: value.numpy() for key, value in endpoint(**{input_name: tf.constant(row_ids)}).items()}
        assert_agree(expected, onnx_outputs(session, **{input_name: row_ids}), f"{name} ONNX, {row_ids.shape[1]} ids")


def test_string_endpoints_refuse_saying_which_to_convert(run_of, tmp_path):
    with pytest.raises(ValueError, match="takes strings.*convert `sequence`"):
        onnx_export.export_onnx(run_of("sentiment") / "saved_model", tmp_path / "model.onnx", "serving_default")
    assert not (tmp_path / "model.onnx").exists()


def test_missing_packages_give_one_line_naming_the_pip_command(run_of, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # `import tf2onnx` now raises ImportError
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(run_of("framewise_stream")), "--export", "onnx"])
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "pip install -r requirements-onnx.txt" in error and len(error.splitlines()) == 1, error
