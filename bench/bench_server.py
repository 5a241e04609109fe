"""Server benchmark: many tenants behind `tenantctl serve`, on localhost.

    .venv/bin/python bench/bench_server.py [--tenants 1000] [--budget-tenants 100] [--registered 10000]
        [--requests 2000] [--baseline DIR] [--rounds 5]

  1. Creates --tenants tenants, each with two small documents of its own, ingested with the real
     embedding model; starts the real server (uvicorn, HTTP on 127.0.0.1) with a memory budget that
     holds --budget-tenants of them.
  2. Cold search latency (tenant not loaded), warm latency (loaded), p50 and p99, and requests per
     second with 8 concurrent clients over tenants drawn at random (evictions included) and over a
     warm set; checks every hit belongs to the caller's tenant; next to the CLI's fresh-process search.
     These run the server in a thread of this process, to read its pool (loads, peak bytes).
  3. The headline: `tenantctl serve` as its own process (as deployed), 8 concurrent clients over 100
     tenants, --rounds bursts of --requests searches (and as many over all --tenants, with evictions
     when they are more than --budget-tenants). With --baseline DIR, a second `tenantctl serve`
     from the tenantctl checkout in DIR serves the same home, and the bursts alternate between the two
     (same run, same load on the machine): the ratio is this tree's searches/s over DIR's. Reports the
     server's CPU per request (from /proc) and the clients'.
  4. Registers tenants up to --registered in all, then times `tenantctl tenant list` and
     `tenantctl usage` as fresh processes, and asks a question to a random tenant.

The clients are lean: one keep-alive `http.client` connection per client thread (about 0.3 ms of CPU a
request, against 1 ms for httpx), so that on a 2-core machine they take little of the CPU the server
needs. The server does the same work whatever the client: the same request, key, search and response.
Writes bench/results/server.json.
"""

from __future__ import annotations

import argparse
import http.client
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
from typing import Any

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


class Client:
    """One keep-alive HTTP/1.1 connection to the server, searching as a tenant's key."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def search(self, tenant_id: str, secret: str) -> dict[str, Any]:
        body = json.dumps({"query": f"code of {tenant_id}", "k": 2})
        self.conn.request("POST", "/v1/search", body,
                          {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"search as {tenant_id}: HTTP {response.status}: {data[:200]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


def foreign_hits(tenant_id: str, result: dict[str, Any]) -> list[str]:
    """Every document of a tenant names it in its text (paths in the API are relative to the tenant)."""
    return [h["path"] for h in result["hits"] if tenant_id not in h["text"]]


def burst(port: int, secrets: dict[str, str], tenants: list[str], n: int, leaks: list[str],
          on_search=None) -> float:
    """n searches from 8 concurrent clients over `tenants` (spread by a fixed stride); searches/s."""
    def worker(k: int) -> None:
        client = Client(port)
        try:
            for j in range(k, n, 8):
                tenant_id = tenants[(j * 7919) % len(tenants)]
                leaks.extend(foreign_hits(tenant_id, client.search(tenant_id, secrets[tenant_id])))
                if on_search is not None:
                    on_search()
        finally:
            client.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(worker, range(8)))
    return n / (time.perf_counter() - t0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_process(tree: Path, home: Path) -> tuple[subprocess.Popen, int]:
    """`tenantctl serve` of the tenantctl checkout in `tree`, as its own process, on `home`; returns
    the process and its port once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TENANTCTL_HOME": str(home), "PYTHONPATH": str(tree), "TENANTCTL_NO_PROGRESS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tenantctl", "serve", "--port", str(port)], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tenantctl serve from {tree} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"tenantctl serve from {tree} did not start")


def process_throughput(home: Path, secrets: dict[str, str], hundred: list[str], args) -> dict[str, Any]:
    """Searches/s of `tenantctl serve` processes (this tree's, and --baseline's), bursts alternating:
    over 100 loaded tenants, and over every tenant (the budget holds --budget-tenants: evictions)."""
    trees = {"this": ROOT} | ({"baseline": Path(args.baseline).resolve()} if args.baseline else {})
    servers = {name: serve_process(tree, home) for name, tree in trees.items()}
    leaks: list[str] = []
    figures = {name: {"rps": [], "server_cpu_ms": [], "client_cpu_ms": [], "eviction_rps": []} for name in servers}
    try:
        for _, port in servers.values():
            burst(port, secrets, hundred, 200, leaks)  # load the tenants and the model
        for _ in range(args.rounds):
            for name, (proc, port) in servers.items():
                server0, client0 = cpu_seconds(proc.pid), time.process_time()
                figures[name]["rps"].append(burst(port, secrets, hundred, args.requests, leaks))
                figures[name]["server_cpu_ms"].append((cpu_seconds(proc.pid) - server0) * 1000 / args.requests)
                figures[name]["client_cpu_ms"].append((time.process_time() - client0) * 1000 / args.requests)
            for name, (_, port) in servers.items():
                figures[name]["eviction_rps"].append(burst(port, secrets, list(secrets), args.requests, leaks))
                burst(port, secrets, hundred, 200, leaks)  # the hundred loaded again for the next round
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    out: dict[str, Any] = {
        name: {"searches_per_s": round(statistics.median(f["rps"]), 1), "rounds": [round(x, 1) for x in f["rps"]],
               "server_cpu_ms_per_search": round(statistics.median(f["server_cpu_ms"]), 2),
               "client_cpu_ms_per_search": round(statistics.median(f["client_cpu_ms"]), 2),
               "all_tenants_with_eviction_searches_per_s": round(statistics.median(f["eviction_rps"]), 1)}
        for name, f in figures.items()
    }
    if args.baseline:
        out["baseline_tree"] = str(trees["baseline"])
        out["ratio_vs_baseline"] = round(out["this"]["searches_per_s"] / out["baseline"]["searches_per_s"], 2)
        out["eviction_ratio_vs_baseline"] = round(out["this"]["all_tenants_with_eviction_searches_per_s"]
                                                  / out["baseline"]["all_tenants_with_eviction_searches_per_s"], 2)
    out["cross_tenant_hits"] = len(leaks)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def set_memory_budget(home: Path, budget_mb: float) -> None:
    """`server.memory_budget_mb` in the home's config.yaml, for the `tenantctl serve` processes."""
    import yaml

    path = home / "config.yaml"
    data = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    data.setdefault("server", {})["memory_budget_mb"] = budget_mb
    path.write_text(yaml.safe_dump(data))


def setup(work: Path, n: int) -> tuple[dict[str, str], float]:
    """n tenants with two documents and a key each; their secrets and the seconds it took."""
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import create_tenant

    cfg = load_config()
    embedder = get_embedder(cfg.embedder)
    embedder.encode(["warm up"])
    rng = random.Random(7)
    secrets: dict[str, str] = {}
    started = time.perf_counter()
    for i in range(n):
        tenant_id = f"tenant-{i:05d}"
        tenant = create_tenant(tenant_id)
        docs = work / "docs" / tenant_id
        docs.mkdir(parents=True)
        a, b = rng.sample(WORDS, 2)
        (docs / "policy.md").write_text(f"# Policy of {tenant_id}\n\nThe {a} code of {tenant_id} is {i * 13}.\n")
        (docs / "faq.md").write_text(f"# FAQ\n\nThe {b} office of {tenant_id} opens at {7 + i % 4}:00.\n")
        ingest(tenant, [docs], cfg, embedder=embedder)
        secrets[tenant_id] = keys.create(tenant_id)[1]
    return secrets, time.perf_counter() - started


def in_process(secrets: dict[str, str], budget_mb: float, args) -> dict[str, Any]:
    """Cold, warm and eviction figures from a server in a thread of this process (its pool is read)."""
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    cfg = load_config()
    cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={"memory_budget_mb": budget_mb})})
    app = create_app(cfg)
    pool = app.state.pool
    server, port = serve_in_thread(app)
    leaks: list[str] = []
    peak = 0

    def track_peak() -> None:
        nonlocal peak
        peak = max(peak, pool.used_bytes)

    def timed(client: Client, tenant_id: str) -> float:
        t0 = time.perf_counter()
        result = client.search(tenant_id, secrets[tenant_id])
        ms = (time.perf_counter() - t0) * 1000
        leaks.extend(foreign_hits(tenant_id, result))
        track_peak()
        return ms

    rng = random.Random(7)
    ids = list(secrets)
    client = Client(port)
    timed(client, ids[0])
    cold = [timed(client, t) for t in rng.sample(ids[1:], min(200, len(ids) - 1))]  # none loaded yet: cold
    warm_set = list(pool._loaded)[-args.budget_tenants // 2:]
    warm = [timed(client, rng.choice(warm_set)) for _ in range(500)]
    client.close()

    rps_random = burst(port, secrets, ids, args.requests, leaks, track_peak)
    rps_warm = burst(port, secrets, warm_set, args.requests, leaks, track_peak)
    # 8 clients over 100 tenants, query embeddings micro-batched, against the same without batching.
    hundred = ids[:100]
    burst(port, secrets, hundred, 200, leaks)  # load them
    rps_batched = burst(port, secrets, hundred, args.requests, leaks)
    pool.embedder.enabled = False
    rps_unbatched = burst(port, secrets, hundred, args.requests, leaks)
    pool.embedder.enabled = True
    rps_batched_again = burst(port, secrets, hundred, args.requests, leaks)
    server.should_exit = True
    return {
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
    }


def fresh_processes(work: Path, ids: list[str], args) -> dict[str, Any]:
    """The CLI as fresh processes: search, tenant list and usage over --registered tenants, a question."""
    from tenantctl.storage.tenants import create_tenant

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
    lucky = f"tenant-{random.Random(7).randrange(args.tenants, args.registered):05d}"
    docs = work / "docs" / lucky
    docs.mkdir(parents=True)
    (docs / "note.md").write_text(f"# Note\n\nThe parking garage of {lucky} closes at 22:00 every day.\n")
    subprocess.run([*cli, "ingest", lucky, str(docs)], check=True, capture_output=True, env=env)
    t0 = time.perf_counter()
    answer = json.loads(subprocess.run([*cli, "query", lucky, f"When does the parking garage of {lucky} close?",
                                        "--json"], check=True, capture_output=True, text=True, env=env).stdout)
    question_s = time.perf_counter() - t0
    return {
        "cli_fresh_process_search_s": {"median": statistics.median(cli_search), "min": min(cli_search)},
        "registered_tenants": args.registered,
        "register_seconds": round(register_s, 1),
        "tenant_list_s": {"median": statistics.median(list_s), "min": min(list_s)},
        "usage_all_tenants_s": {"median": statistics.median(usage_s), "min": min(usage_s)},
        "question_to_random_tenant": {"tenant": lucky, "answer": answer["answer"], "seconds": round(question_s, 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--budget-tenants", type=int, default=100)
    parser.add_argument("--registered", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--baseline", help="another tenantctl checkout whose `serve` is measured alongside")
    parser.add_argument("--rounds", type=int, default=5, help="alternating bursts per `tenantctl serve` process")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-serverbench-"))
    home = work / "home"
    os.environ["TENANTCTL_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tenantctl.serving.pool import TENANT_OVERHEAD_BYTES

    secrets, setup_s = setup(work, args.tenants)
    index_bytes = int(4 * 384 * 4 * 1.1)
    budget_mb = args.budget_tenants * (TENANT_OVERHEAD_BYTES + index_bytes) / (1 << 20)
    results: dict[str, Any] = {"tenants_served": args.tenants, "budget_tenants": args.budget_tenants,
                               "setup_seconds": round(setup_s, 1)}
    results |= in_process(secrets, budget_mb, args)
    set_memory_budget(home, budget_mb)
    results["serve_process_100_tenants"] = process_throughput(home, secrets, list(secrets)[:100], args)
    results |= fresh_processes(work, list(secrets), args)
    write_results("server", results)


if __name__ == "__main__":
    main()
