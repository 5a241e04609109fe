"""`tenantctl search` and `tenantctl eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tenantctl.cli._common import JsonOption, TenantArg, err, load_cfg, out, plain, print_json

ModeOption = Annotated[
    str | None,
    typer.Option("--mode", help="hybrid, dense or bm25 \\[default: search.mode in config.yaml, hybrid unless set].",
                 case_sensitive=False),
]


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("eval")(evaluate)


def _mode(value: str | None) -> str | None:
    from tenantctl.config import SEARCH_MODES
    from tenantctl.errors import BadInput

    if value is not None and value.lower() not in SEARCH_MODES:
        raise BadInput(f"unknown search mode {value!r}", f"use --mode {', '.join(SEARCH_MODES)}")
    return value.lower() if value else None


ServerOption = Annotated[
    str | None, typer.Option("--server", metavar="URL", help="Send the work to a running `tenantctl serve`.")
]
KeyOption = Annotated[
    str | None, typer.Option("--key", help="API key for --server \\[default: $TENANTCTL_API_KEY].")
]


def remote_target(tenant_id: str, server: str | None):
    """The loaded config and the server to send the work to (None: do it here). Checks the id first."""
    from tenantctl.paths import validate_tenant_id

    validate_tenant_id(tenant_id)
    cfg = load_cfg()
    return cfg, server or cfg.client.server


def search(
    tenant_id: TenantArg,
    query: Annotated[str, typer.Argument(metavar="TEXT", help="What to look for.")],
    k: Annotated[
        int | None, typer.Option("-k", "--top", min=1, help="Number of hits \\[default: search.k in config.yaml].")
    ] = None,
    mode: ModeOption = None,
    server: ServerOption = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Hybrid search in one tenant's documents: dense + BM25, scores scaled and averaged (`search.fusion`)."""
    cfg, server = remote_target(tenant_id, server)
    empty = False  # the tenant holds no documents (known only when searching here)
    if server:
        from tenantctl.serving.client import call

        hits = call(server, "/v1/search", {"query": query, "k": k, "mode": _mode(mode)}, tenant_id, key)["hits"]
    else:
        from tenantctl.retrieval.session import TenantSession
        from tenantctl.storage.tenants import open_tenant

        tenant = open_tenant(tenant_id)
        _ = tenant.config  # a broken tenant.yaml is reported here too, not only when asking questions
        opened = TenantSession(tenant, cfg)
        try:
            hits = [h.to_dict() for h in opened.search(query, k=k, mode=_mode(mode))]
            empty = opened.store.chunk_count() == 0
        finally:
            opened.close()
    if json_out:
        print_json(hits)
        return
    if not hits:
        hint = f" It has no documents yet: `tenantctl ingest {tenant_id} PATH`." if empty else ""
        err.print(f"No results in tenant {tenant_id}.{hint}")
        return
    for h in hits:
        out.print(f"[bold]{h['rank']}. {escape(plain(h['path']))}[/]  [dim]{h['position']}  score {h['score']:.4f}  "
                  f"similarity {h['similarity']:.3f}[/]", markup=True)
        if h["heading"]:
            out.print(f"   [italic]{escape(h['heading'])}[/]", markup=True)
        text = " ".join(h["text"].split())
        out.print("   " + (text[:400] + "…" if len(text) > 400 else text), markup=False)


def evaluate(
    tenant_id: TenantArg,
    queries: Annotated[Path | None, typer.Option("--queries", help="BEIR queries.jsonl (_id, text).")] = None,
    qrels: Annotated[Path | None, typer.Option("--qrels", help="BEIR qrels TSV with a header line.")] = None,
    answers: Annotated[Path | None, typer.Option(
        "--answers", help="Score answers instead: JSONL of {question, answers[, source]} or a SQuAD JSON file; "
        "an empty answers list means the documents do not hold the answer.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="With --answers: also score this model entry of config.yaml against the tenant's.")] = None,
    per_question: Annotated[bool, typer.Option(
        "--per-question", help="With --answers: each question's answer, first citation and score too "
        "(--json: `rows`).")] = False,
    k: Annotated[int, typer.Option("-k", min=1, help="Depth for recall@k.")] = 100,
    mode: ModeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score a tenant on labelled questions: its retrieval, or its answers.

    Retrieval: nDCG@10, recall@k and MRR (--queries and --qrels). Answers: correct, F1, first citation,
    abstention (--answers); --model scores a pilot model entry beside the tenant's own."""
    from tenantctl.errors import BadInput
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    if answers is not None and (queries is not None or qrels is not None):  # the retrieval files were ignored
        raise BadInput("--answers scores answers, --queries/--qrels retrieval: one at a time",
                       "run `tenantctl eval` once for each")
    if answers is None and (queries is None) != (qrels is None):
        given, missing = ("--queries", "--qrels") if qrels is None else ("--qrels", "--queries")
        raise BadInput(f"{given} needs {missing}", f"pass {missing} FILE too (BEIR format)")
    if answers is None and queries is None:
        raise BadInput("nothing to evaluate", "pass --queries FILE --qrels FILE (retrieval) or --answers FILE")
    if (model or per_question) and answers is None:
        option = "--model" if model else "--per-question"
        raise BadInput(f"{option} is for answers", f"pass --answers FILE with {option}")
    tenant = open_tenant(tenant_id)
    cfg = load_cfg()
    opened = TenantSession(tenant, cfg)
    try:
        if answers is not None:
            _evaluate_answers(opened, answers, cfg, model, json_out, per_question)
        else:
            _evaluate_retrieval(opened, queries, qrels, k, _mode(mode) or cfg.search.mode, json_out)
    finally:
        opened.close()


def _evaluate_retrieval(opened, queries: Path, qrels: Path, k: int, mode: str, json_out: bool) -> None:
    from tenantctl.retrieval.evaluate import evaluate as run_eval
    from tenantctl.retrieval.evaluate import load_qrels, load_queries

    result = run_eval(opened, load_queries(queries), load_qrels(qrels), k=k, mode=mode)
    if json_out:
        print_json(result.to_dict())
        return
    out.print(f"tenant {result.tenant}  mode {result.mode}  queries {result.queries}")
    out.print(f"nDCG@10   {result.ndcg_at_10:.4f}")
    out.print(f"recall@{result.k:<3} {result.recall_at_k:.4f}")
    out.print(f"MRR       {result.mrr:.4f}")
    if result.unmatched_corpus_ids:
        err.print(f"{result.unmatched_corpus_ids} judged corpus ids match no document of this tenant")


def _evaluate_answers(opened, path: Path, cfg, model: str | None, json_out: bool, per_question: bool) -> None:
    from tenantctl.answering.evaluate import compare_models
    from tenantctl.answering.scoring import load_labelled

    questions = load_labelled(path)
    runs, notes = compare_models(opened, questions, cfg, model)
    for note in notes:
        err.print(note, markup=False)
    if json_out:
        dicts = [r.to_dict(include_rows=per_question) for r in runs]
        print_json(dicts[0] if not model else dicts)
        return
    rows = [("questions (answerable / unanswerable)", lambda r: f"{r.answerable} / {r.unanswerable}"),
            ("correct (contains gold, concise) %", lambda r: f"{r.correct_pct:.1f}"),
            ("contains a gold answer %", lambda r: f"{r.contains_pct:.1f}"),
            ("F1", lambda r: f"{r.f1:.1f}"),
            ("first citation names the source %", lambda r: _opt(r.first_citation_pct)),
            ("abstains when it should %", lambda r: _opt(r.abstain_unanswerable_pct)),
            ("abstains on answerable %", lambda r: f"{r.abstain_answerable_pct:.1f}"),
            ("median latency ms", lambda r: f"{r.latency_median_ms:.0f}")]
    out.print(f"tenant {runs[0].tenant}")
    out.print(f"{'model':40}" + "".join(f"{r.model:>14}" for r in runs), markup=False)
    for label, cell in rows:
        out.print(f"{label:40}" + "".join(f"{cell(r):>14}" for r in runs), markup=False)
    for run in runs if per_question else []:
        out.print(f"\nmodel {run.model}:", markup=False)
        for row in run.rows:
            out.print(_question_line(row), markup=False, soft_wrap=True)


def _question_line(row: dict) -> str:
    """One scored question: right or wrong, the question, the answer and the file it cites first; a wrong
    one with what was expected (a gold answer, or that the documents do not hold one)."""
    cited = f"  [{plain(Path(row['cited'][0]).name)}]" if row["cited"] else ""
    answer = "(no answer)" if row["no_answer"] else " ".join(row["answer"].split())
    expected = ""
    if not row["right"]:
        expected = f"  (expected: {' | '.join(row['gold'])})" if row["gold"] else "  (expected: no answer)"
    return f"{'ok   ' if row['right'] else 'WRONG'} {row['question']} -> {answer}{cited}{expected}"


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
