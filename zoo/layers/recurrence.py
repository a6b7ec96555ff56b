"""The one time loop behind every recurrent layer of the zoo: `BasicRNN`, `LSTM`, `GRU` and `Bidirectional`.

A cell contributes its equations and its state shapes (zoo/layers/cells.py);
everything else is written once, here, for all of them:

- the input projection x_t W + b needs no state, so it is one large matmul
  over every frame of every direction before the loop, as cuDNN does; what
  is left on the sequential path is each step's recurrent product and the
  cell's gate arithmetic (the native op takes narrow inputs unprojected, see
  NARROW_INPUTS);
- masking (a masked frame keeps every state, h and c, and outputs the kept h),
  directions (a reversed direction reads the frames from the last; outputs
  come back in frame order either way), initial and final states;
- where the steps run: in training on a CPU, float32, the compiled op of
  native_kernel.py (forward and backward in one op each, every direction in
  one op); everywhere else a loop of TensorFlow ops (`scan`), which every
  inference graph is traced from (SavedModel, TF Lite built-ins, ONNX) and
  which TensorFlow differentiates itself for training off the CPU, under
  XLA, or in other dtypes.
"""

import tensorflow as tf

from zoo.layers import native_kernel

# Steps per iteration of the TensorFlow-ops loop: each iteration costs a fixed
# overhead (TensorFlow's executor; in LiteRT, copies of the loop variables),
# and more steps per iteration make a larger graph. Measured best of 4, 8 and 16
# for the basic cell.
BLOCK = 8
# With a static batch of one (model.tflite), where the loop keeps one state per
# block (`_loop_and_replay`): longer blocks copy less per iteration but pad
# short sequences more.
SEQUENCE_BLOCK = 32
# Inputs at most this wide go into the native op as they are, and it makes
# each frame's x_t W + b inside its loop: there the product is cheap, while
# the one large matmul before the loop would be bound by memory, writing a
# (batch, time, D * G * U) tensor many times wider than x, and its gradient
# reading that twice. bench/layers.py's framewise shape (39 inputs) and g2p's
# (64) gain; wider inputs keep the large matmul.
NARROW_INPUTS = 64


def run(sequences, directions, mask=None, time_major=False, training=False):
    """Runs one or more directions of recurrent cells over a batch of sequences.

    Args:
      sequences: (batch, time, features), or (time, batch, features) if `time_major`.
      directions: one `(cell, initial_states, reverse)` per direction: a built
        cell of zoo/layers/cells.py, its states before the first step (a list of
        (batch, units), h first), and whether it reads the frames from the last.
        All directions have cells of one kind.
      mask: optional bool (batch, time) ((time, batch) if `time_major`); a
        masked frame keeps the states of the step before.
      training: whether gradients will be taken (picks the native op where usable).

    Returns:
      [(outputs, final_states)] per direction: every h in the layout of
      `sequences`, in frame order, and the list of states after the last step
      (at the last real frame under a mask).
    """
    sequences = tf.convert_to_tensor(sequences)
    cells = [cell for cell, _, _ in directions]
    kernel = tf.concat([tf.convert_to_tensor(cell.kernel) for cell in cells], axis=-1)
    bias = tf.concat([cell.input_bias() for cell in cells], axis=-1)
    initial_states = [[tf.convert_to_tensor(state) for state in states] for _, states, _ in directions]
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    if training and native_kernel.usable(sequences, training) and all(cell.native_ok for cell in cells):
        return _run_native(sequences, kernel, bias, cells, initial_states, directions[0][2], mask, time_major)
    return scan(project(sequences, kernel, bias), cells, initial_states, [reverse for _, _, reverse in directions],
                mask, time_major)


def project(sequences, kernel, bias):
    """x W + b for every frame at once: (a, b, features) -> (a, b, columns), as one 2-D matmul."""
    shape = tf.shape(sequences)
    flat = tf.reshape(sequences, [shape[0] * shape[1], shape[2]])
    projected = tf.nn.bias_add(tf.matmul(flat, tf.cast(kernel, sequences.dtype)), tf.cast(bias, sequences.dtype))
    return tf.reshape(projected, tf.concat([shape[:2], [tf.shape(kernel)[-1]]], axis=0))


def _run_native(sequences, kernel, bias, cells, initial_states, reverse, mask, time_major):
    """Every direction in one call of the compiled op: direction 1 runs opposite to direction 0."""
    cell = cells[0]
    recurrent_biases = [cell.recurrent_bias() for cell in cells]
    narrow = sequences.shape[-1] is not None and sequences.shape[-1] <= NARROW_INPUTS
    states, finals = native_kernel.run_native(
        cell.NATIVE,
        sequences if narrow else project(sequences, kernel, bias),
        tf.stack([tf.concat(states, axis=-1) for states in initial_states]),
        tf.stack([tf.convert_to_tensor(cell.recurrent_kernel) for cell in cells]),
        None if recurrent_biases[0] is None else tf.stack(recurrent_biases),
        mask=mask,
        reverse=reverse,
        time_major=time_major,
        activation=cell.native_activation,
        input_kernel=kernel if narrow else None,
        input_bias=bias if narrow else None,
    )
    count = len(cell.state_size_list)
    return [(output, tf.split(finals[index], count, axis=-1) if count > 1 else [finals[index]])
            for index, output in enumerate(states)]


def scan(projected, cells, initial_states, reverses, mask=None, time_major=False, block=None):
    """The loop of TensorFlow ops: `run` after the projection, for inference and training off the native op.

    Args:
      projected: x W + b of every direction side by side, (batch, time,
        directions * columns), or time-major.
      cells, initial_states, reverses: per direction, as `run`'s `directions`.

    What exported graphs need, which shapes this loop:
    - plain TensorFlow ops (TF Lite built-ins, an ONNX Loop), differentiable;
    - `block` steps per loop iteration, the frames padded at the end to whole
      blocks (at least one) and the padding masked, so the final states are
      the loop's own; a length known to fit in a block is unrolled with no
      loop at all (a decoder's single step);
    - a block's inputs are read with `tf.gather` at the loop index: in LiteRT a
      slice at a run-time index has an output of dynamic shape, which makes
      every later op of the loop body allocate and prepare again each iteration;
    - the outputs leave through a TensorArray, or, with a static batch of
      one, are replayed after the loop (`_loop_and_replay`).
    """
    frames = projected if time_major else tf.transpose(projected, [1, 0, 2])
    if block is None:
        block = SEQUENCE_BLOCK if frames.shape[1] == 1 else BLOCK
    dtype = projected.dtype
    length = tf.shape(frames)[0]
    static_length = frames.shape[0]
    unrolled = static_length is not None and static_length <= block
    iterations = tf.maximum((length + block - 1) // block, 1)
    padding = 0 if unrolled else iterations * block - length
    if mask is not None:
        frame_mask = (mask if time_major else tf.transpose(mask))[..., None]
    elif not unrolled:
        # Only the padding is masked; (time, 1, 1) broadcasts over the batch.
        frame_mask = (tf.range(length + padding) < length)[:, None, None]
    else:
        frame_mask = None
    weights = [cell.loop_weights(dtype) for cell in cells]
    initial_states = [[tf.cast(state, dtype) for state in states] for states in initial_states]

    def in_order(tensor, reverse):
        """(time, ...) in the order a direction reads it, padded at the end to whole blocks."""
        if reverse:
            tensor = tf.reverse(tensor, [0])
        return tensor if unrolled else tf.pad(tensor, [[0, padding]] + [[0, 0]] * (len(tensor.shape) - 1))

    inputs = [in_order(direction, reverse) for direction, reverse in zip(tf.split(frames, len(cells), axis=-1), reverses)]
    if mask is not None:
        masks = [in_order(frame_mask, reverse) for reverse in reverses]
    else:
        # Padding comes last in either direction's order, so one mask serves both.
        masks = [] if frame_mask is None else [frame_mask] * len(cells)

    def steps(states, direction_frames, direction_masks):
        """Runs each direction over its list of frames: -> (new states, [direction][step] h)."""
        new_states, written = [], []
        for index, (cell, state) in enumerate(zip(cells, states)):
            outputs = []
            for offset, frame in enumerate(direction_frames[index]):
                updated = cell.step(frame, state, weights[index])
                if direction_masks:
                    real = direction_masks[index][offset]
                    updated = [tf.where(real, new, old) for new, old in zip(updated, state)]
                state = updated
                outputs.append(state[0])
            new_states.append(state)
            written.append(outputs)
        return new_states, written

    if unrolled:
        final_states, written = steps(
            initial_states,
            [tf.unstack(direction, num=static_length) for direction in inputs],
            [tf.unstack(direction, num=static_length) for direction in masks],
        )
        sequences_out = [
            tf.stack(outputs) if outputs else tf.zeros_like(direction[..., : cell.units])
            for outputs, direction, cell in zip(written, inputs, cells)
        ]
    else:
        final_states, sequences_out = _loop(steps, inputs, masks, block, iterations, initial_states, cells, dtype)
        sequences_out = [outputs[:length] for outputs in sequences_out]

    results = []
    for outputs, states, reverse in zip(sequences_out, final_states, reverses):
        if reverse:
            outputs = tf.reverse(outputs, [0])
        if not time_major:
            outputs = tf.transpose(outputs, [1, 0, 2])
        results.append((outputs, states))
    return results


def _loop(steps, inputs, masks, block, iterations, initial_states, cells, dtype):
    """A tf.while_loop of `block` steps per iteration over frames (iterations * block, batch, columns).

    Returns (final states, [direction] outputs (iterations * block, batch, units)).
    """

    def in_blocks(tensor):
        return tf.reshape(tensor, tf.concat([[iterations, block], tf.shape(tensor)[1:]], axis=0))

    input_blocks = [in_blocks(direction) for direction in inputs]
    mask_blocks = [in_blocks(direction) for direction in masks]
    if inputs[0].shape[1] == 1:
        return _loop_and_replay(steps, input_blocks, mask_blocks, block, iterations, initial_states, dtype)

    def body(index, states, arrays):
        states, written = steps(states, *_read_block(input_blocks, mask_blocks, index, block))
        return index + 1, states, [array.write(index, tf.stack(outputs)) for array, outputs in zip(arrays, written)]

    # Written once per iteration at the loop index and read after the loop: what tf2onnx turns into a scan output.
    arrays = [tf.TensorArray(dtype, size=iterations, element_shape=(block, None, cell.units)) for cell in cells]
    _, final_states, arrays = tf.while_loop(
        lambda index, *_: index < iterations, body, (tf.constant(0), initial_states, arrays)
    )
    batch = tf.shape(inputs[0])[1]
    return final_states, [tf.reshape(array.stack(), [iterations * block, batch, cell.units])
                          for array, cell in zip(arrays, cells)]


def _read_block(input_blocks, mask_blocks, index, block):
    """Block `index` of every direction's frames and masks, as lists of `block` steps.

    Read with `tf.gather`: in LiteRT a slice at a run-time index has an output
    of dynamic shape, which makes every later op of the loop body prepare again.
    """
    return ([tf.unstack(tf.gather(direction, index), num=block) for direction in input_blocks],
            [tf.unstack(tf.gather(direction, index), num=block) for direction in mask_blocks])


def _loop_and_replay(steps, input_blocks, mask_blocks, block, iterations, initial_states, dtype):
    """The loop for a static batch of one (model.tflite's `sequence` signature): about flat per frame to 10,000 frames.

    TF Lite lowers a TensorArray to ops of dynamic shape, and LiteRT's WHILE
    copies every loop variable at every iteration (an in-place
    DYNAMIC_UPDATE_SLICE is refused on a subgraph's input), so a buffer of all
    the states would cost the square of the length. The loop keeps only the
    states at the start of each block (`tf.where` against a range keeps their
    buffer's shape static); after it, one unrolled block replays every block
    at once from those states, each block a row of one batch. Every step runs
    twice, the second time batched, and what each iteration copies is one
    state per block: 1/block of all the states, so the copies still grow with
    the square of the length, divided by block^2. (Choosing a loop that keeps
    every state for short sequences, with `tf.cond`, was slower at every
    length in LiteRT: bench/tflite_length.py.)
    """
    rows = tf.range(iterations)[:, None, None]

    def body(index, states, starts):
        starts = [[tf.where(tf.equal(rows, index), state[None], start) for start, state in zip(kept, direction)]
                  for kept, direction in zip(starts, states)]
        states, _ = steps(states, *_read_block(input_blocks, mask_blocks, index, block))
        return index + 1, states, starts

    starts = [[tf.zeros([iterations, 1, state.shape[-1]], dtype) for state in states] for states in initial_states]
    _, final_states, starts = tf.while_loop(
        lambda index, *_: index < iterations, body, (tf.constant(0), initial_states, starts)
    )

    def blocks_as_batch(tensor):
        """(iterations, block, 1, ...) -> `block` tensors (iterations, ...): step k of every block side by side."""
        tensor = tf.transpose(tensor, [1, 0] + list(range(2, len(tensor.shape))))
        return tf.unstack(tf.reshape(tensor, tf.concat([[block, iterations], tf.shape(tensor)[3:]], 0)), num=block)

    replay_states = [[tf.reshape(start, [iterations, start.shape[-1]]) for start in kept] for kept in starts]
    _, written = steps(replay_states, [blocks_as_batch(direction) for direction in input_blocks],
                       [blocks_as_batch(direction) for direction in mask_blocks])
    outputs = [tf.reshape(tf.transpose(tf.stack(direction), [1, 0, 2]), [iterations * block, 1, -1])
               for direction in written]
    return final_states, outputs
