"""WindowConcat, the input of the windowed feed-forward baseline (SPEC §1)."""

import numpy as np
import pytest
import keras

from numpy_reference import lengths_to_mask, windows
from zoo.layers import WindowConcat


@pytest.mark.parametrize("left, right", [(0, 0), (1, 1), (2, 0), (0, 3), (20, 20)])
def test_windows_match_reference_at_the_edges(left, right):
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(WindowConcat(left, right)(x), windows(x, left, right), atol=1e-7)


def test_centre_of_window_is_the_frame_itself():
    x = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    out = WindowConcat(1, 1)(x).numpy()
    np.testing.assert_array_equal(out[:, :, 3:6], x)
    np.testing.assert_array_equal(out[:, 1:, 0:3], x[:, :-1])
    np.testing.assert_array_equal(out[:, 0, 0:3], 0.0)


def test_frames_past_the_real_length_are_zero():
    x = np.random.default_rng(1).normal(size=(3, 6, 2)).astype("float32")
    mask = lengths_to_mask([6, 2, 4], 6)
    layer = WindowConcat(2, 2)
    np.testing.assert_allclose(layer(x, mask=mask), windows(x, 2, 2, mask=mask), atol=1e-7)


def test_articles_speech_window_is_1599_wide():
    inputs = keras.Input((None, 39))
    outputs = WindowConcat(20, 20)(inputs)
    assert outputs.shape == (None, None, 1599)


def test_mask_passes_through_and_keras_file_reloads(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(5, 2, mask_zero=True)(inputs)
    windowed = WindowConcat(1, 2)(embedded)
    assert windowed._keras_mask is not None
    model = keras.Model(inputs, keras.layers.Dense(3)(windowed))
    model.save(tmp_path / "window.keras")
    reloaded = keras.saving.load_model(tmp_path / "window.keras")
    ids = np.array([[1, 2, 3, 0], [4, 0, 0, 0]])
    np.testing.assert_array_equal(reloaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    assert reloaded.layers[2].get_config()["left"] == 1


def test_negative_width_is_a_clear_error():
    with pytest.raises(ValueError, match="non-negative integer `left`"):
        WindowConcat(-1, 2)
