"""`bench/deploy.py --against-keras`: the zoo's exported models against Keras's own layers, exported.

See deploy.py's docstring for what runs. Every contender gets the same
weights; before timing, their outputs are compared.
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from zoo import export
from zoo.data import DataInfo
from zoo.layers import BasicRNN, Bidirectional
from zoo.models.frames import frame_input, frame_output

# One core's matmul rate: TensorFlow pinned to one thread, a product large enough to run at full speed.
PEAK_SCRIPT = """
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
a = tf.random.normal((512, 512))
product = tf.function(lambda a: tf.matmul(a, a))
product(a)
best = min(
    (lambda start: (product(a).numpy(), time.perf_counter() - start)[1])(time.perf_counter()) for _ in range(50)
)
print(2 * 512 ** 3 / best)
"""


def one_core_peak():
    """FLOP/s of float32 matmul on one core, in a process of its own (threads are fixed at start-up)."""
    result = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise ValueError(f"measuring the core's peak failed: {result.stderr.strip().splitlines()[-1]}")
    return float(result.stdout.split()[-1])


def frame_model(info, recurrent_layer, frames=None):
    """The framewise model's layers around `recurrent_layer`; `frames` fixes the length (for unrolling)."""
    if frames is None:
        inputs, x = frame_input(info)
    else:
        inputs = keras.Input((frames, info.feature_dim), name="frames")
        x = keras.layers.Masking(0.0)(inputs)
        x = keras.layers.Normalization(mean=info.feature_mean, variance=info.feature_variance)(x)
    return keras.Model(inputs, frame_output(recurrent_layer(x), info))


def keras_layer(arguments, unroll=False):
    layer = keras.layers.SimpleRNN(arguments.units, return_sequences=True, unroll=unroll)
    return keras.layers.Bidirectional(layer, merge_mode="sum") if arguments.bidirectional else layer


def static_graph(keras_model, frames, batch):
    """The model's computation as one static graph at a fixed shape, no loop: a reference for what a loop costs.

    Normalization, each direction's input projection as one matmul, then
    `frames` steps of h = tanh(p_t + h W_hh) unrolled, masked as Keras masks
    them (an all-zero frame keeps the state; no loop, no buffer of states),
    the sum of the directions and the softmax Dense: a (batch, frames,
    features) -> (batch, frames, classes) `tf.function`.
    """
    recurrent = next(layer for layer in keras_model.layers
                     if isinstance(layer, (keras.layers.Bidirectional, keras.layers.SimpleRNN)))
    bidirectional = isinstance(recurrent, keras.layers.Bidirectional)
    cells = [recurrent.forward_layer.cell, recurrent.backward_layer.cell] if bidirectional else [recurrent.cell]
    standardize, output = keras_model.get_layer("standardize"), keras_model.get_layer("output")
    mask_value = keras_model.get_layer("padding_mask").mask_value

    def run(sequences):
        x = standardize(sequences)
        real = tf.unstack(tf.reduce_any(tf.not_equal(sequences, mask_value), axis=-1, keepdims=True), num=frames,
                          axis=1)
        summed = 0.0
        for direction, cell in enumerate(cells):
            projected = tf.unstack(tf.matmul(x, cell.kernel) + cell.bias, num=frames, axis=1)
            steps = zip(projected[::-1], real[::-1]) if direction else zip(projected, real)
            state, states = tf.zeros([batch, cell.units]), []
            for step, step_is_real in steps:
                state = tf.where(step_is_real, tf.tanh(step + tf.matmul(state, cell.recurrent_kernel)), state)
                # Keras's Bidirectional outputs zeros at masked frames, a single direction its state.
                states.append(tf.where(step_is_real, state, 0.0) if bidirectional else state)
            summed = summed + tf.stack(states[::-1] if direction else states, axis=1)
        return output(summed)

    return tf.function(run, input_signature=[tf.TensorSpec([batch, frames, keras_model.input_shape[-1]], tf.float32)])


def write_builtins_only(converter, path):
    """Converts with TF Lite's built-in ops alone and writes the model to `path`."""
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path.write_bytes(converter.convert())


def convert_function(function, path):
    """A `tf.function` of one input signature to TF Lite built-ins at `path`."""
    write_builtins_only(tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()]), path)


def to_tflite(saved_model, path, signature):
    write_builtins_only(tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[signature]), path)


def stream_caller(path, sequence, units):
    """Streams `sequence` through stream.tflite frame by frame, with the interpreter's own tensor calls."""
    runner = export.tflite_interpreter(path).get_signature_runner("step")
    inputs = {name: detail["index"] for name, detail in runner.get_input_details().items()}
    outputs = {name: detail["index"] for name, detail in runner.get_output_details().items()}
    # A second interpreter: the runner's keeps references to its tensors, which `invoke` refuses.
    interpreter = export.tflite_interpreter(path)
    interpreter.allocate_tensors()

    def stream():
        state = np.zeros((1, units), np.float32)
        for frame in sequence:
            interpreter.set_tensor(inputs["frame"], frame[None])
            interpreter.set_tensor(inputs["state"], state)
            interpreter.invoke()
            interpreter.get_tensor(outputs["output"])
            state = interpreter.get_tensor(outputs["next_state"])

    def outputs_of_stream():
        state, result = np.zeros((1, units), np.float32), []
        for frame in sequence:
            step = runner(frame=frame[None], state=state)
            state = step["next_state"]
            result.append(step["output"][0])
        return np.stack(result)

    return stream, outputs_of_stream


def benchmark(arguments, round_seconds):
    units, features, frames, batch = arguments.units, arguments.features, arguments.frames, arguments.batch_size
    directions = 2 if arguments.bidirectional else 1
    info = DataInfo(num_classes=arguments.classes, feature_dim=features,
                    feature_mean=[0.0] * features, feature_variance=[1.0] * features)
    zoo_layer = BasicRNN(units, return_sequences=True)
    if arguments.bidirectional:
        zoo_layer = Bidirectional(zoo_layer)
    zoo_model = frame_model(info, zoo_layer)
    keras_model = frame_model(info, keras_layer(arguments))
    unrolled = frame_model(info, keras_layer(arguments, unroll=True), frames)
    for model in (keras_model, unrolled):
        model.set_weights(zoo_model.get_weights())

    folder = tempfile.mkdtemp(prefix="deploy-bench-")
    export.export_saved_model(zoo_model, "frames", {}, {}, [str(i) for i in range(arguments.classes)],
                              f"{folder}/zoo")
    export.export_tflite(f"{folder}/zoo", f"{folder}/zoo.tflite")
    keras_model.export(f"{folder}/keras", verbose=False)
    unrolled.export(f"{folder}/unrolled", verbose=False)
    to_tflite(f"{folder}/unrolled", pathlib.Path(folder, "unrolled.tflite"), "serve")
    static_saved = static_graph(keras_model, frames, batch)
    convert_function(static_graph(keras_model, frames, 1), pathlib.Path(folder, "static.tflite"))

    rng = np.random.default_rng(0)
    batch_frames = tf.constant(rng.normal(size=(batch, frames, features)).astype(np.float32))
    sequence = batch_frames.numpy()[:1]
    zoo_saved, keras_saved = tf.saved_model.load(f"{folder}/zoo"), tf.saved_model.load(f"{folder}/keras")
    zoo_serve = zoo_saved.signatures["serving_default"]
    zoo_lite = export.tflite_interpreter(f"{folder}/zoo.tflite").get_signature_runner("sequence")
    keras_lite = export.tflite_interpreter(f"{folder}/unrolled.tflite").get_signature_runner("serve")
    (keras_lite_input,) = keras_lite.get_input_details()
    static_lite = export.tflite_interpreter(f"{folder}/static.tflite")
    static_lite.allocate_tensors()
    static_input = static_lite.get_input_details()[0]["index"]
    static_output = static_lite.get_output_details()[0]["index"]

    def run_static_lite():
        static_lite.set_tensor(static_input, sequence)
        static_lite.invoke()
        return static_lite.get_tensor(static_output)

    expected = keras_model(batch_frames).numpy()
    differences = {
        "SavedModel": np.abs(zoo_serve(frames=batch_frames)["probabilities"].numpy() - expected).max(),
        "Keras SavedModel": np.abs(keras_saved.serve(batch_frames).numpy() - expected).max(),
        "model.tflite": np.abs(zoo_lite(frames=sequence)["probabilities"] - expected[:1]).max(),
        "Keras unrolled .tflite": np.abs(next(iter(keras_lite(**{keras_lite_input: sequence}).values()))
                                         - expected[:1]).max(),
        "static graph": np.abs(static_saved(batch_frames).numpy() - expected).max(),
        "static .tflite": np.abs(run_static_lite() - expected[:1]).max(),
    }
    contenders = {
        "saved": {
            "zoo": lambda: zoo_serve(frames=batch_frames)["probabilities"].numpy(),
            "keras": lambda: keras_saved.serve(batch_frames).numpy(),
            "static": lambda: static_saved(batch_frames).numpy(),
        },
        "lite": {
            "zoo": lambda: zoo_lite(frames=sequence),
            "keras": lambda: keras_lite(**{keras_lite_input: sequence}),
            "static": run_static_lite,
        },
    }
    if not arguments.bidirectional:
        export.export_tflite(f"{folder}/zoo", f"{folder}/stream.tflite", "step")
        stream, outputs_of_stream = stream_caller(f"{folder}/stream.tflite", sequence[0], units)
        differences["stream.tflite"] = np.abs(outputs_of_stream() - expected[0]).max()
        contenders["stream"] = {"zoo": stream}

    peak = one_core_peak()
    recurrence = directions * (features + units) * units * 2
    per_frame = recurrence + units * arguments.classes * 2
    print(f"frame labeller: {'Bidirectional(' if arguments.bidirectional else ''}{units} units"
          f"{', sum)' if arguments.bidirectional else ''}, {features} features, {arguments.classes} classes; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; one core's matmul peak {peak / 1e9:.0f} GFLOP/s")
    print("max |difference| from Keras's outputs: "
          + ", ".join(f"{name} {value:.1e}" for name, value in differences.items()))
    print(f"median (range) of {arguments.repeats} interleaved rounds\n")
    rows = {
        "saved": (f"SavedModel serving_default, {batch} x {frames} frames", "ms", 1e3, batch * frames,
                  "Keras model.export"),
        "lite": (f"model.tflite on LiteRT, 1 x {frames} frames", "ms", 1e3, frames,
                 f"Keras unroll=True at {frames} frames"),
        "stream": ("stream.tflite on LiteRT, per frame", "us", 1e6 / frames, 1, None),
    }
    print(f"{'':44} {'zoo':>22} {'Keras':>22} {'speedup':>8} {'static graph':>22} {'limit':>9}")
    for key, functions in contenders.items():
        title, unit, scale, frame_count, keras_name = rows[key]
        times = round_seconds(functions, arguments.repeats, arguments.warmup)
        medians = {name: statistics.median(values) * scale for name, values in times.items()}

        def cell(name):
            values = [value * scale for value in times[name]]
            return f"{medians[name]:.3f} ({min(values):.3f}-{max(values):.3f})"

        limit = per_frame * frame_count / peak * (1e6 if unit == "us" else 1e3)
        keras_cell = cell("keras") if "keras" in times else "-"
        static_cell = cell("static") if "static" in times else "-"
        speedup = f"{medians['keras'] / medians['zoo']:.2f}x" if "keras" in times else "-"
        print(f"{title + ' (' + unit + ')':44} {cell('zoo'):>22} {keras_cell:>22} {speedup:>8} {static_cell:>22} "
              f"{limit:>9.3f}")
        if keras_name:
            print(f"{'  Keras: ' + keras_name:44}")

