"""experiments/phone_classification.py --quick, on a tiny phone_frames build, writes its CSVs and plot with sane values."""

import tensorflow_datasets as tfds

from datasets_testing import use_tiny_phone_sources
from experiments import phone_classification
from experiments_testing import assert_png, read_csv


def test_quick_run_tunes_each_model_keeps_its_best_setting_and_writes_both_tests(tmp_path, monkeypatch):
    use_tiny_phone_sources(monkeypatch)
    data_dir = tmp_path / "tfds"
    tfds.builder("phone_frames", data_dir=data_dir).download_and_prepare()
    out = tmp_path / "results"
    assert phone_classification.main(["--quick", "--data-dir", str(data_dir), "--out", str(out)]) == 0

    rows = read_csv(out / "results.csv")
    labels = [label for label, *_ in phone_classification.MODELS]
    grid = phone_classification.QUICK_GRID
    # Every grid point once per model (seed 0), and one kept per model: the best on validation.
    assert [row["model"] for row in rows] == [label for label in labels for _ in grid]
    for label in labels:
        tried = [row for row in rows if row["model"] == label]
        assert [(int(row["units"]), float(row["dropout"])) for row in tried] == [
            (point["units"], point["dropout"]) for point in grid]
        kept = [row for row in tried if row["kept"] == "True"]
        assert len(kept) == 1
        assert float(kept[0]["validation_accuracy"]) == max(float(row["validation_accuracy"]) for row in tried)
    for row in rows:
        for split in ("validation", "test", "test_real"):
            assert 0.0 <= float(row[f"{split}_accuracy"]) <= 1.0
        assert int(row["train_sentences"]) == phone_classification.QUICK_TOTAL
        assert int(row["train_frames"]) > 50 * int(row["train_sentences"])

    summary = read_csv(out / "summary.csv")
    assert [row["model"] for row in summary] == labels
    for row in summary:
        run, = [r for r in rows if r["model"] == row["model"] and r["kept"] == "True"]
        assert row["seeds"] == "1" and float(row["test_accuracy_mean"]) == float(run["test_accuracy"])
        assert float(row["test_real_accuracy_mean"]) == float(run["test_real_accuracy"])
    assert_png(out / "accuracy.png")
    assert not (out / "runs-so-far.csv").exists()

    # Run again, it trains nothing: every run is in results.csv already.
    before = (out / "results.csv").read_text()
    assert phone_classification.main(["--quick", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    assert (out / "results.csv").read_text() == before
