"""The time loop shared by `BasicRNN` and `Bidirectional`: h_t = phi(x_t W_xh + b + h_{t-1} W_hh).

`run_recurrence` runs one or more independent directions over the same
sequences in a single `tf.while_loop`, `BLOCK` frames per iteration, and
carries a hand-written backward pass:

    g_t    = dL/dh_t (from the outputs) + carry
    dz_t   = g_t * phi'(h_t)                  (zero where the frame is masked)
    carry  = dz_t W_hh^T  (+ g_t where masked: a masked step copies h_{t-1})
    dW_hh += h_{t-1}^T dz_t,  dW_xh += x_t^T dz_t,  db += dz_t,  and after the loop dx = dz W_xh^T

What it saves over differentiating Keras's loop, on a CPU:
- only `carry` is on the sequential path: per step one small matmul and two
  elementwise ops (TensorFlow's own TanhGrad and friends); the input
  projection and the weight gradients are off that path, where a second core
  picks them up. Each of those matmuls covers one step, because TensorFlow's
  CPU matmul gets about five times slower once a product is large enough
  (about 2^20 multiply-adds) to be split across threads;
- nothing of size (time, batch, units) is built but the stacked states:
  inputs and output gradients are read a frame at a time in the caller's
  layout, with no transposed copies and no stacked per-step intermediates,
  and dx (after the loop) is pruned when the inputs need no gradient.
  A large new tensor costs more than its arithmetic here, since its memory
  must be paged in.

phi' is read off the output, which limits this path to tanh, sigmoid, relu
and linear (`has_fast_gradient`); callers use Keras's generic loop otherwise.
"""

import tensorflow as tf

# Frames per loop iteration: amortises the loop's bookkeeping.
BLOCK = 4

# dL/dz from dL/dh and h = phi(z): TensorFlow's own gradient kernels, one op each.
_GRADIENT_FROM_OUTPUT = {
    "tanh": lambda h, gradient: tf.raw_ops.TanhGrad(y=h, dy=gradient),
    "sigmoid": lambda h, gradient: tf.raw_ops.SigmoidGrad(y=h, dy=gradient),
    "relu": lambda h, gradient: tf.raw_ops.ReluGrad(gradients=gradient, features=h),
    "linear": lambda h, gradient: gradient,
}


def has_fast_gradient(activation_name):
    """Whether `activation_name` can use `run_recurrence`."""
    return activation_name in _GRADIENT_FROM_OUTPUT


_ACTIVATIONS = {"tanh": tf.tanh, "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "linear": lambda z: z}


def _blocks_then_rest(length, body, state):
    """Runs `state = body(index, size, state)` over processing indices 0 .. length-1.

    Whole blocks of BLOCK indices first, then single indices for the rest, so
    any length works, including one known only at run time.
    """
    whole = (length // BLOCK) * BLOCK
    index, state = tf.while_loop(
        lambda index, _: index < whole,
        lambda index, state: (index + BLOCK, body(index, BLOCK, state)),
        (tf.constant(0), state),
    )
    _, state = tf.while_loop(
        lambda index, _: index < length, lambda index, state: (index + 1, body(index, 1, state)), (index, state)
    )
    return state


def _rest_then_blocks_reversed(length, body, state):
    """The same (index, size) pieces as `_blocks_then_rest`, in the opposite order."""
    whole = (length // BLOCK) * BLOCK
    index, state = tf.while_loop(
        lambda index, _: index >= whole,
        lambda index, state: (index - 1, body(index, 1, state)),
        (length - 1, state),
    )
    _, state = tf.while_loop(
        lambda index, _: index >= 0,
        lambda index, state: (index - BLOCK, body(index, BLOCK, state)),
        (whole - BLOCK, state),
    )
    return state


def run_recurrence(sequences, initial_states, kernels, biases, recurrent_kernels, activation_name, mask=None,
                   reverse=None, time_major=False):
    """Runs h_t = phi(x_t W_xh + b + h_{t-1} W_hh) over `sequences` for one or more directions.

    Args:
      sequences: (batch, time, features), or (time, batch, features) if `time_major`.
      initial_states: per direction, h before its first step, (batch, units).
      kernels, biases, recurrent_kernels: per direction, W_xh (features, units),
        b (units,) or None, W_hh (units, units).
      activation_name: "tanh", "sigmoid", "relu" or "linear".
      mask: optional bool (batch, time) ((time, batch) if `time_major`); a
        masked frame copies h_{t-1}.
      reverse: per direction, whether it runs from the last frame to the first.

    Returns:
      (outputs, final_states): per direction, every state in the layout of
      `sequences` and in frame order whatever the direction, and the state
      after its last step (at the last real frame under a mask).
    """
    directions = range(len(initial_states))
    reverse = list(reverse or [False] * len(initial_states))
    activation = _ACTIVATIONS[activation_name]
    gradient_through_activation = _GRADIENT_FROM_OUTPUT[activation_name]
    sequences = tf.convert_to_tensor(sequences)
    units = recurrent_kernels[0].shape[-1]
    biases = [tf.zeros((units,), sequences.dtype) if bias is None else bias for bias in biases]
    time_axis = 0 if time_major else 1
    # A static batch size keeps the loop's shapes static.
    batch = sequences.shape[1 - time_axis] or -1
    mask_by_time = None
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
        mask_by_time = (mask if time_major else tf.transpose(mask))[..., None]

    def block_of(tensor, start, size):
        """Frames start .. start+size-1 of a sequence-layout tensor, as (size, batch, ...)."""
        if time_major:
            return tensor[start : start + size]
        return tf.transpose(tensor[:, start : start + size], [1, 0, *range(2, len(tensor.shape))])

    def frame_of(tensor, time):
        return tensor[time] if time_major else tensor[:, time]

    def block_start(index, size, length, backwards):
        return length - index - size if backwards else index

    def flat_matmul(block, matrix, transpose_b=False):
        """(size, batch, n) x (n, m) -> (size * batch, m)."""
        return tf.matmul(tf.reshape(block, (-1, block.shape[-1])), matrix, transpose_b=transpose_b)

    @tf.custom_gradient
    def recurrence(sequences, *weights):
        initial_states, kernels, biases, recurrent_kernels = (
            weights[offset * len(directions) : (offset + 1) * len(directions)] for offset in range(4)
        )
        length = tf.shape(sequences)[time_axis]

        def forward_block(index, size, loop_state):
            states, arrays = loop_state
            states, arrays = list(states), list(arrays)
            frames = None
            for direction in directions:
                backwards = reverse[direction]
                start = block_start(index, size, length, backwards)
                frames = block_of(sequences, start, size)
                state = states[direction]
                for step in range(size):
                    offset = size - 1 - step if backwards else step
                    time = start + offset
                    projected = tf.nn.bias_add(tf.matmul(frames[offset], kernels[direction]), biases[direction])
                    new_state = activation(projected + tf.matmul(state, recurrent_kernels[direction]))
                    if mask_by_time is not None:
                        new_state = tf.where(mask_by_time[time], new_state, state)
                    state = new_state
                    # Slot t+1 (forward) or t (backward) holds h_t; the other
                    # end holds the initial state, so slot t (or t+1) is h_{t-1}.
                    arrays[direction] = arrays[direction].write(time if backwards else time + 1, state)
                states[direction] = state
            return states, arrays

        arrays = []
        for direction in directions:
            array = tf.TensorArray(sequences.dtype, size=length + 1, element_shape=initial_states[direction].shape)
            arrays.append(array.write(length if reverse[direction] else 0, initial_states[direction]))
        final_states, arrays = _blocks_then_rest(length, forward_block, (list(initial_states), arrays))
        padded_states = [array.stack() for array in arrays]
        states_by_time = [padded[:-1] if reverse[d] else padded[1:] for d, padded in enumerate(padded_states)]
        outputs = [states if time_major else tf.transpose(states, [1, 0, 2]) for states in states_by_time]

        def gradient(*upstream):
            output_gradients, final_gradients = upstream[: len(directions)], upstream[len(directions) :]
            final_gradients = [
                tf.zeros_like(state) if gradient is None else gradient
                for gradient, state in zip(final_gradients, initial_states)
            ]
            transposed_recurrent = [tf.transpose(kernel) for kernel in recurrent_kernels]

            def backward_block(index, size, loop_state):
                carries, kernel_grads, bias_grads, recurrent_grads, input_arrays = (list(part) for part in loop_state)
                for direction in directions:
                    backwards = reverse[direction]
                    start = block_start(index, size, length, backwards)
                    carry = carries[direction]
                    frames = block_of(sequences, start, size)
                    for step in reversed(range(size)):
                        offset = size - 1 - step if backwards else step
                        time = start + offset
                        gradient = carry
                        if output_gradients[direction] is not None:
                            gradient += frame_of(output_gradients[direction], time)
                        state = states_by_time[direction][time]
                        input_gradient = gradient_through_activation(state, gradient)
                        if mask_by_time is not None:
                            input_gradient = tf.where(mask_by_time[time], input_gradient, tf.zeros_like(input_gradient))
                        carry = tf.matmul(input_gradient, transposed_recurrent[direction])
                        if mask_by_time is not None:
                            carry += tf.where(mask_by_time[time], tf.zeros_like(gradient), gradient)
                        # Off the sequential path: per step, these matmuls
                        # stay small enough to run on one core each.
                        previous = padded_states[direction][time + 1 if backwards else time]
                        recurrent_grads[direction] += tf.matmul(previous, input_gradient, transpose_a=True)
                        kernel_grads[direction] += tf.matmul(frames[offset], input_gradient, transpose_a=True)
                        bias_grads[direction] += tf.reduce_sum(input_gradient, axis=0)
                        input_arrays[direction] = input_arrays[direction].write(time, input_gradient)
                    carries[direction] = carry
                return carries, kernel_grads, bias_grads, recurrent_grads, input_arrays

            loop_state = (
                list(final_gradients),
                [tf.zeros_like(kernel) for kernel in kernels],
                [tf.zeros_like(bias) for bias in biases],
                [tf.zeros_like(kernel) for kernel in recurrent_kernels],
                [tf.TensorArray(sequences.dtype, size=length, element_shape=state.shape) for state in initial_states],
            )
            carries, kernel_grads, bias_grads, recurrent_grads, input_arrays = _rest_then_blocks_reversed(
                length, backward_block, loop_state
            )
            # dx = dz W_xh^T over all frames at once, after the loop: when the
            # inputs need no gradient (a model's first layer), TensorFlow
            # prunes this and the stacking of dz.
            sequence_gradient = tf.add_n([
                tf.reshape(flat_matmul(array.stack(), kernel, transpose_b=True), (length, batch, kernel.shape[0]))
                for array, kernel in zip(input_arrays, kernels)
            ])
            if not time_major:
                sequence_gradient = tf.transpose(sequence_gradient, [1, 0, 2])
            return (sequence_gradient, *carries, *kernel_grads, *bias_grads, *recurrent_grads)

        return (*outputs, *final_states), gradient

    # Plain tensors only: a variable read inside would need its own gradient path.
    weights = [tf.convert_to_tensor(t) for t in (*initial_states, *kernels, *biases, *recurrent_kernels)]
    results = recurrence(sequences, *weights)
    return list(results[: len(directions)]), list(results[len(directions) :])
