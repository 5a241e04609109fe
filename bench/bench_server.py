"""Server benchmark: many tenants behind `tenantctl serve`, on localhost.

    .venv/bin/python bench/bench_server.py [--tenants 1000] [--budget-tenants 100] [--registered 10000]

  1. Creates --tenants tenants, each with two small documents of its own, ingested with the real
     embedding model; starts the real server (uvicorn, HTTP on 127.0.0.1) with a memory budget that
     holds --budget-tenants of them.
  2. Cold search latency (tenant not loaded), warm latency (loaded), p50 and p99, and requests per
     second with 8 concurrent clients over tenants drawn at random (evictions included) and over a
     warm set; checks every hit belongs to the caller's tenant; next to the CLI's fresh-process search.
  3. Registers tenants up to --registered in all, then times `tenantctl tenant list` and
     `tenantctl usage` as fresh processes, and asks a question to a random tenant.
Writes bench/results/server.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _results import write_results

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("amber basalt cobalt delta ember fjord garnet harbor indigo juniper kelp lantern meadow nickel "
         "orchid pepper quartz raven saffron tundra umber violet willow xenon yarrow zephyr").split()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 2)


def serve_in_thread(app):
    """Run `app` under uvicorn on a free localhost port, in a daemon thread. Returns the server (set
    its `should_exit` to stop it) and the port, once it listens."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--budget-tenants", type=int, default=100)
    parser.add_argument("--registered", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-serverbench-"))
    os.environ["TENANTCTL_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.serving.pool import TENANT_OVERHEAD_BYTES
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import create_tenant

    cfg = load_config()
    embedder = get_embedder(cfg.embedder)
    embedder.encode(["warm up"])
    rng = random.Random(7)
    secrets: dict[str, str] = {}
    started = time.perf_counter()
    for i in range(args.tenants):
        tenant_id = f"tenant-{i:05d}"
        tenant = create_tenant(tenant_id)
        docs = work / "docs" / tenant_id
        docs.mkdir(parents=True)
        a, b = rng.sample(WORDS, 2)
        (docs / "policy.md").write_text(f"# Policy of {tenant_id}\n\nThe {a} code of {tenant_id} is {i * 13}.\n")
        (docs / "faq.md").write_text(f"# FAQ\n\nThe {b} office of {tenant_id} opens at {7 + i % 4}:00.\n")
        ingest(tenant, [docs], cfg, embedder=embedder)
        secrets[tenant_id] = keys.create(tenant_id)[1]
    setup_s = time.perf_counter() - started

    import httpx

    from tenantctl.serving.app import create_app

    index_bytes = int(4 * 384 * 4 * 1.1)
    budget_mb = args.budget_tenants * (TENANT_OVERHEAD_BYTES + index_bytes) / (1 << 20)
    cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={"memory_budget_mb": budget_mb})})
    app = create_app(cfg)
    pool = app.state.pool
    server, port = serve_in_thread(app)
    url = f"http://127.0.0.1:{port}/v1/search"
    leaks: list[str] = []
    peak = 0

    def search(client: httpx.Client, tenant_id: str) -> float:
        nonlocal peak
        t0 = time.perf_counter()
        r = client.post(url, json={"query": f"code of {tenant_id}", "k": 2},
                        headers={"Authorization": f"Bearer {secrets[tenant_id]}"})
        ms = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        # Every document of a tenant names it in its text (paths in the API are relative to the tenant).
        leaks.extend(h["path"] for h in r.json()["hits"] if tenant_id not in h["text"])
        peak = max(peak, pool.used_bytes)
        return ms

    ids = list(secrets)
    with httpx.Client(timeout=60) as client:
        search(client, ids[0])
        cold = [search(client, t) for t in rng.sample(ids[1:], min(200, len(ids) - 1))]  # none loaded yet: cold
        warm_set = list(pool._loaded)[-args.budget_tenants // 2:]
        warm = [search(client, rng.choice(warm_set)) for _ in range(500)]

    def burst(tenants: list[str], n: int) -> float:
        def worker(k: int) -> None:
            with httpx.Client(timeout=60) as c:
                for j in range(k, n, 8):
                    search(c, tenants[(j * 7919) % len(tenants)])

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(worker, range(8)))
        return n / (time.perf_counter() - t0)

    rps_random = burst(ids, args.requests)
    rps_warm = burst(warm_set, args.requests)
    # 8 clients over 100 tenants, query embeddings micro-batched, against the same without batching.
    hundred = ids[:100]
    burst(hundred, 200)  # load them
    rps_batched = burst(hundred, args.requests)
    pool.embedder.enabled = False
    rps_unbatched = burst(hundred, args.requests)
    pool.embedder.enabled = True
    rps_batched_again = burst(hundred, args.requests)
    server.should_exit = True

    env = {**os.environ, "TENANTCTL_NO_PROGRESS": "1"}
    cli = [sys.executable, "-m", "tenantctl"]

    def wall(*command: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([*cli, *command], check=True, capture_output=True, env=env)
        return round(time.perf_counter() - t0, 3)

    cli_search = [wall("search", ids[i], f"code of {ids[i]}") for i in range(3)]

    started = time.perf_counter()
    for i in range(args.tenants, args.registered):
        create_tenant(f"tenant-{i:05d}")
    register_s = time.perf_counter() - started
    list_s = [wall("tenant", "list") for _ in range(3)]
    usage_s = [wall("usage", "--json") for _ in range(2)]
    lucky = f"tenant-{rng.randrange(args.tenants, args.registered):05d}"
    docs = work / "docs" / lucky
    docs.mkdir(parents=True)
    (docs / "note.md").write_text(f"# Note\n\nThe parking garage of {lucky} closes at 22:00 every day.\n")
    subprocess.run([*cli, "ingest", lucky, str(docs)], check=True, capture_output=True, env=env)
    t0 = time.perf_counter()
    answer = json.loads(subprocess.run([*cli, "query", lucky, f"When does the parking garage of {lucky} close?",
                                        "--json"], check=True, capture_output=True, text=True, env=env).stdout)
    question_s = time.perf_counter() - t0

    results = {
        "tenants_served": args.tenants,
        "budget_tenants": args.budget_tenants,
        "setup_seconds": round(setup_s, 1),
        "cold_search_ms": {"p50": pct(cold, 0.5), "p99": pct(cold, 0.99)},
        "warm_search_ms": {"p50": pct(warm, 0.5), "p99": pct(warm, 0.99)},
        "requests_per_s": {
            "random_tenants_with_eviction": round(rps_random, 1), "warm_set": round(rps_warm, 1),
            "100_tenants_micro_batched": round((rps_batched + rps_batched_again) / 2, 1),
            "100_tenants_unbatched": round(rps_unbatched, 1),
            "micro_batching_gain": round((rps_batched + rps_batched_again) / 2 / rps_unbatched, 2),
            "queries_per_model_call": round(pool.embedder.queries / max(pool.embedder.batches, 1), 2),
        },
        "pool": {"loads": pool.loads, "evictions": pool.evictions, "peak_bytes": peak, "budget_bytes": pool.budget},
        "cross_tenant_hits": len(leaks),
        "cli_fresh_process_search_s": {"median": statistics.median(cli_search), "min": min(cli_search)},
        "registered_tenants": args.registered,
        "register_seconds": round(register_s, 1),
        "tenant_list_s": {"median": statistics.median(list_s), "min": min(list_s)},
        "usage_all_tenants_s": {"median": statistics.median(usage_s), "min": min(usage_s)},
        "question_to_random_tenant": {"tenant": lucky, "answer": answer["answer"], "seconds": round(question_s, 2)},
    }
    write_results("server", results)


if __name__ == "__main__":
    main()
