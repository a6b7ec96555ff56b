"""Test metrics of a trained model, from its Keras file, its SavedModel or its TF Lite file.

A runner runs one kind of artifact on batches; the run's task (`zoo.tasks`)
feeds it a split and scores what comes back.
"""

import numpy as np
import tensorflow as tf

from zoo import decoding, export, tasks
from zoo.tasks import translation
from zoo.tasks.base import token_lengths


class KerasRunner:
    """Runs a Keras model on batches of ids or frames."""

    def __init__(self, model, beam_size=1):
        self.model, self.beam_size = model, beam_size
        self._decoders = {}

    def predict(self, inputs, lengths):
        """The model's outputs for a padded batch; `lengths` (real frames per row) only matter to TF Lite."""
        return self.model.predict_on_batch(inputs)

    def label_frames(self, frames, lengths):
        return self.model.predict_on_batch(frames)

    def translate(self, source_ids, start, end, max_length):
        key = (start, end, max_length)
        if key not in self._decoders:
            if self.beam_size > 1:
                def decode(ids):
                    return decoding.beam_search(
                        self.model, ids, start, end, max_length, self.beam_size, translation.LENGTH_PENALTY
                    )
            else:
                def decode(ids):
                    return decoding.greedy_decode(self.model, ids, start, end, max_length)
            # One graph for every batch: run eagerly, each step's layer calls cost more than the step.
            self._decoders[key] = tf.function(decode, input_signature=[tf.TensorSpec([None, None], tf.int64)])
        return self._decoders[key](tf.convert_to_tensor(source_ids, tf.int64)).numpy()

    def next_token_probabilities(self, token_ids):
        return tf.nn.softmax(self.model.predict_on_batch(token_ids)).numpy()


class TFLiteRunner:
    """Runs a TF Lite model (batch 1) on each row of a batch, without its padding."""

    def __init__(self, path):
        self.interpreter = export.tflite_interpreter(path)

    def _invoke(self, inputs):
        interpreter = self.interpreter
        detail = interpreter.get_input_details()[0]
        inputs = np.asarray(inputs, dtype=detail["dtype"])[None]
        interpreter.resize_tensor_input(detail["index"], inputs.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], inputs)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]

    def _each_row(self, rows, lengths):
        return [self._invoke(row[:length]) for row, length in zip(rows, lengths)]

    def predict(self, inputs, lengths):
        """One output per row, each row run without its padding (its first `lengths[row]` frames)."""
        return np.stack(self._each_row(np.asarray(inputs), lengths))

    def label_frames(self, frames, lengths):
        frames = np.asarray(frames)
        outputs = self._each_row(frames, lengths)
        padded = np.zeros(frames.shape[:2] + outputs[0].shape[-1:], np.float32)
        for row, output in enumerate(outputs):
            padded[row, : len(output)] = output
        return padded

    def translate(self, source_ids, start, end, max_length):
        return self.predict(source_ids, token_lengths(source_ids))

    def next_token_probabilities(self, token_ids):
        return np.stack([self._invoke(row) for row in np.asarray(token_ids)])


class StreamRunner(TFLiteRunner):
    """Runs stream.tflite (signature `step`) one frame at a time on each row of a batch, from a zero state."""

    def __init__(self, path):
        self.step = export.tflite_interpreter(path).get_signature_runner("step")
        inputs = self.step.get_input_details()
        self.frame_dtype = inputs["frame"]["dtype"]
        self.state_size = int(inputs["state"]["shape"][-1])

    def _invoke(self, inputs):
        state = np.zeros((1, self.state_size), np.float32)
        outputs = []
        for frame in np.asarray(inputs, dtype=self.frame_dtype):
            result = self.step(frame=frame[None], state=state)
            state = result["next_state"]
            outputs.append(result["output"][0])
        return np.stack(outputs)


def tflite_runner(path):
    """A StreamRunner for a streaming .tflite file (one with a `step` signature), else a TFLiteRunner."""
    if "step" in export.tflite_interpreter(path).get_signature_list():
        return StreamRunner(path)
    return TFLiteRunner(path)


def evaluate(runner, config, prepared, split="test"):
    """The task's metrics of `runner` (a KerasRunner, TFLiteRunner or StreamRunner) on one split of `prepared`."""
    return tasks.get(config["task"]).evaluate(runner, config, prepared, split)


def evaluate_keras(model, config, prepared, split="test", beam_size=1):
    return evaluate(KerasRunner(model, beam_size), config, prepared, split)


def evaluate_saved_model(saved_model, config, prepared, split="test"):
    """The task's metrics of a SavedModel, fed raw inputs from the split."""
    return tasks.get(config["task"]).evaluate_saved_model(saved_model, config, prepared, split)


def baseline(config, prepared, split="test"):
    """The task's trivial baseline on `split`: {"baseline_" + metric: value}."""
    return tasks.get(config["task"]).baseline(prepared, split)
