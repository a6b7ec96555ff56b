"""Language modelling: the next token at every step, and generation from a prime (one to many, SPEC §5)."""

import keras
import numpy as np
import tensorflow as tf

from datasets import pipeline
from zoo import decoding, metrics
from zoo.tasks import base
from zoo.tasks.translation import detokenize


def cross_entropy(probabilities, next_ids):
    """(summed negative log-likelihood in nats, token count) of `next_ids` under `probabilities`."""
    chosen = np.take_along_axis(probabilities, np.asarray(next_ids)[..., None], axis=-1)
    return -np.log(np.maximum(chosen, 1e-12)).sum(), chosen.size


class LanguageModelling(base.Task):
    """token ids (batch, time) -> logits (batch, time, vocabulary) of the token after each."""

    name = "language_model"
    main_metric = "bits_per_character"
    higher_is_better = False

    def vocabulary_options(self, field, texts, loaded, settings):
        # Text is generated as it is: case, punctuation and newlines are part of it.
        return loaded.tokens, None, ()

    def batches(self, loaded, vectorizers, settings):
        vectorizer = vectorizers["text"]
        options = dict(sequence_length=settings.sequence_length, batch_size=settings.batch_size, seed=settings.seed)
        batches = {
            split: pipeline.language_model_batches(loaded.splits[split], vectorizer, training=split == "train", **options)
            for split in ("train", "validation", "test")
        }
        return base.DataInfo(vocabulary_size=vectorizer.vocabulary_size()), batches

    def loss(self, settings):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
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
            ),
        }

    def sequence_function(self, model, vocabularies):
        return (
            lambda token_ids: {"probabilities": tf.nn.softmax(model(token_ids))},
            [tf.TensorSpec([1, None], tf.int32, name="token_ids")],
        )

    def stream_output(self, outputs):
        # The model returns logits; a step returns the next token's probabilities.
        return tf.nn.softmax(outputs)

    def evaluate(self, runner, config, prepared, split):
        total, count = 0.0, 0
        for token_ids, next_ids in prepared.batches[split]:
            nats, tokens = cross_entropy(runner.next_token_probabilities(token_ids), next_ids.numpy())
            total, count = total + nats, count + tokens
        return metrics.language_model(total / count, count)

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        from zoo.data import vectorizer_from_vocabulary

        vectorizer = vectorizer_from_vocabulary(config["vocabularies"]["text"])
        total, count = 0.0, 0
        for text in prepared.loaded.splits[split].map(lambda example: example["text"]).batch(1):
            next_ids = vectorizer(text).numpy()[0, 1:]
            probabilities = saved_model.probabilities(text)["probabilities"].numpy()[0, :-1]
            nats, tokens = cross_entropy(probabilities, next_ids)
            total, count = total + nats, count + tokens
        return metrics.language_model(total / count, count)

    def baseline(self, prepared, split):
        """The unigram model: every token at its frequency in the training split (add-one smoothed)."""
        counts = np.ones(prepared.info.vocabulary_size)
        for _, next_ids in prepared.batches["train"]:
            np.add.at(counts, next_ids.numpy().ravel(), 1)
        unigram = counts / counts.sum()
        total, count = 0.0, 0
        for _, next_ids in prepared.batches[split]:
            ids = next_ids.numpy()
            total, count = total - np.log(unigram[ids]).sum(), count + ids.size
        return {"baseline_bits_per_character": metrics.language_model(total / count, count)["bits_per_character"]}

    def predict_batch(self, model, config, texts, length=200, temperature=1.0, beam=1):
        """[continuation of `length` tokens at `temperature`] per prime text.

        Primes of the same number of tokens are generated together, so no row carries padding into its state.
        """
        from zoo.data import vectorizer_from_vocabulary

        text = config["vocabularies"]["text"]
        vectorizer = vectorizer_from_vocabulary(text)
        token_ids = [vectorizer(tf.constant([prime])).numpy()[0] for prime in texts]
        by_length = {}
        for index, ids in enumerate(token_ids):
            by_length.setdefault(len(ids), []).append(index)
        answers = [None] * len(texts)
        for indices in by_length.values():
            for first in range(0, len(indices), base.PREDICT_BATCH_SIZE):
                batch = indices[first : first + base.PREDICT_BATCH_SIZE]
                ids = decoding.generate(model, tf.constant(np.stack([token_ids[i] for i in batch])), length, temperature)
                for index, continuation in zip(batch, detokenize(ids, text["vocabulary"], text["tokens"]).numpy()):
                    answers[index] = [continuation.decode("utf-8")]
        return answers

    def run_input(self, functions, source, config, args):
        outputs = functions["serve"](tf.constant([args.input]), tf.constant(args.length), tf.constant(args.temperature))
        print(args.input + outputs["text"].numpy()[0].decode("utf-8"))

    def stream_sequence(self, batches, config, length):
        token_ids, next_ids = next(iter(batches))
        names = pipeline.id_to_token(config["vocabularies"]["text"]["vocabulary"])
        return token_ids.numpy()[0, :length], next_ids.numpy()[0, :length], names
