"""Training callbacks that keep a run folder usable when training goes wrong."""

import json
import math

import keras

from zoo import atomic


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
    """`BackupAndRestore` whose checkpoint files are each replaced only once complete.

    Keras writes the weights over the previous ones in place, so a run killed
    while saving (SIGKILL, a full disk) would leave a checkpoint that cannot be
    read. The weights are renamed into place before the epoch number, so a
    kill between the two renames at worst repeats one epoch from later weights.
    """

    def _save_model(self):
        with atomic.replacing(self._weights_path) as temporary:
            self.model.save_weights(temporary)
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
