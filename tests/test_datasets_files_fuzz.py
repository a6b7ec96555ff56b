"""Random bytes into users' files: `datasets.load` returns data or raises DatasetError, nothing else."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import datasets
from datasets import DatasetError

FILES = {
    "sentiment": ["reviews.csv", "reviews.tsv"],
    "translation": ["pairs.tsv"],
    "language_model": ["text.txt"],
    "frames": ["frames.npz"],
}


@st.composite
def npz_files(draw):
    """.npz bytes whose arrays' names, shapes and dtypes are each right or wrong at random."""
    arrays = {}
    for name in draw(st.lists(st.sampled_from(["features", "labels", "lengths", "other"]), max_size=4, unique=True)):
        shape = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3))
        dtype = draw(st.sampled_from(["float32", "int64", "int8", "bool", "U3"]))
        arrays[name] = np.zeros(shape, dtype=dtype)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


TEXT_PIECES = list('ab,\t"\n\r好é ') + ["text", "label", "source", "target", "text,label\n", "source\ttarget\n"]
text_files = st.lists(st.sampled_from(TEXT_PIECES), max_size=40).map("".join)


@pytest.mark.parametrize("task, filename", [(task, name) for task, names in FILES.items() for name in names])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_file_loads_or_raises_dataset_error(tmp_path, task, filename, data):
    if filename.endswith(".npz"):
        content = data.draw(st.one_of(st.binary(max_size=200), npz_files()))
    else:
        text = data.draw(text_files)
        content = data.draw(st.sampled_from([text.encode("utf-8"), text.encode("utf-8") + b"\xff\xfe"]))
    path = tmp_path / filename
    path.write_bytes(content)
    try:
        loaded = datasets.load(task, str(path))
    except DatasetError as error:
        assert "\n" not in str(error).strip()
        return
    for split in loaded.splits.values():
        for _ in split.take(2):
            pass
