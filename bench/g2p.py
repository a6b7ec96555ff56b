"""The `g2p` model against Phonetisaurus, the WFST baseline of grapheme-to-phoneme, on the same split.

    python bench/g2p.py runs/g2p-...                          # a run of train.py --model g2p
    python bench/g2p.py g2p --beam 5                          # the shipped preset
    python bench/g2p.py runs/g2p-... runs/g2p-no-stress-... --beam 4

For each dataset of the runs it trains Phonetisaurus (default settings:
`phonetisaurus train`) on exactly the runs' training split (cmudict_g2p, or
cmudict_g2p/no_stress for a run trained with --dataset cmudict_g2p/no_stress),
predicts the test words, and scores both systems with the zoo's metric
(`zoo.metrics.grapheme_to_phoneme`: a word with several pronunciations is right
when it matches any of them, its phoneme errors count against the closest).
The model is scored again here from its model.keras, greedy or with --beam; a
run trained with stress digits is also scored without them (its answers to
cmudict_g2p/no_stress's test words as a list, digits removed) against
Phonetisaurus trained without them. "vs PS" is the change in errors against
Phonetisaurus on the same dataset (-15% is 15% fewer), beside the goals' rows.
Phonetisaurus (the `phonetisaurus` wheel, 0.3.0) is installed by this script
when it is missing, as bench/layers.py installs torch: it is no requirement of
the zoo. Its model is kept under --work, one per dataset, and reused.
"""

import argparse
import collections
import json
import pathlib
import subprocess
import sys
import time

import zoo  # noqa: F401  (quiets TensorFlow's start-up logging before it is imported)

PHONETISAURUS = "phonetisaurus==0.3.0"


def parse_arguments():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("runs", nargs="+", help="run folders of train.py --model g2p, or the preset g2p")
    arguments.add_argument("--beam", type=int, default=1, help="beam size for the model; 1 is greedy (default: %(default)s)")
    arguments.add_argument("--work", default="runs/phonetisaurus",
                           help="where Phonetisaurus models are kept, one per dataset (default: %(default)s)")
    arguments.add_argument("--json", help="also write the table's rows to this JSON file")
    return arguments.parse_args()


def import_phonetisaurus():
    try:
        import phonetisaurus
    except ImportError:
        print(f"Installing {PHONETISAURUS} for this comparison (not a requirement of the zoo).", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PHONETISAURUS], check=True)
        import phonetisaurus
    return phonetisaurus


def lexicon(split):
    """{word: [phonemes, ...]} of a split of cmudict_g2p, in its order."""
    words = collections.defaultdict(list)
    for example in split.as_numpy_iterator():
        words[example["source"].decode("utf-8")].append(example["target"].decode("utf-8").split())
    return dict(words)


def phonetisaurus_scores(dataset, work):
    """Trains (or reuses) Phonetisaurus on `dataset`'s training split and scores it on the test split."""
    import datasets
    from zoo import metrics

    phonetisaurus = import_phonetisaurus()
    loaded = datasets.load("translation", dataset)
    folder = pathlib.Path(work) / dataset.replace("/", "-")
    model_path, info_path = folder / "model.fst", folder / "training.json"
    if model_path.exists() and info_path.exists():
        training_seconds = json.loads(info_path.read_text())["training_seconds"]
        print(f"Reusing {model_path} (trained in {training_seconds:.0f} s).", file=sys.stderr)
    else:
        print(f"Training Phonetisaurus on the {dataset} training split into {model_path} ...", file=sys.stderr)
        start = time.perf_counter()
        phonetisaurus.train(lexicon(loaded.splits["train"]), model_path)
        training_seconds = time.perf_counter() - start
        info_path.write_text(json.dumps({"dataset": dataset, "training_seconds": training_seconds}) + "\n")
    test = lexicon(loaded.splits["test"])
    start = time.perf_counter()
    predicted = dict(phonetisaurus.predict(list(test), model_path))
    predict_seconds = time.perf_counter() - start
    words, references, hypotheses = [], [], []
    for word, pronunciations in test.items():
        for pronunciation in pronunciations:
            # A word Phonetisaurus gives no answer for counts as wrong, every phoneme deleted.
            words.append(word), references.append(pronunciation), hypotheses.append(predicted.get(word, []))
    scores = metrics.grapheme_to_phoneme(words, references, hypotheses)
    return {**scores, "training_seconds": training_seconds, "predict_seconds": predict_seconds,
            "unanswered": sum(word not in predicted for word in test)}


def model_scores(run, beam):
    """The run's test WER and PER from its model.keras, and its parameters and training time."""
    from zoo import data, evaluation, presets, tasks
    from zoo.settings import Settings

    run = presets.resolve(run, writable=False) or pathlib.Path(run)
    config = json.loads((run / "config.json").read_text())
    settings = Settings(**config["settings"])
    settings.limit = None
    prepared = data.prepare(tasks.get(config["task"]), settings, vocabularies=config["vocabularies"])
    start = time.perf_counter()
    scores = evaluation.evaluate_keras(presets.load_keras_model(run / "model.keras"), config, prepared, "test", beam)
    # A preset's training time is on its card; a run whose own test scoring did not finish has none to show.
    training_seconds = None
    for name in ("metrics.json", "card.json"):
        if (run / name).exists():
            training_seconds = json.loads((run / name).read_text())["training_seconds"]
            break
    return config, {**scores, "training_seconds": training_seconds, "parameters": config["parameters"],
                    "predict_seconds": time.perf_counter() - start}


def stress_removed_scores(run, beam):
    """A model trained with stress digits, scored on cmudict_g2p/no_stress's test words with its digits removed.

    It pronounces the raw test words as a list (`Preset.predict`, what `evaluate.py RUN --input -` runs), so its
    words are Phonetisaurus's; a word it cannot read counts as wrong, every phoneme deleted.
    """
    import datasets
    from zoo import metrics, presets

    test = lexicon(datasets.load("translation", "cmudict_g2p/no_stress").splits["test"])
    start = time.perf_counter()
    answers = presets.from_preset(run).predict(list(test), beam=beam)
    predict_seconds = time.perf_counter() - start
    words, references, hypotheses = [], [], []
    for (word, pronunciations), answer in zip(test.items(), answers):
        # The model writes phonemes in lower case (its target vocabulary's), the dictionary in upper case.
        hypothesis = [] if isinstance(answer, Exception) else [phoneme.rstrip("012") for phoneme in answer[0].split()]
        for pronunciation in pronunciations:
            words.append(word), references.append([phoneme.lower() for phoneme in pronunciation])
            hypotheses.append(hypothesis)
    return {**metrics.grapheme_to_phoneme(words, references, hypotheses), "predict_seconds": predict_seconds,
            "unanswered": sum(isinstance(answer, Exception) for answer in answers)}


def print_table(rows, baselines):
    print(f"{'system':<58} {'dataset':<22} {'WER':>7} {'PER':>7} {'WER vs PS':>9} {'PER vs PS':>9} "
          f"{'words':>7} {'training':>9} {'scoring':>8} {'parameters':>10}")
    for row in rows:
        baseline = baselines[row["dataset"]]
        parameters = f"{row['parameters']:,}" if row.get("parameters") else "-"
        training = "-" if row.get("training_seconds") is None else f"{row['training_seconds']:.0f}s"
        scoring = "-" if row.get("predict_seconds") is None else f"{row['predict_seconds']:.0f}s"
        # Relative to Phonetisaurus on the same dataset: -10% is 10% fewer errors.
        relative = [f"{row[name] / baseline[name] - 1:+.1%}" for name in ("word_error_rate", "phoneme_error_rate")]
        words = f"{row['words']:,}" if row.get("words") else "-"
        print(f"{row['system']:<58} {row['dataset']:<22} {row['word_error_rate']:>7.2%} "
              f"{row['phoneme_error_rate']:>7.2%} {relative[0]:>9} {relative[1]:>9} {words:>7} {training:>9} "
              f"{scoring:>8} {parameters:>10}")


def main():
    args = parse_arguments()
    decoding = "greedy" if args.beam == 1 else f"beam {args.beam}"
    rows, baselines = [], {}
    for run in args.runs:
        config, scores = model_scores(run, args.beam)
        rows.append({"system": f"{config['model']} ({decoding}) {run}", "dataset": config["dataset"], **scores})
        if config["dataset"] == "cmudict_g2p":
            rows.append({"system": "  the same, stress digits removed", "dataset": "cmudict_g2p/no_stress",
                         **stress_removed_scores(run, args.beam), "parameters": config["parameters"]})
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        baselines[dataset] = phonetisaurus_scores(dataset, args.work)
        rows.append({"system": "Phonetisaurus 0.3.0, default settings", "dataset": dataset, **baselines[dataset]})
        for share in (0.10, 0.15):
            rows.append({"system": f"goal: {share:.0%} fewer errors than Phonetisaurus", "dataset": dataset,
                         **{name: baselines[dataset][name] * (1 - share)
                            for name in ("word_error_rate", "phoneme_error_rate")}})
    print_table(rows, baselines)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
