"""The TensorFlow-ops time loop (zoo/layers/recurrence.py) of every cell: its gradients against finite
differences and Keras's layers, and its outputs against the NumPy reference.

float64 keeps the native op out (it runs float32 only), so `training=True` and
`training=False` both run the TensorFlow-ops loop here; tests/test_native_kernel.py
checks the native op against it.
"""

import numpy as np
import pytest
import tensorflow as tf
import keras

import numpy_reference
from numpy_reference import lengths_to_mask
from zoo.layers import GRU, LSTM, BasicRNN, Bidirectional, recurrence


def float64_layer(layer, features, seed=0):
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.6, size=w.shape) for w in layer.get_weights()])
    return layer


@tf.function(reduce_retracing=True)
def loss_and_gradients(layer, x, mask, initial_state, probe, training):
    with tf.GradientTape() as tape:
        tape.watch([x, *initial_state])
        outputs, *finals = layer(x, mask=mask, initial_state=initial_state, training=training)
        loss = tf.reduce_sum(outputs * probe) + sum(tf.reduce_sum(f * f) for f in finals)
    gradients = tape.gradient(loss, [x, *initial_state, *layer.trainable_weights])
    return loss, gradients


def numerical_gradient(function, value, epsilon=1e-6):
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        original = value[index]
        value[index] = original + epsilon
        plus = function()
        value[index] = original - epsilon
        minus = function()
        value[index] = original
        gradient[index] = (plus - minus) / (2 * epsilon)
    return gradient


def check_against_finite_differences(layer, x, mask, initial_state, training):
    probe = np.random.default_rng(5).normal(size=layer(x, mask=mask, initial_state=initial_state)[0].shape)
    x, initial_state = tf.constant(x), [tf.constant(s) for s in initial_state]
    _, gradients = loss_and_gradients(layer, x, mask, initial_state, probe, training)
    weights = [w.numpy() for w in layer.trainable_weights]

    def loss():
        for variable, value in zip(layer.trainable_weights, weights):
            variable.assign(value)
        return float(
            loss_and_gradients(layer, values[0], mask, values[1 : 1 + len(initial_state)], probe, training)[0]
        )

    values = [x.numpy(), *[s.numpy() for s in initial_state], *weights]
    for analytic, value in zip(gradients, values):
        assert np.all(np.isfinite(analytic))
        np.testing.assert_allclose(analytic, numerical_gradient(loss, value), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear", "softplus"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_basic_rnn_gradients_equal_finite_differences(activation, go_backwards, training):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 2))
    mask = lengths_to_mask([5, 3], 5)
    layer = float64_layer(
        BasicRNN(3, activation=activation, return_sequences=True, return_state=True, go_backwards=go_backwards,
                 dtype="float64"),
        features=2,
    )
    check_against_finite_differences(layer, x, mask, [rng.normal(size=(2, 3))], training)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layer_class", [LSTM, GRU])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gated_gradients_equal_finite_differences(layer_class, go_backwards, training):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 2))
    mask = lengths_to_mask([5, 3], 5)
    layer = float64_layer(
        layer_class(3, return_sequences=True, return_state=True, go_backwards=go_backwards, dtype="float64"),
        features=2,
    )
    states = [rng.normal(size=(2, 3)) for _ in layer.cell.state_size_list]
    check_against_finite_differences(layer, x, mask, states, training)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("share_weights", [None, "input", "recurrent", "all"])
def test_bidirectional_gradients_equal_finite_differences(share_weights, training):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 2))
    mask = lengths_to_mask([2, 4], 4)
    layer = float64_layer(
        Bidirectional(BasicRNN(3, return_sequences=True, return_state=True, dtype="float64"),
                      merge_mode="concat", share_weights=share_weights, dtype="float64"),
        features=2,
    )
    check_against_finite_differences(layer, x, mask, [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))], training)


KERAS_LAYERS = {BasicRNN: keras.layers.SimpleRNN, LSTM: keras.layers.LSTM, GRU: keras.layers.GRU}


@pytest.mark.parametrize("layer_class", list(KERAS_LAYERS))
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("length", [1, 4, 11, 17])
def test_gradients_equal_keras_autodiff(layer_class, time_major, length, training, monkeypatch):
    """Lengths below, at and past whole blocks of frames, with the inputs' gradient too, against Keras's layer."""
    monkeypatch.setenv("ZOO_NATIVE_KERNEL", "0")
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(4, length, 5)).astype("float32"))
    mask = tf.constant(lengths_to_mask([length, max(1, length - 3), 1, length], length))
    ours = Bidirectional(layer_class(6, return_sequences=True, time_major=time_major))
    theirs = keras.layers.Bidirectional(KERAS_LAYERS[layer_class](6, return_sequences=True), merge_mode="sum")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights([rng.normal(scale=0.5, size=w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    gradients = []
    for layer, inputs, layer_mask, to_batch_major in (
        (ours, tf.transpose(x, (1, 0, 2)), tf.transpose(mask), lambda y: tf.transpose(y, (1, 0, 2)))
        if time_major else (ours, x, mask, lambda y: y),
        (theirs, x, mask, lambda y: y),
    ):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.sin(to_batch_major(layer(inputs, mask=layer_mask, training=training))))
        input_gradient, *weight_gradients = tape.gradient(loss, [inputs, *layer.trainable_weights])
        gradients.append([to_batch_major(input_gradient), *weight_gradients])
    for ours_gradient, theirs_gradient in zip(*gradients):
        np.testing.assert_allclose(ours_gradient, theirs_gradient, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer_class", list(KERAS_LAYERS))
def test_gradient_inside_a_compiled_training_step(layer_class):
    inputs = keras.Input((None, 3))
    hidden = Bidirectional(layer_class(4, return_sequences=True))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(4).normal(size=(8, 6, 3)).astype("float32")
    y = np.ones((8, 6, 2), "float32")
    losses = model.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def reference(cell, x, weights, states, mask, reverse):
    """The NumPy reference of `cell`: (outputs, final states)."""
    if cell == "basic":
        outputs, final = numpy_reference.rnn(x, weights[0], weights[1], weights[2], initial_state=states[0],
                                             mask=mask, reverse=reverse)
        return outputs, [final]
    if cell == "lstm":
        outputs, final_h, final_c = numpy_reference.lstm(x, *weights, initial_state=states[0], initial_cell=states[1],
                                                         mask=mask, reverse=reverse)
        return outputs, [final_h, final_c]
    outputs, final = numpy_reference.gru(x, *weights, initial_state=states[0], mask=mask, reverse=reverse)
    return outputs, [final]


CELL_LAYERS = {"basic": BasicRNN, "lstm": LSTM, "gru": GRU}


@pytest.mark.parametrize("cell", list(CELL_LAYERS))
@pytest.mark.parametrize("static_batch", [True, False])
@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 17, 32, 33, 70, 300])
def test_inference_loop_matches_the_numpy_reference(cell, length, static_batch):
    """Whole blocks and not, no frames at all, both directions, a mask with gaps, initial states, and the static
    batch of one (model.tflite's signature, which keeps its states in a buffer instead of a TensorArray)."""
    rng = np.random.default_rng(6)
    batch = 1 if static_batch else 3
    x = rng.normal(size=(batch, length, 2)).astype("float32")
    mask = lengths_to_mask(rng.integers(0, length + 1, batch), length)
    mask[:, length // 2 :] |= rng.random((batch, length - length // 2)) < 0.5  # gaps inside sequences too
    layers = [CELL_LAYERS[cell](3, go_backwards=reverse) for reverse in (False, True)]
    for layer in layers:
        layer.build((None, None, 2))
        layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()])
    initial_states = [[rng.normal(size=(batch, 3)).astype("float32") for _ in layer.cell.state_size_list]
                      for layer in layers]

    @tf.function(input_signature=[tf.TensorSpec([batch if static_batch else None, None, 2]),
                                  tf.TensorSpec([batch if static_batch else None, None], tf.bool)])
    def run(x, mask):
        return recurrence.run(x, [layer.direction(states) for layer, states in zip(layers, initial_states)], mask)

    for (outputs, finals), layer, states in zip(run(x, mask), layers, initial_states):
        expected, expected_finals = reference(cell, x, layer.get_weights(), states, mask, layer.go_backwards)
        np.testing.assert_allclose(outputs, expected.reshape(outputs.shape), atol=1e-5)
        for final, expected_final in zip(finals, expected_finals):
            np.testing.assert_allclose(final, expected_final, atol=1e-5)
