"""Pretrained presets: a trained run folder of every named model, shipped in the repository under presets/NAME/.

A preset name works wherever a run folder goes (`evaluate.py g2p --input zoology`),
and `from_preset` loads one in Python, as KerasHub's `from_preset` does:

    import zoo
    preset = zoo.from_preset("g2p")
    preset.model                       # the Keras model
    preset.vocabularies                # what turns text into its token ids
    preset.predict(["zoology"])        # [["z ow0 aa1 l ah0 jh iy0"]]

Each preset's files are pinned by sha256 below, and checked whenever it is
loaded: a corrupted or swapped file is an error, never silently wrong
answers. An existing path always wins over a preset name.
"""

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import shutil
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRESETS_DIR = ROOT / "presets"
# The files of a preset that hold what it computes; card.json and history.csv only describe it.
PINNED_FILES = ("model.keras", "config.json")
# An int8 preset keeps its weights under this name instead of model.weights.h5, so plain Keras refuses the file
# ("Expected a model.weights.h5") rather than load int8 values as weights; `load_keras_model` dequantizes them.
INT8_WEIGHTS = "model.weights.int8.h5"
INT8_SCALE = "int8_scale"

# sha256 of each preset's pinned files, written by presets/make.py when a preset is (re)trained.
SHA256 = {
    "sentiment": {
        "model.keras": "47c85b41e4592824805ca586f1179e69068c50a1c0734fb1a1cf09a3bc2f8b30",
        "config.json": "00fe59602093827cd8d2e1cb164f80c1064e0c684c93564fe39aaa4d3d02bf9f",
    },
    "framewise": {
        "model.keras": "5bc1b4166cdb1f9beddceb9a76da66521ed80d13744e53316fc1adc3a6dd4ac9",
        "config.json": "8b077ba564789363ee7a268e487b6d608557442f5e36db5236f8d61212788b08",
    },
    "dense_birnn_dense": {
        "model.keras": "391411eed1cb91213018c650c69b0189ca71e71d978327e4f66d475d54696e84",
        "config.json": "b58daca3a2c0051e7b6bed1b1d7eaf178b909b9cdf87ec59a6317811922bca3a",
    },
    "window_ffn": {
        "model.keras": "44a085b0b1f9280f127ff1d9d3a16c02366f9e6815c2194b53607acea6fd9cc9",
        "config.json": "2895d67a73cc80e44c682630a2249479a18d8723473ad9e15e26d7ec304462b6",
    },
    "seq2seq": {
        "model.keras": "4052c5807b7e3d55579b1d4b81fefb11e868a1aa952f0ed06f8c74320a16c3f0",
        "config.json": "bbe25eb8a69b7ec2e2dda0d3d760dc4fb362fb47d6c504728b2eb3d58e556e54",
    },
    "g2p": {
        "model.keras": "e3e5f4e46a07bb5e3d3dd166dfc0cb005012d8ba72ad17c914dadbfeb571f4a7",
        "config.json": "b9720b32ffdb4216038bc23897111ee2529037edf9cb94e713241ec4131a6f88",
    },
    "char_lm": {
        "model.keras": "afd29414566e6451f241b645fce97e5e32748ec5be655c0264aff6f24d5418f0",
        "config.json": "27d7ea4ce2ae4af615d8aa9879672bad3e5c4f6cf68b831ad510c0a2bbe70b73",
    },
}


class PresetError(ValueError):
    """A preset or run folder that cannot be loaded, with the reason and the fix in one line."""


def names():
    """The preset names, in the order of zoo.models.MODELS."""
    return list(SHA256)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name):
    """presets/NAME after checking each pinned file's sha256; raises PresetError for a missing or changed file."""
    folder = PRESETS_DIR / name
    for file_name, expected in SHA256[name].items():
        path = folder / file_name
        if not path.exists():
            raise PresetError(f"preset {name!r} lacks {path}: restore it with `git checkout -- {path}`.")
        found = sha256(path)
        if found != expected:
            raise PresetError(
                f"{path} has sha256 {found[:12]}..., not the pinned {expected[:12]}...: the file is corrupted or "
                f"another model's; restore it with `git checkout -- {path}`."
            )
    return folder


def cache_dir():
    """Where presets are copied to be written beside (exports, alignment plots): $ZOO_CACHE_DIR or ~/.cache/rnn-zoo."""
    return pathlib.Path(os.environ.get("ZOO_CACHE_DIR") or pathlib.Path.home() / ".cache" / "rnn-zoo")


def working_copy(name):
    """A writable run folder holding preset `name`'s verified files, so exports never write into the repository.

    It is named by the model file's hash, so a retrained preset gets a new copy.
    """
    source = verify(name)
    folder = cache_dir() / "presets" / f"{name}-{SHA256[name]['model.keras'][:12]}"
    if not all((folder / file_name).exists() for file_name in PINNED_FILES):
        folder.mkdir(parents=True, exist_ok=True)
        for file_name in PINNED_FILES:
            temporary = folder / f".{file_name}.partial"
            shutil.copyfile(source / file_name, temporary)
            temporary.replace(folder / file_name)
    return folder


def resolve(run, writable=True):
    """The run folder (or artifact) that `run` names: an existing path as it is, else a preset's folder.

    With `writable`, a preset resolves to its working copy (`working_copy`),
    else to presets/NAME itself, after its hashes are checked. Returns None when
    `run` is neither an existing path nor a preset name.
    """
    path = pathlib.Path(run)
    if path.exists():
        return path
    if str(run) in SHA256:
        return working_copy(str(run)) if writable else verify(str(run))
    return None


def load_keras_model(path, compile=True):
    """keras.saving.load_model, with a one-line PresetError for a file that is not a whole .keras archive.

    Keras answers "File not found" for a truncated model.keras; this says what is wrong instead. A preset
    stored in int8 (INT8_WEIGHTS) is dequantized to float32 first.
    """
    import keras

    import zoo.models  # noqa: F401  (registers the zoo's layers, which the file names, for deserialization)

    path = pathlib.Path(path)
    if not path.exists():
        raise PresetError(f"{path} does not exist: pass a run folder that holds model.keras.")
    if not zipfile.is_zipfile(path):
        raise PresetError(
            f"{path} is not a complete .keras file ({path.stat().st_size:,} bytes; truncated or corrupted): "
            "copy it again from where it was trained, or train again."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            if INT8_WEIGHTS not in archive.namelist():
                return keras.saving.load_model(path, compile=compile)
            members = {name: archive.read(name) for name in archive.namelist()}
        members["model.weights.h5"] = dequantized(members.pop(INT8_WEIGHTS))
        with tempfile.TemporaryDirectory() as temporary:
            float_path = pathlib.Path(temporary) / "model.keras"
            with zipfile.ZipFile(float_path, "w") as out:
                for name, value in members.items():
                    out.writestr(name, value)
            return keras.saving.load_model(float_path, compile=compile)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise PresetError(f"{path} could not be read ({error}): copy it again, or train again.") from None


def rewritten_weights(weights, transform):
    """The bytes of a Keras weights file (model.weights.h5) with every dataset passed through `transform`.

    `transform(value, attributes)` takes a dataset's array and attributes and returns the array and the
    attributes to store; groups and their attributes are copied as they are.
    """
    import h5py

    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(weights), "r") as found, h5py.File(buffer, "w") as out:
        out.attrs.update(found.attrs)

        def copy(name, item):
            if not isinstance(item, h5py.Dataset):
                out.require_group(name).attrs.update(item.attrs)
                return
            value, attributes = transform(item[()], dict(item.attrs))
            out.create_dataset(name, data=value).attrs.update(attributes)

        found.visititems(copy)
    return buffer.getvalue()


def dequantized(weights):
    """The bytes of model.weights.h5 from those of model.weights.int8.h5: each int8 weight times its scales.

    presets/make.py stores a matrix `w` of shape (..., columns) as round(w / scale) in int8, with
    scale = max |w| over each column / 127 in the dataset's INT8_SCALE attribute, so no weight moves by more
    than half its column's scale; vectors (biases) stay float16.
    """
    import numpy as np

    def dequantize(value, attributes):
        if INT8_SCALE not in attributes:
            return value, {}
        return value.astype(np.float32) * np.asarray(attributes[INT8_SCALE], np.float32), {}

    return rewritten_weights(weights, dequantize)


@dataclasses.dataclass
class Preset:
    """A loaded preset or run folder: the Keras model and everything that turns raw input into its input."""

    name: str
    path: pathlib.Path
    model: object
    config: dict
    card: dict | None

    @property
    def vocabularies(self):
        return self.config["vocabularies"]

    @property
    def label_names(self):
        return self.config["label_names"]

    def predict(self, inputs, **options):
        """The model's answers to a list of raw inputs (texts), as `evaluate.py RUN --input -` writes them.

        Options: `length` and `temperature` (char_lm), `beam` (seq2seq, g2p).
        Returns one list of output fields per input (sentiment: [label, probability]); an input the model
        cannot read (g2p: a word with a digit) gets a ValueError saying why in its place, and the rest are answered.

            from_preset("g2p").predict(["zoology", "rnn"])   # [["z ow0 aa1 l ah0 jh iy0"], ["aa1 r n"]]
        """
        from zoo import tasks

        return tasks.get(self.config["task"]).predict_batch(self.model, self.config, list(inputs), **options)


def from_preset(name_or_path):
    """The Preset that `name_or_path` names: a preset (see `names()`) or a run folder of train.py.

    An existing path wins over a preset name. Raises PresetError, saying why,
    for an unknown name or a corrupted file.
    """
    path = resolve(name_or_path, writable=False)
    if path is None:
        raise PresetError(f"{name_or_path!r} is neither a run folder nor a preset: pass a path or one of {names()}.")
    config_path = path / "config.json"
    if not config_path.exists():
        raise PresetError(f"{config_path} is missing: a run folder holds config.json beside model.keras.")
    card_path = path / "card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else None
    model = load_keras_model(path / "model.keras", compile=False)
    return Preset(path.name, path, model, json.loads(config_path.read_text()), card)
