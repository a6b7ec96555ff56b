"""TFDS builders through `datasets.load`: catalog names, key mapping, unprepared data.

The project's real builders live in another branch, so tiny builders defined
here stand in for a catalog dataset, prepared into a temporary data_dir.
"""

import dataclasses
import time

import pytest
import tensorflow_datasets as tfds

import datasets
from datasets import DatasetError, catalog, tasks


class DatasetsIoFakeTranslation(tfds.core.GeneratorBasedBuilder):
    """20 train and 5 test pairs "aN" -> "bN"; no validation split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.Translation(languages=("xx", "yy")),
            supervised_keys=("xx", "yy"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(range(20)), "test": self._generate_examples(range(20, 25))}

    def _generate_examples(self, numbers):
        for number in numbers:
            yield number, {"xx": f"a{number}", "yy": f"b{number}"}


class DatasetsIoFakeReviews(tfds.core.GeneratorBasedBuilder):
    """Reviews with our own keys and a ClassLabel, in train/validation/test."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=["negative", "positive"]),
            }),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in ("train", "validation", "test")}

    def _generate_examples(self, split):
        for number in range(4):
            yield number, {"text": f"{split} review {number}", "label": number % 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    for builder_class in (DatasetsIoFakeTranslation, DatasetsIoFakeReviews):
        builder_class(data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


def as_lists(loaded):
    return {
        split: [
            {key: value.decode() if isinstance(value, bytes) else value for key, value in example.items()}
            for example in dataset.as_numpy_iterator()
        ]
        for split, dataset in loaded.splits.items()
    }


def test_catalog_translation_maps_supervised_keys_and_cuts_validation(data_dir):
    loaded = datasets.load("translation", "tfds:datasets_io_fake_translation", data_dir=data_dir)

    assert loaded.name == "datasets_io_fake_translation" and loaded.tokens == "words"
    splits = as_lists(loaded)
    assert {split: len(examples) for split, examples in splits.items()} == {"train": 18, "validation": 2, "test": 5}
    every_example = [example for examples in splits.values() for example in examples]
    assert sorted(e["source"] for e in every_example) == sorted(f"a{n}" for n in range(25))
    assert all(example["target"] == "b" + example["source"][1:] for example in every_example)
    assert {e["source"] for e in splits["test"]} == {f"a{n}" for n in range(20, 25)}


def test_catalog_version_suffix_is_accepted(data_dir):
    loaded = datasets.load("translation", "tfds:datasets_io_fake_translation:1.0.0", data_dir=data_dir)

    assert len(as_lists(loaded)["test"]) == 5


def test_catalog_sentiment_keeps_keys_and_class_names(data_dir):
    loaded = datasets.load("sentiment", "tfds:datasets_io_fake_reviews", data_dir=data_dir)

    assert loaded.label_names == ["negative", "positive"]
    first = next(loaded.splits["validation"].as_numpy_iterator())
    assert first["text"].decode().startswith("validation review")
    assert first["label"].dtype == "int64"


def test_catalog_dataset_of_another_task_fails_clearly(data_dir):
    with pytest.raises(DatasetError) as error_info:
        datasets.load("sentiment", "tfds:datasets_io_fake_translation", data_dir=data_dir)

    message = str(error_info.value)
    assert "\n" not in message and "'yy'" in message and "'label'" in message


def test_catalog_dataset_of_another_task_fails_before_any_download(tmp_path):
    with pytest.raises(DatasetError) as error_info:
        datasets.load("frames", "tfds:imdb_reviews", data_dir=str(tmp_path))

    assert "tfds:imdb_reviews" in str(error_info.value) and "frames" in str(error_info.value)
    assert "not prepared" not in str(error_info.value)


def test_project_builder_route_prepares_and_loads(tmp_path, monkeypatch):
    # Stand in for product_reviews_zh, which another branch adds.
    task = dataclasses.replace(tasks.TASKS["sentiment"], default_dataset="datasets_io_fake_reviews", builders=("datasets_io_fake_reviews",))
    monkeypatch.setitem(tasks.TASKS, "sentiment", task)

    loaded = datasets.load("sentiment", data_dir=str(tmp_path))

    assert loaded.name == "datasets_io_fake_reviews" and loaded.label_names == ["negative", "positive"]
    assert sorted(example["text"] for example in as_lists(loaded)["test"]) == [f"test review {n}" for n in range(4)]


@pytest.mark.parametrize("name", ["datasets_io_fake_translation", "ted_hrlr_translate/pt_to_en"])
def test_unprepared_catalog_dataset_fails_at_once(tmp_path, monkeypatch, name):
    def no_download(*args, **kwargs):
        raise AssertionError("download_and_prepare must not run without download=True")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    started = time.monotonic()
    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", f"tfds:{name}", data_dir=str(tmp_path))
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    message = str(error_info.value)
    assert "\n" not in message
    assert f"tfds:{name} is not prepared in {tmp_path}" in message and "download=True" in message


def test_unknown_catalog_name_fails():
    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", "tfds:no_such_catalog_set")

    assert "tfds:no_such_catalog_set is not in the TFDS catalog" in str(error_info.value)


@pytest.mark.parametrize(
    "dataset, fragment",
    [("tfds:datasets_io_fake_translation:9.9.9", "9.9.9"), ("tfds:ted_hrlr_translate/zz_to_en", "zz_to_en")],
    ids=["version", "config"],
)
def test_unknown_catalog_version_or_config_fails_in_one_line(tmp_path, dataset, fragment):
    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", dataset, data_dir=str(tmp_path))

    message = str(error_info.value)
    assert "\n" not in message and message.startswith(dataset) and fragment in message


@pytest.mark.parametrize("name", sorted(catalog.KNOWN_KEYS))
def test_known_keys_match_the_catalog_features(tmp_path, name):
    features = tfds.builder(name, data_dir=str(tmp_path)).info.features

    assert set(catalog.KNOWN_KEYS[name].values()) <= set(features.keys())


def test_catalog_route_loads_one_of_our_builders_prepared_into_a_data_dir(tmp_path):
    """What a user with a network gets from `tfds:NAME`, shown offline on a project builder."""
    tfds.builder("pydoc_text", data_dir=tmp_path).download_and_prepare()
    loaded = datasets.load("language_model", "tfds:pydoc_text", data_dir=tmp_path)
    texts = [example["text"].numpy().decode() for example in loaded.splits["test"]]
    assert len(texts) == 8
    assert all(text.strip() for text in texts)
    assert set(loaded.splits) == {"train", "validation", "test"}
