"""Many-to-many with different lengths (SPEC §5): an encoder and a decoder joined at a hidden state.

Training (teacher forcing):
source ids (batch, source_time) -> Embedding -> `depth` encoder layers,
bidirectional by default -> final state(s) of each layer (batch, units), the
two directions summed; decoder_input ids (batch, target_time) = [start] +
target -> Embedding -> `depth` decoder layers, layer l started from encoder
layer l's state -> (batch, target_time, units) -> logits (batch, target_time,
target_vocabulary) for target + [end]. Dropout sits between layers.

With `attention="luong"` the decoder also looks at every encoder frame: its
top layer's output h_t attends over the top encoder layer's outputs
(`LuongAttention`), and tanh(W_c [context_t; h_t]) replaces h_t before the
output layer. Without it (the default, the article's version) the encoder's
final state is all the decoder gets.

At inference `encode` and `decode_step` run the same layers one step at a
time; `zoo.decoding` builds greedy and beam search on them.

`ensemble(models)` joins trained models of one vocabulary into one model
that answers with the mean of their log-probabilities at every step (its
members are nested models "member_1", ...); `encode` and `decode_step` take
it as they take one model, so decoding and exports need nothing else.
"""

import keras
from keras import ops

from datasets.pipeline import PAD_ID
from zoo.models.cells import bidirectional, embedding_dim, recurrent, state_count

ATTENTIONS = ("none", "luong")
# Added to the scores of padding frames: their attention weight underflows to 0.
MASKED_SCORE = -1e9
# The nested models of an `ensemble` are named MEMBER_PREFIX + 1, 2, ...
MEMBER_PREFIX = "member_"


@keras.saving.register_keras_serializable(package="zoo")
class LuongAttention(keras.layers.Layer):
    """Global attention with Luong et al.'s (2015) "general" score.

    score(h_t, s_j) = h_t . (W_a^T s_j) over the real source frames j,
    a_t = softmax_j(score), context_t = sum_j a_tj s_j.

    Call with query (batch, target_time, units) (the decoder's outputs),
    memory (batch, source_time, memory_dim) (the encoder's outputs) and
    memory_mask (batch, source_time) bool, True at real frames; returns
    context (batch, target_time, memory_dim) and the weights
    a (batch, target_time, source_time), each row summing to 1 over the
    real frames. Weight `kernel` W_a (memory_dim, units).

    Luong's rather than Bahdanau's: the score needs the decoder's output at
    step t, not its state at t-1, so the decoder runs as a plain recurrent
    layer over the whole target in training and attention is three batched
    matrix products after it, where Bahdanau's attention would sit inside the
    recurrence and run step by step. (Nor does it feed the attentional vector
    back as the next input, Luong's "input feeding", for the same reason.)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"LuongAttention needs a positive integer number of units, got {units!r}.")
        self.units = units

    def build(self, query_shape, memory_shape, memory_mask_shape=None):
        if query_shape[-1] != self.units:
            raise ValueError(
                f"LuongAttention({self.units}) got queries of width {query_shape[-1]}: "
                "make its units the decoder's units."
            )
        self.kernel = self.add_weight(
            name="kernel", shape=(memory_shape[-1], self.units), initializer="glorot_uniform"
        )

    def keys(self, memory):
        """memory (batch, source_time, memory_dim) -> W_a s_j (batch, source_time, units), once per source."""
        return ops.matmul(memory, self.kernel)

    def attend(self, query, keys, memory, memory_mask):
        """`call` with the keys already computed: what each decoding step needs."""
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        scores = ops.where(memory_mask[:, None, :], scores, ops.full_like(scores, MASKED_SCORE))
        weights = ops.softmax(scores, axis=-1)
        return ops.matmul(weights, memory), weights

    def call(self, query, memory, memory_mask, mask=None):
        # `mask` is the queries' Keras mask: padded queries get weights like any other, which the loss ignores.
        return self.attend(query, self.keys(memory), memory, memory_mask)

    def compute_mask(self, inputs, previous_mask=None):
        return None, None

    def compute_output_shape(self, query_shape, memory_shape, memory_mask_shape=None):
        return (*query_shape[:-1], memory_shape[-1]), (*query_shape[:-1], memory_shape[1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def layer_name(part, index):
    """"encoder"/"decoder" for the first layer of a stack (the names of one-layer models), then part_2, ..."""
    return part if index == 0 else f"{part}_{index + 1}"


def build(info, settings):
    if settings.attention not in ATTENTIONS:
        raise ValueError(f"Unknown attention {settings.attention!r}: use one of {', '.join(ATTENTIONS)}.")
    attention = settings.attention != "none"
    source = keras.Input((None,), dtype="int64", name="source")
    decoder_input = keras.Input((None,), dtype="int64", name="decoder_input")
    width = embedding_dim(settings, info.source_vocabulary_size, info.target_vocabulary_size)
    x = keras.layers.Embedding(info.source_vocabulary_size, width, mask_zero=True, name="source_embedding")(source)
    initial_states = []
    for index in range(settings.depth):
        top = index == settings.depth - 1
        # Only the top layer of an encoder without attention keeps no sequence: its final state is all that is used.
        options = dict(return_sequences=attention or not top, return_state=True, name=layer_name("encoder", index))
        if settings.bidirectional:
            encoder = bidirectional(settings.cell, settings.units, settings.merge, settings.share_weights, **options)
        else:
            encoder = recurrent(settings.cell, settings.units, **options)
        outputs = encoder(x)
        initial_states.append(_merge_directions(encoder, list(outputs[1:]), state_count(settings.cell)))
        if options["return_sequences"]:
            x = keras.layers.Dropout(settings.dropout)(outputs[0])

    y = keras.layers.Embedding(info.target_vocabulary_size, width, mask_zero=True, name="target_embedding")(
        decoder_input
    )
    for index in range(settings.depth):
        decoder = recurrent(
            settings.cell, settings.units, return_sequences=True, return_state=True, name=layer_name("decoder", index)
        )
        y = keras.layers.Dropout(settings.dropout)(decoder(y, initial_state=initial_states[index])[0])
    if attention:
        context, _ = LuongAttention(settings.units, name="attention")(y, x, ops.not_equal(source, PAD_ID))
        y = keras.layers.Dense(settings.units, activation="tanh", name="attention_output")(
            keras.layers.Concatenate()([context, y])
        )
        y = keras.layers.Dropout(settings.dropout)(y)
    logits = keras.layers.Dense(info.target_vocabulary_size, name="output")(y)
    return keras.Model({"source": source, "decoder_input": decoder_input}, logits, name="seq2seq")


def _merge_directions(encoder, states, count):
    if isinstance(encoder, keras.layers.Bidirectional):
        return [states[index] + states[count + index] for index in range(count)]
    return states


def _stack(model, part):
    """The layers "part", "part_2", ... of `model`, bottom first."""
    names = {layer.name for layer in model.layers}
    layers = []
    while layer_name(part, len(layers)) in names:
        layers.append(model.get_layer(layer_name(part, len(layers))))
    return layers


def _state_count(layer):
    state_size = layer.cell.state_size
    return len(state_size) if isinstance(state_size, (list, tuple)) else 1


def ensemble(models):
    """One model of `models` (seq2seq models of one source and target vocabulary): the mean of their log-probabilities.

    The mean log-probability, not the mean probability, so that greedy and beam
    search rank tokens by the members' summed evidence; its output is log-probabilities
    (batch, target_time, target_vocabulary), which softmax and the losses take as logits.
    """
    if len(models) < 2:
        raise ValueError(f"An ensemble needs at least two models, got {len(models)}.")
    source = keras.Input((None,), dtype="int64", name="source")
    decoder_input = keras.Input((None,), dtype="int64", name="decoder_input")
    inputs = {"source": source, "decoder_input": decoder_input}
    log_probabilities = []
    for index, model in enumerate(models):
        if not _stack(model, "decoder"):
            raise ValueError(f"Only seq2seq models ensemble here; {model.name!r} has no decoder layer.")
        # A new functional model on the same layers: each member needs a name of its own in the file.
        member = keras.Model(model.input, model.output, name=f"{MEMBER_PREFIX}{index + 1}")
        log_probabilities.append(keras.layers.Activation("log_softmax")(member(inputs)))
    return keras.Model(inputs, keras.layers.Average()(log_probabilities), name="seq2seq_ensemble")


def members(model):
    """The models of an `ensemble`, or [model] for a single model."""
    nested = [layer for layer in model.layers if layer.name.startswith(MEMBER_PREFIX)]
    return nested or [model]


def has_attention(model):
    return all("attention" in {layer.name for layer in member.layers} for member in members(model))


def encode(model, source_ids):
    """source_ids (batch, source_time) -> (states, memory) of one model or of an `ensemble`.

    An ensemble's states are its members' in turn, and its memory holds each member's entries under
    "index/key".
    """
    if members(model) == [model]:
        return _encode_one(model, source_ids)
    states, memory = [], {}
    for index, member in enumerate(members(model)):
        member_states, member_memory = _encode_one(member, source_ids)
        states += member_states
        memory.update({f"{index}/{key}": value for key, value in (member_memory or {}).items()})
    return states, memory or None


def decode_step(model, token_ids, states, memory=None):
    """One decoder step of one model or of an `ensemble`: token_ids (batch,), states and `encode`'s memory ->
    (logits (batch, target_vocabulary), new states, attention weights (batch, source_time) or None).

    An ensemble returns its members' mean log-probabilities as logits and the mean of their attention weights.
    """
    if members(model) == [model]:
        return _decode_step_one(model, token_ids, states, memory)
    log_probabilities, new_states, weights = [], [], []
    for index, member in enumerate(members(model)):
        count = sum(_state_count(decoder) for decoder in _stack(member, "decoder"))
        member_memory = {
            key.split("/", 1)[1]: value for key, value in (memory or {}).items() if key.startswith(f"{index}/")
        }
        logits, member_states, member_weights = _decode_step_one(
            member, token_ids, states[len(new_states) : len(new_states) + count], member_memory or None
        )
        log_probabilities.append(ops.log_softmax(logits, axis=-1))
        new_states += member_states
        weights.append(member_weights)
    if any(member_weights is None for member_weights in weights):
        return ops.mean(ops.stack(log_probabilities), axis=0), new_states, None
    return ops.mean(ops.stack(log_probabilities), axis=0), new_states, ops.mean(ops.stack(weights), axis=0)


def _encode_one(model, source_ids):
    """source_ids (batch, source_time) -> (states, memory).

    states: the decoder's initial states, a flat list of (batch, units), its
    bottom layer's first. memory: None without attention, else a dict of the
    top encoder layer's outputs "memory" (batch, source_time, memory_dim), their
    attention keys "keys" (batch, source_time, units) and "mask"
    (batch, source_time) bool, True at real frames.
    """
    embedding = model.get_layer("source_embedding")
    x, mask = embedding(source_ids), embedding.compute_mask(source_ids)
    states = []
    for encoder, decoder in zip(_stack(model, "encoder"), _stack(model, "decoder")):
        outputs = encoder(x, mask=mask)
        states += _merge_directions(encoder, list(outputs[1:]), _state_count(decoder))
        x = outputs[0]
    if not has_attention(model):
        return states, None
    return states, {"memory": x, "keys": model.get_layer("attention").keys(x), "mask": ops.not_equal(source_ids, PAD_ID)}


def _decode_step_one(model, token_ids, states, memory=None):
    """One decoder step: token_ids (batch,), states and `encode`'s memory ->
    (logits (batch, target_vocabulary), new states, attention weights (batch, source_time) or None)."""
    y = model.get_layer("target_embedding")(token_ids[:, None])
    new_states = []
    for decoder in _stack(model, "decoder"):
        count = _state_count(decoder)
        outputs = decoder(y, initial_state=states[len(new_states) : len(new_states) + count])
        y = outputs[0]
        new_states += list(outputs[1:])
    weights = None
    if memory is not None:
        context, weights = model.get_layer("attention").attend(y, memory["keys"], memory["memory"], memory["mask"])
        y = model.get_layer("attention_output")(ops.concatenate([context, y], axis=-1))
        weights = weights[:, 0]
    return model.get_layer("output")(y[:, 0]), new_states, weights
