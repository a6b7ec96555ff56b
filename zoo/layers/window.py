"""The input of the windowed feed-forward baseline (SPEC §1)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class WindowConcat(keras.layers.Layer):
    """Replaces every frame by the window of frames around it.

    (batch, time, dim) -> (batch, time, (left + 1 + right) * dim): frame t
    becomes concat(x_{t-left}, ..., x_t, ..., x_{t+right}). Frames past either
    end of the sequence, or past its real length under a mask, are zeros.

    A feed-forward net on these windows sees a fixed context, and its first
    weight matrix grows with the window: 41 frames of 39 features make a
    1599-wide input.
    """

    def __init__(self, left, right, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("left", left), ("right", right)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"WindowConcat needs a non-negative integer `{name}`, got {value!r}.")
        self.left = left
        self.right = right
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def width(self):
        return self.left + 1 + self.right

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.cast(mask, inputs.dtype)[..., None]
        length = ops.shape(inputs)[1]
        padded = ops.pad(inputs, [[0, 0], [self.left, self.right], [0, 0]])
        frames = [padded[:, offset : offset + length] for offset in range(self.width)]
        return ops.concatenate(frames, axis=-1)

    def compute_output_shape(self, input_shape):
        batch, time, dim = input_shape
        return (batch, time, None if dim is None else dim * self.width)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "left": self.left, "right": self.right}
