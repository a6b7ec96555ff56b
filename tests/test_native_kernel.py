"""The compiled BasicRNN op (zoo/layers/native_kernel.*) against the NumPy reference and the float64 TF-ops loop."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from numpy_reference import lengths_to_mask, rnn
from zoo.layers import BasicRNN, Bidirectional, native_kernel
from zoo.layers.recurrence import FAST_ACTIVATIONS, run_recurrence

# 37 sequences: two blocks of rows (19 and 18) wherever there are two or more
# intra-op threads, so the split across threads is exercised, uneven.
BATCH, TIME, FEATURES, UNITS = 37, 9, 5, 6


def problem(seed, time_major=False, masked=False, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    weights = [
        rng.normal(scale=0.5, size=(FEATURES, UNITS)).astype("float32"),
        rng.normal(scale=0.5, size=(UNITS, UNITS)).astype("float32"),
        rng.normal(scale=0.5, size=(UNITS,)).astype("float32") if bias else None,
    ]
    initial_state = rng.normal(size=(BATCH, UNITS)).astype("float32")
    # Lengths from 0 (all padding) to TIME, in no order.
    mask = lengths_to_mask(rng.integers(0, TIME + 1, size=BATCH), TIME) if masked else None
    return x, weights, initial_state, mask


def to_layout(array, time_major):
    return None if array is None else (np.swapaxes(array, 0, 1) if time_major else array)


def run(time_loop, x, weights, initial_state, mask, activation, reverse, time_major, dtype="float32"):
    kernel, recurrent_kernel, bias = (None if w is None else tf.constant(w, dtype) for w in weights)
    return time_loop(
        tf.constant(to_layout(x, time_major), dtype), tf.constant(initial_state, dtype), kernel, bias,
        recurrent_kernel, activation, mask=to_layout(mask, time_major), reverse=reverse, time_major=time_major,
    )


def test_the_kernel_builds_here():
    """CI has a C++ compiler: the fast path must not silently fall back there."""
    assert native_kernel.library() is not None


@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_states_equal_the_numpy_reference(activation, reverse, time_major, masked):
    x, weights, initial_state, mask = problem(1, time_major, masked, bias=activation != "linear")
    states, final_state = run(native_kernel.run_native_recurrence, x, weights, initial_state, mask, activation,
                              reverse, time_major)
    expected_states, expected_final = rnn(x, *weights, initial_state=initial_state, mask=mask,
                                          activation=activation, reverse=reverse)
    np.testing.assert_allclose(to_layout(states.numpy(), time_major), expected_states, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(final_state, expected_final, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_equal_the_float64_loop(activation, reverse, time_major, masked):
    """The reference: recurrence.py in float64, itself checked against finite differences in test_recurrence.py."""
    x, weights, initial_state, mask = problem(2, time_major, masked)
    rng = np.random.default_rng(3)
    probe = rng.normal(size=(BATCH, TIME, UNITS)), rng.normal(size=(BATCH, UNITS))
    gradients = []
    for time_loop, dtype in ((native_kernel.run_native_recurrence, "float32"), (run_recurrence, "float64")):
        inputs = [tf.constant(value, dtype) for value in (to_layout(x, time_major), initial_state, *weights)]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            states, final_state = time_loop(inputs[0], inputs[1], inputs[2], inputs[4], inputs[3], activation,
                                            mask=to_layout(mask, time_major), reverse=reverse, time_major=time_major)
            loss = tf.reduce_sum(states * tf.constant(to_layout(probe[0], time_major), dtype))
            loss += tf.reduce_sum(final_state * tf.constant(probe[1], dtype))
        gradients.append(tape.gradient(loss, inputs))
    for name, ours, reference in zip(["x", "initial_state", "kernel", "recurrent_kernel", "bias"], *gradients):
        scale = max(1.0, float(tf.reduce_max(tf.abs(reference))))
        np.testing.assert_allclose(ours, reference, atol=1e-5 * scale, err_msg=name)


def graph_op_types(layer, x, training):
    function = tf.function(lambda inputs: layer(inputs, training=training))
    return {operation.type for operation in function.get_concrete_function(x).graph.get_operations()}


@pytest.mark.parametrize("make_layer", [
    lambda: BasicRNN(4, return_sequences=True),
    lambda: Bidirectional(BasicRNN(4, return_sequences=True)),
])
def test_training_takes_the_native_op_and_inference_does_not(make_layer):
    """Inference graphs are what export traces: they must hold no op plain TensorFlow lacks."""
    layer = make_layer()
    x = tf.zeros((2, 3, 5))
    assert "ZooBasicRnn" in graph_op_types(layer, x, training=True)
    assert "ZooBasicRnn" not in graph_op_types(layer, x, training=False)


def test_the_switch_and_xla_turn_it_off(monkeypatch):
    layer, x = BasicRNN(4), tf.zeros((2, 3, 5))
    monkeypatch.setenv(native_kernel.SWITCH, "0")
    assert "ZooBasicRnn" not in graph_op_types(layer, x, training=True)
    monkeypatch.delenv(native_kernel.SWITCH)
    compiled = tf.function(lambda inputs: layer(inputs, training=True), jit_compile=True)
    assert "ZooBasicRnn" not in {op.type for op in compiled.get_concrete_function(x).graph.get_operations()}
    assert compiled(x).shape == (2, 4)


def test_float16_and_float64_take_the_tensorflow_loop():
    for dtype in ("float16", "float64"):
        layer = BasicRNN(4, dtype=dtype)
        assert "ZooBasicRnn" not in graph_op_types(layer, tf.zeros((2, 3, 5), dtype), training=True)


def fit_weights(native, monkeypatch):
    if not native:
        monkeypatch.setenv(native_kernel.SWITCH, "0")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 3))
    hidden = keras.layers.Masking()(inputs)
    hidden = Bidirectional(BasicRNN(8, return_sequences=True), merge_mode="concat")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(BasicRNN(5, return_sequences=True)(hidden)))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 7, 3)).astype("float32") * lengths_to_mask(rng.integers(1, 8, size=40), 7)[..., None]
    y = rng.normal(size=(40, 7, 2)).astype("float32")
    history = model.fit(x, y, epochs=3, batch_size=20, shuffle=False, verbose=0).history["loss"]
    monkeypatch.delenv(native_kernel.SWITCH, raising=False)
    return history, model.get_weights()


def test_training_with_the_native_op_matches_the_tensorflow_loop(monkeypatch):
    """Masks, both directions and a stacked layer (whose inputs need a gradient), through model.fit."""
    native_history, native_weights = fit_weights(True, monkeypatch)
    reference_history, reference_weights = fit_weights(False, monkeypatch)
    np.testing.assert_allclose(native_history, reference_history, rtol=1e-5)
    assert native_history[-1] < native_history[0]
    for ours, reference in zip(native_weights, reference_weights):
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_bad_shapes_fail_with_a_message_not_a_crash():
    operations = native_kernel.library()
    x, kernel, recurrent, bias = tf.zeros((2, 3, 5)), tf.zeros((5, 4)), tf.zeros((4, 4)), tf.zeros((4,))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"initial_state must be \(batch, units\)"):
        operations.zoo_basic_rnn(x, tf.zeros((3, 4)), kernel, bias, recurrent, tf.zeros((0,), tf.bool),
                                 activation="tanh", reverse=False, time_major=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask must match"):
        operations.zoo_basic_rnn(x, tf.zeros((2, 4)), kernel, bias, recurrent, tf.ones((3, 2), tf.bool),
                                 activation="tanh", reverse=False, time_major=False)


def test_empty_time_and_empty_batch():
    for shape in ((2, 0, 5), (0, 3, 5)):
        states, final_state = native_kernel.run_native_recurrence(
            tf.zeros(shape), tf.ones((shape[0], 4)), tf.zeros((5, 4)), tf.zeros((4,)), tf.zeros((4, 4)), "tanh")
        assert states.shape == (*shape[:2], 4)
        np.testing.assert_array_equal(final_state, np.ones((shape[0], 4)))


@pytest.mark.parametrize("compiler", ["/nonexistent/c++", "false"])
def test_without_a_working_compiler_it_warns_and_builds_nothing(compiler, monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", compiler)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="could not build the native BasicRNN kernel"):
        assert native_kernel.build() is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cache", ["under_a_file", "existing_but_read_only"])
def test_an_unwritable_cache_warns_and_builds_nothing(cache, monkeypatch, tmp_path):
    if cache == "under_a_file":
        (tmp_path / "file").write_text("")
        folder = tmp_path / "file" / "cache"
    else:
        # Tests may run as root, who writes anywhere: refuse the write as the OS would.
        folder = tmp_path

        def refuse(**_):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(native_kernel.tempfile, "mkdtemp", refuse)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(folder))
    with pytest.warns(RuntimeWarning, match="set ZOO_CACHE_DIR to a writable folder"):
        assert native_kernel.build() is None
