"""The generator's confidence processor: time per generated token, the log-softmax it used against the
log-sum-exp it uses now, in the same run.

    .venv/bin/python bench/bench_confidence.py [--tokens 200] [--runs 7] [--vocab 262144]

Each processor is called once per generated token, as llama-cpp-python calls it: on a strided view of
one buffer of (id, logit, p) records that is refilled every step, Gemma 3's 262,144 logits by default.
Reports the median microseconds per token of each (runs interleaved) and their ratio; writes
bench/results/confidence.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tenantctl.models.generation import _Confidence  # noqa: E402


class _LogSoftmax:
    """The processor as it was: a log-softmax over the whole vocabulary per step."""

    def __init__(self) -> None:
        self.logprobs: list[float] = []
        self._last: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._last is not None:
            self.logprobs.append(float(self._last[int(input_ids[-1])]))
        top = scores.max()
        self._last = scores - (top + np.log(np.exp(scores - top).sum()))
        return scores


def per_token_us(make: type, steps: list[np.ndarray], chosen: list[int]) -> tuple[float, list[float]]:
    cells = np.zeros(len(steps[0]), np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)],
                                              align=True))
    processor, ids, spent = make(), [2], 0.0
    for logits, token in zip(steps, chosen, strict=True):
        cells["logit"] = logits  # llama.cpp fills its buffer: not timed
        scores = cells["logit"]
        started = time.perf_counter()
        processor(np.array(ids), scores)
        spent += time.perf_counter() - started
        ids.append(token)
    return spent / len(steps) * 1e6, processor.logprobs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--vocab", type=int, default=262_144)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    steps = [(rng.standard_normal(args.vocab) * 4).astype(np.float32) for _ in range(args.tokens)]
    chosen = [int(np.argmax(s)) for s in steps]
    old, new, gap = [], [], 0.0
    for _ in range(args.runs):
        us, before = per_token_us(_LogSoftmax, steps, chosen)
        old.append(us)
        us, now = per_token_us(_Confidence, steps, chosen)
        new.append(us)
        gap = max(gap, max(abs(a - b) for a, b in zip(before, now, strict=True)))
    old_us, new_us = statistics.median(old), statistics.median(new)
    write_results("confidence", {
        "vocab": args.vocab, "tokens": args.tokens, "runs": args.runs,
        "log_softmax_us_per_token": round(old_us, 1), "log_sum_exp_us_per_token": round(new_us, 1),
        "speedup": round(old_us / new_us, 2), "max_logprob_difference": gap,
    })


if __name__ == "__main__":
    main()
