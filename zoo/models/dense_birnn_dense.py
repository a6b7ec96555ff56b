"""SPEC §7's example architecture: dense, dense, bidirectional recurrent, dense, dense, output.

frames (batch, time, feature_dim) -> 2 x Dense (batch, time, units)
-> `depth` stacked Bidirectional recurrent layers, merged by sum
(batch, time, units) -> 2 x Dense (batch, time, units)
-> softmax (batch, time, classes).

The dense layers act on each frame alone; only the recurrent layers mix
frames. More than one recurrent layer makes the network "deep".
"""

import keras

from zoo.models.cells import bidirectional
from zoo.models.frames import frame_input, frame_output


def build(info, settings):
    frames, x = frame_input(info)
    for index in range(2):
        x = keras.layers.Dense(settings.units, activation="relu", name=f"dense_in_{index + 1}")(x)
    for index in range(settings.depth):
        x = bidirectional(
            settings.cell, settings.units, settings.merge, settings.share_weights,
            return_sequences=True, name=f"birnn_{index + 1}",
        )(x)
        x = keras.layers.Dropout(settings.dropout)(x)
    for index in range(2):
        x = keras.layers.Dense(settings.units, activation="relu", name=f"dense_out_{index + 1}")(x)
    return keras.Model(frames, frame_output(x, info), name="dense_birnn_dense")
