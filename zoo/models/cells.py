"""The `--cell` switch: the article's basic recurrent layer, or Keras's LSTM/GRU (its next chapter)."""

import keras

from zoo.layers import BasicRNN, Bidirectional

CELLS = ("basic", "lstm", "gru")


def recurrent(cell, units, **kwargs):
    """A recurrent layer of `cell` type; kwargs as for `keras.layers.RNN` (return_sequences, ...)."""
    if cell == "basic":
        return BasicRNN(units, **kwargs)
    if cell == "lstm":
        return keras.layers.LSTM(units, **kwargs)
    if cell == "gru":
        return keras.layers.GRU(units, **kwargs)
    raise ValueError(f"Unknown cell {cell!r}: use one of {', '.join(CELLS)}.")


def bidirectional(cell, units, merge_mode="sum", share_weights=None, name=None, **kwargs):
    """A forward and a backward `recurrent` layer merged frame by frame (SPEC §3), summed by default.

    `share_weights` ("input", "recurrent", "all") ties the directions' weights; basic cell only.
    """
    layer = recurrent(cell, units, **kwargs)
    return Bidirectional(layer, merge_mode=merge_mode, share_weights=share_weights, name=name)


def state_count(cell):
    """How many state tensors the cell carries: h, or h and c for the LSTM."""
    return 2 if cell == "lstm" else 1
