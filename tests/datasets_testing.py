"""Helpers shared by the tests/test_datasets_*.py files."""

import importlib.util
import os
import pathlib

import tensorflow_datasets as tfds

import datasets

DATASETS_DIR = pathlib.Path(datasets.__file__).parent


def dummy_data(name: str) -> pathlib.Path:
    return DATASETS_DIR / name / "dummy_data"


def build(builder_cls, data_dir, **kwargs):
    """Builds a dataset into `data_dir` and returns its builder."""
    builder = builder_cls(data_dir=os.fspath(data_dir), **kwargs)
    builder.download_and_prepare()
    return builder


def load(builder, split: str) -> dict:
    """Reads a whole split into `{feature: list of numpy values}`."""
    rows = list(tfds.as_numpy(builder.as_dataset(split=split)))
    return {key: [row[key] for row in rows] for key in builder.info.features}


def load_texts(builder, split: str, key: str) -> list:
    """Reads one text feature of a whole split as `str`s, in batches for speed."""
    ds = builder.as_dataset(split=split).map(lambda ex: ex[key]).batch(8192)
    return [t.decode("utf-8") for batch in tfds.as_numpy(ds) for t in batch]


def split_sizes(builder) -> dict:
    return {name: info.num_examples for name, info in builder.info.splits.items()}


def files_under(path) -> list:
    """Every file and folder below `path`, relative to it."""
    root = pathlib.Path(path)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def hide_package(monkeypatch, hidden: str) -> None:
    """Makes `importlib.util.find_spec` report package `hidden` as missing."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == hidden or name.startswith(hidden + "."):
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def assert_disjoint(split_items: dict) -> None:
    """Raises if any item is in two of the splits `{split: iterable}`."""
    names = sorted(split_items)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = set(split_items[a]) & set(split_items[b])
            if shared:
                raise AssertionError(f"{a} and {b} share {len(shared)} items, e.g. {sorted(shared)[:3]}")


# 30 short sentences: the text of a tiny phone_frames build (24 train, 3 validation, 3 test).
TINY_PHONE_TEXT = " ".join(f"The {word} reads a short sentence for the test number {word}." for word in (
    "cat dog bird fish horse mouse lion tiger bear wolf fox deer goat sheep cow pig duck goose swan crow "
    "owl hawk frog toad snake lizard whale seal shark crab").split())


def use_tiny_phone_sources(monkeypatch) -> None:
    """Makes phone_frames build from TINY_PHONE_TEXT and 3 real prompts, in seconds."""
    from datasets.phone_frames import phone_frames_dataset_builder as phones

    monkeypatch.setattr(phones, "docstring_texts", lambda: [TINY_PHONE_TEXT])
    prompts = phones.asterisk_prompts()
    kept = ("activated", "added", "auth-thankyou")
    monkeypatch.setattr(phones, "asterisk_prompts", lambda: [prompt for prompt in prompts if prompt[0] in kept])
