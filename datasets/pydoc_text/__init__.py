"""`pydoc_text`: Python's pydoc help topics for character language models."""

from datasets.pydoc_text.pydoc_text_dataset_builder import Builder
