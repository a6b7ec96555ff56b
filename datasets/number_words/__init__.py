"""`number_words`: English to French number words (num2words)."""

from datasets.number_words.number_words_dataset_builder import Builder, NumberWordsConfig
