"""SPEC §8: can the basic recurrent layer carry a symbol k steps, and can LSTM and GRU?

The task, "remember the first symbol": a sequence starts with one of 8
symbols and goes on with k distractors drawn from 8 other symbols, all
one-hot (16 features); after the last frame the model must name the first
symbol. Nothing after the first frame helps, so the answer lies exactly k
steps before the output, and a model that cannot carry it that far can only
guess: chance accuracy is 1/8. Each cell (`zoo.models.cells.recurrent`: the
zoo's BasicRNN, LSTM and GRU) gets the same units, optimiser (Adam;
the basic cell clipped at norm 1.0 as in the zoo) and number of training
steps on fresh sequences, for every k and seed, and is scored on 1,024
held-out sequences.

The second measurement is the gradient through time: the mean over 256
held-out sequences of ||dloss/dx_t||, the gradient of the loss with respect
to the input frame `distance` steps before the output, for the models of the
longest k, freshly initialised and after training. A vanishing gradient
falls exponentially with the distance.

    python experiments/vanishing_gradients.py            # the full run: 13 min on 2 idle cores (31 min while shared)
    python experiments/vanishing_gradients.py --quick    # seconds; checks the script runs, not the claim

Writes to --out (default experiments/results/vanishing_gradients/):
  results.csv     one row per cell, k and seed: test accuracy, training loss (mean over all steps), parameters, seconds
  accuracy.png    mean test accuracy against k, one line per cell, chance marked
  gradients.csv   one row per cell, seed, stage (initial, trained) and distance: the gradient norm
  gradients.png   gradient norm against distance from the output, log scale
"""

import time

from experiments import common  # first: it quiets TensorFlow's start-up logging

import keras
import numpy as np
import tensorflow as tf

from zoo.models.cells import CELLS, recurrent
from zoo.settings import Settings

SYMBOLS = 8
DISTRACTORS = 8
FEATURES = SYMBOLS + DISTRACTORS
CHANCE = 1 / SYMBOLS
TEST_SEQUENCES = 1024
GRADIENT_SEQUENCES = 256

FULL = dict(distances=(5, 10, 20, 40, 80), units=32, steps=3000, batch_size=32, learning_rate=0.003, seeds=2)
QUICK = dict(distances=(2, 4), units=4, steps=5, batch_size=8, learning_rate=0.003, seeds=1)


def parse_arguments(argv=None):
    arguments = common.parser(__doc__, "vanishing_gradients")
    arguments.add_argument("--distances", type=int, nargs="+", help=f"values of k (default {FULL['distances']})")
    arguments.add_argument("--units", type=int, help=f"units of every cell (default {FULL['units']})")
    arguments.add_argument("--steps", type=int, help=f"training steps per model (default {FULL['steps']})")
    arguments.add_argument("--batch-size", type=int, help=f"sequences per step (default {FULL['batch_size']})")
    arguments.add_argument("--learning-rate", type=float, help=f"Adam's (default {FULL['learning_rate']})")
    parsed = arguments.parse_args(argv)
    defaults = QUICK if parsed.quick else FULL
    for name in ("distances", "units", "steps", "seeds", "batch_size", "learning_rate"):
        if getattr(parsed, name) is None:
            setattr(parsed, name, defaults[name])
    for name in ("units", "steps", "seeds", "batch_size"):
        if getattr(parsed, name) < 1:
            arguments.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(parsed, name)}.")
    if parsed.learning_rate <= 0:
        arguments.error(f"--learning-rate must be positive, got {parsed.learning_rate}.")
    if min(parsed.distances) < 1:
        arguments.error(f"--distances must all be at least 1, got {parsed.distances}.")
    return parsed


def remember_first(count, distance, rng):
    """`count` sequences of 1 + `distance` token ids (one-hot them for the model), and the answers: the first ids."""
    answers = rng.integers(0, SYMBOLS, count)
    distractors = rng.integers(SYMBOLS, FEATURES, (count, distance))
    return np.concatenate([answers[:, None], distractors], axis=1), answers


def one_hot(tokens):
    return tf.one_hot(tokens, FEATURES)


def build(cell, units):
    frames = keras.Input((None, FEATURES), name="frames")
    state = recurrent(cell, units, name="recurrent")(frames)
    return keras.Model(frames, keras.layers.Dense(SYMBOLS, activation="softmax", name="output")(state))


def gradient_by_distance(model, frames, answers):
    """The mean over sequences of ||dloss/dx_t||, indexed by the distance of frame t from the output."""
    frames = tf.convert_to_tensor(frames)
    with tf.GradientTape() as tape:
        tape.watch(frames)
        # Summed, not averaged: each sequence's frames then get its own loss's gradient.
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(answers, model(frames)))
    norms = tf.norm(tape.gradient(loss, frames), axis=-1)
    return tf.reduce_mean(norms, axis=0).numpy()[::-1]


def train_and_test(cell, distance, seed, arguments):
    """Trains and scores one model; returns its results row and its `gradient_by_distance` before and after training."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng([seed, distance])
    # The test sequences depend on k alone, so every cell and seed is scored on the same ones.
    test_tokens, test_answers = remember_first(TEST_SEQUENCES, distance, np.random.default_rng([1_000_000, distance]))
    test_frames = one_hot(test_tokens)
    gradient_frames, gradient_answers = test_frames[:GRADIENT_SEQUENCES], test_answers[:GRADIENT_SEQUENCES]

    model = build(cell, arguments.units)
    initial_gradient = gradient_by_distance(model, gradient_frames, gradient_answers)
    clipnorm = Settings(cell=cell).resolved_clipnorm()
    model.compile(keras.optimizers.Adam(arguments.learning_rate, clipnorm=clipnorm), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # Token ids, one-hot a batch at a time: all the frames at once would take gigabytes.
    training = tf.data.Dataset.from_tensor_slices(remember_first(arguments.steps * arguments.batch_size, distance, rng))
    training = training.batch(arguments.batch_size).map(lambda tokens, answers: (one_hot(tokens), answers))
    start = time.perf_counter()
    history = model.fit(training, epochs=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(test_frames, test_answers, batch_size=256, verbose=0)
    row = dict(
        cell=cell, k=distance, seed=seed, accuracy=round(accuracy, 4), chance=CHANCE,
        mean_training_loss=round(history.history["loss"][-1], 4), parameters=model.count_params(),
        units=arguments.units, steps=arguments.steps, batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate, training_seconds=round(seconds, 1),
    )
    trained_gradient = gradient_by_distance(model, gradient_frames, gradient_answers)
    return row, initial_gradient, trained_gradient


def plot_accuracy(rows, distances, pyplot):
    figure, axes = pyplot.subplots(figsize=(6, 4))
    # Distinct markers and dashes: where every cell scores the same, the lines lie on top of each other.
    for cell, marker, line_style in zip(CELLS, "os^", ("-", "--", ":")):
        means = [np.mean([row["accuracy"] for row in rows if row["cell"] == cell and row["k"] == k]) for k in distances]
        axes.plot(distances, means, marker=marker, linestyle=line_style, markerfacecolor="none", label=cell)
    axes.axhline(CHANCE, color="gray", linestyle="--", label=f"chance (1/{SYMBOLS})")
    axes.set_xscale("log", base=2)
    axes.set_xticks(distances, [str(k) for k in distances])
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("k: steps between the symbol and the answer")
    axes.set_ylabel("test accuracy (mean over seeds)")
    axes.set_title("Remember the first symbol across k distractors")
    axes.legend()
    return figure


def plot_gradients(gradient_rows, distance, pyplot):
    figure, panels = pyplot.subplots(1, 2, figsize=(11, 4), sharey=True)
    for panel, stage in zip(panels, ("initial", "trained")):
        for cell in CELLS:
            norms = np.array([
                [row["gradient_norm"] for row in gradient_rows
                 if row["cell"] == cell and row["stage"] == stage and row["seed"] == seed]
                for seed in sorted({row["seed"] for row in gradient_rows})
            ])
            # Geometric mean over seeds: the norms span orders of magnitude.
            panel.plot(np.arange(norms.shape[1]), np.exp(np.log(norms).mean(axis=0)), label=cell)
        panel.set_yscale("log")
        panel.set_xlabel("distance of frame t from the output (steps)")
        panel.set_title(f"{'freshly initialised' if stage == 'initial' else 'after training'}, k = {distance}")
        panel.legend()
    panels[0].set_ylabel("||dloss / dx_t||, mean over 256 sequences")
    return figure


def main(argv=None):
    arguments = parse_arguments(argv)
    longest = max(arguments.distances)
    rows, gradient_rows = [], []
    for distance in sorted(arguments.distances):
        for cell in CELLS:
            for seed in range(arguments.seeds):
                row, initial, trained = train_and_test(cell, distance, seed, arguments)
                rows.append(row)
                print(f"{cell:5s} k={distance:3d} seed={seed}: accuracy {row['accuracy']:.3f} "
                      f"in {row['training_seconds']} s", flush=True)
                if distance == longest:
                    for stage, norms in (("initial", initial), ("trained", trained)):
                        gradient_rows += [
                            dict(cell=cell, k=distance, seed=seed, stage=stage, distance=index,
                                 gradient_norm=float(norm))
                            for index, norm in enumerate(norms)
                        ]
    pyplot = common.pyplot()
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "gradients.csv", gradient_rows)
    common.save_figure(plot_accuracy(rows, sorted(arguments.distances), pyplot), arguments.out / "accuracy.png")
    common.save_figure(plot_gradients(gradient_rows, longest, pyplot), arguments.out / "gradients.png")
    print(f"Wrote results.csv, gradients.csv, accuracy.png and gradients.png to {arguments.out}")


if __name__ == "__main__":
    main()
