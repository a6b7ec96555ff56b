"""Bidirectional against the NumPy reference of SPEC §3."""

import numpy as np
import pytest
import keras

from layers_testing import cell_weights, with_random_weights
from numpy_reference import bidirectional, lengths_to_mask
from zoo.layers import BasicRNN, Bidirectional

TOLERANCE = 1e-5


def random_inputs(batch=3, time=6, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


def direction_weights(layer):
    return cell_weights(layer.forward_layer.cell), cell_weights(layer.backward_layer.cell)


def test_default_merge_is_sum():
    assert Bidirectional(BasicRNN(3)).merge_mode == "sum"


@pytest.mark.parametrize("merge_mode", ["sum", "concat", "ave", "mul", None])
def test_merge_modes_match_reference(merge_mode):
    x = random_inputs()
    layer = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True), merge_mode=merge_mode))
    expected, _, _ = bidirectional(x, *direction_weights(layer), merge_mode=merge_mode)
    outputs = layer(x)
    if merge_mode is None:
        for output, expected_output in zip(outputs, expected):
            np.testing.assert_allclose(output, expected_output, atol=TOLERANCE)
    else:
        np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)


@pytest.mark.parametrize(
    "share_weights, weight_count", [(None, 6), ("input", 4), ("recurrent", 5), ("all", 3)]
)
def test_share_weights_ties_the_directions(share_weights, weight_count):
    x = random_inputs()
    layer = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True), share_weights=share_weights))
    assert len(layer.trainable_weights) == weight_count
    forward, backward = layer.forward_layer.cell, layer.backward_layer.cell
    shared = {"kernel", "bias"} if share_weights == "input" else set()
    shared |= {"recurrent_kernel"} if share_weights == "recurrent" else set()
    shared |= {"kernel", "recurrent_kernel", "bias"} if share_weights == "all" else set()
    for name in ("kernel", "recurrent_kernel", "bias"):
        assert (getattr(forward, name) is getattr(backward, name)) == (name in shared)
    expected, _, _ = bidirectional(x, *direction_weights(layer))
    np.testing.assert_allclose(layer(x), expected, atol=TOLERANCE)


def test_backward_direction_starts_at_each_sequences_last_real_frame():
    x = random_inputs(batch=4, time=7)
    lengths = [7, 2, 5, 1]
    mask = lengths_to_mask(lengths, 7)
    x[~mask] = -50.0
    layer = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True, return_state=True)))
    outputs, forward_final, backward_final = layer(x, mask=mask)
    expected, expected_forward, expected_backward = bidirectional(x, *direction_weights(layer), mask=mask)
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)
    np.testing.assert_allclose(forward_final, expected_forward, atol=TOLERANCE)
    np.testing.assert_allclose(backward_final, expected_backward, atol=TOLERANCE)
    for sequence, length in enumerate(lengths):
        alone = layer(x[sequence : sequence + 1, :length])[0]
        np.testing.assert_allclose(outputs[sequence, :length], alone[0], atol=TOLERANCE)
        np.testing.assert_array_equal(outputs[sequence, length:], 0.0)


def test_initial_states_for_both_directions():
    x = random_inputs()
    rng = np.random.default_rng(7)
    states = [rng.normal(size=(3, 5)).astype("float32") for _ in range(2)]
    layer = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True), merge_mode="concat"))
    expected, _, _ = bidirectional(x, *direction_weights(layer), merge_mode="concat", initial_states=states)
    np.testing.assert_allclose(layer(x, initial_state=states), expected, atol=TOLERANCE)
    with pytest.raises(ValueError, match="forward states..., backward states"):
        layer(x, initial_state=states[:1])


def test_many_to_one_merges_final_states():
    x = random_inputs()
    mask = lengths_to_mask([6, 4, 2], 6)
    layer = with_random_weights(Bidirectional(BasicRNN(5)))
    _, forward_final, backward_final = bidirectional(x, *direction_weights(layer), mask=mask)
    np.testing.assert_allclose(layer(x, mask=mask), forward_final + backward_final, atol=TOLERANCE)


def test_time_major():
    x = random_inputs()
    mask = lengths_to_mask([6, 3, 4], 6)
    batch_major = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True)))
    time_major = with_random_weights(Bidirectional(BasicRNN(5, return_sequences=True, time_major=True)))
    outputs = time_major(np.transpose(x, (1, 0, 2)), mask=mask.T)
    np.testing.assert_allclose(np.transpose(outputs, (1, 0, 2)), batch_major(x, mask=mask), atol=TOLERANCE)


def test_stateful_chunks_equal_full_forward_pass():
    x = random_inputs(batch=2, time=6)
    layer = Bidirectional(BasicRNN(5, return_sequences=True, return_state=True, stateful=True), merge_mode=None)
    layer.build((2, None, 4))
    first = layer(x[:, :3])
    second = layer(x[:, 3:])
    full = Bidirectional(BasicRNN(5, return_sequences=True, return_state=True), merge_mode=None)
    full.build((2, None, 4))
    full.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.concatenate([first[0], second[0]], axis=1), full(x)[0], atol=TOLERANCE)
    layer.reset_states()
    np.testing.assert_allclose(layer(x[:, :3])[0], first[0], atol=TOLERANCE)


def test_wraps_keras_lstm_like_keras_bidirectional():
    x = random_inputs()
    mask = lengths_to_mask([6, 2, 5], 6)
    ours = Bidirectional(keras.layers.LSTM(5, return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True), merge_mode="sum")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x, mask=mask), theirs(x, mask=mask), atol=TOLERANCE)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(BasicRNN(3), merge_mode="max")
    with pytest.raises(ValueError, match="share_weights"):
        Bidirectional(BasicRNN(3), share_weights="both")
    with pytest.raises(ValueError, match="needs a zoo.layers layer"):
        Bidirectional(keras.layers.GRU(3), share_weights="all")


@pytest.mark.parametrize("share_weights", [None, "recurrent", "all"])
def test_keras_file_reloads_with_identical_outputs(tmp_path, share_weights):
    inputs = keras.Input((None, 4))
    hidden = Bidirectional(BasicRNN(5, return_sequences=True), share_weights=share_weights)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert len(reloaded.trainable_weights) == len(model.trainable_weights)
    x = random_inputs()
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert reloaded.layers[1].get_config() == model.layers[1].get_config()


def test_compute_output_shape():
    assert Bidirectional(BasicRNN(5, return_sequences=True)).compute_output_shape((2, 7, 4)) == (2, 7, 5)
    assert Bidirectional(BasicRNN(5), merge_mode="concat").compute_output_shape((2, 7, 4)) == (2, 10)


def test_copies_made_while_a_model_loads_are_fresh():
    """Loading answers a serialized object whose id() it has seen with the object it recorded then; an address
    reused by a new layer must not bring back an old one into the copies (a flaky load failure otherwise)."""
    from keras.src.saving import serialization_lib

    layer = BasicRNN(3, return_sequences=True)
    stale = BasicRNN(3, return_sequences=True, name="stale")
    with serialization_lib.ObjectSharingScope():
        # As if `layer`'s address had belonged to an object serialized and loaded before.
        serialization_lib.record_object_after_serialization(layer, {"module": None})
        serialization_lib.record_object_after_deserialization(stale, id(layer))
        wrapper = Bidirectional(layer)
    assert wrapper.forward_layer.name == f"forward_{layer.name}"
    assert wrapper.backward_layer.name == f"backward_{layer.name}"
    assert not wrapper.forward_layer.go_backwards and wrapper.backward_layer.go_backwards


@pytest.mark.parametrize("merge_mode", ["sum", "concat", "ave", "mul", None])
@pytest.mark.parametrize("layer_class", ["BasicRNN", "LSTM"])
def test_training_outputs_and_gradients_match_the_inference_loop_for_every_merge(merge_mode, layer_class):
    """In training the op's side-by-side outputs are merged and masked once: the same values and gradients."""
    import tensorflow as tf

    from zoo import layers

    x = tf.constant(random_inputs(batch=4, time=7))
    mask = tf.constant(lengths_to_mask([7, 2, 5, 1], 7))
    layer = with_random_weights(Bidirectional(getattr(layers, layer_class)(5, return_sequences=True),
                                              merge_mode=merge_mode))
    results = []
    for training in (True, False):
        with tf.GradientTape() as tape:
            outputs = layer(x, mask=mask, training=training)
            parts = outputs if merge_mode is None else [outputs]
            loss = sum(tf.reduce_sum(part * tf.sin(tf.range(part.shape[-1], dtype=part.dtype))) for part in parts)
        results.append((parts, tape.gradient(loss, layer.trainable_weights)))
    (trained, trained_gradients), (inferred, inferred_gradients) = results
    for ours, theirs in zip(trained + trained_gradients, inferred + inferred_gradients):
        np.testing.assert_allclose(ours, theirs, atol=TOLERANCE)
    for part in trained:
        assert np.all(part.numpy()[~mask.numpy()] == 0.0)
