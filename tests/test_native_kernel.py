"""The compiled recurrence op (zoo/layers/native_kernel.*) against the NumPy reference, TF autodiff and finite differences."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from numpy_reference import gru, lengths_to_mask, lstm, rnn
from zoo.layers import GRU, LSTM, BasicRNN, Bidirectional, native_kernel, recurrence

# 37 sequences: two blocks of rows (19 and 18) wherever there are two or more
# intra-op threads and one direction, so the split across threads is exercised, uneven.
BATCH, TIME, FEATURES, UNITS = 37, 9, 5, 6

# (cell, activation): the basic cell with each activation the op takes.
CELLS = [("basic", "tanh"), ("basic", "sigmoid"), ("basic", "relu"), ("basic", "linear"), ("lstm", "tanh"),
         ("gru", "tanh")]
GATES, STATES = native_kernel.GATES, native_kernel.STATES


def problem(cell, seed, directions=1, masked=False, batch=BATCH, time=TIME, features=FEATURES, units=UNITS):
    """Keras-layout weights per direction, inputs, initial states (per direction, S * U wide) and a mask."""
    rng = np.random.default_rng(seed)
    gates = GATES[cell]
    weights = []
    for _ in range(directions):
        weights.append(dict(
            kernel=rng.normal(scale=0.5, size=(features, gates * units)),
            recurrent_kernel=rng.normal(scale=0.5, size=(units, gates * units)),
            bias=rng.normal(scale=0.5, size=(2, gates * units) if cell == "gru" else (gates * units,)),
        ))
    x = rng.normal(size=(batch, time, features))
    initial_state = rng.normal(size=(directions, batch, STATES[cell] * units))
    # Lengths from 0 (all padding) to time, in no order.
    mask = lengths_to_mask(rng.integers(0, time + 1, size=batch), time) if masked else None
    return x, weights, initial_state, mask


def op_inputs(cell, x, weights, initial_state, project=False):
    """run_native's (projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel, input_bias),
    batch-major, float64: with `project`, x and every direction's W and b for the op to multiply."""
    input_bias = [w["bias"][0] if cell == "gru" else w["bias"] for w in weights]
    recurrent_kernel = np.stack([w["recurrent_kernel"] for w in weights])
    recurrent_bias = np.stack([w["bias"][1] for w in weights]) if cell == "gru" else None
    if project:
        kernel = np.concatenate([w["kernel"] for w in weights], axis=-1)
        return x, initial_state, recurrent_kernel, recurrent_bias, kernel, np.concatenate(input_bias)
    projected = np.concatenate([x @ w["kernel"] + b for w, b in zip(weights, input_bias)], axis=-1)
    return projected, initial_state, recurrent_kernel, recurrent_bias, None, None


def reference(cell, activation, x, weights, initial_state, mask, reverse):
    """NumPy states (batch, time, D * U) and final states (D, batch, S * U)."""
    states, finals = [], []
    for direction, w in enumerate(weights):
        backwards = reverse != (direction == 1)
        units = w["recurrent_kernel"].shape[0]
        h0 = initial_state[direction, :, :units]
        arguments = (x, w["kernel"], w["recurrent_kernel"], w["bias"])
        if cell == "lstm":
            s, h, c = lstm(*arguments, initial_state=h0, initial_cell=initial_state[direction, :, units:], mask=mask,
                           reverse=backwards)
            final = np.concatenate([h, c], axis=-1)
        elif cell == "gru":
            s, final = gru(*arguments, initial_state=h0, mask=mask, reverse=backwards)
        else:
            s, final = rnn(*arguments, initial_state=h0, mask=mask, activation=activation, reverse=backwards)
        states.append(s)
        finals.append(final)
    return np.concatenate(states, axis=-1), np.stack(finals)


def to_layout(array, time_major):
    return None if array is None else (np.swapaxes(array, 0, 1) if time_major else array)


def side_by_side(results):
    """run_native's (per-direction states, final_state) -> (states (..., D * U), final_state)."""
    states, final_state = results
    return tf.concat(states, axis=-1), final_state


def run(cell, activation, inputs, mask, reverse, time_major):
    projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel, input_bias = (
        None if value is None else value.astype("float32") for value in inputs)
    return side_by_side(native_kernel.run_native(
        cell, to_layout(projected, time_major), initial_state, recurrent_kernel, recurrent_bias,
        mask=to_layout(mask, time_major), reverse=reverse, time_major=time_major, activation=activation,
        input_kernel=input_kernel, input_bias=input_bias,
    ))


def test_the_kernel_builds_here():
    """CI has a C++ compiler: the fast path must not silently fall back there."""
    assert native_kernel.library() is not None


@pytest.mark.parametrize("cell, activation", CELLS)
@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("project", [False, True])
def test_states_equal_the_numpy_reference(cell, activation, directions, reverse, time_major, masked, project):
    x, weights, initial_state, mask = problem(cell, 1, directions, masked)
    states, final_state = run(cell, activation, op_inputs(cell, x, weights, initial_state, project), mask, reverse,
                              time_major)
    expected_states, expected_final = reference(cell, activation, x, weights, initial_state, mask, reverse)
    np.testing.assert_allclose(to_layout(states.numpy(), time_major), expected_states, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(final_state, expected_final, atol=2e-5, rtol=1e-5)


def tf_step(cell, activation, p, state, recurrent_kernel, recurrent_bias):
    """One step of `cell` in plain TensorFlow ops: state (batch, S * U) -> the next."""
    units = recurrent_kernel.shape[0]
    if cell == "basic":
        phi = {"tanh": tf.tanh, "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "linear": lambda z: z}[activation]
        return phi(p + state @ recurrent_kernel)
    if cell == "lstm":
        h, c = state[:, :units], state[:, units:]
        i, f, g, o = tf.split(p + h @ recurrent_kernel, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.concat([tf.sigmoid(o) * tf.tanh(c), c], axis=-1)
    p_z, p_r, p_h = tf.split(p, 3, axis=-1)
    q_z, q_r, q_h = tf.split(state @ recurrent_kernel + recurrent_bias, 3, axis=-1)
    z, r = tf.sigmoid(p_z + q_z), tf.sigmoid(p_r + q_r)
    return z * state + (1 - z) * tf.tanh(p_h + r * q_h)


def tf_loop(cell, activation, projected, initial_state, recurrent_kernel, recurrent_bias, mask, reverse):
    """run_native's contract as a Python loop of TensorFlow ops (batch-major), for autodiff."""
    directions, _, _ = initial_state.shape
    time = projected.shape[1]
    units = recurrent_kernel.shape[1]
    width = GATES[cell] * units
    all_states, finals = [], []
    for direction in range(directions):
        state = initial_state[direction]
        frames = [None] * time
        backwards = reverse != (direction == 1)
        for t in range(time - 1, -1, -1) if backwards else range(time):
            p = projected[:, t, direction * width : (direction + 1) * width]
            bias = None if recurrent_bias is None else recurrent_bias[direction]
            new_state = tf_step(cell, activation, p, state, recurrent_kernel[direction], bias)
            state = new_state if mask is None else tf.where(mask[:, t, None], new_state, state)
            frames[t] = state[:, :units]
        all_states.append(tf.stack(frames, axis=1))
        finals.append(state)
    return tf.concat(all_states, axis=-1), tf.stack(finals)


def gradients(time_loop, cell, activation, inputs, mask, reverse, time_major, probes, dtype):
    """d(sum(states * probe) + sum(final_state * probe')) / d(every differentiable input)."""
    tensors = [None if value is None else tf.constant(value, dtype) for value in inputs]
    tensors[0] = tf.constant(to_layout(inputs[0], time_major), dtype)
    watched = [t for t in tensors if t is not None]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        states, final_state = time_loop(cell, activation, *tensors, mask, reverse, time_major)
        loss = tf.reduce_sum(states * tf.constant(to_layout(probes[0], time_major), dtype))
        loss += tf.reduce_sum(final_state * tf.constant(probes[1], dtype))
    return [to_layout(g.numpy(), time_major) if i == 0 else g.numpy()
            for i, g in enumerate(tape.gradient(loss, watched))]


def native(cell, activation, projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel, input_bias,
           mask, reverse, time_major):
    return side_by_side(native_kernel.run_native(
        cell, projected, initial_state, recurrent_kernel, recurrent_bias, mask=to_layout(mask, time_major),
        reverse=reverse, time_major=time_major, activation=activation, input_kernel=input_kernel,
        input_bias=input_bias))


def plain(cell, activation, projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel, input_bias,
          mask, reverse, time_major):
    if input_kernel is not None:
        projected = tf.tensordot(projected, input_kernel, 1) + input_bias
    swap = (lambda t: tf.transpose(t, (1, 0, 2))) if time_major else (lambda t: t)
    states, final_state = tf_loop(cell, activation, swap(projected), initial_state, recurrent_kernel, recurrent_bias,
                                  mask, reverse)
    return swap(states), final_state


@pytest.mark.parametrize("cell, activation", CELLS)
@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("project", [False, True])
def test_gradients_equal_tensorflow_autodiff_in_float64(cell, activation, directions, reverse, time_major, masked,
                                                         project):
    x, weights, initial_state, mask = problem(cell, 2, directions, masked)
    inputs = op_inputs(cell, x, weights, initial_state, project)
    rng = np.random.default_rng(3)
    probes = rng.normal(size=(BATCH, TIME, directions * UNITS)), rng.normal(size=initial_state.shape)
    ours = gradients(native, cell, activation, inputs, mask, reverse, time_major, probes, "float32")
    expected = gradients(plain, cell, activation, inputs, mask, reverse, time_major, probes, "float64")
    names = [name for name, value in zip(["projected" if not project else "x", "initial_state", "recurrent_kernel",
                                          "recurrent_bias", "input_kernel", "input_bias"], inputs) if value is not None]
    assert len(ours) == len(expected) == len(names) == (4 if cell == "gru" else 3) + (2 if project else 0)
    for name, our_gradient, reference_gradient in zip(names, ours, expected):
        scale = max(1.0, np.abs(reference_gradient).max())
        np.testing.assert_allclose(our_gradient, reference_gradient, atol=2e-5 * scale, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_equal_finite_differences_of_the_numpy_reference(cell):
    """Independent of TensorFlow's autodiff: the NumPy equations, perturbed in float64, through the input projection."""
    units = 3
    x, weights, initial_state, mask = problem(cell, 5, masked=True, batch=3, time=4, features=2, units=units)
    mask[0] = [True, True, False, False]
    (w,) = weights
    probes = np.random.default_rng(6).normal(size=(3, 4, units)), np.random.default_rng(7).normal(size=(3, units))

    def loss(x, kernel, recurrent_kernel, bias, initial_state):
        if cell == "lstm":
            states, final_h, _ = lstm(x, kernel, recurrent_kernel, bias, initial_state[:, :units],
                                      initial_state[:, units:], mask=mask)
        else:
            states, final_h = gru(x, kernel, recurrent_kernel, bias, initial_state, mask=mask)
        return np.sum(states * probes[0]) + np.sum(final_h * probes[1])

    arguments = [x, w["kernel"], w["recurrent_kernel"], w["bias"], initial_state[0]]
    expected = []
    for index, value in enumerate(arguments):
        gradient = np.zeros_like(value)
        for position in np.ndindex(value.shape):
            shifted = [a.copy() for a in arguments], [a.copy() for a in arguments]
            shifted[0][index][position] += 1e-6
            shifted[1][index][position] -= 1e-6
            gradient[position] = (loss(*shifted[0]) - loss(*shifted[1])) / 2e-6
        expected.append(gradient)

    tensors = [tf.constant(value, tf.float32) for value in arguments]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        x_t, kernel, recurrent_kernel, bias, initial = tensors
        input_bias = bias[0] if cell == "gru" else bias
        projected = tf.tensordot(x_t, kernel, 1) + input_bias
        (states,), final_state = native_kernel.run_native(
            cell, projected, initial[None], recurrent_kernel[None], bias[1][None] if cell == "gru" else None,
            mask=mask)
        result = tf.reduce_sum(states * probes[0]) + tf.reduce_sum(final_state[0, :, :units] * probes[1])
    for name, ours, reference_gradient in zip(["x", "kernel", "recurrent_kernel", "bias", "initial_state"],
                                              tape.gradient(result, tensors), expected):
        np.testing.assert_allclose(ours, reference_gradient, atol=1e-4, rtol=1e-4, err_msg=name)


def test_results_are_the_same_bits_every_run():
    """Blocks run on threads in any order; their weight gradients are still summed in one fixed order."""
    x, weights, initial_state, mask = problem("lstm", 8, 1, masked=True, batch=64, units=32)
    inputs = [None if value is None else value.astype("float32")
              for value in op_inputs("lstm", x, weights, initial_state, project=True)]
    probes = np.ones((64, TIME, 32)), np.ones(initial_state.shape)
    first, second = (gradients(native, "lstm", "tanh", inputs, mask, False, False, probes, "float32") for _ in range(2))
    for ours, again in zip(first, second):
        np.testing.assert_array_equal(ours, again)


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
    assert "ZooRecurrence" in graph_op_types(layer, x, training=True)
    assert "ZooRecurrence" not in graph_op_types(layer, x, training=False)


def test_the_switch_and_xla_turn_it_off(monkeypatch):
    layer, x = BasicRNN(4), tf.zeros((2, 3, 5))
    monkeypatch.setenv(native_kernel.SWITCH, "0")
    assert "ZooRecurrence" not in graph_op_types(layer, x, training=True)
    monkeypatch.delenv(native_kernel.SWITCH)
    compiled = tf.function(lambda inputs: layer(inputs, training=True), jit_compile=True)
    assert "ZooRecurrence" not in {op.type for op in compiled.get_concrete_function(x).graph.get_operations()}
    assert compiled(x).shape == (2, 4)


def test_float16_and_float64_take_the_tensorflow_loop():
    for dtype in ("float16", "float64"):
        layer = BasicRNN(4, dtype=dtype)
        assert "ZooRecurrence" not in graph_op_types(layer, tf.zeros((2, 3, 5), dtype), training=True)


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
    for ours, reference_weight in zip(native_weights, reference_weights):
        np.testing.assert_allclose(ours, reference_weight, atol=1e-5)


@pytest.mark.parametrize("make_layer", [
    lambda: Bidirectional(BasicRNN(4, return_sequences=True)),
    lambda: LSTM(3, return_sequences=True),
    lambda: Bidirectional(GRU(3, return_sequences=True), merge_mode="concat"),
])
@pytest.mark.parametrize("features", [recurrence.NARROW_INPUTS, recurrence.NARROW_INPUTS + 1])
def test_narrow_inputs_go_into_the_op_and_wide_ones_are_projected_first(make_layer, features, monkeypatch):
    """Both ways of the input projection, picked by width, train as the TensorFlow-ops loop does."""
    layer = make_layer()
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(size=(5, 4, features)).astype("float32"))
    # No sequence reaches the last frame: a step with no real frame at all.
    mask = tf.constant(lengths_to_mask(np.array([3, 1, 0, 3, 2]), 4))
    function = tf.function(lambda inputs: layer(inputs, mask=mask, training=True))
    (operation,) = [op for op in function.get_concrete_function(x).graph.get_operations() if op.type == "ZooRecurrence"]
    assert operation.get_attr("project_inputs") == (features <= recurrence.NARROW_INPUTS)

    def outputs_and_gradients():
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, mask=mask, training=True)
            probe = np.sin(np.arange(outputs.shape.num_elements())).reshape(outputs.shape)
            loss = tf.reduce_sum(outputs * probe.astype("float32"))
        return [outputs, *tape.gradient(loss, [x, *layer.trainable_weights])]

    ours = outputs_and_gradients()
    monkeypatch.setenv(native_kernel.SWITCH, "0")
    expected = outputs_and_gradients()
    for our_value, expected_value in zip(ours, expected):
        np.testing.assert_allclose(our_value, expected_value, atol=2e-5, rtol=1e-5)


def call_op(cell="lstm", projected=(2, 3, 8), initial_state=(1, 2, 4), recurrent_kernel=(1, 2, 8),
            recurrent_bias=(1, 0), mask=(0,), input_kernel=(0,), input_bias=(0,), project_inputs=False, directions=1):
    return native_kernel.library().zoo_recurrence(
        tf.zeros(projected), tf.zeros(initial_state), tf.zeros(recurrent_kernel), tf.zeros(recurrent_bias),
        tf.ones(mask, tf.bool), tf.zeros(input_kernel), tf.zeros(input_bias), cell=cell,
        project_inputs=project_inputs, directions=directions)


@pytest.mark.parametrize("change, message", [
    (dict(projected=(2, 3, 16)), r"projected's last axis must be directions \* 4 \* units = 8"),
    (dict(projected=(2, 3)), "projected must be rank 3"),
    (dict(initial_state=(1, 2, 2)), r"initial_state must be \(directions, batch, 2 \* units\)"),
    (dict(initial_state=(1, 3, 4)), r"initial_state must be"),
    (dict(recurrent_kernel=(1, 2, 6)), r"recurrent_kernel must be \(directions, units, 4 \* units\)"),
    (dict(recurrent_kernel=(3, 2, 8), initial_state=(3, 2, 4)), "1 or 2"),
    (dict(recurrent_bias=(1, 8)), r"recurrent_bias must be \[1,0\]"),
    (dict(cell="gru", projected=(2, 3, 6), recurrent_kernel=(1, 2, 6), initial_state=(1, 2, 2)),
     r"recurrent_bias must be \[1,6\]"),
    (dict(mask=(3, 2)), r"mask must be \[2,3\]"),
    (dict(input_kernel=(5, 8)), "input_kernel and input_bias must be empty without project_inputs"),
    (dict(recurrent_kernel=(2, 2, 8), initial_state=(2, 2, 4), recurrent_bias=(2, 0), projected=(2, 3, 16)),
     "directions must be recurrent_kernel's first axis, 2, got 1"),
    (dict(project_inputs=True, projected=(2, 3, 5), input_kernel=(5, 4), input_bias=(8,)),
     r"input_kernel must be \(features, directions \* 4 \* units\) = \[5,8\]"),
    (dict(project_inputs=True, projected=(2, 3, 5), input_kernel=(5, 8), input_bias=(4,)),
     r"input_bias must be \[8\]"),
])
def test_bad_shapes_fail_with_a_message_not_a_crash(change, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call_op(**change)


def test_the_gradient_op_checks_its_workspace():
    operations = native_kernel.library()
    with pytest.raises(tf.errors.InvalidArgumentError, match="workspace must be"):
        operations.zoo_recurrence_grad(tf.zeros((1, 2, 4)), tf.zeros((1, 2, 8)), tf.zeros((1, 0)),
                                       tf.zeros((0,), tf.bool), [tf.zeros((2, 3, 2))], tf.zeros((1, 3, 2, 2)),
                                       [tf.zeros((2, 3, 2))], tf.zeros((1, 2, 4)), tf.zeros((0,)), tf.zeros((0,)),
                                       cell="lstm")


@pytest.mark.parametrize("cell", ["basic", "lstm", "gru"])
@pytest.mark.parametrize("batch, time", [(2, 0), (0, 3)])
@pytest.mark.parametrize("project", [False, True])
def test_empty_time_and_empty_batch(cell, batch, time, project):
    gates, states = GATES[cell], STATES[cell]
    projected = tf.zeros((batch, time, 5 if project else 2 * gates * 4))
    initial_state = tf.ones((2, batch, states * 4))
    recurrent_kernel = tf.ones((2, 4, gates * 4))
    recurrent_bias = tf.ones((2, gates * 4)) if cell == "gru" else None
    input_kernel, input_bias = (tf.ones((5, 2 * gates * 4)), tf.ones((2 * gates * 4,))) if project else (None, None)
    watched = [t for t in (projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel, input_bias)
               if t is not None]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        states_out, final_state = side_by_side(native_kernel.run_native(
            cell, projected, initial_state, recurrent_kernel, recurrent_bias, input_kernel=input_kernel,
            input_bias=input_bias))
        loss = tf.reduce_sum(final_state) + tf.reduce_sum(states_out)
    assert states_out.shape == (batch, time, 8)
    np.testing.assert_array_equal(final_state, initial_state)
    projected_gradient, initial_gradient, *weight_gradients = tape.gradient(loss, watched)
    assert projected_gradient.shape == projected.shape
    np.testing.assert_array_equal(initial_gradient, np.ones(initial_state.shape))
    for gradient, weight in zip(weight_gradients, watched[2:]):
        np.testing.assert_array_equal(gradient, np.zeros(weight.shape))


@pytest.mark.parametrize("compiler", ["/nonexistent/c++", "false"])
def test_without_a_working_compiler_it_warns_and_builds_nothing(compiler, monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", compiler)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="could not build the native recurrent kernel"):
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
