import os

# Silence TensorFlow's start-up logging before any test module imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--units", "8", "--embedding-dim", "8"]


def run_script(script, *args, timeout=300):
    """Runs a script of the repository root in a fresh Python, as a user would."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def write_frames_npz(path, sequences=30, dim=4, seed=0):
    """Frames whose label is whether the first feature is positive: learnable per frame."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 12, sequences)
    features = rng.normal(size=(lengths.sum(), dim)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)
    np.savez(path, features=features, labels=labels, lengths=lengths)
    return path


def write_translation_tsv(path, pairs=60, seed=0):
    """Word sequences and their reversal."""
    rng = np.random.default_rng(seed)
    words = ["red", "green", "blue", "cat", "dog", "sun", "moon", "tree"]
    lines = ["source\ttarget"]
    for _ in range(pairs):
        sentence = list(rng.choice(words, rng.integers(2, 5)))
        lines.append(" ".join(sentence) + "\t" + " ".join(reversed(sentence)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_text(path, lines=40):
    path.write_text("\n".join(f"line {i}: the quick brown fox jumps over the lazy dog." for i in range(lines)) + "\n")
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One run folder of train.py, trained for one epoch on 64 examples of the default sentiment dataset."""
    out = tmp_path_factory.mktemp("runs") / "sentiment"
    result = run_script("train.py", "--model", "sentiment", "--limit", 64, "--epochs", 1, *TINY, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result
