import json

import pytest

from tenantctl.answering.scoring import LabelledQuestion
from tenantctl.retrieval.evaluate import ndcg, recall, reciprocal_rank
from tests.conftest import SAMPLES, set_tenant_yaml
from tests.test_answer import two_tenants  # noqa: F401  (a fixture)


def test_metrics_against_hand_computed_values():
    rel = {"a": 1, "b": 2}
    assert ndcg(["b", "a", "x"], rel) == pytest.approx(1.0)
    # dcg = (2^1-1)/log2(3) for "a" at rank 2; idcg = 3/1 + 1/log2(3)
    assert ndcg(["x", "a"], rel) == pytest.approx((1 / 1.5849625) / (3 + 1 / 1.5849625))
    assert recall(["a", "x", "b"], rel, 2) == 0.5
    assert reciprocal_rank(["x", "y", "b"], rel) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], rel) == 0.0


@pytest.mark.slow
def test_eval_cli_scores_the_sample_tenant(cli, samples, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        "\n".join(json.dumps(q) for q in [
            {"_id": "1", "text": "paid annual leave days"},
            {"_id": "2", "text": "hotel limit in New York City"},
            {"_id": "3", "text": "a query without judgement"},
        ]),
        encoding="utf-8",
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n1\temployee_handbook\t1\n2\ttravel_expenses.txt\t1\n")
    result = cli("eval", "acme-hr", "--queries", queries, "--qrels", qrels, "-k", "5", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["queries"] == 2 and data["unmatched_corpus_ids"] == 0
    assert data["mrr"] > 0.7 and data["recall_at_k"] == 1.0 and 0.7 < data["ndcg_at_10"] <= 1.0

    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("query-id\tcorpus-id\tscore\n1\tnot-a-doc\t1\n")
    zero = cli("eval", "acme-hr", "--queries", queries, "--qrels", wrong, "--json").json()
    assert zero["ndcg_at_10"] == 0.0 and zero["unmatched_corpus_ids"] == 1

    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    bad = cli("eval", "acme-hr", "--queries", broken, "--qrels", qrels)
    assert bad.code == 2 and "line 1" in bad.err


def test_eval_names_what_is_missing(cli, tmp_path):
    """`eval T --queries Q` alone said "nothing to evaluate"."""
    from tenantctl.errors import ExitCode

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": "q1", "text": "leave"}\n')
    result = cli("eval", "acme", "--queries", queries)
    assert result.code == ExitCode.USAGE and "--queries needs --qrels" in result.err, result
    assert "--qrels needs --queries" in cli("eval", "acme", "--qrels", queries).err
    assert "nothing to evaluate" in cli("eval", "acme").err
    both = cli("eval", "acme", "--answers", queries, "--queries", queries, "--qrels", queries)
    assert both.code == ExitCode.USAGE and "one at a time" in both.err, both  # it scored answers alone


@pytest.fixture
def pilot(request, home, tmp_path):
    """The two hashing-embedder tenants of test_answer, a config with a second model entry (a GGUF
    file that exists but is never loaded: the generator is a fake) and one labelled question."""
    import yaml

    from tenantctl.config import load_config

    request.getfixturevalue("two_tenants")
    gguf = tmp_path / "pilot.gguf"
    gguf.write_bytes(b"GGUF")
    (home / "config.yaml").write_text(yaml.safe_dump({
        "embedder": {"name": "hashing-256"},
        "models": {"default": {}, "pilot": {"path": str(gguf)}, "gone": {"path": str(tmp_path / "missing.gguf")},
                   "notgguf": {"path": str(SAMPLES / "nordwerk-maint" / "press_maintenance_manual.pdf")}},
    }))
    return load_config(), [LabelledQuestion("Which approval code does a travel claim need?", ["NW-TRV-7731"])]


def _compare(cfg, tenant_id, questions, model, generator):
    from tenantctl.answering.evaluate import compare_models
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    opened = TenantSession(open_tenant(tenant_id), cfg)
    try:
        return compare_models(opened, questions, cfg, model, generator=generator)
    finally:
        opened.close()


def _usage(tenant_id):
    from tenantctl.storage import metering
    from tenantctl.storage.tenants import open_tenant

    rows, _ = metering.report([open_tenant(tenant_id)])
    return {r["operation"]: (r["events"], r["ok"], r["refused"]) for r in rows if r["operation"] != "ingest"}


def test_eval_is_metered_as_eval_not_against_the_question_quota(pilot, home):
    """An operator could not evaluate a pilot model for a tenant at its questions_per_day limit: eval's
    questions were the tenant's and its quota refused them."""

    from tenantctl.errors import Refused
    from tests.test_answer import FakeGenerator, _answer

    cfg, questions = pilot
    set_tenant_yaml(home, "travel", quotas={"questions_per_day": 1})
    _answer(cfg, "travel", questions[0].question, FakeGenerator(" NW-TRV-7731"))
    with pytest.raises(Refused):  # the tenant is at its limit
        _answer(cfg, "travel", questions[0].question, FakeGenerator(" NW-TRV-7731"))
    runs, _ = _compare(cfg, "travel", questions, "pilot", FakeGenerator(" NW-TRV-7731"))
    assert [r.model for r in runs] == ["default", "pilot"] and all(r.correct_pct == 100.0 for r in runs)
    assert _usage("travel") == {"question": (2, 1, 1), "eval": (2, 2, 0)}  # visible in usage, apart
    from tenantctl.storage import metering
    from tenantctl.storage.tenants import open_tenant

    with open_tenant("travel").open_store() as store:
        assert metering.today(store)["questions"] == 1  # the quota counts the tenant's own question only
    assert _usage("leave") == {}  # cross-tenant: nothing metered in the other tenant


def test_eval_with_the_tenant_s_own_model_runs_once(pilot):
    from tests.test_answer import FakeGenerator

    cfg, questions = pilot
    generator = FakeGenerator(" NW-TRV-7731")
    runs, notes = _compare(cfg, "travel", questions, "default", generator)
    assert len(runs) == 1 and len(generator.requests) == 1
    assert notes == ["model 'default' is already the model of tenant 'travel': scored once"]


def test_a_pilot_model_without_its_gguf_fails_before_any_question(pilot, cli, tmp_path):
    from tenantctl.errors import ModelUnavailable
    from tests.test_answer import FakeGenerator

    cfg, questions = pilot
    generator = FakeGenerator(" NW-TRV-7731")
    with pytest.raises(ModelUnavailable, match="model 'gone': GGUF file .*missing.gguf does not exist"):
        _compare(cfg, "travel", questions, "gone", generator)
    assert generator.requests == [] and _usage("travel") == {}  # the default model answered nothing
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question": questions[0].question, "answers": ["NW-TRV-7731"]}) + "\n")
    result = cli("eval", "travel", "--answers", answers, "--model", "gone")
    assert result.code != 0 and "model 'gone'" in result.err and "models.gone.path" in result.err, result
    assert _usage("travel") == {}


def test_a_pilot_model_whose_file_is_no_gguf_fails_before_any_question(pilot, cli, tmp_path):
    """llama.cpp took 20 s to refuse a PDF named as a pilot's GGUF, after the tenant's own model had
    answered every question; the file's first bytes say so at once."""
    from tenantctl.errors import ModelUnavailable
    from tests.test_answer import FakeGenerator

    cfg, questions = pilot
    generator = FakeGenerator(" NW-TRV-7731")
    with pytest.raises(ModelUnavailable, match=r"model 'notgguf': .*press_maintenance_manual\.pdf is not a GGUF file"):
        _compare(cfg, "travel", questions, "notgguf", generator)
    assert generator.requests == [] and _usage("travel") == {}
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question": questions[0].question, "answers": ["NW-TRV-7731"]}) + "\n")
    result = cli("eval", "travel", "--answers", answers, "--model", "notgguf")
    assert result.code != 0 and "is not a GGUF file" in result.err and "models.notgguf.path" in result.err, result


def test_an_unknown_pilot_model_is_a_usage_error_naming_the_configured_ones(pilot, cli, tmp_path):
    """It exited 1 with a hint about restarting `serve`, which eval has nothing to do with."""
    cfg, questions = pilot
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question": questions[0].question, "answers": ["NW-TRV-7731"]}) + "\n")
    result = cli("eval", "travel", "--answers", answers, "--model", "nosuch")
    assert result.code == 2 and "--model 'nosuch' is not a configured model" in result.err, result
    assert "default" in result.err and "pilot" in result.err and "serve" not in result.err
    assert _usage("travel") == {}  # no question was asked


def test_eval_per_question_lists_each_answer_and_its_citation(pilot, cli, home, tmp_path, monkeypatch):
    """The operator saw only percentages: which question failed took a `query` of each. A question of
    the other tenant is answered from this tenant's documents only."""
    from tenantctl.models import generation
    from tests.conftest import open_gate
    from tests.test_answer import FakeGenerator

    monkeypatch.setattr(generation, "load_generator", lambda name, cfg: FakeGenerator(" NW-TRV-7731"))
    open_gate(home, "travel")
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"question": "Which approval code does a travel claim need?",
                                   "answers": ["NW-TRV-7731"], "source": "travel.md"}) + "\n"
                       + json.dumps({"question": "How many days of annual leave do I get?", "answers": []}) + "\n")
    text = cli("eval", "travel", "--answers", answers, "--per-question")
    assert text.code == 0, text
    assert "ok    Which approval code does a travel claim need? -> NW-TRV-7731 [1]  [travel.md]" in text.out
    rows = cli("eval", "travel", "--answers", answers, "--per-question", "--json").json()["rows"]
    assert [r["question"] for r in rows] == ["Which approval code does a travel claim need?",
                                             "How many days of annual leave do I get?"]
    assert rows[0]["correct"] and all(not path.endswith("leave.md") for r in rows for path in r["cited"])
    assert [r["right"] for r in rows] == [True, True]  # the second abstained: its answer is not in the file
    assert "rows" not in cli("eval", "travel", "--answers", answers, "--json").json()
    refused = cli("eval", "travel", "--queries", answers, "--qrels", answers, "--per-question")
    assert refused.code == 2 and "--per-question is for answers" in refused.err


def test_a_wrong_answer_is_listed_with_what_was_expected():
    """`--per-question` showed a wrong answer without the gold one: telling a near miss ("39" for "49")
    from a wrong passage took the labelled file beside it."""
    from tenantctl.cli.search import _question_line

    row = {"question": "How much is Team?", "answer": "plan: Team; annual: 39 [1]", "no_answer": False,
           "cited": ["/docs/pricing.csv"], "gold": ["49", "$49"], "right": False}
    assert _question_line(row) == \
        "WRONG How much is Team? -> plan: Team; annual: 39 [1]  [pricing.csv]  (expected: 49 | $49)"
    row.update(question="How much is Premium?", gold=[])
    assert _question_line(row).endswith("(expected: no answer)")
    row.update(right=True, gold=["39"])
    assert "expected" not in _question_line(row)
