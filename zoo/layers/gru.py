"""The gated recurrent unit (Cho et al.), in Keras's and cuDNN's variant (`reset_after=True`)."""

import keras
import tensorflow as tf

from zoo.layers.cells import GatedCell
from zoo.layers.recurrent import Recurrent


@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(GatedCell):
    """One GRU step, the equations and weights of Keras's `GRUCell(reset_after=True)` (gates z, r, h).

    In SPEC's notation, with sigma the recurrent activation (sigmoid) and phi
    the activation (tanh); the reset gate applies after the recurrent product,
    as in Keras's default and cuDNN:

        [p_z, p_r, p_h] = x_t W_xh + b_x
        [q_z, q_r, q_h] = h_{t-1} W_hh + b_h
        z = sigma(p_z + q_z),  r = sigma(p_r + q_r)
        n = phi(p_h + r * q_h)
        h_t = z * h_{t-1} + (1 - z) * n

    Weights: `kernel` W_xh (input_dim, 3 units), `recurrent_kernel` W_hh
    (units, 3 units) and `bias` (2, 3 units), b_x then b_h, as Keras stores them.

    Args:
      units: the width of h.
      activation: phi, "tanh". recurrent_activation: sigma, "sigmoid".
      reset_after: must be True (the variant above); Keras's `reset_after=False`
        applies r before the product, a different layer.
      use_bias, *_initializer, *_regularizer: as for Keras's GRUCell.
    """

    GATES = 3
    NATIVE = "gru"

    def __init__(self, units, reset_after=True, **kwargs):
        if reset_after is not True:
            raise ValueError("zoo.layers.GRU implements reset_after=True only (Keras's default and cuDNN's); "
                             "use keras.layers.GRU(reset_after=False) for the other variant.")
        super().__init__(units, **kwargs)
        self.reset_after = True

    def bias_shape(self):
        return (2, self.GATES * self.units)

    def input_bias(self):
        if self.bias is None:
            return super().input_bias()
        return tf.convert_to_tensor(self.bias)[0]

    def recurrent_bias(self):
        if self.bias is None:
            return None
        return tf.convert_to_tensor(self.bias)[1]

    def loop_weights(self, dtype):
        recurrent_bias = self.recurrent_bias()
        if recurrent_bias is None:
            recurrent_bias = tf.zeros((self.GATES * self.units,), dtype)
        return [tf.cast(self.recurrent_kernel, dtype), tf.cast(recurrent_bias, dtype)]

    def step(self, projected, states, weights):
        (previous_h,) = states
        recurrent_kernel, recurrent_bias = weights
        recurrent = tf.nn.bias_add(tf.matmul(previous_h, recurrent_kernel), recurrent_bias)
        input_z, input_r, input_h = tf.split(projected, 3, axis=-1)
        recurrent_z, recurrent_r, recurrent_h = tf.split(recurrent, 3, axis=-1)
        update = self.recurrent_activation(input_z + recurrent_z)
        reset = self.recurrent_activation(input_r + recurrent_r)
        candidate = self.activation(input_h + reset * recurrent_h)
        return [update * previous_h + (1 - update) * candidate]

    def get_config(self):
        return {**super().get_config(), "reset_after": True}


@keras.saving.register_keras_serializable(package="zoo")
class GRU(Recurrent):
    """A GRU over whole sequences on the zoo's time loop; see `Recurrent` for inputs, masks and states.

    The weights and results of `keras.layers.GRU` with its defaults
    (`reset_after=True`), so weights move both ways with `set_weights`.

    Args:
      units: the width of h.
      activation, recurrent_activation, reset_after, use_bias, *_initializer,
        *_regularizer: as for `GRUCell`.
      return_sequences, return_state, go_backwards, stateful,
        zero_output_for_mask: as for Keras's RNN layers.
      time_major: take and return (time, batch, features).

    Example:

        x = keras.Input((None, 32))
        h = zoo.layers.GRU(64, return_sequences=True)(x)   # (batch, time, 64)
    """

    CELL = GRUCell
