"""The data side of each task: the structure of one element, its datasets, and how its files are read.

Every route in `datasets.load` (project builders, users' own files, the TFDS
catalog) yields elements with exactly these keys, dtypes and ranks. What
differs between tasks is data held here (which key holds the labels, how a
file is read), so `datasets.load` never asks which task it is loading.
A new task registers its own `Task` with `register`.
"""

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from datasets import files
from datasets.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class Task:
    """One task's data.

    Attributes:
        name: task name, e.g. "sentiment".
        element_spec: the structure of one unbatched element.
        default_dataset: the dataset `load` uses when none is given: a builder
            name, or a path for tasks without a builder.
        builders: the project's builders that produce this task.
        text_keys: the string features that tokenisation applies to.
        read_file: `read_file(path) -> list of examples`, for users' own files.
        to_splits: `to_splits(examples by split, path by split) -> files.FileData`.
        label_key: the key whose class names are the dataset's label names, or None.
        feature_key: the key of (time, dim) features whose dim the models need, or None.
        label_folders: a folder of one subfolder per label is a dataset (sentiment).
    """

    name: str
    element_spec: dict[str, tf.TensorSpec]
    default_dataset: str | None
    builders: tuple[str, ...]
    text_keys: tuple[str, ...]
    read_file: Callable
    to_splits: Callable
    label_key: str | None = None
    feature_key: str | None = None
    label_folders: bool = False


TASKS = {}


def register(task: Task) -> Task:
    """Adds `task` to `TASKS` (replacing one of the same name) and returns it."""
    TASKS[task.name] = task
    return task


register(Task(
    name="sentiment",
    element_spec={
        "text": tf.TensorSpec((), tf.string),
        "label": tf.TensorSpec((), tf.int64),
    },
    default_dataset="product_reviews_zh",
    builders=("product_reviews_zh",),
    text_keys=("text",),
    read_file=files.read_sentiment,
    to_splits=files.sentiment_splits,
    label_key="label",
    label_folders=True,
))
register(Task(
    name="frames",
    # (time, dim) features and one label per frame.
    element_spec={
        "features": tf.TensorSpec((None, None), tf.float32),
        "labels": tf.TensorSpec((None,), tf.int64),
    },
    default_dataset="spoken_digit_frames",
    builders=("spoken_digit_frames", "phone_frames"),
    text_keys=(),
    read_file=files.read_frames,
    to_splits=files.frames_splits,
    label_key="labels",
    feature_key="features",
))
register(Task(
    name="translation",
    element_spec={
        "source": tf.TensorSpec((), tf.string),
        "target": tf.TensorSpec((), tf.string),
    },
    default_dataset="number_words",
    builders=("number_words", "cmudict_g2p"),
    text_keys=("source", "target"),
    read_file=files.read_translation,
    to_splits=files.translation_splits,
))
register(Task(
    name="language_model",
    element_spec={"text": tf.TensorSpec((), tf.string)},
    default_dataset="pydoc_text",
    builders=("pydoc_text",),
    text_keys=("text",),
    read_file=files.read_text,
    to_splits=files.text_splits,
))


def get_task(name: str) -> Task:
    """Returns the task called `name`, or raises DatasetError listing the tasks."""
    if name not in TASKS:
        raise DatasetError(
            f"Unknown task {name!r}: use one of {', '.join(TASKS)}."
        )
    return TASKS[name]
