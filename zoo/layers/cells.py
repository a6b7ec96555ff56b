"""What a recurrent cell is to the zoo's one time loop (zoo/layers/recurrence.py): its weights, its step, its states.

A cell here is data for the loop, as in flax's `nn.RNN(cell)` or PyTorch's
`RNNBase`: it owns its weights, in Keras's names and layouts so that
`set_weights` moves them to and from Keras's own cells, and says

- `GATES`: how many blocks of `units` columns its kernels have (the input
  projection x W + b of all of them is computed before the loop);
- `state_size`: its states, h first (the LSTM also carries c);
- `step(projected, states, weights)`: one step's equations in TensorFlow ops,
  from x_t W + b (batch, GATES * units) and the states before to the states after;
- `NATIVE`: its name in the compiled op (native_kernel.cc), which has the same
  equations and their gradient in C++.

Each cell also follows Keras's cell contract, `call(inputs, states) -> (h, states)`,
so it runs inside `keras.layers.RNN` and in zoo/streaming.py one frame at a time.
"""

import keras
import tensorflow as tf


class RecurrentCell(keras.layers.Layer):
    """The weights and the Keras cell contract that the zoo's cells share; subclasses add the step.

    Weights: `kernel` (input_dim, GATES * units), `recurrent_kernel`
    (units, GATES * units) and `bias` (`bias_shape()`), the same for every step.
    """

    GATES = 1
    NATIVE = None

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
            raise ValueError(f"{type(self).__name__} needs a positive integer `units`, got {units!r}.")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.output_size = units
        # `Bidirectional(share_weights=...)` fills some of these with the other
        # direction's variables before `build`, which then creates only the rest.
        self.kernel = None
        self.recurrent_kernel = None
        self.bias = None

    @property
    def state_size(self):
        return self.units

    @property
    def state_size_list(self):
        size = self.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    @property
    def activation_name(self):
        return keras.activations.serialize(self.activation)

    @property
    def native_activation(self):
        """The `activation` attribute of the compiled op (used by the basic cell only)."""
        return "tanh"

    @property
    def native_ok(self):
        """Whether the compiled op has these equations (its activations are fixed in C++)."""
        return self.NATIVE is not None

    def bias_shape(self):
        return (self.GATES * self.units,)

    def bias_initial_value(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype=dtype)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"{type(self).__name__} needs a known feature dimension: got input shape "
                             f"{tuple(input_shape)}.")
        columns = self.GATES * self.units
        if self.kernel is None:
            self.kernel = self.add_weight(shape=(input_dim, columns), initializer=self.kernel_initializer,
                                          regularizer=self.kernel_regularizer, name="kernel")
        if self.recurrent_kernel is None:
            self.recurrent_kernel = self.add_weight(shape=(self.units, columns), initializer=self.recurrent_initializer,
                                                    regularizer=self.recurrent_regularizer, name="recurrent_kernel")
        if self.use_bias and self.bias is None:
            self.bias = self.add_weight(shape=self.bias_shape(), initializer=self.bias_initial_value,
                                        regularizer=self.bias_regularizer, name="bias")

    def input_bias(self):
        """b of the input projection x W + b, (GATES * units,): zeros without a bias."""
        if self.bias is None:
            return tf.zeros((self.GATES * self.units,), self.compute_dtype)
        return tf.convert_to_tensor(self.bias)

    def recurrent_bias(self):
        """A bias inside the recurrent product, (GATES * units,), or None (only the GRU has one)."""
        return None

    def loop_weights(self, dtype):
        """The tensors `step` reads, converted once before the loop rather than at every step."""
        return [tf.cast(self.recurrent_kernel, dtype)]

    def step(self, projected, states, weights):
        raise NotImplementedError

    def call(self, inputs, states, training=None):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        projected = tf.matmul(inputs, tf.cast(self.kernel, inputs.dtype)) + tf.cast(self.input_bias(), inputs.dtype)
        new_states = self.step(projected, states, self.loop_weights(inputs.dtype))
        return new_states[0], new_states

    def get_initial_state(self, batch_size=None):
        return [tf.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size_list]

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


class GatedCell(RecurrentCell):
    """A cell with a recurrent activation for its gates (sigmoid by default), as Keras's LSTM and GRU."""

    def __init__(self, units, recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)

    @property
    def native_ok(self):
        # The compiled op has tanh and the exact logistic sigmoid built in.
        return (self.activation_name == "tanh"
                and keras.activations.serialize(self.recurrent_activation) == "sigmoid")

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation)}
