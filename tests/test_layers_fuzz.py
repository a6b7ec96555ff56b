"""Random shapes and dtypes into the layers: each call works or raises the documented ValueError."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from zoo.layers import BasicRNN, Bidirectional, WindowConcat

LAYERS = {
    "BasicRNN": lambda: BasicRNN(3, return_sequences=True),
    "Bidirectional": lambda: Bidirectional(BasicRNN(3, return_sequences=True)),
    "WindowConcat": lambda: WindowConcat(1, 2),
}
DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool", "uint8"]


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), dtype=st.sampled_from(DTYPES))
def test_layer_works_or_raises_a_clear_value_error(name, shape, dtype):
    inputs = np.ones(shape, dtype=dtype)
    layer = LAYERS[name]()
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    accepted = len(shape) == 3 and (floating or name == "WindowConcat")
    if not accepted:
        with pytest.raises(ValueError, match="ndim=3|takes float sequences"):
            layer(inputs)
        return
    outputs = np.asarray(layer(inputs))
    batch, time, features = shape
    width = features * 4 if name == "WindowConcat" else 3
    assert outputs.shape == (batch, time, width)
    assert np.all(np.isfinite(outputs.astype("float64")))
