"""Tests for the `pydoc_text` builder (Python's pydoc help topics)."""

import json

import pytest
from pydoc_data import topics as pydoc_topics

from datasets.pydoc_text import pydoc_text_dataset_builder as pydoc_text
from datasets_testing import assert_disjoint, build, dummy_data, load_texts, split_sizes

SPLITS = ("train", "validation", "test")
FAKE_TOPICS = json.loads((dummy_data("pydoc_text") / "topics.json").read_text(encoding="utf-8"))


@pytest.fixture
def fake_source(monkeypatch):
  monkeypatch.setattr(pydoc_text, "load_topics", lambda: dict(FAKE_TOPICS))


def test_group_by_text_merges_topics_with_the_same_text():
  grouped = pydoc_text.group_by_text({"if": "same", "else": "same", "for": "other"})
  assert grouped == {"else+if": "same", "for": "other"}


def test_fake_build_yields_one_example_per_distinct_text(tmp_path, fake_source):
  builder = build(pydoc_text.Builder, tmp_path)
  assert builder.info.supervised_keys is None
  # 12 fake topics, "if" and "else" share a text: 11 examples, 9/1/1.
  assert split_sizes(builder) == {"train": 9, "validation": 1, "test": 1}
  texts = {s: load_texts(builder, s, "text") for s in SPLITS}
  assert_disjoint(texts)
  assert sorted(t for split in texts.values() for t in split) == sorted(set(FAKE_TOPICS.values()))


def test_real_build_from_the_standard_library(tmp_path):
  builder = build(pydoc_text.Builder, tmp_path)
  distinct = set(pydoc_topics.topics.values())
  sizes = split_sizes(builder)
  assert sum(sizes.values()) == len(distinct)
  assert sizes["validation"] == sizes["test"] == round(0.1 * len(distinct))
  texts = {s: load_texts(builder, s, "text") for s in SPLITS}
  assert_disjoint(texts)
  assert set(t for split in texts.values() for t in split) == distinct
