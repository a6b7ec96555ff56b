"""How model.tflite's cost grows with the sequence's length: µs per frame at 100, 1,000 and 10,000 frames.

A frame labeller like framewise's (Masking, Normalization, `BasicRNN` or
`Bidirectional(BasicRNN)` of --units, softmax Dense over --classes) is
exported as zoo.export writes it (the SavedModel's `sequence` endpoint,
converted to TF Lite built-ins) and run on LiteRT, batch 1, at each length.
A cost that grows linearly with the length is flat per frame. The cost is the CPU time of the process (LiteRT on one
thread), which other work on the machine hardly changes; the wall-clock
median is shown beside it.

With --baseline REF, the same models are also exported by the zoo of git
revision REF (extracted to a temporary folder, exported in a subprocess with
that folder first on PYTHONPATH), and both trees' files take turns in one
process: a before/after table with a ratio column. Each tree's model.tflite
is checked against that tree's Keras model and against Keras's own
`SimpleRNN` (`Bidirectional(SimpleRNN, merge_mode="sum")`) with the same
weights, on the same random frames.

    python bench/tflite_length.py                       # this tree only
    python bench/tflite_length.py --baseline HEAD~1     # before (HEAD~1) and after (this tree)
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve()
ROOT = HERE.parent.parent
KINDS = ("one direction", "bidirectional")


def parse_arguments():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--lengths", default="100,1000,10000", help="frames per sequence, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per file and length")
    parser.add_argument("--baseline", help="a git revision whose zoo exports the 'before' files")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--features", type=int, default=39)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--export-to", type=pathlib.Path, help=argparse.SUPPRESS)  # the subprocess's job
    arguments = parser.parse_args()
    try:
        arguments.lengths = [int(length) for length in arguments.lengths.split(",")]
    except ValueError:
        parser.error(f"--lengths must be whole numbers separated by commas, not {arguments.lengths!r}")
    if min(arguments.lengths + [arguments.repeats, arguments.units, arguments.features, arguments.classes]) < 1:
        parser.error("--lengths, --repeats, --units, --features and --classes must be positive")
    return arguments


def random_frames(arguments, length):
    return np.random.default_rng(length).normal(size=(1, length, arguments.features)).astype(np.float32)


def export_models(arguments, folder):
    """In the tree on PYTHONPATH: writes {kind}.tflite and the Keras models' outputs for every length."""
    import keras

    from zoo import export
    from zoo.data import DataInfo
    from zoo.layers import BasicRNN, Bidirectional

    sys.path.insert(0, str(HERE.parent))
    from against_keras import frame_model

    info = DataInfo(num_classes=arguments.classes, feature_dim=arguments.features,
                    feature_mean=[0.0] * arguments.features, feature_variance=[1.0] * arguments.features)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        keras.utils.set_random_seed(0)
        zoo_layer = BasicRNN(arguments.units, return_sequences=True)
        keras_layer = keras.layers.SimpleRNN(arguments.units, return_sequences=True)
        if kind == "bidirectional":
            zoo_layer = Bidirectional(zoo_layer)
            keras_layer = keras.layers.Bidirectional(keras_layer, merge_mode="sum")
        zoo_model, keras_model = frame_model(info, zoo_layer), frame_model(info, keras_layer)
        keras_model.set_weights(zoo_model.get_weights())
        labels = [str(label) for label in range(arguments.classes)]
        saved_model = folder / f"{kind}-saved_model"
        export.export_saved_model(zoo_model, "frames", {}, {}, labels, saved_model)
        export.export_tflite(saved_model, folder / f"{kind}.tflite")
        outputs = {}
        for length in arguments.lengths:
            frames = random_frames(arguments, length)
            outputs[f"zoo {length}"] = zoo_model(frames).numpy()
            outputs[f"keras {length}"] = keras_model(frames).numpy()
        np.savez(folder / f"{kind}.npz", **outputs)


def export_tree(arguments, tree, folder):
    """Runs `export_models` in a subprocess that imports the zoo of `tree`."""
    command = [sys.executable, str(HERE), "--export-to", str(folder), "--lengths",
               ",".join(map(str, arguments.lengths)), "--units", str(arguments.units),
               "--features", str(arguments.features), "--classes", str(arguments.classes)]
    environment = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"exporting with the zoo of {tree} failed:\n{result.stderr.strip()[-3000:]}")


def extract_revision(revision, folder):
    """The tree of git `revision` in `folder` (zoo/ and bench/ only)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "zoo", "bench"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {revision}: {archive.stderr.decode().strip()}: name a git revision of {ROOT}")
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)


def sequence_runner(path):
    from ai_edge_litert.interpreter import Interpreter

    # One thread, so that the process's CPU time is the model's work.
    return Interpreter(model_path=str(path), num_threads=1).get_signature_runner("sequence")


def main():
    arguments = parse_arguments()
    if arguments.export_to:
        export_models(arguments, arguments.export_to)
        return
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="tflite-length-"))
    trees = {"after": ROOT}
    if arguments.baseline:
        extract_revision(arguments.baseline, scratch / "baseline-tree")
        trees = {"before": scratch / "baseline-tree", **trees}
    for name, tree in trees.items():
        export_tree(arguments, tree, scratch / name)

    import tensorflow as tf

    print(f"frame labeller: BasicRNN of {arguments.units} units, {arguments.features} features, "
          f"{arguments.classes} classes; model.tflite (signature `sequence`, batch 1) on LiteRT; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if arguments.baseline:
        print(f"before: the zoo of {arguments.baseline}; after: this tree ({ROOT})")
    print(f"CPU µs per frame, median (range) of {arguments.repeats} interleaved rounds, and the wall-clock median; "
          "max |difference| of the probabilities from the tree's Keras model / from Keras's SimpleRNN\n")
    header = f"{'model':14} {'frames':>7}" + "".join(f" {name + ' CPU':>22} {'wall':>7} {'vs Keras':>17}"
                                                       for name in trees)
    print(header + (f" {'before/after':>12}" if arguments.baseline else ""))
    results = {}
    for kind in KINDS:
        runners = {name: sequence_runner(scratch / name / f"{kind}.tflite") for name in trees}
        expected = {name: np.load(scratch / name / f"{kind}.npz") for name in trees}
        for length in arguments.lengths:
            frames = random_frames(arguments, length)
            differences = {}
            for name, runner in runners.items():
                probabilities = runner(frames=frames)["probabilities"]
                differences[name] = [np.abs(probabilities - expected[name][f"{source} {length}"]).max()
                                     for source in ("zoo", "keras")]
            times, walls = {name: [] for name in trees}, {name: [] for name in trees}
            for _ in range(arguments.repeats):
                for name, runner in runners.items():
                    start, wall_start = time.process_time(), time.perf_counter()
                    runner(frames=frames)
                    times[name].append((time.process_time() - start) / length * 1e6)
                    walls[name].append((time.perf_counter() - wall_start) / length * 1e6)
            row = f"{kind:14} {length:>7,}"
            for name in trees:
                values = times[name]
                row += (f" {statistics.median(values):>7.2f} ({min(values):6.2f}-{max(values):6.2f})"
                        f" {statistics.median(walls[name]):>7.2f} {differences[name][0]:>8.1e}/{differences[name][1]:.1e}")
            if arguments.baseline:
                row += f" {statistics.median(times['before']) / statistics.median(times['after']):>11.1f}x"
            print(row, flush=True)
            results[f"{kind} {length}"] = {name: {"cpu_us_per_frame": times[name], "wall_us_per_frame": walls[name],
                                                  "max_difference": differences[name]}
                                           for name in trees}
    worst = max(max(result["after"]["max_difference"]) for result in results.values())
    print(f"\nlargest difference of this tree's model.tflite from Keras: {worst:.1e}")
    (scratch / "results.json").write_text(json.dumps(results, default=float, indent=1))
    print(f"files and results.json in {scratch}")
    if worst > 1e-5:
        raise SystemExit(f"model.tflite differs from Keras by {worst:.1e}, more than 1e-5")


if __name__ == "__main__":
    main()
