"""Training a registered model into a run folder, with a checkpoint every epoch and automatic resume.

A run folder holds, once training ends:
  model.keras       the best model by validation loss (`keras.saving.load_model`)
  saved_model/      raw inputs in, answers out (see `zoo.export`)
  model.tflite      batch 1, built-in ops only, token ids in (see `zoo.export`)
  stream.tflite     one frame (or token) and the state in, output and next state out;
                    unidirectional models only (see `zoo.streaming`)
  config.json       every setting, the vocabularies, library versions and the command
  metrics.json      the test metrics, and the task's trivial baseline (`baseline_*`)
  history.csv       loss and metrics per epoch
  learning_curves.png
  logs/             TensorBoard logs (`tensorboard --logdir RUN/logs`)
While training, `checkpoint/` holds the last finished epoch; a new run with
the same --out resumes from it. Under `--strategy multi_worker` only the chief
writes the run folder; the other workers write to a temporary folder they
delete (see `zoo.distribute`).
"""

import dataclasses
import json
import math
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import atomic, data, distribute, evaluation, export, interruption, models, tasks
from zoo.callbacks import (
    AtomicBackupAndRestore, BestWeightsEarlyStopping, ResumableSwapEMAWeights, StopOnDivergence, TimeBudget,
)
from zoo.atomic import write_json
from zoo.optimizers import WarmupAveragedAdam
from zoo.settings import Settings

CHECKPOINT = "checkpoint"
# Early stopping's count, best loss and best weights, beside the checkpoint of an interrupted run.
EARLY_STOPPING_STATE = "early_stopping.json"
EARLY_STOPPING_WEIGHTS = "early_stopping_best.npz"
# Settings that may change when a run resumes: they do not change the model or the data.
RESUMABLE_CHANGES = ("epochs", "time_budget", "patience", "learning_rate", "clipnorm", "strategy")


class RunError(ValueError):
    """The run folder cannot be used as asked; the message says why and what to do."""


def compile_model(model, task, settings, clipnorm_divisor=1):
    """Adam with the settings' learning rate, clipping, weight decay and weight average; the task's loss and metrics.

    `task` is a name or a `zoo.tasks.Task`. The optimizer clips each gradient
    at the settings' clipnorm / `clipnorm_divisor` (`distribute.CustomLoop`
    passes it each replica's share of the gradient).
    """
    clipnorm = settings.resolved_clipnorm()
    if clipnorm is not None:
        clipnorm /= clipnorm_divisor
    optimizer = WarmupAveragedAdam(
        settings.learning_rate, clipnorm=clipnorm, use_ema=settings.ema > 0, ema_momentum=settings.ema or 0.99,
        weight_decay=settings.weight_decay or None,
    )
    if settings.weight_decay:
        # A decayed bias would pull the LSTM's forget gates (started at 1) towards forgetting.
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    tasks.get(task).compile(model, optimizer, settings)


class ResumableEarlyStopping(BestWeightsEarlyStopping):
    """`BestWeightsEarlyStopping` whose state survives an interrupted run.

    Keras's callback starts afresh at every `fit`: a resumed run would wait
    `patience` more epochs and forget the best weights seen before the
    interruption. This one writes its count, best value and best weights to
    `backup_dir` at the end of every epoch and reads them back when a run
    resumes. Place it after `BackupAndRestore` on the same folder, so its state
    is never ahead of the checkpoint (which `BackupAndRestore` deletes, with
    this state, once training ends).
    """

    def __init__(self, backup_dir, **kwargs):
        super().__init__(**kwargs)
        self.backup_dir = pathlib.Path(backup_dir)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        state_path = self.backup_dir / EARLY_STOPPING_STATE
        if not state_path.exists():
            return
        state = json.loads(state_path.read_text())
        self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
        weights_path = self.backup_dir / EARLY_STOPPING_WEIGHTS
        if self.restore_best_weights and weights_path.exists():
            with np.load(weights_path) as archive:
                self.best_weights = [archive[f"arr_{index}"] for index in range(len(archive.files))]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.best is None:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        if self.best_weights is not None and self.best_epoch == epoch:
            with atomic.replacing(self.backup_dir / EARLY_STOPPING_WEIGHTS) as temporary:
                with open(temporary, "wb") as file:
                    np.savez(file, *self.best_weights)
        state = {"wait": self.wait, "best": float(self.best), "best_epoch": self.best_epoch}
        write_json(self.backup_dir / EARLY_STOPPING_STATE, state)


def learning_rate_schedule(settings, budget=None):
    """The callback that sets each epoch's learning rate, or None for a constant rate.

    The cosine spans `settings.epochs`, or the epochs a `TimeBudget` plans as it goes.
    """
    if settings.schedule == "constant":
        return None
    if settings.schedule == "cosine":
        def cosine(epoch):
            epochs = budget.epochs if budget else settings.epochs
            return settings.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))

        return keras.callbacks.LearningRateScheduler(cosine)
    raise ValueError(f"Unknown schedule {settings.schedule!r}: use 'constant' or 'cosine'.")


def check_run_folder(out, settings, overwrite=False):
    """Returns the earlier config when `out` holds an interrupted run of the same settings, else None.

    Raises RunError for a finished run, a run with other settings (unless
    `overwrite`), or a folder that is not a run folder, so nothing of the
    user's is overwritten by mistake.
    """
    config_path = out / "config.json"
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder: pass a new or empty --out folder.")
    if not out.exists() or not any(out.iterdir()):
        return None
    if not config_path.exists():
        raise RunError(f"{out} is not empty and holds no config.json: pass a new or empty --out folder.")
    try:
        config = json.loads(config_path.read_text())
        earlier = config["settings"]
    except (ValueError, KeyError):
        raise RunError(f"{config_path} is not a run's config.json: pass a new or empty --out folder.") from None
    if overwrite:
        return None
    if (out / "metrics.json").exists():
        raise RunError(
            f"{out} holds a finished {earlier.get('model')} run: pass a new --out folder, "
            "or --overwrite to delete it and train afresh."
        )
    # Runs from before a setting existed had its default.
    earlier = {**dataclasses.asdict(Settings()), **earlier}
    changed = [
        f"--{key.replace('_', '-')} {earlier[key]!r} -> {value!r}"
        for key, value in dataclasses.asdict(settings).items()
        if key not in RESUMABLE_CHANGES and earlier[key] != value
    ]
    if changed:
        raise RunError(
            f"{out} holds an interrupted run with other settings ({'; '.join(changed)}): "
            "repeat its command to resume, pass a new --out, or --overwrite to delete it and train afresh."
        )
    if not (out / CHECKPOINT).exists():
        # Stopped before its first epoch ended: nothing to resume.
        return None
    return config


def library_versions():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_datasets": tfds.__version__,
        "numpy": np.__version__,
    }


def source_commit():
    """The git commit of this checkout, "+changes" when files differ from it; None outside a git checkout."""
    root = pathlib.Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=30, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                 capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changed else "")


def saved_epochs(out):
    """How many epochs the checkpoint in run folder `out` holds (0 when there is none)."""
    metadata = pathlib.Path(out) / CHECKPOINT / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0


def train(settings: Settings, out, command, verbose="auto", overwrite=False):
    """Trains `settings.model` into run folder `out`; returns the test metrics.

    `command` is recorded in config.json. An interrupted run in `out` with
    the same settings resumes from its last finished epoch; `overwrite`
    deletes the run in `out` (once the data has loaded) and trains afresh.
    Raises TrainingDiverged, leaving the last finished epoch's checkpoint,
    when the loss becomes NaN or infinite. Under `--strategy multi_worker`
    the workers other than the chief train, write nothing to `out` and
    return None.

    The steps, each a function of this module: `check_run_folder`,
    `data.prepare`, `plan`, `build_and_compile`, `start_run_folder`,
    `make_callbacks`, `fit`, `write_artifacts` and `score`.
    """
    out = pathlib.Path(out)
    # First: MultiWorkerMirroredStrategy must configure the collective ops before any other TensorFlow work.
    strategy = distribute.make_strategy(settings.strategy)
    if not distribute.is_chief(strategy):
        return _train_as_worker(settings, out, strategy, overwrite)
    return _train(settings, out, strategy, command, verbose, overwrite)


def _train_as_worker(settings, out, strategy, overwrite):
    """A worker other than the chief: the same training, into a temporary folder deleted at the end.

    It starts from the chief's checkpoint when `out` holds one (a filesystem
    all workers share), so that an interrupted run resumes on every worker.
    """
    with tempfile.TemporaryDirectory(prefix="zoo-worker-") as temporary:
        run_dir = pathlib.Path(temporary) / "run"
        earlier = None if overwrite else check_run_folder(out, settings)
        if earlier:
            shutil.copytree(out / CHECKPOINT, run_dir / CHECKPOINT)
            shutil.copy(out / "config.json", run_dir / "config.json")
        _train(settings, run_dir, strategy, command=None, verbose=0, overwrite=False, chief=False)
    return None


def _train(settings, out, strategy, command, verbose, overwrite, chief=True):
    spec = models.get(settings.model)
    earlier = check_run_folder(out, settings, overwrite)
    prepared = data.prepare(spec.task, settings, vocabularies=earlier and earlier["vocabularies"])
    run_settings, steps_per_epoch = plan(settings, prepared)
    model = build_and_compile(spec, prepared.info, run_settings, strategy)
    model.summary(print_fn=lambda line, *args, **kwargs: print(line) if verbose else None)
    if chief:
        replicas = strategy.num_replicas_in_sync
        on_replicas = f", {replicas} replicas" if replicas > 1 else ""
        budget = f" (a budget of {settings.steps:,} steps)" if settings.steps else ""
        if settings.time_budget is not None:
            budget += f", or fewer to end within {settings.time_budget:g} minutes"
        print(f"{spec.name}: {model.count_params():,} parameters, {settings.cell} cell, on {prepared.loaded.name}"
              f"{on_replicas}; at most {run_settings.epochs} epochs of {steps_per_epoch:,} steps{budget}")
    recipe = recipe_of(settings, run_settings, steps_per_epoch)
    config = start_run_folder(out, settings, spec, prepared, model, command, earlier, overwrite, chief, recipe)
    start = time.perf_counter()
    _, loop = fit(model, prepared, run_settings, make_callbacks(run_settings, out, chief), strategy,
                  initial_epoch=saved_epochs(out), verbose=verbose)
    training_seconds = time.perf_counter() - start
    spread = loop.weight_spread() if loop else None
    if spread is not None and strategy.num_replicas_in_sync > 1:
        print(f"Weights of the {strategy.num_replicas_in_sync} replicas differ by at most {spread:g}.")
    if not chief:
        # Waits for the chief to write the run folder: a worker that leaves
        # early makes the chief's TensorFlow report it as crashed.
        loop.barrier()
        return None

    if settings.strategy != "default" or settings.mixed_precision:
        # Exports, evaluation and model.keras take a float32 model of one device.
        model = plain_copy(model, spec, prepared.info, run_settings)
    write_artifacts(model, spec, prepared, out)
    metrics = score(model, config, prepared)
    metrics["training_seconds"] = round(training_seconds, 1)
    if spread is not None:
        metrics["replica_weight_spread"] = spread
    write_json(out / "metrics.json", metrics)
    if loop:
        loop.barrier()
    return metrics


@tf.autograph.experimental.do_not_convert
def count_batch(total, *batch):
    return total + 1


def plan(settings, prepared):
    """(settings with what the data decides, training batches per epoch).

    The data decides the task's table sizes that the settings leave None
    (`Task.resolve`) and, under a step budget (`settings.steps`), the epochs:
    ceil(steps / batches per epoch), at most `settings.epochs`. The training
    and validation batches are counted once and their counts attached to the
    datasets, so the first epoch's progress bar knows its length too.
    """
    # Validation too: Keras warns that an input of unknown length "ran out of data" when it ends.
    for split in ("validation", "train"):
        count = int(tf.data.experimental.cardinality(prepared.batches[split]))
        # Unknown until counted; once counted (the same data trained again, as in experiments/), it is known.
        if count < 0:
            count = int(prepared.batches[split].reduce(np.int64(0), count_batch))
            prepared.batches[split] = prepared.batches[split].apply(tf.data.experimental.assert_cardinality(count))
    if count == 0:
        raise RunError(f"{prepared.loaded.name}'s training split has no examples: give it some.")
    changes = tasks.get(prepared.loaded.task).resolve(settings, prepared)
    if settings.steps is not None:
        changes["epochs"] = min(settings.epochs, math.ceil(settings.steps / count))
    return dataclasses.replace(settings, **changes), count


def recipe_of(settings, run_settings, steps_per_epoch):
    """What the data decided, for config.json: the settings it changed and the batches per epoch."""
    changed = {key: value for key, value in dataclasses.asdict(run_settings).items()
               if getattr(settings, key) != value}
    return {**changed, "steps_per_epoch": steps_per_epoch}


def build_and_compile(spec, info, settings, strategy=None):
    """`spec`'s model built for `info` and compiled, under `strategy`'s scope (default: one device)."""
    strategy = strategy or distribute.make_strategy("default")
    keras.utils.set_random_seed(settings.seed)
    with strategy.scope(), distribute.dtype_policy(settings.mixed_precision):
        model = spec.build(info, settings)
        # One replica (the default strategy) divides by 1: model.fit clips as before.
        compile_model(model, spec.task, settings, clipnorm_divisor=strategy.num_replicas_in_sync)
    return model


def start_run_folder(out, settings, spec, prepared, model, command, earlier, overwrite, chief=True, recipe=None):
    """Writes config.json into `out` (emptied first with `overwrite`) and returns it.

    `earlier` is the config of the interrupted run being resumed
    (`check_run_folder`), or None for a new run; `recipe` is what the data
    decided (`recipe_of`).
    """
    if overwrite:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "model": spec.name,
        "task": spec.task,
        "dataset": prepared.loaded.name,
        "settings": dataclasses.asdict(settings),
        "recipe": recipe or {},
        "parameters": model.count_params(),
        "label_names": prepared.loaded.label_names,
        "vocabularies": prepared.vocabularies,
        "versions": library_versions(),
        "command": command,
        "commit": source_commit(),
        "working_directory": os.getcwd(),
    }
    if earlier:
        if chief:
            print(f"Resuming the interrupted run in {out} from epoch {saved_epochs(out) + 1}.")
        config["started"] = earlier["started"]
    else:
        config["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        (out / "history.csv").unlink(missing_ok=True)
    write_json(out / "config.json", config)
    return config


def make_callbacks(settings, out=None, chief=True):
    """The callbacks of a run: early stopping on the validation loss with the best weights kept, and
    the settings' weight average, time budget and schedule.

    With a run folder `out`, also a checkpoint every epoch, history.csv and
    TensorBoard logs, early stopping that survives a resume, and a stop at the
    first NaN loss; without one (`experiments/`), training stays in memory.
    """
    if out is None:
        found = [BestWeightsEarlyStopping(patience=settings.patience, restore_best_weights=True)]
    else:
        out = pathlib.Path(out)
        found = [
            AtomicBackupAndRestore(str(out / CHECKPOINT)),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
            ResumableEarlyStopping(out / CHECKPOINT, patience=settings.patience, restore_best_weights=True,
                                   verbose=int(chief)),
            keras.callbacks.TensorBoard(str(out / "logs")),
        ]
    if settings.ema:
        # First, so the others (early stopping, the checkpoint) see the average at each epoch's end.
        found.insert(0, ResumableSwapEMAWeights())
    budget = None
    if settings.time_budget is not None and settings.strategy == "multi_worker":
        if chief:
            print(f"The time budget ({settings.time_budget:g} min) is not applied under --strategy multi_worker, "
                  f"where every worker must stop at the same epoch: at most {settings.epochs} epochs.")
    elif settings.time_budget is not None:
        # After the checkpoint, so its record of the time spent is never ahead of the checkpoint.
        budget = TimeBudget(settings.time_budget, settings.epochs, out and out / CHECKPOINT, verbose=int(chief))
        found.append(budget)
    schedule = learning_rate_schedule(settings, budget)
    if schedule is not None:
        found.append(schedule)
    if out is not None:
        found.append(StopOnDivergence())
        # A Ctrl-C or SIGTERM that TensorFlow swallowed is raised again here.
        found.append(interruption.RaiseAtBatchEnd())
    return found


def fit(model, prepared, settings, callbacks, strategy=None, initial_epoch=0, verbose="auto", steps_per_epoch=None):
    """Trains `model` on `prepared`'s training batches, validating every epoch.

    `model.fit` on one device; `distribute.CustomLoop` under the strategies
    that need it. Each epoch is one pass over the training data, or, with
    `steps_per_epoch`, that many batches, passing over the data as often as
    it takes (`model.fit` only).
    Returns (the `keras.callbacks.History`, the `CustomLoop` or None).
    """
    if settings.strategy in distribute.CUSTOM_LOOP_STRATEGIES:
        # The loop makes an iterator per epoch, and each one draws the shuffle's next order: a resumed run
        # passes over the data once per epoch the checkpoint holds, so its later epochs see the same orders.
        for _ in range(initial_epoch):
            prepared.batches["train"].reduce(np.int64(0), count_batch)
        loop = distribute.CustomLoop(model, strategy, tasks.get(prepared.loaded.task).loop_accuracy)
        history = loop.fit(
            prepared.batches["train"],
            prepared.batches["validation"],
            epochs=settings.epochs,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            verbose=1 if verbose == "auto" else verbose,
        )
        return history, loop
    train_batches = prepared.batches["train"]
    if steps_per_epoch is None and train_batches.cardinality() > 0:
        # Over data of known length Keras makes a new iterator at every epoch's start and another at its end,
        # which the next start deletes: that deletion blocked the first step of some epochs of the g2p run for
        # up to 44 s, and each dropped iterator used up a shuffled order. Repeated, one iterator serves every
        # epoch, each epoch one whole pass (the repeat starts the next shuffled order), and the next epoch's
        # first batches are ready during validation.
        steps_per_epoch = int(train_batches.cardinality())
    if steps_per_epoch is not None:
        # A resumed run draws the batches of the epochs it already trained and drops them, so that its later
        # epochs see the orders an uninterrupted run sees (a new iterator would start the shuffling anew).
        train_batches = train_batches.repeat().skip(initial_epoch * steps_per_epoch)
    history = model.fit(
        train_batches,
        steps_per_epoch=steps_per_epoch,
        validation_data=prepared.batches["validation"],
        # The tf.data pipeline already shuffles, with the run's seed; Keras
        # would only warn that it ignores its own shuffle on a dataset.
        shuffle=False,
        epochs=settings.epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    return history, None


def write_artifacts(model, spec, prepared, out):
    """model.keras, saved_model/, model.tflite, stream.tflite (models that stream) and learning_curves.png."""
    with atomic.replacing(out / "model.keras") as temporary:
        model.save(temporary)
    endpoints = export.export_saved_model(
        model, spec.task, prepared.vectorizers, prepared.vocabularies, prepared.loaded.label_names, out / "saved_model"
    )
    export.export_tflite(out / "saved_model", out / "model.tflite", "sequence")
    if "step" in endpoints:
        export.export_tflite(out / "saved_model", out / "stream.tflite", "step")
    plot_history(out / "history.csv", out / "learning_curves.png", spec.name)


def print_test_metrics(metrics, out):
    """The test metrics as train.py and ensemble.py print them when a run folder is finished."""
    print(f"Test metrics ({out}/metrics.json):")
    for key, value in metrics.items():
        if not isinstance(value, list):
            print(f"  {key:<24} {value:.4f}" if isinstance(value, float) else f"  {key:<24} {value}")


def score(model, config, prepared, split="test"):
    """The task's metrics of `model` on `split`, and its trivial baseline's."""
    return {**evaluation.evaluate_keras(model, config, prepared, split), **evaluation.baseline(config, prepared, split)}


def plain_copy(model, spec, info, settings):
    """`model` rebuilt outside any strategy with float32 layers, holding its weights and optimizer state."""
    copy = spec.build(info, settings)
    copy.set_weights(model.get_weights())
    compile_model(copy, spec.task, settings)
    copy.optimizer.build(copy.trainable_variables)
    # Under mixed precision the trained optimizer wraps Adam in a loss scaler.
    trained = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    for variable, value in zip(copy.optimizer.variables, trained.variables, strict=True):
        variable.assign(value)
    return copy


def plot_history(history_csv, png, title):
    """Loss (and accuracy, where recorded) per epoch, training against validation."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    history = np.genfromtxt(history_csv, delimiter=",", names=True)
    history = np.atleast_1d(history)
    panels = [name for name in ("loss", "accuracy") if name in history.dtype.names]
    figure, axes = pyplot.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for axis, name in zip(axes[0], panels):
        epochs = history["epoch"] + 1
        axis.plot(epochs, history[name], marker="o", label="train")
        axis.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        # Epochs are whole: a short run would get ticks at 1.25, 1.5, ...
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axis.set_ylabel(name)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic.replacing(png) as temporary:
        figure.savefig(temporary, dpi=100)
    pyplot.close(figure)
