"""Retrieval benchmark on BEIR SciFact, through tenantctl itself.

    .venv/bin/python bench/bench_retrieval.py [--data ../shared/data/scifact] [--limit N]

    .venv/bin/python bench/bench_retrieval.py --limit 600 --baseline-chunks 300 --encode-only   # ratios only
    .venv/bin/python bench/bench_retrieval.py --quality-only   # fp32 and int8 nDCG@10, full SciFact
    .venv/bin/python bench/bench_retrieval.py --quality-only --home H [--baseline DIR]
        # the same scores of the corpus already ingested in home H (no ingest), and with DIR's tenantctl

Measures, in one run (every ratio against a baseline measured in the same run):
  * for each embedder precision (fp32, int8): `tenantctl ingest` of the corpus as a fresh process —
    wall time, chunks/s and peak RSS — and nDCG@10 / recall@100 / MRR (dense, BM25, hybrid) scored by
    `tenantctl eval`;
  * embedding throughput of each ONNX embedder against `SentenceTransformer.encode` (torch fp32) on the
    same chunk texts (a sample of --baseline-chunks), and the default embedder's full ingest against it;
  * peak RSS of the ingest of the corpus twice over (every document also under a second name);
  * re-ingest of the unchanged corpus as a share of the full ingest;
  * warm search latency (p50, p95, and where the time goes) in process, and the wall time of fresh
    `tenantctl search` and `tenantctl query` processes.
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
PRECISIONS = ("fp32", "int8")


def write_corpus(data: Path, dest: Path, limit: int | None, suffix: str = "") -> int:
    """Every document, or with `limit` the documents the test questions are judged on plus others up to
    `limit` (a smaller corpus whose scores still mean something)."""
    dest.mkdir(parents=True)
    judged = set()
    if limit:
        lines = (data / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
        judged = {line.split("\t")[1] for line in lines if line.strip()}
    n = 0
    with (data / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if limit and doc["_id"] not in judged and n >= limit - len(judged):
                continue
            (dest / f"{doc['_id']}{suffix}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
            n += 1
    return n


# Runs tenantctl and reports the peak RSS of this process's own memory (VmHWM of /proc/self/status):
# a child's ru_maxrss would include the memory of the (large) benchmark process it was forked from.
_PEAK = """
import sys
from tenantctl.cli import main
try:
    main(sys.argv[1:])
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    sys.stderr.write(f"\\nPEAK_KB {hwm}\\n")
"""


def run_rss(home: Path, *args: str, checkout: Path | None = None) -> tuple[str, float, float]:
    """`tenantctl ARGS` as a fresh process (the tenantctl of `checkout` if given): stdout, wall seconds,
    peak RSS in MB."""
    env = {**os.environ, "TENANTCTL_HOME": str(home)}
    if checkout:
        env["PYTHONPATH"] = str(checkout)
    started = time.perf_counter()
    # `python -c` puts the working directory first on sys.path: run in the checkout for its package to win.
    done = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True, env=env,
                          cwd=checkout)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tenantctl {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK_KB ", 1)[1].split()[0])
    return done.stdout, wall, peak_kb / 1024


def make_home(work: Path, name: str, precision: str | None) -> Path:
    """A home whose config sets `precision` (None: unset, the default for new indexes)."""
    home = work / name
    home.mkdir()
    (home / "config.yaml").write_text(f"embedder:\n  precision: {precision or 'null'}\n")
    run_rss(home, "tenant", "create", TENANT)
    return home


def chunk_texts(home: Path, every: int) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(home / "tenants" / TENANT / "store.db")
    rows = conn.execute("SELECT heading, text FROM chunks ORDER BY id").fetchall()
    conn.close()
    return [f"{h}\n{t}" if h else t for h, t in rows][::every]


def corpus_chunks(corpus: Path, every: int) -> list[str]:
    """The texts `tenantctl ingest` embeds for the corpus (heading + chunk), every `every`-th one."""
    from tenantctl.config import ChunkingConfig
    from tenantctl.ingestion.chunking import chunk_text

    texts = []
    for path in sorted(corpus.iterdir()):
        for c in chunk_text(path.read_text(encoding="utf-8"), ChunkingConfig()):
            texts.append(f"{c.heading}\n{c.text}" if c.heading else c.text)
    return texts[::every]


def encode_rates(texts: list[str], batch_size: int, rounds: int = 3) -> dict[str, dict[str, float]]:
    """Chunks/s of SentenceTransformer.encode and of each ONNX embedder on the same texts, in `rounds`
    interleaved rounds (each runner's best round counts: on a shared machine the others' load comes and
    goes), as wall-clock rate and as rate per CPU second of this process."""
    from sentence_transformers import SentenceTransformer

    from tenantctl.config import EmbedderConfig
    from tenantctl.models.embedding import _packaged_minilm, get_embedder

    model = SentenceTransformer(_packaged_minilm(), device="cpu")
    runners = {"sentence_transformers": lambda t: model.encode(t, batch_size=batch_size, normalize_embeddings=True)}
    for precision in PRECISIONS:
        embedder = get_embedder(EmbedderConfig(precision=precision, batch_size=batch_size))
        runners[f"onnx_{precision}"] = embedder.encode
    for fn in runners.values():
        fn(texts[:64])  # warm
    best: dict[str, dict[str, float]] = {name: {"wall": 0.0, "cpu": 0.0} for name in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn(texts)
            rate = best[name]
            rate["wall"] = max(rate["wall"], round(len(texts) / (time.perf_counter() - wall), 1))
            rate["cpu"] = max(rate["cpu"], round(len(texts) / (time.process_time() - cpu), 1))
    return best


def encode_ratios(texts: list[str]) -> dict:
    from tenantctl.config import EmbedderConfig

    rates = encode_rates(texts, EmbedderConfig().batch_size)
    st = rates["sentence_transformers"]
    return {"chunks": len(texts), "chunks_per_s": {k: v["wall"] for k, v in rates.items()},
            "chunks_per_cpu_s": {k: v["cpu"] for k, v in rates.items()},
            **{f"{k}_vs_st": round(v["wall"] / st["wall"], 2) for k, v in rates.items() if k.startswith("onnx")},
            **{f"{k}_vs_st_cpu": round(v["cpu"] / st["cpu"], 2) for k, v in rates.items() if k.startswith("onnx")}}


def search_latency(home: Path, queries: list[dict]) -> dict:
    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    os.environ["TENANTCTL_HOME"] = str(home)
    opened = TenantSession(open_tenant(TENANT), load_config())
    for q in queries[:20]:
        opened.search(q["text"], k=10)
    latencies, parts = [], {"embed_ms": [], "retrieve_ms": []}
    for q in queries:
        started = time.perf_counter()
        opened.search(q["text"], k=10)
        latencies.append((time.perf_counter() - started) * 1000)
        for key in parts:
            parts[key].append(opened.searcher.timings[key])
    opened.close()
    latencies.sort()
    return {"p50": round(statistics.median(latencies), 2), "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            **{f"{k}_p50": round(statistics.median(v), 2) for k, v in parts.items()}}


def fresh_processes(home: Path, queries: list[dict]) -> dict:
    search = [run_rss(home, "search", TENANT, q["text"], "--json") for q in queries[:5]]
    asked = [run_rss(home, "query", TENANT, q["text"], "--json") for q in queries[:3]]
    return {
        "search_s": round(statistics.median(w for _, w, _ in search), 2),
        "search_peak_rss_mb": round(max(r for _, _, r in search)),
        "query_s": round(statistics.median(w for _, w, _ in asked), 2),
    }


def scores(home: Path, qrels: list[str], checkout: Path | None = None) -> dict:
    """nDCG@10 / recall@100 / MRR of each mode, scored by `tenantctl eval` (of `checkout` if given)."""
    found = {}
    for mode in ("dense", "bm25", "hybrid"):
        out, _, _ = run_rss(home, "eval", TENANT, *qrels, "--mode", mode, "--json", checkout=checkout)
        q = json.loads(out)
        found[mode] = {k: q[k] for k in ("ndcg_at_10", "recall_at_k", "mrr")}
    return found


def ingested_quality(home: Path, qrels: list[str], baseline: Path | None) -> None:
    """The scores of the corpus already ingested in `home` (no ingest), and with the baseline's tenantctl
    on the same index: ranking changes are compared on identical vectors."""
    results = {"home": str(home), "embedder": recorded_embedder(home), "quality": scores(home, qrels)}
    if baseline:
        results["baseline"] = {"checkout": str(baseline), "quality": scores(home, qrels, baseline)}
        results["hybrid_ndcg_minus_baseline"] = round(
            results["quality"]["hybrid"]["ndcg_at_10"] - results["baseline"]["quality"]["hybrid"]["ndcg_at_10"], 4)
    write_results("retrieval-quality-home", results)


def recorded_embedder(home: Path) -> str:
    return json.loads((home / "tenants" / TENANT / "manifest.json").read_text())["embedder"]["name"]


def memory_only(work: Path, corpus: Path, copies: Path, precision: str, results: dict) -> None:
    """Peak RSS of the default embedder's ingest (config without `precision`) once and twice over."""
    single, double = make_home(work, "home-1x", None), make_home(work, "home-2x", None)
    out, wall, rss = run_rss(single, "ingest", TENANT, str(corpus), "--json")
    results["ingest"][precision] = {"chunks": json.loads(out)["chunks"], "seconds": round(wall, 2),
                                    "peak_rss_mb": round(rss), "embedder": recorded_embedder(single)}
    out, wall, rss2 = run_rss(double, "ingest", TENANT, str(corpus), str(copies), "--json")
    results["ingest_2x"] = {"chunks": json.loads(out)["chunks"], "seconds": round(wall, 2), "peak_rss_mb": round(rss2),
                            "vs_1x": round(rss2 / rss, 3)}
    write_results("retrieval-memory", results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=None,
                        help="N documents: the judged ones and others (a shorter run on a smaller corpus)")
    parser.add_argument("--baseline-chunks", type=int, default=3000,
                        help="chunks (an even sample of the corpus) embedded by each encoder for the ratio")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the peak RSS of the default embedder's ingest of the corpus once and twice over")
    parser.add_argument("--encode-only", action="store_true",
                        help="only the embedding throughput ratios against SentenceTransformer.encode (no ingest)")
    parser.add_argument("--quality-only", action="store_true",
                        help="only each precision's ingest and nDCG@10 / recall@100 / MRR (decides the default)")
    parser.add_argument("--home", type=Path,
                        help="with --quality-only: score the corpus already ingested in this home (no ingest)")
    parser.add_argument("--baseline", type=Path,
                        help="with --home: also score it with the tenantctl of this checkout (e.g. main)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-bench-"))
    os.environ["TENANTCTL_CACHE"] = str(work / "cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TENANTCTL_NO_PROGRESS"] = "1"
    if args.home:
        data = args.data.resolve()
        qrels = ["--queries", str(data / "queries.jsonl"), "--qrels", str(data / "qrels" / "test.tsv")]
        return ingested_quality(args.home.resolve(), qrels, args.baseline and args.baseline.resolve())
    from tenantctl.config import EmbedderConfig
    from tenantctl.models.embedding import get_embedder

    corpus, copies = work / "corpus", work / "copies"
    ndocs = write_corpus(args.data, corpus, args.limit)
    write_corpus(args.data, copies, args.limit, suffix="-copy")
    for precision in PRECISIONS:  # the one-off ONNX export is not part of any measurement
        get_embedder(EmbedderConfig(precision=precision)).encode(["warm up"])
    default = EmbedderConfig().for_index(None).precision  # a new index's
    qrels = ["--queries", str(args.data / "queries.jsonl"), "--qrels", str(args.data / "qrels" / "test.tsv")]

    results: dict = {"documents": ndocs, "default_precision": default, "ingest": {}, "quality": {}}
    if args.encode_only:
        texts = corpus_chunks(corpus, 1)
        results["encode"] = encode_ratios(texts[::max(1, len(texts) // args.baseline_chunks)])
        results["encode"]["default_vs_st"] = results["encode"][f"onnx_{default}_vs_st"]
        return write_results("retrieval-encode", results)
    if args.memory_only:
        return memory_only(work, corpus, copies, default, results)
    homes = {}
    for precision in PRECISIONS:
        homes[precision] = home = make_home(work, f"home-{precision}", precision)
        out, wall, rss = run_rss(home, "ingest", TENANT, str(corpus), "--json")
        chunks = json.loads(out)["chunks"]
        results["ingest"][precision] = {"chunks": chunks, "seconds": round(wall, 2),
                                        "chunks_per_s": round(chunks / wall, 1), "peak_rss_mb": round(rss)}
        results["quality"][precision] = scores(home, qrels)
        write_results("retrieval", results)  # partial figures survive an interrupted run
    if args.quality_only:
        hybrid = {p: results["quality"][p]["hybrid"]["ndcg_at_10"] for p in PRECISIONS}
        results["int8_minus_fp32_hybrid_ndcg"] = round(hybrid["int8"] - hybrid["fp32"], 4)
        results["default_hybrid_ndcg"] = hybrid[default]
        return write_results("retrieval-quality", results)

    home = homes[default]
    _, wall, _ = run_rss(home, "ingest", TENANT, str(corpus), "--json")
    results["reingest"] = {"seconds": round(wall, 2),
                           "share_of_full": round(wall / results["ingest"][default]["seconds"], 4)}
    double = make_home(work, "home-2x", None)
    out, wall, rss = run_rss(double, "ingest", TENANT, str(corpus), str(copies), "--json")
    results["ingest_2x"] = {"chunks": json.loads(out)["chunks"], "seconds": round(wall, 2), "peak_rss_mb": round(rss),
                            "vs_1x": round(rss / results["ingest"][default]["peak_rss_mb"], 3)}
    write_results("retrieval", results)

    texts = chunk_texts(home, max(1, results["ingest"][default]["chunks"] // args.baseline_chunks))
    results["encode"] = encode_ratios(texts)
    results["encode"]["default_ingest_vs_st_encode"] = round(
        results["ingest"][default]["chunks_per_s"] / results["encode"]["chunks_per_s"]["sentence_transformers"], 2)

    queries = [json.loads(line) for line in (args.data / "queries.jsonl").read_text().splitlines() if line]
    results["warm_search_ms"] = search_latency(home, queries)
    results["fresh_process"] = fresh_processes(home, queries)
    write_results("retrieval", results)


if __name__ == "__main__":
    main()
