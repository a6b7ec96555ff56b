"""Exports a trained model: a SavedModel that takes raw inputs, and a TF Lite model with built-in ops only.

SavedModel endpoints (call `tf.saved_model.load(path).serve(...)`):
  sentiment       serve(text (batch,) string) -> probabilities (batch, classes), label (batch,) string
  frames          serve(frames (batch, time, dim) float32, zero-padded)
                      -> probabilities (batch, time, classes), labels (batch, time) int64
  translation     serve(text (batch,) string) -> translation (batch,) string, greedy
                  beam_search(text (batch,) string, beam_size () int32) -> translation (batch,) string
  language_model  serve(prime (batch,) string, length () int32, temperature () float32)
                      -> text (batch,) string, the prime's continuation
                  probabilities(text (batch,) string) -> probabilities (batch, time, vocabulary)
                      of the token after each token of the text

TF Lite models take token ids, batch 1, any length (the ids come from the
vocabularies in the run's config.json; string ops are not TF Lite built-ins):
  sentiment       token_ids (1, time) int32 -> probabilities (1, classes)
  frames          frames (1, time, dim) float32 -> probabilities (1, time, classes)
  translation     source_ids (1, time) int32 -> token_ids (1, max_length) int64, greedy, 0 after the end
  language_model  token_ids (1, time) int32 -> probabilities (1, time, vocabulary) of the token after each
"""

import keras
import tensorflow as tf

from datasets.pipeline import END_TOKEN, PAD_ID, START_TOKEN
from zoo import decoding

# Longest output of the exported decoders, in tokens.
MAX_DECODE_LENGTH = 40


def detokenize(token_ids, vocabulary, tokens):
    """token ids (batch, time) -> strings (batch,): padding dropped, words joined by spaces, characters by nothing."""
    table = tf.constant(["", "[UNK]", *vocabulary])
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
    """Writes a SavedModel whose endpoints take raw inputs (see the module docstring)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for vectorizer in vectorizers.values():
        if not vectorizer.built:
            # Export tracks built layers only; one call builds it.
            vectorizer(tf.constant([""]))
        archive.track(vectorizer)
    for name, (function, signature) in serving_functions(model, task, vectorizers, vocabularies, label_names).items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def tflite_function(model, task, vocabularies):
    """The batch-1 function TF Lite converts (see the module docstring)."""
    if task == "frames":
        dim = model.inputs[0].shape[-1]
        return tf.function(lambda frames: model(frames), input_signature=[tf.TensorSpec([1, None, dim], tf.float32)])
    signature = [tf.TensorSpec([1, None], tf.int32)]
    if task == "sentiment":
        return tf.function(lambda token_ids: model(token_ids), input_signature=signature)
    if task == "translation":
        start, end = target_ids(vocabularies["target"]["vocabulary"])
        return tf.function(
            lambda source_ids: decoding.greedy_decode(model, source_ids, start, end, MAX_DECODE_LENGTH),
            input_signature=signature,
        )
    if task == "language_model":
        return tf.function(lambda token_ids: tf.nn.softmax(model(token_ids)), input_signature=signature)
    raise ValueError(f"Unknown task {task!r}.")


def export_tflite(model, task, vocabularies, path):
    """Converts the batch-1 function of `task` to TF Lite with built-in ops only and writes it to `path`."""
    module = tf.Module()
    # The converter finds weights through the module's tf.Variables; Keras 3
    # variables are not tf.Variables, but their `.value` is.
    module.weights = [variable.value for variable in model.variables]
    function = tflite_function(model, task, vocabularies)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path.write_bytes(converter.convert())
