"""Usage metering and quotas. Every ingest, search and question records one usage event in the
tenant's own store (operation, chunks embedded, tokens, milliseconds, outcome); quotas from
tenant.yaml are checked against the same records."""

from __future__ import annotations

import calendar
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenantctl import logs
from tenantctl.errors import Refused

if TYPE_CHECKING:
    from tenantctl.storage.store import Store
    from tenantctl.storage.tenants import BrokenTenant, Tenant


@dataclass
class UsageEvent:
    operation: str  # ingest | search | question | eval | tool
    chunks_embedded: int = 0
    documents: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)
    claim: int | None = None  # the usage row a question's admission claimed (`check_question_quota`)


def record(store: Store, event: UsageEvent, ms: float) -> None:
    row = (time.time(), event.operation, event.outcome, event.chunks_embedded, event.documents,
           event.prompt_tokens, event.completion_tokens, round(ms, 1))
    if event.claim is not None:
        store.settle_usage(event.claim, row)
    else:
        store.record_usage([row])


@contextlib.contextmanager
def track(store: Store, operation: str) -> Iterator[UsageEvent]:
    """Record one usage event for the block, whatever its outcome, and log it. A usage row that cannot be
    written (a read-only or full tenant folder) fails nothing, but its log line says so (`usage_not_recorded`):
    a search or question answered so was missing from `usage` without a trace."""
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
        unrecorded = None
        try:
            record(store, event, ms)
        except Exception as exc:  # the operation's outcome stands; its usage row is missing from the bill
            unrecorded = f"{type(exc).__name__}: {exc}"
        logs.event(
            operation, level="info" if event.outcome == "ok" and not unrecorded else "warning", outcome=event.outcome,
            ms=round(ms, 1), chunks_embedded=event.chunks_embedded, documents=event.documents,
            prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens, **event.details,
            **({"usage_not_recorded": unrecorded} if unrecorded else {}),
        )


def _day_start() -> float:
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0)))


def today(store: Store) -> dict[str, int]:
    questions, tokens = store.questions_since(_day_start())
    return {"questions": questions, "tokens": tokens}


def check_question_quota(tenant: Tenant, store: Store) -> int | None:
    """Refuse a question over the tenant's daily quotas. Under `questions_per_day` the question is
    claimed (a `pending` usage row, counted with the day's answered ones) in the transaction that counts
    them, so concurrent processes never answer more than the quota: returns the claim for `record`."""
    quotas = tenant.config.quotas
    if quotas.questions_per_day is None and quotas.tokens_per_day is None:
        return None
    if quotas.tokens_per_day is not None and today(store)["tokens"] >= quotas.tokens_per_day:
        raise Refused(
            f"tenant {tenant.id!r} reached its quota tokens_per_day={quotas.tokens_per_day}",
            "wait for the next UTC day, or raise `quotas.tokens_per_day` in its tenant.yaml",
        )
    if quotas.questions_per_day is None:
        return None
    claim = store.claim_question(_day_start(), quotas.questions_per_day)
    if claim is None:
        raise Refused(
            f"tenant {tenant.id!r} reached its quota questions_per_day={quotas.questions_per_day}",
            "wait for the next UTC day, or raise `quotas.questions_per_day` in its tenant.yaml",
        )
    return claim


def check_storage_quota(tenant: Tenant, documents: int, size: int, before: tuple[int, int] = (0, 0)) -> None:
    """Refuse an ingest that would leave the tenant with more documents or bytes than its quotas, and more than
    it holds now (`before`: its documents and bytes). One that adds nothing, or removes (`--prune`), runs: with a
    quota lowered below what the tenant holds, every ingest was refused, the prune its hint advised and the
    nightly reindex that changed nothing too."""
    quotas = tenant.config.quotas
    if quotas.documents is not None and documents > quotas.documents and documents > before[0]:
        raise Refused(
            f"ingest refused: tenant {tenant.id!r} would hold {documents} documents, over its quota "
            f"documents={quotas.documents}",
            "remove documents (ingest with --prune), or raise `quotas.documents` in its tenant.yaml",
        )
    if quotas.bytes is not None and size > quotas.bytes and size > before[1]:
        raise Refused(
            f"ingest refused: tenant {tenant.id!r} would hold {size} bytes of documents, over its quota "
            f"bytes={quotas.bytes}",
            "remove documents (ingest with --prune), or raise `quotas.bytes` in its tenant.yaml",
        )


def _local_summary(tenant: Tenant, by: str | None, since: float,
                   day_start: float | None) -> tuple[list[tuple], tuple | None]:
    """A local tenant's usage rows (period, operation, events, ok, refused, errors — failed or interrupted,
    so the three add up to the events —, chunks embedded,
    prompt and completion tokens, ms) and, given `day_start`, its (questions, tokens) since then and
    (documents, bytes) for its quotas (None without: a report without quotas reads only the usage)."""
    import sqlite3

    fmt = {"day": "%Y-%m-%d", "month": "%Y-%m", None: None}[by]
    period = f"strftime('{fmt}', ts, 'unixepoch')" if fmt else "'all'"
    with tenant.open_store(readonly=True) as store:
        conn = store.conn
        try:
            rows = conn.execute(
                f"SELECT {period} AS period, operation, COUNT(*), SUM(outcome IN ('ok', 'partial')),"
                " SUM(outcome = 'refused'), SUM(outcome NOT IN ('ok', 'partial', 'refused')), SUM(chunks_embedded),"
                " SUM(prompt_tokens), SUM(completion_tokens), ROUND(SUM(ms), 1)"
                " FROM usage WHERE ts >= ? AND outcome != 'pending'"  # a question under way: no event yet
                " GROUP BY period, operation ORDER BY period, operation",
                (since,),
            ).fetchall()
            today = store.questions_since(day_start) if day_start is not None else None
        except sqlite3.OperationalError:  # a store from before metering has no usage table yet
            rows, today = [], (0, 0)
        if day_start is None:
            return rows, None
        documents, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM documents").fetchone()
    return rows, (*today, documents, size)


def _summary(tenant: Tenant, by: str | None, since: float,
             day_start: float | None) -> tuple[list[tuple], tuple | None] | None:
    if tenant.pooled:
        from tenantctl.storage.pg.usage import usage_summary

        with tenant.open_store() as store:
            return usage_summary(store, by, since, day_start)
    if not tenant.store_path.exists():
        return None
    return _local_summary(tenant, by, since, day_start)


def report(
    tenants: list[Tenant], *, since: float | None = None, by: str | None = None, quotas: bool = False,
    broken: list[BrokenTenant] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, int | None]]]]:
    """Usage totals per tenant, period (day or month, UTC; all time when `by` is None) and operation,
    and, with `quotas`, how close each tenant is to its quotas. Each store is opened once, read-only
    and without migrations, so a report over thousands of tenants stays quick; a pooled tenant's usage
    is summed by PostgreSQL. Given `broken`, a tenant whose store cannot be read is added to it and the
    report covers the others (one damaged store failed every tenant's bill)."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from tenantctl.errors import TenantctlError, from_system_error
    from tenantctl.storage.tenants import BrokenTenant

    rows: list[dict[str, Any]] = []
    status: dict[str, dict[str, dict[str, int | None]]] = {}
    day_start = _day_start()

    def one(tenant: Tenant) -> None:
        try:
            with tenant.as_current():  # a pooled tenant's rows are read in its own context
                found = _summary(tenant, by, since or 0.0, day_start if quotas else None)
        except (TenantctlError, sqlite3.DatabaseError) as exc:
            if broken is None:
                raise
            error = exc if isinstance(exc, TenantctlError) else from_system_error(exc, tenant=tenant.id)
            broken.append(BrokenTenant(tenant.id, tenant.dir, error))
            return
        if found is None:
            return
        for r in found[0]:
            rows.append({
                "tenant": tenant.id, "period": r[0], "operation": r[1], "events": r[2], "ok": r[3],
                "refused": r[4], "errors": r[5], "chunks_embedded": r[6], "prompt_tokens": r[7],
                "completion_tokens": r[8], "ms": r[9],
            })
        if quotas:
            questions, tokens, documents, size = found[1]
            limits = tenant.config.quotas
            status[tenant.id] = {
                "documents": {"used": documents, "limit": limits.documents},
                "bytes": {"used": size, "limit": limits.bytes},
                "questions_per_day": {"used": questions, "limit": limits.questions_per_day},
                "tokens_per_day": {"used": tokens, "limit": limits.tokens_per_day},
            }

    # SQLite releases the GIL while it reads: a few threads overlap the many small file opens.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, tenants))
    rows.sort(key=lambda r: (r["tenant"], r["period"], r["operation"]))
    return rows, {t.id: status[t.id] for t in tenants if t.id in status}


def parse_since(value: str | None) -> float | None:
    """`--since` / `?since=`: a UTC date (YYYY-MM-DD) as a Unix time, or None."""
    from datetime import UTC, datetime

    from tenantctl.errors import BadInput

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise BadInput(f"invalid date {value!r}", "use YYYY-MM-DD (UTC), e.g. 2026-11-01") from None
