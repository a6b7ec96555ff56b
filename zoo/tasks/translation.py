"""Translation, many to many unaligned (SPEC §5): a source sequence in, a target sequence of another length out.

A dataset whose sources come with several right targets (`several_references`:
cmudict_g2p's words with two pronunciations) is scored word by word against the
closest reference, as grapheme-to-phoneme is scored in the literature; other
datasets are scored pair by pair (exact match, token error rate, BLEU).
"""

import collections
import pathlib
import string
import unicodedata

import keras
import numpy as np
import tensorflow as tf

from datasets import loading, pipeline
from datasets.pipeline import END_TOKEN, PAD_ID, START_TOKEN
from zoo import atomic, decoding, metrics
from zoo.models import seq2seq
from zoo.tasks import base
from zoo.tasks.classification import SmoothedSparseCategoricalCrossentropy

# A side of a translation pair whose texts average fewer whitespace words than
# this is split into characters (cmudict_g2p's source: one word, spelt out).
CHARS_BELOW_WORDS_PER_TEXT = 1.5
# Texts of a side that its tokenization is decided on.
TOKENS_SAMPLE_SIZE = 1000
# A model's alphabet is listed in the error for a character outside it up to this size (letters, kana), else counted.
LISTED_CHARACTERS = 100
# Longest output of the exported decoders, in tokens.
MAX_DECODE_LENGTH = 40
# Batches of pairs whose longer side has the same length up to 32 tokens, then
# of similar lengths: a recurrent layer computes every padded step, and with
# sentiment's buckets (16, 32, ...) 40% of cmudict_g2p's steps were padding.
BUCKET_BOUNDARIES = [*range(2, 33), 40, 48, 64, 96, 128, 192, 256]
# Beam search ranks finished outputs by log-probability / length ** LENGTH_PENALTY (`decoding.beam_search`):
# at 1 by the mean per token, so a longer output is not beaten by a short one for its length alone.
LENGTH_PENALTY = 1.0


def side_tokens(texts):
    """"chars" or "words" for one side of the pairs, from its first texts (a `tf.data.Dataset` of strings).

    Characters for a side that is mostly Chinese characters or kana, or whose
    texts average fewer than CHARS_BELOW_WORDS_PER_TEXT whitespace words (a
    word spelt out, romaji); words otherwise (phonemes, pinyin syllables, sentences).
    """
    sample = [text.decode("utf-8") for text in texts.take(TOKENS_SAMPLE_SIZE).as_numpy_iterator()]
    if loading.is_cjk_text(sample) or np.mean([len(text.split()) for text in sample]) < CHARS_BELOW_WORDS_PER_TEXT:
        return "chars"
    return "words"


def readable_source(text, entry):
    """(text the model can read, None) or (None, why not) for a raw source `text` and its vocabulary `entry`.

    A character source is read as the model was trained: lowercased, and its
    ASCII punctuation left for the vectorizer to drop ("O'Neil" reads as
    "oneil"). A letter the vocabulary lacks is replaced by its unaccented
    letter when that one is known ("café" -> "cafe"); a text with another
    unknown character (a digit for a model of letters) or with nothing left
    gets the reason instead, so one word of a list cannot stop the rest. Word
    sources take any text: an unknown word is an ordinary out-of-vocabulary token.
    """
    if entry["tokens"] != "chars":
        return text, None
    known = set(entry["vocabulary"])
    characters, unknown = [], set()
    for character in text.lower():
        if character not in known and character not in string.punctuation and not character.isspace():
            base = unicodedata.normalize("NFKD", character)[0]
            if base not in known:
                unknown.add(character)
            character = base
        characters.append(character)
    text = "".join(characters)
    unknown = sorted(unknown)
    if unknown:
        alphabet = "".join(sorted(known - {" "}))
        alphabet = alphabet if len(alphabet) <= LISTED_CHARACTERS else f"{len(alphabet):,} of them"
        return None, (f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not among the "
                      f"characters the model was trained on ({alphabet}): spell the word with those")
    if not any(character in known for character in text):
        return None, "nothing is left to read once punctuation is dropped"
    return text, None


def target_ids(vocabulary):
    """The decoder's start and end token ids in a target vocabulary (without padding and OOV)."""
    return vocabulary.index(START_TOKEN) + 2, vocabulary.index(END_TOKEN) + 2


def detokenize(token_ids, vocabulary, tokens):
    """token ids (batch, time) -> strings (batch,): padding dropped, words joined by spaces, characters by nothing."""
    table = tf.constant(pipeline.id_to_token(vocabulary))
    pieces = tf.gather(table, token_ids)
    pieces = tf.ragged.boolean_mask(pieces, tf.not_equal(token_ids, PAD_ID))
    return tf.strings.reduce_join(pieces, axis=-1, separator=" " if tokens == "words" else "")


def token_strings(ids, vocabulary, end_id=None):
    """Token ids -> token strings, stopping at `end_id` and dropping padding."""
    table = pipeline.id_to_token(vocabulary)
    tokens = []
    for token_id in ids:
        if token_id == end_id:
            break
        if token_id != PAD_ID:
            tokens.append(table[token_id])
    return tokens


def source_keys(source_ids):
    """Each row of source ids without its padding, as a hashable key: equal sources, equal keys."""
    return [tuple(row[row != PAD_ID]) for row in np.asarray(source_ids)]


def score(several_references, target, sources, references, hypotheses):
    """Words against all their references when sources have several, else pair by pair."""
    if several_references:
        return metrics.grapheme_to_phoneme(sources, references, hypotheses)
    return metrics.sequences(references, hypotheses, target["tokens"].rstrip("s"))


class Translation(base.Task):
    """{source ids, decoder input ids} -> next-token logits (batch, target_time, target_vocabulary)."""

    name = "translation"
    main_metric = "bleu"
    supports_beam = True

    def main_metric_of(self, scores):
        # Scored against several references (`metrics.grapheme_to_phoneme`), there is no BLEU.
        if "bleu" not in scores:
            return "word_error_rate", False
        return self.main_metric, self.higher_is_better

    def vocabulary_options(self, field, texts, loaded, settings):
        # Each side is tokenized on its own (`side_tokens`) unless --tokens sets both: a Chinese source and a
        # space-separated pinyin target are characters in, syllables out.
        tokens = settings.tokens or side_tokens(texts)
        # A target keeps its punctuation, which is part of the output.
        if field == "target":
            return tokens, "lower", (pipeline.START_TOKEN, pipeline.END_TOKEN)
        return tokens, base.TEXT_STANDARDIZE, ()

    def batches(self, loaded, vectorizers, settings):
        source, target = vectorizers["source"], vectorizers["target"]
        options = dict(batch_size=settings.batch_size, seed=settings.seed, bucket_boundaries=BUCKET_BOUNDARIES)
        batches = {
            split: pipeline.translation_batches(
                loaded.splits[split], source, target, training=split == "train", **options
            )
            for split in ("train", "validation", "test")
        }
        info = base.DataInfo(
            source_vocabulary_size=source.vocabulary_size(), target_vocabulary_size=target.vocabulary_size()
        )
        return info, batches

    def loss(self, settings):
        if settings.label_smoothing:
            return SmoothedSparseCategoricalCrossentropy(settings.label_smoothing, from_logits=True, ignore_class=PAD_ID)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        target = vocabularies["target"]
        start, end = target_ids(target["vocabulary"])

        def translate(text):
            ids = decoding.greedy_decode(model, vectorizers["source"](text), start, end, MAX_DECODE_LENGTH)
            return {"translation": detokenize(ids, target["vocabulary"], target["tokens"])}

        def translate_beam(text, beam_size):
            source = vectorizers["source"](text)
            ids = decoding.beam_search(model, source, start, end, MAX_DECODE_LENGTH, beam_size, LENGTH_PENALTY)
            return {"translation": detokenize(ids, target["vocabulary"], target["tokens"])}

        return {
            "serve": (translate, [tf.TensorSpec([None], tf.string, name="text")]),
            "beam_search": (
                translate_beam,
                [tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([], tf.int32, name="beam_size")],
            ),
        }

    def sequence_function(self, model, vocabularies):
        start, end = target_ids(vocabularies["target"]["vocabulary"])
        return (
            lambda source_ids: {"token_ids": decoding.greedy_decode(model, source_ids, start, end, MAX_DECODE_LENGTH)},
            [tf.TensorSpec([1, None], tf.int32, name="source_ids")],
        )

    def evaluate(self, runner, config, prepared, split):
        target = config["vocabularies"]["target"]
        start, end = target_ids(target["vocabulary"])
        sources, references, hypotheses = [], [], []
        for inputs, decoder_target in prepared.batches[split]:
            decoded = runner.translate(inputs["source"], start, end, MAX_DECODE_LENGTH)
            sources += source_keys(inputs["source"])
            references += [token_strings(row, target["vocabulary"], end) for row in decoder_target.numpy()]
            hypotheses += [token_strings(row, target["vocabulary"], end) for row in decoded]
        return score(prepared.loaded.several_references, target, sources, references, hypotheses)

    def evaluate_saved_model(self, saved_model, config, prepared, split):
        from zoo.data import vectorizer_from_vocabulary

        target = config["vocabularies"]["target"]
        source_vectorizer = vectorizer_from_vocabulary(config["vocabularies"]["source"])
        vectorizer = vectorizer_from_vocabulary(target)
        split_tokens = str.split if target["tokens"] == "words" else list
        sources, references, hypotheses = [], [], []
        for batch in prepared.loaded.splits[split].batch(config["settings"]["batch_size"]):
            translations = saved_model.serve(batch["source"])["translation"].numpy()
            sources += source_keys(source_vectorizer(batch["source"]))
            hypotheses += [split_tokens(text.decode("utf-8")) for text in translations]
            references += [token_strings(row, target["vocabulary"]) for row in vectorizer(batch["target"]).numpy()]
        return score(prepared.loaded.several_references, target, sources, references, hypotheses)

    def baseline(self, prepared, split):
        """Every rate of the training split's most frequent target, whatever the source (WER and PER, or BLEU...)."""
        target = prepared.vocabularies["target"]
        _, end = target_ids(target["vocabulary"])
        counts = collections.Counter()
        for _, decoder_target in prepared.batches["train"]:
            counts.update(tuple(token_strings(row, target["vocabulary"], end)) for row in decoder_target.numpy())
        answer = list(counts.most_common(1)[0][0])
        sources, references = [], []
        for inputs, decoder_target in prepared.batches[split]:
            sources += source_keys(inputs["source"])
            references += [token_strings(row, target["vocabulary"], end) for row in decoder_target.numpy()]
        scores = score(prepared.loaded.several_references, target, sources, references, [answer] * len(references))
        return {f"baseline_{name}": value for name, value in scores.items() if isinstance(value, float)}

    def predict_batch(self, model, config, texts, length=200, temperature=1.0, beam=1):
        """[translation] per text, greedy or with beam search of width `beam`.

        A text the model cannot read (`readable_source`: a digit for a model
        of letters) gets a ValueError saying why in place of its answer, as
        `asyncio.gather(..., return_exceptions=True)` returns errors.
        """
        from zoo.data import vectorizer_from_vocabulary

        target = config["vocabularies"]["target"]
        start, end = target_ids(target["vocabulary"])
        source_entry = config["vocabularies"]["source"]
        vectorizer = vectorizer_from_vocabulary(source_entry)

        def decode(source_ids):
            if beam > 1:
                return decoding.beam_search(model, source_ids, start, end, MAX_DECODE_LENGTH, beam, LENGTH_PENALTY)
            return decoding.greedy_decode(model, source_ids, start, end, MAX_DECODE_LENGTH)

        # One graph for every batch, as in `zoo.evaluation.KerasRunner.translate`.
        decode = tf.function(decode, input_signature=[tf.TensorSpec([None, None], tf.int64)])
        answers, readable = [None] * len(texts), {}
        for index, text in enumerate(texts):
            source, problem = readable_source(text, source_entry)
            if problem is None:
                readable[index] = source
            else:
                answers[index] = ValueError(f"{text!r}: {problem}.")
        # Texts of similar length batched together: a batch decodes as long as its longest source.
        order = sorted(readable, key=lambda index: len(readable[index]))
        for first in range(0, len(order), base.PREDICT_BATCH_SIZE):
            batch = order[first : first + base.PREDICT_BATCH_SIZE]
            source_ids = tf.cast(vectorizer(tf.constant([readable[index] for index in batch])), tf.int64)
            translations = detokenize(decode(source_ids), target["vocabulary"], target["tokens"])
            for index, translation in zip(batch, translations.numpy()):
                answers[index] = [translation.decode("utf-8")]
        return answers

    def run_input(self, functions, source, config, args):
        readable, problem = readable_source(args.input, config["vocabularies"]["source"])
        if problem is not None:
            raise ValueError(f"--input {args.input!r}: {problem}.")
        text = tf.constant([readable])
        if args.beam > 1:
            outputs = functions["beam_search"](text, tf.constant(args.beam))
        else:
            outputs = functions["serve"](text)
        translation = outputs["translation"].numpy()[0].decode("utf-8")
        print(translation)
        # The SavedModel returns no attention weights: the heatmap needs the Keras model of a run folder.
        if isinstance(source, keras.Model) and seq2seq.has_attention(source):
            path = pathlib.Path(args.run) / f"alignment-{_file_name(args.input)}.png"
            write_alignment(source, config, readable, translation, path)
            print(f"Alignment heatmap: {path}")


def _file_name(text):
    """`text` with every character that is not a letter, digit, '-' or '_' replaced by '_', at most 40 long."""
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in text)[:40] or "input"


def write_alignment(model, config, text, translation, path):
    """Plots the attention weights of `model` producing `translation` from `text` (letters x phonemes) as a PNG.

    Returns the weights (output tokens + 1 for the end token, source tokens) that the PNG shows.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from zoo.data import vectorizer_from_vocabulary

    source_entry, target_entry = config["vocabularies"]["source"], config["vocabularies"]["target"]
    source_ids = vectorizer_from_vocabulary(source_entry)(tf.constant([text]))
    start, end = target_ids(target_entry["vocabulary"])
    # The end token too: where the decoder looked when it stopped (and a column for an empty output).
    output_ids = tf.concat([vectorizer_from_vocabulary(target_entry)(tf.constant([translation])), [[end]]], axis=1)
    weights = decoding.alignment(model, source_ids, output_ids, start).numpy()[0]
    source_tokens = token_strings(source_ids.numpy()[0], source_entry["vocabulary"])
    output_tokens = token_strings(output_ids.numpy()[0], target_entry["vocabulary"], end) + [END_TOKEN]
    weights = weights[:, : len(source_tokens)]
    figure, axis = pyplot.subplots(figsize=(1 + 0.45 * len(output_tokens), 1 + 0.45 * len(source_tokens)))
    axis.imshow(weights.T, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(len(output_tokens)), output_tokens, rotation=90)
    axis.set_yticks(range(len(source_tokens)), source_tokens)
    axis.set_xlabel("output")
    axis.set_ylabel("input")
    figure.tight_layout()
    with atomic.replacing(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    pyplot.close(figure)
    return weights
