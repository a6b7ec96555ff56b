"""What goes wrong in real use: crashes mid-write, divergence, Ctrl-C, SIGKILL, bad input, reruns.

docs/reliability.md lists every case and what happens.
"""

import json
import os
import pathlib

import keras
import pytest

from zoo import atomic, export


def leftovers(folder):
    return sorted(path.name for path in pathlib.Path(folder).iterdir() if ".tmp-" in path.name or ".old-" in path.name)


# No half-written outputs.


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_crash_while_writing_keeps_the_previous_version(tmp_path, kind):
    target = tmp_path / ("metrics.json" if kind == "file" else "saved_model")

    def write(path, content):
        if kind == "file":
            path.write_text(content)
        else:
            path.mkdir()
            (path / "saved_model.pb").write_text(content)

    def read():
        return (target if kind == "file" else target / "saved_model.pb").read_text()

    with atomic.replacing(target) as temporary:
        write(temporary, "old")
    with pytest.raises(OSError, match="disk full"):
        with atomic.replacing(target) as temporary:
            write(temporary, "half of the ne")
            raise OSError("disk full")
    assert read() == "old" and leftovers(tmp_path) == []
    with atomic.replacing(target) as temporary:
        write(temporary, "new")
    assert read() == "new" and leftovers(tmp_path) == []


def test_a_crash_mid_export_keeps_the_previous_tflite_and_saved_model(tiny_run, monkeypatch):
    run = tiny_run("framewise")
    tflite_before = (run / "model.tflite").read_bytes()
    saved_model_before = (run / "saved_model" / "saved_model.pb").read_bytes()

    def write_half_then_fail(path, content):
        with open(path, "wb") as file:
            file.write(content[: len(content) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export.export_tflite(run / "saved_model", run / "model.tflite")
    monkeypatch.undo()

    def write_some_then_fail(archive, path, **kwargs):
        os.makedirs(path)
        pathlib.Path(path, "saved_model.pb").write_bytes(b"half")
        raise OSError("disk full")

    # keras.export.ExportArchive() makes an instance of the backend's subclass.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", write_some_then_fail)
    config = json.loads((run / "config.json").read_text())
    model = keras.saving.load_model(run / "model.keras")
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, "frames", {}, config["vocabularies"], config["label_names"], run / "saved_model")

    assert (run / "model.tflite").read_bytes() == tflite_before
    assert (run / "saved_model" / "saved_model.pb").read_bytes() == saved_model_before
    assert leftovers(run) == []
