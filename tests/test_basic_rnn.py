"""BasicRNNCell and BasicRNN against the NumPy reference of SPEC §2."""

import numpy as np
import pytest
import keras

from numpy_reference import lengths_to_mask, rnn
from zoo.layers import BasicRNN, BasicRNNCell

TOLERANCE = 1e-5


def random_inputs(batch=3, time=7, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


def built_layer(units=5, features=4, seed=1, **kwargs):
    """A BasicRNN with random (not default-initialised) weights, bias included."""
    layer = BasicRNN(units, **kwargs)
    layer.build((None, None, features) if not kwargs.get("time_major") else (None, None, features))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    return layer


def weights_of(layer):
    cell = layer.cell
    bias = cell.bias.numpy() if cell.use_bias else None
    return cell.kernel.numpy(), cell.recurrent_kernel.numpy(), bias


def test_cell_weights_have_keras_names_and_shapes():
    cell = BasicRNNCell(5)
    cell.build((None, 3))
    assert [w.path.split("/")[-1] for w in cell.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [tuple(w.shape) for w in cell.weights] == [(3, 5), (5, 5), (5,)]
    assert cell.state_size == 5 and cell.output_size == 5


def test_cell_step_matches_the_equation():
    cell = BasicRNNCell(5)
    x = random_inputs()[:, 0]
    h = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")
    output, (state,) = cell(x, [h])
    expected = np.tanh(x @ cell.kernel.numpy() + h @ cell.recurrent_kernel.numpy() + cell.bias.numpy())
    np.testing.assert_allclose(output, expected, atol=TOLERANCE)
    np.testing.assert_allclose(state, expected, atol=TOLERANCE)


def test_cell_runs_inside_keras_rnn_like_basic_rnn():
    x = random_inputs()
    layer = built_layer(return_sequences=True)
    keras_rnn = keras.layers.RNN(BasicRNNCell(5), return_sequences=True)
    keras_rnn.build(x.shape)
    keras_rnn.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras_rnn(x), layer(x), atol=TOLERANCE)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear", "softplus"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_sequences_match_reference(activation, use_bias):
    x = random_inputs()
    layer = built_layer(activation=activation, use_bias=use_bias, return_sequences=True, return_state=True)
    outputs, final = layer(x)
    expected, expected_final = rnn(x, *weights_of(layer), activation=activation)
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE, rtol=TOLERANCE)
    np.testing.assert_allclose(final, expected_final, atol=TOLERANCE, rtol=TOLERANCE)


def test_zero_initial_state_makes_first_step_feed_forward():
    x = random_inputs()
    layer = built_layer(return_sequences=True)
    kernel, _, bias = weights_of(layer)
    np.testing.assert_allclose(layer(x)[:, 0], np.tanh(x[:, 0] @ kernel + bias), atol=TOLERANCE)


def test_initial_state_is_used():
    x = random_inputs()
    initial = np.random.default_rng(3).normal(size=(3, 5)).astype("float32")
    layer = built_layer(return_sequences=True)
    expected, _ = rnn(x, *weights_of(layer), initial_state=initial)
    np.testing.assert_allclose(layer(x, initial_state=initial), expected, atol=TOLERANCE)
    np.testing.assert_allclose(layer(x, initial_state=[initial]), expected, atol=TOLERANCE)


def test_last_output_is_the_final_state():
    x = random_inputs()
    layer = built_layer()
    _, expected_final = rnn(x, *weights_of(layer))
    np.testing.assert_allclose(layer(x), expected_final, atol=TOLERANCE)


def test_right_padded_batch_gives_each_sequence_what_it_gets_alone():
    x = random_inputs(batch=4, time=6)
    lengths = [6, 3, 1, 4]
    mask = lengths_to_mask(lengths, 6)
    x[~mask] = 99.0  # padding values must not leak into any result
    layer = built_layer(return_sequences=True, return_state=True)
    outputs, final = layer(x, mask=mask)
    expected, expected_final = rnn(x, *weights_of(layer), mask=mask)
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)
    np.testing.assert_allclose(final, expected_final, atol=TOLERANCE)
    for sequence, length in enumerate(lengths):
        alone, alone_final = layer(x[sequence : sequence + 1, :length])
        np.testing.assert_allclose(outputs[sequence, :length], alone[0], atol=TOLERANCE)
        np.testing.assert_allclose(final[sequence], alone_final[0], atol=TOLERANCE)


def test_mask_from_embedding_is_honoured():
    token_ids = np.array([[3, 1, 2, 0, 0], [4, 4, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(6, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, BasicRNN(5)(embedded))
    np.testing.assert_allclose(model(token_ids)[0], model(token_ids[:1, :3])[0], atol=TOLERANCE)
    np.testing.assert_allclose(model(token_ids)[1], model(token_ids[1:, :2])[0], atol=TOLERANCE)


def test_zero_output_for_mask():
    x = random_inputs()
    mask = lengths_to_mask([7, 2, 5], 7)
    layer = built_layer(return_sequences=True, zero_output_for_mask=True)
    expected, _ = rnn(x, *weights_of(layer), mask=mask)
    np.testing.assert_allclose(layer(x, mask=mask), expected * mask[..., None], atol=TOLERANCE)


def test_go_backwards_matches_keras_convention():
    """Outputs come in processing order, last frame first, as in Keras."""
    x = random_inputs()
    mask = lengths_to_mask([7, 4, 2], 7)
    layer = built_layer(return_sequences=True, return_state=True, go_backwards=True)
    outputs, final = layer(x, mask=mask)
    expected, expected_final = rnn(x, *weights_of(layer), mask=mask, reverse=True)
    np.testing.assert_allclose(outputs, expected[:, ::-1], atol=TOLERANCE)
    np.testing.assert_allclose(final, expected_final, atol=TOLERANCE)
    keras_layer = keras.layers.SimpleRNN(5, return_sequences=True, go_backwards=True)
    keras_layer.build(x.shape)
    keras_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras_layer(x, mask=mask), outputs, atol=TOLERANCE)


def test_time_major_takes_and_returns_the_articles_layout():
    x = random_inputs()
    mask = lengths_to_mask([7, 3, 5], 7)
    batch_major = built_layer(return_sequences=True)
    time_major = built_layer(return_sequences=True, time_major=True)
    outputs = time_major(np.transpose(x, (1, 0, 2)), mask=mask.T)
    assert outputs.shape == (7, 3, 5)
    np.testing.assert_allclose(np.transpose(outputs, (1, 0, 2)), batch_major(x, mask=mask), atol=TOLERANCE)
    assert time_major.compute_output_shape((7, None, 4)) == (7, None, 5)


def test_stateful_chunks_equal_one_full_pass():
    x = random_inputs(batch=2, time=9)
    full = built_layer(return_sequences=True)
    stateful = BasicRNN(5, return_sequences=True, stateful=True)
    stateful.build((2, None, 4))
    stateful.set_weights(full.get_weights())
    chunks = [stateful(x[:, start : start + 3]) for start in range(0, 9, 3)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), full(x), atol=TOLERANCE)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, :3]), full(x[:, :3]), atol=TOLERANCE)


def test_unknown_batch_and_time_in_a_model():
    inputs = keras.Input((None, 4))
    layer = BasicRNN(5, return_sequences=True)
    model = keras.Model(inputs, layer(inputs))
    assert model.output_shape == (None, None, 5)
    for batch, time in [(1, 1), (2, 11), (5, 3)]:
        x = random_inputs(batch=batch, time=time)
        expected, _ = rnn(x, *weights_of(layer))
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=TOLERANCE)


def test_compute_output_shape_with_state():
    layer = BasicRNN(5, return_state=True)
    assert layer.compute_output_shape((2, 7, 4)) == ((2, 5), (2, 5))


def test_config_round_trip():
    layer = BasicRNN(5, activation="relu", use_bias=False, return_sequences=True, go_backwards=True, time_major=True)
    clone = BasicRNN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.cell.activation_name == "relu" and not clone.cell.use_bias and clone.time_major


def test_keras_file_reloads_without_custom_objects(tmp_path):
    inputs = keras.Input((None, 4))
    outputs = BasicRNN(5, return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(outputs))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = random_inputs()
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_units_is_a_clear_error():
    with pytest.raises(ValueError, match="positive integer `units`"):
        BasicRNN(0)
