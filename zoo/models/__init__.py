"""The model zoo: every architecture by name, with its task, default dataset and default settings.

    from zoo import models
    spec = models.get("sentiment")
    model = spec.build(info, settings)   # see zoo.settings and zoo.data
"""

import dataclasses
from collections.abc import Callable

# Registers the optimizer that model.keras files name, so they load wherever a model is built.
from zoo import optimizers  # noqa: F401
from zoo.models import char_lm, dense_birnn_dense, framewise, sentiment, seq2seq, window_ffn
from zoo.models.cells import CELLS


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered architecture.

    Attributes:
        name: the registry name (`--model`).
        build: `build(info, settings) -> keras.Model`.
        task: the name of the `zoo.tasks` task it trains on.
        default_dataset: the task's default dataset, for `--list`; None for a task that has none.
        description: one line for `--list`.
        defaults: settings that differ from `zoo.settings.Settings`'s defaults for this model.
    """

    name: str
    build: Callable
    task: str
    default_dataset: str | None
    description: str
    defaults: dict


MODELS = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "sentiment", sentiment.build, "sentiment", "product_reviews_zh",
            "many-to-one: characters + hashed bigrams -> Bi-GRU (sum; --cell basic for the article's) -> "
            "mean + max over real frames -> softmax",
            # The GRU and bigram buckets sized by the data (200,003 were tuned on product_reviews_zh's 165,261
            # bigrams) reach 0.85; the basic cell stays near 0.84 (docs/results.md). Step budgets (`steps`)
            # give the default datasets the epochs they were tuned with (3 for sentiment's 437 batches, 30 for
            # framewise's 31) and a small dataset of the user's as many updates, with early stopping.
            dict(cell="gru", units=64, embedding_dim=None, bigram_buckets=None, steps=1300, epochs=50, batch_size=32,
                 learning_rate=0.001, schedule="cosine", label_smoothing=0.1, ema=0.995, dropout=0.5, max_length=300),
        ),
        ModelSpec(
            "framewise", framewise.build, "frames", "spoken_digit_frames",
            "many-to-many aligned: frames -> Bi-RNN (sum) -> per-frame softmax; --no-bidirectional for real time",
            dict(units=128, steps=930, epochs=300, batch_size=16, learning_rate=0.003),
        ),
        ModelSpec(
            "dense_birnn_dense", dense_birnn_dense.build, "frames", "spoken_digit_frames",
            "SPEC §7: 2 dense -> --depth Bi-RNN (sum) -> 2 dense -> per-frame softmax",
            dict(units=128, steps=930, epochs=300, batch_size=16, learning_rate=0.003),
        ),
        ModelSpec(
            "window_ffn", window_ffn.build, "frames", "spoken_digit_frames",
            "SPEC §1 baseline: --window frames concatenated -> 2 dense -> per-frame softmax",
            dict(units=256, steps=930, epochs=300, batch_size=16, learning_rate=0.001),
        ),
        ModelSpec(
            "seq2seq", seq2seq.build, "translation", "number_words",
            "encoder-decoder: Bi-RNN encoder state starts an RNN decoder; greedy or --beam search",
            # 0.003 had number_words right (exact match 1.000) but 5,000 pronunciations of a user's TSV at WER 0.974;
            # 0.001 gives 0.999 and 0.838 (docs/results.md).
            dict(units=256, embedding_dim=64, steps=3750, epochs=300, batch_size=64, learning_rate=0.001, dropout=0.1),
        ),
        ModelSpec(
            "g2p", seq2seq.build, "translation", "cmudict_g2p",
            "seq2seq for pronunciations: 2-layer Bi-LSTM encoder, 2-layer LSTM decoder with Luong attention; greedy "
            "or --beam",
            # The recipe and every setting tried: docs/g2p.md. Two layers each side and a moving average of the
            # weights won over one layer per minute on the zoo's LSTM. The step budget is 12 epochs of cmudict_g2p's
            # 1,686 batches, so a larger dictionary of the user's trains for about as long and a smaller one gets as
            # many updates, with early stopping; the time budget stops training within 27 minutes wherever the
            # machine is slower, so the command ends within 30. The encoder's directions are concatenated (attention
            # reads 512 numbers a letter): better validation loss, WER and PER than their sum, for 23% more weights.
            dict(dataset="cmudict_g2p", cell="lstm", attention="luong", units=256, embedding_dim=64, depth=2,
                 merge="concat", steps=12 * 1686, epochs=300, time_budget=27, batch_size=64, learning_rate=0.002,
                 schedule="cosine", dropout=0.1, label_smoothing=0.1, ema=0.999),
        ),
        ModelSpec(
            "char_lm", char_lm.build, "language_model", "pydoc_text",
            "next-character RNN language model; generates text from a prime at a temperature",
            dict(units=256, embedding_dim=32, steps=1210, epochs=100, batch_size=32, dropout=0.1, tokens="chars"),
        ),
    )
}


def register(spec: ModelSpec) -> ModelSpec:
    """Adds `spec` to `MODELS` under its name (replacing one of the same name) and returns it."""
    MODELS[spec.name] = spec
    return spec


def get(name):
    """The `ModelSpec` called `name`; an unknown name raises ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}: use one of {', '.join(MODELS)}.")
    return MODELS[name]


__all__ = ["CELLS", "MODELS", "ModelSpec", "get", "register"]
