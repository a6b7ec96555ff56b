"""Several finished seq2seq or g2p runs as one run folder whose model answers with their mean log-probabilities.

    python train.py --model g2p --seed 0 --out runs/g2p-0
    python train.py --model g2p --seed 1 --out runs/g2p-1
    python ensemble.py runs/g2p-0 runs/g2p-1 --out runs/g2p-ensemble

The folder is a run folder like train.py's (model.keras, saved_model/,
model.tflite, config.json, metrics.json), so `evaluate.py`, `zoo.from_preset`,
the exports and presets/make.py take it as they take one run. Its model
(`zoo.models.seq2seq.ensemble`) holds every member, so it is their summed size
and decodes at their summed cost. config.json is the first member's, with the
ensemble's command, its parameters, and under "members" what each member was
(its command, seed, epochs and times).
"""

import csv
import json
import os
import pathlib
import time

from zoo import atomic, data, export, presets
from zoo.atomic import write_json
from zoo.models import seq2seq
from zoo.settings import Settings
from zoo.training import library_versions, score, source_commit


class EnsembleError(ValueError):
    """The runs cannot be joined as asked; the message says why and what to do."""


def member_entry(run, config):
    """What the ensemble's config.json keeps of member `run`: its command, seed, epochs and times."""
    metrics_path = run / "metrics.json"
    with open(run / "history.csv", newline="") as file:
        losses = [float(row["val_loss"]) for row in csv.DictReader(file)]
    started = time.mktime(time.strptime(config["started"], "%Y-%m-%dT%H:%M:%S"))
    return {
        "run": str(run),
        "command": config["command"],
        "commit": config.get("commit"),
        "started": config["started"],
        "seed": config["settings"]["seed"],
        "parameters": config["parameters"],
        "epochs": len(losses),
        "best_epoch": 1 + losses.index(min(losses)),
        "training_seconds": json.loads(metrics_path.read_text())["training_seconds"],
        "wall_seconds": round(metrics_path.stat().st_mtime - started),
    }


def read_member(run, first=None, first_held_out=None):
    """(config, model) of the finished run folder `run`, checked against the first member's config and
    held-out examples."""
    run = pathlib.Path(run)
    for file_name in ("config.json", "model.keras", "metrics.json", "history.csv"):
        if not (run / file_name).exists():
            raise EnsembleError(f"{run} holds no {file_name}: pass run folders of train.py whose training finished.")
    config = json.loads((run / "config.json").read_text())
    if config["task"] != "translation":
        raise EnsembleError(f"{run} is a {config['model']} run: only seq2seq and g2p runs (translation) ensemble.")
    if "members" in config:
        raise EnsembleError(f"{run} is an ensemble already: pass the runs it was made of instead.")
    if first is not None:
        if config["dataset"] != first["dataset"] or held_out(config) != first_held_out:
            raise EnsembleError(
                f"{run} holds out other validation and test examples than the first run ({config['dataset']} "
                f"against {first['dataset']}; a single file is split by --seed): members must share their data, so "
                "train each on a folder of train/validation/test files, or with the first one's --seed."
            )
        if config["vocabularies"] != first["vocabularies"]:
            raise EnsembleError(f"{run} has other vocabularies than the first run: train the members on the same "
                                "data with the same --tokens.")
    return config, presets.load_keras_model(run / "model.keras", compile=False)


def held_out(config):
    """The validation and test examples of a run's dataset as it split them (a single file is split by its seed)."""
    loaded = data.load(config["task"], Settings(**config["settings"]))
    return [
        [(example["source"], example["target"]) for example in loaded.splits[split].as_numpy_iterator()]
        for split in ("validation", "test")
    ]


def combine(runs, out, command):
    """Writes the ensemble of the finished translation runs `runs` into the new run folder `out`; returns its
    test metrics. `command` is the command line recorded in config.json."""
    out = pathlib.Path(out)
    if len(runs) < 2:
        raise EnsembleError(f"An ensemble needs at least two runs, got {len(runs)}.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EnsembleError(f"--out {out} exists and is not an empty folder: pass a new --out folder.")
    first = None
    configs, models = [], []
    first_held_out = None
    for run in runs:
        config, model = read_member(run, first, first_held_out)
        if first is None:
            first, first_held_out = config, held_out(config)
        configs.append(config)
        models.append(model)
    model = seq2seq.ensemble(models)
    prepared = data.prepare(first["task"], Settings(**first["settings"]), vocabularies=first["vocabularies"])
    config = {
        **first,
        "parameters": model.count_params(),
        "versions": library_versions(),
        "command": command,
        "commit": source_commit(),
        "working_directory": os.getcwd(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "members": [member_entry(pathlib.Path(run), config) for run, config in zip(runs, configs)],
    }
    # Written whole or not at all: a folder with model.keras but no metrics.json would pass for a finished run.
    with atomic.replacing(out) as folder:
        folder.mkdir()
        write_json(folder / "config.json", config)
        model.save(folder / "model.keras")
        export.export_saved_model(model, "translation", prepared.vectorizers, prepared.vocabularies, None,
                                  folder / "saved_model")
        export.export_tflite(folder / "saved_model", folder / "model.tflite", "sequence")
        metrics = {
            **score(model, config, prepared),
            "training_seconds": round(sum(member["training_seconds"] for member in config["members"]), 1),
        }
        write_json(folder / "metrics.json", metrics)
    return metrics
