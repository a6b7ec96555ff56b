"""Test metrics of a trained model, from its Keras file, its SavedModel or its TF Lite file."""

import numpy as np
import tensorflow as tf

from datasets import pipeline
from datasets.pipeline import PAD_ID
from zoo import data, decoding, export, metrics


def _tokens(ids, vocabulary, end_id=None):
    """Token ids -> token strings, stopping at `end_id` and dropping padding."""
    table = pipeline.id_to_token(vocabulary)
    tokens = []
    for token_id in ids:
        if token_id == end_id:
            break
        if token_id != PAD_ID:
            tokens.append(table[token_id])
    return tokens


class KerasRunner:
    """Runs a Keras model on batches of ids or frames."""

    def __init__(self, model, config, beam_size=1):
        self.model, self.config, self.beam_size = model, config, beam_size

    def classify(self, token_ids):
        return self.model.predict_on_batch(token_ids)

    def label_frames(self, frames, lengths):
        return self.model.predict_on_batch(frames)

    def translate(self, source_ids, max_length):
        start, end = export.target_ids(self.config["vocabularies"]["target"]["vocabulary"])
        if self.beam_size > 1:
            return decoding.beam_search(self.model, source_ids, start, end, max_length, self.beam_size).numpy()
        return decoding.greedy_decode(self.model, source_ids, start, end, max_length).numpy()

    def next_token_probabilities(self, token_ids):
        return tf.nn.softmax(self.model.predict_on_batch(token_ids)).numpy()


class TFLiteRunner:
    """Runs a TF Lite model (batch 1) on each row of a batch, without its padding."""

    def __init__(self, path, config):
        self.interpreter = export.tflite_interpreter(path)
        self.config = config

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

    def classify(self, token_ids):
        token_ids = np.asarray(token_ids)
        return np.stack(self._each_row(token_ids, np.maximum((token_ids != PAD_ID).sum(axis=1), 1)))

    def label_frames(self, frames, lengths):
        frames = np.asarray(frames)
        outputs = self._each_row(frames, lengths)
        padded = np.zeros(frames.shape[:2] + outputs[0].shape[-1:], np.float32)
        for row, output in enumerate(outputs):
            padded[row, : len(output)] = output
        return padded

    def translate(self, source_ids, max_length):
        source_ids = np.asarray(source_ids)
        return np.stack(self._each_row(source_ids, np.maximum((source_ids != PAD_ID).sum(axis=1), 1)))

    def next_token_probabilities(self, token_ids):
        return np.stack([self._invoke(row) for row in np.asarray(token_ids)])


class StreamRunner(TFLiteRunner):
    """Runs stream.tflite (signature `step`) one frame at a time on each row of a batch, from a zero state."""

    def __init__(self, path, config):
        self.step = export.tflite_interpreter(path).get_signature_runner("step")
        self.config = config
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


def tflite_runner(path, config):
    """A StreamRunner for a streaming .tflite file (one with a `step` signature), else a TFLiteRunner."""
    if "step" in export.tflite_interpreter(path).get_signature_list():
        return StreamRunner(path, config)
    return TFLiteRunner(path, config)


def evaluate(runner, config, prepared, split="test"):
    """The task's metrics of `runner` (a KerasRunner, TFLiteRunner or StreamRunner) on one split of `prepared`."""
    task, batches = config["task"], prepared.batches[split]
    if task == "sentiment":
        labels, predictions = [], []
        for token_ids, label in batches:
            predictions.append(np.argmax(runner.classify(token_ids), axis=-1))
            labels.append(label.numpy())
        return metrics.classification(np.concatenate(labels), np.concatenate(predictions), config["label_names"])
    if task == "frames":
        labels, predictions, weights = [], [], []
        for frames, label, weight in batches:
            lengths = weight.numpy().sum(axis=1).astype(int)
            predictions.append(np.argmax(runner.label_frames(frames, lengths), axis=-1).ravel())
            labels.append(label.numpy().ravel())
            weights.append(weight.numpy().ravel())
        return metrics.frames(np.concatenate(labels), np.concatenate(predictions), np.concatenate(weights))
    if task == "translation":
        target = config["vocabularies"]["target"]
        _, end = export.target_ids(target["vocabulary"])
        sources, references, hypotheses = [], [], []
        for inputs, decoder_target in batches:
            decoded = runner.translate(inputs["source"], export.MAX_DECODE_LENGTH)
            sources += _source_keys(inputs["source"])
            references += [_tokens(row, target["vocabulary"], end) for row in decoder_target.numpy()]
            hypotheses += [_tokens(row, target["vocabulary"], end) for row in decoded]
        return _translation_metrics(config, sources, references, hypotheses)
    if task == "language_model":
        total, count = 0.0, 0
        for token_ids, next_ids in batches:
            probabilities = runner.next_token_probabilities(token_ids)
            chosen = np.take_along_axis(probabilities, next_ids.numpy()[..., None], axis=-1)
            total -= np.log(np.maximum(chosen, 1e-12)).sum()
            count += chosen.size
        return metrics.language_model(total / count, count)
    raise ValueError(f"Unknown task {task!r}.")


def _source_keys(source_ids):
    """Each row of source ids without its padding, as a hashable key: equal sources, equal keys."""
    return [tuple(row[row != PAD_ID]) for row in np.asarray(source_ids)]


def _translation_metrics(config, sources, references, hypotheses):
    """Grapheme-to-phoneme scores words against all their pronunciations; other translations score pairs."""
    if config["dataset"] == "cmudict_g2p":
        return metrics.grapheme_to_phoneme(sources, references, hypotheses)
    token_name = config["vocabularies"]["target"]["tokens"].rstrip("s")
    return metrics.sequences(references, hypotheses, token_name)


def evaluate_keras(model, config, prepared, split="test", beam_size=1):
    return evaluate(KerasRunner(model, config, beam_size), config, prepared, split)


def evaluate_saved_model(saved_model, config, prepared, split="test"):
    """The task's metrics of a SavedModel, fed raw inputs from the split."""
    task, raw = config["task"], prepared.loaded.splits[split]
    batch_size = config["settings"]["batch_size"]
    if task == "sentiment":
        labels, predictions = [], []
        for batch in raw.batch(batch_size):
            predictions.append(np.argmax(saved_model.serve(batch["text"])["probabilities"].numpy(), axis=-1))
            labels.append(batch["label"].numpy())
        return metrics.classification(np.concatenate(labels), np.concatenate(predictions), config["label_names"])
    if task == "frames":
        labels, predictions, weights = [], [], []
        for frames, label, weight in prepared.batches[split]:
            predictions.append(saved_model.serve(frames)["labels"].numpy().ravel())
            labels.append(label.numpy().ravel())
            weights.append(weight.numpy().ravel())
        return metrics.frames(np.concatenate(labels), np.concatenate(predictions), np.concatenate(weights))
    if task == "translation":
        target = config["vocabularies"]["target"]
        source_vectorizer = data.vectorizer_from_vocabulary(config["vocabularies"]["source"])
        vectorizer = data.vectorizer_from_vocabulary(target)
        split_tokens = str.split if target["tokens"] == "words" else list
        sources, references, hypotheses = [], [], []
        for batch in raw.batch(batch_size):
            translations = saved_model.serve(batch["source"])["translation"].numpy()
            sources += _source_keys(source_vectorizer(batch["source"]))
            hypotheses += [split_tokens(text.decode("utf-8")) for text in translations]
            references += [_tokens(row, target["vocabulary"]) for row in vectorizer(batch["target"]).numpy()]
        return _translation_metrics(config, sources, references, hypotheses)
    if task == "language_model":
        vectorizer = data.vectorizer_from_vocabulary(config["vocabularies"]["text"])
        total, count = 0.0, 0
        for text in raw.map(lambda example: example["text"]).batch(1):
            next_ids = vectorizer(text).numpy()[0, 1:]
            probabilities = saved_model.probabilities(text)["probabilities"].numpy()[0, :-1]
            total -= np.log(np.maximum(probabilities[np.arange(len(next_ids)), next_ids], 1e-12)).sum()
            count += len(next_ids)
        return metrics.language_model(total / count, count)
    raise ValueError(f"Unknown task {task!r}.")

