"""What every experiment shares: its command line, training in memory, and writing its CSV and plots.

    arguments = common.parser(__doc__, "data_efficiency").parse_args()
    result = common.train_and_test(settings.for_model("framewise", limit=24, seed=0))
    common.write_csv(arguments.out / "results.csv", rows)
    common.save_figure(figure, arguments.out / "accuracy.png")
"""

import argparse
import csv
import dataclasses
import pathlib
import statistics
import time

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)
from zoo import atomic

RESULTS = pathlib.Path(__file__).parent / "results"
# The settings `zoo.data.prepare` reads: runs that agree on them can share one prepared dataset.
DATA_SETTINGS = ("dataset", "data_dir", "tokens", "seed", "limit", "batch_size", "max_length", "sequence_length")
_prepared = {}


def parser(description, name):
    """The options every experiment takes: --quick, --seeds and --out (default experiments/results/NAME)."""
    arguments = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument(
        "--quick", action="store_true", help="tiny data and few steps: checks the script runs, not the claim"
    )
    arguments.add_argument("--seeds", type=int, help="seeds per setting (default: the experiment's; 1 with --quick)")
    arguments.add_argument(
        "--out", type=pathlib.Path, default=RESULTS / name, help="folder for the CSV and plots (default: %(default)s)"
    )
    return arguments


def write_csv(path, rows):
    """Writes a list of dicts, one row each, with the first row's keys as the header."""
    if not rows:
        raise ValueError(f"No results to write to {path}.")
    with atomic.replacing(path) as temporary:
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def save_figure(figure, path):
    """Saves a matplotlib figure as PNG and closes it."""
    from matplotlib import pyplot

    with atomic.replacing(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight")
    pyplot.close(figure)


def pyplot():
    """matplotlib's pyplot on the Agg backend, which needs no display."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def prepare(task, settings):
    """`zoo.data.prepare`, once per task and data settings: loading and vocabularies cost seconds a run."""
    from zoo import data

    key = (task, *(getattr(settings, name) for name in DATA_SETTINGS))
    if key not in _prepared:
        _prepared[key] = data.prepare(task, settings)
    return _prepared[key]


def train_and_test(settings, steps_per_epoch=None, splits=("test",)):
    """Trains `settings.model` in memory and scores it on `splits` (the test split by default); writes nothing.

    `zoo.training`'s steps without the run folder, checkpoints and exports:
    early stopping on the validation loss, keeping the best epoch's weights.
    `steps_per_epoch` makes every epoch that many batches, passing over the
    training data as often as it takes (each pass in a new order), so a small
    training set gets as many updates as a large one. `splits` name batches
    of `prepare(...)`'s result; an experiment may add its own there first.
    Returns the test metrics (lists left out; another split's with its name
    in front, "validation_frame_accuracy") with "parameters", "epochs"
    (trained, including those after the best) and "seconds" (training only).
    """
    import keras

    from zoo import evaluation, models, training

    spec = models.get(settings.model)
    prepared = prepare(spec.task, settings)
    # A fresh graph per model keeps layer names and memory from piling up over dozens of runs.
    keras.backend.clear_session()
    settings, _ = training.plan(settings, prepared)
    model = training.build_and_compile(spec, prepared.info, settings)
    start = time.perf_counter()
    history, _ = training.fit(model, prepared, settings, training.make_callbacks(settings), verbose=0,
                              steps_per_epoch=steps_per_epoch)
    seconds = time.perf_counter() - start
    config = {"task": spec.task, "label_names": prepared.loaded.label_names}
    scores = {}
    for split in splits:
        metrics = evaluation.evaluate_keras(model, config, prepared, split)
        prefix = "" if split == "test" else f"{split}_"
        scores.update({prefix + key: value for key, value in metrics.items() if not isinstance(value, (list, dict))})
    return {
        **scores,
        "parameters": model.count_params(),
        "epochs": len(history.history["loss"]),
        "seconds": round(seconds, 1),
    }


def mean_and_std(values):
    """(mean, sample standard deviation); the deviation is 0 for a single value."""
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


# The two tasks of claims 2 and 3 (bidirectional layers): the model, its test metric, and the
# settings of a full run and of --quick. The full budgets are cut so that 3 seeds of every variant
# fit in the time: the speech model at most 12 epochs of batches of 32, stopping after 3 without a
# better validation loss; sentiment on the first 2,000 of its 13,891 training reviews, cut to 150
# characters, for 3 epochs instead of all of them, up to 300 characters, for 6; and with the
# sentiment settings these runs were made with (SENTIMENT_AS_RUN): the registry defaults moved to a
# GRU, 200,003 bigram buckets and a moving average of the weights after them.
SENTIMENT_AS_RUN = dict(cell="basic", bigram_buckets=20011, ema=0.0)
BIDIRECTIONAL_TASKS = {
    "speech frames": dict(
        model="framewise", metric="frame_accuracy",
        full=dict(batch_size=32, epochs=12, patience=3), quick=dict(limit=32, epochs=1, units=8),
    ),
    "sentiment": dict(
        model="sentiment", metric="accuracy",
        full=dict(limit=2000, max_length=150, epochs=3, **SENTIMENT_AS_RUN),
        quick=dict(limit=32, epochs=1, units=8, embedding_dim=8, **SENTIMENT_AS_RUN),
    ),
}


def parameters_of(settings):
    """The parameter count of `settings.model` built for its data, without training it."""
    from zoo import models

    spec = models.get(settings.model)
    return spec.build(prepare(spec.task, settings).info, settings).count_params()


def units_for_parameters(settings, budget):
    """The largest units, at most `settings.units`, whose model has no more than `budget` parameters."""
    for units in range(settings.units, 0, -1):
        if parameters_of(dataclasses.replace(settings, units=units)) <= budget:
            return units
    raise ValueError(f"No {settings.model} model has {budget:,} parameters or fewer.")


def summarise(rows, keys, metric):
    """One row per distinct value of `keys`: its parameters, seeds, and the metric's and seconds' mean and std."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    summary = []
    for values, runs in groups.items():
        mean, std = mean_and_std(run[metric] for run in runs)
        summary.append({
            **dict(zip(keys, values)), "parameters": runs[0]["parameters"], "seeds": len(runs),
            f"{metric}_mean": round(mean, 4), f"{metric}_std": round(std, 4),
            "seconds_mean": round(statistics.fmean(run["seconds"] for run in runs), 1),
        })
    return summary


def bar_plot(summary, variant, title, path):
    """One panel per task: a bar per `variant` value with its mean test accuracy, ± std, and its parameters."""
    tasks = list(dict.fromkeys(row["task"] for row in summary))
    bars = max(sum(row["task"] == task for row in summary) for task in tasks)
    figure, axes = pyplot().subplots(1, len(tasks), figsize=((1.5 * bars + 1) * len(tasks), 4), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        rows = [row for row in summary if row["task"] == task]
        means = [row["accuracy_mean"] for row in rows]
        stds = [row["accuracy_std"] for row in rows]
        axis.bar(range(len(rows)), means, yerr=stds, capsize=5, color="tab:blue", alpha=0.8)
        axis.set_xticks(range(len(rows)), [f"{row[variant]}\n{row['parameters']:,}\nparameters" for row in rows])
        # Differences are a point or two: a zoomed axis shows them, the labels give the values.
        low, high = min(m - s for m, s in zip(means, stds)), max(m + s for m, s in zip(means, stds))
        margin = max(high - low, 0.01)
        axis.set_ylim(max(0.0, low - margin), min(1.0, high + margin))
        for index, (mean, std) in enumerate(zip(means, stds)):
            axis.text(index, mean + std, f"{mean:.3f}", ha="center", va="bottom", fontsize=9)
        axis.set_title(f"{task}: test {BIDIRECTIONAL_TASKS[task]['metric'].replace('_', ' ')}")
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    save_figure(figure, path)
