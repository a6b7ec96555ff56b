"""Many-to-one (SPEC §5): a sentence in, one class out.

token ids (batch, time) -> Embedding (batch, time, embedding_dim),
plus the embeddings of the hashed bigrams each token starts and ends
-> Bidirectional recurrent layer, merged by sum (batch, time, units)
-> mean and max over the real frames only (batch, 2 * units)
-> softmax (batch, classes).

Pooling over every frame gives each one a short gradient path to the loss,
which the basic cell needs: from the last state alone its gradients vanish
over long reviews (SPEC §8). Max pooling adds the strongest evidence for a
feature anywhere in the review; on product_reviews_zh mean + max beat mean
alone by about one point of accuracy.

Character bigrams carry much of the sentiment of Chinese text (they are what
a character+bigram tf-idf classifier exploits, and many words are two
characters). Adding their embeddings to each character's keeps one frame
per character, so masks and the recurrent layer are unchanged, and the ids
are computed inside the model, so the SavedModel and TF Lite inputs stay
plain character ids. The table needs room: the training reviews hold about
165,000 distinct bigrams, and 200,003 buckets instead of 20,011 gained 1.3
points of test accuracy over 3 seeds (docs/results.md).

The defaults use the GRU (Keras's, when this was measured), which reached 0.855 test accuracy on
product_reviews_zh (mean of 3 seeds) where the basic cell (`--cell basic`)
reached 0.842.
"""

import keras
from keras import ops

from zoo.models.cells import bidirectional, embedding_dim


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMeanMax(keras.layers.Layer):
    """(batch, time, units) with mask (batch, time) -> (batch, 2 * units): mean and max over real frames.

    Padding takes part in neither. A sequence with no real frame (a text that
    is all punctuation once standardised) gives zeros, where
    `GlobalAveragePooling1D` gives NaN.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.concatenate([ops.mean(inputs, axis=1), ops.max(inputs, axis=1)], axis=-1)
        weights = ops.cast(mask, inputs.dtype)[..., None]
        count = ops.sum(weights, axis=1)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(count, 1.0)
        # Recurrent states lie in (-1, 1) for tanh, so -2 is below every real frame.
        largest = ops.max(ops.where(weights > 0, inputs, ops.full_like(inputs, -2.0)), axis=1)
        largest = ops.where(count > 0, largest, ops.zeros_like(largest))
        return ops.concatenate([mean, largest], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[2])


@keras.saving.register_keras_serializable(package="zoo")
class BigramEmbedding(keras.layers.Layer):
    """token ids (batch, time) -> (batch, time, output_dim), the bigram embeddings of each frame.

    Frame t gets the sum of the embeddings of bigrams (x_{t-1}, x_t) and (x_t, x_{t+1}).
    A bigram (a, b) of ids below `vocabulary_size` has id (a * vocabulary_size + b) mod `buckets`;
    padding (id 0) stands for the missing neighbour at either end. Hashing needs no bigram
    vocabulary; bigrams that collide share a vector, so `buckets` should be of the order of
    the number of distinct bigrams. Integer arithmetic only, so TF Lite runs it with built-in ops.
    """

    def __init__(self, buckets, vocabulary_size, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.vocabulary_size, self.output_dim = buckets, vocabulary_size, output_dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.buckets, self.output_dim), initializer="uniform", name="embeddings"
        )

    def call(self, token_ids):
        ids = ops.cast(token_ids, "int64")
        previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]])
        following = ops.pad(ids[:, 1:], [[0, 0], [0, 1]])
        ending = (previous * self.vocabulary_size + ids) % self.buckets
        starting = (ids * self.vocabulary_size + following) % self.buckets
        return ops.take(self.embeddings, ending, axis=0) + ops.take(self.embeddings, starting, axis=0)

    def compute_mask(self, token_ids, mask=None):
        # The characters' padding mask: `Add` drops a mask unless every input has one.
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "buckets": self.buckets,
            "vocabulary_size": self.vocabulary_size,
            "output_dim": self.output_dim,
        }


def build(info, settings):
    token_ids = keras.Input((None,), dtype="int64", name="token_ids")
    width = embedding_dim(settings, info.vocabulary_size)
    x = keras.layers.Embedding(info.vocabulary_size, width, mask_zero=True, name="embedding")(token_ids)
    if settings.bigram_buckets:
        bigrams = BigramEmbedding(settings.bigram_buckets, info.vocabulary_size, width, name="bigrams")
        x = keras.layers.Add(name="characters_and_bigrams")([x, bigrams(token_ids)])
    # Bigram embeddings memorise the training reviews within two epochs; dropping whole
    # channels and single values both held validation accuracy best (docs/results.md).
    x = keras.layers.SpatialDropout1D(settings.dropout)(x)
    x = keras.layers.Dropout(settings.dropout)(x)
    x = bidirectional(
        settings.cell, settings.units, settings.merge, settings.share_weights, return_sequences=True, name="birnn"
    )(x)
    x = MaskedMeanMax(name="pooling")(x)
    x = keras.layers.Dropout(settings.dropout)(x)
    probabilities = keras.layers.Dense(info.num_classes, activation="softmax", name="output")(x)
    return keras.Model(token_ids, probabilities, name="sentiment")
