"""Inference latency of exported models: the zoo's against Keras's own layers, or a run's TF Lite files.

With --against-keras (no run folder), the issue's comparison in one process:
a frame labeller (Masking, Normalization, a recurrent layer of --units,
softmax Dense over --classes; the framewise model's layers) built twice,
with the zoo's `Bidirectional(BasicRNN)` (or `BasicRNN`) and with Keras's
`Bidirectional(SimpleRNN, merge_mode="sum")` (or `SimpleRNN`), the same
weights. Each is exported as it deploys: the zoo's through zoo.export (the
SavedModel's serving_default, model.tflite, stream.tflite); Keras's through
`model.export`, and to TF Lite as `SimpleRNN(unroll=True)` at a fixed
--frames, since its any-length loop does not convert to built-in ops. The
table shows each contender's median and range over --repeats interleaved
rounds, the speedup over Keras, the static graph, and the physical limit:
the FLOPs over one core's measured matmul peak. The static graph is the
same computation in the same runtime with no loop: each direction's input
projection as one matmul, then the steps unrolled at the fixed --frames,
masked as the model masks them, with no buffer of states (a `tf.function`
at the SavedModel's batch, and converted to TF Lite at batch 1). It is a
reference, not a bound: a contender near it spends little on its loop.

    python bench/deploy.py --against-keras                      # bidirectional, 128 units, 39 features
    python bench/deploy.py --against-keras --no-bidirectional   # and stream.tflite per frame

With a run folder:

Per frame, as a live source delivers them: stream.tflite's `step`, against
the Keras layers called once per frame with the state passed along (the same
step function, as a `tf.function`), and against calling the whole Keras model
on every frame so far (what a model without a carried state must do).
Per sequence: model.tflite against Keras `predict` and `predict_on_batch`.
Quantized files beside them (stream-dynamic.tflite, ...) join their rows.

After warm-up the contenders take turns for `--repeats` rounds on the same
random sequence of `--frames` frames (or token ids); the table shows the
median round, per frame or per sequence, and the ratio to the first row.

    python bench/deploy.py runs/framewise-...      # a run of framewise --no-bidirectional, or char_lm
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)

import keras
import numpy as np
import tensorflow as tf

from zoo import export, streaming

import against_keras  # noqa: E402  (bench/, beside this file)


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("run", type=pathlib.Path, nargs="?",
                        help="a run folder with stream.tflite (a unidirectional model); or pass --against-keras")
    parser.add_argument("--frames", type=int, default=100, help="frames (or tokens) per sequence")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per contender")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per contender first")
    parser.add_argument("--against-keras", action="store_true",
                        help="the zoo's layers against Keras's, exported (no run folder)")
    parser.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                        help="with --against-keras: Bidirectional, or one direction (and stream.tflite)")
    parser.add_argument("--batch-size", type=int, default=64, help="with --against-keras: the SavedModel's batch")
    parser.add_argument("--units", type=int, default=128, help="with --against-keras")
    parser.add_argument("--features", type=int, default=39, help="with --against-keras")
    parser.add_argument("--classes", type=int, default=61, help="with --against-keras")
    arguments = parser.parse_args()
    sizes = ("frames", "repeats", "batch_size", "units", "features", "classes")
    if min(getattr(arguments, name) for name in sizes) < 1 or arguments.warmup < 0:
        parser.error(f"--{', --'.join(name.replace('_', '-') for name in sizes)} must be positive, --warmup not negative")
    if arguments.against_keras == (arguments.run is not None):
        parser.error("pass either a run folder or --against-keras")
    if arguments.against_keras:
        return arguments
    if not (arguments.run / "stream.tflite").exists():
        parser.error(f"{arguments.run} has no stream.tflite: pass a run of framewise --no-bidirectional or char_lm.")
    return arguments


def random_sequence(model, frames):
    """(frames, features) float32 frames, or (frames,) int32 token ids, batch dimension not included."""
    rng = np.random.default_rng(0)
    if model.inputs[0].dtype.startswith("int"):
        return rng.integers(2, model.get_layer("embedding").input_dim, frames).astype(np.int32)
    return rng.normal(size=(frames, model.inputs[0].shape[-1])).astype(np.float32)


def stream_with(step, sequence, state_size):
    """Feeds `sequence` to `step(frame, state)` one frame at a time from a zero state."""
    state = np.zeros((1, state_size), np.float32)
    for frame in sequence:
        state = step(frame=frame[None], state=state)["next_state"]


def float_first(paths):
    """stream.tflite before stream-dynamic.tflite and stream-float16.tflite (model*.tflite likewise)."""
    return sorted(paths, key=lambda path: ("-" in path.stem, path.name))


def contenders(run, model, task, sequence):
    """{table: {row name: (function of no arguments, units per call)}}: one call streams or labels `sequence`."""
    size = streaming.state_size(model)
    per_frame, per_sequence = {}, {}
    for path in float_first(run.glob("stream*.tflite")):
        step = export.tflite_interpreter(path).get_signature_runner("step")
        per_frame[f"{path.name} (LiteRT)"] = lambda step=step: stream_with(step, sequence, size)
    keras_step = tf.function(streaming.step_function(model, task))
    per_frame["Keras step per frame (tf.function)"] = lambda: stream_with(keras_step, tf.constant(sequence), size)
    per_frame["Keras model on the frames so far"] = lambda: [
        model.predict_on_batch(sequence[None, : end + 1]) for end in range(len(sequence))
    ]
    for path in float_first(run.glob("model*.tflite")):
        whole = export.tflite_interpreter(path).get_signature_runner("sequence")
        (name,) = whole.get_input_details()
        per_sequence[f"{path.name} (LiteRT)"] = lambda whole=whole, name=name: whole(**{name: sequence[None]})
    per_sequence["Keras predict"] = lambda: model.predict(sequence[None], verbose=0)
    per_sequence["Keras predict_on_batch"] = lambda: model.predict_on_batch(sequence[None])
    return {"per frame": per_frame, "per sequence": per_sequence}


def round_seconds(functions, repeats, warmup):
    """{name: [seconds of one call per round]}, the functions taking turns each round."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def median_seconds(functions, repeats, warmup):
    """The median seconds of one call of each function, the functions taking turns each round."""
    return {name: statistics.median(values) for name, values in round_seconds(functions, repeats, warmup).items()}


def main():
    arguments = parse_arguments()
    try:
        if arguments.against_keras:
            against_keras.benchmark(arguments, round_seconds)
            return
        benchmark(arguments)
    except (OSError, ValueError) as error:
        # A missing or corrupt file in the run folder: one line, no traceback.
        sys.exit(f"deploy.py: error: {str(error).strip().splitlines()[0]}")


def benchmark(arguments):
    config = json.loads((arguments.run / "config.json").read_text())
    model = keras.saving.load_model(arguments.run / "model.keras")
    sequence = random_sequence(model, arguments.frames)
    print(f"{config['model']} ({config['settings']['cell']} cell, {config['settings']['units']} units, "
          f"{config['parameters']:,} parameters), batch 1, {arguments.frames} frames, median of "
          f"{arguments.repeats} interleaved rounds, TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    for table, functions in contenders(arguments.run, model, config["task"], sequence).items():
        medians = median_seconds(functions, arguments.repeats, arguments.warmup)
        divisor = arguments.frames if table == "per frame" else 1
        first = next(iter(medians.values()))
        print(f"\n{'latency ' + table:<40} {'ms':>10} {'x first':>8}")
        for name, seconds in medians.items():
            print(f"{name:<40} {seconds / divisor * 1e3:>10.4f} {seconds / first:>8.1f}")


if __name__ == "__main__":
    main()
