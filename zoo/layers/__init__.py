"""Recurrent layers of the zoo, registered for Keras serialization under package "zoo"."""

from zoo.layers.basic_rnn import BasicRNN, BasicRNNCell
from zoo.layers.bidirectional import Bidirectional
from zoo.layers.gru import GRU, GRUCell
from zoo.layers.lstm import LSTM, LSTMCell
from zoo.layers.window import WindowConcat

__all__ = ["BasicRNN", "BasicRNNCell", "Bidirectional", "GRU", "GRUCell", "LSTM", "LSTMCell", "WindowConcat"]
