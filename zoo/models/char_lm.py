"""Next-character prediction, the article's running example, and one-to-many generation (SPEC §5).

token ids (batch, time) -> Embedding (batch, time, embedding_dim)
-> unidirectional recurrent layer (batch, time, units)
-> logits (batch, time, vocabulary): at step t, the next character given
characters 0..t.

Unidirectional because the next character may only depend on earlier ones.
`step` carries the state across calls, so generation feeds one character at
a time (`zoo.decoding.generate`).
"""

import keras

from zoo.models.cells import embedding_dim, recurrent


def build(info, settings):
    token_ids = keras.Input((None,), dtype="int64", name="token_ids")
    width = embedding_dim(settings, info.vocabulary_size)
    x = keras.layers.Embedding(info.vocabulary_size, width, name="embedding")(token_ids)
    x = recurrent(settings.cell, settings.units, return_sequences=True, return_state=True, name="rnn")(x)[0]
    x = keras.layers.Dropout(settings.dropout)(x)
    logits = keras.layers.Dense(info.vocabulary_size, name="output")(x)
    return keras.Model(token_ids, logits, name="char_lm")


def step(model, token_ids, states=None):
    """token_ids (batch, time) from `states` (None: zeros) -> logits (batch, vocabulary) of the next id, new states."""
    embedded = model.get_layer("embedding")(token_ids)
    outputs = model.get_layer("rnn")(embedded, initial_state=states)
    logits = model.get_layer("output")(outputs[0][:, -1])
    return logits, list(outputs[1:])
