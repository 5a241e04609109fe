"""bench/bench_answers.py's held-out split: questions of the dev and test articles never mix."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_answers.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_answers", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path, lang: str, articles: int) -> None:
    data = [{"title": f"{lang}{a}", "paragraphs": [{"context": f"Article {a}.", "qas": [
        {"question": f"{lang} q{a}.{i}?", "id": f"{a}.{i}", "answers": [{"text": "x", "answer_start": 0}]}
        for i in range(5)]}]} for a in range(articles)]
    path.write_text(json.dumps({"data": data}), encoding="utf-8")


def test_split_by_article_keeps_dev_and_test_apart(tmp_path):
    bench = _bench()
    _write(tmp_path / "squad-dev-subset.json", "en", 4)
    _write(tmp_path / "cmrc2018-dev-subset.json", "zh", 8)
    tenants, questions = bench.plan(tmp_path)
    dev = bench.sample(questions, list(tenants), 6, 3, 7, "dev")
    test = bench.sample(questions, list(tenants), 6, 3, 7, "test")
    assert {q["file"] for q in dev} == {"en0.txt", "en2.txt", "zh0.txt", "zh2.txt", "zh4.txt", "zh6.txt"}
    assert {q["file"] for q in test} == {"en1.txt", "en3.txt", "zh1.txt", "zh3.txt", "zh5.txt", "zh7.txt"}
    assert sum(q["answerable"] for q in test) == 12 and sum(not q["answerable"] for q in test) == 6
    assert all(q["tenant"] != t["tenant"] for q in test if not q["answerable"]
               for t in questions if t["question"] == q["question"])
    assert bench.sample(questions, list(tenants), 6, 3, 7, "dev") == dev  # deterministic
    small = [q for q in bench.sample(questions, list(tenants), 15, 8, 7, "test") if q["lang"] == "en"]
    assert sum(q["answerable"] for q in small) == 10 and sum(not q["answerable"] for q in small) == 8
