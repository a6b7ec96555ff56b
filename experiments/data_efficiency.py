"""Claim 1 (SPEC §1): a recurrent layer needs less training data than a windowed feed-forward net.

    python experiments/data_efficiency.py            # the committed run: 3 seeds, 14 minutes on 2 idle cores
    python experiments/data_efficiency.py --quick    # a smoke test: 32 utterances, 1 epoch, 8 units

Trains `window_ffn` (windows of 3, 11 and 41 frames) and `framewise`
(unidirectional and bidirectional) on 5%, 10%, 25%, 50% and 100% of the
training utterances of `spoken_digit_frames` (39-dim MFCC frames, a digit
label on every frame), several seeds each, and scores test frame accuracy.

A fraction f trains on the first round(f * 484) utterances. The builder
shuffled the recordings before joining them into utterances, so the first
ones are a random sample with every digit; the subsets are nested (5% lies
inside 10%, ...) and the same for every seed, so seeds vary the weights and
the batch order, not the sample.

Every model keeps its registry units, learning rate and dropout, and all
share one training budget: batches of 32, epochs of 10 batches whatever
the training-set size (a small set is passed over many times, so it gets
as many updates as the whole split), at most 15 epochs, and early stopping
after 3 epochs without a better validation loss, keeping the best weights.

Writes results.csv (one row per run), summary.csv (mean and standard
deviation over seeds) and accuracy.png.
"""

import sys

from experiments import common
from zoo.settings import for_model

FRACTIONS = (0.05, 0.10, 0.25, 0.50, 1.00)
QUICK_FRACTIONS = (1.0,)
# (label, model, settings that differ from the model's registry defaults)
MODELS = (
    ("window_ffn, 3 frames", "window_ffn", dict(window=3)),
    ("window_ffn, 11 frames", "window_ffn", dict(window=11)),
    ("window_ffn, 41 frames", "window_ffn", dict(window=41)),
    ("framewise, unidirectional", "framewise", dict(bidirectional=False)),
    ("framewise, bidirectional", "framewise", dict(bidirectional=True)),
)
BUDGET = dict(batch_size=32, epochs=15, patience=3)
QUICK_BUDGET = dict(batch_size=16, epochs=1, patience=1, units=8)
# 15 epochs of 10 batches of 32 pass over the whole training split (484 utterances) 10 times.
STEPS_PER_EPOCH = 10
QUICK_STEPS_PER_EPOCH = 2
# --quick takes its fractions of the first this many utterances.
QUICK_TOTAL = 32


def training_sizes(fractions, total):
    """Utterances per fraction: at least one, at most all."""
    return [min(total, max(1, round(fraction * total))) for fraction in fractions]


def count_training_data(limit):
    """(utterances, frames) in the first `limit` training utterances."""
    prepared = common.prepare("frames", for_model("framewise", limit=limit))
    lengths = [len(example["labels"]) for example in prepared.loaded.splits["train"].as_numpy_iterator()]
    return len(lengths), sum(lengths)


def plot(summary, path):
    pyplot = common.pyplot()
    figure, axis = pyplot.subplots(figsize=(7.5, 4.8))
    for label, *_ in MODELS:
        rows = [row for row in summary if row["model"] == label]
        axis.errorbar(
            [row["train_utterances"] for row in rows],
            [row["frame_accuracy_mean"] for row in rows],
            yerr=[row["frame_accuracy_std"] for row in rows],
            marker="o", capsize=3, label=f"{label} ({rows[0]['parameters']:,} parameters)",
        )
    axis.set_xscale("log")
    sizes = sorted({row["train_utterances"] for row in summary})
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()
    axis.set_xlabel("training utterances (log scale; 484 = the whole training split)")
    axis.set_ylabel("test frame accuracy")
    axis.set_title("spoken_digit_frames: accuracy against training-set size (mean ± std over seeds)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    common.save_figure(figure, path)


def main(argv=None):
    arguments = common.parser(__doc__, "data_efficiency").parse_args(argv)
    seeds = arguments.seeds or (1 if arguments.quick else 3)
    budget = QUICK_BUDGET if arguments.quick else BUDGET
    steps_per_epoch = QUICK_STEPS_PER_EPOCH if arguments.quick else STEPS_PER_EPOCH
    total = QUICK_TOTAL if arguments.quick else count_training_data(None)[0]
    sizes = training_sizes(QUICK_FRACTIONS if arguments.quick else FRACTIONS, total)

    rows = []
    for size in sizes:
        utterances, frames = count_training_data(size)
        for seed in range(seeds):
            for label, name, overrides in MODELS:
                settings = for_model(name, limit=size, seed=seed, **budget, **overrides)
                result = common.train_and_test(settings, steps_per_epoch)
                rows.append({
                    "model": label, "train_fraction": round(size / total, 3), "train_utterances": utterances,
                    "train_frames": frames, "seed": seed, "parameters": result["parameters"],
                    "frame_accuracy": round(result["frame_accuracy"], 4), "epochs": result["epochs"],
                    "seconds": result["seconds"], "units": settings.units, "batch_size": settings.batch_size,
                    "max_epochs": settings.epochs, "patience": settings.patience,
                    "steps_per_epoch": steps_per_epoch,
                })
                print(f"{label:<27} {utterances:>4} utterances  seed {seed}  "
                      f"accuracy {result['frame_accuracy']:.3f}  {result['seconds']:.0f} s", flush=True)

    summary = []
    for size in sizes:
        for label, *_ in MODELS:
            runs = [row for row in rows if row["model"] == label and row["train_fraction"] == round(size / total, 3)]
            mean, std = common.mean_and_std(row["frame_accuracy"] for row in runs)
            summary.append({
                "model": label, "train_fraction": runs[0]["train_fraction"],
                "train_utterances": runs[0]["train_utterances"], "train_frames": runs[0]["train_frames"],
                "parameters": runs[0]["parameters"], "seeds": len(runs),
                "frame_accuracy_mean": round(mean, 4), "frame_accuracy_std": round(std, 4),
            })
    arguments.out.mkdir(parents=True, exist_ok=True)
    common.write_csv(arguments.out / "results.csv", rows)
    common.write_csv(arguments.out / "summary.csv", summary)
    plot(summary, arguments.out / "accuracy.png")
    print(f"Wrote {arguments.out}/results.csv, summary.csv and accuracy.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
