"""Defaults that adapt to the data: a step budget, a warmed-up weight average, the best epoch kept, tables sized by the data."""

import json
import math

import keras
import numpy as np
import tensorflow as tf

from conftest import write_frames_npz, write_translation_tsv
from datasets import pipeline
from zoo import data, models, settings, training
from zoo.callbacks import BestWeightsEarlyStopping
from zoo.models import cells
from zoo.optimizers import WarmupAveragedAdam
from zoo.tasks import classification


def test_the_weight_average_warms_up_as_tensorflows_exponential_moving_average():
    variable = keras.Variable(np.zeros(1, np.float32))
    optimizer = WarmupAveragedAdam(0.1, use_ema=True, ema_momentum=0.5)
    optimizer.build([variable])
    average = np.zeros(1)
    for step in range(6):
        optimizer.apply([tf.constant([-1.0])], [variable])
        momentum = min(0.5, (1 + step) / (10 + step))
        average = momentum * average + (1 - momentum) * variable.numpy()
        np.testing.assert_allclose(optimizer._model_variables_moving_average[0].numpy(), average, rtol=1e-6)


def test_the_average_survives_saving_with_the_model(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(WarmupAveragedAdam(0.01, use_ema=True, ema_momentum=0.99), loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, WarmupAveragedAdam) and loaded.optimizer.ema_momentum == 0.99


def test_weight_decay_shrinks_kernels_and_embeddings_but_not_biases():
    from zoo import layers

    model = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 2), layers.LSTM(4)])
    run = settings.Settings(model="seq2seq", cell="lstm", learning_rate=0.1, weight_decay=0.5)
    training.compile_model(model, "translation", run)
    before = {weight.path: weight.numpy().copy() for weight in model.weights}
    model.optimizer.apply([tf.zeros_like(weight) for weight in model.weights], model.weights)
    for weight in model.weights:
        shrink = 1.0 if weight.name == "bias" else 1 - 0.1 * 0.5
        np.testing.assert_allclose(weight.numpy(), before[weight.path] * shrink, rtol=1e-6, err_msg=weight.path)
    assert sorted(weight.name for weight in model.weights) == ["bias", "embeddings", "kernel", "recurrent_kernel"]


class ValidationLosses(keras.callbacks.Callback):
    """Stands in for validation: epoch e reports `losses[e]` and changes the weights, so epochs are told apart."""

    def __init__(self, losses):
        super().__init__()
        self.losses = losses

    def on_epoch_end(self, epoch, logs=None):
        self.model.set_weights([np.full_like(weight, epoch) for weight in self.model.get_weights()])
        logs["val_loss"] = self.losses[epoch]


def test_the_best_epoch_is_kept_even_when_training_uses_every_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", loss="mse")
    stopping = BestWeightsEarlyStopping(patience=5, restore_best_weights=True)
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=4, verbose=0,
              callbacks=[ValidationLosses([3.0, 1.0, 2.0, 2.5]), stopping])
    assert stopping.stopped_epoch == 0  # Keras's callback alone would keep epoch 4's weights.
    assert all((weight == 1).all() for weight in model.get_weights())


def test_epochs_come_from_the_step_budget_and_an_explicit_epoch_count_replaces_it(tmp_path):
    path = write_frames_npz(tmp_path / "frames.npz", sequences=40)
    budget = settings.for_model("framewise", dataset=str(path), batch_size=8, steps=10, epochs=300)
    prepared = data.prepare(models.get("framewise").task, budget)
    planned, batches = training.plan(budget, prepared)
    # 40 sequences: 32 train, batches of 8.
    assert batches == 4 and planned.epochs == math.ceil(10 / 4)
    # Planned again, the counts are read from the datasets, not counted anew.
    assert training.plan(budget, prepared)[1] == 4
    assert tf.data.experimental.cardinality(prepared.batches["train"]).numpy() == 4
    # 4 validation sequences: one batch, known before Keras first reads it.
    assert tf.data.experimental.cardinality(prepared.batches["validation"]).numpy() == 1
    assert settings.for_model("framewise", epochs=7).steps is None
    assert settings.for_model("framewise").steps is not None
    capped = settings.for_model("framewise", dataset=str(path), batch_size=8, steps=1000, epochs=5)
    assert training.plan(capped, data.prepare("frames", capped))[0].epochs == 5


def test_the_g2p_budget_gives_a_small_dictionary_more_epochs_and_the_command_line_can_replace_it(tmp_path):
    path = write_translation_tsv(tmp_path / "words.tsv", pairs=200)
    recipe = settings.for_model("g2p", dataset=str(path))
    planned, batches = training.plan(recipe, data.prepare("translation", recipe))
    # cmudict_g2p's 1,686-1,689 batches get the 12 epochs the recipe was tuned with; a few batches get many more.
    assert math.ceil(recipe.steps / 1689) == math.ceil(recipe.steps / 1686) == 12
    assert batches < 10 and planned.epochs == min(recipe.epochs, math.ceil(recipe.steps / batches)) > 12
    explicit = settings.for_model("g2p", dataset=str(path), epochs=3)
    assert explicit.steps is None and training.plan(explicit, data.prepare("translation", explicit))[0].epochs == 3


def test_a_user_run_records_what_the_data_decided(tmp_path):
    path = write_frames_npz(tmp_path / "frames.npz", sequences=40)
    run = tmp_path / "run"
    toy = settings.for_model("framewise", dataset=str(path), units=4, batch_size=8, steps=8)
    training.train(toy, run, command="test", verbose=0)
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == {"epochs": 2, "steps_per_epoch": 4}
    assert config["settings"]["epochs"] == 300


def test_bigram_buckets_are_sized_by_the_training_bigrams_and_left_out_when_they_are_rare():
    batches = tf.data.Dataset.from_tensors((np.array([[2, 3, 2, 3], [4, 0, 0, 0]]), np.array([0, 1])))
    # (0,2) (2,3) (3,2) (2,3) (3,0) and (0,4) (4,0): the pairs at the text's ends count, padding after the end does not.
    assert classification.bigram_counts(batches, 10) == (6, 7)
    # Bigrams seen 7/6 times on average are too rare for a table; a text repeated often enough gets one.
    assert classification.bigram_buckets_for(6, 7) == 0
    assert classification.bigram_buckets_for(6, 6 * classification.MIN_BIGRAM_REPEATS) == classification.next_prime(8)
    assert classification.next_prime(24) == 29 and classification.next_prime(29) == 29


def test_embedding_width_grows_with_the_vocabulary_and_the_plan_records_it(tmp_path):
    widths = [cells.embedding_dim_for(size) for size in (10, 2_000, 4_413, 20_000, 10**9)]
    assert widths == [16, 24, 32, 48, 256]
    path = tmp_path / "reviews.csv"
    words = [f"word{index}" for index in range(300)]
    path.write_text("text,label\n" + "".join(f"{' '.join(words[i:i + 9])},{i % 2}\n" for i in range(290)))
    chosen = settings.for_model("sentiment", dataset=str(path), units=4, steps=2)
    assert chosen.embedding_dim is None
    prepared = data.prepare("sentiment", chosen)
    planned, _ = training.plan(chosen, prepared)
    assert planned.embedding_dim == cells.embedding_dim_for(prepared.info.vocabulary_size)
    model = models.get("sentiment").build(prepared.info, planned)
    assert model.get_layer("embedding").output_dim == planned.embedding_dim
    # Built without a plan (the Python API), the model sizes it the same way.
    assert models.get("sentiment").build(prepared.info, chosen).get_layer("embedding").output_dim == planned.embedding_dim


def test_words_seen_once_map_to_the_out_of_vocabulary_id():
    texts = tf.data.Dataset.from_tensor_slices(["good good film", "bad film", "odd"])
    vectorizer = pipeline.make_text_vectorizer(texts, "words", min_count=2)
    assert sorted(vectorizer.get_vocabulary()[2:]) == ["film", "good"]
    assert vectorizer(["odd film"]).numpy().tolist()[0][0] == pipeline.OOV_ID


def test_words_are_split_at_any_punctuation_and_a_rebuilt_vectorizer_agrees():
    texts = tf.data.Dataset.from_tensor_slices(["很好，不错。", "很好，很差！", "Good,bad."])
    vectorizer = pipeline.make_text_vectorizer(texts, "words", standardize="lower_and_split_punctuation")
    assert set(vectorizer.get_vocabulary()[2:]) == {"很好", "不错", "很差", "good", "bad"}
    entry = {"tokens": "words", "standardize": "lower_and_split_punctuation",
             "vocabulary": vectorizer.get_vocabulary()[2:]}
    rebuilt = data.vectorizer_from_vocabulary(entry)
    np.testing.assert_array_equal(rebuilt(["很好。不错"]).numpy(), vectorizer(["很好。不错"]).numpy())


def test_smoothed_loss_of_logits_is_the_mean_over_real_tokens_of_numpy_smoothed_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    labels = np.array([[2, 4, 0], [3, 0, 0]])  # 0 is padding
    loss = classification.SmoothedSparseCategoricalCrossentropy(0.1, from_logits=True, ignore_class=0)

    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.eye(5)[labels] * 0.9 + 0.1 / 5
    per_token = -(targets * log_probabilities).sum(-1)
    real = labels != 0
    np.testing.assert_allclose(float(loss(labels, logits)), per_token[real].mean(), rtol=1e-5)

    unsmoothed = classification.SmoothedSparseCategoricalCrossentropy(0.0, from_logits=True, ignore_class=0)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    np.testing.assert_allclose(float(unsmoothed(labels, logits)), float(keras_loss(labels, logits)), rtol=1e-5)


def test_translation_trains_with_label_smoothing_when_asked():
    from zoo import tasks

    task = tasks.get("translation")
    plain = task.loss(settings.for_model("seq2seq", label_smoothing=0.0))
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    smoothed = task.loss(settings.for_model("seq2seq", label_smoothing=0.1))
    assert isinstance(smoothed, classification.SmoothedSparseCategoricalCrossentropy)
    assert (smoothed.label_smoothing, smoothed.ignore_class, smoothed.from_logits) == (0.1, pipeline.PAD_ID, True)
    assert isinstance(task.loss(settings.for_model("g2p")), classification.SmoothedSparseCategoricalCrossentropy)


def test_smoothed_loss_in_a_seq2seq_model_whose_logits_carry_a_mask_counts_padding_once():
    """The decoder's logits carry Keras's padding mask; Keras must not average the loss over it a second time."""
    info = data.DataInfo(source_vocabulary_size=12, target_vocabulary_size=10)
    model = models.get("g2p").build(info, settings.for_model("g2p", units=8, embedding_dim=4, dropout=0.0))
    rng = np.random.default_rng(0)
    source, decoder_input, target = (rng.integers(2, high, (6, 7)) for high in (12, 10, 10))
    decoder_input[:, 4:] = target[:, 4:] = 0
    decoder_input[0, 2:] = target[0, 2:] = 0
    inputs = {"source": source, "decoder_input": decoder_input}
    assert getattr(model(inputs), "_keras_mask", None) is not None
    losses = []
    for loss in (keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=pipeline.PAD_ID),
                 classification.SmoothedSparseCategoricalCrossentropy(1e-9, from_logits=True,
                                                                      ignore_class=pipeline.PAD_ID)):
        model.compile("adam", loss)
        losses.append(model.evaluate(inputs, target, verbose=0))
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
