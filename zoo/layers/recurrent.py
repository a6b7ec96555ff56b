"""The layer every recurrent layer of the zoo is: a cell of zoo/layers/cells.py run over whole sequences."""

import inspect

import keras
from keras import ops

from zoo.layers import recurrence


def check_float_sequences(layer, sequences):
    """Token ids need an Embedding first: a matmul with them would fail far from the cause."""
    if not keras.backend.is_float_dtype(sequences.dtype):
        raise ValueError(
            f"{type(layer).__name__} takes float sequences (batch, time, features), got dtype "
            f"{keras.backend.standardize_dtype(sequences.dtype)}: embed token ids first "
            "(keras.layers.Embedding) or cast the features to float."
        )


def to_time_major(tensor):
    """(batch, time, ...) <-> (time, batch, ...)."""
    rank = len(tensor.shape)
    return ops.transpose(tensor, [1, 0, *range(2, rank)])


class Recurrent(keras.layers.RNN):
    """A zoo cell (`CELL`, set by each subclass) over sequences, on the zoo's time loop (zoo/layers/recurrence.py).

    Input (batch, time, input_dim), or (time, batch, input_dim) with
    `time_major=True`, the article's layout. Output (batch, time, units) with
    `return_sequences=True`, else the last h (batch, units); with
    `return_state=True` the final states follow (h, and c for the LSTM).

    Any length works, known or not when the model is built. Without
    `initial_state` the states start at zeros. A mask of shape (batch, time)
    (`Embedding(mask_zero=True)`, `Masking`, or `mask=`; (time, batch) when
    time-major) makes masked frames keep every state: a right-padded batch
    gives every sequence what it gets alone, and the final states are those
    at its last real frame. `go_backwards=True` reads from the last frame and,
    as Keras does, lists its outputs in the order it computed them.
    `stateful=True` carries the final states of a batch into the next call,
    for streaming; `reset_states()` zeroes them.

    In training on a CPU, float32 steps run in a compiled op
    (zoo/layers/native_kernel.cc, built on first use); other training, and
    every call that is not training (inference graphs, exports), runs a loop
    of TensorFlow ops. Both compute the same equations.
    """

    CELL = None

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 time_major=False, zero_output_for_mask=False, **kwargs):
        cell_options = {name: kwargs.pop(name) for name in list(kwargs) if name in self._cell_options()}
        cell = self.CELL(units, **cell_options, dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True),
                         name=f"{type(self).__name__.lower()}_cell")
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, zero_output_for_mask=zero_output_for_mask,
                         **kwargs)
        self.time_major = time_major
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @classmethod
    def _cell_options(cls):
        """The keyword arguments the cell takes: those of its class and of every cell class it extends."""
        names = set()
        for klass in cls.CELL.__mro__:
            if klass is keras.layers.Layer:
                break
            names |= set(inspect.signature(klass.__init__).parameters) - {"self", "units", "kwargs"}
        return names

    @property
    def units(self):
        return self.cell.units

    def build(self, sequences_shape, initial_state_shape=None):
        if self.time_major:
            sequences_shape = (sequences_shape[1], sequences_shape[0], *sequences_shape[2:])
        super().build(sequences_shape, initial_state_shape)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        if not self.time_major:
            return super().compute_output_shape(sequences_shape, initial_state_shape)
        time, batch = sequences_shape[0], sequences_shape[1]
        shapes = super().compute_output_shape((batch, time, *sequences_shape[2:]), initial_state_shape)
        if not self.return_sequences:
            return shapes
        if self.return_state:
            return ((time, batch, self.units), *shapes[1:])
        return (time, batch, self.units)

    def initial_states(self, sequences, initial_state=None):
        """The states before the first step, as a list: given, carried (stateful), or zeros."""
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                initial_state = self.cell.get_initial_state(ops.shape(sequences)[1 if self.time_major else 0])
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        expected = len(self.cell.state_size_list)
        if len(initial_state) != expected:
            raise ValueError(f"{type(self).__name__} takes {expected} initial state tensor(s) "
                             f"({'h and c' if expected == 2 else 'h'}), got {len(initial_state)}.")
        return [ops.cast(state, self.compute_dtype) for state in initial_state]

    def direction(self, initial_states):
        """This layer's entry of `recurrence.run`'s `directions`."""
        return self.cell, initial_states, self.go_backwards

    def call(self, sequences, initial_state=None, mask=None, training=False):
        check_float_sequences(self, sequences)
        initial_states = self.initial_states(sequences, initial_state)
        ((outputs, final_states),) = recurrence.run(
            sequences, [self.direction(initial_states)], mask, self.time_major, bool(training)
        )
        if self.stateful:
            for variable, state in zip(self.states, final_states):
                variable.assign(state)

        if self.return_sequences:
            if self.zero_output_for_mask and mask is not None:
                outputs = ops.where(ops.cast(mask, "bool")[..., None], outputs, ops.zeros_like(outputs))
            if self.go_backwards:
                # Keras's convention: a backwards layer lists its outputs in
                # the order it computed them, last frame first.
                outputs = ops.flip(outputs, axis=0 if self.time_major else 1)
            output = outputs
        else:
            output = final_states[0]
        if self.return_state:
            return [output, *final_states]
        return output

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        del config["unroll"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config, "time_major": self.time_major}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
