"""SPEC §8 against the literature's own test: the adding problem, and why the LSTM fails remember-the-first-symbol.

The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015;
Arjovsky, Shah & Bengio 2016): each frame holds a number drawn uniformly from
[0, 1] and a marker, 1 on exactly two frames (one in the first half of the
sequence, one in the second) and 0 elsewhere; after the last of T frames the
model must output the sum of the two marked numbers. Always answering 1 scores
the variance of that sum, an MSE of 1/6 ≈ 0.167: the baseline a model that
carries nothing over T steps is stuck at.

Each cell (`zoo.models.cells.recurrent`: the zoo's BasicRNN, LSTM and
GRU; the same units, then one linear output) trains on fresh batches with Adam
clipped at norm 1.0, for every T. The LSTM keeps Keras's
`unit_forget_bias=True` (forget-gate bias 1, as Jozefowicz et al. 2015
recommend). Learning rates are swept per cell and T on seed 0; the rate with
the lowest training MSE over the last tenth of the steps (fresh data each
step, so an unbiased estimate) then runs the other seeds. Every model is scored on held-out sequences (the same for every
cell and seed of a T) during training. Then the LSTM runs once more per seed at
its chosen rate with a larger forget-gate bias (--forget-biases), its only change.

The second part reruns claim 4's failing case, the LSTM on remember the first
symbol at k = 40 (experiments/vanishing_gradients.py's task and budget: 32
units, batches of 32, Adam at 0.003 unclipped, 3,000 steps), with the
forget-gate bias at Keras's 1 and at the larger values. For every LSTM it records
its gates on held-out sequences: the mean input gate on the frames that matter
(marked frames; the first symbol) and on the rest, the mean forget gate, and
the memory span: log10 of the product of the forget gates from the frame that
matters to the end, for the unit that keeps the most (averaged over sequences).

    python experiments/adding_problem.py            # the full run: 47 min 51 s under load 5-12 (20.5 min of CPU)
    python experiments/adding_problem.py --quick    # seconds; checks the script runs, not the claim

Writes to --out (default experiments/results/adding_problem/):
  results.csv       one row per variant, T, learning rate and seed: final test MSE (and the test set's MSE of
                    answering 1), training MSE over the last tenth of the steps, parameters, seconds
  curves.csv        one row per run and evaluation: steps so far, test MSE
  mse.png           test MSE against steps at each cell's chosen rate, one panel per T, baseline marked
  first_symbol.csv  one row per forget-gate bias and seed of the LSTM at k = 40: test accuracy
  gates.csv         one row per LSTM (both tasks): input- and forget-gate means and memory span
"""

import time

from experiments import common  # first: it quiets TensorFlow's start-up logging

import keras
import numpy as np
import tensorflow as tf

from experiments import vanishing_gradients
from zoo.models.cells import CELLS, recurrent

BASELINE = 1 / 6
FEATURES = 2
TEST_SEQUENCES = 1000
GATE_SEQUENCES = 256
CLIPNORM = 1.0

FULL = dict(
    lengths=(50, 100, 200), units=64, steps=1500, batch_size=50, learning_rates=(0.001, 0.003, 0.01), seeds=2,
    evaluations=15, distance=40, forget_biases=(5.0,), first_symbol_steps=3000, first_symbol_seeds=2,
)
QUICK = dict(
    lengths=(6,), units=4, steps=6, batch_size=8, learning_rates=(0.003, 0.01), seeds=1,
    evaluations=2, distance=4, forget_biases=(5.0,), first_symbol_steps=4, first_symbol_seeds=1,
)
# Claim 4's setup of the first-symbol task (experiments/vanishing_gradients.py FULL), kept as it was so
# that only the forget-gate bias changes.
FIRST_SYMBOL = dict(units=32, batch_size=32, learning_rate=0.003)


def parse_arguments(argv=None):
    arguments = common.parser(__doc__, "adding_problem")
    arguments.add_argument("--lengths", type=int, nargs="+", help=f"values of T (default {FULL['lengths']})")
    arguments.add_argument("--cells", nargs="+", choices=CELLS, help="cells to train (default: all)")
    arguments.add_argument("--units", type=int, help=f"units of every cell (default {FULL['units']})")
    arguments.add_argument("--steps", type=int, help=f"training steps per model (default {FULL['steps']})")
    arguments.add_argument("--batch-size", type=int, help=f"sequences per step (default {FULL['batch_size']})")
    arguments.add_argument("--learning-rates", type=float, nargs="+",
                           help=f"Adam's, swept on seed 0 (default {FULL['learning_rates']})")
    arguments.add_argument("--forget-biases", type=float, nargs="+",
                           help=f"LSTM forget-gate biases tried besides Keras's 1 (default {FULL['forget_biases']})")
    arguments.add_argument("--first-symbol-steps", type=int,
                           help=f"training steps on the first-symbol task (default {FULL['first_symbol_steps']})")
    parsed = arguments.parse_args(argv)
    defaults = QUICK if parsed.quick else FULL
    for name, value in defaults.items():
        if getattr(parsed, name, None) is None:
            setattr(parsed, name, value)
    parsed.cells = parsed.cells or list(CELLS)
    for name in ("units", "steps", "seeds", "batch_size", "first_symbol_steps"):
        if getattr(parsed, name) < 1:
            arguments.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(parsed, name)}.")
    if min(parsed.learning_rates) <= 0:
        arguments.error(f"--learning-rates must all be positive, got {parsed.learning_rates}.")
    if min(parsed.lengths) < 2:
        arguments.error(f"--lengths must all be at least 2 (a marker in each half), got {parsed.lengths}.")
    return parsed


def adding(count, length, rng):
    """`count` sequences (count, length, 2) of [number, marker] frames, and their targets (count, 1): the marked sum."""
    if length < 2:
        raise ValueError(f"The adding problem needs a length of at least 2 (a marker in each half), got {length}.")
    numbers = rng.uniform(0, 1, (count, length))
    half = length // 2
    rows = np.arange(count)
    markers = np.zeros((count, length))
    markers[rows, rng.integers(0, half, count)] = 1
    markers[rows, rng.integers(half, length, count)] = 1
    frames = np.stack([numbers, markers], axis=-1).astype("float32")
    return frames, (numbers * markers).sum(axis=1, keepdims=True).astype("float32")


def forget_bias(value):
    """A bias initialiser for Keras's LSTM (gates i, f, c, o) that sets the forget gate's to `value`, the rest to 0."""
    def initialise(shape, dtype=None):
        units = shape[0] // 4
        return tf.concat([tf.zeros(units), tf.fill([units], float(value)), tf.zeros(2 * units)], 0)

    return initialise


def build(cell, units, features, outputs, activation=None, lstm_forget_bias=None):
    """`cell` then a dense output; `lstm_forget_bias` replaces Keras's forget-gate bias of 1 (LSTM only)."""
    options = {}
    if lstm_forget_bias is not None:
        if cell != "lstm":
            raise ValueError(f"A forget-gate bias is for the LSTM only, not the {cell!r} cell.")
        options = dict(unit_forget_bias=False, bias_initializer=forget_bias(lstm_forget_bias))
    frames = keras.Input((None, features), name="frames")
    state = recurrent(cell, units, name="recurrent", **options)(frames)
    return keras.Model(frames, keras.layers.Dense(outputs, activation=activation, name="output")(state))


def lstm_gates(layer, frames):
    """The input and forget gates (sequences, time, units) of the LSTM `layer` (Keras layout) running over `frames`.

    Recomputed in numpy from the layer's weights, since Keras returns only h; the last h is returned too,
    so a caller can check it against the layer's own output.
    """
    kernel, recurrent_kernel, bias = (weight.numpy() for weight in layer.cell.weights)
    units = recurrent_kernel.shape[0]
    frames = np.asarray(frames)
    h = np.zeros((len(frames), units), "float32")
    c = np.zeros_like(h)
    inputs, forgets = [], []
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for frame in np.moveaxis(frames, 1, 0):
        z = frame @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
        c = f * c + i * np.tanh(g)
        h = o * np.tanh(c)
        inputs.append(i)
        forgets.append(f)
    return np.stack(inputs, 1), np.stack(forgets, 1), h


def gate_statistics(layer, frames, kept):
    """Gate means on the frames that matter (`kept`, (sequences, time) booleans) and the rest, and the memory span.

    The span follows each sequence's first such frame to the end: log10 of the product of the later forget
    gates, the fraction of what that frame wrote to the cell that is still there at the answer, for the unit
    that keeps the most.
    """
    inputs, forgets, _ = lstm_gates(layer, frames)
    first = kept.argmax(axis=1)
    later = np.arange(kept.shape[1])[None, :] > first[:, None]
    log_forgets = np.log10(np.maximum(forgets, 1e-30))
    span = (log_forgets * later[..., None]).sum(axis=1).mean(axis=0).max()
    return dict(
        input_gate_kept=round(float(inputs[kept].mean()), 4), input_gate_rest=round(float(inputs[~kept].mean()), 4),
        forget_gate_mean=round(float(forgets.mean()), 4), log10_memory_span=round(float(span), 2),
    )


def trainer(model, loss, learning_rate, clipnorm):
    """One compiled training step of `model` on a batch: Adam, clipped at `clipnorm` (None: not clipped)."""
    optimiser = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)

    @tf.function(reduce_retracing=True)
    def step(frames, targets):
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss(targets, model(frames, training=True)))
        optimiser.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
        return value

    return step


def mean_squared_error(targets, predictions):
    return tf.reduce_mean(tf.square(predictions - targets), axis=-1)


def variant(cell, bias):
    return cell if bias is None else f"{cell}, forget bias {bias:g}"


def train_adding(cell, length, learning_rate, seed, arguments, bias=None):
    """Trains one model on the adding problem; returns its results row, its curve rows and its gate row (LSTM).

    `bias`: the LSTM's forget-gate bias, if not Keras's 1.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng([seed, length])
    # The test sequences depend on T alone, so every cell, rate and seed is scored on the same ones.
    test_frames, test_targets = adding(TEST_SEQUENCES, length, np.random.default_rng([1_000_000, length]))
    model = build(cell, arguments.units, FEATURES, 1, lstm_forget_bias=bias)
    step = trainer(model, mean_squared_error, learning_rate, CLIPNORM)
    predict = tf.function(lambda frames: model(frames, training=False))

    def test_mse():
        return float(np.mean((predict(test_frames).numpy() - test_targets) ** 2))

    checkpoints = set(np.linspace(0, arguments.steps, arguments.evaluations + 1).round().astype(int)[1:])
    curve = [dict(step=0, test_mse=round(test_mse(), 5))]
    losses = []
    start = time.perf_counter()
    for index in range(1, arguments.steps + 1):
        losses.append(float(step(*adding(arguments.batch_size, length, rng))))
        if index in checkpoints:
            curve.append(dict(step=index, test_mse=round(test_mse(), 5)))
    seconds = time.perf_counter() - start
    run = dict(variant=variant(cell, bias), T=length, learning_rate=learning_rate, seed=seed)
    row = dict(
        **run, test_mse=curve[-1]["test_mse"], test_mse_answering_1=round(float(np.mean((1 - test_targets) ** 2)), 5),
        final_training_mse=round(float(np.mean(losses[-max(1, len(losses) // 10):])), 5),
        parameters=model.count_params(), units=arguments.units, steps=arguments.steps,
        batch_size=arguments.batch_size, training_seconds=round(seconds, 1),
    )
    gates = None
    if cell == "lstm":
        frames = test_frames[:GATE_SEQUENCES]
        gates = dict(
            task="adding", T=length, forget_bias=1.0 if bias is None else bias, learning_rate=learning_rate,
            seed=seed, score=row["test_mse"],
            **gate_statistics(model.get_layer("recurrent"), frames, frames[..., 1] == 1),
        )
    return row, [dict(**run, **point) for point in curve], gates


def train_first_symbol(bias, seed, arguments):
    """The LSTM on remember-the-first-symbol at k = `arguments.distance` with forget-gate bias `bias`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    distance = arguments.distance
    rng = np.random.default_rng([seed, distance])
    # vanishing_gradients' own test sequences for this k.
    test_tokens, test_answers = vanishing_gradients.remember_first(
        vanishing_gradients.TEST_SEQUENCES, distance, np.random.default_rng([1_000_000, distance]))
    test_frames = vanishing_gradients.one_hot(test_tokens).numpy()
    units, batch_size, learning_rate = (FIRST_SYMBOL[name] for name in ("units", "batch_size", "learning_rate"))
    if arguments.quick:
        units, batch_size = arguments.units, arguments.batch_size
    model = build("lstm", units, vanishing_gradients.FEATURES, vanishing_gradients.SYMBOLS, "softmax", bias)
    step = trainer(model, keras.losses.sparse_categorical_crossentropy, learning_rate, None)
    start = time.perf_counter()
    for _ in range(arguments.first_symbol_steps):
        tokens, answers = vanishing_gradients.remember_first(batch_size, distance, rng)
        step(vanishing_gradients.one_hot(tokens), answers)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(test_frames, batch_size=256, verbose=0).argmax(-1) == test_answers))
    row = dict(
        k=distance, forget_bias=bias, seed=seed, accuracy=round(accuracy, 4), chance=vanishing_gradients.CHANCE,
        units=units, steps=arguments.first_symbol_steps, batch_size=batch_size, learning_rate=learning_rate,
        training_seconds=round(seconds, 1),
    )
    frames = test_frames[:GATE_SEQUENCES]
    kept = np.zeros(frames.shape[:2], bool)
    kept[:, 0] = True
    gates = dict(task="first_symbol", T=distance + 1, forget_bias=bias, learning_rate=learning_rate, seed=seed,
                 score=row["accuracy"], **gate_statistics(model.get_layer("recurrent"), frames, kept))
    return row, gates


def chosen_rates(rows):
    """Per (variant, T), the seed-0 learning rate with the lowest final training MSE."""
    best = {}
    for row in rows:
        key = (row["variant"], row["T"])
        if row["seed"] == 0 and (key not in best or row["final_training_mse"] < best[key]["final_training_mse"]):
            best[key] = row
    return {key: row["learning_rate"] for key, row in best.items()}


def plot_mse(curve_rows, rates, lengths, pyplot):
    names = list(dict.fromkeys(row["variant"] for row in curve_rows))
    figure, panels = pyplot.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 4), sharey=True, squeeze=False)
    for panel, length in zip(panels[0], lengths):
        for name, color in zip(names, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")):
            rate = rates[name, length]
            runs = [row for row in curve_rows
                    if (row["variant"], row["T"], row["learning_rate"]) == (name, length, rate)]
            seeds = sorted({row["seed"] for row in runs})
            curves = np.array([[row["test_mse"] for row in runs if row["seed"] == seed] for seed in seeds])
            steps = [row["step"] for row in runs if row["seed"] == seeds[0]]
            panel.plot(steps, curves.mean(axis=0), color=color, label=f"{name}, rate {rate:g}")
            # Each seed faintly: a mean can hide one seed that solved it and one that did not.
            for curve in curves:
                panel.plot(steps, curve, color=color, alpha=0.3, linewidth=0.8)
        panel.axhline(BASELINE, color="gray", linestyle="--", label="baseline (answer 1): 0.167")
        panel.set_yscale("log")
        panel.set_xlabel("training steps")
        panel.set_title(f"T = {length}")
        panel.grid(alpha=0.3)
        # On every panel: the chosen rates differ between lengths.
        panel.legend(fontsize=7, loc="lower left")
    panels[0][0].set_ylabel("test MSE (mean over seeds; faint: each seed)")
    figure.suptitle("The adding problem: MSE against training steps")
    return figure


def main(argv=None):
    arguments = parse_arguments(argv)
    lengths = sorted(arguments.lengths)
    rows, curve_rows, gate_rows = [], [], []

    def run(cell, length, rate, seed, bias=None):
        row, curve, gates = train_adding(cell, length, rate, seed, arguments, bias)
        rows.append(row)
        curve_rows.extend(curve)
        if gates is not None:
            gate_rows.append(gates)
        print(f"{row['variant']} T={length} rate={rate:g} seed={seed}: test MSE {row['test_mse']:.4f} "
              f"in {row['training_seconds']} s", flush=True)

    for length in lengths:
        for cell in arguments.cells:
            for rate in arguments.learning_rates:
                run(cell, length, rate, 0)
    rates = chosen_rates(rows)
    for length in lengths:
        for cell in arguments.cells:
            for seed in range(1, arguments.seeds):
                run(cell, length, rates[cell, length], seed)
    if "lstm" in arguments.cells:
        # At the rate chosen for Keras's bias, so that the bias is the only change.
        for bias in arguments.forget_biases:
            for length in lengths:
                rates[variant("lstm", bias), length] = rates["lstm", length]
                for seed in range(arguments.seeds):
                    run("lstm", length, rates["lstm", length], seed, bias)
    for row in rows:
        row["chosen_rate"] = row["learning_rate"] == rates[row["variant"], row["T"]]

    first_symbol_rows = []
    for bias in (1.0, *arguments.forget_biases):
        for seed in range(arguments.first_symbol_seeds):
            row, gates = train_first_symbol(bias, seed, arguments)
            first_symbol_rows.append(row)
            gate_rows.append(gates)
            print(f"lstm first symbol k={row['k']} forget bias {bias:g} seed={seed}: accuracy {row['accuracy']:.3f}, "
                  f"memory span 10^{gates['log10_memory_span']} in {row['training_seconds']} s", flush=True)

    pyplot = common.pyplot()
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "curves.csv", curve_rows)
    common.write_csv(arguments.out / "first_symbol.csv", first_symbol_rows)
    common.write_csv(arguments.out / "gates.csv", gate_rows)
    common.save_figure(plot_mse(curve_rows, rates, lengths, pyplot), arguments.out / "mse.png")
    print(f"Wrote results.csv, curves.csv, first_symbol.csv, gates.csv and mse.png to {arguments.out}")


if __name__ == "__main__":
    # One thread ran these loops' many small per-frame ops faster than two on this 2-core machine
    # (38 against 82 ms a step for the LSTM at T = 200), and leaves the other core to other jobs.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    main()
