"""The `--cell` switch: the article's basic recurrent layer, or the LSTM/GRU of its next chapter (all the zoo's own)."""

from zoo.layers import GRU, LSTM, BasicRNN, Bidirectional

# What `--cell` builds.
LAYERS = {"basic": BasicRNN, "lstm": LSTM, "gru": GRU}
CELLS = tuple(LAYERS)
# Embedding widths from the vocabulary (`embedding_dim_for`): dims per fourth root of its size, and the range.
EMBEDDING_PER_FOURTH_ROOT = 4
EMBEDDING_RANGE = (16, 256)

def embedding_dim(settings, *vocabulary_sizes):
    """The settings' embedding width, or `embedding_dim_for` the largest of `vocabulary_sizes` when it is None."""
    return settings.embedding_dim or embedding_dim_for(max(vocabulary_sizes))

def embedding_dim_for(vocabulary_size):
    """The embedding width for a vocabulary of `vocabulary_size` tokens, when the settings leave it None.

    The fourth-root rule of thumb of TensorFlow's feature-column guide,
    4 * size ** 0.25 rounded to a multiple of 8 and kept in [16, 256]:
    product_reviews_zh's 4,413 characters get the 32 dims tuned on them,
    2,000 English words 24, 20,000 words 48, 100 characters 16.
    """
    width = 8 * round(EMBEDDING_PER_FOURTH_ROOT * vocabulary_size**0.25 / 8)
    low, high = EMBEDDING_RANGE
    return int(min(max(width, low), high))

def recurrent(cell, units, **kwargs):
    """A recurrent layer of `cell` type; kwargs as for `keras.layers.RNN` (return_sequences, ...)."""
    if cell in LAYERS:
        return LAYERS[cell](units, **kwargs)
    raise ValueError(f"Unknown cell {cell!r}: use one of {', '.join(CELLS)}.")

def bidirectional(cell, units, merge_mode="sum", share_weights=None, name=None, **kwargs):
    """A forward and a backward `recurrent` layer merged frame by frame (SPEC §3), summed by default.

    `share_weights` ("input", "recurrent", "all") ties the directions' weights.
    """
    layer = recurrent(cell, units, **kwargs)
    return Bidirectional(layer, merge_mode=merge_mode, share_weights=share_weights, name=name)

def state_count(cell):
    """How many state tensors the cell carries: h, or h and c for the LSTM."""
    return 2 if cell == "lstm" else 1
