"""Converts a SavedModel endpoint to ONNX with tf2onnx, and runs the result on onnxruntime.

Optional: tf2onnx, onnx and onnxruntime are not in requirements.txt (see
requirements-onnx.txt). Only endpoints whose inputs are tensors convert:
`serving_default` of the frame models (frames, any batch), and `sequence`
of every model (batch 1; token ids for the text models). String inputs need
TensorFlow's text ops, which ONNX lacks.
"""

import pathlib

import tensorflow as tf

from zoo import atomic

INSTALL = "pip install -r requirements-onnx.txt  (tf2onnx, onnx, onnxruntime)"

# The newest opset that tf2onnx 1.17 writes and onnxruntime 1.32 runs.
OPSET = 18


def _import(name):
    try:
        return __import__(name)
    except ImportError:
        raise ImportError(f"ONNX export needs the optional package {name}: {INSTALL}") from None


def export_onnx(saved_model_dir, path, signature="sequence"):
    """Writes endpoint `signature` of a SavedModel folder as an ONNX model at `path`.

    The ONNX model keeps the endpoint's input and output names, with any
    length (and, for `serving_default`, any batch). Raises ImportError naming
    the pip command when tf2onnx is missing, and ValueError for an endpoint
    that does not exist or has string inputs.
    """
    for name in ("onnx", "tf2onnx"):
        _import(name)
    from tf2onnx import convert, tf_loader

    saved_model_dir = pathlib.Path(saved_model_dir)
    endpoints = tf.saved_model.load(str(saved_model_dir)).signatures
    if signature not in endpoints:
        raise ValueError(f"{saved_model_dir} has no {signature!r} endpoint; it has {', '.join(sorted(endpoints))}.")
    strings = [name for name, spec in endpoints[signature].structured_input_signature[1].items()
               if spec.dtype == tf.string]
    if strings:
        raise ValueError(
            f"endpoint {signature!r} takes strings ({', '.join(strings)}), which ONNX cannot run: "
            "convert `sequence`, which takes token ids."
        )
    graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
        str(saved_model_dir), None, None, signatures=[signature],
        return_initialized_tables=True, return_tensors_to_rename=True,
    )
    with tf.device("/cpu:0"):
        model, _ = convert._convert_common(
            graph_def, name=f"{saved_model_dir.name}:{signature}", opset=OPSET, input_names=inputs,
            output_names=outputs, tensors_to_rename=renames, initialized_tables=tables,
        )
    with atomic.replacing(path) as temporary:
        temporary.write_bytes(model.SerializeToString())


def onnx_session(path):
    """An onnxruntime session on the CPU for the .onnx file at `path`: `session.run(None, {name: array})`."""
    onnxruntime = _import("onnxruntime")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
