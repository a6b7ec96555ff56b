"""Helpers shared by the layer tests."""

import numpy as np


def with_random_weights(layer, features=4, seed=1):
    """Builds `layer` for (batch, time, features) inputs and gives every weight N(0, 0.5^2) values.

    Random biases and recurrent weights, not Keras's zero and orthogonal
    defaults, so a test sees every term of the equations.
    """
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
    return layer


def cell_weights(cell):
    """(W_xh, W_hh, b) of a BasicRNNCell as NumPy arrays, for the NumPy reference."""
    return cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy()
