"""SPEC §1's baseline, the one the article argues against: a feed-forward net on a window of frames.

frames (batch, time, feature_dim) -> WindowConcat of `window` frames centred
on t (batch, time, window * feature_dim) -> 2 x Dense (batch, time, units)
-> softmax (batch, time, classes).

Its context is fixed by the window, and its first weight matrix grows with
it: 41 frames of 39 features make a 1599 x units matrix, where a recurrent
layer needs 39 x units + units x units for any context.
"""

import keras

from zoo.layers import WindowConcat
from zoo.models.frames import frame_input, frame_output


def build(info, settings):
    frames, x = frame_input(info)
    half = settings.window // 2
    x = WindowConcat(half, half, name="window")(x)
    for index in range(2):
        x = keras.layers.Dense(settings.units, activation="relu", name=f"dense_{index + 1}")(x)
        x = keras.layers.Dropout(settings.dropout)(x)
    return keras.Model(frames, frame_output(x, info), name="window_ffn")
