"""The translation task's choices about text: how each side is tokenized, what a source the model can read is."""

import pytest

from zoo import data
from zoo.settings import for_model
from zoo.tasks.translation import readable_source


def write_tsv(path, pairs):
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs * 10), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "pairs, source_tokens, target_tokens",
    [
        ([("你好", "ni3 hao3"), ("谢谢你", "xie4 xie4 ni3"), ("中国", "zhong1 guo2")], "chars", "words"),
        ([("こんにちは", "konnichiwa"), ("ありがとう", "arigatou"), ("さくら", "sakura")], "chars", "chars"),
        ([("zoology", "z ow0 aa1 l ah0 jh iy0"), ("cat", "k ae1 t")], "chars", "words"),
        ([("good morning everyone", "大家早上好"), ("thank you", "谢谢你")], "words", "chars"),
        ([("red cat", "cat red"), ("blue dog sun", "sun dog blue")], "words", "words"),
    ],
    ids=["hanzi-to-pinyin", "kana-to-romaji", "letters-to-phonemes", "english-to-chinese", "words-to-words"],
)
def test_each_side_of_the_pairs_is_tokenized_on_its_own(tmp_path, pairs, source_tokens, target_tokens):
    settings = for_model("g2p", dataset=str(write_tsv(tmp_path / "pairs.tsv", pairs)))
    vocabularies = data.prepare("translation", settings).vocabularies

    assert (vocabularies["source"]["tokens"], vocabularies["target"]["tokens"]) == (source_tokens, target_tokens)
    if target_tokens == "words":
        assert set(vocabularies["target"]["vocabulary"]) >= {token for _, target in pairs for token in target.split()}


def test_tokens_flag_sets_both_sides(tmp_path):
    settings = for_model("g2p", dataset=str(write_tsv(tmp_path / "pairs.tsv", [("你好", "ni3 hao3")])), tokens="chars")
    vocabularies = data.prepare("translation", settings).vocabularies

    assert vocabularies["source"]["tokens"] == vocabularies["target"]["tokens"] == "chars"


LETTERS = {"tokens": "chars", "standardize": "lower_and_strip_punctuation", "vocabulary": list("abcdefghijklmnopqrstuvwxyz")}


@pytest.mark.parametrize(
    "text, readable",
    [("Zoology", "zoology"), ("O'Neil", "o'neil"), ("Ångström", "angstrom"), ("naïve", "naive"), ("new york", "new york")],
)
def test_sources_are_read_as_the_model_was_trained(text, readable):
    assert readable_source(text, LETTERS) == (readable, None)


@pytest.mark.parametrize(
    "text, fragment",
    [("4th", "'4' is not among"), ("x2y3", "'2', '3' are not among"), ("日本", "'日', '本' are not"), ("'.", "nothing is left")],
)
def test_a_source_with_a_character_never_seen_gets_the_reason(text, fragment):
    readable, problem = readable_source(text, LETTERS)
    assert readable is None and fragment in problem


def test_word_sources_take_any_text():
    words = {"tokens": "words", "standardize": "lower_and_split_punctuation", "vocabulary": ["red", "cat"]}
    assert readable_source("Blue 42 dogs", words) == ("Blue 42 dogs", None)


def test_a_large_alphabet_is_counted_not_listed():
    hanzi = {"tokens": "chars", "standardize": "lower_and_strip_punctuation", "vocabulary": [chr(0x4E00 + i) for i in range(500)]}
    readable, problem = readable_source("ab", hanzi)
    assert readable is None and "(500 of them)" in problem
