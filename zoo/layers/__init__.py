"""Recurrent layers of the zoo, registered for Keras serialization under package "zoo"."""

from zoo.layers.basic_rnn import BasicRNN, BasicRNNCell
from zoo.layers.bidirectional import Bidirectional
from zoo.layers.window import WindowConcat

__all__ = ["BasicRNN", "BasicRNNCell", "Bidirectional", "WindowConcat"]
