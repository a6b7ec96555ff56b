"""Tests for the `phone_frames` builder (flite's synthetic speech, Asterisk's prompts aligned by pocketsphinx)."""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import datasets  # noqa: F401  (registers the builder)
from datasets.phone_frames import phone_frames_dataset_builder as phones
from datasets_testing import files_under, hide_package, load, split_sizes, use_tiny_phone_sources

@pytest.fixture
def tiny_sources(monkeypatch):
    use_tiny_phone_sources(monkeypatch)


def collapse(labels):
    """Frame labels -> the phone names in order, each run of equal frames once."""
    names = [phones.PHONES[label] for label in labels]
    return [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name]


def test_sentences_keep_plain_worded_sentences_of_4_to_20_words_once():
    texts = ["Return the old value.  Return a new list of items.\nReturn a new list of items!",
             "Use f(x) here, it works well. Too short. Call the 2nd one now please.",
             "A sentence that runs on and on with far too many words for a single short utterance of ours in here."]
    assert phones.sentences(texts) == ["Return a new list of items!", "Return a new list of items.",
                                       "Return the old value."]


def test_a_pick_by_hash_is_stable_and_spreads_over_the_choices():
    picked = [phones.pick(f"sentence {i}", phones.TRAIN_VOICES, "voice") for i in range(300)]
    assert picked == [phones.pick(f"sentence {i}", phones.TRAIN_VOICES, "voice") for i in range(300)]
    assert all(picked.count(voice) > 60 for voice in phones.TRAIN_VOICES)


def test_frame_labels_take_the_phone_at_each_frames_centre():
    # Centres at 12.5, 22.5, 32.5, ... ms: the first two frames in "sil" (ends 25 ms), then "b" until 45 ms.
    labels = phones.frame_labels([("sil", 0.025), ("b", 0.045), ("aa", 0.06)], 6)
    assert collapse(labels) == ["sil", "b", "aa"]
    np.testing.assert_array_equal(labels, [phones.PHONES.index(p) for p in ("sil", "sil", "b", "b", "aa", "aa")])
    with pytest.raises(ValueError, match=r"\['ax'\] are not in the 40 labels"):
        phones.frame_labels([("ax", 0.1)], 3)


def test_halving_the_rate_keeps_what_is_below_4_khz_and_removes_what_is_above():
    time = np.arange(16000) / 16000
    low, high = np.sin(2 * np.pi * 1000 * time), np.sin(2 * np.pi * 6000 * time)
    halved = phones.halve_rate((low + high).astype(np.float32))
    expected = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)
    assert halved.shape == (8000,)
    np.testing.assert_allclose(halved[100:-100], expected[100:-100], atol=0.02)
    doubled = phones.double_rate(expected.astype(np.float32))
    np.testing.assert_allclose(doubled[200:-200], low[200:-200], atol=0.02)


def test_mfcc_frames_every_10_ms_with_deltas_make_39_features():
    samples = np.random.default_rng(0).normal(size=8000).astype(np.float32) * 0.1
    mfcc = phones.mfcc(samples)
    assert mfcc.shape == (1 + (8000 - 200) // 80, 13) and np.isfinite(mfcc).all()
    example = phones.example(samples, [("sil", 1.0)])
    assert example["features"].shape == (98, 39) and example["labels"].shape == (98,)


def test_spoken_text_spells_digits_and_drops_punctuation_and_descriptions():
    assert phones.spoken_text(" Please press 1 to mute, or 12.\n") == "please press one to mute or twelve"
    assert phones.spoken_text(" Call-Forward on Busy.") == "call forward on busy"
    assert phones.spoken_text(" [ascending tones]") is None


def test_flite_reads_a_sentence_with_the_timings_of_its_phones(tmp_path):
    samples, timed = phones.synthesize("The cat sat.", "slt", 1.0, str(tmp_path))
    names = [name for name, _ in timed]
    assert names == ["sil", "dh", "ah", "k", "ae", "t", "s", "ae", "t", "sil"]
    ends = [end for _, end in timed]
    assert ends == sorted(ends) and abs(ends[-1] - len(samples) / 8000) < 0.05
    assert files_under(tmp_path) == []  # Each WAV is removed once read.


def test_the_aligner_labels_a_real_prompt_with_its_dictionary_phones():
    prompt = [p for p in phones.asterisk_prompts() if p[0] == "activated"]
    (name, example), = phones.real_examples(prompt)
    assert name == "activated"
    spoken = [phone for phone in collapse(example["labels"]) if phone != "sil"]
    assert spoken == ["ae", "k", "t", "ah", "v", "ey", "t", "ih", "d"]


def test_a_tiny_build_writes_four_splits_of_labelled_frames(tmp_path, tiny_sources):
    builder = tfds.builder("phone_frames", data_dir=tmp_path)
    builder.download_and_prepare()
    sizes = split_sizes(builder)
    assert sizes == {"train": 24, "validation": 3, "test": 3, "test_real": 3}
    for split in sizes:
        data = load(builder, split)
        for features, labels in zip(data["features"], data["labels"]):
            assert features.shape == (len(labels), 39) and features.dtype == np.float32
            assert labels.min() >= 0 and labels.max() < len(phones.PHONES)
            assert collapse(labels)[0] == "sil" or split == "test_real"
    assert builder.info.features["labels"].feature.names == list(phones.PHONES)


def test_without_flite_the_build_fails_naming_the_apt_command_and_leaves_nothing(tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "flite" else real_which(name, *a, **k))
    builder = tfds.builder("phone_frames", data_dir=tmp_path)
    with pytest.raises(phones.MissingProgramError, match="apt-get install flite asterisk-core-sounds-en-wav"):
        builder.download_and_prepare()
    assert files_under(tmp_path) == []


def test_without_pocketsphinx_the_build_fails_naming_the_pip_command(tmp_path, monkeypatch):
    hide_package(monkeypatch, "pocketsphinx")
    builder = tfds.builder("phone_frames", data_dir=tmp_path)
    with pytest.raises(datasets.MissingPackageError, match=r"run: pip install pocketsphinx==5\.1\.1"):
        builder.download_and_prepare()
    assert files_under(tmp_path) == []


def test_train_py_without_flite_says_which_packages_to_install_in_one_line(tmp_path):
    # Only Python's own folder on PATH: no flite, as on a machine without the Debian package.
    environment = {**os.environ, "PATH": str(pathlib.Path(sys.executable).parent)}
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(root / "train.py"), "--model", "framewise", "--dataset", "phone_frames",
         "--data-dir", str(tmp_path / "tfds"), "--out", str(tmp_path / "run")],
        cwd=root, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: phone_frames needs the speech synthesiser flite")
    assert last.endswith("run: sudo apt-get install flite asterisk-core-sounds-en-wav asterisk-core-sounds-en")
    assert not (tmp_path / "tfds" / "phone_frames").exists() and not (tmp_path / "run").exists()
