"""Trains a model of the zoo and writes a run folder (see zoo/training.py for its contents).

    python train.py --model sentiment
    python train.py --model framewise --cell lstm --no-bidirectional --epochs 5
    python train.py --list
    TF_CONFIG='{...}' python train.py --model framewise --strategy multi_worker   # on every host
"""

import argparse
import shlex
import sys
import time

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)
from zoo import models
from zoo.settings import STRATEGIES, Settings
from zoo.tasks.classification import BUCKETS_PER_BIGRAM, MIN_BIGRAM_REPEATS


def number_type(convert, description, valid):
    """An argparse type: `convert(text)` if `valid` says yes, else an error naming what it wants."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None
        # NaN fails every comparison; infinity is no setting either.
        if not (valid(value) and abs(value) != float("inf")):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    return parse


positive_int = number_type(int, "a positive integer", lambda value: value > 0)
non_negative_int = number_type(int, "an integer >= 0", lambda value: value >= 0)
positive_float = number_type(float, "a positive number", lambda value: value > 0)
non_negative_float = number_type(float, "a number >= 0", lambda value: value >= 0)


def parser():
    defaults = Settings()
    per_model = "per model, see --list"
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = arguments.add_argument
    add("--model", choices=list(models.MODELS), default="sentiment", help="architecture (default: %(default)s)")
    add("--list", action="store_true", help="print every model with its description and default dataset, and exit")
    add("--dataset", help="a builder name, a path to your own files, or tfds:NAME (default: the model's)")
    add("--data-dir", help="where TFDS keeps prepared datasets (default: TFDS's, ~/tensorflow_datasets)")
    add("--tokens", choices=["chars", "words"], help="split text into characters or words (default: detected)")
    add("--limit", type=positive_int, help="train on the first N training examples only (default: all)")
    add("--epochs", type=positive_int,
        help=f"most epochs to train; alone, it replaces the model's step budget (default: {per_model})")
    add("--steps", type=positive_int,
        help="a budget of training steps: ceil(steps / batches per epoch) epochs, at most --epochs, so a small "
        f"dataset gets as many updates as a large one; early stopping may end sooner (default: {per_model})")
    add("--time-budget", type=positive_float, metavar="MINUTES",
        help="most minutes of training: after each epoch the run plans as many epochs as the time left holds, "
        f"and the cosine schedule spans them; --epochs or --steps alone replace it (default: {per_model})")
    add("--batch-size", type=positive_int, help=f"examples per batch (default: {per_model})")
    add("--learning-rate", type=positive_float, help=f"Adam's learning rate (default: {per_model})")
    add("--schedule", choices=["constant", "cosine"],
        help=f"learning rate schedule over the epochs: constant, or a half cosine down to 0 (default: {per_model})")
    add("--label-smoothing", type=float,
        help=f"share of the target probability spread over all classes (sentiment) or tokens (seq2seq, g2p) "
        f"(default: {per_model})")
    add("--ema", type=float,
        help="momentum of a moving average of the weights, which validation and the saved model use; "
        f"0 turns it off (default: {per_model})")
    add("--weight-decay", type=float,
        help="decoupled weight decay (AdamW): each step shrinks kernels and embeddings by learning rate x this "
        f"share of themselves, biases untouched; 0 turns it off (default: {per_model})")
    add("--units", type=positive_int, help=f"units of each recurrent and hidden layer (default: {per_model})")
    add("--embedding-dim", type=positive_int,
        help=f"token embedding size, text models (default: {per_model}; 'from the data': 4 x vocabulary ** 0.25)")
    add("--bigram-buckets", type=int,
        help="hash buckets of character-bigram embeddings, sentiment; 0 turns them off "
        f"(default: from the training split: {BUCKETS_PER_BIGRAM} per distinct bigram, none when the average "
        f"bigram occurs fewer than {MIN_BIGRAM_REPEATS} times)")
    add("--dropout", type=float, help=f"dropout rate (default: {per_model})")
    own_cells = "".join(
        f"; {name}: {spec.defaults['cell']}" for name, spec in models.MODELS.items() if "cell" in spec.defaults
    )
    add("--cell", choices=models.CELLS,
        help=f"the article's basic recurrent cell, or the LSTM/GRU of its next chapter (default: {defaults.cell}{own_cells})")
    add("--clipnorm", type=non_negative_float,
        help="clip each gradient's norm against exploding gradients; 0 turns it off "
        "(default: 1.0 for the basic cell, off for LSTM/GRU)")
    add("--depth", type=positive_int,
        help=f"stacked recurrent layers: frame models, and seq2seq's encoder and decoder each (default: {per_model})")
    add("--bidirectional", action=argparse.BooleanOptionalAction,
        help="bidirectional recurrent layers (framewise, seq2seq encoder); --no-bidirectional is the "
        "real-time variant (default: bidirectional)")
    add("--merge", choices=["sum", "concat", "ave", "mul"],
        help="how bidirectional layers join their two directions; concat doubles the width (default: sum)")
    add("--share-weights", choices=["none", "input", "recurrent", "all"],
        help="tie the two directions' W_xh and b (input), W_hh (recurrent) or all three; basic cell only "
        "(default: none)")
    add("--attention", choices=["none", "luong"],
        help="seq2seq: the decoder attends over every encoder frame (luong) or starts from the encoder's final "
        f"state alone (none, the article's) (default: {defaults.attention}; g2p: luong)")
    add("--window", type=positive_int, help=f"frames per window of window_ffn, odd (default: {defaults.window})")
    add("--max-length", type=positive_int, help=f"cut training texts to this many tokens (default: {per_model})")
    add("--sequence-length", type=positive_int,
        help=f"characters per training window of char_lm (default: {defaults.sequence_length})")
    add("--patience", type=positive_int,
        help=f"stop after this many epochs without a better validation loss (default: {defaults.patience})")
    add("--seed", type=non_negative_int, help=f"seeds weights, shuffling and splits of your own files (default: {defaults.seed})")
    add("--strategy", choices=STRATEGIES, default=defaults.strategy,
        help="tf.distribute strategy: one device, all local GPUs (mirrored), the TF_CONFIG cluster "
        "(multi_worker) or a TPU; --batch-size is the global batch (default: %(default)s)")
    add("--mixed-precision", action="store_true",
        help="float16 computations with float32 variables, faster on recent GPUs (default: off)")
    add("--out", help="run folder; an interrupted run in it resumes (default: runs/MODEL-DATE-TIME)")
    add("--overwrite", action="store_true",
        help="delete the run already in --out (finished, or with other settings) and train afresh")
    add("--debug", action="store_true", help="show the traceback of an error instead of one line")
    return arguments


def print_models():
    for spec in models.MODELS.values():
        print(f"{spec.name:<18} {spec.task:<15} default dataset {spec.default_dataset or '(none: --dataset)':<20} {spec.description}")
        print(f"{'':<18} defaults: " + ", ".join(
            f"{key}={'from the data' if value is None else value}" for key, value in spec.defaults.items()
        ))


def how_to_go_on(out):
    """The sentence that says what the checkpoint in `out` holds and the command that goes on from it."""
    from zoo import training

    finished = training.saved_epochs(out)
    if finished == 0:
        return f"There is no checkpoint to resume from: repeat the command with --out {out} to train again."
    return (
        f"The checkpoint in {out}/{training.CHECKPOINT} holds epoch {finished}: "
        f"repeat the command with --out {out} to resume from epoch {finished + 1}."
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.list:
        print_models()
        return 0

    from datasets import DatasetError, MissingPackageError
    from zoo import settings as zoo_settings
    from zoo import training
    from zoo.callbacks import TrainingDiverged
    from zoo.distribute import StrategyError, lost_worker
    from zoo.interruption import EXIT_CODE as SIGTERM_EXIT_CODE, Terminated, handling_signals

    options = {key: value for key, value in vars(args).items() if key not in ("list", "out")}
    del options["overwrite"], options["debug"]
    if options["share_weights"] == "none":
        options["share_weights"] = None
    try:
        settings = zoo_settings.for_model(**{"name": options.pop("model"), **options})
    except zoo_settings.SettingError as error:
        arguments.error(f"argument --{error.field.replace('_', '-')}: {error.reason}")
    out = args.out or f"runs/{settings.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"Run folder: {out} (if interrupted, repeat the command with --out {out} to resume)")
    try:
        command = shlex.join([sys.executable, __file__, *argv])
        with handling_signals():
            metrics = training.train(settings, out, command=command, overwrite=args.overwrite)
    except Terminated:
        if args.debug:
            raise
        arguments.exit(SIGTERM_EXIT_CODE, f"\nStopped by SIGTERM. {how_to_go_on(out)}\n")
    except KeyboardInterrupt:
        if args.debug:
            raise
        arguments.exit(130, f"\nInterrupted. {how_to_go_on(out)}\n")
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, (DatasetError, MissingPackageError, training.RunError, StrategyError)):
            arguments.exit(2, f"{arguments.prog}: error: {error}\n")
        if isinstance(error, TrainingDiverged):
            # After a progress bar's unfinished line.
            arguments.exit(1, f"\n{arguments.prog}: error: {error} {how_to_go_on(out)}\n")
        lost = lost_worker(error) if settings.strategy == "multi_worker" else None
        if lost is not None:
            arguments.exit(1, f"\n{arguments.prog}: error: {lost} {how_to_go_on(out)}\n")
        first_line = str(error).strip().split("\n")[0]
        arguments.exit(1, f"{arguments.prog}: error: {type(error).__name__}: {first_line} (--debug shows where)\n")
    if metrics is None:
        print(f"This worker is done; the chief wrote the run folder {out}.")
        return 0
    training.print_test_metrics(metrics, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
