"""Text classification, many to one (SPEC §5): a sentence in, one class out (`sentiment`)."""

import collections

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from datasets import pipeline
from zoo import metrics
from zoo.tasks import base

BUCKET_BOUNDARIES = [16, 32, 64, 128, 256]
# Hash buckets per distinct bigram of the training split, when the data sizes the table: few collisions.
BUCKETS_PER_BIGRAM = 1.2
# The data sizes the table only when the average training bigram occurs this often: on rarer bigrams (English
# words, a few thousand Chinese reviews) the table memorises the training texts and costs test accuracy
# (docs/results.md, "Defaults on data they were not tuned for").
MIN_BIGRAM_REPEATS = 3.5


def next_prime(number):
    """The smallest prime >= `number`: a prime modulus spreads the bigram hash (a * vocabulary + b) evenly."""
    candidate = max(2, number)
    while any(candidate % divisor == 0 for divisor in range(2, int(candidate**0.5) + 1)):
        candidate += 1
    return candidate


def bigram_counts(batches, vocabulary_size):
    """(distinct, total): how many distinct (previous, next) id pairs the token ids of `batches` hold, and how many
    pairs in all, the text's ends included."""
    counts = collections.Counter()
    for token_ids, _ in batches.as_numpy_iterator():
        padded = np.pad(token_ids, [[0, 0], [1, 1]])
        pairs = padded[:, :-1] * vocabulary_size + padded[:, 1:]
        real = (padded[:, :-1] != 0) | (padded[:, 1:] != 0)
        values, repeats = np.unique(pairs[real], return_counts=True)
        counts.update(dict(zip(values.tolist(), repeats.tolist())))
    return len(counts), sum(counts.values())


def bigram_buckets_for(distinct, total):
    """The bigram table's size for a training split with `distinct` bigrams among `total`: 0 (no table) when the
    average bigram is seen fewer than MIN_BIGRAM_REPEATS times, else BUCKETS_PER_BIGRAM per distinct bigram."""
    if distinct == 0 or total / distinct < MIN_BIGRAM_REPEATS:
        return 0
    return next_prime(int(np.ceil(BUCKETS_PER_BIGRAM * distinct)))


@keras.saving.register_keras_serializable(package="zoo")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing (Keras's sparse loss has none).

    The target puts 1 - label_smoothing on the label and spreads label_smoothing evenly
    over all classes, which keeps a small model from growing ever more confident on
    examples it has memorised.

    Args:
        label_smoothing: the share of the target spread over all classes, in [0, 1).
        from_logits: whether predictions are logits rather than probabilities.
        ignore_class: a label that is no target (padding); its positions are left out
            of the mean, as with Keras's `ignore_class`.

    Labels (batch, ...) against predictions (batch, ..., classes); a trailing
    labels axis of size 1 is allowed.
    """

    def __init__(self, label_smoothing=0.0, from_logits=False, ignore_class=None,
                 name="smoothed_sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.from_logits = from_logits
        self.ignore_class = ignore_class

    def call(self, labels, predictions):
        labels = ops.reshape(ops.cast(labels, "int32"), ops.shape(predictions)[:-1])
        one_hot = ops.one_hot(labels, ops.shape(predictions)[-1], dtype=predictions.dtype)
        losses = keras.losses.categorical_crossentropy(
            one_hot, predictions, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )
        if self.ignore_class is None:
            return losses
        # Zero at ignored positions, scaled so that the mean over all positions is the mean over the rest.
        kept = ops.cast(ops.not_equal(labels, self.ignore_class), losses.dtype)
        return losses * kept * ops.cast(ops.size(kept), losses.dtype) / ops.maximum(ops.sum(kept), 1.0)

    def get_config(self):
        return {
            **super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
        }


def truncate(text, tokens, max_length):
    """Cuts a scalar string to its first `max_length` characters or words."""
    if tokens == "chars":
        return tf.strings.substr(text, 0, max_length, unit="UTF8_CHAR")
    return tf.strings.reduce_join(tf.strings.split(text)[:max_length], separator=" ")


class TextClassification(base.Task):
    """token ids (batch, time) -> class probabilities (batch, classes)."""

    name = "sentiment"
    main_metric = "accuracy"
    loop_accuracy = "plain"

    def batches(self, loaded, vectorizers, settings):
        vectorizer = vectorizers["text"]
        train = loaded.splits["train"]
        if settings.max_length:
            train = train.map(
                lambda example: {**example, "text": truncate(example["text"], loaded.tokens, settings.max_length)}
            )
        options = dict(batch_size=settings.batch_size, seed=settings.seed, bucket_boundaries=BUCKET_BOUNDARIES)
        batches = {
            "train": pipeline.sentiment_batches(train, vectorizer, training=True, **options),
            "validation": pipeline.sentiment_batches(loaded.splits["validation"], vectorizer, **options),
            "test": pipeline.sentiment_batches(loaded.splits["test"], vectorizer, **options),
        }
        info = base.DataInfo(num_classes=len(loaded.label_names), vocabulary_size=vectorizer.vocabulary_size())
        return info, batches

    def resolve(self, settings, prepared):
        changes = super().resolve(settings, prepared)
        if settings.bigram_buckets is None:
            counts = bigram_counts(prepared.batches["train"], prepared.info.vocabulary_size)
            changes["bigram_buckets"] = bigram_buckets_for(*counts)
        return changes

    def loss(self, settings):
        if settings.label_smoothing:
            return SmoothedSparseCategoricalCrossentropy(settings.label_smoothing)
        return "sparse_categorical_crossentropy"

    def compile(self, model, optimizer, settings):
        model.compile(optimizer, loss=self.loss(settings), metrics=["accuracy"])

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        names = tf.constant(label_names)

        def classify(text):
            probabilities = model(vectorizers["text"](text))
            return {"probabilities": probabilities, "label": tf.gather(names, tf.argmax(probabilities, axis=-1))}

        return {"serve": (classify, [tf.TensorSpec([None], tf.string, name="text")])}

    def sequence_function(self, model, vocabularies):
        return (
            lambda token_ids: {"probabilities": model(token_ids)},
            [tf.TensorSpec([1, None], tf.int32, name="token_ids")],
        )

    def evaluate(self, runner, config, prepared, split):
        labels, predictions = [], []
        for token_ids, label in prepared.batches[split]:
            predictions.append(np.argmax(runner.predict(token_ids, base.token_lengths(token_ids)), axis=-1))
            labels.append(label.numpy())
        return metrics.classification(np.concatenate(labels), np.concatenate(predictions), config["label_names"])

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        labels, predictions = [], []
        for batch in prepared.loaded.splits[split].batch(config["settings"]["batch_size"]):
            predictions.append(np.argmax(saved_model.serve(batch["text"])["probabilities"].numpy(), axis=-1))
            labels.append(batch["label"].numpy())
        return metrics.classification(np.concatenate(labels), np.concatenate(predictions), config["label_names"])

    def baseline(self, prepared, split):
        """The training split's most frequent class, for every example."""
        train_labels = prepared.loaded.splits["train"].map(lambda example: example["label"])
        majority = collections.Counter(train_labels.as_numpy_iterator()).most_common(1)[0][0]
        labels = np.concatenate([label.numpy() for _, label in prepared.batches[split]])
        return {"baseline_accuracy": float(np.mean(labels == majority))}

    def predict_batch(self, model, config, texts, length=200, temperature=1.0, beam=1):
        """[label, its probability formatted to 3 decimals] per text."""
        from zoo.data import vectorizer_from_vocabulary

        vectorizer = vectorizer_from_vocabulary(config["vocabularies"]["text"])
        answers = []
        for start in range(0, len(texts), base.PREDICT_BATCH_SIZE):
            probabilities = model.predict_on_batch(vectorizer(tf.constant(texts[start : start + base.PREDICT_BATCH_SIZE])))
            for row in np.asarray(probabilities):
                label = int(np.argmax(row))
                answers.append([config["label_names"][label], f"{row[label]:.3f}"])
        return answers

    def run_input(self, functions, source, config, args):
        outputs = functions["serve"](tf.constant([args.input]))
        probabilities = outputs["probabilities"].numpy()[0]
        print(outputs["label"].numpy()[0].decode("utf-8"))
        for name, probability in zip(config["label_names"], probabilities):
            print(f"  {name}: {probability:.3f}")
