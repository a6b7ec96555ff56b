"""Behaviour shared by all builders in `datasets`: registration, offline, cleanup."""

import fcntl
import socket
import threading

import pytest
import tensorflow_datasets as tfds

import datasets  # noqa: F401  (registers the builders under test)
from datasets import _common
from datasets.cmudict_g2p import cmudict_g2p_dataset_builder as g2p
from datasets.pydoc_text import pydoc_text_dataset_builder as pydoc_text
from datasets_testing import build, files_under

NAMES = ["cmudict_g2p", "number_words", "phone_frames", "product_reviews_zh", "pydoc_text", "spoken_digit_frames"]


@pytest.mark.parametrize("name", NAMES)
def test_importing_datasets_registers_each_builder(name, tmp_path):
    builder = tfds.builder(name, data_dir=tmp_path)
    info = builder.info
    assert builder.version == "1.0.0" and "1.0.0" in builder.RELEASE_NOTES
    assert info.description and info.citation and info.homepage
    assert info.redistribution_info.license
    assert files_under(tmp_path) == []  # Looking at a builder writes nothing.


def test_builds_never_touch_the_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a builder tried to use the network")

    for name in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(pydoc_text, "load_topics", lambda: {c: f"text {c}" for c in "abcdefghij"})
    builder = tfds.builder("pydoc_text", data_dir=tmp_path)
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == 8
    # No empty downloads/ folder either: nothing was downloaded.
    assert [p.name for p in tmp_path.iterdir()] == ["pydoc_text"]


def test_assign_splits_is_exact_disjoint_and_order_independent():
    keys = [f"k{i}" for i in range(101)]
    splits = _common.assign_splits(keys, salt="x")
    assert {s: len(k) for s, k in splits.items()} == {"train": 81, "validation": 10, "test": 10}
    assert sorted(k for part in splits.values() for k in part) == sorted(keys)
    assert splits == _common.assign_splits(list(reversed(keys)), salt="x")
    assert splits != _common.assign_splits(keys, salt="y")


def test_assign_splits_rejects_duplicate_keys():
    with pytest.raises(ValueError, match="unique keys"):
        _common.assign_splits(["a", "b", "a"], salt="x")


def broken_topics():
    # Topic "c" fails to serialize, so TFDS fails while writing a split.
    return {c: 3 if c == "c" else f"text {c}" for c in "abcdefghij"}


@pytest.mark.parametrize("subdir", ["", "not/yet/made"])
def test_failed_build_leaves_nothing_in_data_dir(tmp_path, monkeypatch, subdir):
    monkeypatch.setattr(pydoc_text, "load_topics", broken_topics)
    data_dir = tmp_path / subdir
    with pytest.raises(TypeError, match="while serializing feature `text`"):
        build(pydoc_text.Builder, data_dir)
    assert files_under(tmp_path) == []


def test_failed_build_keeps_other_datasets(tmp_path, monkeypatch):
    monkeypatch.setattr(pydoc_text, "load_topics", lambda: {c: f"text {c}" for c in "abcdefghij"})
    build(pydoc_text.Builder, tmp_path)
    before = files_under(tmp_path)
    monkeypatch.setattr(g2p, "source_file", lambda: tmp_path / "missing.dict")
    with pytest.raises(FileNotFoundError):
        build(g2p.Builder, tmp_path)
    assert files_under(tmp_path) == before


def test_prepare_once_waits_for_a_build_elsewhere_and_reads_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pydoc_text, "load_topics", lambda: {c: f"text {c}" for c in "abcdefghij"})
    waiting = tfds.builder("pydoc_text", data_dir=tmp_path)
    tmp_path.mkdir(exist_ok=True)
    finished = threading.Event()
    # flock locks belong to an open file: this one stands for another process (or host) building now.
    with open(tmp_path / "pydoc_text.lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: (_common.prepare_once(waiting), finished.set()))
        thread.start()
        assert not finished.wait(1.0), "prepare_once did not wait for the lock"
        tfds.builder("pydoc_text", data_dir=tmp_path).download_and_prepare()
    thread.join(timeout=30)
    assert finished.is_set()
    # The waiting builder was made before the data existed; it reads the other build, without building again.
    assert waiting.info.splits["train"].num_examples == 8
    assert "Waiting for another process to prepare pydoc_text" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pydoc_text", "pydoc_text.lock"]


def test_prepare_once_keeps_stdout_for_results(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pydoc_text, "load_topics", lambda: {c: f"text {c}" for c in "abcdefghij"})
    _common.prepare_once(tfds.builder("pydoc_text", data_dir=tmp_path))
    output = capsys.readouterr()
    assert output.out == "" and "downloaded and prepared" in output.err
