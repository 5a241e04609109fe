"""Warm search latency in process, this tree against another checkout, same tenant, same run.

    .venv/bin/python bench/bench_search.py [--data ../shared/data/scifact] [--limit 1200]
        [--home HOME] [--baseline DIR] [--rounds 3] [--queries 300]

Ingests a SciFact subset (--limit documents, the judged ones first) into one tenant of a scratch home
with this tree's `tenantctl ingest` (or reuses the tenant `sci` of --home), then, in alternating fresh
processes, opens the tenant once and times --queries hybrid searches (k = 10) after 20 warm-up ones:
p50 and p95, and the embedding and retrieval parts of each search (the searcher's own timings).
With --baseline DIR the same runs use the tenantctl in DIR; the ratios are DIR's over this tree's.
Writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import write_results
from bench_retrieval import write_corpus

ROOT = Path(__file__).resolve().parent.parent
TENANT = "sci"

# Runs in a fresh process of the tree under test; prints one JSON line.
_PROBE = """
import json, statistics, sys, time
from tenantctl.config import load_config
from tenantctl.retrieval.session import TenantSession
from tenantctl.storage.tenants import open_tenant
queries = json.loads(sys.argv[1])
session = TenantSession(open_tenant(sys.argv[2]), load_config())
for q in queries[:20]:
    session.search(q, k=10)
wall, embed, retrieve = [], [], []
for q in queries:
    t0 = time.perf_counter()
    session.search(q, k=10)
    wall.append((time.perf_counter() - t0) * 1000)
    embed.append(session.searcher.timings["embed_ms"])
    retrieve.append(session.searcher.timings["retrieve_ms"])
wall.sort()
print(json.dumps({"p50": statistics.median(wall), "p95": wall[int(0.95 * (len(wall) - 1))],
                  "embed_p50": statistics.median(embed), "retrieve_p50": statistics.median(retrieve)}))
"""


def probe(tree: Path, home: Path, queries: list[str]) -> dict[str, float]:
    env = {**os.environ, "TENANTCTL_HOME": str(home), "PYTHONPATH": str(tree), "TENANTCTL_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(queries), TENANT], cwd=tree, env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_tenant(data: Path, limit: int) -> Path:
    work = Path(tempfile.mkdtemp(prefix="tenantctl-searchbench-"))
    home = work / "home"
    env = {**os.environ, "TENANTCTL_HOME": str(home), "PYTHONPATH": str(ROOT), "TENANTCTL_NO_PROGRESS": "1"}
    write_corpus(data, work / "corpus", limit)
    for command in (["create", TENANT], ["ingest", TENANT, str(work / "corpus")]):
        subprocess.run([sys.executable, "-m", "tenantctl", *command], cwd=ROOT, env=env, check=True,
                       capture_output=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=1200)
    parser.add_argument("--home", type=Path, help=f"a home whose tenant {TENANT!r} is searched (no ingest)")
    parser.add_argument("--baseline", type=Path, help="another tenantctl checkout, searched in turn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    home = args.home or make_tenant(args.data, args.limit)
    with (args.data / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh][:args.queries]
    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(probe(tree, home, queries))
    results = {name: {key: round(statistics.median(r[key] for r in found), 2) for key in found[0]}
               for name, found in runs.items()}
    results["rounds"] = {name: [round(r["p50"], 2) for r in found] for name, found in runs.items()}
    if args.baseline:
        results["baseline_tree"] = str(trees["baseline"])
        results["baseline_over_this"] = {key: round(results["baseline"][key] / results["this"][key], 2)
                                         for key in ("p50", "p95", "embed_p50", "retrieve_p50")}
    results["queries"], results["load_average"] = len(queries), [round(x, 2) for x in os.getloadavg()]
    write_results("search", results)


if __name__ == "__main__":
    main()
