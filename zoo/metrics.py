"""The metrics each task reports, on plain NumPy arrays and token lists."""

import collections
import math

import numpy as np
import sacrebleu
from rapidfuzz.distance import Levenshtein


def classification(labels, predictions, label_names):
    """Accuracy and confusion matrix: rows are true labels, columns predicted ones."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    confusion = np.zeros((len(label_names), len(label_names)), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return {
        "accuracy": float(np.mean(labels == predictions)),
        "examples": int(labels.size),
        "label_names": list(label_names),
        "confusion_matrix": confusion.tolist(),
    }


def frames(labels, predictions, weights):
    """Frame accuracy and frame error rate over real frames (weight 1), not padding (weight 0)."""
    real = np.asarray(weights) > 0
    correct = (np.asarray(labels) == np.asarray(predictions))[real]
    accuracy = float(np.mean(correct))
    return {"frame_accuracy": accuracy, "frame_error_rate": 1.0 - accuracy, "frames": int(correct.size)}


def edit_distance(reference, hypothesis):
    """Levenshtein distance between two token sequences (lists of strings), from rapidfuzz."""
    return Levenshtein.distance(reference, hypothesis)


def bleu(references, hypotheses):
    """Corpus BLEU of token lists, in [0, 1]: sacrebleu's, with its default settings (13a tokenization,
    exponential smoothing), as published BLEU is computed, divided by 100.

    The tokens are joined by spaces first, so sacrebleu sees the detokenized text of word tokens.
    """
    hypotheses = [" ".join(tokens) for tokens in hypotheses]
    references = [" ".join(tokens) for tokens in references]
    return sacrebleu.corpus_bleu(hypotheses, [references]).score / 100


def sequences(references, hypotheses, token_name="token"):
    """Exact match, token error rate (edit distance / reference tokens) and BLEU of token lists.

    For grapheme-to-phoneme use `grapheme_to_phoneme`, which scores each word
    against all of its pronunciations.
    """
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    tokens = sum(len(r) for r in references)
    exact = float(np.mean([r == h for r, h in zip(references, hypotheses)]))
    return {
        "exact_match": exact,
        "sequence_error_rate": 1.0 - exact,
        f"{token_name}_error_rate": errors / max(tokens, 1),
        "bleu": bleu(references, hypotheses),
        "examples": len(references),
    }


def grapheme_to_phoneme(words, references, hypotheses):
    """Word and phoneme error rates of pronunciations, scored word by word.

    A word with several pronunciations comes once per pronunciation: its
    hypothesis is right when it matches any of them, and its phoneme errors
    count against the closest one, so a correct alternate pronunciation is no
    error.

    Args:
        words: the source word of each example (equal words are grouped).
        references: the reference phonemes of each example, lists of strings.
        hypotheses: the predicted phonemes of each example.

    Returns:
        word_error_rate: the fraction of words whose pronunciation has any error.
        phoneme_error_rate: phoneme edit distance over the reference phonemes.
    """
    references_by_word, hypothesis_by_word = collections.defaultdict(list), {}
    for word, reference, hypothesis in zip(words, references, hypotheses):
        references_by_word[word].append(reference)
        hypothesis_by_word.setdefault(word, hypothesis)
    wrong_words = errors = phonemes = 0
    for word, candidates in references_by_word.items():
        distance, length = min((edit_distance(reference, hypothesis_by_word[word]), len(reference))
                               for reference in candidates)
        wrong_words += distance > 0
        errors += distance
        phonemes += length
    return {
        "word_error_rate": wrong_words / max(len(references_by_word), 1),
        "phoneme_error_rate": errors / max(phonemes, 1),
        "words": len(references_by_word),
        "examples": len(references),
    }


def language_model(mean_cross_entropy, tokens):
    """Perplexity and bits per character from the mean cross-entropy in nats per predicted character."""
    return {
        "cross_entropy": float(mean_cross_entropy),
        "perplexity": float(math.exp(mean_cross_entropy)),
        "bits_per_character": float(mean_cross_entropy / math.log(2)),
        "characters": int(tokens),
    }
