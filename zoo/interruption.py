"""Ctrl-C and SIGTERM (a scheduler's way to preempt a job) stop training cleanly.

    with interruption.handling_signals():
        training.train(...)   # Ctrl-C raises KeyboardInterrupt, SIGTERM raises Terminated

Python's default for SIGTERM ends the process with no word of the
checkpoint; under `MultiWorkerMirroredStrategy` TensorFlow installs its own
handler, which only records the signal, so training went on until SIGKILL.
Here SIGTERM raises `Terminated` at once, as Ctrl-C raises KeyboardInterrupt.

An exception raised by a signal handler appears wherever Python happens to
be, and there it can be lost: Ctrl-C sent 0 to 0.4 s after an epoch's
checkpoint was once in ten tries ignored without a word, training going on
(presumably raised in Python code that C code of TensorFlow or Keras calls,
and cleared there). The handlers therefore also record the signal, and
`RaiseAtBatchEnd` raises it again at the next batch.

Under `deferred()`, SIGTERM is only recorded: a worker of a cluster that left
between two collective ops would leave the others waiting for it, so
`distribute.CustomLoop` all-reduces `requested()` with every step, and every
worker stops after the same step.
"""

import contextlib
import signal
import threading

import keras

# As a shell reports a process ended by SIGTERM.
EXIT_CODE = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. Like KeyboardInterrupt, not an Exception: `except Exception` lets it through."""


_received = set()
_deferring = 0


def _on_signal(signum, frame):
    _received.add(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt()
    if not _deferring:
        raise Terminated()


def requested():
    """Whether SIGTERM arrived inside `handling_signals()`."""
    return signal.SIGTERM in _received


def raise_if_received():
    """Raises KeyboardInterrupt after Ctrl-C, or Terminated after SIGTERM (unless `deferred()`), else returns."""
    if signal.SIGINT in _received:
        raise KeyboardInterrupt()
    if requested() and not _deferring:
        raise Terminated()


@contextlib.contextmanager
def handling_signals():
    """Inside, Ctrl-C raises KeyboardInterrupt and SIGTERM raises `Terminated`; see the module docstring."""
    _received.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _on_signal)}
    # A Ctrl-C that the caller ignores (nohup, a shell's background job) stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def reclaim_sigterm():
    """Installs Python's SIGTERM handler again over one that TensorFlow's C++ runtime put in its place.

    Python does not see that TensorFlow replaced it: the handler Python
    believes installed (its default, or `handling_signals`'s) is set again.
    """
    handler = signal.getsignal(signal.SIGTERM)
    # Only the main thread may set handlers; None: one Python did not install.
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def deferred():
    """Inside, SIGTERM only sets `requested()`; the code inside must check it and raise `Terminated`."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


class RaiseAtBatchEnd(keras.callbacks.Callback):
    """Raises, at the end of each batch and epoch, a Ctrl-C or SIGTERM whose exception was lost (see above)."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_received()

    def on_test_batch_end(self, batch, logs=None):
        raise_if_received()

    def on_epoch_end(self, epoch, logs=None):
        raise_if_received()
