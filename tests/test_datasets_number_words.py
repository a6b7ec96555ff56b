"""Tests for the `number_words` builder (English to French, num2words)."""

import pytest
import tensorflow_datasets as tfds

import datasets
from datasets.number_words import number_words_dataset_builder as number_words
from datasets_testing import assert_disjoint, build, files_under, hide_package, load_texts, split_sizes

SPLITS = ("train", "validation", "test")


def small_config(stop=50, start=0):
  return number_words.NumberWordsConfig(name=f"range_{start}_{stop}", start=start, stop=stop)


def read_pairs(builder):
  """`{split: {source: target}}`."""
  return {
      s: dict(zip(load_texts(builder, s, "source"), load_texts(builder, s, "target"))) for s in SPLITS
  }


def test_small_range_build_yields_declared_features(tmp_path):
  builder = build(number_words.Builder, tmp_path, config=small_config())
  assert builder.info.supervised_keys == ("source", "target")
  assert split_sizes(builder) == {"train": 40, "validation": 5, "test": 5}
  pairs = read_pairs(builder)
  assert_disjoint(pairs)  # num2words is one-to-one, so sources identify numbers.
  everything = {k: v for split in pairs.values() for k, v in split.items()}
  assert len(everything) == 50
  assert everything["twenty-one"] == "vingt et un"
  assert everything["zero"] == "zéro"


def test_split_is_by_number_and_deterministic():
  numbers = range(1000)
  splits = datasets._common.assign_splits(numbers, salt="number_words")
  assert_disjoint(splits)
  assert sorted(n for part in splits.values() for n in part) == list(numbers)
  assert splits == datasets._common.assign_splits(numbers, salt="number_words")


@pytest.mark.parametrize("start, stop", [(10, 10), (-1, 5)])
def test_invalid_range_is_rejected(tmp_path, start, stop):
  with pytest.raises(ValueError, match="0 <= start < stop"):
    build(number_words.Builder, tmp_path, config=small_config(start=start, stop=stop))
  assert files_under(tmp_path) == []


def test_missing_num2words_names_the_install_command(tmp_path, monkeypatch):
  hide_package(monkeypatch, "num2words")
  with pytest.raises(datasets.MissingPackageError, match="pip install num2words==0.5.14"):
    build(number_words.Builder, tmp_path, config=small_config())
  assert files_under(tmp_path) == []


def test_real_default_build(tmp_path):
  builder = tfds.builder("number_words", data_dir=tmp_path)
  builder.download_and_prepare()
  assert builder.builder_config.name == "upto_10k"
  assert split_sizes(builder) == {"train": 8000, "validation": 1000, "test": 1000}
  pairs = read_pairs(builder)
  assert_disjoint(pairs)
  everything = {k: v for split in pairs.values() for k, v in split.items()}
  assert len(everything) == 10_000
  assert everything["three hundred and twenty-one"] == "trois cent vingt et un"
  assert everything["ninety-nine"] == "quatre-vingt-dix-neuf"
