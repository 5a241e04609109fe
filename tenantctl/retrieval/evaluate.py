"""Retrieval evaluation on labelled questions (BEIR formats): nDCG@10, recall@k and MRR.

Queries: JSONL with `_id` and `text`. Qrels: TSV `query-id, corpus-id, score` with a header line.
A corpus id names a document by its file name without extension (`doc1` for `docs/doc1.md`), its
file name, or its path as stored; ranking is by document, each at its best chunk's rank.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantctl.config import SearchMode
from tenantctl.errors import BadInput
from tenantctl.retrieval.session import TenantSession


@dataclass
class EvalResult:
    tenant: str
    mode: str
    queries: int
    k: int
    ndcg_at_10: float
    recall_at_k: float
    mrr: float
    seconds: float
    unmatched_corpus_ids: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInput(f"cannot read queries file {path} ({exc.strerror})", "pass a BEIR queries.jsonl") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            queries[str(obj["_id"])] = str(obj["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(
                f"{path} line {number}: expected a JSON object with `_id` and `text`",
                "use BEIR's queries.jsonl format",
            ) from exc
    return queries


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
    except OSError as exc:
        raise BadInput(f"cannot read qrels file {path} ({exc.strerror})", "pass a BEIR qrels TSV") from exc
    for number, row in enumerate(rows[1:], 2):  # the first line is the header
        if not row:
            continue
        try:
            qid, cid, score = row[0], row[1], int(row[2])
        except (IndexError, ValueError) as exc:
            raise BadInput(
                f"{path} line {number}: expected `query-id<TAB>corpus-id<TAB>score`", "use BEIR's qrels format"
            ) from exc
        if score > 0:
            qrels.setdefault(qid, {})[cid] = score
    return qrels


def ndcg(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: list[str], relevant: dict[str, int]) -> float:
    for i, doc in enumerate(ranked, 1):
        if doc in relevant:
            return 1.0 / i
    return 0.0


def _aliases(path: str) -> list[str]:
    p = Path(path)
    return [p.stem, p.name, path]


def evaluate(
    session: TenantSession, queries: dict[str, str], qrels: dict[str, dict[str, int]], *, k: int = 100,
    mode: SearchMode = "hybrid",
) -> EvalResult:
    judged = [qid for qid in qrels if qid in queries]
    if not judged:
        raise BadInput("no query in the queries file has a relevance judgement", "check that the ids match")
    docs = session.store.documents()
    known = {alias for path in docs for alias in _aliases(path)}
    unmatched = {cid for rels in qrels.values() for cid in rels if cid not in known}
    depth = max(k, 10)
    started = time.perf_counter()
    totals = {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0}
    for qid in judged:
        relevant = qrels[qid]
        hits = session.searcher.search(queries[qid], k=depth * 3, mode=mode, candidates=max(depth * 3, 100))
        ranked: list[str] = []
        seen: set[str] = set()
        for hit in hits:
            if hit.path in seen:
                continue
            seen.add(hit.path)
            # Name the document by whichever alias the qrels use.
            ranked.append(next((a for a in _aliases(hit.path) if a in relevant), hit.path))
        totals["ndcg"] += ndcg(ranked, relevant, 10)
        totals["recall"] += recall(ranked, relevant, k)
        totals["mrr"] += reciprocal_rank(ranked, relevant)
    n = len(judged)
    return EvalResult(
        tenant=session.tenant.id, mode=mode, queries=n, k=k,
        ndcg_at_10=round(totals["ndcg"] / n, 4), recall_at_k=round(totals["recall"] / n, 4),
        mrr=round(totals["mrr"] / n, 4), seconds=round(time.perf_counter() - started, 2),
        unmatched_corpus_ids=len(unmatched),
    )
