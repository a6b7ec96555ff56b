"""Many-to-one (SPEC §5): a sentence in, one class out.

token ids (batch, time) -> Embedding (batch, time, embedding_dim)
-> Bidirectional recurrent layer, merged by sum (batch, time, units)
-> mean over the real frames only (batch, units) -> softmax (batch, classes).

Mean pooling gives every frame a short gradient path to the loss, which the
basic cell needs: with the last state alone its gradients vanish over long
reviews (SPEC §8).
"""

import keras
from keras import ops

from zoo.models.cells import bidirectional


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMean(keras.layers.Layer):
    """(batch, time, units) with mask (batch, time) -> (batch, units), the mean over real frames.

    Unlike `GlobalAveragePooling1D`, a sequence with no real frame (a text
    that is all punctuation once standardised) gives zeros, not NaN.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.cast(mask, inputs.dtype)[..., None]
        return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build(info, settings):
    token_ids = keras.Input((None,), dtype="int64", name="token_ids")
    x = keras.layers.Embedding(info.vocabulary_size, settings.embedding_dim, mask_zero=True, name="embedding")(token_ids)
    x = keras.layers.SpatialDropout1D(settings.dropout)(x)
    x = bidirectional(settings.cell, settings.units, return_sequences=True, name="birnn")(x)
    # Padding never dilutes a short sentence.
    x = MaskedMean(name="masked_mean")(x)
    x = keras.layers.Dropout(settings.dropout)(x)
    probabilities = keras.layers.Dense(info.num_classes, activation="softmax", name="output")(x)
    return keras.Model(token_ids, probabilities, name="sentiment")
