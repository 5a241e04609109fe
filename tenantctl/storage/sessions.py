"""Chat sessions, kept with the tenant's own data: in its SQLite store, or (a pooled tenant) in the
PostgreSQL tables `sessions` and `messages` under row-level security. Either way a session id from
another tenant is simply not there."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from tenantctl.errors import SessionNotFound
from tenantctl.fileio import iso_utc
from tenantctl.storage.store import Store

if TYPE_CHECKING:
    from tenantctl.storage.pg.sessions import PgSessions


class SqliteSessions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, session_id: str, now: float, title: str) -> None:
        with self.store.transaction():
            self.store.conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, now, now, title))

    def exists(self, session_id: str) -> bool:
        return self.store.conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is not None

    def history(self, session_id: str) -> list[tuple[str, str]]:
        rows = self.store.conn.execute(
            "SELECT question, answer FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
        )
        return [(q, a) for q, a in rows]

    def add(self, session_id: str, question: str, answer: str, sources: str, now: float) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO messages (session_id, question, answer, sources, created_at) VALUES (?, ?, ?, ?, ?)",
                (session_id, question, answer, sources, now),
            )
            self.store.conn.execute(
                "UPDATE sessions SET updated_at = ?, title = CASE title WHEN '' THEN ? ELSE title END WHERE id = ?",
                (now, question[:80], session_id),
            )

    def listing(self) -> list[tuple]:
        return self.store.conn.execute(
            "SELECT s.id, s.title, s.created_at, s.updated_at, COUNT(m.id) FROM sessions s"
            " LEFT JOIN messages m ON m.session_id = s.id GROUP BY s.id ORDER BY s.updated_at DESC"
        ).fetchall()

    def rows(self) -> tuple[list[tuple], list[tuple]]:
        """Every session and message, as `put_rows` takes them (for moving a tenant)."""
        sessions = self.store.conn.execute("SELECT id, created_at, updated_at, title FROM sessions ORDER BY id")
        messages = self.store.conn.execute(
            "SELECT session_id, question, answer, sources, created_at FROM messages ORDER BY id")
        return sessions.fetchall(), messages.fetchall()

    def put_rows(self, sessions: list[tuple], messages: list[tuple]) -> None:
        with self.store.transaction():
            self.store.conn.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?)", sessions)
            self.store.conn.executemany(
                "INSERT INTO messages (session_id, question, answer, sources, created_at) VALUES (?, ?, ?, ?, ?)",
                messages)


def _backend(store) -> SqliteSessions | PgSessions:
    if isinstance(store, Store):
        return SqliteSessions(store)
    from tenantctl.storage.pg.sessions import PgSessions

    return PgSessions(store)


def new_id() -> str:
    return secrets.token_hex(6)


def create(store, title: str = "", session_id: str | None = None) -> str:
    session_id = session_id or new_id()
    _backend(store).insert(session_id, time.time(), title[:80])
    return session_id


def require(store, tenant_id: str, session_id: str) -> None:
    if not _backend(store).exists(session_id):
        # A request's id is echoed cut short: 5,000 characters in the URL came back whole in the error.
        shown = session_id if len(session_id) <= 40 else f"{session_id[:37]}..."
        raise SessionNotFound(
            f"session {shown!r} does not belong to tenant {tenant_id!r}",
            f"list this tenant's sessions with `tenantctl chat {tenant_id} --list`",
        )


def history(store, session_id: str) -> list[tuple[str, str]]:
    return _backend(store).history(session_id)


def add(store, session_id: str, question: str, answer) -> None:
    sources = json.dumps([asdict(s) for s in answer.sources], ensure_ascii=False)
    _backend(store).add(session_id, question, answer.answer, sources, time.time())


def listing(store) -> list[dict]:
    return [
        {"id": r[0], "title": r[1], "created_at": iso_utc(r[2]), "updated_at": iso_utc(r[3]), "messages": r[4]}
        for r in _backend(store).listing()
    ]


def copy_all(src, dst) -> int:
    """Copy every chat session and message of store `src` into store `dst` (which has none). Returns
    the messages copied."""
    sessions, messages = _backend(src).rows()
    if sessions:
        _backend(dst).put_rows(sessions, messages)
    return len(messages)


def count(store) -> tuple[int, int]:
    """Sessions and messages held."""
    sessions, messages = _backend(store).rows()
    return len(sessions), len(messages)
