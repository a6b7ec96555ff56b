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

from datasets import pipeline
from datasets.pipeline import END_TOKEN, PAD_ID, START_TOKEN
from zoo import atomic, decoding, streaming

# Longest output of the exported decoders, in tokens.
MAX_DECODE_LENGTH = 40


def detokenize(token_ids, vocabulary, tokens):
    """token ids (batch, time) -> strings (batch,): padding dropped, words joined by spaces, characters by nothing."""
    table = tf.constant(pipeline.id_to_token(vocabulary))
    pieces = tf.gather(table, token_ids)
    pieces = tf.ragged.boolean_mask(pieces, tf.not_equal(token_ids, PAD_ID))
    return tf.strings.reduce_join(pieces, axis=-1, separator=" " if tokens == "words" else "")


def target_ids(vocabulary):
    """The decoder's start and end token ids in a target vocabulary (without padding and OOV)."""
    return vocabulary.index(START_TOKEN) + 2, vocabulary.index(END_TOKEN) + 2


def serving_functions(model, task, vectorizers, vocabularies, label_names):
    """The raw-input functions of `task`: {endpoint name: (function, input signature)}."""
    if task == "sentiment":
        names = tf.constant(label_names)

        def classify(text):
            probabilities = model(vectorizers["text"](text))
            return {"probabilities": probabilities, "label": tf.gather(names, tf.argmax(probabilities, axis=-1))}

        return {"serve": (classify, [tf.TensorSpec([None], tf.string, name="text")])}
    if task == "frames":
        dim = model.inputs[0].shape[-1]

        def label_frames(frames):
            probabilities = model(frames)
            return {"probabilities": probabilities, "labels": tf.argmax(probabilities, axis=-1)}

        return {"serve": (label_frames, [tf.TensorSpec([None, None, dim], tf.float32, name="frames")])}
    if task == "translation":
        target = vocabularies["target"]
        start, end = target_ids(target["vocabulary"])

        def translate(text):
            ids = decoding.greedy_decode(model, vectorizers["source"](text), start, end, MAX_DECODE_LENGTH)
            return {"translation": detokenize(ids, target["vocabulary"], target["tokens"])}

        def translate_beam(text, beam_size):
            source = vectorizers["source"](text)
            ids = decoding.beam_search(model, source, start, end, MAX_DECODE_LENGTH, beam_size)
            return {"translation": detokenize(ids, target["vocabulary"], target["tokens"])}

        return {
            "serve": (translate, [tf.TensorSpec([None], tf.string, name="text")]),
            "beam_search": (
                translate_beam,
                [tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([], tf.int32, name="beam_size")],
            ),
        }
    if task == "language_model":
        text = vocabularies["text"]

        def continue_text(prime, length, temperature):
            ids = decoding.generate(model, vectorizers["text"](prime), length, temperature)
            return {"text": detokenize(ids, text["vocabulary"], text["tokens"])}

        def next_token_probabilities(text):
            return {"probabilities": tf.nn.softmax(model(vectorizers["text"](text)))}

        return {
            "probabilities": (next_token_probabilities, [tf.TensorSpec([None], tf.string, name="text")]),
            "serve": (
                continue_text,
                [
                    tf.TensorSpec([None], tf.string, name="prime"),
                    tf.TensorSpec([], tf.int32, name="length"),
                    tf.TensorSpec([], tf.float32, name="temperature"),
                ],
            )
        }
    raise ValueError(f"Unknown task {task!r}.")


def export_saved_model(model, task, vectorizers, vocabularies, label_names, path):
    """Writes (or replaces whole) a SavedModel whose endpoints take raw inputs (see the module docstring).

    Returns the endpoints' names.
    """
    archive = keras.export.ExportArchive()
    # Not `archive.track(model)`: the endpoints' variables are tracked anyway, and tracking the
    # model too stores every weight twice (keras-team/keras#23553), doubling the SavedModel.
    for vectorizer in vectorizers.values():
        if not vectorizer.built:
            # Export tracks built layers only; one call builds it.
            vectorizer(tf.constant([""]))
        archive.track(vectorizer)
    endpoints = serving_functions(model, task, vectorizers, vocabularies, label_names)
    endpoints["sequence"] = sequence_function(model, task, vocabularies)
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


def sequence_function(model, task, vocabularies):
    """The batch-1 function of model.tflite, as (function, input signature) (see the module docstring)."""
    if task == "frames":
        dim = model.inputs[0].shape[-1]
        return (
            lambda frames: {"probabilities": model(frames)},
            [tf.TensorSpec([1, None, dim], tf.float32, name="frames")],
        )
    if task == "sentiment":
        return (
            lambda token_ids: {"probabilities": model(token_ids)},
            [tf.TensorSpec([1, None], tf.int32, name="token_ids")],
        )
    if task == "translation":
        start, end = target_ids(vocabularies["target"]["vocabulary"])
        return (
            lambda source_ids: {
                "token_ids": decoding.greedy_decode(model, source_ids, start, end, MAX_DECODE_LENGTH)
            },
            [tf.TensorSpec([1, None], tf.int32, name="source_ids")],
        )
    if task == "language_model":
        return (
            lambda token_ids: {"probabilities": tf.nn.softmax(model(token_ids))},
            [tf.TensorSpec([1, None], tf.int32, name="token_ids")],
        )
    raise ValueError(f"Unknown task {task!r}.")


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
