"""Answer evaluation on a tenant's own labelled questions: `tenantctl eval TENANT --answers FILE`.

Every question is answered exactly as `tenantctl query` answers it (metered as an `eval` event: an
operator's evaluation is not the tenant's traffic, so its daily quotas neither refuse nor count it), then
scored (answering/scoring.py): correct (contains a gold answer, concise), token F1, whether the first
citation names the document the question came from (when the file says which), and abstention — on
questions whose gold list is empty (the documents do not hold the answer) and, as a failure, on the
others. With a model name the tenant's configured model is overridden, so an operator can score a
pilot model entry against the default on the same questions before switching the tenant to it.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from tenantctl.answering.scoring import LabelledQuestion, score
from tenantctl.config import Config
from tenantctl.errors import BadInput
from tenantctl.models.base import Generator
from tenantctl.retrieval.session import TenantSession


@dataclass
class AnswerEval:
    tenant: str
    model: str
    questions: int
    answerable: int
    unanswerable: int
    correct_pct: float
    contains_pct: float
    f1: float
    first_citation_pct: float | None  # None: the file names no source documents
    abstain_unanswerable_pct: float | None  # None: no unanswerable questions in the file
    abstain_answerable_pct: float
    latency_median_ms: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, include_rows: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not include_rows:
            data.pop("rows")
        return data


def _key(name: str) -> str:
    stem = re.split(r"[\\/]", name)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return re.sub(r"[\W_]+", " ", stem).strip().lower()


def _pct(values: list[bool]) -> float:
    return round(100 * sum(values) / len(values), 1) if values else 0.0


def compare_models(session: TenantSession, questions: list[LabelledQuestion], cfg: Config, model: str | None,
                   generator: Generator | None = None) -> tuple[list[AnswerEval], list[str]]:
    """Score the tenant's model and, given `model`, that pilot entry beside it; and notes for the
    operator. The pilot entry is checked (configured, its GGUF file there) before any question is
    asked; naming the tenant's own model scores it once."""
    from tenantctl.models.generation import check_model

    runs, notes = [], []
    if model and model not in cfg.models:  # the operator's argument, not the config, is wrong: a usage error
        raise BadInput(f"--model {model!r} is not a configured model",
                       f"name one of {', '.join(cfg.models)} (`models:` in config.yaml)")
    if model:
        name, mcfg = cfg.model(model)
        own = cfg.model(_tenant_model(session, cfg))[0]
        if name == own:
            notes.append(f"model {name!r} is already the model of tenant {session.tenant.id!r}: scored once")
            model = None
        else:
            check_model(name, mcfg)
    runs.append(evaluate_answers(session, questions, cfg, generator=generator))
    if model:
        runs.append(evaluate_answers(session, questions, cfg, model=model, generator=generator))
    return runs, notes


def evaluate_answers(session: TenantSession, questions: list[LabelledQuestion], cfg: Config,
                     model: str | None = None, generator: Generator | None = None) -> AnswerEval:
    """Answer and score every question in the session's tenant (with `model` instead of the tenant's;
    `generator` replaces the loaded model, for tests), each metered as an `eval` event."""
    from tenantctl.answering.answer import answer_question

    rows = []
    for q in questions:
        result = answer_question(session, q.question, cfg, model=model, generator=generator, operation="eval")
        row: dict[str, Any] = {"question": q.question, "gold": q.answers, "answer": result.answer,
                               "no_answer": result.no_answer, "ms": result.timings.get("total_ms", 0.0),
                               "cited": [s.path for s in result.sources], "model": result.model}
        if q.answers and not result.no_answer:
            row.update(score(result.answer, q.answers))
            if q.source:
                row["first_citation_right"] = bool(row["cited"]) and _key(row["cited"][0]) == _key(q.source)
        # right: answered correctly (a gold answer, concisely), or abstained when there is none
        row["right"] = bool(row.get("correct")) if q.answers else result.no_answer
        rows.append(row)
    return _summary(session.tenant.id, cfg.model(model or _tenant_model(session, cfg))[0], rows)


def _tenant_model(session: TenantSession, cfg: Config) -> str | None:
    from tenantctl.answering.answer import effective_settings

    return effective_settings(cfg, session.tenant.config.answer).model


def _summary(tenant: str, model: str, rows: list[dict[str, Any]]) -> AnswerEval:
    answerable = [r for r in rows if r["gold"]]
    unanswerable = [r for r in rows if not r["gold"]]
    cited = [r["first_citation_right"] for r in answerable if "first_citation_right" in r]
    return AnswerEval(
        tenant=tenant, model=model, questions=len(rows), answerable=len(answerable), unanswerable=len(unanswerable),
        correct_pct=_pct([bool(r.get("correct")) for r in answerable]),
        contains_pct=_pct([bool(r.get("contains")) for r in answerable]),
        f1=round(100 * statistics.mean(r.get("f1", 0.0) for r in answerable), 1) if answerable else 0.0,
        first_citation_pct=_pct(cited) if cited else None,
        abstain_unanswerable_pct=_pct([r["no_answer"] for r in unanswerable]) if unanswerable else None,
        abstain_answerable_pct=_pct([r["no_answer"] for r in answerable]),
        latency_median_ms=round(statistics.median(r["ms"] for r in rows), 1) if rows else 0.0,
        rows=rows,
    )
