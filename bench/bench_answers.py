"""Answer-quality benchmark on public QA data: SQuAD v1.1 (English) and CMRC 2018 (Chinese) subsets.

    .venv/bin/python bench/bench_answers.py [--sample 40] [--unanswerable 20] [--split dev|test]
        [--baseline /path/to/other/checkout]
    .venv/bin/python bench/bench_answers.py --gate [--split dev|test]

Builds tenants from the articles in ../shared/data/qa (each article one document, a few articles per
tenant; kept in --home and reused), then asks a seeded sample of questions in their own tenant and a
sample in another tenant of the same language (unanswerable there). Reports per language: answers that
contain a gold answer, correct (contains it and concise: ≤ 30 words / ≤ 80 characters), token F1,
first citation naming the right article, the model's own span vs fallback sentences, retrieval's
ceiling (a passage holds the gold), abstention on unanswerable and on answerable questions, and
latency per question (model warm, first question not counted).

--split dev|test asks only the questions of half of the articles (dev: the 1st, 3rd, 5th, ... article of
each set; test: the others), so rules can be tuned on dev and scored on held-out test articles.

With --baseline DIR the same questions are also answered by the tenantctl package found in DIR (for
example a checkout of main) in a subprocess, on the same tenants, and both tables plus the latency
ratio are printed. Writes bench/results/answers.json.

--gate runs the relevance gate alone (no model) over every question of the split, asked in its own
tenant and in another one: the abstention rates from all questions (a 30-question sample moves by ±7
points).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared/data/qa beside the checkout (or beside the folder of worktrees holding it)
DATA = next((p / "shared" / "data" / "qa" for p in ROOT.parents if (p / "shared" / "data" / "qa").is_dir()),
            ROOT.parent / "shared" / "data" / "qa")
SETS = {"en": ("squad-dev-subset.json", 2), "zh": ("cmrc2018-dev-subset.json", 4)}  # file, articles per tenant


def _slug(title: str) -> str:
    return re.sub(r"[^\w.-]+", "_", title).strip("_") or "article"


def plan(data_dir: Path) -> tuple[dict[str, list[dict]], list[dict]]:
    """Tenants (id -> articles) and every question with its tenant, article file, gold answers and split
    (by article: even positions are "dev", odd ones "test")."""
    tenants: dict[str, list[dict]] = {}
    questions: list[dict] = []
    for lang, (name, per_tenant) in SETS.items():
        articles = json.loads((data_dir / name).read_text(encoding="utf-8"))["data"]
        for i, article in enumerate(articles):
            tenant = f"{lang}-{i // per_tenant + 1}"
            tenants.setdefault(tenant, []).append(article)
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    questions.append({"lang": lang, "tenant": tenant, "file": _slug(article["title"]) + ".txt",
                                      "question": qa["question"], "answers": [a["text"] for a in qa["answers"]],
                                      "split": "dev" if i % 2 == 0 else "test"})
    return tenants, questions


def build(home: Path, tenants: dict[str, list[dict]]) -> None:
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.storage.tenants import create_tenant, open_tenant

    cfg = load_config()
    for tenant_id, articles in tenants.items():
        folder = home / "docs" / tenant_id
        if (home / "tenants" / tenant_id).exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for article in articles:
            body = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
            (folder / (_slug(article["title"]) + ".txt")).write_text(body + "\n", encoding="utf-8")
        create_tenant(tenant_id)
        ingest(open_tenant(tenant_id), [folder], cfg)


def sample(
    questions: list[dict], tenants: list[str], n: int, m: int, seed: int, split: str | None = None
) -> list[dict]:
    """n answerable questions per language, and m more asked in another tenant of the same language
    (when the pool holds fewer than n + m, the m are drawn from all of it again)."""
    rng = random.Random(seed)
    chosen: list[dict] = []
    for lang in SETS:
        pool = [q for q in questions if q["lang"] == lang and split in (None, q["split"])]
        picked = rng.sample(pool, min(len(pool), n + m))
        chosen += [{**q, "answerable": True} for q in picked[:n]]
        elsewhere = picked[n:] if len(pool) >= n + m else rng.sample(pool, min(len(pool), m))
        for q in elsewhere:
            others = [t for t in tenants if t.startswith(lang + "-") and t != q["tenant"]]
            chosen.append({**q, "tenant": rng.choice(others), "answerable": False})
    return chosen


def answer_all(items: list[dict]) -> list[dict]:
    """Ask every question in its tenant with this process's tenantctl; the raw outcome of each."""
    from tenantctl.answering.answer import answer_question
    from tenantctl.config import load_config
    from tenantctl.storage.tenants import open_tenant

    try:
        from tenantctl.retrieval.session import TenantSession
    except ImportError:  # a --baseline checkout from before the tenant session: a Searcher is its session
        from tenantctl.retrieval.search import Searcher as TenantSession

    cfg = load_config()
    opened: dict = {}
    embedder = None
    records = []
    for item in [items[0], *items]:  # the first question warms the models and is not counted
        if item["tenant"] not in opened:
            opened[item["tenant"]] = TenantSession(open_tenant(item["tenant"]), cfg, embedder)
        session = opened[item["tenant"]]
        started = time.perf_counter()
        result = answer_question(session, item["question"], cfg)
        wall = (time.perf_counter() - started) * 1000
        embedder = getattr(session, "searcher", session).embedder
        data = result.to_dict(include_passages=True)
        if len(records) % 20 == 0:
            print(f"  {len(records)}/{len(items)} questions", file=sys.stderr, flush=True)
        records.append({"answer": data["answer"], "no_answer": data["no_answer"], "fallback": data["fallback"],
                        "sources": [s["path"] for s in data["sources"]],
                        "passages": [p["text"] for p in data["passages"]], "ms": wall,
                        "short_answer": data.get("short_answer"), "supporting": data.get("supporting"),
                        "raw": data.get("raw"), "grounded": data.get("grounded"), "gate": data.get("gate"),
                        "confidence": data.get("confidence")})
    return records[1:]


def summarize(items: list[dict], records: list[dict]) -> dict:
    from tenantctl.answering.scoring import score

    table = {}
    for lang in SETS:
        rows = [(i, r) for i, r in zip(items, records, strict=True) if i["lang"] == lang]
        answerable = [(i, r) for i, r in rows if i["answerable"]]
        unanswerable = [r for i, r in rows if not i["answerable"]]
        answered = [(i, r) for i, r in answerable if not r["no_answer"]]
        scores = [score(r["answer"] if not r["no_answer"] else "", i["answers"]) for i, r in answerable]
        ceiling = [any(g.lower() in " ".join(r["passages"]).lower() for g in i["answers"]) for i, r in answerable]
        first_ok = [bool(r["sources"]) and r["sources"][0].endswith("/" + i["file"]) for i, r in answered]
        pct = lambda xs: round(100 * sum(xs) / max(1, len(xs)), 1)  # noqa: E731
        table[lang] = {
            "questions": len(answerable), "unanswerable_questions": len(unanswerable),
            "contains_gold_pct": pct([s["contains"] for s in scores]),
            "correct_pct": pct([s["correct"] for s in scores]),
            "f1": round(100 * statistics.mean(s["f1"] for s in scores), 1) if scores else 0.0,
            "model_span_pct": pct([not r["fallback"] for _, r in answered]),
            "fallback_pct": pct([r["fallback"] for _, r in answered]),
            "retrieval_ceiling_pct": pct(ceiling),
            "first_citation_right_file_pct": pct(first_ok),
            "unanswerable_abstain_pct": pct([r["no_answer"] for r in unanswerable]),
            "answerable_abstain_pct": pct([r["no_answer"] for _, r in answerable]),
            "latency_median_ms": round(statistics.median(r["ms"] for _, r in rows), 1),
            "latency_p90_ms": round(sorted(r["ms"] for _, r in rows)[int(0.9 * (len(rows) - 1))], 1),
        }
    return table


def _print(label: str, table: dict) -> None:
    print(f"\n{label}")
    keys = list(next(iter(table.values())))
    print(f"{'':34}" + "".join(f"{lang:>10}" for lang in table))
    for key in keys:
        print(f"{key:34}" + "".join(f"{table[lang][key]:>10}" for lang in table))


def _write_details(path: Path, items: list[dict], records: list[dict]) -> None:
    from tenantctl.answering.scoring import score

    keys = ("answer", "short_answer", "supporting", "raw", "confidence", "grounded", "no_answer", "fallback", "sources",
            "gate")
    with path.open("w", encoding="utf-8") as f:
        for item, record in zip(items, records, strict=True):
            scored = score(record["answer"], item["answers"]) if item["answerable"] else {}
            row = {**item, **{k: record[k] for k in keys}, **scored}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def gate_only(questions: list[dict], tenants: list[str], seed: int, split: str | None) -> dict:
    """The relevance gate alone (no model) over every question of the split, each asked in its own
    tenant and in another tenant of its language: the abstention rates, from all questions rather than
    a sample."""
    from tenantctl.answering import gate
    from tenantctl.answering.answer import Passage, effective_settings
    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    cfg, rng, opened = load_config(), random.Random(seed), {}
    counts: dict = {}
    for q in questions:
        if split not in (None, q["split"]):
            continue
        others = [t for t in tenants if t.startswith(q["lang"] + "-") and t != q["tenant"]]
        for tenant, answerable in ((q["tenant"], True), (rng.choice(others), False)):
            if tenant not in opened:
                opened[tenant] = TenantSession(open_tenant(tenant), cfg)
            settings = effective_settings(cfg, opened[tenant].tenant.config.answer)
            hits = opened[tenant].searcher.search(q["question"], k=settings.passages)
            found = [Passage.from_hit(h) for h in hits]
            verdict = gate.check(q["question"], [p.gate_input for p in found],
                                 settings.min_score, settings.min_relevance, settings.min_cjk_coverage)
            row = counts.setdefault(q["lang"], {"answerable": [0, 0], "unanswerable": [0, 0]})
            row["answerable" if answerable else "unanswerable"][0] += not verdict.passed
            row["answerable" if answerable else "unanswerable"][1] += 1
    return {lang: {"questions": c["answerable"][1],
                   "unanswerable_abstain_pct": round(100 * c["unanswerable"][0] / c["unanswerable"][1], 1),
                   "answerable_abstain_pct": round(100 * c["answerable"][0] / c["answerable"][1], 1)}
            for lang, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=40, help="answerable questions per language")
    parser.add_argument("--unanswerable", type=int, default=20, help="questions per language asked elsewhere")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", choices=["dev", "test"], help="only the questions of the dev or held-out articles")
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / ".answers-home")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--baseline", type=Path, help="a checkout whose tenantctl answers the same questions")
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # internal: answer --items, write records
    parser.add_argument("--items", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--details", type=Path, help="write every question, answer and score here")
    parser.add_argument("--gate", action="store_true",
                        help="only the relevance gate, over every question of the split (no model)")
    args = parser.parse_args()
    os.environ["TENANTCTL_HOME"] = str(args.home.resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TENANTCTL_NO_PROGRESS", "1")
    if args.dump:
        items = json.loads(args.items.read_text(encoding="utf-8"))
        args.dump.write_text(json.dumps(answer_all(items), ensure_ascii=False), encoding="utf-8")
        return

    tenants, questions = plan(args.data)
    build(args.home, tenants)
    if args.gate:
        _print("relevance gate, every question", gate_only(questions, list(tenants), args.seed, args.split))
        return
    items = sample(questions, list(tenants), args.sample, args.unanswerable, args.seed, args.split)
    results: dict = {"sample": args.sample, "unanswerable": args.unanswerable, "seed": args.seed,
                     "split": args.split}
    if args.baseline:
        items_file, dump = args.home / "items.json", args.home / "baseline-records.json"
        items_file.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        subprocess.run([sys.executable, __file__, "--home", str(args.home), "--items", str(items_file),
                        "--dump", str(dump)], check=True, env=env)
        results["baseline"] = summarize(items, json.loads(dump.read_text(encoding="utf-8")))
        _print(f"baseline ({args.baseline})", results["baseline"])
    records = answer_all(items)
    results["tenantctl"] = summarize(items, records)
    _print("this tenantctl", results["tenantctl"])
    if args.baseline:
        results["latency_ratio"] = {lang: round(results["tenantctl"][lang]["latency_median_ms"]
                                                / results["baseline"][lang]["latency_median_ms"], 3) for lang in SETS}
        print(f"\nlatency ratio (median, this / baseline): {results['latency_ratio']}")
    if args.details:
        _write_details(args.details, items, records)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import write_results

    write_results("answers", results)


if __name__ == "__main__":
    main()
