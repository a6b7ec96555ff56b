import zoo  # noqa: F401  (first: quiets TensorFlow's start-up logging before any test module imports it)

import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--units", "8", "--embedding-dim", "8"]


def pytest_sessionstart(session):
    """Builds the native kernel once, up front, so that the scripts the tests run find it in the cache."""
    from zoo.layers import native_kernel

    native_kernel.build()


def run_script(script, *args, timeout=300):
    """Runs a script of the repository root in a fresh Python, as a user would."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def free_ports(count):
    """Loopback ports nothing listens on now: bound to port 0, read back, released."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


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


def write_spelling_tsv(path, words=80, seed=0):
    """Words of the letters "abcdefgo" and their letters spelt as names ("bad" -> "bee ay dee"): a g2p of letters."""
    rng = np.random.default_rng(seed)
    names = dict(a="ay", b="bee", c="see", d="dee", e="ee", f="eff", g="jee", o="oh")
    lines = []
    for _ in range(words):
        word = "".join(rng.choice(list(names), rng.integers(2, 6)))
        lines.append(word + "\t" + " ".join(names[letter] for letter in word))
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


# Tiny runs of every architecture on small files: (model, data file, its writer, settings).
TINY_RUNS = {
    "framewise": ("framewise", "frames.npz", write_frames_npz, {}),
    "framewise_stream": ("framewise", "frames.npz", write_frames_npz, dict(bidirectional=False, depth=2)),
    "framewise_stream_lstm": ("framewise", "frames.npz", write_frames_npz, dict(bidirectional=False, cell="lstm")),
    "dense_birnn_dense": ("dense_birnn_dense", "frames.npz", write_frames_npz, {}),
    "window_ffn": ("window_ffn", "frames.npz", write_frames_npz, dict(window=3)),
    "seq2seq": ("seq2seq", "pairs.tsv", write_translation_tsv, {}),
    "g2p": ("g2p", "pairs.tsv", write_translation_tsv, dict(depth=2)),
    "g2p_shallow": ("g2p", "pairs.tsv", write_translation_tsv, dict(depth=1)),
    "g2p_letters": ("g2p", "spelling.tsv", write_spelling_tsv, {}),
    "char_lm": ("char_lm", "text.txt", write_text, dict(sequence_length=20)),
    "char_lm_gru": ("char_lm", "text.txt", write_text, dict(sequence_length=20, cell="gru")),
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(name) -> the run folder of TINY_RUNS[name], trained for two epochs the first time it is asked for."""
    from zoo import training
    from zoo.settings import for_model

    root = tmp_path_factory.mktemp("tiny_runs")
    runs = {}

    def get(name):
        if name not in runs:
            model, file_name, write_data, overrides = TINY_RUNS[name]
            dataset = write_data(root / file_name)
            settings = for_model(model, dataset=str(dataset), units=8, embedding_dim=4, epochs=2, **overrides)
            training.train(settings, root / name, command="test", verbose=0)
            runs[name] = root / name
        return runs[name]

    return get
