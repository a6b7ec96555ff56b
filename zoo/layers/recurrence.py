"""The time loop behind `BasicRNN` and `Bidirectional`: h_t = phi(x_t W_xh + b + h_{t-1} W_hh).

Two loops of TensorFlow ops, so that exported models need nothing but
TensorFlow (and convert to TF Lite built-ins and ONNX): `run_inference`, the
loop of every call that is not training, which SavedModel export and the
converters trace (see its docstring), and `run_recurrence`, the training loop
wherever the compiled op of native_kernel.py is not used: off the CPU, under
XLA, in float16 or float64, or with no C++ compiler.

`run_recurrence` walks a batch of sequences through time in a `tf.while_loop`
and carries a hand-written backward pass:

    g_t    = dL/dh_t (from the outputs) + carry
    dz_t   = g_t * phi'(h_t)                  (zero where the frame is masked)
    carry  = dz_t W_hh^T  (+ g_t where masked: a masked step copies h_{t-1})
    dW_hh += h_{t-1}^T dz_t,  dW_xh += x_t^T dz_t,  db += dz_t,  and after the loop dx = dz W_xh^T

What it saves over differentiating Keras's loop, on a CPU:
- only `carry` is on the sequential path: per step one small matmul and two
  elementwise ops (TensorFlow's own TanhGrad and friends). The input
  projection and the weight gradients are off that path, where a second core
  picks them up. Each of those matmuls covers one step, because TensorFlow's
  CPU matmul gets about five times slower once a product is large enough
  (about 2^20 multiply-adds) to be split across threads.
- nothing of size (time, batch, units) is built but the stacked states:
  inputs and output gradients are read a frame at a time in the caller's
  layout, with no transposed copies and no stacked per-step intermediates,
  and dx is pruned when the inputs need no gradient. A large new tensor
  costs more than its arithmetic here, since its memory must be paged in.

phi' is read off the output, which limits this path to tanh, sigmoid, relu
and linear (`has_fast_gradient`); callers use Keras's generic loop otherwise.
"""

import tensorflow as tf

# Steps per loop iteration: amortises the loop's bookkeeping.
BLOCK = 4

_ACTIVATIONS = {"tanh": tf.tanh, "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "linear": lambda z: z}

# dL/dz from dL/dh and h = phi(z): TensorFlow's own gradient kernels, one op each.
_GRADIENT_FROM_OUTPUT = {
    "tanh": lambda h, gradient: tf.raw_ops.TanhGrad(y=h, dy=gradient),
    "sigmoid": lambda h, gradient: tf.raw_ops.SigmoidGrad(y=h, dy=gradient),
    "relu": lambda h, gradient: tf.raw_ops.ReluGrad(gradients=gradient, features=h),
    "linear": lambda h, gradient: gradient,
}


# What both time loops (this one and native_kernel.py) can run.
FAST_ACTIVATIONS = tuple(_GRADIENT_FROM_OUTPUT)


def has_fast_gradient(activation_name):
    """Whether `activation_name` can use `run_recurrence` (and `run_native_recurrence`)."""
    return activation_name in FAST_ACTIVATIONS


def plain_weights(initial_state, kernel, bias, recurrent_kernel, dtype):
    """The loop's weights as plain tensors, a zero bias for None.

    Plain tensors only: a variable read inside the custom gradient would need
    its own gradient path.
    """
    if bias is None:
        bias = tf.zeros((recurrent_kernel.shape[-1],), dtype)
    return [tf.convert_to_tensor(t) for t in (initial_state, kernel, bias, recurrent_kernel)]


def frames_gradient(pre_activation_gradient, kernel):
    """dL/dx = dz W_xh^T for every frame at once: (a, b, units) -> (a, b, features).

    Kept out of the loops, so that TensorFlow prunes it when the inputs need
    no gradient (a model's first layer).
    """
    units = kernel.shape[-1]
    return tf.reshape(
        tf.matmul(tf.reshape(pre_activation_gradient, (-1, units)), kernel, transpose_b=True),
        tf.concat([tf.shape(pre_activation_gradient)[:2], tf.shape(kernel)[:1]], axis=0),
    )


def _for_each_step(count, step, state):
    """Runs `state = step(index, state)` for index 0 .. count-1, BLOCK steps per loop iteration."""
    whole = (count // BLOCK) * BLOCK

    def block(index, state):
        for offset in range(BLOCK):
            state = step(index + offset, state)
        return index + BLOCK, state

    index, state = tf.while_loop(lambda index, _: index < whole, block, (tf.constant(0), state))
    _, state = tf.while_loop(
        lambda index, _: index < count, lambda index, state: (index + 1, step(index, state)), (index, state)
    )
    return state


def run_recurrence(sequences, initial_state, kernel, bias, recurrent_kernel, activation_name, mask=None,
                   reverse=False, time_major=False):
    """Runs h_t = phi(x_t W_xh + b + h_{t-1} W_hh) over a batch of sequences.

    Args:
      sequences: (batch, time, features), or (time, batch, features) if `time_major`.
      initial_state: h before the first step, (batch, units).
      kernel, bias, recurrent_kernel: W_xh (features, units), b (units,) or
        None, W_hh (units, units).
      activation_name: "tanh", "sigmoid", "relu" or "linear".
      mask: optional bool (batch, time) ((time, batch) if `time_major`); a
        masked frame copies h_{t-1}.
      reverse: run from the last frame to the first.

    Returns:
      (outputs, final_state): every state, in the layout of `sequences` and in
      frame order whatever the direction, and the state after the last step
      (at the last real frame under a mask).
    """
    activation = _ACTIVATIONS[activation_name]
    gradient_through_activation = _GRADIENT_FROM_OUTPUT[activation_name]
    sequences = tf.convert_to_tensor(sequences)
    time_axis = 0 if time_major else 1
    mask_by_time = None
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
        mask_by_time = (mask if time_major else tf.transpose(mask))[..., None]

    def frame_of(tensor, time):
        return tensor[time] if time_major else tensor[:, time]

    @tf.custom_gradient
    def recurrence(sequences, initial_state, kernel, bias, recurrent_kernel):
        length = tf.shape(sequences)[time_axis]

        def time_of(index):
            return length - 1 - index if reverse else index

        # Slot t+1 (forward) or t (reverse) of the padded stack holds h_t, and
        # the other end holds the initial state, so h_{t-1} is in slot t (or t+1).
        initial_slot, slot_offset, previous_offset = (length, 0, 1) if reverse else (0, 1, 0)

        def forward_step(index, loop_state):
            state, array = loop_state
            time = time_of(index)
            projected = tf.nn.bias_add(tf.matmul(frame_of(sequences, time), kernel), bias)
            new_state = activation(projected + tf.matmul(state, recurrent_kernel))
            if mask_by_time is not None:
                new_state = tf.where(mask_by_time[time], new_state, state)
            return new_state, array.write(time + slot_offset, new_state)

        array = tf.TensorArray(sequences.dtype, size=length + 1, element_shape=initial_state.shape)
        array = array.write(initial_slot, initial_state)
        final_state, array = _for_each_step(length, forward_step, (initial_state, array))
        padded_states = array.stack()
        states = padded_states[slot_offset : slot_offset + length]
        outputs = states if time_major else tf.transpose(states, [1, 0, 2])

        def gradient(output_gradient, final_gradient):
            transposed_recurrent = tf.transpose(recurrent_kernel)

            def backward_step(index, loop_state):
                carry, kernel_gradient, bias_gradient, recurrent_gradient, array = loop_state
                time = time_of(length - 1 - index)
                upstream = carry
                if output_gradient is not None:
                    upstream += frame_of(output_gradient, time)
                input_gradient = gradient_through_activation(states[time], upstream)
                if mask_by_time is not None:
                    input_gradient = tf.where(mask_by_time[time], input_gradient, tf.zeros_like(input_gradient))
                carry = tf.matmul(input_gradient, transposed_recurrent)
                if mask_by_time is not None:
                    carry += tf.where(mask_by_time[time], tf.zeros_like(upstream), upstream)
                # Off the sequential path, and one step each: see the module docstring.
                previous = padded_states[time + previous_offset]
                recurrent_gradient += tf.matmul(previous, input_gradient, transpose_a=True)
                kernel_gradient += tf.matmul(frame_of(sequences, time), input_gradient, transpose_a=True)
                bias_gradient += tf.reduce_sum(input_gradient, axis=0)
                return carry, kernel_gradient, bias_gradient, recurrent_gradient, array.write(time, input_gradient)

            carry = tf.zeros_like(initial_state) if final_gradient is None else final_gradient
            input_gradients = tf.TensorArray(sequences.dtype, size=length, element_shape=initial_state.shape)
            loop_state = (
                carry, tf.zeros_like(kernel), tf.zeros_like(bias), tf.zeros_like(recurrent_kernel), input_gradients
            )
            carry, kernel_gradient, bias_gradient, recurrent_gradient, input_gradients = _for_each_step(
                length, backward_step, loop_state
            )
            # When the inputs need no gradient, TensorFlow prunes this and the stacking of dz.
            sequence_gradient = frames_gradient(input_gradients.stack(), kernel)
            if not time_major:
                sequence_gradient = tf.transpose(sequence_gradient, [1, 0, 2])
            return sequence_gradient, carry, kernel_gradient, bias_gradient, recurrent_gradient

        return (outputs, final_state), gradient

    outputs, final_state = recurrence(
        sequences, *plain_weights(initial_state, kernel, bias, recurrent_kernel, sequences.dtype)
    )
    return outputs, final_state


# Steps per iteration of the inference loop: each iteration costs a fixed
# overhead (TensorFlow's executor; in LiteRT, copies of the loop variables),
# and more steps per iteration make a larger graph. Measured best of 4, 8 and 16.
INFERENCE_BLOCK = 8


def run_inference(sequences, directions, activation_name, mask=None, time_major=False, block=INFERENCE_BLOCK):
    """`run_recurrence` without its hand-written gradient, for inference: every direction in one loop.

    Args:
      sequences, activation_name, mask, time_major: as for `run_recurrence`.
      directions: one (initial_state, kernel, bias, recurrent_kernel, reverse)
        per direction: one for `BasicRNN`, two for `Bidirectional`.

    Returns:
      [(outputs, final_state)] per direction, as `run_recurrence` returns them.

    What exported graphs need, which the training loop does not give them:
    - the input projection x_t W_xh + b needs no state, so it is off the
      sequential path, where each step has one matmul left: with a static
      batch of one (LiteRT, which pays per op) one matmul per block of steps;
      otherwise one per step, which TensorFlow's executor can run beside the
      recurrent product, where a block's matmul would hold up the block's
      first step (docs/deployment.md, "Against Keras's own layers");
    - `block` steps per loop iteration, the frames padded at the end to whole
      blocks; the extra steps' states are dropped and each final state is
      read at the last real step, so no step needs a condition;
    - a block's inputs are read with `tf.gather` at the loop index: in
      LiteRT a slice at a run-time index has an output of dynamic shape, which
      makes every later op of the loop body allocate and prepare again at each
      iteration, while a gather's shape is static;
    - the states of a block go out through a TensorArray written once per
      iteration at the loop index and read only after the loop: what tf2onnx
      turns into an ONNX scan output. With a static batch of one (the
      `sequence` signature that model.tflite is converted from), a buffer of
      all the states updated with `tf.where` instead: TF Lite lowers a
      TensorArray to six ops of dynamic shape per write, while `tf.where`
      keeps the buffer's shape static. Both copy every state at every
      iteration, which only a sequence of one can afford.
    Plain TensorFlow ops throughout, so TensorFlow's gradient runs through it.
    """
    activation = _ACTIVATIONS[activation_name]
    sequences = tf.convert_to_tensor(sequences)
    if 0 in tuple(sequences.shape):
        # An empty batch or frames of no features: the blocks' reshapes need a size, the plain loop does not.
        return [
            run_recurrence(sequences, initial_state, kernel=kernel, bias=bias, recurrent_kernel=recurrent_kernel,
                           activation_name=activation_name, mask=mask, reverse=reverse, time_major=time_major)
            for initial_state, kernel, bias, recurrent_kernel, reverse in directions
        ]
    dtype = sequences.dtype
    frames = sequences if time_major else tf.transpose(sequences, [1, 0, 2])
    length, batch = tf.shape(frames)[0], tf.shape(frames)[1]
    # At least one block, so that a sequence of no frames still has a state to read.
    iterations = tf.maximum((length + block - 1) // block, 1)
    padding = iterations * block - length
    if mask is not None:
        mask = tf.cast(mask if time_major else tf.transpose(mask), tf.bool)[..., None]

    def in_blocks(tensor, reverse):
        """(time, batch, ...) -> (iterations, block, batch, ...), in the order the direction reads the frames."""
        if reverse:
            tensor = tf.reverse(tensor, [0])
        tensor = tf.pad(tensor, [[0, padding]] + [[0, 0]] * (len(tensor.shape) - 1))
        return tf.reshape(tensor, tf.concat([[iterations, block], tf.shape(tensor)[1:]], 0))

    initial_states, inputs, weights, masks = [], [], [], []
    for initial_state, kernel, bias, recurrent_kernel, reverse in directions:
        initial_state, *direction_weights = plain_weights(initial_state, kernel, bias, recurrent_kernel, dtype)
        initial_states.append(initial_state)
        weights.append(direction_weights)
        inputs.append(in_blocks(frames, reverse))
        masks.append(None if mask is None else in_blocks(mask, reverse))

    # The static batch of one that model.tflite is converted from (see the docstring).
    batch_of_one = frames.shape[1] == 1

    def run_block(index, states):
        """The states after each step of block `index`: [direction][step] (batch, units)."""
        blocks = []
        for state, direction_inputs, (kernel, bias, recurrent_kernel), direction_mask in zip(
            states, inputs, weights, masks
        ):
            block_frames = tf.gather(direction_inputs, index)
            if batch_of_one:
                projected = tf.nn.bias_add(tf.matmul(tf.reshape(block_frames, [-1, kernel.shape[0]]), kernel), bias)
                block_inputs = tf.unstack(tf.reshape(projected, [block, batch, kernel.shape[1]]), num=block)
            else:
                block_inputs = [tf.nn.bias_add(tf.matmul(frame, kernel), bias)
                                for frame in tf.unstack(block_frames, num=block)]
            block_mask = None if direction_mask is None else tf.unstack(tf.gather(direction_mask, index), num=block)
            written = []
            for offset in range(block):
                new_state = activation(block_inputs[offset] + tf.matmul(state, recurrent_kernel))
                if block_mask is not None:
                    new_state = tf.where(block_mask[offset], new_state, state)
                state = new_state
                written.append(state)
            blocks.append(written)
        return blocks

    def condition(index, *_):
        return index < iterations

    if batch_of_one:
        buffers = [tf.zeros([iterations, block, 1, state.shape[-1]], dtype) for state in initial_states]
        slots = tf.range(iterations)[:, None, None, None]

        def body(index, states, buffers):
            blocks = run_block(index, states)
            is_slot = tf.equal(slots, index)
            buffers = [tf.where(is_slot, tf.expand_dims(tf.stack(written), 0), buffer) for buffer, written in zip(buffers, blocks)]
            return index + 1, [written[-1] for written in blocks], buffers

        _, _, buffers = tf.while_loop(condition, body, (tf.constant(0), initial_states, buffers))
    else:
        def body(index, states, arrays):
            blocks = run_block(index, states)
            arrays = [array.write(index, tf.stack(written)) for array, written in zip(arrays, blocks)]
            return index + 1, [written[-1] for written in blocks], arrays

        arrays = [
            tf.TensorArray(dtype, size=iterations, element_shape=(block, None, state.shape[-1]))
            for state in initial_states
        ]
        _, _, arrays = tf.while_loop(condition, body, (tf.constant(0), initial_states, arrays))
        buffers = [array.stack() for array in arrays]

    results = []
    for buffer, initial_state, (*_, reverse) in zip(buffers, initial_states, directions):
        states = tf.reshape(buffer, [iterations * block, batch, initial_state.shape[-1]])
        final_state = tf.where(length > 0, tf.gather(states, tf.maximum(length - 1, 0)), initial_state)
        outputs = states[:length]
        if reverse:
            outputs = tf.reverse(outputs, [0])
        if not time_major:
            outputs = tf.transpose(outputs, [1, 0, 2])
        results.append((outputs, final_state))
    return results
