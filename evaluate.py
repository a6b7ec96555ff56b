"""Scores a trained model on a dataset split, or runs it on your own input.

    python evaluate.py runs/sentiment-...                      # test metrics as a table
    python evaluate.py runs/sentiment-.../model.tflite --json  # the TF Lite model, as JSON
    python evaluate.py runs/seq2seq-... --beam 4
    python evaluate.py runs/sentiment-... --input "这本书很好"
    python evaluate.py runs/framewise-... --input frames.npz   # features (time, dim)
    python evaluate.py runs/char_lm-... --input "def " --length 200 --temperature 0.8

RUN is a run folder of train.py (its model.keras), its saved_model/ folder or
its model.tflite file; the run's config.json says what the model is.
"""

import argparse
import json
import pathlib
import sys

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)


def parser():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = arguments.add_argument
    add("run", help="a run folder, its saved_model/ folder, or its model.tflite file")
    add("--dataset", help="score on this dataset instead of the run's (a builder name, a path, or tfds:NAME)")
    add("--data-dir", help="where TFDS keeps prepared datasets (default: the run's)")
    add("--split", choices=["train", "validation", "test"], default="test", help="split to score (default: %(default)s)")
    add("--json", action="store_true", help="print the metrics as JSON instead of a table")
    add("--beam", type=int, default=1, help="beam size for seq2seq decoding; 1 is greedy (default: %(default)s)")
    add("--input", help="run on this text (text models) or .npz of features (time, dim) (frame models) instead")
    add("--length", type=int, default=200, help="characters to generate with char_lm --input (default: %(default)s)")
    add("--temperature", type=float, default=1.0,
        help="char_lm sampling temperature; lower is more conservative, 0 is greedy (default: %(default)s)")
    return arguments


def find_run(path):
    """(kind, artifact path, run folder): kind is "keras", "saved_model" or "tflite"."""
    path = pathlib.Path(path)
    if path.is_file() and path.suffix == ".tflite":
        return "tflite", path, path.parent
    if (path / "saved_model.pb").exists():
        return "saved_model", path, path.parent
    if (path / "model.keras").exists():
        return "keras", path / "model.keras", path
    raise FileNotFoundError(
        f"{path} is neither a finished run folder (with model.keras), a SavedModel folder, nor a .tflite file: "
        "pass one of those (train.py prints the run folder)."
    )


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
    import numpy as np
    import tensorflow as tf

    from zoo import data, export

    task = config["task"]
    if kind == "tflite":
        raise ValueError("--input needs the run folder or its saved_model/ folder: the TF Lite model takes token ids.")
    if kind == "saved_model":
        loaded = tf.saved_model.load(str(artifact))
        functions = {"serve": loaded.serve, "beam_search": getattr(loaded, "beam_search", None)}
    else:
        import keras

        model = keras.saving.load_model(artifact)
        vocabularies = config["vocabularies"]
        vectorizers = {name: data.vectorizer_from_vocabulary(entry) for name, entry in vocabularies.items()}
        endpoints = export.serving_functions(model, task, vectorizers, vocabularies, config["label_names"])
        functions = {name: function for name, (function, _) in endpoints.items()}

    if task == "frames":
        path = pathlib.Path(args.input)
        if path.suffix != ".npz" or not path.exists():
            raise ValueError(f"--input {args.input!r}: frame models take an existing .npz file with `features` (time, dim).")
        with np.load(path) as archive:
            if "features" not in archive:
                raise ValueError(f"{path} has no `features` array: save one of shape (time, dim).")
            features = archive["features"].astype(np.float32)
        outputs = functions["serve"](tf.constant(features[None]))
        names = config["label_names"]
        labels = [names[index] for index in outputs["labels"].numpy()[0]]
        print(" ".join(labels))
        return
    text = tf.constant([args.input])
    if task == "sentiment":
        outputs = functions["serve"](text)
        probabilities = outputs["probabilities"].numpy()[0]
        print(outputs["label"].numpy()[0].decode("utf-8"))
        for name, probability in zip(config["label_names"], probabilities):
            print(f"  {name}: {probability:.3f}")
    elif task == "translation":
        if args.beam > 1:
            outputs = functions["beam_search"](text, tf.constant(args.beam))
        else:
            outputs = functions["serve"](text)
        print(outputs["translation"].numpy()[0].decode("utf-8"))
    else:
        outputs = functions["serve"](text, tf.constant(args.length), tf.constant(args.temperature))
        print(args.input + outputs["text"].numpy()[0].decode("utf-8"))


def main(argv=None):
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.beam < 1:
        arguments.error(f"argument --beam: must be a positive integer, got {args.beam}")
    if args.length < 1 or args.temperature < 0:
        arguments.error("arguments --length and --temperature: need --length >= 1 and --temperature >= 0")

    from datasets import DatasetError
    from zoo import data, evaluation
    from zoo.settings import Settings

    try:
        kind, artifact, run_folder = find_run(args.run)
        config_path = run_folder / "config.json"
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path} is missing: keep the model beside its run's config.json.")
        config = json.loads(config_path.read_text())
        if args.input is not None:
            run_on_input(kind, artifact, config, args)
            return 0
        if args.beam > 1 and (config["task"] != "translation" or kind != "keras"):
            raise ValueError("--beam applies to seq2seq run folders only (the SavedModel has a beam_search endpoint).")

        settings = Settings(**config["settings"])
        settings.limit = None
        if args.dataset is not None:
            settings.dataset = args.dataset
        if args.data_dir is not None:
            settings.data_dir = args.data_dir
        prepared = data.prepare(config["task"], settings, vocabularies=config["vocabularies"])
        if args.dataset is not None:
            config = {**config, "dataset": prepared.loaded.name}
            if prepared.loaded.label_names is not None and prepared.loaded.label_names != config["label_names"]:
                raise ValueError(
                    f"{args.dataset} has labels {prepared.loaded.label_names}, the model {config['label_names']}: "
                    "score on a dataset with the model's labels."
                )
        if kind == "keras":
            import keras

            metrics = evaluation.evaluate_keras(keras.saving.load_model(artifact), config, prepared, args.split, args.beam)
        elif kind == "saved_model":
            import tensorflow as tf

            metrics = evaluation.evaluate_saved_model(tf.saved_model.load(str(artifact)), config, prepared, args.split)
        else:
            metrics = evaluation.evaluate(evaluation.TFLiteRunner(artifact, config), config, prepared, args.split)
    except (DatasetError, FileNotFoundError, ValueError) as error:
        arguments.exit(2, f"{arguments.prog}: error: {error}\n")

    metrics = {"model": config["model"], "dataset": config["dataset"], "split": args.split, "artifact": kind, **metrics}
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
    else:
        print_table(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
