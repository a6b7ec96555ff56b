"""Frame labelling, many to many aligned (SPEC §5): one label per input frame, as in DNN-HMM speech recognition."""

import collections
import pathlib

import numpy as np
import tensorflow as tf

from datasets import pipeline
from zoo import metrics
from zoo.tasks import base


def frame_dim(source):
    """Features per frame that a frame model (Keras) or its loaded SavedModel takes."""
    if hasattr(source, "inputs"):
        return source.inputs[0].shape[-1]
    return source.signatures["serve"].structured_input_signature[1]["frames"].shape[-1]


def read_features(path, dim):
    """The `features` (time, dim) float32 array of the .npz file `path`; ValueError, saying why, otherwise."""
    path = pathlib.Path(path)
    if path.suffix != ".npz" or not path.is_file():
        raise ValueError(f"--input {str(path)!r}: frame models take an existing .npz file with `features` (time, dim).")
    try:
        with np.load(path) as archive:
            features = archive["features"].astype(np.float32) if "features" in archive else None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error}): save it with numpy.savez.") from None
    if features is None:
        raise ValueError(f"{path} has no `features` array: save one of shape (time, dim).")
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] != dim:
        raise ValueError(
            f"{path}: `features` has shape {features.shape}, the model takes (time, {dim}) with time >= 1: "
            "save the frames the model was trained on, one row per frame."
        )
    if not np.isfinite(features).all():
        raise ValueError(f"{path}: `features` holds NaN or infinite values: pass finite features.")
    return features


class FrameLabelling(base.Task):
    """frames (batch, time, dim) -> per-frame probabilities (batch, time, classes); padding weighs 0."""

    name = "frames"
    main_metric = "frame_accuracy"
    loop_accuracy = "weighted"
    # Frames are tensors already: model.onnx takes any batch, as serving_default does.
    onnx_signature = "serving_default"
    text_input = False

    def batches(self, loaded, vectorizers, settings):
        frames = np.concatenate([example["features"] for example in loaded.splits["train"].as_numpy_iterator()])
        options = dict(batch_size=settings.batch_size, seed=settings.seed)
        batches = {
            split: pipeline.frame_batches(loaded.splits[split], training=split == "train", **options)
            for split in ("train", "validation", "test")
        }
        info = base.DataInfo(
            num_classes=len(loaded.label_names),
            feature_dim=loaded.feature_dim,
            feature_mean=frames.mean(axis=0).tolist(),
            # A constant feature would divide by zero.
            feature_variance=np.maximum(frames.var(axis=0), 1e-6).tolist(),
        )
        return info, batches

    def loss(self, settings):
        return "sparse_categorical_crossentropy"

    def compile(self, model, optimizer, settings):
        # Padded frames have sample weight 0: only weighted metrics skip them.
        model.compile(optimizer, loss=self.loss(settings), weighted_metrics=["accuracy"])

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        dim = model.inputs[0].shape[-1]

        def label_frames(frames):
            probabilities = model(frames)
            return {"probabilities": probabilities, "labels": tf.argmax(probabilities, axis=-1)}

        return {"serve": (label_frames, [tf.TensorSpec([None, None, dim], tf.float32, name="frames")])}

    def sequence_function(self, model, vocabularies):
        dim = model.inputs[0].shape[-1]
        return (
            lambda frames: {"probabilities": model(frames)},
            [tf.TensorSpec([1, None, dim], tf.float32, name="frames")],
        )

    def _score(self, prepared, split, predict):
        """Frame metrics of `predict(frames, lengths) -> labels (batch, time)` over the real frames."""
        labels, predictions, weights = [], [], []
        for frames, label, weight in prepared.batches[split]:
            lengths = weight.numpy().sum(axis=1).astype(int)
            predictions.append(np.asarray(predict(frames, lengths)).ravel())
            labels.append(label.numpy().ravel())
            weights.append(weight.numpy().ravel())
        return metrics.frames(np.concatenate(labels), np.concatenate(predictions), np.concatenate(weights))

    def evaluate(self, runner, config, prepared, split):
        return self._score(
            prepared, split, lambda frames, lengths: np.argmax(runner.label_frames(frames, lengths), axis=-1)
        )

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        return self._score(prepared, split, lambda frames, lengths: saved_model.serve(frames)["labels"].numpy())

    def baseline(self, prepared, split):
        """The training split's most frequent frame label, for every frame."""
        counts = collections.Counter()
        for labels in prepared.loaded.splits["train"].map(lambda example: example["labels"]).as_numpy_iterator():
            counts.update(labels.tolist())
        majority = counts.most_common(1)[0][0]
        scores = self._score(prepared, split, lambda frames, lengths: np.full(frames.shape[:2], majority))
        return {"baseline_frame_accuracy": scores["frame_accuracy"]}

    def check_input(self, text):
        pass

    def run_input(self, functions, source, config, args):
        features = read_features(args.input, frame_dim(source))
        outputs = functions["serve"](tf.constant(features[None]))
        names = config["label_names"]
        print(" ".join(names[index] for index in outputs["labels"].numpy()[0]))

    def stream_sequence(self, batches, config, length):
        frames, labels, weights = next(iter(batches))
        real = int(weights.numpy()[0].sum())
        return frames.numpy()[0, :real], labels.numpy()[0, :real], config["label_names"]
