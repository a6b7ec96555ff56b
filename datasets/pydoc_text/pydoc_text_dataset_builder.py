"""Python documentation text for next-character language modelling.

Each example is one help topic of Python's reference manual:

  text: scalar string, the topic's plain text (about 200 to 62k characters)
"""

import collections
from typing import Dict

import tensorflow_datasets as tfds
from pydoc_data import topics as pydoc_topics

from datasets import _common

_DESCRIPTION = """\
The help topics that Python's `pydoc` shows for `help("if")`, `help("class")`
etc.: `pydoc_data.topics.topics` from the standard library, about 80 topics and
465k characters of English reference-manual text in Python 3.11 (the exact text
follows the interpreter's version). No install needed.

One example per topic; topics with identical text ("if" and "else" in 3.11)
are merged into one example first, so no text is in two splits. The examples
are split 80/10/10 by a salted SHA-256 hash of the topic name, so a model is
evaluated on whole sections it has never seen rather than on random character
windows cut from text it trained on. Cut the text into training windows in
the input pipeline.
"""

_CITATION = """\
@manual{python_reference,
  author = {{Python Software Foundation}},
  title = {The Python Language Reference},
  howpublished = {\\url{https://docs.python.org/3/reference/}},
}
"""


def load_topics() -> Dict[str, str]:
  """`{topic name: text}`; tests replace it with dummy_data/topics.json."""
  return dict(pydoc_topics.topics)


def group_by_text(topics: Dict[str, str]) -> Dict[str, str]:
  """Merges topics that share one text, e.g. "if" and "else".

  Returns:
    `{key: text}` with unique texts; the key joins the sorted topic names
    with "+", e.g. "else+if".
  """
  names_by_text = collections.defaultdict(list)
  for name, text in topics.items():
    names_by_text[text].append(name)
  return {"+".join(sorted(names)): text for text, names in names_by_text.items()}


class Builder(_common.OfflineBuilderMixin, tfds.core.GeneratorBasedBuilder):
  """Python's pydoc help topics, one example per topic."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release: one example per topic, 80/10/10."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
        supervised_keys=None,
        homepage="https://docs.python.org/3/library/pydoc.html",
        citation=_CITATION,
        license="PSF-2.0 (Python Software Foundation License)",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data comes with the Python standard library.
    texts = group_by_text(load_topics())
    return {
        name: self._generate_examples({k: texts[k] for k in keys})
        for name, keys in _common.assign_splits(sorted(texts), salt=self.name).items()
    }

  def _generate_examples(self, texts: Dict[str, str]):
    for key, text in texts.items():
      yield key, {"text": text}
