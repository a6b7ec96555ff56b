"""Every training setting, with the defaults a model uses unless its registry entry or the user says otherwise.

`Settings` checks itself when it is made: a value out of range raises
`SettingError`, a ValueError naming the field, the value and what is valid,
so the command line and the Python API refuse the same settings.
"""

import dataclasses
import math

from zoo import models
from zoo.models.seq2seq import ATTENTIONS

SCHEDULES = ("constant", "cosine")
MERGES = ("sum", "concat", "ave", "mul")
SHARED_WEIGHTS = (None, "input", "recurrent", "all")
TOKENS = (None, "chars", "words")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class SettingError(ValueError):
    """One setting is out of range: `field` names it and `reason` says what is valid."""

    def __init__(self, field, value, reason):
        super().__init__(f"setting {field}={value!r}: {reason}")
        self.field, self.value, self.reason = field, value, reason


@dataclasses.dataclass
class Settings:
    """The settings of one run; `config.json` stores them and `evaluate.py` reads them back."""

    model: str = "sentiment"
    dataset: str | None = None
    # Most epochs to train; early stopping may end sooner.
    epochs: int = 10
    # A budget of training steps: the run trains ceil(steps / batches per epoch) epochs, at most
    # `epochs`, so a small dataset gets as many updates as a large one. None: `epochs` epochs.
    steps: int | None = None
    # Most minutes of training, validation included: after each epoch the run plans as many epochs as the
    # time left holds (at most the epochs above), and the cosine schedule spans them. None: no limit.
    time_budget: float | None = None
    batch_size: int = 32
    learning_rate: float = 0.002
    # "constant", or "cosine": the rate falls from learning_rate towards 0 along a half cosine over the epochs.
    schedule: str = "constant"
    # Share of the target probability spread evenly over the classes (sentiment).
    label_smoothing: float = 0.0
    # Momentum of the moving average of the weights that validation, early stopping and the
    # saved model use (Polyak averaging); 0: the weights as trained.
    ema: float = 0.0
    # Decoupled weight decay (Loshchilov & Hutter's AdamW): each step shrinks every kernel and embedding by
    # learning rate x weight_decay of itself; biases are left alone. 0: none.
    weight_decay: float = 0.0
    units: int = 64
    # Width of token embeddings; None: from the vocabulary (`zoo.models.cells.embedding_dim_for`).
    embedding_dim: int | None = 64
    # Hash buckets of the character-bigram embeddings added to each character (sentiment); 0: none;
    # None: from the training split (1.2 per distinct bigram, or none when bigrams are rare there:
    # `zoo.tasks.classification.bigram_buckets_for`).
    bigram_buckets: int | None = 0
    dropout: float = 0.2
    cell: str = "basic"
    # None: 1.0 for the basic cell, whose gradients can explode (SPEC §8), none for LSTM/GRU.
    clipnorm: float | None = None
    depth: int = 1
    bidirectional: bool = True
    # How a bidirectional layer joins its directions: "sum" (SPEC §3's default), "concat", "ave" or "mul".
    merge: str = "sum"
    # Weights tied between the two directions (basic cell only): None, "input", "recurrent" or "all".
    share_weights: str | None = None
    # seq2seq: "none" (the encoder's final state starts the decoder, the article's version) or "luong"
    # (the decoder also attends over every encoder frame).
    attention: str = "none"
    window: int = 41
    # Training sequences longer than this many tokens are cut (text models); None keeps them whole.
    max_length: int | None = None
    # Characters per training window of the language model.
    sequence_length: int = 100
    # Epochs without a better validation loss before training stops.
    patience: int = 5
    tokens: str | None = None
    seed: int = 0
    limit: int | None = None
    data_dir: str | None = None
    # The tf.distribute strategy: "default", "mirrored", "multi_worker" or "tpu" (see zoo.distribute).
    strategy: str = "default"
    # float16 computations with float32 variables, for GPUs (Keras's "mixed_float16" policy).
    mixed_precision: bool = False

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raises SettingError for the first setting out of its range."""

        def check(field, valid, what):
            value = getattr(self, field)
            # NaN fails every comparison; infinity is no setting either.
            finite = not isinstance(value, float) or math.isfinite(value)
            if not (finite and valid(value)):
                shown = f"{value:g}" if isinstance(value, float) else repr(value)
                raise SettingError(field, value, f"must be {what}, got {shown}")

        def positive_int(value):
            return isinstance(value, int) and not isinstance(value, bool) and value > 0

        def one_of(choices):
            return lambda value: value in choices, "one of " + ", ".join(repr(choice) for choice in choices)

        check("model", *one_of(tuple(models.MODELS)))
        check("cell", *one_of(models.CELLS))
        for field in ("epochs", "batch_size", "units", "depth", "sequence_length", "patience"):
            check(field, positive_int, "a positive integer")
        for field in ("limit", "max_length", "steps", "embedding_dim"):
            check(field, lambda value: value is None or positive_int(value), "a positive integer or None")
        check("time_budget", lambda value: value is None or (isinstance(value, (int, float)) and value > 0),
              "a positive number of minutes or None")
        check("learning_rate", lambda value: isinstance(value, (int, float)) and value > 0, "a positive number")
        check("schedule", *one_of(SCHEDULES))
        for field in ("dropout", "label_smoothing"):
            check(field, lambda value: 0 <= value < 1, "in [0, 1)")
        check("ema", lambda value: 0 <= value < 1, "in [0, 1), e.g. 0.99 (0 turns it off)")
        check("weight_decay", lambda value: isinstance(value, (int, float)) and 0 <= value < 1,
              "in [0, 1), e.g. 0.01 (0 turns it off)")
        check("bigram_buckets", lambda value: value is None or (isinstance(value, int) and value >= 0),
              "0 (off), a number of buckets, or None (from the data)")
        check("clipnorm", lambda value: value is None or value >= 0, "a number >= 0 (0 turns it off) or None")
        check("merge", *one_of(MERGES))
        check("share_weights", *one_of(SHARED_WEIGHTS))
        check("attention", *one_of(ATTENTIONS))
        if self.share_weights is not None and self.cell != "basic":
            raise SettingError("share_weights", self.share_weights,
                               f"basic cell only (it ties BasicRNN weights), not the {self.cell} cell: add --cell basic")
        check("window", lambda value: positive_int(value) and value % 2 == 1,
              "odd, a window centred on the frame")
        check("tokens", *one_of(TOKENS))
        check("seed", lambda value: isinstance(value, int) and value >= 0, "an integer >= 0")
        check("strategy", *one_of(STRATEGIES))

    def resolved_clipnorm(self):
        if self.clipnorm is not None:
            return self.clipnorm if self.clipnorm > 0 else None
        return 1.0 if self.cell == "basic" else None


def for_model(name, **overrides):
    """Settings of model `name`: its registry defaults, then `overrides` that are not None.

    Epochs given without steps replace the registry's step budget: the run trains that many epochs.
    Epochs or steps given without a time budget replace the registry's time budget too.
    """
    spec = models.get(name)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    values = {**spec.defaults, **overrides}
    if "epochs" in overrides and "steps" not in overrides:
        values["steps"] = None
    if ("epochs" in overrides or "steps" in overrides) and "time_budget" not in overrides:
        values["time_budget"] = None
    return Settings(model=name, **values)
