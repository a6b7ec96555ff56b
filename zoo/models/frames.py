"""The input and output ends shared by the frame-labelling models (many-to-many, aligned)."""

import keras


def frame_input(info):
    """Returns (inputs, x): frames (batch, time, feature_dim), and x, the same standardised and masked.

    Padded frames are all zeros, so `Masking` recovers each sequence's length
    before standardisation moves them off zero; the backward direction of a
    bidirectional layer then starts at the last real frame, not in the padding.
    """
    frames = keras.Input((None, info.feature_dim), dtype="float32", name="frames")
    x = keras.layers.Masking(0.0, name="padding_mask")(frames)
    x = keras.layers.Normalization(mean=info.feature_mean, variance=info.feature_variance, name="standardize")(x)
    return frames, x


def frame_output(x, info):
    """o_t = softmax(W_ho h_t + b_o) at every frame (SPEC §4): (batch, time, units) -> (batch, time, classes)."""
    return keras.layers.Dense(info.num_classes, activation="softmax", name="output")(x)
