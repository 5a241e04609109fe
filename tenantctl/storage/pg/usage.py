"""A tenant's usage report in PostgreSQL: the same totals as the local store's, summed by the database
in the tenant's row-security-scoped transaction."""

from __future__ import annotations

from tenantctl.storage.pg.store import PgStore

_PERIOD = {
    "day": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "month": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM')",
    None: "'all'",
}


def usage_summary(store: PgStore, by: str | None, since: float,
                  day_start: float | None) -> tuple[list[tuple], tuple | None]:
    """Rows (period, operation, events, ok, refused, errors, chunks embedded, prompt tokens, completion
    tokens, ms) and, given `day_start`, (questions and tokens since then, documents, bytes), as
    `metering` reports them."""
    s = store.s
    with store.transaction() as conn:
        rows = conn.execute(
            f"SELECT {_PERIOD[by]} AS period, operation, count(*),"
            " count(*) FILTER (WHERE outcome IN ('ok', 'partial')), count(*) FILTER (WHERE outcome = 'refused'),"
            " count(*) FILTER (WHERE outcome NOT IN ('ok', 'partial', 'refused')), sum(chunks_embedded),"
            f" sum(prompt_tokens), sum(completion_tokens), round(sum(ms)::numeric, 1) FROM {s}.usage WHERE ts >= %s"
            " AND outcome <> 'pending' GROUP BY 1, 2 ORDER BY 1, 2", (since,),  # a question under way: no event yet
        ).fetchall()
        documents, size = (conn.execute(f"SELECT count(*), COALESCE(sum(bytes), 0) FROM {s}.documents").fetchone()
                           if day_start is not None else (0, 0))
    rows = [(r[0], r[1], *(int(v) for v in r[2:9]), float(r[9])) for r in rows]
    if day_start is None:
        return rows, None
    questions, tokens = store.questions_since(day_start)
    return rows, (questions, tokens, int(documents), int(size))
