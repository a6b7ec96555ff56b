"""The bidirectional recurrent layer of SPEC §3, merging by sum unless told otherwise."""

import contextlib

import keras
from keras import ops
from keras.src.backend.common import global_state

from zoo.layers import recurrence
from zoo.layers.recurrent import Recurrent, check_float_sequences, to_time_major

MERGE_MODES = ("sum", "concat", "ave", "mul", None)
# Keras's record of objects already seen while a model loads (keras.src.saving.serialization_lib).
_SHARING_MAPS = ("shared_objects/id_to_obj_map", "shared_objects/id_to_config_map")
SHARED_WEIGHTS = {
    None: (),
    "input": ("kernel", "bias"),
    "recurrent": ("recurrent_kernel",),
    "all": ("kernel", "recurrent_kernel", "bias"),
}


@keras.saving.register_keras_serializable(package="zoo")
class Bidirectional(keras.layers.Bidirectional):
    """A forward and a backward copy of a recurrent layer, merged frame by frame.

    A forward copy (h^f_t, from h^f_{t-1} and x_t) runs from the first frame,
    a backward copy with weights of its own (h^b_t, from h^b_{t+1} and x_t)
    from the last, and
    `merge_mode` joins them: "sum" h^f_t + h^b_t (the article's default),
    "concat", "ave", "mul", or None for both.

    Input (batch, time, features), or (time, batch, features) when the wrapped
    layer is time-major. With a mask, the backward direction starts at
    each sequence's own last real frame, never at padding, and padded output
    frames are zero. `initial_state` lists the forward states, then the
    backward ones (`[h^f_0, h^b_0]`; `[h^f_0, c^f_0, h^b_0, c^b_0]` for an
    LSTM); `return_state=True` returns `[output, *forward_final, *backward_final]`.

    `share_weights` ties the directions (zoo layers only): "input" shares
    the kernel and bias, "recurrent" the recurrent kernel, "all" all three.
    Directions of a zoo layer (`BasicRNN`, `LSTM`, `GRU`) run together in the
    zoo's time loop, in one native op when training on a CPU; any other Keras
    RNN runs as two layers. The copies are `.forward_layer` and `.backward_layer`.

    Args:
      layer: the recurrent layer to copy (its `go_backwards` is ignored).
      merge_mode: "sum", "concat", "ave", "mul" or None.
      share_weights: None, "input", "recurrent" or "all".

    Example:

        h = zoo.layers.Bidirectional(zoo.layers.LSTM(128, return_sequences=True))(frames)

    Online use needs a unidirectional layer: the backward direction cannot
    start before the whole sequence has arrived.
    """

    def __init__(self, layer, merge_mode="sum", share_weights=None, **kwargs):
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Unknown merge_mode {merge_mode!r}: use one of {list(MERGE_MODES)}.")
        if share_weights not in SHARED_WEIGHTS:
            raise ValueError(f"Unknown share_weights {share_weights!r}: use one of {list(SHARED_WEIGHTS)}.")
        if share_weights is not None and not isinstance(layer, Recurrent):
            raise ValueError(
                f"share_weights={share_weights!r} needs a zoo.layers layer (BasicRNN, LSTM, GRU), got "
                f"{type(layer).__name__}; use share_weights=None for other layers."
            )
        with _without_object_sharing():
            # Copies of an unbuilt layer: a built one would bring its own weights
            # into the backward copy before `build` can share the forward ones.
            config = keras.saving.serialize_keras_object(layer)
            config.pop("build_config", None)
            super().__init__(keras.saving.deserialize_keras_object(config), merge_mode=merge_mode, **kwargs)
        self.share_weights = share_weights

    @property
    def _uses_zoo_loop(self):
        return isinstance(self.forward_layer, Recurrent) and isinstance(self.backward_layer, Recurrent)

    @property
    def _time_major(self):
        return getattr(self.forward_layer, "time_major", False)

    def build(self, sequences_shape, initial_state_shape=None):
        if not self.forward_layer.built:
            self.forward_layer.build(sequences_shape)
        if not self.backward_layer.built:
            for name in SHARED_WEIGHTS[self.share_weights]:
                setattr(self.backward_layer.cell, name, getattr(self.forward_layer.cell, name))
            self.backward_layer.build(sequences_shape)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        check_float_sequences(self, sequences)
        if not self._uses_zoo_loop:
            return self._call_generic(sequences, initial_state, mask, training)

        forward, backward = self.forward_layer, self.backward_layer
        if initial_state is not None:
            initial_state = list(initial_state)
            count = len(forward.cell.state_size_list)
            if len(initial_state) != 2 * count:
                raise ValueError(
                    f"Bidirectional({type(forward).__name__}) takes initial_state=[forward states..., backward "
                    f"states...], {2 * count} tensors, got {len(initial_state)}."
                )
            initial_state = [initial_state[:count], initial_state[count:]]
        else:
            initial_state = [None, None]
        initial_states = [layer.initial_states(sequences, state) for layer, state in zip((forward, backward), initial_state)]

        # `go_backwards` marks the copy that reads the sequence from its end,
        # and outputs come back in frame order either way. Both directions in
        # one loop: half the per-step overhead, and in training one native op.
        (forward_states, forward_final), (backward_states, backward_final) = recurrence.run(
            sequences,
            [layer.direction(states) for layer, states in zip((forward, backward), initial_states)],
            mask,
            self._time_major,
            bool(training),
        )
        if self.stateful:
            for layer, finals in ((forward, forward_final), (backward, backward_final)):
                for variable, state in zip(layer.states, finals):
                    variable.assign(state)

        if self.return_sequences:
            if mask is not None:
                frame_mask = ops.cast(mask, "bool")[..., None]
                forward_states = ops.where(frame_mask, forward_states, ops.zeros_like(forward_states))
                backward_states = ops.where(frame_mask, backward_states, ops.zeros_like(backward_states))
            output = self._merge(forward_states, backward_states)
        else:
            output = self._merge(forward_final[0], backward_final[0])
        if self.return_state:
            parts = tuple(output) if self.merge_mode is None else (output,)
            return parts + tuple(forward_final) + tuple(backward_final)
        return output

    def _call_generic(self, sequences, initial_state, mask, training):
        """Two separate layers, as Keras runs them; Keras's version expects batch-major tensors."""
        if not self._time_major:
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        for layer in (self.forward_layer, self.backward_layer):
            layer.time_major = False
        try:
            results = super().call(
                to_time_major(sequences),
                initial_state=initial_state,
                mask=None if mask is None else ops.transpose(mask),
                training=training,
            )
        finally:
            for layer in (self.forward_layer, self.backward_layer):
                layer.time_major = True
        if not self.return_sequences:
            return results
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        outputs_count = 2 if self.merge_mode is None else 1
        results[:outputs_count] = [to_time_major(result) for result in results[:outputs_count]]
        return results[0] if len(results) == 1 else results

    def _merge(self, forward_output, backward_output):
        if self.merge_mode == "sum":
            return forward_output + backward_output
        if self.merge_mode == "concat":
            return ops.concatenate([forward_output, backward_output], axis=-1)
        if self.merge_mode == "ave":
            return (forward_output + backward_output) / 2
        if self.merge_mode == "mul":
            return forward_output * backward_output
        return [forward_output, backward_output]

    def compute_mask(self, _, mask):
        # Keras's own version fails for stateful layers that return states.
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        output_masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return output_masks + [None] * (2 * len(self.forward_layer.state_size))
        return output_masks if self.merge_mode is None else output_mask

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        return super().compute_output_shape(sequences_shape)

    def get_config(self):
        config = super().get_config()
        # The backward copy is always derived from the forward one.
        del config["backward_layer"]
        config["layer"].pop("build_config", None)
        return {**config, "share_weights": self.share_weights}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"], custom_objects=custom_objects)
        return cls(**config)


@contextlib.contextmanager
def _without_object_sharing():
    """Copies made while a model loads, outside Keras's object sharing.

    Loading keys the objects it has seen by id(); the copies here are made by
    serializing a layer and reading it back, and a copy whose address once
    belonged to another, freed layer would be answered with that layer
    (seen as "forward and backward layer should have different
    `go_backwards`" on loading a model, now and then).
    """
    saved = [global_state.get_global_attribute(name) for name in _SHARING_MAPS]
    for name in _SHARING_MAPS:
        global_state.set_global_attribute(name, None)
    try:
        yield
    finally:
        for name, value in zip(_SHARING_MAPS, saved):
            global_state.set_global_attribute(name, value)

