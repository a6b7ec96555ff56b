"""Inference loops on the recurrent models: greedy and beam-search decoding (seq2seq), sampling (char_lm).

Every function is plain TensorFlow on a batch, traceable inside a
`tf.function`, so the same code serves `evaluate.py`, the SavedModel and the
TF Lite model (its loops become WHILE ops).
"""

import tensorflow as tf

from datasets.pipeline import OOV_ID, PAD_ID
from zoo.models import char_lm, seq2seq

NEGATIVE_INFINITY = -1e9


def _allowed_log_probabilities(logits, start_id=None):
    """log softmax with padding, out-of-vocabulary and the start token made impossible: none is a real output."""
    vocabulary = tf.shape(logits)[-1]
    banned_ids = [PAD_ID, OOV_ID] if start_id is None else [PAD_ID, OOV_ID, start_id]
    banned = tf.reduce_sum(tf.one_hot(banned_ids, vocabulary, dtype=logits.dtype), axis=0)
    return tf.nn.log_softmax(logits + banned * NEGATIVE_INFINITY)


def greedy_decode(model, source_ids, start_id, end_id, max_length):
    """source_ids (batch, source_time) -> token ids (batch, max_length), the most likely token at every step.

    A sequence that has produced `end_id` is padded with `PAD_ID` from there
    on; `end_id` itself is not part of the output.
    """
    states, memory = seq2seq.encode(model, source_ids)
    batch = tf.shape(source_ids)[0]
    tokens = tf.fill([batch], tf.cast(start_id, tf.int64))
    finished = tf.zeros([batch], tf.bool)
    outputs = tf.TensorArray(tf.int64, size=max_length)

    def step(index, tokens, states, finished, outputs):
        logits, states, _ = seq2seq.decode_step(model, tokens, states, memory)
        tokens = tf.argmax(_allowed_log_probabilities(logits, start_id), axis=-1, output_type=tf.int64)
        finished = finished | tf.equal(tokens, end_id)
        outputs = outputs.write(index, tf.where(finished, tf.constant(PAD_ID, tf.int64), tokens))
        return index + 1, tokens, states, finished, outputs

    steps, _, _, _, outputs = tf.while_loop(
        lambda index, tokens, states, finished, outputs: (index < max_length) & ~tf.reduce_all(finished),
        step,
        (tf.constant(0), tokens, states, finished, outputs),
    )
    # Cut to the steps that ran before padding: TensorFlow's list holds all max_length slots, so without
    # the cut tf2onnx folds the padding to none, but ONNX's Loop returns only the steps that ran.
    return _pad_to(tf.transpose(outputs.stack())[:, :steps], max_length)


def beam_search(model, source_ids, start_id, end_id, max_length, beam_size, length_penalty=0.0):
    """source_ids (batch, source_time) -> token ids (batch, max_length) of the best of `beam_size` beams.

    Keeps the `beam_size` best partial outputs by total log-probability
    divided by length ** length_penalty, the length counting the end token;
    a beam that emits `end_id` is finished and keeps its score and length.
    Beams still running all have the same length, so the penalty only
    matters when a finished beam competes with longer ones: 0 ranks by total
    log-probability, which favours short outputs, 1 by the mean per token.
    With beam_size 1 this is `greedy_decode`.
    """
    states, memory = seq2seq.encode(model, source_ids)
    batch = tf.shape(source_ids)[0]
    # Beams of one source sit next to each other: row b * beam_size + k.
    states = [tf.repeat(state, beam_size, axis=0) for state in states]
    if memory is not None:
        memory = {key: tf.repeat(tensor, beam_size, axis=0) for key, tensor in memory.items()}
    tokens = tf.fill([batch * beam_size], tf.cast(start_id, tf.int64))
    # Only the first beam is live at the start, so the first step does not pick one token beam_size times.
    scores = tf.tile(tf.concat([[0.0], tf.fill([beam_size - 1], NEGATIVE_INFINITY)], 0), [batch])
    lengths = tf.zeros([batch * beam_size])
    finished = tf.zeros([batch * beam_size], tf.bool)
    history = tf.zeros([batch * beam_size, 0], tf.int64)

    def step(index, tokens, states, scores, lengths, finished, history):
        logits, new_states, _ = seq2seq.decode_step(model, tokens, states, memory)
        log_probabilities = _allowed_log_probabilities(logits, start_id)
        vocabulary = tf.shape(log_probabilities)[-1]
        # A finished beam continues only with padding, at no cost and no length.
        pad_only = tf.one_hot(PAD_ID, vocabulary, on_value=0.0, off_value=NEGATIVE_INFINITY)
        log_probabilities = tf.where(finished[:, None], pad_only[None, :], log_probabilities)
        totals = tf.reshape(scores[:, None] + log_probabilities, [batch, beam_size * vocabulary])
        new_lengths = lengths + tf.cast(~finished, tf.float32)
        ranked = totals / tf.reshape(tf.repeat(new_lengths, vocabulary) ** length_penalty, tf.shape(totals))
        _, choices = tf.math.top_k(ranked, k=beam_size)
        scores = tf.reshape(tf.gather(totals, choices, batch_dims=1), [-1])
        parents = tf.reshape(choices // vocabulary + tf.range(batch)[:, None] * beam_size, [-1])
        tokens = tf.cast(tf.reshape(choices % vocabulary, [-1]), tf.int64)
        states = [tf.gather(state, parents) for state in new_states]
        lengths = tf.gather(new_lengths, parents)
        finished = tf.gather(finished, parents) | tf.equal(tokens, end_id)
        written = tf.where(finished, tf.constant(PAD_ID, tf.int64), tokens)
        history = tf.concat([tf.gather(history, parents), written[:, None]], axis=1)
        return index + 1, tokens, states, scores, lengths, finished, history

    _, _, _, _, _, _, history = tf.while_loop(
        lambda index, tokens, states, scores, lengths, finished, history: (
            (index < max_length) & ~tf.reduce_all(finished)
        ),
        step,
        (tf.constant(0), tokens, states, scores, lengths, finished, history),
        shape_invariants=(
            tf.TensorShape([]), tokens.shape, [tf.TensorShape(state.shape) for state in states],
            scores.shape, lengths.shape, finished.shape, tf.TensorShape([None, None]),
        ),
    )
    # top_k sorts, so beam 0 of every source is its best.
    best = tf.reshape(history, [batch, beam_size, -1])[:, 0]
    return _pad_to(best, max_length)


def alignment(model, source_ids, output_ids, start_id):
    """Attention weights (batch, output_time, source_time) of an attention model fed `output_ids`
    (batch, output_time) after the start token: row t is where the decoder looked when it chose token t.
    """
    states, memory = seq2seq.encode(model, source_ids)
    if memory is None:
        raise ValueError("This model has no attention, so it has no alignment: train it with --attention luong.")
    output_ids = tf.cast(output_ids, tf.int64)
    tokens = tf.fill([tf.shape(output_ids)[0]], tf.cast(start_id, tf.int64))
    rows = []
    for index in range(output_ids.shape[1]):
        _, states, weights = seq2seq.decode_step(model, tokens, states, memory)
        rows.append(weights)
        tokens = output_ids[:, index]
    return tf.stack(rows, axis=1)


def _pad_to(token_ids, length):
    return tf.pad(token_ids, [[0, 0], [0, length - tf.shape(token_ids)[1]]])


def generate(model, prime_ids, length, temperature):
    """Continues prime_ids (batch, prime_time) by `length` sampled token ids (batch, length).

    Temperature divides the logits: below 1 it sharpens the distribution
    towards the likeliest character, above 1 it flattens it; 0 picks the
    likeliest every time.
    """
    logits, states = char_lm.step(model, prime_ids)
    outputs = tf.TensorArray(tf.int64, size=length)

    def sample(logits):
        log_probabilities = _allowed_log_probabilities(logits)

        def likeliest():
            return tf.argmax(log_probabilities, axis=-1, output_type=tf.int64)

        def drawn():
            # The floor keeps the untaken branch of tf.cond free of a division by zero.
            scale = tf.maximum(tf.cast(temperature, log_probabilities.dtype), 1e-6)
            return tf.random.categorical(log_probabilities / scale, 1, dtype=tf.int64)[:, 0]

        if isinstance(temperature, (int, float)):
            return likeliest() if temperature == 0 else drawn()
        # A tensor temperature (the SavedModel's input, evaluate.py --input) is known only when it runs.
        return tf.cond(temperature > 0, drawn, likeliest)

    def step(index, logits, states, outputs):
        tokens = sample(logits)
        logits, states = char_lm.step(model, tokens[:, None], states)
        return index + 1, logits, states, outputs.write(index, tokens)

    _, _, _, outputs = tf.while_loop(
        lambda index, *_: index < length, step, (tf.constant(0), logits, states, outputs)
    )
    return tf.transpose(outputs.stack())
