"""Property-based checks of the layers against the NumPy reference over random shapes, lengths and masks."""

import numpy as np
from hypothesis import given, settings, strategies as st

from layers_testing import cell_weights, with_random_weights
from numpy_reference import bidirectional, lengths_to_mask, rnn, windows
from zoo.layers import BasicRNN, Bidirectional, WindowConcat

TOLERANCE = 1e-5


@st.composite
def padded_batches(draw):
    batch = draw(st.integers(1, 4))
    time = draw(st.integers(1, 9))
    features = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, time), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")
    return x, lengths_to_mask(lengths, time)


@settings(max_examples=20, deadline=None)
@given(padded_batches(), st.integers(1, 6), st.booleans())
def test_basic_rnn_matches_reference(batch, units, go_backwards):
    x, mask = batch
    layer = with_random_weights(
        BasicRNN(units, return_sequences=True, return_state=True, go_backwards=go_backwards), x.shape[-1], seed=units
    )
    outputs, final = layer(x, mask=mask)
    expected, expected_final = rnn(x, *cell_weights(layer.cell), mask=mask, reverse=go_backwards)
    if go_backwards:
        expected = expected[:, ::-1]
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)
    np.testing.assert_allclose(final, expected_final, atol=TOLERANCE)


@settings(max_examples=20, deadline=None)
@given(padded_batches(), st.integers(1, 6), st.sampled_from(["sum", "concat", "ave", "mul"]),
       st.sampled_from([None, "input", "recurrent", "all"]))
def test_bidirectional_matches_reference(batch, units, merge_mode, share_weights):
    x, mask = batch
    layer = with_random_weights(
        Bidirectional(BasicRNN(units, return_sequences=True), merge_mode=merge_mode, share_weights=share_weights),
        x.shape[-1], seed=units,
    )
    expected, _, _ = bidirectional(
        x, cell_weights(layer.forward_layer.cell), cell_weights(layer.backward_layer.cell),
        merge_mode=merge_mode, mask=mask,
    )
    np.testing.assert_allclose(layer(x, mask=mask), expected, atol=TOLERANCE)


@settings(max_examples=30, deadline=None)
@given(padded_batches(), st.integers(0, 4), st.integers(0, 4))
def test_window_concat_matches_reference(batch, left, right):
    x, mask = batch
    np.testing.assert_allclose(WindowConcat(left, right)(x, mask=mask), windows(x, left, right, mask=mask), atol=1e-7)
