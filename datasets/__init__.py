"""Datasets of the zoo: TFDS builders, users' own files and the TFDS catalog behind one `load`."""

from datasets.errors import DatasetError
from datasets.loading import LoadedDataset, load
from datasets.tasks import TASKS
