"""Many-to-many with different lengths (SPEC §5): an encoder and a decoder joined at a hidden state.

Training (teacher forcing):
source ids (batch, source_time) -> Embedding -> encoder, bidirectional by
default -> final state(s) (batch, units), the two directions summed;
decoder_input ids (batch, target_time) = [start] + target -> Embedding
-> decoder started from the encoder's state -> (batch, target_time, units)
-> logits (batch, target_time, target_vocabulary) for target + [end].

At inference `encode` and `decode_step` run the same layers one step at a
time; `zoo.decoding` builds greedy and beam search on them.
"""

import keras

from zoo.models.cells import bidirectional, recurrent, state_count


def build(info, settings):
    source = keras.Input((None,), dtype="int64", name="source")
    decoder_input = keras.Input((None,), dtype="int64", name="decoder_input")
    embedded_source = keras.layers.Embedding(
        info.source_vocabulary_size, settings.embedding_dim, mask_zero=True, name="source_embedding"
    )(source)
    if settings.bidirectional:
        encoder = bidirectional(
            settings.cell, settings.units, settings.merge, settings.share_weights, return_state=True, name="encoder"
        )
    else:
        encoder = recurrent(settings.cell, settings.units, return_state=True, name="encoder")
    states = _encoder_states(encoder, encoder(embedded_source), settings.cell)

    embedded_target = keras.layers.Embedding(
        info.target_vocabulary_size, settings.embedding_dim, mask_zero=True, name="target_embedding"
    )(decoder_input)
    decoder = recurrent(settings.cell, settings.units, return_sequences=True, return_state=True, name="decoder")
    x = decoder(embedded_target, initial_state=states)[0]
    x = keras.layers.Dropout(settings.dropout)(x)
    logits = keras.layers.Dense(info.target_vocabulary_size, name="output")(x)
    return keras.Model({"source": source, "decoder_input": decoder_input}, logits, name="seq2seq")


def _encoder_states(encoder, outputs, cell):
    """The decoder's initial state: the encoder's final state(s), forward + backward when bidirectional."""
    return _merge_directions(encoder, list(outputs[1:]), state_count(cell))


def _merge_directions(encoder, states, count):
    if isinstance(encoder, keras.layers.Bidirectional):
        return [states[index] + states[count + index] for index in range(count)]
    return states


def encode(model, source_ids):
    """source_ids (batch, source_time) -> the decoder's initial states, a list of (batch, units)."""
    embedding = model.get_layer("source_embedding")
    encoder = model.get_layer("encoder")
    outputs = encoder(embedding(source_ids), mask=embedding.compute_mask(source_ids))
    state_size = model.get_layer("decoder").cell.state_size
    count = len(state_size) if isinstance(state_size, (list, tuple)) else 1
    return _merge_directions(encoder, list(outputs[1:]), count)


def decode_step(model, token_ids, states):
    """One decoder step: token_ids (batch,) and states -> logits (batch, target_vocabulary), new states."""
    embedded = model.get_layer("target_embedding")(token_ids[:, None])
    outputs = model.get_layer("decoder")(embedded, initial_state=states)
    logits = model.get_layer("output")(outputs[0][:, 0])
    return logits, list(outputs[1:])
