"""Generation benchmark: tenantctl's generation path against a bare llama-cpp-python call.

    .venv/bin/python bench/bench_generation.py [--runs 5]

For the same prompt (the one tenantctl builds for a sample question), in the same run:
  * median generation time through tenantctl's LlamaCppGenerator vs a bare `Llama.create_completion`
    (streamed, same settings, KV cache reset before every call): the overhead ratio;
  * prompt tokens/s, completion tokens/s and time to the first streamed token;
  * `tenantctl query` as a fresh process: wall time split into embedder load (torch and
    sentence-transformers imports included), LLM load, retrieval, generation and the rest (interpreter
    start, CLI imports, output).
Writes bench/results/generation.json.
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
from typing import TYPE_CHECKING

from _results import write_results

if TYPE_CHECKING:
    from tenantctl.models.base import Request

ROOT = Path(__file__).resolve().parent.parent
QUESTION = ("acme-hr", "How many days of paid annual leave do employees accrue per year?")
CLI = [sys.executable, "-m", "tenantctl"]


def _fresh_queries(env: dict[str, str], tenant_id: str, question: str) -> list[dict[str, float]]:
    """Fresh-process wall time of `tenantctl query`, three times, each with its own breakdown."""
    fresh = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run([*CLI, "query", tenant_id, question, "--json"], check=True, capture_output=True,
                             text=True, env=env).stdout
        wall = (time.perf_counter() - t0) * 1000
        timings = json.loads(out)["timings"]
        parts = {k: timings.get(k, 0.0) for k in ("embedder_load_ms", "model_load_ms", "retrieval_ms",
                                                    "generation_ms")}
        fresh.append({"wall_ms": round(wall, 1), **parts,
                      "rest_ms": round(wall - sum(parts.values()), 1)})
    return fresh


def _captured_request(tenant_id: str, question: str) -> Request:
    """The exact prompt tenantctl sends, captured from its generator."""
    from tenantctl.answering.answer import answer_question
    from tenantctl.config import load_config
    from tenantctl.models import generation
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    cfg = load_config()
    opened = TenantSession(open_tenant(tenant_id), cfg)
    captured: list[Request] = []
    original = generation.LlamaCppGenerator.generate

    def capture(self, request, on_token=None):
        captured.append(request)
        return original(self, request, on_token)

    generation.LlamaCppGenerator.generate = capture
    answer_question(opened, question, cfg)
    generation.LlamaCppGenerator.generate = original
    return captured[0]


def _bare_and_ours(request: Request, runs: int) -> tuple[str, list[dict], list[dict]]:
    """The same request through bare llama-cpp-python and through tenantctl's generator, `runs` times
    each, interleaved: the model's name and each side's runs."""
    from llama_cpp import Llama

    from tenantctl.config import load_config
    from tenantctl.models import generation

    mcfg = load_config().models["default"]
    gen = generation.get_generator("default", mcfg)
    bare = Llama(model_path=str(generation.packaged_gguf()), n_ctx=mcfg.n_ctx, n_threads=mcfg.n_threads,
                 n_batch=mcfg.n_batch, seed=mcfg.seed, verbose=False)

    def run_bare() -> dict:
        bare.reset()
        t0 = time.perf_counter()
        first = None
        n = 0
        for chunk in bare.create_completion(
            request.prompt, max_tokens=request.max_tokens, temperature=request.temperature, top_p=request.top_p,
            repeat_penalty=request.repeat_penalty, stop=request.stop, seed=request.seed, stream=True,
        ):
            if chunk["choices"][0].get("text"):
                first = first or time.perf_counter()
                n += 1
        end = time.perf_counter()
        return {"ms": (end - t0) * 1000, "first_ms": ((first or end) - t0) * 1000, "tokens": n}

    def run_tenantctl() -> dict:
        gen.llm.reset()
        t0 = time.perf_counter()
        result = gen.generate(request, on_token=lambda _: None)
        return {"ms": (time.perf_counter() - t0) * 1000, "first_ms": result.first_token_ms,
                "tokens": result.completion_tokens, "prompt_tokens": result.prompt_tokens}

    run_bare(), run_tenantctl()  # warm-up
    bare_runs, ours = [], []
    for _ in range(runs):  # interleaved, so drift in machine load hits both alike
        bare_runs.append(run_bare())
        ours.append(run_tenantctl())
    return gen.name, bare_runs, ours


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tenantctl-genbench-"))
    os.environ["TENANTCTL_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = {**os.environ, "TENANTCTL_NO_PROGRESS": "1"}
    tenant_id, question = QUESTION
    subprocess.run([*CLI, "tenant", "create", tenant_id], check=True, capture_output=True, env=env)
    subprocess.run([*CLI, "ingest", tenant_id, str(ROOT / "sample_tenants" / tenant_id)], check=True,
                   capture_output=True, env=env)

    fresh = _fresh_queries(env, tenant_id, question)
    model, bare_runs, ours = _bare_and_ours(_captured_request(tenant_id, question), args.runs)
    med = statistics.median
    bare_ms, our_ms = med(r["ms"] for r in bare_runs), med(r["ms"] for r in ours)
    prompt_tokens = ours[0]["prompt_tokens"]
    first_ms = med(r["first_ms"] for r in ours)
    completion = ours[0]["tokens"]
    results = {
        "model": model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "bare_llama_cpp_ms": round(bare_ms, 1),
        "tenantctl_ms": round(our_ms, 1),
        "overhead_vs_bare": round(our_ms / bare_ms - 1, 4),
        "time_to_first_token_ms": round(first_ms, 1),
        "prompt_tokens_per_s": round(prompt_tokens / (first_ms / 1000), 1),
        "completion_tokens_per_s": round(max(completion - 1, 1) / ((our_ms - first_ms) / 1000), 1),
        "fresh_process_query": fresh,
    }
    write_results("generation", results)


if __name__ == "__main__":
    main()
