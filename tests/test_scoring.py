"""Answer scoring (SQuAD / CMRC 2018 style) and labelled-question files; `eval --answers` input errors."""

import json

import pytest

from tenantctl.answering.evaluate import _key, _summary
from tenantctl.answering.scoring import concise, contains, f1, load_labelled, normalize, score
from tenantctl.errors import BadInput, ExitCode


def test_english_normalisation_and_token_f1():
    assert normalize("The  Eiffel Tower!") == "eiffel tower"
    assert f1("the Eiffel Tower [1]", "Eiffel Tower") == 1.0
    assert f1("in Paris, near the Eiffel Tower", "Eiffel Tower") == pytest.approx(2 * (2 / 5) * 1 / (2 / 5 + 1))
    assert f1("Berlin", "Eiffel Tower") == 0.0


def test_chinese_is_scored_by_characters():
    assert f1("22代 [1]", "22代") == 1.0
    assert f1("第22代国王", "22代") == pytest.approx(2 * (3 / 6) * 1 / (3 / 6 + 1))
    assert contains("文周王是第22代国王。", "22代") and not contains("第23代", "22代")


def test_a_latin_gold_answer_inside_chinese_text_is_found_by_characters():
    assert contains("硫醚的通式为R-S-R，其中R是有机基团。", "R-S-R")
    assert contains("Mozilla Firefox在2004年推出了即时书签", "Mozilla Firefox")
    assert f1("Mozilla Firefox", "Mozilla Firefox") == 1.0
    assert f1("通式为R-S-R", "R-S-R") == pytest.approx(2 * 0.5 / 1.5)
    assert not contains("Paris, France", "R-S-R")


def test_contains_respects_word_boundaries_and_concise_counts_words():
    assert contains("It has 26.7% of the vote [2].", "26.7%")
    assert not contains("the 1990s", "1990")
    assert concise("word " * 30) and not concise("word " * 31)
    assert concise("字" * 80 + " [1]") and not concise("字" * 81)
    assert score("About 23 days [1].", ["23 days", "23"]) == {"contains": True, "concise": True, "correct": True,
                                                            "f1": pytest.approx(0.8)}


def test_labelled_files_jsonl_and_squad(tmp_path):
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"question": "Q1?", "answers": ["a", {"text": "b"}], "source": "x.md"}\n\n'
                     '{"question": "Q2?", "answers": []}\n', encoding="utf-8")
    rows = load_labelled(jsonl)
    assert [(r.question, r.answers, r.source) for r in rows] == [("Q1?", ["a", "b"], "x.md"), ("Q2?", [], "")]
    squad = tmp_path / "s.json"
    squad.write_text(json.dumps({"data": [{"title": "Kenya", "paragraphs": [{"context": "…", "qas": [
        {"id": "1", "question": "Where?", "answers": [{"text": "Africa", "answer_start": 0}]}]}]}]}))
    (row,) = load_labelled(squad)
    assert (row.question, row.answers, row.source) == ("Where?", ["Africa"], "Kenya")


def test_bad_labelled_files_name_the_line_and_the_fix(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "answers": []}\n{"answers": ["x"]}\n')
    with pytest.raises(BadInput, match="bad.jsonl, line 2") as info:
        load_labelled(bad)
    assert info.value.exit_code == ExitCode.USAGE
    with pytest.raises(BadInput, match="cannot read"):
        load_labelled(tmp_path / "missing.jsonl")
    # Counted as an unanswerable question, or a gold answer split into its letters: refused, named.
    for row in ('{"question": "Plate?"}', '{"question": "Plate?", "answers": "LRK-2291"}',
                '{"question": 5, "answers": []}', '["Plate?", ["LRK-2291"]]'):
        bad.write_text(row + "\n")
        with pytest.raises(BadInput, match="line 1: not a labelled question"):
            load_labelled(bad)


def test_summary_and_source_keys():
    assert _key("/srv/docs/Black_Death.txt") == _key("Black Death") == "black death"
    rows = [
        {"gold": ["a"], "no_answer": False, "ms": 10, "correct": True, "contains": True, "f1": 1.0,
         "first_citation_right": True},
        {"gold": ["b"], "no_answer": True, "ms": 20},
        {"gold": [], "no_answer": True, "ms": 30},
    ]
    result = _summary("t", "default", rows)
    assert (result.correct_pct, result.abstain_answerable_pct, result.abstain_unanswerable_pct) == (50.0, 50.0, 100.0)
    assert result.first_citation_pct == 100.0 and result.latency_median_ms == 20


def test_eval_cli_needs_something_to_evaluate(cli):
    assert cli("tenant", "create", "t1").code == 0
    result = cli("eval", "t1")
    assert result.code == ExitCode.USAGE and "--answers" in result.err
    result = cli("eval", "t1", "--queries", "q.jsonl", "--qrels", "r.tsv", "--model", "pilot")
    assert result.code == ExitCode.USAGE and "--model" in result.err


def test_eval_cli_refuses_a_bad_answers_file_and_unknown_model(cli, tmp_path):
    assert cli("tenant", "create", "t1").code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = cli("eval", "t1", "--answers", bad)
    assert result.code == ExitCode.USAGE and "line 1" in result.err
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "Q?", "answers": ["a"]}\n')
    result = cli("eval", "t1", "--answers", good, "--model", "nope")
    assert result.code == ExitCode.USAGE and "--model 'nope' is not a configured model" in result.err


def test_the_demos_labelled_questions_parse():
    from pathlib import Path

    rows = load_labelled(Path(__file__).resolve().parent.parent / "sample_tenants" / "acme-hr.answers.jsonl")
    assert len(rows) == 6 and sum(not r.answers for r in rows) == 2
