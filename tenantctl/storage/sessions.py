"""Chat sessions, kept in the tenant's own store: a session id from another tenant is simply not there."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict

from tenantctl.errors import SessionNotFound
from tenantctl.fileio import iso_utc
from tenantctl.storage.store import Store


def _local(store: Store) -> None:
    if not isinstance(store, Store):
        from tenantctl.errors import NotInPool

        raise NotInPool("chat sessions of a tenant in the PostgreSQL pool are not available yet",
                        "use `query` (one question at a time), or a local tenant for chat")


def create(store: Store, title: str = "") -> str:
    _local(store)
    session_id = secrets.token_hex(6)
    now = time.time()
    with store.transaction():
        store.conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, now, now, title[:80]))
    return session_id


def require(store: Store, tenant_id: str, session_id: str) -> None:
    _local(store)
    row = store.conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise SessionNotFound(
            f"session {session_id!r} does not belong to tenant {tenant_id!r}",
            f"list this tenant's sessions with `tenantctl chat {tenant_id} --list`",
        )


def history(store: Store, session_id: str) -> list[tuple[str, str]]:
    _local(store)
    rows = store.conn.execute(
        "SELECT question, answer FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
    )
    return [(q, a) for q, a in rows]


def add(store: Store, session_id: str, question: str, answer) -> None:
    _local(store)
    now = time.time()
    sources = json.dumps([asdict(s) for s in answer.sources], ensure_ascii=False)
    with store.transaction():
        store.conn.execute(
            "INSERT INTO messages (session_id, question, answer, sources, created_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, question, answer.answer, sources, now),
        )
        store.conn.execute(
            "UPDATE sessions SET updated_at = ?, title = CASE title WHEN '' THEN ? ELSE title END WHERE id = ?",
            (now, question[:80], session_id),
        )


def listing(store: Store) -> list[dict]:
    _local(store)
    rows = store.conn.execute(
        "SELECT s.id, s.title, s.created_at, s.updated_at, COUNT(m.id) FROM sessions s"
        " LEFT JOIN messages m ON m.session_id = s.id GROUP BY s.id ORDER BY s.updated_at DESC"
    )
    return [
        {"id": r[0], "title": r[1], "created_at": iso_utc(r[2]), "updated_at": iso_utc(r[3]), "messages": r[4]}
        for r in rows
    ]

