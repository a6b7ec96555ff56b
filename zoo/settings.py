"""Every training setting, with the defaults a model uses unless its registry entry or the user says otherwise."""

import dataclasses

from zoo import models


@dataclasses.dataclass
class Settings:
    """The settings of one run; `config.json` stores them and `evaluate.py` reads them back."""

    model: str = "sentiment"
    dataset: str | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.002
    # "constant", or "cosine": the rate falls from learning_rate towards 0 along a half cosine over the epochs.
    schedule: str = "constant"
    # Share of the target probability spread evenly over the classes (sentiment).
    label_smoothing: float = 0.0
    # Momentum of the moving average of the weights that validation, early stopping and the
    # saved model use (Polyak averaging); 0: the weights as trained.
    ema: float = 0.0
    units: int = 64
    embedding_dim: int = 64
    # Hash buckets of the character-bigram embeddings added to each character (sentiment); 0: none.
    bigram_buckets: int = 0
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

    def resolved_clipnorm(self):
        if self.clipnorm is not None:
            return self.clipnorm if self.clipnorm > 0 else None
        return 1.0 if self.cell == "basic" else None


def for_model(name, **overrides):
    """Settings of model `name`: its registry defaults, then `overrides` that are not None."""
    spec = models.get(name)
    values = {**spec.defaults, **{key: value for key, value in overrides.items() if value is not None}}
    return Settings(model=name, **values)
