"""`load`: one entry point for the project's builders, users' files and the TFDS catalog."""

import dataclasses
import itertools
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from datasets import catalog, files
from datasets._common import prepare_once
from datasets.errors import DatasetError
from datasets.tasks import get_task

TOKENS = ("chars", "words")

# Share of CJK/kana among the letters of a text field above which it is split
# into characters: Chinese and Japanese have no spaces between words.
CJK_SHARE_FOR_CHARS = 0.3
TOKENS_SAMPLE_SIZE = 500


@dataclasses.dataclass(frozen=True)
class LoadedDataset:
    """A dataset ready for the input pipelines.

    Attributes:
        name: the builder or catalog name, or the file/folder name.
        task: the task name.
        splits: "train", "validation" and "test" -> `tf.data.Dataset` of
            unbatched dicts with the task's keys (see `datasets.tasks.TASKS`).
        label_names: class names indexed by label id (sentiment, frames), or None.
        feature_dim: the frame dimension `dim` of (time, dim) features (frames), or None.
        tokens: "chars" or "words" for text tasks, None for frames.
        several_references: a source has several right targets (a word with
            several pronunciations): an answer is scored against the closest.
    """

    name: str
    task: str
    splits: dict[str, tf.data.Dataset]
    label_names: list[str] | None
    feature_dim: int | None
    tokens: str | None
    several_references: bool = False


def load(task, dataset=None, *, data_dir=None, tokens=None, download=False, seed=0) -> LoadedDataset:
    """Loads a dataset for `task`.

    Args:
        task: a task name of `datasets.tasks.TASKS`, e.g. "sentiment".
        dataset: None for the task's default builder; a project builder name,
            with a config after a slash for another than its default
            (e.g. "cmudict_g2p", "cmudict_g2p/no_stress"); a path to your own files (see
            `datasets.files`); or "tfds:NAME[/config][:version]" from the TFDS
            catalog. A builder name wins over a same-named folder in the
            working directory: write "./name" for the folder.
        data_dir: where TFDS builders keep prepared data (TFDS default if None).
        tokens: "chars" or "words" to override the detected tokenisation of
            text tasks.
        download: let a catalog dataset download; otherwise a catalog dataset
            that is not prepared in `data_dir` fails at once.
        seed: seeds the 80/10/10 split of a single user file.

    Returns:
        A `LoadedDataset`.
    """
    task = get_task(task)
    if tokens is not None and (tokens not in TOKENS or not task.text_keys):
        raise DatasetError(
            f"tokens={tokens!r} is not valid for task {task.name!r}: "
            + ("use 'chars', 'words' or None." if task.text_keys else "leave it None for frames.")
        )
    dataset = task.default_dataset if dataset is None else dataset
    if dataset is None:
        raise DatasetError(f"Task {task.name!r} has no default dataset: pass a dataset (a path to your files).")
    if isinstance(dataset, os.PathLike) or (
        dataset not in task.builders and not dataset.startswith(catalog.PREFIX) and os.path.exists(dataset)
    ):
        found = files.load_files(task, dataset, seed=seed)
        name = os.path.basename(os.path.normpath(dataset))
    elif dataset.startswith(catalog.PREFIX):
        name, found = catalog.load_catalog(task, dataset, data_dir=data_dir, download=download)
    elif dataset.split("/")[0] in task.builders:
        name = dataset
        found = _load_project_builder(task, dataset, data_dir)
    else:
        raise DatasetError(
            f"Unknown dataset {dataset!r} for task {task.name!r} (and no such file or folder): use one of "
            f"{', '.join(task.builders)}, a path to your own files, or tfds:NAME[/config][:version]."
        )
    if task.text_keys and tokens is None:
        tokens = detect_tokens(task, found.splits["train"])
    return LoadedDataset(
        name, task.name, found.splits, found.label_names, found.feature_dim, tokens, found.several_references
    )


def _load_project_builder(task, name: str, data_dir):
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DatasetError(
            f"Builder {name!r} is not registered: datasets/{name}/ must exist and be imported "
            f"by datasets/__init__.py."
        ) from None
    # TFDS reports an unknown config ("cmudict_g2p/typo") as ValueError.
    except ValueError as error:
        raise DatasetError(f"{name}: {str(error).splitlines()[0]}") from None
    key_map = {key: key for key in task.element_spec}
    catalog.check_features(task, builder, key_map, name)
    # The project's builders build from installed packages, without a network.
    prepare_once(builder)
    return catalog.dataset_from_builder(task, builder, key_map, name)


def detect_tokens(task, train: tf.data.Dataset) -> str:
    """"chars" if any text field of the first examples is mostly CJK/kana, else "words"."""
    samples = {key: [] for key in task.text_keys}
    for example in itertools.islice(train.as_numpy_iterator(), TOKENS_SAMPLE_SIZE):
        for key in task.text_keys:
            samples[key].append(example[key].decode("utf-8"))
    return "chars" if any(is_cjk_text(texts) for texts in samples.values()) else "words"


def is_cjk_text(texts) -> bool:
    """Whether the strings `texts` are mostly Chinese characters or Japanese kana, which have no spaces between words."""
    return cjk_share(" ".join(texts)) >= CJK_SHARE_FOR_CHARS


def cjk_share(text: str) -> float:
    """The share of Chinese characters and Japanese kana among the letters of `text`."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 0.0
    return sum(_is_cjk(char) for char in letters) / len(letters)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= code <= 0xFF9F  # half-width katakana
        or 0x20000 <= code <= 0x2FFFF  # CJK extensions B and later
    )
