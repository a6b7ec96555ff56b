"""Users' own files as datasets of the four tasks.

Formats (all text is UTF-8; a UTF-8 byte-order mark is allowed):

- sentiment: a `.csv` or `.tsv` file whose header row has columns `text` and
  `label`, or a folder of `.txt` files under one subfolder per label
  (`root/pos/*.txt`, `root/neg/*.txt`), one example per file. Label strings
  are mapped to their index in the sorted label names (numeric order when
  every label is an integer, so "1".."10" stay in order).
- translation: a file of `source<TAB>target` lines; blank lines are skipped
  and a first line `source<TAB>target` is read as a header.
- frames: a `.npz` file with arrays `features` (total_frames, dim),
  `labels` (total_frames,) and `lengths` (n_sequences,), where `lengths`
  cuts the frames into sequences and sums to total_frames.
- language_model: any text file; each non-blank line is one example.

Splits: a folder holding `train.*`, `validation.*` and `test.*` files (or,
for sentiment, `train/`, `validation/` and `test/` label folders) keeps those
splits. A single file or a single label folder is split 80/10/10: the
example indices are permuted with `numpy.random.default_rng(seed)`,
validation and test each take floor(n / 10) examples and train the rest;
each split keeps the file order. The same file and seed always give the same
split.
"""

import csv
import dataclasses
import io
import pathlib
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from datasets._common import SPLITS
from datasets.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class FileData:
    """What a task makes of the examples read from a user's files.

    Attributes:
        splits: "train", "validation" and "test" -> `tf.data.Dataset`s of the task's elements.
        label_names: class names indexed by label id, or None.
        feature_dim: the frame dimension of (time, dim) features, or None.
        several_references: a source appears with several targets (a word with
            two pronunciations), so an answer is scored against the closest.
    """

    splits: dict
    label_names: list | None = None
    feature_dim: int | None = None
    several_references: bool = False


def load_files(task, path, *, seed: int = 0) -> FileData:
    """Reads users' own files for `task`.

    Args:
        task: the `datasets.tasks.Task` the files hold; its `read_file` reads
            one file (or label folder) and its `to_splits` makes the `FileData`.
        path: a file, or a folder (see the module docstring).
        seed: seeds the 80/10/10 split of a single file or label folder.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise DatasetError(f"{path} does not exist: pass an existing file or folder.")
    split_paths = _find_split_paths(task, path) if path.is_dir() else None
    if split_paths:
        examples = {split: task.read_file(split_paths[split]) for split in SPLITS}
        for split in SPLITS:
            if not examples[split]:
                raise DatasetError(
                    f"{split_paths[split]}: the {split} split has no examples; add some."
                )
    else:
        if path.is_dir() and not task.label_folders:
            raise DatasetError(
                f"{path} is a folder without train.*, validation.* and test.* files: "
                f"add them, or pass a single file to split 80/10/10."
            )
        examples = _split_80_10_10(task.read_file(path), path, seed)
    return task.to_splits(examples, split_paths or {split: path for split in SPLITS})


def _find_split_paths(task, folder: pathlib.Path):
    """Maps each split to its file (or label folder) in `folder`, or returns None."""
    found = {}
    for entry in sorted(folder.iterdir()):
        split = entry.name if entry.is_dir() else entry.name.split(".")[0]
        if split not in SPLITS or (entry.is_dir() and not task.label_folders):
            continue
        if split in found:
            raise DatasetError(
                f"{folder} holds both {found[split].name} and {entry.name}: "
                f"keep one {split} file or folder."
            )
        found[split] = entry
    if not found:
        return None
    missing = [split for split in SPLITS if split not in found]
    if missing:
        raise DatasetError(
            f"{folder} has {', '.join(sorted(found))} but no {', '.join(missing)}: "
            f"add {', '.join(missing)} files, or pass a single file to split 80/10/10."
        )
    return found


def _split_80_10_10(examples: list, path: pathlib.Path, seed: int) -> dict:
    """Deterministic seeded 80/10/10 split; each split keeps the file order."""
    held_out = len(examples) // 10
    if held_out == 0:
        raise DatasetError(
            f"{path} has {len(examples)} examples, so the 80/10/10 split leaves validation "
            f"and test empty: add examples (10 at least) or give train/validation/test files."
        )
    order = np.random.default_rng(seed).permutation(len(examples))
    parts = {
        "train": order[: len(examples) - 2 * held_out],
        "validation": order[len(examples) - 2 * held_out : len(examples) - held_out],
        "test": order[len(examples) - held_out :],
    }
    return {split: [examples[i] for i in sorted(indices)] for split, indices in parts.items()}


def _read_utf8(path: pathlib.Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DatasetError(
            f"{path}:{line}: byte 0x{data[error.start]:02x} at byte offset {error.start} is not "
            f"UTF-8: re-save the file as UTF-8 (e.g. iconv -f GBK -t UTF-8)."
        ) from None


def read_sentiment(path: pathlib.Path) -> list[tuple[str, str]]:
    """Returns (text, label string) pairs from a CSV/TSV file or a label folder."""
    if path.is_dir():
        return _read_label_folders(path)
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DatasetError(
            f"{path}: sentiment files must be .csv or .tsv with columns text and label, "
            f"or a folder of label subfolders."
        )
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    shown_delimiter = "<TAB>" if delimiter == "\t" else ","
    reader = csv.reader(io.StringIO(_read_utf8(path), newline=""), delimiter=delimiter, strict=True)
    rows = []
    # A quoted field may span lines: report the line where its row starts.
    row_start = 1
    try:
        for row in reader:
            rows.append((row_start, row))
            row_start = reader.line_num + 1
    except csv.Error as error:
        raise DatasetError(
            f"{path}:{row_start}: {error}: close the quote or double it (\"\") inside a quoted field."
        ) from None
    if not rows:
        raise DatasetError(f"{path} is empty: add a header row with columns text and label.")
    header_line, header = rows[0]
    if "text" not in header or "label" not in header:
        raise DatasetError(
            f"{path}:{header_line}: header {header} lacks column 'text' or 'label': "
            f"the first row must name the columns, e.g. text{shown_delimiter}label."
        )
    text_column, label_column = header.index("text"), header.index("label")
    examples = []
    for line, row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):
            raise DatasetError(
                f"{path}:{line}: {len(row)} fields where the header has {len(header)}: "
                f"wrap every field that contains a '{shown_delimiter}' in double quotes."
            )
        text, label = row[text_column], row[label_column].strip()
        if not text.strip() or not label:
            raise DatasetError(f"{path}:{line}: empty text or label: fill it in or delete the row.")
        examples.append((text, label))
    return examples


def _read_label_folders(root: pathlib.Path) -> list[tuple[str, str]]:
    examples = []
    for label_folder in sorted(entry for entry in root.iterdir() if entry.is_dir()):
        for text_file in sorted(label_folder.glob("*.txt")):
            examples.append((_read_utf8(text_file), label_folder.name))
    if not examples:
        raise DatasetError(
            f"{root} has no label subfolders with .txt files: "
            f"lay it out as {root}/<label>/<example>.txt."
        )
    return examples


def read_translation(path: pathlib.Path) -> list[tuple[str, str]]:
    """Returns (source, target) pairs from `source<TAB>target` lines."""
    examples = []
    for line_number, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip() or (line_number == 1 and line == "source\ttarget"):
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise DatasetError(
                f"{path}:{line_number}: expected source<TAB>target but found {len(fields)} "
                f"tab-separated field(s): put exactly one tab between source and target."
            )
        if not fields[0].strip() or not fields[1].strip():
            raise DatasetError(
                f"{path}:{line_number}: empty source or target: fill it in or delete the line."
            )
        examples.append((fields[0], fields[1]))
    return examples


def read_text(path: pathlib.Path) -> list[str]:
    return [line for line in _read_utf8(path).splitlines() if line.strip()]


def read_frames(path: pathlib.Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Returns (features (time, dim), labels (time,)) pairs, one per sequence."""
    if path.suffix.lower() != ".npz":
        raise DatasetError(
            f"{path}: frames must be a .npz file: "
            f"np.savez(path, features=features, labels=labels, lengths=lengths)."
        )
    try:
        with np.load(path) as archive:
            missing = [name for name in ("features", "labels", "lengths") if name not in archive.files]
            if missing:
                raise DatasetError(
                    f"{path} lacks array(s) {', '.join(missing)} (has {', '.join(archive.files) or 'none'}): "
                    f"save features (total_frames, dim), labels (total_frames,) and lengths (n_sequences,)."
                )
            features, labels, lengths = archive["features"], archive["labels"], archive["lengths"]
    except DatasetError:
        raise
    # np.load raises all of these for bytes that are not a well-formed .npz archive.
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise DatasetError(f"{path} is not a readable .npz file ({reason}): save it with np.savez.") from None
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise DatasetError(
            f"{path}: features has shape {features.shape} and dtype {features.dtype}: "
            f"expected numbers shaped (total_frames, dim)."
        )
    if labels.shape != (len(features),) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(
            f"{path}: labels has shape {labels.shape} and dtype {labels.dtype}: "
            f"expected integers shaped ({len(features)},), one per frame of features."
        )
    if labels.size and labels.min() < 0:
        raise DatasetError(f"{path}: labels holds {labels.min()}: class ids must be 0 or more.")
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (lengths <= 0).any():
        raise DatasetError(
            f"{path}: lengths has shape {lengths.shape} and dtype {lengths.dtype}: "
            f"expected positive integers shaped (n_sequences,)."
        )
    if lengths.sum() != len(features):
        raise DatasetError(
            f"{path}: lengths sums to {lengths.sum()} but features has {len(features)} frames: "
            f"give one length per sequence so that they add up to the frame count."
        )
    boundaries = np.cumsum(lengths)[:-1]
    return list(zip(np.split(features.astype(np.float32), boundaries), np.split(labels.astype(np.int64), boundaries)))


def _sorted_label_names(labels: set[str]) -> list[str]:
    """Numeric order when every label is an integer ("2" before "10"), else string order."""
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


def sentiment_splits(examples: dict, sources: dict) -> FileData:
    """(text, label string) pairs per split -> texts and label ids, the labels sorted."""
    label_names = _sorted_label_names({label for split in SPLITS for _, label in examples[split]})
    label_ids = {name: index for index, name in enumerate(label_names)}
    splits = {
        split: tf.data.Dataset.from_tensor_slices({
            "text": [text for text, _ in examples[split]],
            "label": np.array([label_ids[label] for _, label in examples[split]], np.int64),
        })
        for split in SPLITS
    }
    return FileData(splits, label_names=label_names)


def translation_splits(examples: dict, sources: dict) -> FileData:
    """(source, target) pairs per split; a source with two different targets marks several references."""
    targets = {}
    for source, target in examples["train"]:
        targets.setdefault(source, set()).add(target)
    splits = {
        split: tf.data.Dataset.from_tensor_slices({
            "source": [source for source, _ in examples[split]],
            "target": [target for _, target in examples[split]],
        })
        for split in SPLITS
    }
    return FileData(splits, several_references=any(len(found) > 1 for found in targets.values()))


def text_splits(examples: dict, sources: dict) -> FileData:
    """Lines of text per split."""
    return FileData({split: tf.data.Dataset.from_tensor_slices({"text": examples[split]}) for split in SPLITS})


def frames_splits(examples: dict, sources: dict) -> FileData:
    """(features, labels) sequences per split; every split must have the training split's frame dim."""
    feature_dim = examples["train"][0][0].shape[1]
    for split in ("validation", "test"):
        split_dim = examples[split][0][0].shape[1]
        if split_dim != feature_dim:
            raise DatasetError(
                f"{sources[split]}: features have dim {split_dim} but {sources['train']} has "
                f"{feature_dim}: compute every split's features the same way."
            )
    num_classes = 1 + max(int(labels.max()) for split in SPLITS for _, labels in examples[split])
    splits = {split: _frames_dataset(examples[split]) for split in SPLITS}
    return FileData(splits, label_names=[str(label) for label in range(num_classes)], feature_dim=int(feature_dim))


def _frames_dataset(sequences: list[tuple[np.ndarray, np.ndarray]]) -> tf.data.Dataset:
    lengths = [len(labels) for _, labels in sequences]
    features = tf.RaggedTensor.from_row_lengths(np.concatenate([f for f, _ in sequences]), lengths)
    labels = tf.RaggedTensor.from_row_lengths(np.concatenate([l for _, l in sequences]), lengths)
    # Slices of a ragged tensor are dense already but typed RaggedTensorSpec,
    # which padded_batch rejects: give them a plain TensorSpec.
    return tf.data.Dataset.from_tensor_slices({"features": features, "labels": labels}).map(
        lambda element: {key: tf.convert_to_tensor(value) for key, value in element.items()}
    )
