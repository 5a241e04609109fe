"""A pooled tenant's chat sessions in PostgreSQL (`sessions`, `messages`), behind row-level security:
the same interface as `tenantctl.storage.sessions.SqliteSessions`. Every statement runs in the store's
tenant-scoped transaction and names no tenant but in the rows it inserts."""

from __future__ import annotations

from tenantctl.storage.pg.store import PgStore


class PgSessions:
    def __init__(self, store: PgStore) -> None:
        self.store = store

    def insert(self, session_id: str, now: float, title: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(f"INSERT INTO {self.store.s}.sessions (tenant_id, id, created_at, updated_at, title)"
                         " VALUES (%s, %s, %s, %s, %s)", (self.store.tenant_id, session_id, now, now, title))

    def exists(self, session_id: str) -> bool:
        with self.store.transaction() as conn:
            found = conn.execute(f"SELECT 1 FROM {self.store.s}.sessions WHERE id = %s", (session_id,)).fetchone()
        return found is not None

    def history(self, session_id: str) -> list[tuple[str, str]]:
        with self.store.transaction() as conn:
            rows = conn.execute(f"SELECT question, answer FROM {self.store.s}.messages WHERE session_id = %s"
                                " ORDER BY id", (session_id,)).fetchall()
        return [(q, a) for q, a in rows]

    def add(self, session_id: str, question: str, answer: str, sources: str, now: float) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO {self.store.s}.messages (tenant_id, session_id, question, answer, sources, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)", (self.store.tenant_id, session_id, question, answer, sources, now))
            conn.execute(
                f"UPDATE {self.store.s}.sessions SET updated_at = %s,"
                " title = CASE title WHEN '' THEN %s ELSE title END WHERE id = %s", (now, question[:80], session_id))

    def listing(self) -> list[tuple]:
        with self.store.transaction() as conn:
            return conn.execute(
                f"SELECT s.id, s.title, s.created_at, s.updated_at, count(m.id) FROM {self.store.s}.sessions s"
                f" LEFT JOIN {self.store.s}.messages m ON m.session_id = s.id AND m.tenant_id = s.tenant_id"
                " GROUP BY s.tenant_id, s.id ORDER BY s.updated_at DESC"
            ).fetchall()

    def rows(self) -> tuple[list[tuple], list[tuple]]:
        """Every session and message, as `put_rows` takes them (for moving and exporting a tenant)."""
        with self.store.transaction() as conn:
            sessions = conn.execute(
                f"SELECT id, created_at, updated_at, title FROM {self.store.s}.sessions ORDER BY id").fetchall()
            messages = conn.execute(f"SELECT session_id, question, answer, sources, created_at"
                                    f" FROM {self.store.s}.messages ORDER BY id").fetchall()
        return sessions, messages

    def put_rows(self, sessions: list[tuple], messages: list[tuple]) -> None:
        tenant = self.store.tenant_id
        with self.store.transaction() as conn, conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.store.s}.sessions (tenant_id, id, created_at, updated_at, title)"
                            " VALUES (%s, %s, %s, %s, %s)", [(tenant, *r) for r in sessions])
            cur.executemany(f"INSERT INTO {self.store.s}.messages (tenant_id, session_id, question, answer, sources,"
                            " created_at) VALUES (%s, %s, %s, %s, %s, %s)", [(tenant, *r) for r in messages])
