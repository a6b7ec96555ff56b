"""zoo.callbacks: the moving average of the weights, checked by hand and across an interrupted run."""

import keras
import numpy as np
import pytest

from zoo.callbacks import AtomicBackupAndRestore, ResumableSwapEMAWeights

MOMENTUM = 0.9


def regression_data():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(32, 3)).astype(np.float32)
    return inputs, inputs @ np.array([[1.0], [-2.0], [0.5]], np.float32)


def ema_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=MOMENTUM), loss="mse")
    return model


class RawWeightsAfterEachStep(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.get_weights())


class InterruptBefore(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_model_ends_with_the_moving_average_of_its_weights():
    inputs, targets = regression_data()
    model = ema_model()
    recorder = RawWeightsAfterEachStep()
    model.fit(inputs, targets, batch_size=8, epochs=3, shuffle=False, verbose=0,
              callbacks=[ResumableSwapEMAWeights(), recorder])

    # Keras starts the average at the first step's weights, then average = m * average + (1 - m) * weights.
    expected = recorder.steps[0]
    for weights in recorder.steps[1:]:
        expected = [MOMENTUM * average + (1 - MOMENTUM) * value for average, value in zip(expected, weights)]
    for final, average, raw in zip(model.get_weights(), expected, recorder.steps[-1]):
        np.testing.assert_allclose(final, average, rtol=1e-5, atol=1e-6)
        assert not np.allclose(final, raw)


def test_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    inputs, targets = regression_data()

    def fit(folder, interrupt_before=None):
        model = ema_model()
        callbacks = [ResumableSwapEMAWeights(), AtomicBackupAndRestore(str(folder))]
        if interrupt_before is not None:
            callbacks.append(InterruptBefore(interrupt_before))
        model.fit(inputs, targets, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=callbacks)
        return model

    uninterrupted = fit(tmp_path / "once")
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "twice", interrupt_before=2)
    resumed = fit(tmp_path / "twice")

    for ours, theirs in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
