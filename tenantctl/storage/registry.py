"""The registry of tenants: one small SQLite table in the home. Listing tenants reads only this."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from tenantctl import paths
from tenantctl.fileio import iso_utc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    display_name TEXT
)
"""


@dataclass(frozen=True)
class TenantRecord:
    id: str
    status: str
    created_at: str
    display_name: str | None


def connect(schema: str = _SCHEMA) -> sqlite3.Connection:
    """The home's registry database (WAL), with `schema` (a CREATE ... IF NOT EXISTS) applied."""
    paths.private_dir(paths.home())
    new = not paths.registry_file().exists()
    conn = sqlite3.connect(paths.registry_file(), timeout=30, isolation_level=None, check_same_thread=False)
    if new:
        os.chmod(paths.registry_file(), 0o600)  # the -wal and -shm files get the same mode
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(schema)
    return conn



def add(
    tenant_id: str, display_name: str | None = None, created_at: str | None = None, status: str = "active"
) -> TenantRecord:
    record = TenantRecord(tenant_id, status, created_at or iso_utc(), display_name)
    with closing(connect()) as conn:
        conn.execute(
            "INSERT INTO tenants (id, status, created_at, display_name) VALUES (?, ?, ?, ?)",
            (record.id, record.status, record.created_at, record.display_name),
        )
    return record


def get(tenant_id: str) -> TenantRecord | None:
    if not paths.registry_file().exists():
        return None
    with closing(connect()) as conn:
        row = conn.execute(
            "SELECT id, status, created_at, display_name FROM tenants WHERE id = ?", (tenant_id,)
        ).fetchone()
    return TenantRecord(*row) if row else None


def all_tenants() -> list[TenantRecord]:
    if not paths.registry_file().exists():
        return []
    with closing(connect()) as conn:
        rows = conn.execute("SELECT id, status, created_at, display_name FROM tenants ORDER BY id").fetchall()
    return [TenantRecord(*row) for row in rows]


def set_status(tenant_id: str, status: str) -> None:
    with closing(connect()) as conn:
        conn.execute("UPDATE tenants SET status = ? WHERE id = ?", (status, tenant_id))


def remove(tenant_id: str) -> None:
    with closing(connect()) as conn:
        conn.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
