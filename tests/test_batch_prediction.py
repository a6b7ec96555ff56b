"""evaluate.py RUN --input -: one input a line in, input<TAB>output lines out, batched, for every text model."""

import io

import pytest

import evaluate


def predict_lines(monkeypatch, capsys, run, lines, *options):
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    assert evaluate.main([str(run), "--input", "-", *options]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def single_answer(capsys, run, text, *options):
    assert evaluate.main([str(run), "--input", text, *options]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture(scope="module")
def text_runs(tiny_run, trained_run):
    return {"sentiment": trained_run[0], **{model: tiny_run(model) for model in ("seq2seq", "g2p", "char_lm")}}


def test_sentiment_writes_each_label_and_its_probability_as_one_text_alone_gets(text_runs, monkeypatch, capsys):
    texts = ["这本书很好", "太差了，不推荐", "还行吧", "这本书很好"]
    rows = predict_lines(monkeypatch, capsys, text_runs["sentiment"], texts)
    assert [row[0] for row in rows] == texts and all(len(row) == 3 for row in rows)
    for text, (_, label, probability) in zip(texts, rows):
        alone = single_answer(capsys, text_runs["sentiment"], text)
        assert label == alone[0]
        # The same 3-decimal probability as the single answer's line for that label.
        assert f"  {label}: {probability}" in alone
    assert rows[0] == rows[3]


@pytest.mark.parametrize("model", ["seq2seq", "g2p"])
def test_translations_in_a_batch_match_each_input_alone(text_runs, model, monkeypatch, capsys):
    # Sources of different lengths share a padded batch.
    texts = ["red cat", "blue dog sun moon", "tree", "green cat dog"]
    rows = predict_lines(monkeypatch, capsys, text_runs[model], texts)
    assert [row[0] for row in rows] == texts
    for text, row in zip(texts, rows):
        assert row[1:] == [single_answer(capsys, text_runs[model], text)[0]]


def test_char_lm_continues_each_prime_as_alone(text_runs, monkeypatch, capsys):
    primes = ["line", "the quick", "line 3: the", "fox"]
    rows = predict_lines(monkeypatch, capsys, text_runs["char_lm"], primes, "--length", "12", "--temperature", "0")
    assert [row[0] for row in rows] == primes
    for prime, (_, continuation) in zip(primes, rows):
        alone = "\n".join(single_answer(capsys, text_runs["char_lm"], prime, "--length", "12", "--temperature", "0"))
        assert evaluate.escape(alone) == prime + continuation


def test_outputs_keep_one_line_per_input():
    assert evaluate.escape("a\tb\nc\\d") == "a\\tb\\nc\\\\d"


def test_a_bad_line_stops_before_anything_is_written(text_runs, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("red cat\n\nblue dog\n"))
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(text_runs["seq2seq"]), "--input", "-"])
    captured = capsys.readouterr()
    assert exit.value.code == 2 and captured.out == ""
    assert "line 2 of standard input" in captured.err and "empty" in captured.err


def test_frame_models_say_they_take_frames(tiny_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("red cat\n"))
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(tiny_run("framewise")), "--input", "-"])
    assert exit.value.code == 2 and "takes frames" in capsys.readouterr().err
