"""Exports a trained model: a SavedModel that takes raw inputs, and TF Lite models with built-in ops only.

SavedModel endpoints (call `tf.saved_model.load(path).serve(...)`, or its
`signatures[name]` with keyword arguments; `serving_default` is the first):
  sentiment       serve(text (batch,) string) -> probabilities (batch, classes), label (batch,) string
  frames          serve(frames (batch, time, dim) float32, zero-padded)
                      -> probabilities (batch, time, classes), labels (batch, time) int64
  translation     serve(text (batch,) string) -> translation (batch,) string, greedy
                  beam_search(text (batch,) string, beam_size () int32) -> translation (batch,) string
  language_model  probabilities(text (batch,) string) -> probabilities (batch, time, vocabulary)
                      of the token after each token of the text
                  serve(prime (batch,) string, length () int32, temperature () float32)
                      -> text (batch,) string, the prime's continuation
Every SavedModel also has `sequence`, the batch-1 function of model.tflite
below, and models that can stream (`zoo.streaming`) have `step`, the
function of stream.tflite; either converts again with `export_tflite`.

TF Lite models take token ids, batch 1, any length (the ids come from the
vocabularies in the run's config.json; string ops are not TF Lite built-ins).
model.tflite, signature `sequence`:
  sentiment       token_ids (1, time) int32 -> probabilities (1, classes)
  frames          frames (1, time, dim) float32 -> probabilities (1, time, classes)
  translation     source_ids (1, time) int32 -> token_ids (1, max_length) int64, greedy, 0 after the end
  language_model  token_ids (1, time) int32 -> probabilities (1, time, vocabulary) of the token after each
stream.tflite, signature `step` (unidirectional frame models and char_lm):
  frame (1, dim) float32 or (1,) int32 token id, state (1, state_size) float32
      -> output (1, classes) probabilities, next_state (1, state_size)
"""

import pathlib

import keras
import tensorflow as tf

from zoo import atomic, streaming, tasks


def export_saved_model(model, task, vectorizers, vocabularies, label_names, path):
    """Writes (or replaces whole) a SavedModel whose endpoints take raw inputs (see the module docstring).

    `task` (a name or a `zoo.tasks.Task`) gives the endpoints. Returns their names.
    """
    task = tasks.get(task)
    archive = keras.export.ExportArchive()
    # Not `archive.track(model)`: the endpoints' variables are tracked anyway, and tracking the
    # model too stores every weight twice (keras-team/keras#23553), doubling the SavedModel.
    for vectorizer in vectorizers.values():
        if not vectorizer.built:
            # Export tracks built layers only; one call builds it.
            vectorizer(tf.constant([""]))
        archive.track(vectorizer)
    endpoints = task.serving_functions(model, vectorizers, vocabularies, label_names)
    endpoints["sequence"] = task.sequence_function(model, vocabularies)
    try:
        endpoints["step"] = (
            streaming.step_function(model, task),
            [streaming.frame_spec(model), tf.TensorSpec([1, streaming.state_size(model)], tf.float32, name="state")],
        )
    except ValueError:
        pass  # A model that needs the whole sequence has no step.
    for name, (function, signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=signature)
    with atomic.replacing(path) as temporary:
        archive.write_out(str(temporary), verbose=False)
    return list(endpoints)


QUANTIZATIONS = ("none", "dynamic", "float16")


def export_tflite(saved_model, path, signature="sequence", quantize="none"):
    """Converts endpoint `signature` of a SavedModel folder to a TF Lite file with built-in ops only.

    Args:
        saved_model: a SavedModel folder written by `export_saved_model`.
        path: the .tflite file to write; an older one stays until the new one is complete.
        signature: "sequence" (model.tflite) or "step" (stream.tflite).
        quantize: "none"; "dynamic", weights stored as int8 (up to 4x smaller)
            and matmuls in int8 where the kernel allows; or "float16",
            weights stored as float16 (up to 2x smaller), computed in float32.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}: use one of {', '.join(QUANTIZATIONS)}.")
    # From the SavedModel, not the Keras model: a converter handed Keras 3
    # layers directly can miss their weights and write a model that returns NaN.
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[signature])
    # Built-ins only: phones' interpreters have no Flex (TensorFlow) ops.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    flatbuffer = converter.convert()
    with atomic.replacing(path) as temporary:
        temporary.write_bytes(flatbuffer)


def tflite_interpreter(path):
    """A LiteRT interpreter on the .tflite file at `path` (tensors not yet allocated)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(path))
    except ValueError as error:
        raise ValueError(
            f"{path} is not a TF Lite model ({str(error).strip()}): write it again with "
            f"`python evaluate.py RUN --export {'stream' if 'stream' in pathlib.Path(path).name else 'model'}`."
        ) from None
