"""SPEC §1-§2: sharing weights across time keeps the parameter count flat as the context grows.

Builds, without training, the frame-labelling models of the zoo with their
default settings for `spoken_digit_frames` (39 features per frame, 10
classes): `window_ffn` for windows of 1 to 81 frames, and `framewise`
(unidirectional and bidirectional) and `dense_birnn_dense` for each cell.
For each it reads off the trainable parameters, those of its first weight
layer, and the context it actually sees: the number of frames of a random
101-frame sequence whose change moves the output at the middle frame
(a nonzero gradient). The window grows the first layer by 39 x units weights
per frame; a recurrent layer's weights serve every frame, so its count does
not depend on the context, which reaches every earlier frame (and, both ways,
the whole sequence).

    python experiments/time_sharing.py            # about a minute on 2 shared CPU cores
    python experiments/time_sharing.py --quick    # fewer windows, the basic cell only

Writes to --out (default experiments/results/time_sharing/):
  results.csv       one row per model: context in frames, parameters, first-layer parameters
  parameters.png    parameters against context in frames
"""

from experiments import common  # first: it quiets TensorFlow's start-up logging

import numpy as np
import tensorflow as tf

from zoo import models
from zoo.data import DataInfo
from zoo.settings import for_model

FEATURES = 39
CLASSES = 10
# Each sequence is long enough for the widest window to fit around its middle frame.
FULL = dict(windows=(1, 3, 5, 11, 21, 41, 81), cells=models.CELLS, sequence_frames=101)
QUICK = dict(windows=(1, 3, 11), cells=("basic",), sequence_frames=21)
# The first weight layer of each model, by its name in the builder.
FIRST_LAYER = {"window_ffn": "dense_1", "framewise": "recurrent_1", "dense_birnn_dense": "dense_in_1"}


def spoken_digit_info():
    """What the builders need of spoken_digit_frames, without loading it: standardisation is irrelevant here."""
    return DataInfo(
        num_classes=CLASSES, feature_dim=FEATURES, feature_mean=[0.0] * FEATURES, feature_variance=[1.0] * FEATURES
    )


def trainable_parameters(weights):
    return sum(int(np.prod(weight.shape)) for weight in weights)


def measured_context(model, frames):
    """How many frames move the output at the middle frame: those with a nonzero gradient."""
    frames = tf.convert_to_tensor(frames)
    middle = frames.shape[1] // 2
    with tf.GradientTape() as tape:
        tape.watch(frames)
        # One class's probability: the probabilities' sum is always 1, with no gradient at all.
        output = model(frames, training=False)[0, middle, 0]
    gradient = tape.gradient(output, frames)[0]
    return int(np.count_nonzero(np.any(gradient.numpy() != 0, axis=-1)))


def describe(name, frames, **overrides):
    """The results row of model `name` built with its defaults and `overrides`."""
    settings = for_model(name, **overrides)
    model = models.get(name).build(spoken_digit_info(), settings)
    first_layer = model.get_layer(FIRST_LAYER[name])
    recurrent = name != "window_ffn"
    return dict(
        model=name,
        cell=settings.cell if recurrent else "",
        direction=("bidirectional" if settings.bidirectional else "unidirectional") if recurrent else "",
        window="" if recurrent else settings.window,
        context_frames=measured_context(model, frames),
        sequence_frames=frames.shape[1],
        parameters=trainable_parameters(model.trainable_weights),
        first_layer=first_layer.name,
        first_layer_parameters=trainable_parameters(first_layer.trainable_weights),
    )


def plot(rows, pyplot):
    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    windows = [row for row in rows if row["model"] == "window_ffn"]
    axes.plot([row["window"] for row in windows], [row["parameters"] for row in windows], marker="o",
              color="black", label="window_ffn: context = window")
    widest = max(row["window"] for row in windows)
    colors = {"basic": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}
    line_styles = {("framewise", "unidirectional"): ":", ("framewise", "bidirectional"): "--",
                   ("dense_birnn_dense", "bidirectional"): "-."}
    for row in rows:
        if row["model"] != "window_ffn":
            axes.plot([1, widest], [row["parameters"]] * 2, color=colors[row["cell"]],
                      linestyle=line_styles[row["model"], row["direction"]],
                      label=f"{row['model']}, {row['cell']}, {row['direction']}")
    axes.set_xlabel("context in frames (the window; recurrent models: every frame, whatever the length)")
    axes.set_ylabel("trainable parameters")
    axes.set_title("Parameters as the context grows (39 features, 10 classes, default units)")
    axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def main(argv=None):
    parser = common.parser(__doc__, "time_sharing")
    arguments = parser.parse_args(argv)
    if arguments.seeds is not None:
        parser.error("--seeds does not apply: time_sharing builds its models and trains none, so no seed matters.")
    sweep = QUICK if arguments.quick else FULL
    frames = np.random.default_rng(0).normal(size=(1, sweep["sequence_frames"], FEATURES)).astype(np.float32)
    rows = [describe("window_ffn", frames, window=window) for window in sweep["windows"]]
    for cell in sweep["cells"]:
        rows.append(describe("framewise", frames, cell=cell, bidirectional=False))
        rows.append(describe("framewise", frames, cell=cell))
        rows.append(describe("dense_birnn_dense", frames, cell=cell))
    for row in rows:
        variant = f"window {row['window']}" if row["model"] == "window_ffn" else f"{row['cell']}, {row['direction']}"
        print(f"{row['model']:18s} {variant:24s} context {row['context_frames']:3d} frames  "
              f"{row['parameters']:>9,} parameters ({row['first_layer']}: {row['first_layer_parameters']:,})")
    common.write_csv(arguments.out / "results.csv", rows)
    common.save_figure(plot(rows, common.pyplot()), arguments.out / "parameters.png")
    print(f"Wrote results.csv and parameters.png to {arguments.out}")


if __name__ == "__main__":
    main()
