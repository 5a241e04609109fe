import json

import pytest

from tenantctl.retrieval.evaluate import ndcg, recall, reciprocal_rank


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
