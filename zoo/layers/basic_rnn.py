"""The basic recurrent layer of SPEC §2: h_t = phi(W_xh x_t + W_hh h_{t-1} + b)."""

import keras
from keras import ops

from zoo.layers import native_kernel
from zoo.layers.recurrence import has_fast_gradient, run_inference, run_recurrence


@keras.saving.register_keras_serializable(package="zoo")
class BasicRNNCell(keras.layers.Layer):
    """One step of the basic recurrent layer.

    Follows Keras's cell contract, so it also runs inside `keras.layers.RNN`:
    `call(inputs, states)` maps inputs (batch, input_dim) and states
    `[h_{t-1}]` with h_{t-1} (batch, units) to `(h_t, [h_t])`.

    Weights: `kernel` W_xh (input_dim, units), `recurrent_kernel` W_hh
    (units, units) and `bias` b (units,). The same three tensors serve every
    time step: that sharing across time is the whole idea of a recurrent layer.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"BasicRNNCell needs a positive integer `units`, got {units!r}.")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.state_size = units
        self.output_size = units
        # `Bidirectional(share_weights=...)` fills some of these with the other
        # direction's variables before `build`, which then creates only the rest.
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None

    @property
    def activation_name(self):
        return keras.activations.serialize(self.activation)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError("BasicRNNCell needs a known feature dimension: got input shape " f"{tuple(input_shape)}.")
        if self.kernel is None:
            self.kernel = self.add_weight(
                shape=(input_dim, self.units),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                name="kernel",
            )
        if self.recurrent_kernel is None:
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.units),
                initializer=self.recurrent_initializer,
                regularizer=self.recurrent_regularizer,
                name="recurrent_kernel",
            )
        if self.use_bias and self.bias is None:
            self.bias = self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                name="bias",
            )

    def call(self, inputs, states, training=None):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        projected = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.bias
        state = self.activation(projected + ops.matmul(previous, self.recurrent_kernel))
        return state, [state]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}


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


@keras.saving.register_keras_serializable(package="zoo")
class BasicRNN(keras.layers.RNN):
    """The basic recurrent layer over whole sequences (SPEC §2).

    Input (batch, time, input_dim), or (time, batch, input_dim) with
    `time_major=True`, the article's layout. Output (batch, time, units) with
    `return_sequences=True`, else the last state (batch, units); with
    `return_state=True` the final state (batch, units) follows.

    Any length works, known or not when the model is built. Without
    `initial_state` the state starts at zeros, so the first step is the
    feed-forward layer phi(W_xh x_0 + b). A mask of shape (batch, time)
    (`Embedding(mask_zero=True)`, `Masking`, or `mask=`; (time, batch) when
    time-major) makes masked frames copy the previous state: a right-padded
    batch gives every sequence what it gets alone, and the final state is the
    state at its last real frame. `stateful=True` carries the final state of a
    batch into the next call, for streaming; `reset_states()` zeroes it.

    In training on a CPU, float32 steps run in a compiled op
    (zoo/layers/native_kernel.cc, built on first use); other training runs
    the TensorFlow-ops loop of zoo/layers/recurrence.py, and every call that
    is not training (inference graphs, exports) that file's inference loop.
    All compute the same equations.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        time_major=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell = BasicRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="basic_rnn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        self.time_major = time_major
        self.input_spec = keras.layers.InputSpec(ndim=3)

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

    def call(self, sequences, initial_state=None, mask=None, training=False):
        check_float_sequences(self, sequences)
        if not has_fast_gradient(self.cell.activation_name):
            return self._call_generic(sequences, initial_state, mask, training)
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                batch_axis = 1 if self.time_major else 0
                initial_state = self.cell.get_initial_state(ops.shape(sequences)[batch_axis])
        if isinstance(initial_state, (list, tuple)):
            (initial_state,) = initial_state
        initial_state = ops.cast(initial_state, self.compute_dtype)

        outputs, final_state = self.run_time_loop(sequences, initial_state, mask, training)
        if self.stateful:
            self.states[0].assign(final_state)

        if self.return_sequences:
            if self.zero_output_for_mask and mask is not None:
                outputs = ops.where(ops.cast(mask, "bool")[..., None], outputs, ops.zeros_like(outputs))
            if self.go_backwards:
                # Keras's convention: a backwards layer lists its outputs in
                # the order it computed them, last frame first.
                outputs = ops.flip(outputs, axis=0 if self.time_major else 1)
            output = outputs
        else:
            output = final_state
        if self.return_state:
            return output, final_state
        return output

    def run_time_loop(self, sequences, initial_state, mask=None, training=False):
        """The zoo's time loop with this layer's weights: in training the native op where it can, else TensorFlow ops.

        Returns every state, in frame order even when `go_backwards`, and the
        final state, in this layer's layout.
        """
        if not training:
            ((outputs, final_state),) = run_inference(
                sequences, [self.direction(initial_state)], self.cell.activation_name, mask, self.time_major
            )
            return outputs, final_state
        time_loop = native_kernel.run_native_recurrence if native_kernel.usable(sequences, training) else run_recurrence
        return time_loop(
            sequences,
            initial_state,
            kernel=self.cell.kernel,
            bias=self.cell.bias,
            recurrent_kernel=self.cell.recurrent_kernel,
            activation_name=self.cell.activation_name,
            mask=mask,
            reverse=self.go_backwards,
            time_major=self.time_major,
        )

    def direction(self, initial_state):
        """This layer's entry of `run_inference`'s `directions`."""
        cell = self.cell
        return initial_state, cell.kernel, cell.bias, cell.recurrent_kernel, self.go_backwards

    def _call_generic(self, sequences, initial_state, mask, training):
        """Keras's own loop, for activations without the hand-written gradient."""
        if not self.time_major:
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        results = super().call(
            to_time_major(sequences),
            initial_state=initial_state,
            mask=None if mask is None else ops.transpose(mask),
            training=training,
        )
        if not self.return_sequences:
            return results
        if self.return_state:
            return (to_time_major(results[0]), *results[1:])
        return to_time_major(results)

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
