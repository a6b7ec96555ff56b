"""Training callbacks that keep a run folder usable when training goes wrong."""

import json

import keras

from zoo import atomic


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
