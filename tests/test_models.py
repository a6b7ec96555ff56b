"""Every registered model builds, learns on tiny data, and survives a save and reload; inference loops agree."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from datasets.pipeline import OOV_ID, PAD_ID
from zoo import decoding, models
from zoo.data import DataInfo
from zoo.models import char_lm, seq2seq
from zoo.models.sentiment import BigramEmbedding, MaskedMeanMax
from zoo.settings import for_model
from zoo.training import compile_model

VOCABULARY = 12
FEATURES = 5
CLASSES = 3
START, END = 2, 3


def tiny_info():
    return DataInfo(
        num_classes=CLASSES,
        feature_dim=FEATURES,
        feature_mean=[0.0] * FEATURES,
        feature_variance=[1.0] * FEATURES,
        vocabulary_size=VOCABULARY,
        source_vocabulary_size=VOCABULARY,
        target_vocabulary_size=VOCABULARY,
    )


def tiny_batch(task, rng):
    """One batch (x, y[, sample_weight]) with padding, shaped as the task's pipeline yields it."""
    lengths = np.array([7, 4, 6, 2])
    real = np.arange(7)[None, :] < lengths[:, None]
    ids = np.where(real, rng.integers(4, VOCABULARY, (4, 7)), 0)
    if task == "sentiment":
        return ids, (ids[:, 0] % 2).astype(np.int64)
    if task == "frames":
        frames = np.where(real[..., None], rng.normal(size=(4, 7, FEATURES)), 0.0).astype(np.float32)
        labels = np.where(real, (frames[..., 0] > 0).astype(np.int64), 0)
        return frames, labels, real.astype(np.float32)
    if task == "translation":
        target = np.where(real[:, :5], ids[:, :5], 0)
        decoder_input = np.concatenate([np.full((4, 1), START), target], axis=1)
        decoder_target = np.concatenate([target, np.zeros((4, 1), np.int64)], axis=1)
        decoder_target[np.arange(4), np.minimum(lengths, 5)] = END
        return {"source": ids, "decoder_input": decoder_input}, decoder_target
    return rng.integers(2, VOCABULARY, (4, 6)), rng.integers(2, VOCABULARY, (4, 6))


CASES = [(name, "basic") for name in models.MODELS] + [
    ("sentiment", "lstm"),
    ("framewise", "gru"),
    ("seq2seq", "lstm"),
    ("seq2seq", "gru"),
    ("char_lm", "lstm"),
    ("g2p", "lstm"),
    ("g2p", "gru"),
]


@pytest.mark.parametrize("name,cell", CASES)
def test_model_learns_and_reloads_identically(name, cell, tmp_path):
    spec = models.get(name)
    settings = for_model(name, units=8, embedding_dim=4, cell=cell, window=3, dropout=0.0, learning_rate=0.02)
    keras.utils.set_random_seed(0)
    model = spec.build(tiny_info(), settings)
    compile_model(model, spec.task, settings)
    batch = tiny_batch(spec.task, np.random.default_rng(0))

    losses = [float(model.train_on_batch(*batch, return_dict=True)["loss"]) for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict_on_batch(batch[0]), model.predict_on_batch(batch[0]), atol=1e-6)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="sentiment, framewise, dense_birnn_dense, window_ffn, seq2seq, g2p, char_lm"):
        models.get("transformer")


def test_every_model_has_a_description_and_a_default_dataset_of_its_task():
    import datasets

    for spec in models.MODELS.values():
        assert spec.description
        assert spec.default_dataset in datasets.TASKS[spec.task].builders


def test_window_ffn_first_layer_is_1599_wide_for_41_frames_of_39_features():
    info = tiny_info()
    info.feature_dim, info.feature_mean, info.feature_variance = 39, [0.0] * 39, [1.0] * 39
    model = models.get("window_ffn").build(info, for_model("window_ffn", units=16))
    assert tuple(model.get_layer("dense_1").kernel.shape) == (1599, 16)


@pytest.mark.parametrize("name", ["framewise", "dense_birnn_dense", "sentiment"])
def test_concat_merge_doubles_the_width_after_the_bidirectional_layer(name):
    widths = {}
    for merge in ("sum", "concat"):
        model = models.get(name).build(tiny_info(), for_model(name, units=8, embedding_dim=4, merge=merge))
        following = {"framewise": "output", "dense_birnn_dense": "dense_out_1", "sentiment": "output"}[name]
        widths[merge] = model.get_layer(following).kernel.shape[0]
    # sentiment pools mean and max, so its output layer sees twice the recurrent width either way.
    assert widths["concat"] == 2 * widths["sum"]


@pytest.mark.parametrize(
    "share_weights,weights,parameters",
    # FEATURES=5 inputs, 8 units: W_xh 5x8=40, W_hh 8x8=64, b 8, per direction.
    [(None, 6, 2 * 112), ("input", 4, 112 + 64), ("recurrent", 5, 112 + 48), ("all", 3, 112)],
)
def test_shared_weights_leave_one_copy_of_each_tied_matrix(share_weights, weights, parameters, tmp_path):
    settings = for_model("framewise", units=8, share_weights=share_weights, merge="concat")
    model = models.get("framewise").build(tiny_info(), settings)
    layer = model.get_layer("recurrent_1")
    assert len(layer.trainable_weights) == weights
    assert sum(int(np.prod(weight.shape)) for weight in layer.trainable_weights) == parameters

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras").get_layer("recurrent_1")
    assert len(reloaded.trainable_weights) == weights and reloaded.share_weights == share_weights


def test_real_time_framewise_output_ignores_future_frames():
    info = tiny_info()
    model = models.get("framewise").build(info, for_model("framewise", units=8, bidirectional=False))
    frames = np.random.default_rng(1).normal(size=(1, 6, FEATURES)).astype(np.float32)
    changed = frames.copy()
    changed[:, 4:] += 1.0
    np.testing.assert_allclose(model(changed)[:, :4], model(frames)[:, :4], atol=1e-6)
    assert not np.allclose(model(changed)[:, 4:], model(frames)[:, 4:])


def test_pooling_skips_padding_and_gives_zeros_not_nan_for_all_padding():
    states = tf.constant([[[0.5], [0.9], [0.7]], [[-0.2], [-0.6], [0.9]]])
    mask = tf.constant([[False] * 3, [True, True, False]])
    pooled = MaskedMeanMax()(states, mask=mask).numpy()
    np.testing.assert_allclose(pooled, [[0.0, 0.0], [-0.4, -0.2]], atol=1e-6)


def trained_seq2seq(cell="basic", **overrides):
    settings = for_model("seq2seq", units=8, embedding_dim=4, cell=cell, dropout=0.0, learning_rate=0.02, **overrides)
    keras.utils.set_random_seed(0)
    model = models.get("seq2seq").build(tiny_info(), settings)
    compile_model(model, "translation", settings)
    batch = tiny_batch("translation", np.random.default_rng(0))
    for _ in range(10):
        model.train_on_batch(*batch)
    return model, batch


ATTENTION_CASES = [
    dict(cell="basic"),
    dict(cell="lstm"),
    dict(cell="lstm", attention="luong"),
    dict(cell="gru", attention="luong", depth=2),
    dict(cell="lstm", attention="luong", depth=2, merge="concat"),
    dict(cell="basic", attention="luong", bidirectional=False),
]


@pytest.mark.parametrize("options", ATTENTION_CASES, ids=lambda options: "-".join(map(str, options.values())))
def test_decode_steps_reproduce_the_teacher_forced_model(options):
    model, (inputs, _) = trained_seq2seq(**options)
    states, memory = seq2seq.encode(model, inputs["source"])
    assert (memory is not None) == ("attention" in options)
    decoder_input = inputs["decoder_input"]
    step_logits = []
    for t in range(decoder_input.shape[1]):
        logits, states, _ = seq2seq.decode_step(model, tf.constant(decoder_input[:, t]), states, memory)
        step_logits.append(logits)
    full = model({"source": inputs["source"], "decoder_input": decoder_input})
    np.testing.assert_allclose(np.stack(step_logits, axis=1), full, atol=1e-5)


def test_luong_attention_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 3, 4)).astype(np.float32)
    memory = rng.normal(size=(2, 5, 6)).astype(np.float32)
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    layer = seq2seq.LuongAttention(4)
    context, weights = (value.numpy() for value in layer(query, memory, mask))

    scores = np.einsum("btu,su,bjs->btj", query, layer.kernel.numpy(), memory)  # h_t . (W_a^T s_j)
    scores = np.where(mask[:, None, :], scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    np.testing.assert_allclose(context, expected @ memory, atol=1e-5)
    assert (weights[1, :, 2:] == 0).all()
    # Padding frames change nothing, whatever they hold.
    changed = memory.copy()
    changed[1, 2:] = 100.0
    np.testing.assert_allclose(layer(query, changed, mask)[0].numpy()[1], context[1], atol=1e-6)
    assert seq2seq.LuongAttention.from_config(layer.get_config()).units == 4


def test_luong_attention_refuses_queries_of_another_width():
    with pytest.raises(ValueError, match="make its units the decoder's units"):
        seq2seq.LuongAttention(8)(np.zeros((1, 2, 4), np.float32), np.zeros((1, 3, 4), np.float32),
                                  np.ones((1, 3), bool))


def test_unknown_attention_is_a_setting_error():
    from zoo.settings import SettingError

    with pytest.raises(SettingError, match="attention"):
        for_model("seq2seq", attention="bahdanau")


@pytest.mark.parametrize("options", ATTENTION_CASES[2:4], ids=["lstm", "gru-depth-2"])
def test_greedy_output_is_the_argmax_of_the_model_fed_its_own_output(options):
    model, (inputs, _) = trained_seq2seq(**options)
    greedy = decoding.greedy_decode(model, inputs["source"], START, END, 9).numpy()
    for source, output in zip(inputs["source"], greedy):
        tokens = [t for t in output if t != PAD_ID]
        ended = len(tokens) < 9
        decoder_input = np.array([[START] + tokens])
        logits = model({"source": source[None], "decoder_input": decoder_input}).numpy()[0]
        logits[:, [PAD_ID, OOV_ID, START]] = -np.inf
        expected = logits.argmax(-1)
        np.testing.assert_array_equal(expected[: len(tokens)], tokens)
        if ended:
            assert expected[len(tokens)] == END


def test_alignment_rows_are_distributions_over_the_real_letters():
    model, (inputs, _) = trained_seq2seq(cell="lstm", attention="luong")
    greedy = decoding.greedy_decode(model, inputs["source"], START, END, 6)
    weights = decoding.alignment(model, inputs["source"], greedy, START).numpy()
    assert weights.shape == (4, 6, inputs["source"].shape[1])
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (weights[inputs["source"][:, None, :].repeat(6, 1) == PAD_ID] == 0).all()
    plain, _ = trained_seq2seq()
    with pytest.raises(ValueError, match="no attention"):
        decoding.alignment(plain, inputs["source"], greedy, START)


def test_decoders_never_emit_padding_unknown_or_start_tokens():
    """An untrained model: only the ban keeps these ids out of the output."""
    settings = for_model("seq2seq", units=8, embedding_dim=4, dropout=0.0)
    keras.utils.set_random_seed(3)
    model = models.get("seq2seq").build(tiny_info(), settings)
    (inputs, _) = tiny_batch("translation", np.random.default_rng(3))
    for output in (
        decoding.greedy_decode(model, inputs["source"], START, END, 12).numpy(),
        decoding.beam_search(model, inputs["source"], START, END, 12, 3).numpy(),
    ):
        emitted = output[output != PAD_ID]
        assert emitted.size and not np.isin(emitted, [OOV_ID, START]).any()


@pytest.mark.parametrize("options", [{}, dict(cell="lstm", attention="luong", depth=2)], ids=["plain", "attention"])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_with_beam_1_equals_greedy(options, length_penalty):
    model, (inputs, _) = trained_seq2seq(**options)
    greedy = decoding.greedy_decode(model, inputs["source"], START, END, 9).numpy()
    beam = decoding.beam_search(model, inputs["source"], START, END, 9, 1, length_penalty).numpy()
    np.testing.assert_array_equal(beam, greedy)


A_TOKEN = 4


def test_length_normalisation_picks_the_longer_output_that_is_likelier_per_token(monkeypatch):
    """A decoder that after the start says END with p 0.6 or A with 0.4, then END with 0.99.

    "END": total log p = log 0.6 = -0.51 over 1 token. "A END": log 0.4 + log 0.99 = -0.93 over 2 tokens,
    -0.46 per token. Total log-probability picks the first; per-token (length_penalty 1) the second.
    """
    probabilities = {START: {END: 0.6, A_TOKEN: 0.4}, A_TOKEN: {END: 0.99, A_TOKEN: 0.01}}

    def encode(model, source_ids):
        return [tf.zeros([tf.shape(source_ids)[0], 1])], None

    def decode_step(model, token_ids, states, memory=None):
        rows = []
        for previous in (START, A_TOKEN):
            row = np.full(VOCABULARY, -1e9, np.float32)
            for token, probability in probabilities[previous].items():
                row[token] = np.log(probability)
            rows.append(row)
        logits = tf.where(tf.equal(token_ids, START)[:, None], rows[0][None], rows[1][None])
        return logits, states, None

    monkeypatch.setattr(seq2seq, "encode", encode)
    monkeypatch.setattr(seq2seq, "decode_step", decode_step)
    source = tf.constant([[5, 6]])
    assert decoding.greedy_decode(None, source, START, END, 5).numpy().tolist() == [[0] * 5]
    assert decoding.beam_search(None, source, START, END, 5, 2, 0.0).numpy().tolist() == [[0] * 5]
    assert decoding.beam_search(None, source, START, END, 5, 2, 1.0).numpy().tolist() == [[A_TOKEN] + [0] * 4]


def test_beam_search_finds_an_output_at_least_as_likely_as_greedy():
    model, (inputs, _) = trained_seq2seq()

    def log_probability(source, output):
        tokens = [t for t in output if t != 0] + [END]
        decoder_input = np.array([[START] + tokens[:-1]])
        logits = model({"source": source[None], "decoder_input": decoder_input})[0]
        return float(tf.reduce_sum(tf.gather(tf.nn.log_softmax(logits), tokens, batch_dims=1)))

    greedy = decoding.greedy_decode(model, inputs["source"], START, END, 9).numpy()
    beam = decoding.beam_search(model, inputs["source"], START, END, 9, 4).numpy()
    compared = 0
    for source, greedy_output, beam_output in zip(inputs["source"], greedy, beam):
        # Only outputs that end within the length limit have a complete score.
        if greedy_output[-1] == 0 and beam_output[-1] == 0:
            assert log_probability(source, beam_output) >= log_probability(source, greedy_output) - 1e-4
            compared += 1
    assert compared > 0


def test_char_lm_steps_carry_the_state():
    settings = for_model("char_lm", units=8, embedding_dim=4)
    model = models.get("char_lm").build(tiny_info(), settings)
    ids = tf.constant([[4, 5, 6, 7, 8]])
    logits, states = char_lm.step(model, ids[:, :3])
    logits, states = char_lm.step(model, ids[:, 3:], states)
    np.testing.assert_allclose(logits, model(ids)[:, -1], atol=1e-5)


def test_generation_at_temperature_0_is_greedy_and_deterministic():
    model = models.get("char_lm").build(tiny_info(), for_model("char_lm", units=8, embedding_dim=4))
    prime = tf.constant([[4, 5]])
    generated = decoding.generate(model, prime, 6, 0).numpy()
    assert generated.shape == (1, 6)
    np.testing.assert_array_equal(generated, decoding.generate(model, prime, 6, 0).numpy())
    sequence = prime.numpy()
    for token in generated[0]:
        logits = model(sequence)[:, -1].numpy()
        logits[:, :2] = -np.inf  # padding and OOV are never generated
        assert token == logits.argmax()
        sequence = np.concatenate([sequence, [[token]]], axis=1)


def test_bigram_embedding_sums_the_bigrams_ending_and_starting_at_each_character():
    layer = BigramEmbedding(buckets=7, vocabulary_size=VOCABULARY, output_dim=3)
    ids = np.array([[4, 5, 0]])
    embedded = layer(ids).numpy()
    table = layer.embeddings.numpy()

    def bigram(first, second):
        return table[(first * VOCABULARY + second) % 7]

    np.testing.assert_allclose(embedded[0, 0], bigram(0, 4) + bigram(4, 5), atol=1e-6)
    np.testing.assert_allclose(embedded[0, 1], bigram(4, 5) + bigram(5, 0), atol=1e-6)
    np.testing.assert_array_equal(layer.compute_mask(ids), [[True, True, False]])


@pytest.mark.parametrize("bigram_buckets", [0, 31])
def test_sentiment_prediction_ignores_padding(bigram_buckets):
    settings = for_model("sentiment", units=8, embedding_dim=4, bigram_buckets=bigram_buckets)
    model = models.get("sentiment").build(tiny_info(), settings)
    ids = np.array([[4, 5, 6]])
    padded = np.array([[4, 5, 6, 0, 0]])
    np.testing.assert_allclose(model(padded), model(ids), atol=1e-6)


def test_registry_default_datasets_are_the_tasks_defaults():
    """`--list` reads the registry; loading reads the task table: they must agree."""
    from datasets.tasks import get_task

    for spec in models.MODELS.values():
        # A model whose dataset is not its task's default (g2p) names it in its settings.
        assert spec.default_dataset == spec.defaults.get("dataset", get_task(spec.task).default_dataset)
        assert for_model(spec.name).dataset in (None, spec.default_dataset)
