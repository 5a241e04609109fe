"""Retrieval benchmark on BEIR SciFact, through tenantctl itself.

    .venv/bin/python bench/bench_retrieval.py [--data ../shared/data/scifact] [--limit N]

Measures, in one run:
  * nDCG@10 / recall@100 / MRR of dense, BM25 and hybrid retrieval, scored by `tenantctl eval`;
  * ingest throughput (chunks/s) against SentenceTransformer.encode on the same chunk texts:
    tenantctl's overhead above the embedding itself;
  * re-ingest of the unchanged corpus as a share of the full ingest;
  * warm search latency (p50, p95) and `tenantctl search` wall time as a fresh process.
Writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_results

ROOT = Path(__file__).resolve().parent.parent
TENANT = "scifact"


def write_corpus(data: Path, dest: Path, limit: int | None) -> int:
    dest.mkdir(parents=True)
    n = 0
    with (data / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            (dest / f"{doc['_id']}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
            n += 1
            if limit and n >= limit:
                break
    return n


def tenantctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tenantctl", *args], capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents (smoke run)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-bench-"))
    os.environ["TENANTCTL_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import create_tenant, open_tenant

    corpus = work / "corpus"
    ndocs = write_corpus(args.data, corpus, args.limit)
    cfg = load_config()
    tenant = create_tenant(TENANT)
    embedder = get_embedder(cfg.embedder)
    embedder.encode(["warm up the model"])  # model load is not part of either measurement

    t0 = time.perf_counter()
    full = ingest(tenant, [corpus], cfg)
    ingest_s = time.perf_counter() - t0

    with open_tenant(TENANT).open_store() as store:
        rows = store.conn.execute("SELECT heading, text FROM chunks ORDER BY id").fetchall()
    texts = [f"{h}\n{t}" if h else t for h, t in rows]
    model = embedder._load()
    t0 = time.perf_counter()
    model.encode(texts, batch_size=cfg.embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    encode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    again = ingest(open_tenant(TENANT), [corpus], cfg)
    reingest_s = time.perf_counter() - t0
    assert again.chunks == 0 and again.skipped == full.added

    # Warm latency over every test query, in this process.
    queries = [json.loads(line) for line in (args.data / "queries.jsonl").read_text().splitlines() if line]
    opened = TenantSession(open_tenant(TENANT), cfg)
    opened.search("warm up")
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        opened.search(q["text"], k=10)
        latencies.append((time.perf_counter() - t0) * 1000)
    opened.close()
    latencies.sort()

    # Fresh-process wall time of `tenantctl search`.
    walls = []
    for q in queries[:5]:
        t0 = time.perf_counter()
        tenantctl("search", TENANT, q["text"], "--json")
        walls.append(time.perf_counter() - t0)

    quality = {}
    for mode in ("dense", "bm25", "hybrid"):
        out = tenantctl("eval", TENANT, "--queries", str(args.data / "queries.jsonl"),
                        "--qrels", str(args.data / "qrels" / "test.tsv"), "--mode", mode, "--json")
        quality[mode] = json.loads(out.stdout)

    results = {
        "documents": ndocs,
        "chunks": full.chunks,
        "quality": {m: {k: q[k] for k in ("ndcg_at_10", "recall_at_k", "mrr")} for m, q in quality.items()},
        "ingest_seconds": round(ingest_s, 2),
        "encode_seconds": round(encode_s, 2),
        "ingest_chunks_per_s": round(full.chunks / ingest_s, 1),
        "encode_chunks_per_s": round(len(texts) / encode_s, 1),
        "ingest_overhead_vs_encode": round(ingest_s / encode_s - 1, 4),
        "reingest_seconds": round(reingest_s, 3),
        "reingest_share_of_full": round(reingest_s / ingest_s, 4),
        "warm_search_ms": {"p50": round(statistics.median(latencies), 2),
                           "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2)},
        "fresh_process_search_s": {"median": round(statistics.median(walls), 2), "min": round(min(walls), 2)},
    }
    write_results("retrieval", results)


if __name__ == "__main__":
    main()
