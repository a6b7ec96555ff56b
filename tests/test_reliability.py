"""What goes wrong in real use: crashes mid-write, divergence, Ctrl-C, SIGKILL, bad input, reruns.

docs/reliability.md lists every case and what happens.
"""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import evaluate
import train
from conftest import ROOT, run_script, write_frames_npz, write_translation_tsv
from zoo import atomic, export, training


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


# Divergence.


def compile_with_a_loss_that_turns_nan_at_step_2(model, task, settings, clipnorm_divisor=1):
    optimizer = keras.optimizers.Adam(settings.learning_rate)

    def loss(labels, probabilities):
        nan_after_first_step = keras.ops.where(optimizer.iterations >= 1, float("nan"), 1.0)
        return keras.losses.sparse_categorical_crossentropy(labels, probabilities) * nan_after_first_step

    model.compile(optimizer, loss=loss)


def test_a_nan_loss_stops_naming_the_epoch_and_step_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(training, "compile_model", compile_with_a_loss_that_turns_nan_at_step_2)
    frames = write_frames_npz(tmp_path / "frames.npz")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        # One batch per epoch: the second step is the first of epoch 2.
        train.main(["--model", "framewise", "--dataset", str(frames), "--units", "4", "--batch-size", "64",
                    "--epochs", "3", "--out", str(out)])
    assert exit.value.code == 1
    stderr = capsys.readouterr().err
    error = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert "the loss became nan at epoch 2, step 1" in error
    assert "--clipnorm" in error and "--learning-rate below 0.003" in error and "resume from epoch 2" in error
    assert json.loads((out / "checkpoint" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (out / "model.keras").exists()


def test_an_absurd_learning_rate_stops_in_the_first_epoch(tmp_path, capsys):
    frames = write_frames_npz(tmp_path / "frames.npz")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        train.main(["--model", "framewise", "--dataset", str(frames), "--units", "4", "--learning-rate", "1e38",
                    "--clipnorm", "0", "--epochs", "3", "--out", str(out)])
    assert exit.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the loss became nan at epoch 1" in error and "There is no checkpoint to resume from" in error


# Ctrl-C, SIGKILL and reruns: subprocesses of train.py, as a user runs it.


def train_command(frames, out, *extra):
    return [sys.executable, str(ROOT / "train.py"), "--model", "framewise", "--dataset", str(frames), "--units", "4",
            "--batch-size", "8", "--patience", "1000", "--seed", "3", "--out", str(out), *map(str, extra)]


def start_and_wait_for_a_checkpoint(command):
    """Starts `command` and returns its process once the first epoch's checkpoint is on disk."""
    # A child inherits an ignored SIGINT (pytest run as a shell's background job, or under nohup), and
    # train.py keeps it ignored; a SIGINT the parent handles starts as the default in the child.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    metadata = pathlib.Path(command[command.index("--out") + 1]) / "checkpoint" / "training_metadata.json"
    deadline = time.monotonic() + 120
    while not metadata.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metadata.exists(), process.stderr.read()[-3000:] if process.poll() is not None else "no checkpoint in 120 s"
    # Into the next epoch, which the checkpoint does not hold.
    time.sleep(0.2)
    return process


def test_ctrl_c_saves_says_which_epoch_and_how_to_resume_and_exits_130(tmp_path):
    frames = write_frames_npz(tmp_path / "frames.npz", sequences=200)
    out = tmp_path / "run"
    process = start_and_wait_for_a_checkpoint(train_command(frames, out, "--epochs", 1000))
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    finished = json.loads((out / "checkpoint" / "training_metadata.json").read_text())["epoch"]
    assert f"holds epoch {finished}: repeat the command with --out {out} to resume from epoch {finished + 1}" in stderr
    assert not (out / "model.keras").exists()


def test_sigterm_stops_like_ctrl_c_and_exits_143(tmp_path):
    frames = write_frames_npz(tmp_path / "frames.npz", sequences=200)
    out = tmp_path / "run"
    process = start_and_wait_for_a_checkpoint(train_command(frames, out, "--epochs", 1000))
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr
    finished = json.loads((out / "checkpoint" / "training_metadata.json").read_text())["epoch"]
    assert stderr.strip().splitlines()[-1] == (
        f"Stopped by SIGTERM. The checkpoint in {out}/checkpoint holds epoch {finished}: "
        f"repeat the command with --out {out} to resume from epoch {finished + 1}."
    )


@pytest.fixture(scope="module", params=["default", "mirrored"])
def reruns(request, tmp_path_factory):
    """metrics.json and history.csv of the same 4-epoch run: twice uninterrupted, and once SIGKILLed and rerun.

    Under each kind of training loop: `model.fit` (default) and the custom loop (mirrored).
    """
    root = tmp_path_factory.mktemp("reruns")
    frames = write_frames_npz(root / "frames.npz", sequences=800)
    results = {}
    strategy = ("--strategy", request.param)
    for name in ("first", "second"):
        result = subprocess.run(train_command(frames, root / name, "--epochs", 4, *strategy), cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    command = train_command(frames, root / "killed", "--epochs", 4, *strategy)
    process = start_and_wait_for_a_checkpoint(command)
    process.kill()
    process.wait()
    assert not (root / "killed" / "model.keras").exists(), "finished before the kill: give it more data"
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Resuming the interrupted run" in rerun.stdout
    for name in ("first", "second", "killed"):
        metrics = json.loads((root / name / "metrics.json").read_text())
        del metrics["training_seconds"]
        with open(root / name / "history.csv") as file:
            history = list(csv.DictReader(file))
        config = json.loads((root / name / "config.json").read_text())
        results[name] = metrics, history, config
    return results


def test_the_same_seed_data_and_cpu_give_the_same_metrics_bitwise(reruns):
    (first, first_history, config), (second, second_history, _), _ = reruns.values()
    assert first == second and first_history == second_history
    assert {"tensorflow", "keras", "numpy", "python"} <= set(config["versions"])
    assert "train.py" in config["command"] and "--seed 3" in config["command"]
    assert config["working_directory"] == str(ROOT)


def test_a_killed_and_rerun_run_ends_as_an_uninterrupted_one_bitwise(reruns):
    # The resumed process draws the batches of the epochs the checkpoint holds before it trains (model.fit skips
    # them, the custom loop passes over the data), so its later epochs see the uninterrupted run's orders, and
    # the checkpoint restores the dropout layers' seed generators.
    (uninterrupted, history, _), _, (resumed, resumed_history, _) = reruns.values()
    assert len(history) == 4
    assert resumed == uninterrupted and resumed_history == history


# --out that holds something else.


def test_out_that_is_no_run_folder_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    for out, named in [(tmp_path / "notes.txt", "is a file"), (tmp_path, "holds no config.json")]:
        with pytest.raises(SystemExit) as exit:
            train.main(["--limit", "64", "--out", str(out)])
        assert exit.value.code == 2 and named in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_out_holding_another_models_run_is_refused_unless_overwrite(tiny_run, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "metrics.json"):
        (out / name).write_bytes((tiny_run("framewise") / name).read_bytes())
    text = write_translation_tsv(tmp_path / "pairs.tsv")
    command = ["--model", "seq2seq", "--dataset", str(text), "--units", "4", "--embedding-dim", "4", "--epochs", "1",
               "--out", str(out)]
    with pytest.raises(SystemExit) as exit:
        train.main(command)
    assert exit.value.code == 2 and "holds a finished framewise run" in capsys.readouterr().err
    assert train.main([*command, "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["model"] == "seq2seq"



# Bad input: one line naming the problem and the fix, exit 2, no traceback, nothing written.


def frames_whose_lengths_do_not_add_up(folder):
    path = folder / "frames.npz"
    np.savez(path, features=np.zeros((10, 4), np.float32), labels=np.zeros(10, np.int64), lengths=[4, 4])
    return path


def write(name, content):
    def writer(folder):
        (folder / name).write_bytes(content)
        return folder / name

    return writer


# (arguments, the file that {} stands for, text the error names)
BAD_TRAINING_INPUT = {
    "unknown model": (["--model", "transformer"], None, "invalid choice: 'transformer'"),
    "unknown dataset": (["--dataset", "no_such_dataset"], None, "no_such_dataset"),
    "unknown flag": (["--epoks", "3"], None, "unrecognized arguments: --epoks"),
    "word for a number": (["--batch-size", "zero"], None, "--batch-size: must be a positive integer, got 'zero'"),
    "zero": (["--units", "0"], None, "--units: must be a positive integer, got '0'"),
    "negative": (["--epochs", "-2"], None, "--epochs: must be a positive integer, got '-2'"),
    "nan learning rate": (["--learning-rate", "nan"], None, "--learning-rate: must be a positive number"),
    "negative clipnorm": (["--clipnorm", "-1"], None, "--clipnorm: must be a number >= 0"),
    "dropout of 1": (["--dropout", "1"], None, "--dropout: must be in [0, 1)"),
    "npz lengths": (["--model", "framewise", "--dataset", "{}"], frames_whose_lengths_do_not_add_up, "lengths"),
    "tsv missing column": (["--model", "seq2seq", "--dataset", "{}"],
                           write("pairs.tsv", b"source\nred cat\nblue dog\n"), "pairs.tsv"),
    "non-utf-8": (["--dataset", "{}"], write("reviews.csv", b"text,label\ncaf\xe9 ok,positive\n"), "UTF-8"),
    "broken quote": (["--dataset", "{}"], write("reviews.csv", b'text,label\n"good,positive\nbad,negative\n'),
                     "reviews.csv"),
}


@pytest.mark.parametrize("case", BAD_TRAINING_INPUT)
def test_bad_training_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    arguments, write_file, named = BAD_TRAINING_INPUT[case]
    if write_file is not None:
        path = write_file(tmp_path)
        arguments = [str(path) if argument == "{}" else argument for argument in arguments]
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        train.main([*arguments, "--out", str(out)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit.value.code == 2, error
    assert named in error and "Traceback" not in error
    assert not out.exists()


@pytest.fixture(scope="module")
def frame_run(tiny_run):
    return tiny_run("framewise")


@pytest.fixture(scope="module")
def text_run(tiny_run):
    return tiny_run("char_lm")


def corrupt_tflite(folder, frame_run):
    (folder / "config.json").write_bytes((frame_run / "config.json").read_bytes())
    (folder / "model.tflite").write_bytes(b"TFL3 but not really")
    return [folder / "model.tflite"]


def corrupt_config(folder, frame_run):
    (folder / "config.json").write_text("{")
    (folder / "model.tflite").write_bytes((frame_run / "model.tflite").read_bytes())
    return [folder / "model.tflite"]


def truncated_model(folder, frame_run):
    (folder / "config.json").write_bytes((frame_run / "config.json").read_bytes())
    whole = (frame_run / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(whole[: len(whole) // 2])
    return [folder]


def frames_of_dimension(dim):
    def arguments(folder, frame_run):
        np.savez(folder / "frames.npz", features=np.zeros((7, dim), np.float32))
        return [frame_run, "--input", folder / "frames.npz"]

    return arguments


# Arguments of evaluate.py (from the tmp folder and the frame run), text the error names.
BAD_EVALUATION_INPUT = {
    "not a run folder": (lambda folder, frame_run: [folder], "is neither a finished run folder"),
    "corrupt tflite": (corrupt_tflite, "is not a TF Lite model"),
    "corrupt config": (corrupt_config, "config.json is not JSON"),
    # Keras itself answers "File not found" for a file that is there.
    "truncated model.keras": (truncated_model, "is not a complete .keras file"),
    "frames of the wrong dimension": (frames_of_dimension(5), "the model takes (time, 4)"),
    "unknown flag": (lambda folder, frame_run: [frame_run, "--beams", "2"], "unrecognized arguments: --beams"),
    "beam of 0": (lambda folder, frame_run: [frame_run, "--beam", "0"], "--beam: must be a positive integer"),
    "length of zero": (lambda folder, frame_run: [frame_run, "--length", "0"], "--length"),
}


@pytest.mark.parametrize("case", BAD_EVALUATION_INPUT)
def test_bad_evaluation_input_exits_2_with_one_line(case, frame_run, tmp_path, capsys):
    arguments, named = BAD_EVALUATION_INPUT[case]
    arguments = list(map(str, arguments(tmp_path, frame_run)))
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SystemExit) as exit:
        evaluate.main(arguments)
    error = capsys.readouterr().err.strip()
    assert exit.value.code == 2, error
    assert "\n" not in error.strip() or error.startswith("usage:"), error
    assert named in error and "Traceback" not in error
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("text,named", [("", "--input is empty"), ("   ", "--input is empty"),
                                        ("x" * 10_001, "more than 10,000")])
def test_empty_or_over_long_input_text_exits_2(text, named, text_run, capsys):
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(text_run), "--input", text])
    assert exit.value.code == 2 and named in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), str(tmp_path), "--debug"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" in result.stderr and "FileNotFoundError" in result.stderr


@pytest.mark.parametrize("script,arguments,named", [
    ("bench/layers.py", ["--units", "0"], "must be positive integers"),
    ("bench/deploy.py", ["."], "has no stream.tflite"),
])
def test_bench_scripts_refuse_bad_arguments(script, arguments, named):
    result = subprocess.run([sys.executable, str(ROOT / script), *arguments], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr


def test_bench_deploy_names_a_broken_run_folder_without_a_traceback(tmp_path):
    (tmp_path / "stream.tflite").write_bytes(b"not a flatbuffer")
    (tmp_path / "config.json").write_text("{}")
    result = subprocess.run([sys.executable, str(ROOT / "bench/deploy.py"), str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "deploy.py: error: File not found" in result.stderr and "model.keras" in result.stderr


# A fresh data dir: the dataset is prepared on first use.


@pytest.fixture(scope="module")
def prepared_at_once(tmp_path_factory):
    """Two train.py started together on one fresh --data-dir: their run folders, the data dir and the results."""
    root = tmp_path_factory.mktemp("prepared_at_once")
    command = [sys.executable, str(ROOT / "train.py"), "--model", "framewise", "--limit", "16", "--units", "4",
               "--epochs", "1", "--data-dir", str(root / "tfds")]
    processes = [subprocess.Popen([*command, "--out", str(root / name)], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for name in ("first", "second")]
    try:
        outputs = [process.communicate(timeout=300) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return root, [(process.returncode, *output) for process, output in zip(processes, outputs)]


def test_two_runs_preparing_the_same_dataset_at_once_both_succeed(prepared_at_once):
    root, results = prepared_at_once
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr[-3000:]
    assert (root / "first" / "metrics.json").exists() and (root / "second" / "metrics.json").exists()
    assert [path.name for path in (root / "tfds" / "spoken_digit_frames").iterdir()] == ["1.0.0"]
    # TFDS's "Dataset ... downloaded and prepared" went to stderr, once.
    assert sum("downloaded and prepared" in stderr for _, _, stderr in results) == 1
    assert not any("downloaded and prepared" in stdout for _, stdout, _ in results)


def test_evaluate_json_is_json_when_the_dataset_is_prepared_first(prepared_at_once, tmp_path):
    root, _ = prepared_at_once
    result = run_script("evaluate.py", root / "first", "--json", "--data-dir", tmp_path / "fresh")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["dataset"] == "spoken_digit_frames"
    assert "downloaded and prepared" in result.stderr
