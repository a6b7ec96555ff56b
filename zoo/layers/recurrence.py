"""The time loop shared by `BasicRNN` and `Bidirectional`: h_t = phi(z_t + h_{t-1} W_hh).

`run_recurrence` takes inputs already projected by W_xh and b (z_t = x_t W_xh + b,
one large matmul over all frames), runs one or more independent directions in
a single `tf.while_loop`, and returns every state. For activations whose
derivative can be read off their output (tanh, sigmoid, relu, linear) it
carries a hand-written backward pass:

    g_t    = dL/dh_t (from the outputs) + carry
    dz_t   = g_t * phi'(h_t)                  (zero where the frame is masked)
    carry  = dz_t W_hh^T  (+ g_t where masked: a masked step copies h_{t-1})
    dW_hh  = sum_t h_{t-1}^T dz_t             (one matmul over all frames)

so each step of the backward loop costs one small matmul, where automatic
differentiation of the loop spends three and stores every step's
intermediates. Other activations fall back to automatic differentiation.

Everything here is time-major: projected inputs are (time, batch, units).
"""

import tensorflow as tf

# Steps per loop iteration: fewer iterations means less while-loop bookkeeping.
UNROLL = 4

_DERIVATIVE_FROM_OUTPUT = {
    "tanh": lambda h: 1.0 - h * h,
    "sigmoid": lambda h: h * (1.0 - h),
    "relu": lambda h: tf.cast(h > 0, h.dtype),
    "linear": None,
}


def has_fast_gradient(activation_name):
    """Whether `activation_name` gets the hand-written backward pass."""
    return activation_name in _DERIVATIVE_FROM_OUTPUT


def _loop(length, step, state):
    """Runs `state = step(index, state)` for index 0 .. length-1.

    The main loop takes UNROLL steps per iteration; a second loop finishes the
    remainder, so any length works, including one known only at run time.
    """
    main_steps = (length // UNROLL) * UNROLL

    def block(index, state):
        for offset in range(UNROLL):
            state = step(index + offset, state)
        return index + UNROLL, state

    def single(index, state):
        return index + 1, step(index, state)

    index, state = tf.while_loop(lambda index, _: index < main_steps, block, (tf.constant(0), state))
    _, state = tf.while_loop(lambda index, _: index < length, single, (index, state))
    return state


def _time(index, length, reverse):
    return length - 1 - index if reverse else index


def _forward(projected, initial_states, recurrent_kernels, mask, activation, reverse, read):
    """Runs every direction through time in one loop.

    Returns the stacked states of each direction, (time, batch, units), in the
    original frame order whatever the direction, and the final states.
    `read(direction, time)` returns the projected input of one frame.
    """
    length = tf.shape(projected[0])[0]
    directions = range(len(projected))

    def step(index, loop_state):
        states, arrays = loop_state
        new_states, new_arrays = [], []
        # The directions do not depend on each other, so TensorFlow can run
        # their matmuls on different cores.
        for direction in directions:
            time = _time(index, length, reverse[direction])
            previous = states[direction]
            state = activation(read(direction, time) + tf.matmul(previous, recurrent_kernels[direction]))
            if mask is not None:
                state = tf.where(mask[time], state, previous)
            new_states.append(state)
            new_arrays.append(arrays[direction].write(time, state))
        return new_states, new_arrays

    arrays = [tf.TensorArray(p.dtype, size=length, element_shape=h.shape) for p, h in zip(projected, initial_states)]
    states, arrays = _loop(length, step, (list(initial_states), arrays))
    return [array.stack() for array in arrays], states


def _final_states(outputs, reverse):
    return [output[0] if backwards else output[-1] for output, backwards in zip(outputs, reverse)]


def _autodiff_recurrence(projected, initial_states, recurrent_kernels, mask, activation, reverse):
    # TensorArray reads: the gradient of a slice inside a loop would build a
    # full-size zero tensor at every step.
    inputs = [
        tf.TensorArray(p.dtype, size=tf.shape(p)[0], element_shape=p.shape[1:]).unstack(p) for p in projected
    ]
    outputs, _ = _forward(
        projected, initial_states, recurrent_kernels, mask, activation, reverse,
        read=lambda direction, time: inputs[direction].read(time),
    )
    return outputs


def _fast_recurrence(projected, initial_states, recurrent_kernels, mask, activation, derivative, reverse):
    count = len(projected)

    @tf.custom_gradient
    def recurrence(*tensors):
        projected = tensors[:count]
        initial_states = tensors[count : 2 * count]
        recurrent_kernels = tensors[2 * count :]
        outputs, _ = _forward(
            projected, initial_states, recurrent_kernels, mask, activation, reverse,
            read=lambda direction, time: projected[direction][time],
        )

        def gradient(*output_gradients):
            return _backward(outputs, output_gradients, initial_states, recurrent_kernels, mask, derivative, reverse)

        return outputs, gradient

    # Plain tensors only: a variable read inside would need its own gradient path.
    tensors = [tf.convert_to_tensor(t) for t in (*projected, *initial_states, *recurrent_kernels)]
    return list(recurrence(*tensors))


def _backward(outputs, output_gradients, initial_states, recurrent_kernels, mask, derivative, reverse):
    """Gradients of the loss with respect to projected inputs, initial states and W_hh."""
    length = tf.shape(outputs[0])[0]
    directions = range(len(outputs))
    transposed_kernels = [tf.transpose(kernel) for kernel in recurrent_kernels]

    def step(index, loop_state):
        carries, arrays = loop_state
        new_carries, new_arrays = [], []
        for direction in directions:
            # Walk each direction against its own order of processing.
            time = _time(index, length, not reverse[direction])
            gradient = output_gradients[direction][time] + carries[direction]
            input_gradient = gradient
            if derivative is not None:
                input_gradient = gradient * derivative(outputs[direction][time])
            if mask is not None:
                input_gradient = tf.where(mask[time], input_gradient, tf.zeros_like(input_gradient))
            carry = tf.matmul(input_gradient, transposed_kernels[direction])
            if mask is not None:
                carry += tf.where(mask[time], tf.zeros_like(gradient), gradient)
            new_carries.append(carry)
            new_arrays.append(arrays[direction].write(time, input_gradient))
        return new_carries, new_arrays

    arrays = [tf.TensorArray(o.dtype, size=length, element_shape=h.shape) for o, h in zip(outputs, initial_states)]
    carries = [tf.zeros_like(h) for h in initial_states]
    carries, arrays = _loop(length, step, (carries, arrays))
    input_gradients = [array.stack() for array in arrays]

    kernel_gradients = []
    for direction in directions:
        states, input_gradient, initial = outputs[direction], input_gradients[direction], initial_states[direction]
        units = tf.shape(states)[-1]
        # h_{t-1} for every t is the state stack shifted by one frame, with the
        # initial state at the first frame the direction processes.
        if reverse[direction]:
            previous, current, first = states[1:], input_gradient[:-1], input_gradient[-1]
        else:
            previous, current, first = states[:-1], input_gradient[1:], input_gradient[0]
        kernel_gradients.append(
            tf.matmul(tf.reshape(previous, (-1, units)), tf.reshape(current, (-1, units)), transpose_a=True)
            + tf.matmul(initial, first, transpose_a=True)
        )
    return (*input_gradients, *carries, *kernel_gradients)


def run_recurrence(projected, initial_states, recurrent_kernels, activation, activation_name, mask=None, reverse=None):
    """Runs h_t = activation(z_t + h_{t-1} W_hh) for one or more directions.

    Args:
      projected: list, one per direction, of z = x W_xh + b, (time, batch, units).
      initial_states: list of (batch, units) tensors, h before the first step.
      recurrent_kernels: list of (units, units) tensors W_hh.
      activation: the elementwise function phi.
      activation_name: its Keras name; selects the hand-written gradient.
      mask: optional bool (time, batch, 1); a masked frame copies h_{t-1}.
      reverse: list of bools; a reversed direction runs from the last frame.

    Returns:
      (outputs, final_states): per direction, all states (time, batch, units)
      in the original frame order, and the state after its last step.
    """
    reverse = list(reverse or [False] * len(projected))
    if has_fast_gradient(activation_name):
        outputs = _fast_recurrence(
            projected, initial_states, recurrent_kernels, mask, activation,
            _DERIVATIVE_FROM_OUTPUT[activation_name], reverse,
        )
    else:
        outputs = _autodiff_recurrence(projected, initial_states, recurrent_kernels, mask, activation, reverse)
    return outputs, _final_states(outputs, reverse)
