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


def test_a_word_the_model_cannot_read_is_named_and_the_others_are_answered(tiny_run, monkeypatch, capsys):
    run = tiny_run("g2p_letters")
    capsys.readouterr()  # What training printed, the first time the run is asked for.
    words = ["Cafe", "café", "bad2", "'", "dog", "box"]
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(word + "\n" for word in words)))
    assert evaluate.main([str(run), "--input", "-"]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert [row[0] for row in rows] == ["Cafe", "café", "dog"]
    # Capitals are lowercased and an accent dropped where the plain letter is known, as the model was trained.
    assert rows[0][1] == rows[1][1] == single_answer(capsys, run, "cafe")[0]
    errors = captured.err.splitlines()
    assert "line 3" in errors[0] and "'2' is not among the characters" in errors[0] and "abcdefgo" in errors[0]
    assert "line 4" in errors[1] and "nothing is left" in errors[1]
    assert "line 6" in errors[2] and "'x'" in errors[2]
    assert "3 of 6 lines not answered" in errors[3]


def test_a_list_with_no_readable_word_fails_and_one_unreadable_input_is_an_error(tiny_run, monkeypatch, capsys):
    run = tiny_run("g2p_letters")
    monkeypatch.setattr("sys.stdin", io.StringIO("42\nx\n"))
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(run), "--input", "-"])
    assert exit.value.code != 0 and "none of the 2 lines could be answered" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        evaluate.main([str(run), "--input", "bad2"])
    captured = capsys.readouterr()
    assert exit.value.code != 0 and captured.out == "" and "'2' is not among the characters" in captured.err


def test_python_predict_returns_an_error_in_place_of_an_unreadable_word(tiny_run):
    import zoo

    answers = zoo.from_preset(tiny_run("g2p_letters")).predict(["bad", "bad2", "Bad"])
    assert isinstance(answers[1], ValueError) and "'2'" in str(answers[1])
    assert answers[0] == answers[2] and isinstance(answers[0][0], str)


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
