"""The long short-term memory layer (Hochreiter & Schmidhuber), the article's next chapter, in Keras's layout."""

import keras
from keras import ops
import tensorflow as tf

from zoo.layers.cells import GatedCell
from zoo.layers.recurrent import Recurrent


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(GatedCell):
    """One LSTM step, the equations and weights of Keras's `LSTMCell` (gates in the order i, f, c, o).

    In SPEC's notation, with sigma the recurrent activation (sigmoid) and phi
    the activation (tanh):

        [a_i, a_f, a_c, a_o] = x_t W_xh + b + h_{t-1} W_hh
        i = sigma(a_i),  f = sigma(a_f),  g = phi(a_c),  o = sigma(a_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * phi(c_t)

    Weights: `kernel` W_xh (input_dim, 4 units), `recurrent_kernel` W_hh
    (units, 4 units), `bias` b (4 units,), so `set_weights` takes a Keras
    LSTM's weights and `get_weights` gives them back. States: [h, c].

    Args:
      units: the width of h and c.
      activation: phi, "tanh". recurrent_activation: sigma, "sigmoid".
      unit_forget_bias: start the forget gate's bias at 1, as Keras does.
      use_bias, *_initializer, *_regularizer: as for Keras's LSTMCell.
    """

    GATES = 4
    NATIVE = "lstm"

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self):
        return [self.units, self.units]

    def bias_initial_value(self, shape, dtype=None):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype=dtype)
        units = self.units
        return ops.concatenate([
            self.bias_initializer((units,), dtype=dtype),
            ops.ones((units,), dtype=dtype),
            self.bias_initializer((2 * units,), dtype=dtype),
        ])

    def step(self, projected, states, weights):
        previous_h, previous_c = states
        (recurrent_kernel,) = weights
        gates = projected + tf.matmul(previous_h, recurrent_kernel)
        input_gate, forget_gate, candidate, output_gate = tf.split(gates, 4, axis=-1)
        c = (self.recurrent_activation(forget_gate) * previous_c
             + self.recurrent_activation(input_gate) * self.activation(candidate))
        h = self.recurrent_activation(output_gate) * self.activation(c)
        return [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(Recurrent):
    """An LSTM over whole sequences on the zoo's time loop; see `Recurrent` for inputs, masks and states.

    The weights and results of `keras.layers.LSTM` (its default, sigmoid gates
    and tanh), so weights move both ways with `set_weights`. A masked frame
    keeps both h and c. With `return_state=True` it returns
    `[output, h_final, c_final]`; `initial_state=[h_0, c_0]`.

    Args:
      units: the width of h and c.
      activation, recurrent_activation, unit_forget_bias, use_bias,
        *_initializer, *_regularizer: as for `LSTMCell`.
      return_sequences, return_state, go_backwards, stateful,
        zero_output_for_mask: as for Keras's RNN layers.
      time_major: take and return (time, batch, features).

    Example:

        x = keras.Input((None, 64))
        h, h_final, c_final = zoo.layers.LSTM(256, return_sequences=True, return_state=True)(x)
    """

    CELL = LSTMCell
