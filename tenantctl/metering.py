"""Usage metering and quotas. Every ingest, search and question records one usage event in the
tenant's own store (operation, chunks embedded, tokens, milliseconds, outcome); quotas from
tenant.yaml are checked against the same records."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import logs
from .errors import Refused

if TYPE_CHECKING:
    from .store import Store
    from .tenants import Tenant


@dataclass
class UsageEvent:
    operation: str  # ingest | search | question
    chunks_embedded: int = 0
    documents: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)


def record(store: Store, event: UsageEvent, ms: float) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO usage (ts, operation, outcome, chunks_embedded, documents, prompt_tokens,"
            " completion_tokens, ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), event.operation, event.outcome, event.chunks_embedded, event.documents,
             event.prompt_tokens, event.completion_tokens, round(ms, 1)),
        )


@contextlib.contextmanager
def track(store: Store, operation: str) -> Iterator[UsageEvent]:
    """Record one usage event for the block, whatever its outcome, and log it."""
    event = UsageEvent(operation)
    started = time.perf_counter()
    try:
        yield event
    except Refused:
        event.outcome = "refused"
        raise
    except Exception as exc:
        event.outcome = f"error:{type(exc).__name__}"
        raise
    except BaseException:
        event.outcome = "interrupted"
        raise
    finally:
        ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(Exception):
            record(store, event, ms)
        logs.event(
            operation, level="info" if event.outcome == "ok" else "warning", outcome=event.outcome,
            ms=round(ms, 1), chunks_embedded=event.chunks_embedded, documents=event.documents,
            prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens, **event.details,
        )


def _day_start() -> float:
    now = time.gmtime()
    return time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, 0)) - time.timezone


def today(store: Store) -> dict[str, int]:
    questions, tokens = store.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage"
        " WHERE operation = 'question' AND outcome = 'ok' AND ts >= ?",
        (_day_start(),),
    ).fetchone()
    return {"questions": questions, "tokens": tokens}


def check_question_quota(tenant: Tenant, store: Store) -> None:
    quotas = tenant.config.quotas
    if quotas.questions_per_day is None and quotas.tokens_per_day is None:
        return
    used = today(store)
    if quotas.questions_per_day is not None and used["questions"] >= quotas.questions_per_day:
        raise Refused(
            f"tenant {tenant.id!r} reached its quota questions_per_day={quotas.questions_per_day}",
            "wait for the next UTC day, or raise `quotas.questions_per_day` in its tenant.yaml",
        )
    if quotas.tokens_per_day is not None and used["tokens"] >= quotas.tokens_per_day:
        raise Refused(
            f"tenant {tenant.id!r} reached its quota tokens_per_day={quotas.tokens_per_day}",
            "wait for the next UTC day, or raise `quotas.tokens_per_day` in its tenant.yaml",
        )


def check_storage_quota(tenant: Tenant, documents: int, size: int) -> None:
    """Refuse an ingest that would leave the tenant with more documents or bytes than its quotas."""
    quotas = tenant.config.quotas
    if quotas.documents is not None and documents > quotas.documents:
        raise Refused(
            f"ingest refused: tenant {tenant.id!r} would hold {documents} documents, over its quota "
            f"documents={quotas.documents}",
            "remove documents (ingest with --prune), or raise `quotas.documents` in its tenant.yaml",
        )
    if quotas.bytes is not None and size > quotas.bytes:
        raise Refused(
            f"ingest refused: tenant {tenant.id!r} would hold {size} bytes of documents, over its quota "
            f"bytes={quotas.bytes}",
            "remove documents (ingest with --prune), or raise `quotas.bytes` in its tenant.yaml",
        )


def report(
    tenant_ids: list[str], *, since: float | None = None, by: str | None = None
) -> list[dict[str, Any]]:
    """Usage totals per tenant, period (day or month, UTC; all time when `by` is None) and operation."""
    import sqlite3

    from . import paths

    fmt = {"day": "%Y-%m-%d", "month": "%Y-%m", None: None}[by]
    period = f"strftime('{fmt}', ts, 'unixepoch')" if fmt else "'all'"
    rows: list[dict[str, Any]] = []
    for tenant_id in tenant_ids:
        path = paths.tenant_dir(tenant_id) / "store.db"
        if not path.exists():
            continue
        # Read-only and without migrations: a report over thousands of tenants opens each store once.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            cursor = conn.execute(
                f"SELECT {period} AS period, operation, COUNT(*), SUM(outcome = 'ok' OR outcome = 'partial'),"
                " SUM(outcome = 'refused'), SUM(outcome LIKE 'error%'), SUM(chunks_embedded),"
                " SUM(prompt_tokens), SUM(completion_tokens), ROUND(SUM(ms), 1)"
                " FROM usage WHERE ts >= ? GROUP BY period, operation ORDER BY period, operation",
                (since or 0.0,),
            )
            for r in cursor:
                rows.append({
                    "tenant": tenant_id, "period": r[0], "operation": r[1], "events": r[2], "ok": r[3],
                    "refused": r[4], "errors": r[5], "chunks_embedded": r[6], "prompt_tokens": r[7],
                    "completion_tokens": r[8], "ms": r[9],
                })
        except sqlite3.OperationalError:  # a store from before metering has no usage table yet
            pass
        finally:
            conn.close()
    return rows


def quota_status(tenant: Tenant) -> dict[str, dict[str, int | None]]:
    """How close a tenant is to each quota: used and limit (None = unlimited). Read-only and cheap,
    so `usage` stays fast over thousands of tenants."""
    import sqlite3

    quotas = tenant.config.quotas
    conn = sqlite3.connect(f"file:{tenant.dir / 'store.db'}?mode=ro", uri=True, timeout=30)
    try:
        documents, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM documents").fetchone()
        try:
            questions, tokens = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage"
                " WHERE operation = 'question' AND outcome = 'ok' AND ts >= ?", (_day_start(),)
            ).fetchone()
        except sqlite3.OperationalError:  # a store from before metering
            questions, tokens = 0, 0
    finally:
        conn.close()
    return {
        "documents": {"used": documents, "limit": quotas.documents},
        "bytes": {"used": size, "limit": quotas.bytes},
        "questions_per_day": {"used": questions, "limit": quotas.questions_per_day},
        "tokens_per_day": {"used": tokens, "limit": quotas.tokens_per_day},
    }
