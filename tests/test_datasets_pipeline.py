"""Input pipelines: vectorizer, padding, masks, seeded shuffle, teacher forcing, LM windows."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import datasets
from datasets import DatasetError, pipeline


def text_dataset(texts):
    return tf.data.Dataset.from_tensor_slices(texts)


def sentiment_split(count=40):
    texts = [" ".join(["word"] * (1 + i % 7)) + f" w{i}" for i in range(count)]
    return tf.data.Dataset.from_tensor_slices({"text": texts, "label": np.arange(count, dtype=np.int64) % 2})


def test_vectorizer_pads_with_0_and_maps_unknown_to_1():
    vectorizer = pipeline.make_text_vectorizer(text_dataset(["a b b", "b c"]), "words")

    ids = vectorizer(tf.constant(["b a", "c zzz c"])).numpy()

    assert vectorizer.get_vocabulary()[: pipeline.OOV_ID + 1] == ["", "[UNK]"]
    b, a, c = (vectorizer.get_vocabulary().index(token) for token in ("b", "a", "c"))
    np.testing.assert_array_equal(ids, [[b, a, pipeline.PAD_ID], [c, pipeline.OOV_ID, c]])


def test_vectorizer_splits_chinese_into_characters():
    vectorizer = pipeline.make_text_vectorizer(text_dataset(["很好", "不好"]), "chars")

    ids = vectorizer(tf.constant(["好很不"])).numpy()[0]

    assert [vectorizer.get_vocabulary()[i] for i in ids] == ["好", "很", "不"]


def test_vectorizer_special_tokens_and_max_tokens():
    texts = text_dataset(["a a a b b c d e"])
    vectorizer = pipeline.make_text_vectorizer(
        texts, "words", max_tokens=6, special_tokens=(pipeline.START_TOKEN, pipeline.END_TOKEN)
    )

    # 6 = padding, OOV, start, end and the two most frequent words.
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "[start]", "[end]", "a", "b"]
    # Standardisation strips the brackets, so text cannot produce the start token.
    assert vectorizer(tf.constant(["[start] a"])).numpy().tolist() == [[pipeline.OOV_ID, 4]]


def test_vectorizer_inside_an_exported_model_serves_raw_strings(tmp_path):
    split = sentiment_split()
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["text"]), "words")
    texts = keras.Input(shape=(), dtype="string")
    token_ids = vectorizer(texts)
    embedded = keras.layers.Embedding(vectorizer.vocabulary_size(), 8, mask_zero=True)(token_ids)
    probability = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling1D()(embedded))
    model = keras.Model(texts, probability)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(split.map(lambda example: (example["text"], example["label"])).batch(8), epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)

    model.export(str(tmp_path / "model"), verbose=False)
    # Keep the loaded object: its variables die with it.
    reloaded = tf.saved_model.load(str(tmp_path / "model"))
    served = reloaded.serve(tf.constant(["word word w3", "never seen"]))

    assert served.shape == (2, 1)
    np.testing.assert_allclose(served.numpy(), model.predict(tf.constant(["word word w3", "never seen"]), verbose=0), rtol=1e-5)


def test_sentiment_batches_pad_with_0_to_the_longest_text():
    split = sentiment_split(10)
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["text"]), "words")

    token_ids, labels = next(iter(pipeline.sentiment_batches(split, vectorizer, batch_size=4)))

    # Texts 0..3 have 2..5 words.
    assert token_ids.shape == (4, 5) and token_ids.dtype == tf.int64
    assert labels.numpy().tolist() == [0, 1, 0, 1]
    np.testing.assert_array_equal((token_ids.numpy() != pipeline.PAD_ID).sum(axis=1), [2, 3, 4, 5])


def test_bucketing_groups_similar_lengths():
    split = sentiment_split(70)
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["text"]), "words")

    batches = pipeline.sentiment_batches(split, vectorizer, batch_size=5, bucket_boundaries=[5])

    widths = []
    for token_ids, _ in batches:
        lengths = (token_ids.numpy() != pipeline.PAD_ID).sum(axis=1)
        # Lengths 2..4 go to the first bucket, 5..8 to the second.
        assert (lengths < 5).all() or (lengths >= 5).all()
        widths.append(token_ids.shape[1])
    assert sum(1 for width in widths if width <= 4) == 6


def first_epoch_token_ids(split, vectorizer, seed, training=True):
    batches = pipeline.sentiment_batches(split, vectorizer, batch_size=50, training=training, seed=seed)
    return [texts.numpy().tolist() for texts, _ in batches]


def test_train_shuffle_is_seeded_and_evaluation_keeps_order():
    split = sentiment_split(50)
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["text"]), "words")

    assert first_epoch_token_ids(split, vectorizer, seed=1) == first_epoch_token_ids(split, vectorizer, seed=1)
    assert first_epoch_token_ids(split, vectorizer, seed=1) != first_epoch_token_ids(split, vectorizer, seed=2)
    in_order = first_epoch_token_ids(split, vectorizer, seed=1, training=False)
    assert in_order == first_epoch_token_ids(split, vectorizer, seed=2, training=False)
    assert in_order != first_epoch_token_ids(split, vectorizer, seed=1)


def test_translation_batches_shift_the_target_for_teacher_forcing():
    split = tf.data.Dataset.from_tensor_slices({
        "source": ["one", "two three", "four"],
        "target": ["un", "deux trois", "quatre cinq six"],
    })
    source_vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["source"]), "words")
    target_vectorizer = pipeline.make_text_vectorizer(
        split.map(lambda example: example["target"]), "words", special_tokens=(pipeline.START_TOKEN, pipeline.END_TOKEN)
    )
    vocabulary = target_vectorizer.get_vocabulary()

    inputs, decoder_target = next(iter(pipeline.translation_batches(split, source_vectorizer, target_vectorizer, batch_size=3)))

    assert inputs["source"].shape == (3, 2)
    assert inputs["decoder_input"].shape == decoder_target.shape == (3, 4)
    words = [[vocabulary[i] for i in row] for row in inputs["decoder_input"].numpy()]
    assert words[1] == ["[start]", "deux", "trois", ""]
    words = [[vocabulary[i] for i in row] for row in decoder_target.numpy()]
    assert words[1] == ["deux", "trois", "[end]", ""]
    assert words[2] == ["quatre", "cinq", "six", "[end]"]
    # Padding sits at the same positions in input and target.
    np.testing.assert_array_equal(inputs["decoder_input"].numpy() == 0, decoder_target.numpy() == 0)


def translation_split(count=40):
    return tf.data.Dataset.from_tensor_slices({
        "source": [" ".join(["a"] * (1 + i % 5)) + f" s{i}" for i in range(count)],
        "target": [" ".join(["b"] * (1 + i % 3)) + f" t{i}" for i in range(count)],
    })


def epochs_of(batches, count):
    """`count` passes over one dataset object, each as a list of numpy batches."""
    return [[tf.nest.map_structure(lambda tensor: np.asarray(tensor.numpy()).tolist(), batch) for batch in batches]
            for _ in range(count)]


def test_small_text_splits_are_encoded_once_and_batch_as_without_the_cache(monkeypatch):
    split = translation_split()
    source = pipeline.make_text_vectorizer(split.map(lambda example: example["source"]), "words")
    target = pipeline.make_text_vectorizer(split.map(lambda example: example["target"]), "words",
                                           special_tokens=(pipeline.START_TOKEN, pipeline.END_TOKEN))
    options = dict(batch_size=4, training=True, seed=3, bucket_boundaries=[3, 5])
    cached = epochs_of(pipeline.translation_batches(split, source, target, **options), 3)
    monkeypatch.setattr(pipeline, "CACHE_EXAMPLES", -1)
    assert cached == epochs_of(pipeline.translation_batches(split, source, target, **options), 3)
    assert cached[0] != cached[1]  # still reshuffled every epoch

    calls = tf.Variable(0)

    def counting_encode(example):
        calls.assign_add(1)
        return example

    for cache_examples, expected_calls in ((40, 40), (39, 80)):
        calls.assign(0)
        monkeypatch.setattr(pipeline, "CACHE_EXAMPLES", cache_examples)
        encoded = pipeline._encoded(split, counting_encode, training=True, seed=0)
        epochs_of(encoded, 2)
        assert int(calls.numpy()) == expected_calls


def test_translation_batches_need_start_and_end_tokens():
    split = tf.data.Dataset.from_tensor_slices({"source": ["a"], "target": ["b"]})
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["target"]), "words")

    with pytest.raises(DatasetError, match="special_tokens"):
        pipeline.translation_batches(split, vectorizer, vectorizer)


def test_language_model_windows_are_shifted_by_one_token():
    # 23 tokens over three texts -> 3 windows of 7; the last 2 tokens are dropped.
    texts = [" ".join(f"t{i}" for i in range(start, stop)) for start, stop in ((0, 10), (10, 11), (11, 23))]
    split = tf.data.Dataset.from_tensor_slices({"text": texts})
    vectorizer = pipeline.make_text_vectorizer(split.map(lambda example: example["text"]), "words")
    token_of = {token: index for index, token in enumerate(vectorizer.get_vocabulary())}
    stream = [token_of[f"t{i}"] for i in range(23)]

    batches = list(pipeline.language_model_batches(split, vectorizer, sequence_length=6, batch_size=2))

    assert [inputs.shape for inputs, _ in batches] == [(2, 6), (1, 6)]
    inputs = np.concatenate([inputs for inputs, _ in batches])
    targets = np.concatenate([targets for _, targets in batches])
    for window in range(3):
        np.testing.assert_array_equal(inputs[window], stream[7 * window : 7 * window + 6])
        np.testing.assert_array_equal(targets[window], stream[7 * window + 1 : 7 * window + 7])


def frames_split(lengths, dim=3):
    rng = np.random.default_rng(0)
    sequences = [(rng.normal(size=(length, dim)).astype(np.float32), rng.integers(1, 4, length)) for length in lengths]
    return tf.data.Dataset.from_generator(
        lambda: ({"features": features, "labels": labels} for features, labels in sequences),
        output_signature={
            "features": tf.TensorSpec((None, dim), tf.float32),
            "labels": tf.TensorSpec((None,), tf.int64),
        },
    ), sequences


def test_frame_batches_pad_and_weight_out_the_padding():
    split, sequences = frames_split([2, 5, 3])

    features, labels, sample_weight = next(iter(pipeline.frame_batches(split, batch_size=3)))

    assert features.shape == (3, 5, 3) and labels.shape == sample_weight.shape == (3, 5)
    np.testing.assert_array_equal(sample_weight.numpy().sum(axis=1), [2, 5, 3])
    padding = sample_weight.numpy() == 0
    assert (labels.numpy()[padding] == pipeline.FRAME_LABEL_PAD).all()
    assert (features.numpy()[padding] == 0.0).all()
    np.testing.assert_array_equal(features[0, :2], sequences[0][0])


def test_padding_does_not_change_the_weighted_loss():
    split, sequences = frames_split([2, 5, 3])
    features, labels, sample_weight = next(iter(pipeline.frame_batches(split, batch_size=3)))
    logits = tf.random.stateless_normal((*labels.shape, 4), seed=(1, 2))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    padded_loss = loss(labels, logits, sample_weight=sample_weight)
    unpadded_loss = sum(loss(sequence_labels, logits[row, : len(sequence_labels)]) for row, (_, sequence_labels) in enumerate(sequences))

    np.testing.assert_allclose(padded_loss, unpadded_loss, rtol=1e-5)


def test_frame_batches_from_an_npz_file(tmp_path):
    lengths = np.array([4, 1, 3, 2, 5, 2, 3, 1, 2, 4])
    np.savez(
        tmp_path / "frames.npz",
        features=np.ones((lengths.sum(), 39), np.float32),
        labels=np.full(lengths.sum(), 9),
        lengths=lengths,
    )
    loaded = datasets.load("frames", tmp_path / "frames.npz")

    features, labels, sample_weight = next(iter(pipeline.frame_batches(loaded.splits["train"], batch_size=8)))

    assert loaded.feature_dim == 39 and len(loaded.label_names) == 10
    assert features.shape[0] == 8 and features.shape[2] == 39
    np.testing.assert_array_equal(labels.numpy() == 9, sample_weight.numpy() == 1.0)
