"""Claim 1 (SPEC §1) where the article makes it: framewise phone classification on speech.

    python experiments/phone_classification.py            # the committed run: 140 runs, 80 min on 2 cores
    python experiments/phone_classification.py --quick    # a smoke test: 16 sentences, 1 epoch, 8 units

Trains `window_ffn` (windows of 3, 11 and 41 frames) and `framewise` (one
direction and bidirectional, the article's basic cell) on 1%, 2%, 5%, 10%,
25%, 50% and 100% of `phone_frames`' training sentences (39-dim MFCC frames, one of
40 phone labels on every frame), and scores frame accuracy on its two test
splits: `test`, a synthetic voice absent from training, and `test_real`, real
telephone speech of a speaker absent from training, labelled by a forced
aligner that itself agrees with exact labels on about 81% of frames.

Each contender is tuned at each size, as the literature compares them: seed 0
trains every setting of GRID (the same for all), the one with the best
validation frame accuracy is kept and trained again with seeds 1 and 2; the
tables and the plot give the kept setting's mean and standard deviation over
the three seeds. A fraction f trains on the first round(f * sentences)
sentences of the split as TFDS stores it (in the order of a hash of each
sentence's text, so a random sample; nested, and the same for every seed).

The budget is one for all: batches of BATCH_SIZE sentences, epochs of
STEPS_PER_EPOCH batches whatever the training-set size (a small set is passed
over many times), at most EPOCHS epochs, early stopping after PATIENCE epochs
without a better validation loss, keeping the best weights.

Writes results.csv (one row per run), summary.csv (the kept setting per model
and size: mean and standard deviation over seeds) and accuracy.png, which
also shows validation accuracy (new sentences read by the training voices).
Each finished run is saved to runs-so-far.csv in --out at once, and a run
already in --out's results.csv or runs-so-far.csv is not trained again:
repeat an interrupted command and it goes on from there, or add fractions or
seeds and rerun to extend the results (after changing the budget or the
grid, start a new --out).
"""

import csv
import dataclasses
import sys

from experiments import common
from zoo.settings import for_model

DATASET = "phone_frames"
FRACTIONS = (0.01, 0.02, 0.05, 0.10, 0.25, 0.50, 1.00)
QUICK_FRACTIONS = (1.0,)
# (label, model, settings that differ from the model's registry defaults)
MODELS = (
    ("window_ffn, 3 frames", "window_ffn", dict(window=3)),
    ("window_ffn, 11 frames", "window_ffn", dict(window=11)),
    ("window_ffn, 41 frames", "window_ffn", dict(window=41)),
    ("framewise, unidirectional", "framewise", dict(bidirectional=False, cell="basic")),
    ("framewise, bidirectional", "framewise", dict(bidirectional=True, cell="basic")),
)
# A small unregularised model and a large regularised one: the choice a smaller training set changes.
GRID = (dict(units=64, dropout=0.0), dict(units=256, dropout=0.3))
QUICK_GRID = (dict(units=8, dropout=0.0), dict(units=8, dropout=0.3))
SEEDS = 3
# Batches of 8 sentences hold about 2,800 frames, as many as the digit experiment's 32 utterances.
BATCH_SIZE, STEPS_PER_EPOCH, EPOCHS, PATIENCE = 8, 25, 12, 3
QUICK_BUDGET = dict(batch_size=4, epochs=1, patience=1)
QUICK_STEPS_PER_EPOCH = 2
QUICK_TOTAL = 16
SPLITS = ("validation", "test", "test_real")
FLOAT_COLUMNS = ("train_fraction", "dropout", "validation_accuracy", "test_accuracy", "test_real_accuracy", "seconds")
INT_COLUMNS = ("train_sentences", "train_frames", "units", "seed", "parameters", "epochs")


def training_sizes(fractions, total):
    """Sentences per fraction: at least one, at most all."""
    return [min(total, max(1, round(fraction * total))) for fraction in fractions]


def prepared_with_real_speech(settings):
    """`common.prepare` for `settings`, with batches of the `test_real` split added once."""
    import tensorflow_datasets as tfds

    from datasets import pipeline

    prepared = common.prepare("frames", settings)
    if "test_real" not in prepared.batches:
        real = tfds.builder(DATASET, data_dir=settings.data_dir).as_dataset(split="test_real")
        prepared.batches["test_real"] = pipeline.frame_batches(real, batch_size=settings.batch_size)
    return prepared


def count_training_data(settings):
    """(sentences, frames) of the training examples `settings` trains on."""
    prepared = prepared_with_real_speech(settings)
    lengths = [len(example["labels"]) for example in prepared.loaded.splits["train"].as_numpy_iterator()]
    return len(lengths), sum(lengths)


def run(settings, steps_per_epoch):
    prepared_with_real_speech(settings)
    return common.train_and_test(settings, steps_per_epoch, splits=SPLITS)


def read_runs(path):
    """The rows of a results.csv or runs-so-far.csv, with numbers as numbers; none if there is no such file."""
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [{**row, **{key: float(row[key]) for key in FLOAT_COLUMNS}, **{key: int(row[key]) for key in INT_COLUMNS}}
                for row in csv.DictReader(file)]


def plot(summary, path):
    pyplot = common.pyplot()
    figure, axes = pyplot.subplots(1, 3, figsize=(18, 4.8), sharey=True)
    panels = [("validation", "new sentences, the training voices\n(validation: also chose each setting)"),
              ("test", "new sentences, a new synthetic voice\n(test, exact labels)"),
              ("test_real", "real telephone speech, a new speaker\n(test_real, the aligner's labels)")]
    for axis, (metric, title) in zip(axes, panels):
        for label, *_ in MODELS:
            rows = [row for row in summary if row["model"] == label]
            axis.errorbar(
                [row["train_sentences"] for row in rows],
                [row[f"{metric}_accuracy_mean"] for row in rows],
                yerr=[row[f"{metric}_accuracy_std"] for row in rows],
                marker="o", capsize=3, label=f"{label} ({rows[-1]['parameters']:,} parameters at 100%)",
            )
        sizes = sorted({row["train_sentences"] for row in summary})
        axis.set_xscale("log")
        axis.set_xticks(sizes, [str(size) for size in sizes])
        axis.minorticks_off()
        axis.set_xlabel(f"training sentences (log scale; {sizes[-1]} = the whole training split)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("frame accuracy (40 phones)")
    axes[0].legend(fontsize=8)
    figure.suptitle("phone_frames: each model tuned on validation at each size (mean ± std over 3 seeds)", y=1.06)
    common.save_figure(figure, path)


def summarise(rows):
    """The kept setting of each model and size: its accuracies' mean and std over seeds."""
    summary = []
    for size in dict.fromkeys(row["train_sentences"] for row in rows):
        for label, *_ in MODELS:
            runs = [row for row in rows if row["model"] == label and row["train_sentences"] == size and row["kept"]]
            entry = {key: runs[0][key] for key in ("model", "train_fraction", "train_sentences", "train_frames",
                                                   "units", "dropout", "parameters")}
            entry["seeds"] = len(runs)
            for metric in ("validation", "test", "test_real"):
                mean, std = common.mean_and_std(row[f"{metric}_accuracy"] for row in runs)
                entry[f"{metric}_accuracy_mean"], entry[f"{metric}_accuracy_std"] = round(mean, 4), round(std, 4)
            summary.append(entry)
    return summary


def main(argv=None):
    parser = common.parser(__doc__, "phone_classification")
    parser.add_argument("--data-dir", help="where TFDS keeps phone_frames (default: TFDS's)")
    arguments = parser.parse_args(argv)
    seeds = arguments.seeds or (1 if arguments.quick else SEEDS)
    grid = QUICK_GRID if arguments.quick else GRID
    budget = QUICK_BUDGET if arguments.quick else dict(batch_size=BATCH_SIZE, epochs=EPOCHS, patience=PATIENCE)
    budget = {**budget, "data_dir": arguments.data_dir}
    steps_per_epoch = QUICK_STEPS_PER_EPOCH if arguments.quick else STEPS_PER_EPOCH
    base = for_model("framewise", dataset=DATASET, **budget)
    total = QUICK_TOTAL if arguments.quick else count_training_data(base)[0]
    sizes = training_sizes(QUICK_FRACTIONS if arguments.quick else FRACTIONS, total)

    arguments.out.mkdir(parents=True, exist_ok=True)
    progress = arguments.out / "runs-so-far.csv"
    done = {}
    for path in (arguments.out / "results.csv", progress):
        for row in read_runs(path):
            done[(row["model"], row["train_sentences"], row["units"], row["dropout"], row["seed"])] = row
    if done:
        print(f"Going on: {len(done)} runs are already in {arguments.out}", flush=True)
    rows = []

    def record(label, settings, size, seed, kept):
        sentences, frames = counts[size]
        key = (label, sentences, settings.units, settings.dropout, seed)
        if key in done:
            rows.append({**done[key], "kept": kept})
            return rows[-1]
        result = run(settings, steps_per_epoch)
        row = {
            "model": label, "train_fraction": round(size / total, 3), "train_sentences": sentences,
            "train_frames": frames, "units": settings.units, "dropout": settings.dropout, "seed": seed, "kept": kept,
            "parameters": result["parameters"], "validation_accuracy": round(result["validation_frame_accuracy"], 4),
            "test_accuracy": round(result["frame_accuracy"], 4),
            "test_real_accuracy": round(result["test_real_frame_accuracy"], 4),
            "epochs": result["epochs"], "seconds": result["seconds"],
        }
        rows.append(row)
        common.write_csv(progress, rows)
        print(f"{label:<27} {sentences:>5} sentences  units {settings.units:>3} dropout {settings.dropout:.1f}  "
              f"seed {seed}  validation {row['validation_accuracy']:.3f}  test {row['test_accuracy']:.3f}  "
              f"real {row['test_real_accuracy']:.3f}  {result['seconds']:.0f} s", flush=True)
        return row

    counts = {}
    for size in sizes:
        counts[size] = count_training_data(dataclasses.replace(base, limit=size))
        for label, name, overrides in MODELS:
            settings = for_model(name, dataset=DATASET, limit=size, seed=0, **budget, **overrides)
            tried = [record(label, dataclasses.replace(settings, **point), size, 0, False) for point in grid]
            best = max(tried, key=lambda row: row["validation_accuracy"])
            best["kept"] = True
            for seed in range(1, seeds):
                record(label, dataclasses.replace(settings, units=best["units"], dropout=best["dropout"], seed=seed),
                       size, seed, True)

    summary = summarise(rows)
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "summary.csv", summary)
    plot(summary, arguments.out / "accuracy.png")
    progress.unlink(missing_ok=True)
    print(f"Wrote {arguments.out}/results.csv, summary.csv and accuracy.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
