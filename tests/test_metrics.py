"""The metrics from the field's libraries (rapidfuzz, sacrebleu) give what the zoo's hand-written ones gave.

The references below are the hand-written Levenshtein distance and corpus
BLEU that zoo.metrics used before, kept here to compare against.
"""

import collections
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import metrics

PHONEMES = st.lists(st.sampled_from(["AH0", "B", "K", "T", "EY1", "S"]), max_size=9)


def levenshtein(reference, hypothesis):
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token)))
        previous = current
    return previous[-1]


def _ngrams(tokens, order):
    return collections.Counter(tuple(tokens[i : i + order]) for i in range(len(tokens) - order + 1))


def hand_written_bleu(references, hypotheses, max_order=4):
    matches, totals = [0] * max_order, [0] * max_order
    reference_length = hypothesis_length = 0
    for reference, hypothesis in zip(references, hypotheses):
        reference_length += len(reference)
        hypothesis_length += len(hypothesis)
        for order in range(1, max_order + 1):
            matches[order - 1] += sum((_ngrams(reference, order) & _ngrams(hypothesis, order)).values())
            totals[order - 1] += max(len(hypothesis) - order + 1, 0)
    if hypothesis_length == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_order
    return math.exp(log_precision + min(0.0, 1.0 - reference_length / hypothesis_length))


@settings(max_examples=300, deadline=None)
@given(PHONEMES, PHONEMES)
def test_edit_distance_is_the_hand_written_levenshtein(reference, hypothesis):
    assert metrics.edit_distance(reference, hypothesis) == levenshtein(reference, hypothesis)


def test_edit_distance_compares_whole_tokens_not_characters():
    # As strings "AH0" and "AH1" differ by one character; as phonemes they are one substitution, and so is "K" -> "KK".
    assert metrics.edit_distance(["AH0", "K"], ["AH1", "KK"]) == 2
    assert metrics.edit_distance([], ["AH0", "B"]) == 2


@pytest.mark.parametrize("seed", range(5))
def test_bleu_is_the_hand_written_corpus_bleu_where_every_order_matches(seed):
    """Lowercase words without punctuation, so sacrebleu's 13a tokenization changes nothing, and at least
    one 4-gram match, so its smoothing of empty orders does not apply."""
    rng = np.random.default_rng(seed)
    words = ["un", "deux", "trois", "cent", "mille", "vingt", "et"]
    references, hypotheses = [], []
    for _ in range(20):
        reference = list(rng.choice(words, rng.integers(4, 9)))
        hypothesis = list(reference)
        for _ in range(rng.integers(0, 3)):
            hypothesis[rng.integers(len(hypothesis))] = str(rng.choice(words))
        if rng.random() < 0.3:
            hypothesis = hypothesis[:-1]
        references.append(reference)
        hypotheses.append(hypothesis)
    expected = hand_written_bleu(references, hypotheses)
    assert 0 < expected < 1
    assert metrics.bleu(references, hypotheses) == pytest.approx(expected, abs=1e-9)


def test_bleu_of_exact_translations_is_1_and_of_disjoint_ones_0():
    references = [["quatre", "vingt", "dix"], ["mille", "deux", "cent", "trois"]]
    assert metrics.bleu(references, references) == pytest.approx(1.0)
    assert metrics.bleu(references, [["zéro"], ["zéro"]]) == 0.0


def test_sequence_and_g2p_error_rates_are_the_hand_written_ones():
    rng = np.random.default_rng(0)
    phonemes = ["AH0", "B", "K", "T", "EY1", "S"]
    words = [str(index // 2) for index in range(40)]  # every word twice: two pronunciations
    references = [list(rng.choice(phonemes, rng.integers(1, 8))) for _ in words]
    hypotheses = [list(rng.choice(phonemes, rng.integers(0, 8))) for _ in words]
    # Each word's one answer, as the task passes it for every one of its pronunciations.
    hypotheses = [hypotheses[index - index % 2] for index in range(len(words))]

    scores = metrics.sequences(references, hypotheses, "phoneme")
    errors = sum(levenshtein(r, h) for r, h in zip(references, hypotheses))
    assert scores["phoneme_error_rate"] == pytest.approx(errors / sum(map(len, references)))

    g2p = metrics.grapheme_to_phoneme(words, references, hypotheses)
    closest = [min((levenshtein(r, hypotheses[i]), len(r)) for r in references[i : i + 2]) for i in range(0, 40, 2)]
    assert g2p["phoneme_error_rate"] == pytest.approx(sum(d for d, _ in closest) / sum(n for _, n in closest))
    assert g2p["word_error_rate"] == pytest.approx(np.mean([d > 0 for d, _ in closest]))
