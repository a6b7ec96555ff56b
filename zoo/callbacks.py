"""Training callbacks that keep a run folder usable when training goes wrong."""

import json
import math
import pathlib
import time

import keras
import numpy as np

from zoo import atomic

# Beside Keras's checkpoint files in the backup folder.
RANDOM_STATE = "random_state.npz"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the one-line message says where and what to change."""


class StopOnDivergence(keras.callbacks.Callback):
    """Raises TrainingDiverged at the first batch whose loss is NaN or infinite.

    Keras's `TerminateOnNaN` stops quietly, and after it the epoch still ends,
    so `BackupAndRestore` would save the broken weights over the last good
    checkpoint. Raising skips the end of the epoch: the checkpoint keeps the
    last finished epoch.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            raise TrainingDiverged(
                f"the loss became {loss} at epoch {self.epoch + 1}, step {batch + 1}: training diverged. "
                f"Pass --clipnorm 1 (or lower) or a --learning-rate below {learning_rate:g}, "
                "and check the data for NaN or infinite values."
            )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoint files are each replaced only once complete, random state included.

    Keras writes the weights over the previous ones in place, so a run killed
    while saving (SIGKILL, a full disk) would leave a checkpoint that cannot be
    read. The weights are renamed into place before the epoch number, so a
    kill between the two renames at worst repeats one epoch from later weights.
    `save_weights` leaves out the states of the model's seed generators, so a
    resumed run would draw its dropout masks anew; they are kept beside the
    weights, so that a resumed run trains as the uninterrupted one would.
    """

    def _random_states(self):
        """The model's variables that are not weights: the seed generators' states."""
        weights = {id(variable) for variable in self.model.weights}
        return [variable for variable in self.model.variables if id(variable) not in weights]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        path = pathlib.Path(self.backup_dir) / RANDOM_STATE
        states = self._random_states()
        if path.exists():
            with np.load(path) as archive:
                if len(archive.files) == len(states):
                    for index, variable in enumerate(states):
                        variable.assign(archive[f"arr_{index}"])

    def _save_model(self):
        with atomic.replacing(self._weights_path) as temporary:
            self.model.save_weights(temporary)
        with atomic.replacing(pathlib.Path(self.backup_dir) / RANDOM_STATE) as temporary:
            with open(temporary, "wb") as file:
                np.savez(file, *[keras.ops.convert_to_numpy(variable) for variable in self._random_states()])
        with atomic.replacing(self._training_metadata_path) as temporary:
            temporary.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))


class ResumableSwapEMAWeights(keras.callbacks.SwapEMAWeights):
    """`SwapEMAWeights(swap_on_epoch=True)` that also swaps back after a resume.

    Between epochs the model holds the moving average of its weights and the
    optimizer the raw weights, so validation, early stopping and the
    checkpoint all see the average. A run resumed from that checkpoint starts
    with the same arrangement, but Keras's callback starts out believing the
    model holds its raw weights and would train the average. Place it first
    among the callbacks, so the others see the average at each epoch's end.
    """

    def __init__(self):
        super().__init__(swap_on_epoch=True)

    def on_train_begin(self, logs=None):
        self.first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch and epoch > 0:
            # Resumed from a checkpoint saved at an epoch's end: the average is in the model.
            self._ema_weights_in_model = True
        self.first_epoch = False
        super().on_epoch_begin(epoch, logs)


class BestWeightsEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that leaves the best epoch's weights in the model however training ends.

    Keras's callback restores them only when it stops training itself: a run
    that uses all its epochs keeps the last epoch's weights even when an
    earlier one validated better. And with a moving average of the weights,
    the optimizer's `finalize_variable_values`, which `fit` calls after the
    last epoch and before `on_train_end`, writes back the weights the average
    was swapped with. Restoring in `on_train_end` comes after both.
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.last_epoch = epoch

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if not self.restore_best_weights or self.best_weights is None:
            return
        self.model.set_weights(self.best_weights)
        if self.verbose and self.stopped_epoch == 0 and self.best_epoch != getattr(self, "last_epoch", None):
            print(f"Keeping the weights of epoch {self.best_epoch + 1}, the best on validation.")


class TimeBudget(keras.callbacks.Callback):
    """Ends training once another epoch would overrun `minutes`, and plans the epochs that fit.

    After every epoch the plan is the epochs done plus as many as the time
    left holds at the slower of the mean and the last epoch's duration (both
    with validation), at most `most_epochs`. `epochs` holds the plan, for a
    schedule that spans the run (`zoo.training.learning_rate_schedule`).
    With `backup_dir`, the time spent and the plan survive an interrupted run
    (place it after `BackupAndRestore` on the same folder, which deletes them
    with the checkpoint once training ends). A single epoch longer than the
    budget still ends: the budget is checked between epochs.

    Example:

        budget = TimeBudget(minutes=27, most_epochs=12)
        model.fit(batches, epochs=12, callbacks=[budget])
    """

    STATE = "time_budget.json"

    def __init__(self, minutes, most_epochs, backup_dir=None, verbose=1):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.epochs = most_epochs
        self.most_epochs = most_epochs
        self.backup_dir = backup_dir and pathlib.Path(backup_dir)
        self.verbose = verbose
        self.spent_before = 0.0

    def on_train_begin(self, logs=None):
        state_path = self.backup_dir and self.backup_dir / self.STATE
        if state_path and state_path.exists():
            state = json.loads(state_path.read_text())
            self.spent_before, self.epochs = state["seconds"], min(state["epochs"], self.most_epochs)
        self.started = time.perf_counter()
        self.epoch_durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.epoch_durations.append(now - self.epoch_started)
        spent = self.spent_before + now - self.started
        per_epoch = max(sum(self.epoch_durations) / len(self.epoch_durations), self.epoch_durations[-1])
        done = epoch + 1
        planned = min(self.most_epochs, done + max(0, math.floor((self.seconds - spent) / per_epoch)))
        if planned != self.epochs and self.verbose:
            print(f"\nTime budget {self.seconds / 60:g} min: {spent / 60:.1f} min spent, {per_epoch:.0f} s an epoch, "
                  f"so {planned} epochs in all (at most {self.most_epochs}).")
        self.epochs = planned
        if done >= planned:
            self.model.stop_training = True
        if self.backup_dir:
            atomic.write_json(self.backup_dir / self.STATE, {"seconds": spent, "epochs": planned})
