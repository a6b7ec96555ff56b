"""The four tasks of the zoo: the structure of one element and each task's datasets.

Every route in `datasets.load` (project builders, users' own files, the TFDS
catalog) yields elements with exactly these keys, dtypes and ranks.
"""

import dataclasses

import tensorflow as tf

from datasets.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class Task:
    """One task.

    Attributes:
        name: task name, e.g. "sentiment".
        element_spec: the structure of one unbatched element.
        default_dataset: the builder `load` uses when no dataset is given.
        builders: the project's builders that produce this task.
        text_keys: the string features that tokenisation applies to.
    """

    name: str
    element_spec: dict[str, tf.TensorSpec]
    default_dataset: str
    builders: tuple[str, ...]
    text_keys: tuple[str, ...]


TASKS = {
    "sentiment": Task(
        name="sentiment",
        element_spec={
            "text": tf.TensorSpec((), tf.string),
            "label": tf.TensorSpec((), tf.int64),
        },
        default_dataset="product_reviews_zh",
        builders=("product_reviews_zh",),
        text_keys=("text",),
    ),
    "frames": Task(
        name="frames",
        # (time, dim) features and one label per frame.
        element_spec={
            "features": tf.TensorSpec((None, None), tf.float32),
            "labels": tf.TensorSpec((None,), tf.int64),
        },
        default_dataset="spoken_digit_frames",
        builders=("spoken_digit_frames",),
        text_keys=(),
    ),
    "translation": Task(
        name="translation",
        element_spec={
            "source": tf.TensorSpec((), tf.string),
            "target": tf.TensorSpec((), tf.string),
        },
        default_dataset="number_words",
        builders=("number_words", "cmudict_g2p"),
        text_keys=("source", "target"),
    ),
    "language_model": Task(
        name="language_model",
        element_spec={"text": tf.TensorSpec((), tf.string)},
        default_dataset="pydoc_text",
        builders=("pydoc_text",),
        text_keys=("text",),
    ),
}


def get_task(name: str) -> Task:
    """Returns the task called `name`, or raises DatasetError listing the tasks."""
    if name not in TASKS:
        raise DatasetError(
            f"Unknown task {name!r}: use one of {', '.join(TASKS)}."
        )
    return TASKS[name]
