"""tf.data input pipelines: vectorise, shuffle (train only), batch, prefetch.

Token ids: 0 is padding and 1 out-of-vocabulary, so `Embedding(mask_zero=True)`
masks padding. Every `*_batches` function shuffles only when `training` is
True, with a fixed `seed` (the same seed gives the same order, epoch by
epoch), and pads each batch to its longest element, or, with
`bucket_boundaries`, groups elements of similar length first
(`tf.data.Dataset.bucket_by_sequence_length`) so that batches carry less
padding.
"""

import keras
import numpy as np
import tensorflow as tf

from datasets.errors import DatasetError

PAD_ID = 0
OOV_ID = 1
START_TOKEN = "[start]"
END_TOKEN = "[end]"
# Padded frames get label 0 (a valid class id, which sparse cross-entropy
# requires) and sample weight 0, so they count in neither loss nor weighted metrics.
FRAME_LABEL_PAD = 0
SHUFFLE_BUFFER = 10_000
# Translation splits of at most this many pairs are vectorized once and kept in memory (see `_encoded`).
CACHE_EXAMPLES = 200_000


def lower_and_split_punctuation(texts):
    """Lowercase, with every Unicode punctuation mark and symbol replaced by a space.

    Keras's "lower_and_strip_punctuation" deletes ASCII punctuation only, so
    "good,bad" becomes one word and a Chinese review ("很好，不错。") stays one
    whitespace token; splitting at punctuation gives clauses to count, as a
    tf-idf tokenizer does.
    """
    return tf.strings.regex_replace(tf.strings.lower(texts), r"[\p{P}\p{S}]", " ")


# Standardizations by the name a run's config.json stores, besides Keras's own names.
STANDARDIZERS = {"lower_and_split_punctuation": lower_and_split_punctuation}


def standardizer(name):
    """What TextVectorization's `standardize` takes for the name `name`: a function of STANDARDIZERS, else `name`."""
    return STANDARDIZERS.get(name, name)


def id_to_token(vocabulary):
    """The token of every id: padding (""), the out-of-vocabulary token, then `vocabulary`, as TextVectorization numbers them."""
    return ["", "[UNK]", *vocabulary]


def make_text_vectorizer(
    texts: tf.data.Dataset,
    tokens: str,
    *,
    max_tokens: int | None = None,
    special_tokens: tuple[str, ...] = (),
    standardize: str | None = "lower_and_strip_punctuation",
    min_count: int = 1,
) -> keras.layers.TextVectorization:
    """Builds a TextVectorization layer adapted on `texts`.

    The layer maps a batch of raw strings (batch,) to token ids
    (batch, time), padded with `PAD_ID`; put it first in a Keras model to
    export a SavedModel that takes raw strings.

    Args:
        texts: a dataset of scalar strings, usually the train split's text,
            e.g. `splits["train"].map(lambda example: example["text"])`.
        tokens: "chars" splits into characters, "words" on whitespace.
        max_tokens: vocabulary size including padding and OOV, or None for all.
        special_tokens: tokens given the ids right after OOV (2, 3, ...);
            `translation_batches` needs (START_TOKEN, END_TOKEN) in the target
            vectorizer. Text never produces them once standardised.
        standardize: as for `keras.layers.TextVectorization`, or a name of `STANDARDIZERS`.
        min_count: tokens seen fewer times in `texts` map to OOV: a word seen
            once teaches its embedding nothing, and OOV learns what rare words mean.
    """
    if tokens not in ("chars", "words"):
        raise DatasetError(f"tokens={tokens!r}: use 'chars' or 'words'.")
    split = "character" if tokens == "chars" else "whitespace"
    adapted = keras.layers.TextVectorization(
        max_tokens=None if max_tokens is None else max_tokens - len(special_tokens),
        standardize=standardizer(standardize),
        split=split,
    )
    adapted.adapt(texts.batch(1024))
    # The first two entries are padding and OOV, which the new layer adds back at ids 0 and 1.
    learned = adapted.get_vocabulary()[2:]
    if min_count > 1:
        counts = np.zeros(len(learned) + 2, np.int64)
        for ids in texts.batch(1024).map(adapted).as_numpy_iterator():
            counts += np.bincount(ids.ravel(), minlength=len(counts))
        # The vocabulary is sorted by frequency, so the frequent tokens are a prefix.
        learned = learned[: int((counts[2:] >= min_count).sum())]
    learned = [token for token in learned if token not in special_tokens]
    return keras.layers.TextVectorization(
        standardize=standardizer(standardize), split=split, vocabulary=list(special_tokens) + learned
    )


def sentiment_batches(
    split: tf.data.Dataset,
    vectorizer: keras.layers.TextVectorization,
    *,
    batch_size: int = 32,
    training: bool = False,
    seed: int = 0,
    bucket_boundaries: list[int] | None = None,
) -> tf.data.Dataset:
    """Yields (token_ids (batch, time) int64, label (batch,) int64)."""

    def encode(example):
        return {"token_ids": _vectorize(vectorizer, example["text"]), "label": example["label"]}

    batches = _batch(
        _shuffle(split, training, seed).map(encode, num_parallel_calls=tf.data.AUTOTUNE),
        lambda element: tf.shape(element["token_ids"])[0],
        batch_size,
        bucket_boundaries,
    )
    return batches.map(lambda batch: (batch["token_ids"], batch["label"])).prefetch(tf.data.AUTOTUNE)


def translation_batches(
    split: tf.data.Dataset,
    source_vectorizer: keras.layers.TextVectorization,
    target_vectorizer: keras.layers.TextVectorization,
    *,
    batch_size: int = 32,
    training: bool = False,
    seed: int = 0,
    bucket_boundaries: list[int] | None = None,
) -> tf.data.Dataset:
    """Yields teacher-forcing batches for an encoder-decoder.

    Inputs are {"source": (batch, source_time), "decoder_input":
    (batch, target_time)} and the target is decoder_target
    (batch, target_time), all int64 padded with `PAD_ID`, where
    decoder_input = [start] + target and decoder_target = target + [end]:
    at step t the decoder sees target token t-1 and predicts token t.
    Padding sits at the same positions in decoder_input and decoder_target,
    so mask the loss with `ignore_class=PAD_ID` or the mask of an
    `Embedding(mask_zero=True)` on decoder_input.
    """
    vocabulary = target_vectorizer.get_vocabulary()
    if START_TOKEN not in vocabulary or END_TOKEN not in vocabulary:
        raise DatasetError(
            "target_vectorizer lacks the start/end tokens: build it with "
            "make_text_vectorizer(..., special_tokens=(START_TOKEN, END_TOKEN))."
        )
    start = tf.constant([vocabulary.index(START_TOKEN)], tf.int64)
    end = tf.constant([vocabulary.index(END_TOKEN)], tf.int64)

    def encode(example):
        target = _vectorize(target_vectorizer, example["target"])
        return {
            "source": _vectorize(source_vectorizer, example["source"]),
            "decoder_input": tf.concat([start, target], axis=0),
            "decoder_target": tf.concat([target, end], axis=0),
        }

    batches = _batch(
        _encoded(split, encode, training, seed),
        lambda element: tf.maximum(tf.shape(element["source"])[0], tf.shape(element["decoder_input"])[0]),
        batch_size,
        bucket_boundaries,
    )
    return batches.map(
        lambda batch: (
            {"source": batch["source"], "decoder_input": batch["decoder_input"]},
            batch["decoder_target"],
        )
    ).prefetch(tf.data.AUTOTUNE)


def language_model_batches(
    split: tf.data.Dataset,
    vectorizer: keras.layers.TextVectorization,
    *,
    sequence_length: int,
    batch_size: int = 32,
    training: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Yields (inputs (batch, sequence_length), targets (batch, sequence_length)) int64.

    The split's texts are tokenised and joined into one stream, cut into
    non-overlapping windows of sequence_length + 1 ids (a short tail is
    dropped); inputs = window[:-1] and targets = window[1:], so targets are
    the next token at every step. No padding occurs.
    """
    windows = (
        split.map(lambda example: _vectorize(vectorizer, example["text"]), num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        .batch(sequence_length + 1, drop_remainder=True)
    )
    return (
        _shuffle(windows, training, seed)
        .map(lambda window: (window[:-1], window[1:]))
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def frame_batches(
    split: tf.data.Dataset,
    *,
    batch_size: int = 32,
    training: bool = False,
    seed: int = 0,
    bucket_boundaries: list[int] | None = None,
) -> tf.data.Dataset:
    """Yields (features, labels, sample_weight) for per-frame classification.

    features (batch, time, dim) float32 padded with 0.0; labels (batch, time)
    int64 padded with `FRAME_LABEL_PAD`; sample_weight (batch, time) float32,
    1.0 on real frames and 0.0 on padding, which Keras `fit` applies to the
    loss and to `weighted_metrics`. Real frames are never all zeros, so a
    `keras.layers.Masking(0.0)` layer recovers the mask for recurrent
    layers (it matters for the backward half of a bidirectional layer,
    which would otherwise start in the padding).
    """

    def add_weights(example):
        return {**example, "sample_weight": tf.ones_like(example["labels"], tf.float32)}

    batches = _batch(
        _shuffle(split, training, seed).map(add_weights),
        lambda element: tf.shape(element["labels"])[0],
        batch_size,
        bucket_boundaries,
    )
    return batches.map(
        lambda batch: (batch["features"], batch["labels"], batch["sample_weight"])
    ).prefetch(tf.data.AUTOTUNE)


def _vectorize(vectorizer: keras.layers.TextVectorization, text: tf.Tensor) -> tf.Tensor:
    """A scalar string -> token ids (time,)."""
    return vectorizer(text[tf.newaxis])[0]


def _shuffle(dataset: tf.data.Dataset, training: bool, seed: int) -> tf.data.Dataset:
    return dataset.shuffle(SHUFFLE_BUFFER, seed=seed) if training else dataset


def _encoded(split: tf.data.Dataset, encode, training: bool, seed: int) -> tf.data.Dataset:
    """`split` mapped through `encode`, shuffled when training.

    A split of known size, at most `CACHE_EXAMPLES` examples, is encoded once
    and its ids kept in memory: vectorizing costs CPU every epoch on the
    cores the model trains on (an epoch of cmudict_g2p's 108,063 pairs took
    17-21 s of CPU to batch, 6-7 s from the cache, on a 2-core machine). The
    shuffle sits after the cache and draws the orders it drew before the
    map, so the batches do not change. Used for translation pairs, which are
    short; sentiment's texts can be long enough to make a cache large.
    """
    encoded = split.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    if 0 <= int(split.cardinality()) <= CACHE_EXAMPLES:
        encoded = encoded.cache()
    return _shuffle(encoded, training, seed)


def _batch(dataset: tf.data.Dataset, length, batch_size: int, bucket_boundaries) -> tf.data.Dataset:
    """Pads batches of dict elements with zeros, optionally bucketed by `length(element)`."""
    if bucket_boundaries is None:
        return dataset.padded_batch(batch_size)
    return dataset.bucket_by_sequence_length(
        length, bucket_boundaries, [batch_size] * (len(bucket_boundaries) + 1)
    )
