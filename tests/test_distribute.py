"""train.py --strategy and --mixed-precision: two workers on this machine, mirrored, float16, and bad strategies."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from conftest import ROOT, free_ports, write_frames_npz
from zoo import data, distribute, models, training
from zoo.settings import Settings, for_model

# Seconds each process of the two-worker test may take before it is killed.
PROCESS_TIMEOUT = 240
# No dropout: each replica would draw its own masks, unlike one process on the whole batch.
TINY_FRAMEWISE = ["--model", "framewise", "--units", "4", "--dropout", "0", "--epochs", "1", "--batch-size", "8"]


def final_weights(run):
    return keras.saving.load_model(run / "model.keras", compile=False).get_weights()


def history(run):
    with open(run / "history.csv") as file:
        return list(csv.DictReader(file))


def test_two_workers_train_the_weights_of_one_process(tmp_path):
    frames = write_frames_npz(tmp_path / "frames.npz", sequences=40)
    hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()
    command = [sys.executable, str(ROOT / "train.py"), *TINY_FRAMEWISE, "--dataset", str(frames)]
    launches = {"single": ([*command, "--out", str(tmp_path / "single")], os.environ)}
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(worker_tmp)}
        arguments = [*command, "--strategy", "multi_worker", "--out", str(tmp_path / "cluster")]
        launches[f"worker{index}"] = (arguments, environment)
    processes = {
        name: subprocess.Popen(arguments, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
        for name, (arguments, environment) in launches.items()
    }
    outputs = {}
    try:
        for name, process in processes.items():
            outputs[name], _ = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    for name, process in processes.items():
        assert process.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"

    # Each worker checks, with one more all-reduce, that every worker holds the chief's weights.
    for name in ("worker0", "worker1"):
        assert "Weights of the 2 replicas differ by at most 0." in outputs[name]
    assert "the chief wrote the run folder" in outputs["worker1"]
    assert list(worker_tmp.iterdir()) == []
    cluster, single = tmp_path / "cluster", tmp_path / "single"
    assert json.loads((cluster / "metrics.json").read_text())["replica_weight_spread"] == 0.0
    assert json.loads((cluster / "config.json").read_text())["settings"]["strategy"] == "multi_worker"
    assert (cluster / "saved_model" / "saved_model.pb").exists() and (cluster / "model.tflite").exists()

    # The same global batches, halved across the workers, give model.fit's weights in one process.
    cluster_weights, single_weights = final_weights(cluster), final_weights(single)
    assert len(cluster_weights) == len(single_weights) > 0
    for ours, reference in zip(cluster_weights, single_weights):
        np.testing.assert_allclose(ours, reference, atol=1e-5)
    (cluster_row,), (single_row,) = history(cluster), history(single)
    assert cluster_row.keys() == single_row.keys()
    for key in single_row:
        assert float(cluster_row[key]) == pytest.approx(float(single_row[key]), abs=1e-5), key


def test_mirrored_with_mixed_precision_trains_and_exports_float32(tmp_path):
    frames = write_frames_npz(tmp_path / "frames.npz")
    settings = for_model("framewise", dataset=str(frames), units=4, epochs=1, strategy="mirrored",
                         mixed_precision=True)

    metrics = training.train(settings, tmp_path / "run", command="test", verbose=0)

    assert 0.0 <= metrics["frame_accuracy"] <= 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["settings"]["strategy"] == "mirrored" and config["settings"]["mixed_precision"] is True
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"


def test_mixed_precision_computes_in_float16_with_float32_variables(tmp_path):
    settings = for_model("framewise", dataset=str(write_frames_npz(tmp_path / "frames.npz")), units=4,
                         mixed_precision=True)
    prepared = data.prepare("frames", settings)
    with distribute.dtype_policy(settings.mixed_precision):
        model = models.get("framewise").build(prepared.info, settings)
    training.compile_model(model, "frames", settings)
    assert keras.config.dtype_policy().name == "float32"

    recurrent = model.get_layer("recurrent_1")
    features, labels, weights = next(iter(prepared.batches["train"]))
    probe = keras.Model(model.inputs, recurrent.output)
    assert probe(features).dtype == tf.float16
    assert {variable.dtype for variable in model.trainable_variables} == {"float32"}
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [variable.numpy() for variable in model.trainable_variables]
    loss, accuracy = model.train_on_batch(features, labels, sample_weight=weights)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert any(not np.array_equal(old, new.numpy()) for old, new in zip(before, model.trainable_variables))


def test_unknown_strategy_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit:
        train.main(["--strategy", "nccl"])
    assert exit.value.code == 2
    assert "'default', 'mirrored', 'multi_worker', 'tpu'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unknown strategy 'nccl': use one of default, mirrored, multi_worker, tpu"):
        distribute.make_strategy("nccl")


@pytest.mark.parametrize(
    "tf_config,message",
    [
        (None, "--strategy multi_worker needs the cluster in TF_CONFIG"),
        ("{not json", "TF_CONFIG is not a cluster with this process's task in it"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task index 3 is not one of"),
    ],
)
def test_multi_worker_without_a_cluster_is_a_one_line_error(tf_config, message, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        train.main(["--model", "framewise", "--strategy", "multi_worker", "--out", str(out)])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not out.exists()


def test_tpu_without_a_tpu_is_a_clear_error():
    with pytest.raises(distribute.StrategyError, match="--strategy tpu found no TPU"):
        distribute.make_strategy("tpu")


@pytest.mark.parametrize("rows", [8, 5, 1])
def test_split_batches_gives_the_replicas_the_rows_of_each_global_batch(rows):
    features = tf.reshape(tf.range(rows * 3, dtype=tf.float32), (rows, 3))
    batches = tf.data.Dataset.from_tensors((features, tf.range(rows))).repeat(2)
    shares = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker, num_replicas_in_sync=4)
        shares.append(list(distribute.split_batches(batches, context).as_numpy_iterator()))
    # Two local replicas per worker, for each of the two global batches.
    assert [len(share) for share in shares] == [4, 4]
    for step in range(2):
        parts = [share[2 * step + local] for share in shares for local in range(2)]
        np.testing.assert_array_equal(np.concatenate([part[0] for part in parts]), features.numpy())
        np.testing.assert_array_equal(np.concatenate([part[1] for part in parts]), np.arange(rows))


def test_the_strategy_may_change_when_a_run_resumes_but_not_the_precision(tmp_path):
    (tmp_path / training.CHECKPOINT).mkdir()
    earlier = {"settings": {**vars(Settings(model="framewise")), "strategy": "default"}, "vocabularies": {}}
    (tmp_path / "config.json").write_text(json.dumps(earlier))

    assert training.check_run_folder(tmp_path, Settings(model="framewise", strategy="mirrored")) == earlier
    with pytest.raises(training.RunError, match="--mixed-precision False -> True"):
        training.check_run_folder(tmp_path, Settings(model="framewise", mixed_precision=True))


# A cluster's failures: two workers on loopback ports, each train.py as a user starts it on every host.

# Seconds a worker may take to stop after SIGTERM, and after the other worker is killed.
SIGTERM_STOP_SECONDS = 20
LOST_WORKER_STOP_SECONDS = 60
CLUSTER_RUN = ["--model", "framewise", "--units", "4", "--dropout", "0", "--batch-size", "8", "--patience", "1000"]


class Cluster:
    """The same train.py command started as worker 0 and worker 1 of one TF_CONFIG, its output in log files."""

    def __init__(self, root, arguments):
        self.root, self.arguments = root, [sys.executable, str(ROOT / "train.py"), *map(str, arguments)]
        self.hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
        self.worker_tmp = root / "worker_tmp"
        self.worker_tmp.mkdir()
        self.processes, self.logs, self.launches = [], [], 0

    def start(self):
        """Starts both workers (again after a failure: the same commands, the same ports)."""
        self.launches += 1
        self.processes, self.logs = [], []
        for index in range(2):
            tf_config = {"cluster": {"worker": self.hosts}, "task": {"type": "worker", "index": index}}
            environment = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(self.worker_tmp)}
            log = self.root / f"worker{index}-{self.launches}.log"
            with open(log, "w") as file:
                self.processes.append(subprocess.Popen(self.arguments, cwd=ROOT, env=environment, stdout=file,
                                                       stderr=subprocess.STDOUT, start_new_session=True))
            self.logs.append(log)

    def wait(self, timeout=PROCESS_TIMEOUT, processes=None):
        """The exit codes, once every one of `processes` (default: both) has ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for process in processes or self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running after {timeout} s:\n" + "\n".join(map(self.output, (0, 1))))
        return [process.returncode for process in processes or self.processes]

    def output(self, index):
        return self.logs[index].read_text()

    def last_line(self, index):
        return self.output(index).strip().splitlines()[-1]

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(tmp_path):
    """cluster(arguments) -> a `Cluster` in tmp_path; its workers are killed when the test ends."""
    made = []

    def make(arguments):
        made.append(Cluster(tmp_path, arguments))
        return made[-1]

    yield make
    for each in made:
        each.kill()


def wait_for_a_checkpoint(cluster, out):
    """Returns once the chief has written the checkpoint of an epoch (and a little into the next one)."""
    metadata = out / training.CHECKPOINT / "training_metadata.json"
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not metadata.exists() and time.monotonic() < deadline:
        if any(process.poll() is not None for process in cluster.processes):
            pytest.fail("a worker ended before the first checkpoint:\n" + "\n".join(map(cluster.output, (0, 1))))
        time.sleep(0.05)
    assert metadata.exists(), f"no checkpoint in {PROCESS_TIMEOUT} s"
    time.sleep(0.2)


def test_two_workers_on_a_fresh_shared_data_dir_prepare_it_once_and_train_to_the_end(tmp_path, cluster):
    # Both workers load spoken_digit_frames, which is not prepared yet in the data dir they share.
    out = tmp_path / "run"
    workers = cluster([*CLUSTER_RUN, "--limit", "16", "--epochs", "2", "--data-dir", tmp_path / "tfds",
                       "--strategy", "multi_worker", "--out", out])
    workers.start()
    assert workers.wait() == [0, 0], "\n".join(map(workers.output, (0, 1)))
    assert (out / "metrics.json").exists() and len(history(out)) == 2
    assert (tmp_path / "tfds" / "spoken_digit_frames" / "1.0.0" / "dataset_info.json").exists()


def test_sigterm_to_every_worker_stops_them_at_once_and_the_rerun_resumes(tmp_path, cluster):
    frames = write_frames_npz(tmp_path / "frames.npz", sequences=400)
    out = tmp_path / "run"
    workers = cluster([*CLUSTER_RUN, "--dataset", frames, "--epochs", 5, "--strategy", "multi_worker", "--out", out])
    workers.start()
    wait_for_a_checkpoint(workers, out)
    signalled = time.monotonic()
    for process in workers.processes:
        process.send_signal(signal.SIGTERM)
    assert workers.wait(timeout=SIGTERM_STOP_SECONDS) == [143, 143], "\n".join(map(workers.output, (0, 1)))
    print(f"Both workers stopped {time.monotonic() - signalled:.1f} s after SIGTERM.")
    assert not (out / "model.keras").exists(), "finished before SIGTERM: give it more data"
    finished = training.saved_epochs(out)
    for index in (0, 1):
        assert workers.last_line(index) == (
            f"Stopped by SIGTERM. The checkpoint in {out}/checkpoint holds epoch {finished}: "
            f"repeat the command with --out {out} to resume from epoch {finished + 1}."
        )
        assert "Traceback" not in workers.output(index)
    assert list(workers.worker_tmp.iterdir()) == []

    workers.start()
    assert workers.wait() == [0, 0], "\n".join(map(workers.output, (0, 1)))
    assert f"Resuming the interrupted run in {out} from epoch {finished + 1}." in workers.output(0)
    assert len(history(out)) == 5 and (out / "metrics.json").exists()


def test_a_killed_worker_stops_the_other_naming_it_and_the_same_commands_resume(tmp_path, cluster):
    frames = write_frames_npz(tmp_path / "frames.npz", sequences=400)
    out = tmp_path / "run"
    workers = cluster([*CLUSTER_RUN, "--dataset", frames, "--epochs", 5, "--strategy", "multi_worker", "--out", out])
    workers.start()
    wait_for_a_checkpoint(workers, out)
    os.killpg(workers.processes[1].pid, signal.SIGKILL)
    assert workers.wait(timeout=LOST_WORKER_STOP_SECONDS, processes=workers.processes[:1]) == [1], workers.output(0)
    assert not (out / "model.keras").exists(), "finished before the kill: give it more data"
    finished = training.saved_epochs(out)
    assert workers.last_line(0) == (
        f"train.py: error: worker 1 ({workers.hosts[1]}) stopped answering: restart it, then repeat the command "
        f"on every host. The checkpoint in {out}/checkpoint holds epoch {finished}: repeat the command with "
        f"--out {out} to resume from epoch {finished + 1}."
    )

    workers.start()
    assert workers.wait() == [0, 0], "\n".join(map(workers.output, (0, 1)))
    assert f"Resuming the interrupted run in {out} from epoch {finished + 1}." in workers.output(0)
    assert len(history(out)) == 5 and (out / "metrics.json").exists()


THREE_WORKERS = {"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]},
                 "task": {"type": "worker", "index": 0}}


@pytest.mark.parametrize("workers,message,named", [
    # What worker 0 got when worker 1 was killed, and worker 1 when worker 0 was.
    (3, "Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are unhealthy "
        "(stopped sending heartbeats):\n/job:worker/replica:0/task:2\n", "worker 2 (10.0.0.3:2222) stopped answering"),
    (2, "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:0/device:CPU:0}} "
        "Collective ops is aborted by: recvmsg:Connection reset by peer", "worker 1 (10.0.0.2:2222) stopped answering"),
    (3, "Collective ops is aborted by: recvmsg:Connection reset by peer", "a task of the cluster stopped answering"),
])
def test_lost_worker_names_the_task_that_stopped_answering(workers, message, named):
    config = {**THREE_WORKERS, "cluster": {"worker": THREE_WORKERS["cluster"]["worker"][:workers]}}
    sentence = distribute.lost_worker(tf.errors.UnavailableError(None, None, message), json.dumps(config))
    assert sentence.startswith(named) and sentence.endswith("then repeat the command on every host.")
    assert "\n" not in sentence
    assert distribute.lost_worker(tf.errors.InvalidArgumentError(None, None, message), json.dumps(config)) is None
