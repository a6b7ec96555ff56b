"""Users' own files through `datasets.load`: formats, splits, tokens and errors."""

import re

import numpy as np
import pytest

import datasets
from datasets import DatasetError


def examples(dataset):
    """A split as a list of dicts of Python values (bytes decoded)."""
    return [
        {key: value.decode("utf-8") if isinstance(value, bytes) else value for key, value in example.items()}
        for example in dataset.as_numpy_iterator()
    ]


def write_tsv(path, pairs):
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs), encoding="utf-8")
    return path


def write_frames(path, lengths, dim=4, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    total = int(np.sum(lengths))
    np.savez(
        path,
        features=rng.normal(size=(total, dim)).astype(np.float32),
        labels=rng.integers(0, num_classes, total),
        lengths=np.array(lengths),
    )
    return path


def assert_one_line_error(error_info, *fragments):
    message = str(error_info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- sentiment ---------------------------------------------------------------


def test_csv_sentiment_maps_label_strings_to_sorted_names(tmp_path):
    rows = [(f"review {i}, with a comma", ["pos", "neg", "neutral"][i % 3]) for i in range(30)]
    rows[4] = ("a review\nover two lines", rows[4][1])
    path = tmp_path / "reviews.csv"
    path.write_text(
        "text,label\n" + "".join(f'"{text}",{label}\n' for text, label in rows), encoding="utf-8"
    )

    loaded = datasets.load("sentiment", str(path))

    assert loaded.name == "reviews.csv" and loaded.task == "sentiment"
    assert loaded.label_names == ["neg", "neutral", "pos"]
    assert loaded.feature_dim is None and loaded.tokens == "words"
    label_of_text = dict(rows)
    read = [example for split in loaded.splits.values() for example in examples(split)]
    assert len(read) == 30
    for example in read:
        assert loaded.label_names[example["label"]] == label_of_text[example["text"]]
    assert "a review\nover two lines" in label_of_text


def test_tsv_sentiment_sorts_integer_labels_numerically(tmp_path):
    path = tmp_path / "stars.tsv"
    path.write_text("label\ttext\n" + "".join(f"{[1, 2, 10][i % 3]}\tok {i}\n" for i in range(20)))

    loaded = datasets.load("sentiment", path)

    assert loaded.label_names == ["1", "2", "10"]
    train = examples(loaded.splits["train"])
    assert all(loaded.label_names[e["label"]] == str([1, 2, 10][int(e["text"][3:]) % 3]) for e in train)


def test_labels_that_look_numeric_but_are_not_integers_sort_as_strings(tmp_path):
    """"--1" and "²" pass str.isdigit-style checks but not int(): they must not crash the sort."""
    path = tmp_path / "odd.tsv"
    path.write_text("label\ttext\n" + "".join(f"{['--1', '²', '3'][i % 3]}\tok {i}\n" for i in range(20)))

    assert datasets.load("sentiment", path).label_names == sorted(["--1", "²", "3"])


def test_label_folders_split_80_10_10(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / label).mkdir()
        for i in range(10):
            (tmp_path / label / f"{i}.txt").write_text(f"{label} review {i}", encoding="utf-8")

    loaded = datasets.load("sentiment", tmp_path)

    assert loaded.label_names == ["neg", "pos"]
    sizes = {split: len(examples(dataset)) for split, dataset in loaded.splits.items()}
    assert sizes == {"train": 16, "validation": 2, "test": 2}
    for split in loaded.splits.values():
        for example in examples(split):
            assert example["text"].startswith(loaded.label_names[example["label"]])


def test_label_folders_with_split_subfolders_keep_the_splits(tmp_path):
    for split, count in (("train", 3), ("validation", 2), ("test", 1)):
        for label in ("neg", "pos"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i}.txt").write_text(f"{split} {label} {i}", encoding="utf-8")

    loaded = datasets.load("sentiment", tmp_path)

    for split, count in (("train", 3), ("validation", 2), ("test", 1)):
        texts = sorted(example["text"] for example in examples(loaded.splits[split]))
        assert texts == sorted(f"{split} {label} {i}" for label in ("neg", "pos") for i in range(count))


# --- splits ------------------------------------------------------------------


def split_sources(loaded):
    return {split: [e["source"] for e in examples(dataset)] for split, dataset in loaded.splits.items()}


def test_single_file_split_is_seeded_disjoint_and_80_10_10(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", [(f"s{i}", f"t{i}") for i in range(57)])

    first = split_sources(datasets.load("translation", path, seed=3))
    again = split_sources(datasets.load("translation", path, seed=3))
    other = split_sources(datasets.load("translation", path, seed=4))

    assert first == again
    assert first != other
    assert {split: len(sources) for split, sources in first.items()} == {"train": 47, "validation": 5, "test": 5}
    all_sources = first["train"] + first["validation"] + first["test"]
    assert sorted(all_sources) == sorted(f"s{i}" for i in range(57))
    # Each split keeps the file order.
    assert first["train"] == sorted(first["train"], key=lambda source: int(source[1:]))


def test_folder_with_split_files_keeps_the_splits(tmp_path):
    for split, count in (("train", 4), ("validation", 2), ("test", 3)):
        write_tsv(tmp_path / f"{split}.tsv", [(f"{split}{i}", f"x{i}") for i in range(count)])

    loaded = datasets.load("translation", tmp_path)

    assert split_sources(loaded) == {
        "train": ["train0", "train1", "train2", "train3"],
        "validation": ["validation0", "validation1"],
        "test": ["test0", "test1", "test2"],
    }
    assert examples(loaded.splits["test"])[2] == {"source": "test2", "target": "x2"}


def test_translation_header_line_is_skipped(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("source\ttarget\n" + "".join(f"s{i}\tt{i}\n\n" for i in range(10)))

    loaded = datasets.load("translation", path)

    sources = [source for split in split_sources(loaded).values() for source in split]
    assert sorted(sources) == sorted(f"s{i}" for i in range(10))


def test_language_model_file_gives_one_example_per_line(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("".join(f"line {i}\n\n" for i in range(20)), encoding="utf-8")

    loaded = datasets.load("language_model", path)

    texts = [e["text"] for split in loaded.splits.values() for e in examples(split)]
    assert sorted(texts) == sorted(f"line {i}" for i in range(20))
    assert loaded.label_names is None and loaded.tokens == "words"


# --- frames ------------------------------------------------------------------


def test_npz_frames_cut_into_sequences(tmp_path):
    lengths = [3, 5, 2, 4, 6, 1, 2, 3, 4, 5, 7, 2]
    path = write_frames(tmp_path / "frames.npz", lengths, dim=5, num_classes=4)
    archive = np.load(path)

    loaded = datasets.load("frames", path)

    assert loaded.feature_dim == 5 and loaded.tokens is None
    assert loaded.label_names == [str(label) for label in range(1 + archive["labels"].max())]
    sequences = [e for split in loaded.splits.values() for e in examples(split)]
    assert sorted(len(e["labels"]) for e in sequences) == sorted(lengths)
    starts = np.cumsum([0] + lengths[:-1])
    by_first_frame = {tuple(archive["features"][start]): (start, length) for start, length in zip(starts, lengths)}
    for sequence in sequences:
        assert sequence["features"].dtype == np.float32 and sequence["labels"].dtype == np.int64
        start, length = by_first_frame[tuple(sequence["features"][0])]
        np.testing.assert_array_equal(sequence["labels"], archive["labels"][start : start + length])


def test_npz_split_files_with_different_dims_fail(tmp_path):
    write_frames(tmp_path / "train.npz", [2, 3], dim=4)
    write_frames(tmp_path / "validation.npz", [2], dim=4)
    write_frames(tmp_path / "test.npz", [2], dim=13)

    with pytest.raises(DatasetError) as error_info:
        datasets.load("frames", tmp_path)

    assert_one_line_error(error_info, "test.npz", "dim 13", "train.npz", "4")


@pytest.mark.parametrize(
    "arrays, fragments",
    [
        ({"features": np.zeros((5, 2)), "labels": np.zeros(5, int), "lengths": np.array([2, 2])}, ["sums to 4", "5 frames"]),
        ({"features": np.zeros((5, 2)), "labels": np.zeros(5, int)}, ["lacks", "lengths"]),
        ({"features": np.zeros(5), "labels": np.zeros(5, int), "lengths": np.array([5])}, ["features has shape (5,)", "(total_frames, dim)"]),
        ({"features": np.zeros((5, 2)), "labels": np.zeros(4, int), "lengths": np.array([5])}, ["labels has shape (4,)", "(5,)"]),
        ({"features": np.zeros((5, 2)), "labels": np.zeros(5), "lengths": np.array([5])}, ["labels", "float64", "integers"]),
    ],
    ids=["lengths-do-not-add-up", "missing-array", "features-not-2d", "labels-wrong-length", "labels-not-int"],
)
def test_broken_npz_fails_naming_the_file(tmp_path, arrays, fragments):
    path = tmp_path / "frames.npz"
    np.savez(path, **arrays)

    with pytest.raises(DatasetError) as error_info:
        datasets.load("frames", path)

    assert_one_line_error(error_info, str(path), *fragments)


# --- tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts, tokens",
    [
        (["这个产品很好，我很喜欢", "质量太差了 不推荐"], "chars"),
        (["この商品はとてもよかったです", "だめでした"], "chars"),
        (["great product, would buy again", "broke after 2 days"], "words"),
        # A few Chinese brand names in English text stay "words".
        (["the 小米 phone is great value for money", "my 华为 tablet died in a week"], "words"),
    ],
    ids=["chinese", "japanese", "english", "english-with-some-hanzi"],
)
def test_tokens_are_detected_from_the_text(tmp_path, texts, tokens):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f'"{texts[i % 2]}",{i % 2}\n' for i in range(20)), encoding="utf-8")

    assert datasets.load("sentiment", path).tokens == tokens


def test_tokens_can_be_overridden(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", [("hello world", "bonjour le monde")] * 10)

    assert datasets.load("translation", path).tokens == "words"
    assert datasets.load("translation", path, tokens="chars").tokens == "chars"


def test_translation_with_one_chinese_side_uses_chars(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", [("good morning everyone", "大家早上好")] * 10)

    assert datasets.load("translation", path).tokens == "chars"


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, fragments",
    [
        ("pairs.tsv", "a\tb\nc\td\ne without a tab\n", [":3:", "found 1 tab-separated", "one tab"]),
        ("pairs.tsv", "a\tb\nc\t\n", [":2:", "empty source or target"]),
        ("reviews.csv", "review,label\ngood,pos\n", [":1:", "'text'", "text,label"]),
        ("reviews.csv", 'text,label\ngood,pos\n"bad"quote,neg\n', [":3:", "quote"]),
        ("reviews.csv", 'text,label\ngood,pos\nok,neg\n"never closed,neg\nfine,pos\n', [":4:", "quote"]),
        ("reviews.csv", "text,label\ngood,pos\nextra,field,neg\n", [":3:", "3 fields", "header has 2"]),
        ("reviews.csv", "text,label\ngood,\n", [":2:", "empty text or label"]),
    ],
    ids=["tsv-no-tab", "tsv-empty-target", "csv-no-text-column", "csv-broken-quote", "csv-unclosed-quote", "csv-extra-field", "csv-empty-label"],
)
def test_malformed_line_names_file_and_line(tmp_path, name, content, fragments):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    task = "translation" if name.endswith(".tsv") else "sentiment"

    with pytest.raises(DatasetError) as error_info:
        datasets.load(task, path)

    assert_one_line_error(error_info, str(path), *fragments)


def test_non_utf8_bytes_name_file_line_and_offset(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("line one\nline two\n".encode() + "第三行\n".encode("gbk"))

    with pytest.raises(DatasetError) as error_info:
        datasets.load("language_model", path)

    assert_one_line_error(error_info, f"{path}:3:", "byte offset 18", "UTF-8")


def test_non_utf8_file_in_label_folder_is_named(tmp_path):
    (tmp_path / "pos").mkdir()
    for i in range(9):
        (tmp_path / "pos" / f"{i}.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "pos" / "9.txt").write_bytes(b"ok\n\xff")

    with pytest.raises(DatasetError) as error_info:
        datasets.load("sentiment", tmp_path)

    assert_one_line_error(error_info, f"{tmp_path / 'pos' / '9.txt'}:2:", "0xff", "byte offset 3")


def test_too_small_file_leaves_an_empty_split(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", [("a", "b")] * 9)

    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", path)

    assert_one_line_error(error_info, str(path), "9 examples", "empty")


def test_empty_split_file_is_named(tmp_path):
    write_tsv(tmp_path / "train.tsv", [("a", "b")])
    write_tsv(tmp_path / "validation.tsv", [])
    write_tsv(tmp_path / "test.tsv", [("a", "b")])

    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", tmp_path)

    assert_one_line_error(error_info, str(tmp_path / "validation.tsv"), "validation split has no examples")


def test_folder_missing_a_split_file_fails(tmp_path):
    write_tsv(tmp_path / "train.tsv", [("a", "b")])
    write_tsv(tmp_path / "validation.tsv", [("a", "b")])

    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", tmp_path)

    assert_one_line_error(error_info, str(tmp_path), "no test")


# --- load's arguments --------------------------------------------------------


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DatasetError) as error_info:
        datasets.load("translation", "no_such_set")

    assert_one_line_error(error_info, "'no_such_set'", "number_words", "cmudict_g2p", "tfds:NAME")


def test_unknown_task_lists_the_tasks():
    with pytest.raises(DatasetError) as error_info:
        datasets.load("summarisation")

    assert re.search(r"sentiment, frames, translation, language_model", str(error_info.value))


def test_tokens_are_rejected_for_frames(tmp_path):
    path = write_frames(tmp_path / "frames.npz", [1] * 10)

    with pytest.raises(DatasetError) as error_info:
        datasets.load("frames", path, tokens="chars")

    assert_one_line_error(error_info, "frames")
