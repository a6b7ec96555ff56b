"""`Task`: everything that differs between kinds of problem, in one object per task.

A task owns how a loaded dataset becomes batches, the loss and metrics a model
compiles with, its SavedModel and TF Lite signatures, how a split is scored
(with its trivial baseline), and how `evaluate.py --input` runs it. Models
declare their task by name (`zoo.models.ModelSpec.task`), and the machinery
(`zoo.training`, `zoo.export`, `zoo.evaluation`, `evaluate.py`) calls the
task's methods instead of asking which task it has.

A new task is one module: a `datasets.tasks.Task` for its data, a subclass of
`Task` here, and `zoo.tasks.register(MyTask())`; see tests/toy_regression.py.
"""

import dataclasses

import numpy as np

import datasets
from datasets import pipeline
from datasets.tasks import get_task as get_data_task
from zoo.models.cells import embedding_dim

# Words beyond this many distinct ones map to the out-of-vocabulary id.
MAX_WORD_VOCABULARY = 20_000
# Words seen fewer times in the training split map to the out-of-vocabulary id (characters are all kept).
MIN_WORD_COUNT = 2
TEXT_STANDARDIZE = "lower_and_strip_punctuation"
# Words are split at punctuation too (`datasets.pipeline.lower_and_split_punctuation`).
WORD_STANDARDIZE = "lower_and_split_punctuation"
# Texts per batch of `Task.predict_batch` (evaluate.py --input -).
PREDICT_BATCH_SIZE = 64
# Longest --input text: a model trained on sentences need not take a book, and the user meant a sentence.
MAX_INPUT_CHARACTERS = 10_000


def token_lengths(token_ids):
    """Tokens per row of padded ids (batch, time), at least 1: an empty text still has one frame to run."""
    token_ids = np.asarray(token_ids)
    return np.maximum((token_ids != pipeline.PAD_ID).sum(axis=1), 1)


def check_text_input(text):
    """Raises ValueError for an empty or overlong `evaluate.py --input` text."""
    if not text.strip():
        raise ValueError("--input is empty: pass some text, e.g. --input \"a sentence\".")
    if len(text) > MAX_INPUT_CHARACTERS:
        raise ValueError(f"--input has {len(text):,} characters, more than {MAX_INPUT_CHARACTERS:,}: pass a shorter text.")


@dataclasses.dataclass
class DataInfo:
    """What a builder needs to know about the data; fields a task lacks are None."""

    num_classes: int | None = None
    feature_dim: int | None = None
    feature_mean: list | None = None
    feature_variance: list | None = None
    vocabulary_size: int | None = None
    source_vocabulary_size: int | None = None
    target_vocabulary_size: int | None = None


class Task:
    """One task; subclasses override what their task needs.

    Attributes:
        name: the task's name, also that of its `datasets.tasks.Task`.
        main_metric: the metric that `evaluate.py --quantize` compares.
        higher_is_better: whether a larger `main_metric` is better.
        loop_accuracy: the accuracy `zoo.distribute.CustomLoop` reports:
            "plain", "weighted" (by the sample weights) or None.
        supports_beam: whether `--beam` applies (translation).
        onnx_signature: the SavedModel endpoint model.onnx holds: one with
            tensor inputs (ONNX has no string ops), by default `sequence`.
        text_input: whether the model reads text, so that `evaluate.py --input -`
            runs it on lines of standard input (`predict_batch`).
    """

    name: str
    main_metric: str
    higher_is_better: bool = True
    loop_accuracy: str | None = None
    supports_beam: bool = False
    onnx_signature: str = "sequence"
    text_input: bool = True

    @property
    def data(self) -> datasets.tasks.Task:
        """The data side of the task: its element structure, datasets and file format."""
        return get_data_task(self.name)

    def main_metric_of(self, scores):
        """(name, higher is better) of the metric that sums up `scores`, metrics this task returned."""
        return self.main_metric, self.higher_is_better

    # Data.

    def vocabulary_options(self, field, texts, loaded, settings):
        """(tokens, standardize, special tokens) of the vocabulary of text field `field`."""
        return loaded.tokens, WORD_STANDARDIZE if loaded.tokens == "words" else TEXT_STANDARDIZE, ()

    def new_vocabularies(self, loaded, settings):
        """{field: vocabulary entry} for every text field, built from the training split."""
        return {field: self._new_vocabulary(loaded, field, settings) for field in self.data.text_keys}

    def _new_vocabulary(self, loaded, field, settings):
        texts = loaded.splits["train"].map(lambda example: example[field])
        tokens, standardize, special_tokens = self.vocabulary_options(field, texts, loaded, settings)
        vectorizer = pipeline.make_text_vectorizer(
            texts,
            tokens,
            max_tokens=MAX_WORD_VOCABULARY if tokens == "words" else None,
            special_tokens=special_tokens,
            standardize=standardize,
            min_count=MIN_WORD_COUNT if tokens == "words" else 1,
        )
        # Ids 0 and 1 (padding, out-of-vocabulary) come back when the layer is rebuilt.
        return {"tokens": tokens, "standardize": standardize, "vocabulary": vectorizer.get_vocabulary()[2:]}

    def batches(self, loaded, vectorizers, settings):
        """(`zoo.data.DataInfo`, {split: batched `tf.data.Dataset`}) for the model builders and training."""
        raise NotImplementedError

    def resolve(self, settings, prepared):
        """{setting: value} for the settings this task sizes from the data (left None by the user).

        Here the embedding width, from the largest vocabulary, as the model builders size it
        (`zoo.models.cells.embedding_dim`).
        """
        info = prepared.info
        sizes = [size for size in (info.vocabulary_size, info.source_vocabulary_size, info.target_vocabulary_size)
                 if size is not None]
        if settings.embedding_dim is not None or not sizes:
            return {}
        return {"embedding_dim": embedding_dim(settings, *sizes)}

    # Training.

    def loss(self, settings):
        """The loss the model compiles with."""
        raise NotImplementedError

    def compile(self, model, optimizer, settings):
        """Compiles `model` with `optimizer` and the task's loss and metrics."""
        model.compile(optimizer, loss=self.loss(settings))

    # Export.

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        """The SavedModel's raw-input endpoints: {name: (function, input signature)}; "serve" first."""
        raise NotImplementedError

    def sequence_function(self, model, vocabularies):
        """The batch-1 function of model.tflite: (function, input signature)."""
        raise NotImplementedError

    def stream_output(self, outputs):
        """A streaming step's `output` from the model's last layer at one frame (probabilities)."""
        return outputs

    # Scoring.

    def evaluate(self, runner, config, prepared, split):
        """The task's metrics of `runner` (see `zoo.evaluation`) on batches of one split."""
        raise NotImplementedError

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        """The task's metrics of a loaded SavedModel fed the split's raw inputs."""
        raise NotImplementedError

    def baseline(self, prepared, split):
        """{"baseline_" + metric: value}: the trivial answer learnt from the training split, scored on `split`."""
        raise NotImplementedError

    # evaluate.py.

    def check_input(self, text):
        """Raises ValueError, saying why, for an --input this task cannot take (text tasks: empty or too long)."""
        check_text_input(text)

    def run_input(self, functions, source, config, args):
        """Runs the SavedModel `functions` on `args.input` and prints the answer.

        `source` is the Keras model or the loaded SavedModel the functions come from.
        """
        raise NotImplementedError

    def predict_batch(self, model, config, texts, length=200, temperature=1.0, beam=1):
        """The answers of Keras `model` to raw `texts`, batched: one list of output fields per text.

        What `evaluate.py RUN --input -` writes after each input line, tab-separated.
        """
        raise ValueError(f"{config['model']}'s task answers no batch of texts: pass one --input at a time.")

    def stream_sequence(self, batches, config, length):
        """(inputs, true labels, label names) of the first sequence of `batches`, for `evaluate.py --stream`."""
        raise ValueError(f"{config['model']} cannot stream: only frame models and char_lm run frame by frame.")
