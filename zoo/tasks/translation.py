"""Translation, many to many unaligned (SPEC §5): a source sequence in, a target sequence of another length out.

A dataset whose sources come with several right targets (`several_references`:
cmudict_g2p's words with two pronunciations) is scored word by word against the
closest reference, as grapheme-to-phoneme is scored in the literature; other
datasets are scored pair by pair (exact match, token error rate, BLEU).
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from datasets import pipeline
from datasets.pipeline import END_TOKEN, PAD_ID, START_TOKEN
from zoo import decoding, metrics
from zoo.tasks import base
from zoo.tasks.classification import BUCKET_BOUNDARIES

# A side of a translation pair whose texts average fewer whitespace words than
# this is split into characters (cmudict_g2p's source: one word, spelt out).
CHARS_BELOW_WORDS_PER_TEXT = 1.5
# Longest output of the exported decoders, in tokens.
MAX_DECODE_LENGTH = 40


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
        tokens = loaded.tokens
        if settings.tokens is None and tokens == "words":
            words = [len(text.split()) for text in texts.take(1000).as_numpy_iterator()]
            if np.mean(words) < CHARS_BELOW_WORDS_PER_TEXT:
                tokens = "chars"
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
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)

    def serving_functions(self, model, vectorizers, vocabularies, label_names):
        target = vocabularies["target"]
        start, end = target_ids(target["vocabulary"])

        def translate(text):
            ids = decoding.greedy_decode(model, vectorizers["source"](text), start, end, MAX_DECODE_LENGTH)
            return {"translation": detokenize(ids, target["vocabulary"], target["tokens"])}

        def translate_beam(text, beam_size):
            source = vectorizers["source"](text)
            ids = decoding.beam_search(model, source, start, end, MAX_DECODE_LENGTH, beam_size)
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

    def run_input(self, functions, source, config, args):
        text = tf.constant([args.input])
        if args.beam > 1:
            outputs = functions["beam_search"](text, tf.constant(args.beam))
        else:
            outputs = functions["serve"](text)
        print(outputs["translation"].numpy()[0].decode("utf-8"))
