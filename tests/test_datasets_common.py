"""Behaviour shared by all builders in `datasets`: registration, offline, cleanup."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import datasets
from datasets import _common
from datasets.cmudict_g2p import cmudict_g2p_dataset_builder as g2p
from datasets.pydoc_text import pydoc_text_dataset_builder as pydoc_text
from datasets_testing import build, files_under

NAMES = ["cmudict_g2p", "number_words", "product_reviews_zh", "pydoc_text", "spoken_digit_frames"]


@pytest.mark.parametrize("name", NAMES)
def test_importing_datasets_registers_each_builder(name, tmp_path):
  builder = tfds.builder(name, data_dir=tmp_path)
  info = builder.info
  assert builder.version == "1.0.0" and "1.0.0" in builder.RELEASE_NOTES
  assert info.description and info.citation and info.homepage
  assert info.redistribution_info.license
  assert files_under(tmp_path) == []  # Looking at a builder writes nothing.


def test_assign_splits_is_exact_disjoint_and_order_independent():
  keys = [f"k{i}" for i in range(101)]
  splits = _common.assign_splits(keys, salt="x")
  assert {s: len(k) for s, k in splits.items()} == {"train": 81, "validation": 10, "test": 10}
  assert sorted(k for part in splits.values() for k in part) == sorted(keys)
  assert splits == _common.assign_splits(list(reversed(keys)), salt="x")
  assert splits != _common.assign_splits(keys, salt="y")


def test_assign_splits_rejects_duplicate_keys():
  with pytest.raises(ValueError, match="unique keys"):
    _common.assign_splits(["a", "b", "a"], salt="x")


def broken_topics():
  # The third example fails to encode, after TFDS has started writing the split.
  return {"a": "text a", "b": "text b", "c": np.zeros(3), "d": "text d"}


@pytest.mark.parametrize("subdir", ["", "not/yet/made"])
def test_failed_build_leaves_nothing_in_data_dir(tmp_path, monkeypatch, subdir):
  monkeypatch.setattr(pydoc_text, "load_topics", broken_topics)
  data_dir = tmp_path / subdir
  with pytest.raises(Exception):
    build(pydoc_text.Builder, data_dir)
  assert files_under(tmp_path) == []


def test_failed_build_keeps_other_datasets(tmp_path, monkeypatch):
  monkeypatch.setattr(pydoc_text, "load_topics", lambda: {c: f"text {c}" for c in "abcdefghij"})
  build(pydoc_text.Builder, tmp_path)
  before = files_under(tmp_path)
  monkeypatch.setattr(g2p, "source_file", lambda: tmp_path / "missing.dict")
  with pytest.raises(FileNotFoundError):
    build(g2p.Builder, tmp_path)
  assert files_under(tmp_path) == before
