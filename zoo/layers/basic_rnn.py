"""The basic recurrent layer of SPEC §2: h_t = phi(W_xh x_t + W_hh h_{t-1} + b)."""

import keras

from zoo.layers.cells import RecurrentCell
from zoo.layers.recurrent import Recurrent

# The activations the compiled op has built in; any other runs on the TensorFlow-ops loop.
NATIVE_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")


@keras.saving.register_keras_serializable(package="zoo")
class BasicRNNCell(RecurrentCell):
    """One step of the basic recurrent layer: h_t = phi(x_t W_xh + b + h_{t-1} W_hh).

    Follows Keras's cell contract, so it also runs inside `keras.layers.RNN`:
    `call(inputs, states)` maps inputs (batch, input_dim) and states
    `[h_{t-1}]` with h_{t-1} (batch, units) to `(h_t, [h_t])`.

    Weights: `kernel` W_xh (input_dim, units), `recurrent_kernel` W_hh
    (units, units) and `bias` b (units,). The same three tensors serve every
    time step: that sharing across time is the whole idea of a recurrent layer.

    Args:
      units: the width of h.
      activation: phi, "tanh" by default.
      use_bias, *_initializer, *_regularizer: as for Keras's SimpleRNNCell.
    """

    NATIVE = "basic"

    @property
    def native_activation(self):
        return self.activation_name

    @property
    def native_ok(self):
        return self.activation_name in NATIVE_ACTIVATIONS

    def step(self, projected, states, weights):
        (recurrent_kernel,) = weights
        return [self.activation(projected + keras.ops.matmul(states[0], recurrent_kernel))]


@keras.saving.register_keras_serializable(package="zoo")
class BasicRNN(Recurrent):
    """The basic recurrent layer over whole sequences (SPEC §2); see `Recurrent` for inputs, masks and states.

    Args:
      units: the width of h.
      activation, use_bias, *_initializer, *_regularizer: as for `BasicRNNCell`.
      return_sequences, return_state, go_backwards, stateful,
        zero_output_for_mask: as for Keras's RNN layers.
      time_major: take and return (time, batch, features), the article's layout.

    Example:

        x = keras.Input((None, 39))
        h = zoo.layers.BasicRNN(128, return_sequences=True)(x)   # (batch, time, 128)
    """

    CELL = BasicRNNCell
