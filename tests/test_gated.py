"""zoo.layers.LSTM and GRU against the NumPy reference and Keras's own layers, in everything BasicRNN supports."""

import numpy as np
import pytest
import keras
import tensorflow as tf

import numpy_reference
from numpy_reference import lengths_to_mask
from zoo.layers import GRU, LSTM, Bidirectional, GRUCell, LSTMCell

TOLERANCE = 1e-5
LAYERS = {LSTM: keras.layers.LSTM, GRU: keras.layers.GRU}


def random_inputs(batch=3, time=7, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


def built(layer, features=4, seed=1):
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()])
    return layer


def reference(layer, x, states=None, mask=None):
    """The NumPy reference with `layer`'s weights: (outputs, [final states])."""
    weights = layer.get_weights()
    states = states or [None] * len(layer.cell.state_size_list)
    if isinstance(layer, LSTM):
        outputs, h, c = numpy_reference.lstm(x, *weights, initial_state=states[0], initial_cell=states[1], mask=mask,
                                             reverse=layer.go_backwards)
        return outputs, [h, c]
    outputs, h = numpy_reference.gru(x, *weights, initial_state=states[0], mask=mask, reverse=layer.go_backwards)
    return outputs, [h]


@pytest.mark.parametrize("cell,shapes", [
    (LSTMCell, [(3, 20), (5, 20), (20,)]),
    (GRUCell, [(3, 15), (5, 15), (2, 15)]),
])
def test_cell_weights_have_keras_names_shapes_and_order(cell, shapes):
    ours = cell(5)
    ours.build((None, 3))
    assert [w.path.split("/")[-1] for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [tuple(w.shape) for w in ours.weights] == shapes
    theirs = {LSTMCell: keras.layers.LSTMCell, GRUCell: keras.layers.GRUCell}[cell](5)
    theirs.build((None, 3))
    assert [tuple(w.shape) for w in theirs.weights] == shapes


def test_lstm_starts_its_forget_gate_bias_at_one_as_keras_does():
    cell = LSTMCell(4)
    cell.build((None, 3))
    np.testing.assert_array_equal(cell.bias.numpy(), np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


@pytest.mark.parametrize("layer_class", list(LAYERS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_sequences_and_states_match_the_numpy_reference(layer_class, go_backwards, masked, training):
    x = random_inputs()
    mask = lengths_to_mask([7, 3, 0], 7) if masked else None
    layer = built(layer_class(5, return_sequences=True, return_state=True, go_backwards=go_backwards))
    rng = np.random.default_rng(3)
    states = [rng.normal(size=(3, 5)).astype("float32") for _ in layer.cell.state_size_list]
    outputs, *finals = layer(x, initial_state=states, mask=mask, training=training)
    expected, expected_finals = reference(layer, x, states, mask)
    if go_backwards:
        expected = expected[:, ::-1]
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)
    for final, expected_final in zip(finals, expected_finals):
        np.testing.assert_allclose(final, expected_final, atol=TOLERANCE)


@pytest.mark.parametrize("layer_class", list(LAYERS))
@pytest.mark.parametrize("training", [False, True])
def test_weights_move_both_ways_with_keras_layers(layer_class, training):
    x = random_inputs()
    mask = lengths_to_mask([7, 5, 1], 7)
    theirs = built(LAYERS[layer_class](5, return_sequences=True, return_state=True), seed=4)
    ours = layer_class(5, return_sequences=True, return_state=True)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    for mine, keras_result in zip(ours(x, mask=mask, training=training), theirs(x, mask=mask)):
        np.testing.assert_allclose(mine, keras_result, atol=TOLERANCE)
    back = LAYERS[layer_class](5, return_sequences=True)
    back.build(x.shape)
    back.set_weights(ours.get_weights())
    np.testing.assert_allclose(back(x), ours(x)[0], atol=TOLERANCE)


@pytest.mark.parametrize("layer_class", list(LAYERS))
def test_time_major_takes_and_returns_the_articles_layout(layer_class):
    x = random_inputs()
    batch_major = built(layer_class(5, return_sequences=True))
    time_major = layer_class(5, return_sequences=True, time_major=True)
    time_major.build((7, None, 4))
    time_major.set_weights(batch_major.get_weights())
    mask = lengths_to_mask([7, 2, 5], 7)
    np.testing.assert_allclose(
        time_major(np.swapaxes(x, 0, 1), mask=mask.T), np.swapaxes(batch_major(x, mask=mask), 0, 1), atol=TOLERANCE
    )


@pytest.mark.parametrize("layer_class", list(LAYERS))
def test_stateful_chunks_equal_one_full_pass(layer_class):
    x = random_inputs(batch=2, time=6)
    stateful = layer_class(5, return_sequences=True, stateful=True)
    stateful.build((2, None, 4))
    full = built(layer_class(5, return_sequences=True))
    stateful.set_weights(full.get_weights())
    chunks = np.concatenate([stateful(x[:, :4]), stateful(x[:, 4:])], axis=1)
    np.testing.assert_allclose(chunks, full(x), atol=TOLERANCE)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, :4]), full(x[:, :4]), atol=TOLERANCE)


@pytest.mark.parametrize("layer_class", list(LAYERS))
@pytest.mark.parametrize("training", [False, True])
def test_bidirectional_matches_keras_bidirectional(layer_class, training):
    x = random_inputs(time=11)
    mask = lengths_to_mask([11, 4, 9], 11)
    theirs = keras.layers.Bidirectional(LAYERS[layer_class](5, return_sequences=True, return_state=True),
                                        merge_mode="concat")
    theirs.build(x.shape)
    theirs.set_weights([np.random.default_rng(5).normal(scale=0.5, size=w.shape) for w in theirs.get_weights()])
    ours = Bidirectional(layer_class(5, return_sequences=True, return_state=True), merge_mode="concat")
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    ours_results = ours(x, mask=mask, training=training)
    theirs_results = theirs(x, mask=mask)
    assert len(ours_results) == len(theirs_results) == 1 + 2 * len(ours.forward_layer.cell.state_size_list)
    for mine, keras_result in zip(ours_results, theirs_results):
        np.testing.assert_allclose(mine, keras_result, atol=TOLERANCE)


@pytest.mark.parametrize("layer_class", list(LAYERS))
def test_keras_file_reloads_without_custom_objects(tmp_path, layer_class):
    inputs = keras.Input((None, 4))
    hidden = Bidirectional(layer_class(5, return_sequences=True))(inputs)
    hidden = layer_class(3, return_sequences=True, go_backwards=True)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = random_inputs()
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for original, loaded in zip(model.layers, reloaded.layers):
        assert type(original) is type(loaded) and original.get_config() == loaded.get_config()


def test_only_the_reset_after_gru_is_offered():
    with pytest.raises(ValueError, match="reset_after=True only"):
        GRU(4, reset_after=False)


@pytest.mark.parametrize("layer_class", list(LAYERS))
def test_wrong_number_of_initial_states_is_a_clear_error(layer_class):
    layer = built(layer_class(5))
    with pytest.raises(ValueError, match="initial state tensor"):
        layer(random_inputs(), initial_state=[tf.zeros((3, 5))] * 3)


@pytest.mark.parametrize("layer_class", list(LAYERS))
def test_other_activations_run_on_the_tensorflow_loop(layer_class):
    """The native op has tanh and sigmoid built in; another activation must still compute Keras's equations."""
    x = random_inputs()
    theirs = built(LAYERS[layer_class](5, activation="relu", recurrent_activation="hard_sigmoid",
                                       return_sequences=True))
    ours = layer_class(5, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    assert not ours.cell.native_ok
    np.testing.assert_allclose(ours(x, training=True), theirs(x), atol=TOLERANCE)
