"""Training speed of the zoo's recurrent layers (BasicRNN, LSTM, GRU) against Keras's own and PyTorch's.

Each contender is a per-frame classifier: frames (batch, time, features) ->
recurrent layer (units; a bidirectional one merged by sum) -> softmax over
classes at every frame, trained with plain SGD. For every cell and shape,
the contenders take turns after warm-up, `--repeats` rounds of
`--iterations` steps each, and the table shows each one's median step time,
its GFLOP/s of products (matmuls, forward and backward), the median of each
round's ratio to the Keras layer of that round with the range over rounds,
and the limit: the step's products at the rate of one large matmul measured
in the same run. Before timing, the zoo's layer is given Keras's weights and
its training-mode outputs and gradients compared.

    python bench/layers.py                      # every cell at g2p's and framewise's shapes (+ 512 units, basic)
    python bench/layers.py --cells lstm --shapes g2p
    python bench/layers.py --quick              # a fast smoke run

PyTorch (torch==2.13.0, CPU, oneDNN) is installed by this script when it is
missing, unless --no-torch.
"""

import argparse
import importlib
import statistics
import subprocess
import sys
import time

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)

import numpy as np
import tensorflow as tf
import keras

from zoo.layers import GRU, LSTM, BasicRNN, Bidirectional, native_kernel

# name: (batch, time steps, features, units): g2p's encoder, framewise's layer, and a wide basic layer.
SHAPES = {"g2p": (64, 12, 64, 256), "framewise": (64, 100, 39, 128), "wide": (64, 30, 39, 512)}
CELLS = {
    "basic": (BasicRNN, keras.layers.SimpleRNN, "RNN", 1),
    "lstm": (LSTM, keras.layers.LSTM, "LSTM", 4),
    "gru": (GRU, keras.layers.GRU, "GRU", 3),
}
# The wide shape is the basic cell's (issue 31: BasicRNN keeps its margin at 512 units).
DEFAULT_RUNS = [(cell, shape) for cell in CELLS for shape in ("g2p", "framewise")] + [("basic", "wide")]
TORCH = "torch==2.13.0"


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cells", default=None, help=f"comma-separated, of {', '.join(CELLS)} (default: all)")
    parser.add_argument("--shapes", default=None, help=f"comma-separated, of {', '.join(SHAPES)} (default: g2p and "
                                                       "framewise for every cell, wide for basic)")
    parser.add_argument("--classes", type=int, default=61)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per contender")
    parser.add_argument("--iterations", type=int, default=10, help="training steps per round")
    parser.add_argument("--units", type=int, default=None, help="override every shape's units")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out (else installed if missing)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few rounds, for a smoke test")
    arguments = parser.parse_args()
    sizes = ("classes", "repeats", "iterations") + (("units",) if arguments.units is not None else ())
    if min(getattr(arguments, name) for name in sizes) < 1:
        parser.error(f"--{', --'.join(name.replace('_', '-') for name in sizes)} must be positive integers")
    for option, known in (("cells", CELLS), ("shapes", SHAPES)):
        chosen = getattr(arguments, option)
        if chosen is not None and not set(chosen.split(",")) <= set(known):
            parser.error(f"--{option} takes a comma-separated list of {', '.join(known)}, got {chosen!r}")
    if arguments.cells or arguments.shapes:
        cells = arguments.cells.split(",") if arguments.cells else list(CELLS)
        shapes = arguments.shapes.split(",") if arguments.shapes else ["g2p", "framewise"]
        arguments.runs = [(cell, shape) for cell in cells for shape in shapes]
    else:
        arguments.runs = DEFAULT_RUNS
    arguments.shapes_of = dict(SHAPES)
    if arguments.quick:
        arguments.shapes_of = {name: (8, 12, 5, 16) for name in SHAPES}
        arguments.repeats, arguments.iterations = 2, 2
    if arguments.units is not None:
        arguments.shapes_of = {name: (*shape[:3], arguments.units) for name, shape in arguments.shapes_of.items()}
    return arguments


def frame_classifier(recurrent_layer, features, classes):
    inputs = keras.Input((None, features))
    outputs = keras.layers.Dense(classes, activation="softmax")(recurrent_layer(inputs))
    return keras.Model(inputs, outputs)


def keras_training_step(model, frames, labels):
    """A compiled SGD step for `model`, traced here."""
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    loss_function = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(frames, labels):
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(frames, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    step.get_concrete_function(frames, labels)
    return lambda: step(frames, labels).numpy()


def torch_training_step(torch, cell, shape, classes, bidirectional, frames, labels):
    batch, _, features, units = shape
    recurrent_class = {"basic": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]

    class FrameClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = recurrent_class(features, units, batch_first=True, bidirectional=bidirectional)
            self.output = torch.nn.Linear(units, classes)

        def forward(self, frames):
            hidden, _ = self.rnn(frames)
            if bidirectional:  # merge by sum, like the Keras contenders
                hidden = hidden[..., :units] + hidden[..., units:]
            return self.output(hidden)

    model = FrameClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_function = torch.nn.CrossEntropyLoss()
    frames, labels = torch.from_numpy(frames.numpy()), torch.from_numpy(labels.numpy())

    def step():
        optimizer.zero_grad()
        loss = loss_function(model(frames).reshape(-1, classes), labels.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def check_same_numerics(ours, theirs, frames, labels):
    """Gives `ours` the weights of `theirs`; returns max |difference| of training-mode outputs and of gradients."""
    ours.set_weights(theirs.get_weights())
    loss_function = keras.losses.SparseCategoricalCrossentropy()
    results = []
    for model in (ours, theirs):
        with tf.GradientTape() as tape:
            outputs = model(frames, training=True)
            loss = loss_function(labels, outputs)
        results.append((outputs, tape.gradient(loss, model.trainable_variables)))
    (our_outputs, our_gradients), (their_outputs, their_gradients) = results
    output_difference = float(tf.reduce_max(tf.abs(our_outputs - their_outputs)))
    gradient_difference = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(our_gradients, their_gradients))
    return output_difference, gradient_difference


def step_flops(shape, gates, directions, classes):
    """Multiply-adds x 2 of one training step's products: forward, and the backward pass's two per forward one."""
    batch, time_steps, features, units = shape
    recurrent = 2 * batch * time_steps * gates * units * (features + units) * directions
    head = 2 * batch * time_steps * units * classes
    return 3 * (recurrent + head)


def large_matmul_rate(repeats=5):
    """GFLOP/s of one 2048 x 1024 x 1024 float32 matmul, TensorFlow's threads: the machine's practical peak."""
    a = tf.random.normal((2048, 1024))
    b = tf.random.normal((1024, 1024))
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    matmul()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            matmul().numpy()
        times.append((time.perf_counter() - start) / 10)
    return [2 * 2048 * 1024 * 1024 / t / 1e9 for t in times]


def load_torch(arguments):
    if arguments.no_torch:
        return None
    try:
        return importlib.import_module("torch")
    except ImportError:
        print(f"installing {TORCH} (CPU) for its rows: pip install {TORCH}", flush=True)
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", TORCH], capture_output=True,
                                text=True)
        if result.returncode != 0:
            print(f"could not install {TORCH}: its rows are left out ({result.stderr.strip().splitlines()[-1:]})")
            return None
        return importlib.import_module("torch")


def time_contenders(contenders, arguments):
    """{name: step} -> {name: [seconds per step, one per round]}, the contenders interleaved round by round."""
    for step in contenders.values():
        for _ in range(3):
            step()
    seconds = {name: [] for name in contenders}
    for _ in range(arguments.repeats):
        for name, step in contenders.items():
            start = time.perf_counter()
            for _ in range(arguments.iterations):
                step()
            seconds[name].append((time.perf_counter() - start) / arguments.iterations)
    return seconds


def benchmark(cell, shape_name, arguments, torch, peak):
    zoo_class, keras_class, torch_name, gates = CELLS[cell]
    shape = arguments.shapes_of[shape_name]
    batch, time_steps, features, units = shape
    rng = np.random.default_rng(0)
    frames = tf.constant(rng.normal(size=(batch, time_steps, features)).astype("float32"))
    labels = tf.constant(rng.integers(0, arguments.classes, size=(batch, time_steps)))
    print(f"\n{cell} at {shape_name}'s shape: batch {batch}, {time_steps} steps, {features} inputs, {units} units, "
          f"softmax over {arguments.classes} classes")
    contenders, flops = {}, {}
    for directions in (1, 2):
        keras_layer = keras_class(units, return_sequences=True)
        zoo_layer = zoo_class(units, return_sequences=True)
        if directions == 2:
            keras_layer = keras.layers.Bidirectional(keras_layer, merge_mode="sum")
            zoo_layer = Bidirectional(zoo_layer)
        theirs = frame_classifier(keras_layer, features, arguments.classes)
        ours = frame_classifier(zoo_layer, features, arguments.classes)
        output_difference, gradient_difference = check_same_numerics(ours, theirs, frames, labels)
        kind = "bidirectional" if directions == 2 else "one direction"
        print(f"  zoo vs Keras, {kind}, same weights: max |output diff| {output_difference:.1e}, "
              f"max |gradient diff| {gradient_difference:.1e}")
        names = [f"keras {keras_class.__name__}", f"zoo {zoo_class.__name__}"]
        contenders[names[0], directions] = keras_training_step(theirs, frames, labels)
        contenders[names[1], directions] = keras_training_step(ours, frames, labels)
        if torch is not None:
            contenders[f"torch nn.{torch_name}", directions] = torch_training_step(
                torch, cell, shape, arguments.classes, directions == 2, frames, labels)
        for name in list(contenders):
            flops[name] = step_flops(shape, gates, name[1], arguments.classes)
    seconds = time_contenders(contenders, arguments)

    print(f"  {'contender':32s} {'ms/step':>8s} {'range':>13s} {'GFLOP/s':>8s} {'vs Keras':>9s} {'rounds range':>13s}"
          f" {'limit ms':>9s}")
    for (name, directions), times in seconds.items():
        baseline = seconds[f"keras {keras_class.__name__}", directions]
        ratios = [theirs / ours for ours, theirs in zip(times, baseline)]
        label = f"{name}{', bidirectional' if directions == 2 else ''}"
        median = statistics.median(times)
        limit = flops[name, directions] / (statistics.median(peak) * 1e9)
        print(f"  {label:32s} {1e3 * median:8.2f} {1e3 * min(times):6.2f}-{1e3 * max(times):<6.2f} "
              f"{flops[name, directions] / median / 1e9:8.0f} {statistics.median(ratios):8.2f}x "
              f"{min(ratios):6.2f}-{max(ratios):.2f}x {1e3 * limit:9.2f}")


def main():
    arguments = parse_arguments()
    torch = load_torch(arguments)
    peak = large_matmul_rate()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
          + (f", PyTorch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None else ""))
    print(f"one large matmul (2048 x 1024 x 1024): {statistics.median(peak):.0f} GFLOP/s "
          f"(range {min(peak):.0f}-{max(peak):.0f}); 'limit' is a step's products at that rate")
    if native_kernel.library() is None:
        print("the native kernel could not be built (see the warning above): the zoo's rows time the "
              "TensorFlow-ops loop")
    for cell, shape_name in arguments.runs:
        benchmark(cell, shape_name, arguments, torch, peak)
    peak = large_matmul_rate()
    print(f"\none large matmul again, after the runs: {statistics.median(peak):.0f} GFLOP/s "
          f"(range {min(peak):.0f}-{max(peak):.0f})")


if __name__ == "__main__":
    main()
