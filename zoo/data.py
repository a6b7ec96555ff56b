"""From settings to batches: load the dataset, build the vocabularies, and describe the data to the builders."""

import dataclasses

import keras

import datasets
from datasets import pipeline
from zoo import tasks
from zoo.tasks.base import DataInfo


@dataclasses.dataclass
class Prepared:
    """A loaded dataset, its vectorizers, batches of every split, and the `DataInfo` for the builder.

    `vectorizers` maps each text field of the task ("text", or "source" and
    "target") to a TextVectorization layer; `vocabularies` holds how to
    rebuild them (`config.json` stores it, so a resumed or evaluated run uses
    the very same ids).
    """

    loaded: datasets.LoadedDataset
    info: DataInfo
    vectorizers: dict
    vocabularies: dict
    batches: dict


def load(task, settings):
    """`datasets.load` for a run: the settings' dataset and tokens, and only the first `limit` training examples."""
    loaded = datasets.load(
        task, settings.dataset, data_dir=settings.data_dir, tokens=settings.tokens, seed=settings.seed
    )
    if settings.limit is not None:
        loaded.splits["train"] = loaded.splits["train"].take(settings.limit)
    return loaded


def vectorizer_from_vocabulary(entry):
    """Rebuilds a TextVectorization from a `Prepared.vocabularies` entry."""
    return keras.layers.TextVectorization(
        standardize=pipeline.standardizer(entry["standardize"]),
        split="character" if entry["tokens"] == "chars" else "whitespace",
        vocabulary=entry["vocabulary"],
    )


def vectorizers_from_vocabularies(vocabularies):
    """{name: TextVectorization} for a run's {name: vocabulary entry} (config.json's "vocabularies")."""
    return {name: vectorizer_from_vocabulary(entry) for name, entry in vocabularies.items()}


def prepare(task, settings, vocabularies=None):
    """Loads the data of `task` for `settings` and batches every split.

    Args:
        task: the model's task (a name or a `zoo.tasks.Task`).
        settings: a `zoo.settings.Settings`.
        vocabularies: vocabularies from an earlier run's `config.json`; None
            builds them from the training split.
    """
    task = tasks.get(task)
    loaded = load(task.name, settings)
    if vocabularies is None:
        vocabularies = task.new_vocabularies(loaded, settings)
    vectorizers = vectorizers_from_vocabularies(vocabularies)
    info, batches = task.batches(loaded, vectorizers, settings)
    return Prepared(loaded, info, vectorizers, vocabularies, batches)
