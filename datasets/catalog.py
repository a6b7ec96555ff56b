"""TFDS builders (the project's and the TFDS catalog's) mapped onto a task's features.

A catalog dataset is named `tfds:NAME[/config][:version]`, e.g.
`tfds:imdb_reviews` or `tfds:ted_hrlr_translate/pt_to_en`. Its features are
renamed to the task's keys with `KNOWN_KEYS`, else by identical names, else
through `info.supervised_keys`.

Splits: a builder's train, validation and test splits are kept. A missing
validation or test split is cut from the end of train with TFDS split
slicing (deterministic, not seeded): train[:90%] / train[90%:] for one
missing split, train[:80%] / train[80%:90%] / train[90%:] for two.
"""

import os
import re

import tensorflow as tf
import tensorflow_datasets as tfds

from datasets._common import prepare_once
from datasets.errors import DatasetError
from datasets.files import FileData

PREFIX = "tfds:"

# Catalog features -> our keys, by "name/config" or "name".
KNOWN_KEYS = {
    "imdb_reviews": {"text": "text", "label": "label"},
    "yelp_polarity_reviews": {"text": "text", "label": "label"},
    "glue/sst2": {"text": "sentence", "label": "label"},
    "ted_hrlr_translate/pt_to_en": {"source": "pt", "target": "en"},
    "tiny_shakespeare": {"text": "text"},
    "lm1b": {"text": "text"},
}


def load_catalog(task, dataset: str, *, data_dir=None, download: bool = False):
    """Loads `tfds:NAME[/config][:version]` for `task`.

    Fails at once, without touching the network, when the data is not
    prepared in `data_dir` and `download` is False.

    Returns:
        (name, `files.FileData`) as for `dataset_from_builder`.
    """
    name = dataset[len(PREFIX):]
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DatasetError(
            f"{dataset} is not in the TFDS catalog: check the name at tensorflow.org/datasets/catalog."
        ) from None
    # TFDS reports a bad config or version as ValueError or AssertionError.
    except (ValueError, AssertionError) as error:
        reason = re.sub(r'^Failed to construct dataset .*?": ', "", str(error).splitlines()[0]).rstrip(": .")
        raise DatasetError(
            f"{dataset}: {reason}: check the config and version at tensorflow.org/datasets/catalog."
        ) from None
    config = builder.builder_config.name if builder.builder_config else None
    key_map = KNOWN_KEYS.get(f"{builder.name}/{config}") or KNOWN_KEYS.get(builder.name)
    if key_map is None or set(key_map) != set(task.element_spec):
        key_map = _infer_key_map(task, builder, dataset)
    # The features are known before any download, so a wrong task fails first.
    check_features(task, builder, key_map, dataset)
    if not download and not is_prepared(builder):
        build_command = f"tfds build {name}" + (f" --data_dir={data_dir}" if data_dir else "")
        raise DatasetError(
            f"{dataset} is not prepared in {builder.data_dir}: run once with download=True on a "
            f"machine with network access, or prepare it into that data_dir ({build_command}) "
            f"and copy it there."
        )
    prepare_once(builder)
    return name, dataset_from_builder(task, builder, key_map, dataset)


def is_prepared(builder: tfds.core.DatasetBuilder) -> bool:
    """True when `builder`'s data is prepared in its data_dir."""
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def _infer_key_map(task, builder, dataset: str) -> dict[str, str]:
    features = builder.info.features
    if all(key in features for key in task.element_spec):
        return {key: key for key in task.element_spec}
    supervised = builder.info.supervised_keys
    if isinstance(supervised, tuple) and len(supervised) == 2 and all(isinstance(k, str) for k in supervised):
        keys = list(task.element_spec)
        # A one-feature task (plain text) takes (x, x) pairs, the way TFDS marks a text-only dataset.
        if len(keys) == 1 and supervised[0] == supervised[1]:
            return {keys[0]: supervised[0]}
        if len(keys) == 2:
            return dict(zip(keys, supervised))
    raise DatasetError(
        f"{dataset} has features {', '.join(features)}, which do not map onto {task.name}'s "
        f"{', '.join(task.element_spec)}: pick a dataset of that task or convert it to files."
    )


def check_features(task, builder, key_map: dict[str, str], dataset: str) -> None:
    """Raises DatasetError unless the features named by `key_map` fit the task's dtypes and ranks."""
    for key, spec in task.element_spec.items():
        if key_map[key] not in builder.info.features:
            raise DatasetError(
                f"{dataset} has features {', '.join(builder.info.features)} but no {key_map[key]!r}, "
                f"which {task.name} needs: give the builder that feature."
            )
        feature = builder.info.features[key_map[key]]
        if not _compatible(feature.tf_dtype, spec.dtype) or len(feature.shape) != len(spec.shape):
            raise DatasetError(
                f"{dataset}: feature {key_map[key]!r} is {feature.tf_dtype.name} shaped "
                f"{feature.shape}, but {task.name}'s {key!r} needs {spec.dtype.name} of rank "
                f"{len(spec.shape)}: pick a dataset of that task."
            )


def dataset_from_builder(task, builder, key_map: dict[str, str], dataset: str):
    """Reads a prepared builder's splits with its features renamed by `key_map`.

    Args:
        task: the task to produce.
        builder: a prepared `tfds.core.DatasetBuilder` whose features passed
            `check_features`.
        key_map: our key -> the builder's feature name.
        dataset: the name the user gave, for error messages.

    Returns:
        A `files.FileData`. A builder whose class sets `SEVERAL_REFERENCES`
        (a word with several pronunciations) says so there.
    """

    def to_task(example):
        return {key: tf.cast(example[key_map[key]], spec.dtype) for key, spec in task.element_spec.items()}

    features = builder.info.features
    splits = {
        split: builder.as_dataset(split=source, shuffle_files=False).map(to_task)
        for split, source in _split_sources(builder, dataset).items()
    }
    label_names = _class_names(features[key_map[task.label_key]]) if task.label_key else None
    feature_dim = features[key_map[task.feature_key]].shape[-1] if task.feature_key else None
    return FileData(splits, label_names, feature_dim, getattr(builder, "SEVERAL_REFERENCES", False))


def _compatible(dtype: tf.DType, wanted: tf.DType) -> bool:
    if wanted == tf.string:
        return dtype == tf.string
    if wanted.is_integer:
        return dtype.is_integer
    return dtype.is_floating


def _class_names(feature) -> list[str] | None:
    # Per-frame labels are a Sequence or Tensor wrapping the ClassLabel.
    feature = getattr(feature, "feature", feature)
    return list(feature.names) if isinstance(feature, tfds.features.ClassLabel) else None


def _split_sources(builder, dataset: str) -> dict[str, str]:
    available = set(builder.info.splits.keys())
    if "train" not in available:
        raise DatasetError(
            f"{dataset} has splits {', '.join(sorted(available))} but no train split: "
            f"pick a dataset with one."
        )
    missing = [split for split in ("validation", "test") if split not in available]
    sources = {"train": "train", "validation": "validation", "test": "test"}
    if len(missing) == 1:
        sources.update({"train": "train[:90%]", missing[0]: "train[90%:]"})
    elif len(missing) == 2:
        sources.update({"train": "train[:80%]", "validation": "train[80%:90%]", "test": "train[90%:]"})
    return sources
