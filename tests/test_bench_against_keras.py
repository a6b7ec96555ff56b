"""bench/against_keras.py's static graph: the floor it prints must compute what the Keras model computes."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import against_keras  # noqa: E402
from zoo import export  # noqa: E402
from zoo.data import DataInfo  # noqa: E402


class Arguments:
    units = 6

    def __init__(self, bidirectional):
        self.bidirectional = bidirectional


@pytest.mark.parametrize("bidirectional", [True, False])
def test_static_graph_matches_the_keras_model_and_converts_to_tflite(bidirectional, tmp_path):
    rng = np.random.default_rng(0)
    features, frames, batch = 5, 7, 3
    info = DataInfo(num_classes=4, feature_dim=features, feature_mean=rng.normal(size=features).tolist(),
                    feature_variance=rng.uniform(0.5, 2, size=features).tolist())
    model = against_keras.frame_model(info, against_keras.keras_layer(Arguments(bidirectional)))
    sequences = rng.normal(size=(batch, frames, features)).astype(np.float32)
    sequences[0, 2] = 0.0  # an all-zero frame is masked: the state goes past it unchanged
    sequences[1, 5:] = 0.0  # padding
    expected = model(sequences).numpy()

    static = against_keras.static_graph(model, frames, batch)
    np.testing.assert_allclose(static(tf.constant(sequences)).numpy(), expected, atol=1e-6)

    path = tmp_path / "static.tflite"
    against_keras.convert_function(against_keras.static_graph(model, frames, 1), path)
    interpreter = export.tflite_interpreter(path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sequences[:1])
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), expected[:1],
                               atol=1e-6)


def test_against_keras_prints_the_static_graph_beside_both_contenders():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/deploy.py"), "--against-keras", "--units", "4", "--frames", "6",
         "--batch-size", "2", "--repeats", "1", "--warmup", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "speedup" in line)
    assert header.split() == ["zoo", "Keras", "speedup", "static", "graph", "limit"]
    differences = next(line for line in result.stdout.splitlines() if line.startswith("max |difference|"))
    assert "static graph" in differences and "static .tflite" in differences
