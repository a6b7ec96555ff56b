"""From settings to batches: load the dataset, build the vocabularies, and describe the data to the builders."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

import datasets
from datasets import pipeline
from datasets.tasks import get_task

# Words beyond this many distinct ones map to the out-of-vocabulary id.
MAX_WORD_VOCABULARY = 20_000
# A side of a translation pair whose texts average fewer whitespace words than
# this is split into characters (cmudict_g2p's source: one word, spelt out).
CHARS_BELOW_WORDS_PER_TEXT = 1.5
BUCKET_BOUNDARIES = [16, 32, 64, 128, 256]

TEXT_STANDARDIZE = "lower_and_strip_punctuation"


@dataclasses.dataclass
class DataInfo:
    """What a builder needs to know about the data; fields a task lacks are None."""

    num_classes: int | None = None
    feature_dim: int | None = None
    feature_mean: list | None = None
    feature_variance: list | None = None
    vocabulary_size: int | None = None
    source_vocabulary_size: int | None = None
    target_vocabulary_size: int | None = None


@dataclasses.dataclass
class Prepared:
    """A loaded dataset, its vectorizers, batches of every split, and the `DataInfo` for the builder.

    `vectorizers` maps "text" (sentiment, language_model) or "source" and
    "target" (translation) to TextVectorization layers; `vocabularies` holds
    how to rebuild them (`config.json` stores it, so a resumed or evaluated
    run uses the very same ids).
    """

    loaded: datasets.LoadedDataset
    info: DataInfo
    vectorizers: dict
    vocabularies: dict
    batches: dict


def load(task, settings):
    """`datasets.load` for a run: the settings' dataset and tokens, and only the first `limit` training examples."""
    loaded = datasets.load(
        task, settings.dataset, data_dir=settings.data_dir, tokens=settings.tokens, seed=settings.seed
    )
    if settings.limit is not None:
        loaded.splits["train"] = loaded.splits["train"].take(settings.limit)
    return loaded


def vectorizer_from_vocabulary(entry):
    """Rebuilds a TextVectorization from a `Prepared.vocabularies` entry."""
    return keras.layers.TextVectorization(
        standardize=entry["standardize"],
        split="character" if entry["tokens"] == "chars" else "whitespace",
        vocabulary=entry["vocabulary"],
    )


def vectorizers_from_vocabularies(vocabularies):
    """{name: TextVectorization} for a run's {name: vocabulary entry} (config.json's "vocabularies")."""
    return {name: vectorizer_from_vocabulary(entry) for name, entry in vocabularies.items()}


def prepare(task, settings, vocabularies=None):
    """Loads the data of `task` for `settings` and batches every split.

    Args:
        task: the model's task name.
        settings: a `zoo.settings.Settings`.
        vocabularies: vocabularies from an earlier run's `config.json`; None
            builds them from the training split.
    """
    loaded = load(task, settings)
    if vocabularies is None:
        vocabularies = {key: _new_vocabulary(loaded, key, task, settings) for key in get_task(task).text_keys}
    vectorizers = vectorizers_from_vocabularies(vocabularies)
    info, batches = _PREPARE[task](loaded, vectorizers, settings)
    return Prepared(loaded, info, vectorizers, vocabularies, batches)


def _new_vocabulary(loaded, field, task, settings):
    texts = loaded.splits["train"].map(lambda example: example[field])
    tokens = loaded.tokens
    if task == "translation" and settings.tokens is None and tokens == "words":
        words = [len(text.split()) for text in texts.take(1000).as_numpy_iterator()]
        if np.mean(words) < CHARS_BELOW_WORDS_PER_TEXT:
            tokens = "chars"
    # Text is generated as it is (case, punctuation, newlines); a translation
    # target keeps its punctuation, which is part of the output.
    standardize = {"language_model": None, "translation": "lower"}.get(task, TEXT_STANDARDIZE)
    if task == "translation" and field == "source":
        standardize = TEXT_STANDARDIZE
    special_tokens = (pipeline.START_TOKEN, pipeline.END_TOKEN) if field == "target" else ()
    vectorizer = pipeline.make_text_vectorizer(
        texts,
        tokens,
        max_tokens=MAX_WORD_VOCABULARY if tokens == "words" else None,
        special_tokens=special_tokens,
        standardize=standardize,
    )
    # Ids 0 and 1 (padding, out-of-vocabulary) come back when the layer is rebuilt.
    return {"tokens": tokens, "standardize": standardize, "vocabulary": vectorizer.get_vocabulary()[2:]}


def truncate(text, tokens, max_length):
    """Cuts a scalar string to its first `max_length` characters or words."""
    if tokens == "chars":
        return tf.strings.substr(text, 0, max_length, unit="UTF8_CHAR")
    return tf.strings.reduce_join(tf.strings.split(text)[:max_length], separator=" ")


def _prepare_sentiment(loaded, vectorizers, settings):
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
    info = DataInfo(num_classes=len(loaded.label_names), vocabulary_size=vectorizer.vocabulary_size())
    return info, batches


def _prepare_frames(loaded, vectorizers, settings):
    frames = np.concatenate([example["features"] for example in loaded.splits["train"].as_numpy_iterator()])
    options = dict(batch_size=settings.batch_size, seed=settings.seed)
    batches = {
        split: pipeline.frame_batches(loaded.splits[split], training=split == "train", **options)
        for split in ("train", "validation", "test")
    }
    info = DataInfo(
        num_classes=len(loaded.label_names),
        feature_dim=loaded.feature_dim,
        feature_mean=frames.mean(axis=0).tolist(),
        # A constant feature would divide by zero.
        feature_variance=np.maximum(frames.var(axis=0), 1e-6).tolist(),
    )
    return info, batches


def _prepare_translation(loaded, vectorizers, settings):
    source, target = vectorizers["source"], vectorizers["target"]
    options = dict(batch_size=settings.batch_size, seed=settings.seed, bucket_boundaries=BUCKET_BOUNDARIES)
    batches = {
        split: pipeline.translation_batches(loaded.splits[split], source, target, training=split == "train", **options)
        for split in ("train", "validation", "test")
    }
    info = DataInfo(
        source_vocabulary_size=source.vocabulary_size(), target_vocabulary_size=target.vocabulary_size()
    )
    return info, batches


def _prepare_language_model(loaded, vectorizers, settings):
    vectorizer = vectorizers["text"]
    options = dict(sequence_length=settings.sequence_length, batch_size=settings.batch_size, seed=settings.seed)
    batches = {
        split: pipeline.language_model_batches(loaded.splits[split], vectorizer, training=split == "train", **options)
        for split in ("train", "validation", "test")
    }
    return DataInfo(vocabulary_size=vectorizer.vocabulary_size()), batches


_PREPARE = {
    "sentiment": _prepare_sentiment,
    "frames": _prepare_frames,
    "translation": _prepare_translation,
    "language_model": _prepare_language_model,
}
