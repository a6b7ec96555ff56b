"""Real-time use (SPEC §3): a unidirectional model run one frame at a time, its state passed in and out.

    step = streaming.step_function(model, task)   # task: its name, e.g. "frames"
    state = np.zeros((1, streaming.state_size(model)), np.float32)
    for frame in frames:                      # frame (features,) float32, or a token id for char_lm
        outputs = step(frame[None], state)    # {"output": (1, classes), "next_state": (1, state_size)}
        state = outputs["next_state"]

The state of every recurrent layer travels in one vector, layer after layer
(an LSTM layer carries h then c), zeros to start. TF Lite cannot hold Keras's
stateful variables, so the caller keeps the state, which also lets one model
serve several streams at once.

Only models whose output at frame t depends on frames 0..t can stream: a
bidirectional layer's backward direction starts at the last frame, and a
window of frames reaches past t, so both need the whole sequence.
"""

import keras
import tensorflow as tf

from zoo import tasks
from zoo.layers import WindowConcat

# Layers that act on each frame alone; the step applies them as they are.
FRAME_LAYERS = (keras.layers.Dense, keras.layers.Embedding, keras.layers.Normalization)
# Layers that do nothing at inference.
SKIPPED_LAYERS = (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.SpatialDropout1D)


def recurrent_layers(model):
    """The model's recurrent layers in order; ValueError (one line, saying why) when it cannot stream."""
    if len(model.inputs) != 1:
        raise ValueError(
            f"{model.name} cannot stream: it reads its whole source sentence before it writes the first output "
            "token; its decoder already runs one token at a time (the SavedModel's serve endpoint)."
        )
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional) or getattr(layer, "go_backwards", False):
            kind = "bidirectional" if isinstance(layer, keras.layers.Bidirectional) else "go_backwards"
            raise ValueError(
                f"{model.name} cannot stream: its {kind} layer {layer.name!r} runs a backward direction "
                "that starts at the last frame, so it needs the whole sequence; train a unidirectional model "
                "(framewise --no-bidirectional) for real-time use."
            )
        if isinstance(layer, WindowConcat):
            raise ValueError(
                f"{model.name} cannot stream: its window {layer.name!r} needs {layer.right} frame(s) after frame t, "
                "so frame t waits for the future; only recurrent models label a frame from past frames alone."
            )
        if isinstance(layer, keras.layers.RNN):
            layers.append(layer)
        elif not isinstance(layer, (*FRAME_LAYERS, *SKIPPED_LAYERS, keras.layers.Masking)):
            raise ValueError(
                f"{model.name} cannot stream: its layer {layer.name!r} ({type(layer).__name__}) does not act "
                "frame by frame."
            )
    if not layers:
        raise ValueError(f"{model.name} cannot stream: it has no recurrent layer to carry a state.")
    return layers


def _state_sizes(layer):
    """The widths of one recurrent layer's states: [units], or [units, units] for the LSTM's h and c."""
    size = layer.cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def state_size(model):
    """The length of the state vector: every state of every recurrent layer, side by side."""
    return sum(sum(_state_sizes(layer)) for layer in recurrent_layers(model))


def frame_spec(model):
    """The `frame` input of a step: (1, features) float32, or (1,) int32 token ids for token models."""
    if model.inputs[0].dtype.startswith("int"):
        return tf.TensorSpec([1], tf.int32, name="frame")
    return tf.TensorSpec([1, model.inputs[0].shape[-1]], tf.float32, name="frame")


def step_function(model, task):
    """One step of `model`: (frame, state) -> {"output": (1, classes), "next_state": (1, state_size)}.

    `task` (a name or a `zoo.tasks.Task`) turns the last layer's output into `output`.

    frame is (1, features) float32 (a (1,) int32 token id for char_lm), state
    is (1, state_size) float32. `output` holds probabilities: the frame's
    label for frame models, the next token for the language model. It
    reproduces the whole-sequence model frame by frame, including its
    masking: an all-zero frame is padding and leaves the state unchanged.

    Returns a plain function of two tensors, for `tf.function`, Keras's
    `ExportArchive` or eager use.
    """
    stream_output = tasks.get(task).stream_output
    layers = recurrent_layers(model)
    recurrent = {id(layer) for layer in layers}
    widths = [_state_sizes(layer) for layer in layers]

    def step(frame, state):
        x, real, next_states = frame, None, []
        sizes = [width for layer_widths in widths for width in layer_widths]
        # No split of a single state: in TF Lite it is an op of its own, a copy.
        states = list(tf.split(state, sizes, axis=-1)) if len(sizes) > 1 else [state]
        for layer in model.layers:
            if isinstance(layer, keras.layers.Masking):
                real = tf.reduce_any(tf.not_equal(x, layer.mask_value), axis=-1, keepdims=True)
            elif id(layer) in recurrent:
                previous = [states.pop(0) for _ in widths[len(next_states)]]
                x, new = layer.cell(x, previous, training=False)
                if real is not None:
                    # A masked (padding) frame keeps the state, as the whole-sequence layer does.
                    new = [tf.where(real, updated, old) for updated, old in zip(new, previous)]
                    x = new[0]
                next_states.append(new)
            elif isinstance(layer, FRAME_LAYERS):
                # As a sequence of one frame: a layer built for (batch, time, ...) may broadcast over time.
                # Reshapes, not slices: TF Lite folds them into the neighbouring ops.
                x = tf.squeeze(layer(tf.expand_dims(x, 1), training=False), 1)
        output = stream_output(x)
        next_state = tf.concat([value for layer_states in next_states for value in layer_states], axis=-1)
        return {"output": output, "next_state": next_state}

    return step
