"""Repairing a local store in bulk (`repair`): the full-text table checked against the chunks and
refilled from them, every chunk's vector replaced at once (`repair --reembed`). The SQL of what
operations/integrity.py decides; a tenant in PostgreSQL has storage/pg/maintenance.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tenantctl import textproc
from tenantctl.errors import IndexCorrupt

if TYPE_CHECKING:
    from tenantctl.storage.store import Store

ChunkText = tuple[int, str, str]  # a chunk's id, heading and text


def fts_faults(conn: sqlite3.Connection, chunk_count: int) -> list[tuple[str, str]]:
    """What is wrong with the full-text table `chunks_fts` compared with `chunks` (read-only)."""
    try:
        fts_count = conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        if fts_count != chunk_count:
            return [("fts-count", f"full-text index holds {fts_count} rows for {chunk_count} chunks")]
        mismatched = 0
        rows = conn.execute(
            "SELECT c.heading, c.text, f.body FROM chunks c LEFT JOIN chunks_fts f ON f.rowid = c.id"
        )
        for heading, text, body in rows:
            if body != textproc.fts_body(heading, text):
                mismatched += 1
        if mismatched:
            return [("fts-content", f"full-text index is out of step with {mismatched} of {chunk_count} chunks")]
    except sqlite3.DatabaseError as exc:
        return [("fts-corrupt", f"full-text index cannot be read ({exc})")]
    return []


def fts_check_fails(store: Store) -> str | None:
    """Why the full-text table fails FTS5's own integrity check, or None when it passes."""
    try:
        store.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as exc:
        return f"full-text index fails FTS5's integrity check ({exc})"
    return None


def refill_fts(store: Store) -> int:
    """Refill the full-text table from the chunks in one transaction; returns the chunks."""
    with store.transaction():
        store.conn.execute("DELETE FROM chunks_fts")
        rows = store.conn.execute("SELECT id, heading, text FROM chunks ORDER BY id").fetchall()
        store.conn.executemany(
            "INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)",
            [(cid, textproc.fts_body(heading, text)) for cid, heading, text in rows],
        )
        store.bump_generation()
    return len(rows)


@contextmanager
def _temp_vectors(store: Store) -> Iterator[None]:
    store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS reembed (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    store.conn.execute("DELETE FROM temp.reembed")
    try:
        yield
    finally:
        store.conn.execute("DROP TABLE IF EXISTS temp.reembed")


def replace_vectors(store: Store, encode: Callable[[list[ChunkText]], list[bytes]], *, batch: int,
                    meta: dict[str, str]) -> int:
    """Every chunk's vector replaced by `encode` of its id, heading and text (`batch` chunks a call),
    then all of them swapped in with the `meta` entries in one short transaction. The new vectors wait
    in a temporary table meanwhile, so the store is never half re-embedded and other writers (chat
    sessions, usage) are not held up for the long part. Call under the tenant's write lock; returns
    the chunks."""
    count = 0
    with _temp_vectors(store):
        for rows in store.chunk_pages("heading, text", batch):
            store.conn.executemany("INSERT INTO temp.reembed (id, vector) VALUES (?, ?)",
                                   zip([cid for cid, _, _ in rows], encode(rows), strict=True))
            count += len(rows)
        with store.transaction():
            # The caller holds the write lock, so no chunk came or went since the reads above; check anyway.
            missing = store.conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT id FROM temp.reembed)"
            ).fetchone()[0]
            if missing:
                raise IndexCorrupt(f"{missing} chunks changed during re-embedding", "run the repair again")
            store.conn.execute(
                "UPDATE chunks SET vector = (SELECT r.vector FROM temp.reembed r WHERE r.id = chunks.id)"
            )
            for key, value in meta.items():
                store.set_meta(key, value)
            store.bump_generation()
    return count
