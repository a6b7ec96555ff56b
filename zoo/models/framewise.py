"""Many-to-many, frame-aligned (SPEC §5), as in DNN-HMM speech recognition: one label per frame.

frames (batch, time, feature_dim) -> `depth` recurrent layers returning
sequences (batch, time, units) -> o_t = softmax(W_ho h_t + b_o)
(batch, time, classes).

Bidirectional by default (merged by sum); `bidirectional=False` is the
real-time variant of SPEC §3, which labels frame t from frames 0..t only.
"""

import keras

from zoo.models.cells import bidirectional, recurrent
from zoo.models.frames import frame_input, frame_output


def build(info, settings):
    frames, x = frame_input(info)
    for index in range(settings.depth):
        name = f"recurrent_{index + 1}"
        if settings.bidirectional:
            x = bidirectional(
                settings.cell, settings.units, settings.merge, settings.share_weights, return_sequences=True, name=name
            )(x)
        else:
            x = recurrent(settings.cell, settings.units, return_sequences=True, name=name)(x)
        x = keras.layers.Dropout(settings.dropout)(x)
    return keras.Model(frames, frame_output(x, info), name="framewise")
