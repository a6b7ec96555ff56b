"""Scores a trained model on a dataset split, or runs it on your own input.

    python evaluate.py runs/sentiment-...                      # test metrics as a table
    python evaluate.py runs/sentiment-.../model.tflite --json  # the TF Lite model, as JSON
    python evaluate.py runs/seq2seq-... --beam 4
    python evaluate.py runs/sentiment-... --input "这本书很好"
    python evaluate.py runs/framewise-... --input frames.npz   # features (time, dim)
    python evaluate.py runs/char_lm-... --input "def " --length 200 --temperature 0.8
    python evaluate.py runs/framewise-... --stream             # real time: a test utterance frame by frame
    python evaluate.py runs/framewise-... --export stream --quantize dynamic   # and its accuracy cost
    python evaluate.py runs/framewise-... --export onnx       # model.onnx (pip install -r requirements-onnx.txt)

    python evaluate.py g2p --input zoology                    # a preset: trained, shipped in presets/
    python evaluate.py g2p --input - < words.txt               # one word a line in, word<TAB>pronunciation out

RUN is a run folder of train.py or ensemble.py (its model.keras), its saved_model/ folder or
a .tflite file in it (model*.tflite, or stream*.tflite, scored frame by
frame), or the name of a preset (presets/NAME; an existing path wins); the
run's config.json says what the model is. A preset is checked against its
pinned sha256 and used from a copy under ~/.cache/rnn-zoo ($ZOO_CACHE_DIR), where
exports and plots are written.
"""

import argparse
import json
import pathlib
import sys

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)


def parser():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = arguments.add_argument
    add("run", help="a run folder, its saved_model/ folder, its model.tflite file, or a preset name")
    add("--dataset", help="score on this dataset instead of the run's (a builder name, a path, or tfds:NAME)")
    add("--data-dir", help="where TFDS keeps prepared datasets (default: the run's)")
    add("--split", choices=["train", "validation", "test"], default="test", help="split to score (default: %(default)s)")
    add("--json", action="store_true", help="print the metrics as JSON instead of a table")
    add("--beam", type=int, default=1, help="beam size for seq2seq decoding; 1 is greedy (default: %(default)s)")
    add("--input", help="run on this text (text models) or .npz of features (time, dim) (frame models) instead; "
        "- reads one text a line from standard input and writes input<TAB>output lines, batched")
    add("--length", type=int, default=200,
        help="characters to generate with char_lm --input; most frames of char_lm --stream (default: %(default)s)")
    add("--temperature", type=float, default=1.0,
        help="char_lm sampling temperature; lower is more conservative, 0 is greedy (default: %(default)s)")
    add("--stream", action="store_true",
        help="stream the first sequence of --split through the run's stream.tflite one frame at a time, printing "
        "each label as it arrives and the per-frame latency (unidirectional models; char_lm at most --length)")
    add("--export", choices=["model", "stream", "onnx"],
        help="convert the run's SavedModel again: model.tflite (whole sequences) or stream.tflite (one frame and "
        "the state); with --quantize, model-dynamic.tflite etc., scored against the float file; or model.onnx")
    add("--quantize", choices=["none", "dynamic", "float16"], default="none",
        help="with --export: dynamic (int8 weights, ~4x smaller) or float16 (2x smaller) (default: %(default)s)")
    add("--debug", action="store_true", help="show the traceback of an error instead of one line")
    return arguments


def find_run(run):
    """(kind, artifact path, run folder): kind is "keras", "saved_model" or "tflite".

    `run` is a path, or a preset's name (`zoo.presets`), which resolves to its checked, writable copy.
    """
    from zoo import presets

    path = presets.resolve(run) or pathlib.Path(run)
    if path.is_file() and path.suffix == ".tflite":
        return "tflite", path, path.parent
    if (path / "saved_model.pb").exists():
        return "saved_model", path, path.parent
    if (path / "model.keras").exists():
        return "keras", path / "model.keras", path
    raise FileNotFoundError(
        f"{path} is neither a finished run folder (with model.keras), a SavedModel folder, a .tflite file nor a "
        f"preset ({', '.join(presets.names())}): pass one of those (train.py prints the run folder)."
    )


def one_line(error):
    """The first line of an error's message: Keras and TensorFlow add lines of detail that --debug shows."""
    return str(error).strip().split("\n")[0]


def print_table(metrics):
    width = max(len(key) for key in metrics)
    for key, value in metrics.items():
        if key == "confusion_matrix":
            continue
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        print(f"{key:<{width}}  {value}")
    if "confusion_matrix" in metrics:
        names = metrics["label_names"]
        cell = max(len(name) for name in names) + 2
        print("\nconfusion matrix (rows: true label, columns: predicted)")
        print(" " * cell + "".join(f"{name:>{cell}}" for name in names))
        for name, row in zip(names, metrics["confusion_matrix"]):
            print(f"{name:>{cell}}" + "".join(f"{count:>{cell}}" for count in row))


def run_on_input(kind, artifact, config, args):
    """Runs the model on the user's --input and prints the answer."""
    import tensorflow as tf

    from zoo import data, tasks

    task = tasks.get(config["task"])
    if kind == "tflite":
        raise ValueError("--input needs the run folder or its saved_model/ folder: the TF Lite model takes token ids.")
    task.check_input(args.input)
    if kind == "saved_model":
        source = tf.saved_model.load(str(artifact))
        functions = {"serve": source.serve, "beam_search": getattr(source, "beam_search", None)}
    else:
        from zoo.presets import load_keras_model

        source = load_keras_model(artifact)
        vocabularies = config["vocabularies"]
        vectorizers = data.vectorizers_from_vocabularies(vocabularies)
        endpoints = task.serving_functions(source, vectorizers, vocabularies, config["label_names"])
        functions = {name: function for name, (function, _) in endpoints.items()}
    task.run_input(functions, source, config, args)


def escape(field):
    """`field` with backslashes, tabs and newlines written as \\\\, \\t and \\n: one output line per input line."""
    return field.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def predict_lines(kind, artifact, config, args):
    """--input -: every line of standard input through the model, batched; writes input<TAB>output lines.

    Every line is checked before any is run, so bad input stops the command
    before it writes anything. A line the model cannot read (a digit for a
    g2p model of letters) is named on standard error with the reason, and the
    other lines are answered; the command fails only when no line is.
    """
    from zoo import tasks
    from zoo.presets import load_keras_model

    if kind != "keras":
        raise ValueError("--input - needs a run folder or a preset: it runs the Keras model in batches.")
    task = tasks.get(config["task"])
    if not task.text_input:
        raise ValueError(f"{config['model']} takes frames, not lines of text: pass --input FEATURES.npz.")
    lines = [line.rstrip("\r\n") for line in sys.stdin]
    if not lines:
        raise ValueError("--input - read no lines from standard input: pipe one input a line into it.")
    for number, line in enumerate(lines, start=1):
        try:
            task.check_input(line)
        except ValueError as error:
            raise ValueError(f"line {number} of standard input: {one_line(error)}") from None
    answers = task.predict_batch(load_keras_model(artifact), config, lines,
                                 length=args.length, temperature=args.temperature, beam=args.beam)
    unanswered = 0
    for number, (line, answer) in enumerate(zip(lines, answers), start=1):
        if isinstance(answer, Exception):
            unanswered += 1
            print(f"line {number} of standard input, not answered: {one_line(answer)}", file=sys.stderr)
        else:
            sys.stdout.write("\t".join(escape(field) for field in [line, *answer]) + "\n")
    if unanswered == len(lines):
        raise ValueError(f"none of the {len(lines):,} lines could be answered (each is named above).")
    if unanswered:
        print(f"{unanswered:,} of {len(lines):,} lines not answered (named above); the others are on standard output.",
              file=sys.stderr)


def saved_model_with(signature, kind, artifact, run_folder, config):
    """The run's SavedModel folder, rewritten from model.keras when it lacks endpoint `signature`."""
    import tensorflow as tf

    from zoo import data, export, streaming

    saved_model = artifact if kind == "saved_model" else run_folder / "saved_model"
    if saved_model.exists() and signature in tf.saved_model.load(str(saved_model)).signatures:
        return saved_model
    if not (run_folder / "model.keras").exists():
        raise ValueError(f"{saved_model} has no {signature!r} endpoint and no model.keras is beside it to export again.")
    from zoo.presets import load_keras_model

    model = load_keras_model(run_folder / "model.keras")
    if signature == "step":
        streaming.state_size(model)  # Raises, saying why, for a model that cannot stream.
    print(f"Writing {run_folder / 'saved_model'} again from model.keras: it lacks the {signature!r} endpoint.",
          file=sys.stderr)
    vocabularies = config["vocabularies"]
    vectorizers = data.vectorizers_from_vocabularies(vocabularies)
    saved_model = run_folder / "saved_model"
    export.export_saved_model(model, config["task"], vectorizers, vocabularies, config["label_names"], saved_model)
    return saved_model


def export_tflite(kind, artifact, run_folder, config, args):
    """--export: writes RUN/model.tflite or stream.tflite (-QUANTIZE), and returns its path."""
    from zoo import export

    signature = "step" if args.export == "stream" else "sequence"
    saved_model = saved_model_with(signature, kind, artifact, run_folder, config)
    suffix = "" if args.quantize == "none" else f"-{args.quantize}"
    path = run_folder / f"{args.export}{suffix}.tflite"
    export.export_tflite(saved_model, path, signature, args.quantize)
    # On stderr with --json, which keeps stdout for the metrics.
    log = sys.stderr if args.json else sys.stdout
    print(f"Wrote {path} ({path.stat().st_size / 1024:.1f} KiB), built-in ops only.", file=log)
    if args.quantize != "none":
        float_path = run_folder / f"{args.export}.tflite"
        if not float_path.exists():
            export.export_tflite(saved_model, float_path, signature)
        print(f"Scoring it against {float_path} ({float_path.stat().st_size / 1024:.1f} KiB).", file=log)
    return path


def export_onnx(kind, artifact, run_folder, config, args):
    """--export onnx: writes RUN/model.onnx, the SavedModel endpoint that takes tensors."""
    from zoo import onnx_export, tasks

    signature = tasks.get(config["task"]).onnx_signature
    path = run_folder / "model.onnx"
    onnx_export.export_onnx(saved_model_with(signature, kind, artifact, run_folder, config), path, signature)
    print(f"Wrote {path} ({path.stat().st_size / 1024:.1f} KiB), the {signature!r} endpoint.",
          file=sys.stderr if args.json else sys.stdout)


def stream_demo(run_folder, config, prepared, args):
    """--stream: feeds the first sequence of the split to stream.tflite a frame at a time, as a live source would."""
    import time

    import numpy as np

    from zoo import export, streaming, tasks

    path = run_folder / "stream.tflite"
    if not path.exists():
        # A preset ships model.keras alone: its streaming file is written on first use.
        saved_model = saved_model_with("step", "keras", run_folder / "model.keras", run_folder, config)
        print(f"Writing {path} from {saved_model}.", file=sys.stderr)
        export.export_tflite(saved_model, path, "step")
    step = export.tflite_interpreter(path).get_signature_runner("step")
    inputs = step.get_input_details()
    state = np.zeros(inputs["state"]["shape"], np.float32)
    sequence, truth, names = tasks.get(config["task"]).stream_sequence(prepared.batches[args.split], config, args.length)
    print(f"Streaming {len(sequence)} frames of the first {args.split} sequence through {path}:")
    print(f"{'frame':>5}  {'label':>8}  {'probability':>11}  {'true':>8}  {'latency':>9}")
    latencies = []
    for index, frame in enumerate(np.asarray(sequence, dtype=inputs["frame"]["dtype"])):
        start = time.perf_counter()
        result = step(frame=frame[None], state=state)
        latencies.append(time.perf_counter() - start)
        state = result["next_state"]
        probabilities = result["output"][0]
        label = int(np.argmax(probabilities))
        print(f"{index:>5}  {names[label]!r:>8}  {probabilities[label]:>11.3f}  {names[truth[index]]!r:>8}  "
              f"{latencies[-1] * 1e3:>7.3f}ms", flush=True)
    latencies = np.array(latencies) * 1e3
    print(f"per-frame latency: median {np.median(latencies):.3f} ms, 90th percentile "
          f"{np.percentile(latencies, 90):.3f} ms, max {latencies.max():.3f} ms over {len(latencies)} frames")


def main(argv=None):
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.beam < 1:
        arguments.error(f"argument --beam: must be a positive integer, got {args.beam}")
    if args.length < 1 or args.temperature < 0:
        arguments.error("arguments --length and --temperature: need --length >= 1 and --temperature >= 0")
    if args.quantize != "none" and args.export in (None, "onnx"):
        arguments.error("argument --quantize: applies to --export only (model or stream)")
    if sum(map(bool, (args.input is not None, args.stream, args.export))) > 1:
        arguments.error("arguments --input, --stream and --export: pass one at a time")

    from datasets import DatasetError
    from zoo import data, evaluation, tasks
    from zoo.settings import Settings

    try:
        kind, artifact, run_folder = find_run(args.run)
        # Files written beside the run (alignment plots) go to a preset's copy, not to a folder named after it.
        args.run = str(run_folder)
        config_path = run_folder / "config.json"
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path} is missing: keep the model beside its run's config.json.")
        try:
            config = json.loads(config_path.read_text())
        except ValueError as error:
            raise ValueError(f"{config_path} is not JSON ({error}): copy it again from the run folder.") from None
        if args.input == "-":
            predict_lines(kind, artifact, config, args)
            return 0
        if args.input is not None:
            run_on_input(kind, artifact, config, args)
            return 0
        if args.export == "onnx":
            export_onnx(kind, artifact, run_folder, config, args)
            return 0
        if args.export:
            exported = export_tflite(kind, artifact, run_folder, config, args)
            if args.quantize == "none":
                return 0
            kind, artifact = "tflite", exported
        task = tasks.get(config["task"])
        if args.beam > 1 and (not task.supports_beam or kind != "keras"):
            raise ValueError("--beam applies to seq2seq run folders only (the SavedModel has a beam_search endpoint).")

        settings = Settings(**config["settings"])
        settings.limit = None
        if args.dataset is not None:
            settings.dataset = args.dataset
        if args.data_dir is not None:
            settings.data_dir = args.data_dir
        prepared = data.prepare(task, settings, vocabularies=config["vocabularies"])
        if args.stream:
            stream_demo(run_folder, config, prepared, args)
            return 0
        if args.dataset is not None:
            config = {**config, "dataset": prepared.loaded.name}
            if prepared.loaded.label_names is not None and prepared.loaded.label_names != config["label_names"]:
                raise ValueError(
                    f"{args.dataset} has labels {prepared.loaded.label_names}, the model {config['label_names']}: "
                    "score on a dataset with the model's labels."
                )
        if kind == "keras":
            from zoo.presets import load_keras_model

            metrics = evaluation.evaluate_keras(load_keras_model(artifact), config, prepared, args.split, args.beam)
        elif kind == "saved_model":
            import tensorflow as tf

            metrics = evaluation.evaluate_saved_model(tf.saved_model.load(str(artifact)), config, prepared, args.split)
        else:
            metrics = evaluation.evaluate(evaluation.tflite_runner(artifact), config, prepared, args.split)
        if args.quantize != "none":
            float_path = run_folder / f"{args.export}.tflite"
            float_metrics = evaluation.evaluate(evaluation.tflite_runner(float_path), config, prepared, args.split)
            name, higher_is_better = task.main_metric_of(float_metrics)
            cost = float_metrics[name] - metrics[name] if higher_is_better else metrics[name] - float_metrics[name]
            metrics = {
                "quantize": args.quantize, **metrics, f"float_{name}": float_metrics[name], f"{name}_cost": cost,
                "size_kib": round(artifact.stat().st_size / 1024, 1),
                "float_size_kib": round(float_path.stat().st_size / 1024, 1),
            }
    except KeyboardInterrupt:
        if args.debug:
            raise
        arguments.exit(130, "\nInterrupted.\n")
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, (DatasetError, FileNotFoundError, ValueError, ImportError)):
            arguments.exit(2, f"{arguments.prog}: error: {one_line(error)}\n")
        arguments.exit(1, f"{arguments.prog}: error: {type(error).__name__}: {one_line(error)} (--debug shows where)\n")

    metrics = {"model": config["model"], "dataset": config["dataset"], "split": args.split, "artifact": kind, **metrics}
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
    else:
        print_table(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
