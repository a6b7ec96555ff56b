"""A Keras model zoo of the recurrent networks in SPEC.md."""

import os

# TensorFlow logs its start-up at import time; quiet it unless the user chose
# otherwise. oneDNN's start-up notice is printed before logging is set up, so
# only switching oneDNN off removes it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from zoo.presets import from_preset  # noqa: E402  (after the environment above: it imports no TensorFlow itself)
