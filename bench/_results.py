"""Where the benchmarks write their figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, results: dict[str, Any]) -> None:
    """Save bench/results/<name>.json and print it."""
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    (RESULTS / f"{name}.json").write_text(text, encoding="utf-8")
    print(text)
