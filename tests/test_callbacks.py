"""zoo.callbacks: the moving average of the weights and the time budget, checked by hand and across an interrupted run."""

import json
import math

import keras
import numpy as np
import pytest

from zoo import callbacks, settings, training
from zoo.callbacks import AtomicBackupAndRestore, ResumableSwapEMAWeights, TimeBudget

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


class Clock:
    """A stand-in for time.perf_counter that an `EpochsTake` callback moves on."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class EpochsTake(keras.callbacks.Callback):
    """Each epoch takes `seconds[epoch]` on `clock` (placed before the TimeBudget)."""

    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_epoch_end(self, epoch, logs=None):
        self.clock.now += self.seconds[epoch]


def fit_under_budget(monkeypatch, seconds, minutes, epochs, backup_dir=None, initial_epoch=0):
    """(learning rate of each epoch trained, the budget) for a cosine run of `epochs` under a TimeBudget."""
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    inputs, targets = regression_data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), loss="mse")
    run = settings.Settings(epochs=epochs, schedule="cosine", learning_rate=0.1, time_budget=minutes)
    budget = TimeBudget(minutes, epochs, backup_dir=backup_dir, verbose=0)
    history = model.fit(inputs, targets, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
                        callbacks=[EpochsTake(clock, seconds), budget, training.learning_rate_schedule(run, budget)])
    return history.history["learning_rate"], budget


def test_the_time_budget_plans_the_epochs_that_fit_and_the_cosine_spans_them(monkeypatch):
    # 60 s: after epoch 1 (20 s) two more fit; epoch 2 took 30 s, so the slower pace leaves room for none.
    rates, budget = fit_under_budget(monkeypatch, seconds=[20, 30, 10, 10, 10], minutes=1, epochs=5)
    assert len(rates) == 2 and budget.epochs == 2
    # Epoch 1 ran on the cosine over 5 epochs' first value; epoch 2 on the cosine over the 3 planned after epoch 1.
    np.testing.assert_allclose(rates, [0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 3))], rtol=1e-6)


def test_a_fast_run_trains_all_its_epochs_within_the_budget(monkeypatch):
    rates, budget = fit_under_budget(monkeypatch, seconds=[1] * 4, minutes=1, epochs=4)
    assert len(rates) == 4 and budget.epochs == 4
    np.testing.assert_allclose(rates, [0.1 * 0.5 * (1 + math.cos(math.pi * epoch / 4)) for epoch in range(4)],
                               rtol=1e-6)


def test_a_resumed_run_counts_the_time_spent_before_the_interruption(monkeypatch, tmp_path):
    # Three epochs of 15 s spent before the interruption leave 15 s of the minute: the resumed epoch 4 is the last.
    (tmp_path / TimeBudget.STATE).write_text('{"seconds": 45.0, "epochs": 4}')
    rates, budget = fit_under_budget(monkeypatch, seconds=[15] * 8, minutes=1, epochs=8, backup_dir=tmp_path,
                                     initial_epoch=3)
    assert len(rates) == 1 and budget.epochs == 4
    assert json.loads((tmp_path / TimeBudget.STATE).read_text()) == {"seconds": 60.0, "epochs": 4}


def test_the_g2p_time_budget_gives_way_to_an_explicit_length_and_must_be_positive():
    assert settings.for_model("g2p").time_budget == 27
    assert settings.for_model("g2p", epochs=3).time_budget is None
    assert settings.for_model("g2p", steps=100).time_budget is None
    assert settings.for_model("g2p", epochs=3, time_budget=2.5).time_budget == 2.5
    with pytest.raises(settings.SettingError, match="time_budget"):
        settings.for_model("g2p", time_budget=0)


def test_multi_worker_training_says_it_does_not_apply_the_time_budget(capsys):
    # Each worker would plan from its own clock and could stop at another epoch than the rest, hanging them.
    found = training.make_callbacks(settings.Settings(strategy="multi_worker", time_budget=5, epochs=7))
    assert not any(isinstance(callback, TimeBudget) for callback in found)
    assert "not applied under --strategy multi_worker" in capsys.readouterr().out
    assert any(isinstance(callback, TimeBudget) for callback in training.make_callbacks(settings.Settings(time_budget=5)))
