"""A toy task in one file, as a user would add one: sequence regression, many to one.

A sequence of frames (time, dim) in, one number out. Users' files are .npz
archives with `features` (total_frames, dim), `targets` (n_sequences,) and
`lengths` (n_sequences,). `register()` adds the task and its model
`toy_regression` to the registries; `unregister()` removes them again.
"""

import keras
import numpy as np
import tensorflow as tf

import datasets.tasks
from datasets import DatasetError
from datasets.files import FileData
from zoo import models, tasks
from zoo.layers import BasicRNN
from zoo.tasks import base
from zoo.tasks.frames import frame_dim, read_features

NAME = "sequence_regression"


def read_file(path):
    """(features (time, dim), target) pairs from an .npz file."""
    with np.load(path) as archive:
        if {"features", "targets", "lengths"} - set(archive.files):
            raise DatasetError(f"{path}: save features, targets and lengths with np.savez.")
        features, targets, lengths = archive["features"], archive["targets"], archive["lengths"]
    pieces = np.split(features.astype(np.float32), np.cumsum(lengths)[:-1])
    return list(zip(pieces, targets.astype(np.float32)))


def to_splits(examples, sources):
    def dataset(pairs):
        features = tf.RaggedTensor.from_row_lengths(
            np.concatenate([f for f, _ in pairs]), [len(f) for f, _ in pairs]
        )
        targets = np.array([t for _, t in pairs], np.float32)
        return tf.data.Dataset.from_tensor_slices({"features": features, "target": targets}).map(
            lambda element: {"features": tf.convert_to_tensor(element["features"]), "target": element["target"]}
        )

    splits = {split: dataset(pairs) for split, pairs in examples.items()}
    return FileData(splits, feature_dim=int(examples["train"][0][0].shape[1]))


DATA = datasets.tasks.Task(
    name=NAME,
    element_spec={"features": tf.TensorSpec((None, None), tf.float32), "target": tf.TensorSpec((), tf.float32)},
    default_dataset=None,
    builders=(),
    text_keys=(),
    read_file=read_file,
    to_splits=to_splits,
    feature_key="features",
)


class SequenceRegression(base.Task):
    """frames (batch, time, dim), zero-padded -> value (batch, 1)."""

    name = NAME
    main_metric = "mse"
    higher_is_better = False

    def batches(self, loaded, vectorizers, settings):
        def batch(split):
            data = loaded.splits[split]
            if split == "train":
                data = data.shuffle(1024, seed=settings.seed)
            return data.padded_batch(settings.batch_size).map(lambda b: (b["features"], b["target"]))

        info = base.DataInfo(feature_dim=loaded.feature_dim)
        return info, {split: batch(split) for split in ("train", "validation", "test")}

    def loss(self, settings):
        return "mse"

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        dim = model.inputs[0].shape[-1]
        return {"serve": (lambda frames: {"value": model(frames)},
                          [tf.TensorSpec([None, None, dim], tf.float32, name="frames")])}

    def sequence_function(self, model, vocabularies):
        dim = model.inputs[0].shape[-1]
        return (lambda frames: {"value": model(frames)}, [tf.TensorSpec([1, None, dim], tf.float32, name="frames")])

    def _mse(self, prepared, split, predict):
        errors = []
        for frames, target in prepared.batches[split]:
            lengths = np.maximum((np.abs(frames.numpy()).sum(axis=-1) > 0).sum(axis=1), 1)
            errors.append((np.asarray(predict(frames, lengths)).reshape(-1) - target.numpy()) ** 2)
        errors = np.concatenate(errors)
        return {"mse": float(errors.mean()), "examples": int(errors.size)}

    def evaluate(self, runner, config, prepared, split):
        return self._mse(prepared, split, runner.predict)

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        return self._mse(prepared, split, lambda frames, lengths: saved_model.serve(frames)["value"].numpy())

    def baseline(self, prepared, split):
        mean = np.mean([target for _, target in prepared.loaded.splits["train"].map(
            lambda example: (0, example["target"])).as_numpy_iterator()])
        return {"baseline_mse": self._mse(prepared, split, lambda frames, lengths: np.full(len(frames), mean))["mse"]}

    def check_input(self, text):
        pass

    def run_input(self, functions, source, config, args):
        features = read_features(args.input, frame_dim(source))
        print(f"{float(functions['serve'](tf.constant(features[None]))['value'].numpy().reshape(-1)[0]):.4f}")


def build(info, settings):
    frames = keras.Input((None, info.feature_dim), name="frames")
    x = keras.layers.Masking()(frames)
    x = BasicRNN(settings.units, name="rnn")(x)
    return keras.Model(frames, keras.layers.Dense(1, name="value")(x), name="toy_regression")


MODEL = models.ModelSpec(
    "toy_regression", build, NAME, None, "sequence regression: frames -> BasicRNN -> one number",
    dict(units=8, epochs=3, batch_size=8, learning_rate=0.01),
)


def register():
    tasks.register(SequenceRegression(), DATA)
    models.register(MODEL)


def unregister():
    del tasks.TASKS[NAME], datasets.tasks.TASKS[NAME], models.MODELS[MODEL.name]
