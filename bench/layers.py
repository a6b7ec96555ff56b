"""Training throughput of the zoo's recurrent layers against Keras's own (and PyTorch's, if installed).

Each contender is a per-frame classifier: frames (batch, time, features) ->
recurrent layer (units) -> softmax over classes at every frame, trained with
plain SGD. After warm-up, the contenders take turns, `--repeats` rounds of
`--iterations` training steps each, and the table shows the median sequences
per second, the median of each round's ratio to the Keras layer of that
round, and the range of those ratios over the rounds. The zoo's layers run
twice: with the native kernel that training uses by default
(zoo/layers/native_kernel.cc), and with the TensorFlow-ops loop it falls
back to (zoo/layers/recurrence.py).
Before timing, each is given Keras's weights and its training-mode outputs
and gradients compared.

    python bench/layers.py            # the issue's shapes: batch 64, 100 steps, 39 -> 128 -> 61
    python bench/layers.py --quick    # a fast smoke run
"""

import argparse
import contextlib
import os
import statistics
import time
import unittest.mock

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)

import numpy as np
import tensorflow as tf
import keras

from zoo.layers import BasicRNN, Bidirectional
from zoo.layers import native_kernel


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100)
    parser.add_argument("--features", type=int, default=39)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--classes", type=int, default=61)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per contender")
    parser.add_argument("--iterations", type=int, default=10, help="training steps per round")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few rounds, for a smoke test")
    arguments = parser.parse_args()
    sizes = ("batch_size", "time_steps", "features", "units", "classes", "repeats", "iterations")
    if min(getattr(arguments, name) for name in sizes) < 1:
        parser.error(f"--{', --'.join(name.replace('_', '-') for name in sizes)} must be positive integers")
    if arguments.quick:
        arguments.batch_size, arguments.time_steps, arguments.units = 8, 12, 16
        arguments.repeats, arguments.iterations = 2, 2
    return arguments


def frame_classifier(recurrent_layer, arguments):
    inputs = keras.Input((None, arguments.features))
    hidden = recurrent_layer(inputs)
    outputs = keras.layers.Dense(arguments.classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


def kernel_choice(native):
    """A context in which the zoo's layers trace with or without the native kernel (read while tracing)."""
    if native:
        return contextlib.nullcontext()
    return unittest.mock.patch.dict(os.environ, {native_kernel.SWITCH: "0"})


def keras_training_step(model, frames, labels, native=True):
    """A compiled SGD step for `model`, traced here, with or without the zoo's native kernel."""
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

    with kernel_choice(native):
        step.get_concrete_function(frames, labels)
    return lambda frames, labels: step(frames, labels).numpy()


def torch_training_step(arguments, bidirectional):
    import torch

    class FrameClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(arguments.features, arguments.units, batch_first=True, bidirectional=bidirectional)
            self.output = torch.nn.Linear(arguments.units, arguments.classes)

        def forward(self, frames):
            hidden, _ = self.rnn(frames)
            if bidirectional:  # merge by sum, like the Keras contenders
                hidden = hidden[..., : arguments.units] + hidden[..., arguments.units :]
            return self.output(hidden)

    model = FrameClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_function = torch.nn.CrossEntropyLoss()

    def step(frames, labels):
        optimizer.zero_grad()
        logits = model(frames)
        loss = loss_function(logits.reshape(-1, arguments.classes), labels.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def check_same_numerics(ours, theirs, frames, labels, native=True):
    """Gives `ours` the weights of `theirs`; returns max |difference| of training-mode outputs and of gradients."""
    ours.set_weights(theirs.get_weights())
    loss_function = keras.losses.SparseCategoricalCrossentropy()
    results = []
    for model in (ours, theirs):
        with tf.GradientTape() as tape, kernel_choice(native):
            outputs = model(frames, training=True)
            loss = loss_function(labels, outputs)
        results.append((outputs, tape.gradient(loss, model.trainable_variables)))
    (our_outputs, our_gradients), (their_outputs, their_gradients) = results
    output_difference = float(tf.reduce_max(tf.abs(our_outputs - their_outputs)))
    gradient_difference = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(our_gradients, their_gradients))
    return output_difference, gradient_difference


def main():
    arguments = parse_arguments()
    rng = np.random.default_rng(0)
    shape = (arguments.batch_size, arguments.time_steps, arguments.features)
    frames = tf.constant(rng.normal(size=shape).astype("float32"))
    labels = tf.constant(rng.integers(0, arguments.classes, size=shape[:2]))
    units = arguments.units

    keras_uni = frame_classifier(keras.layers.SimpleRNN(units, return_sequences=True), arguments)
    keras_bi = frame_classifier(
        keras.layers.Bidirectional(keras.layers.SimpleRNN(units, return_sequences=True), merge_mode="sum"), arguments
    )
    zoo_layers = {
        "uni": lambda: BasicRNN(units, return_sequences=True),
        "bi": lambda: Bidirectional(BasicRNN(units, return_sequences=True)),
    }
    zoo_models = {
        (kind, native): frame_classifier(make_layer(), arguments)
        for kind, make_layer in zoo_layers.items()
        for native in (True, False)
    }
    names = {"uni": "zoo BasicRNN", "bi": "zoo Bidirectional(BasicRNN)"}
    loops = {True: "native kernel", False: "TensorFlow ops"}

    print(f"shapes: batch {arguments.batch_size}, {arguments.time_steps} steps, {arguments.features} inputs, "
          f"{units} units, softmax over {arguments.classes} classes; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    if native_kernel.library() is None:
        print("the native kernel could not be built (see the warning above): "
              "its rows time the TensorFlow-ops loop")
    for (kind, native), ours in zoo_models.items():
        theirs = keras_uni if kind == "uni" else keras_bi
        output_difference, gradient_difference = check_same_numerics(ours, theirs, frames, labels, native)
        print(f"{names[kind]}, {loops[native]}, vs Keras with the same weights: "
              f"max |output diff| {output_difference:.1e}, max |gradient diff| {gradient_difference:.1e}")

    contenders = {"keras SimpleRNN": ("uni", keras_training_step(keras_uni, frames, labels))}
    for native in (True, False):
        contenders[f"{names['uni']}, {loops[native]}"] = (
            "uni", keras_training_step(zoo_models["uni", native], frames, labels, native)
        )
    contenders["keras Bidirectional(SimpleRNN, sum)"] = ("bi", keras_training_step(keras_bi, frames, labels))
    for native in (True, False):
        contenders[f"{names['bi']}, {loops[native]}"] = (
            "bi", keras_training_step(zoo_models["bi", native], frames, labels, native)
        )
    torch_inputs = None
    try:
        import torch

        torch.manual_seed(0)
        torch_inputs = (torch.from_numpy(frames.numpy()), torch.from_numpy(labels.numpy()))
        contenders["torch nn.RNN"] = ("uni", torch_training_step(arguments, bidirectional=False))
        contenders["torch nn.RNN(bidirectional, sum)"] = ("bi", torch_training_step(arguments, bidirectional=True))
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        print("PyTorch not installed: its rows are left out")

    def inputs_for(name):
        return torch_inputs if name.startswith("torch") else (frames, labels)

    for name, (_, step) in contenders.items():
        for _ in range(3):
            step(*inputs_for(name))

    throughput = {name: [] for name in contenders}
    for _ in range(arguments.repeats):
        for name, (_, step) in contenders.items():
            step_inputs = inputs_for(name)
            start = time.perf_counter()
            for _ in range(arguments.iterations):
                step(*step_inputs)
            throughput[name].append(arguments.iterations * arguments.batch_size / (time.perf_counter() - start))

    # Each round's ratio to the Keras layer timed in the same round: the machine's speed
    # drifts between rounds, and a ratio of neighbours cancels most of that drift.
    baselines = {"uni": throughput["keras SimpleRNN"], "bi": throughput["keras Bidirectional(SimpleRNN, sum)"]}
    print(f"\n{'training throughput':45s} {'sequences/s':>12s} {'vs Keras':>9s} {'rounds range':>13s}")
    for name, (kind, _) in contenders.items():
        ratios = [ours / theirs for ours, theirs in zip(throughput[name], baselines[kind])]
        print(f"{name:45s} {statistics.median(throughput[name]):12.0f} {statistics.median(ratios):8.2f}x "
              f"{min(ratios):6.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()
