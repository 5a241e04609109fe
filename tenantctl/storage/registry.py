"""The registry of tenants: one small SQLite table in the home (local mode), or the `tenants` table in
PostgreSQL shared by every node (cluster mode, `tenantctl.storage.pg.control`). Listing tenants reads
only this."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from tenantctl import paths
from tenantctl.fileio import iso_utc
from tenantctl.storage.records import TenantRecord

if TYPE_CHECKING:
    from tenantctl.storage.pg.control import PgRegistry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    display_name TEXT
)
"""


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


class SqliteRegistry:
    """The registry of a home in local mode: registry.db."""

    def add(self, record: TenantRecord) -> None:
        with closing(connect()) as conn:
            conn.execute(
                "INSERT INTO tenants (id, status, created_at, display_name) VALUES (?, ?, ?, ?)",
                (record.id, record.status, record.created_at, record.display_name),
            )

    def get(self, tenant_id: str) -> TenantRecord | None:
        if not paths.registry_file().exists():
            return None
        with closing(connect()) as conn:
            row = conn.execute(
                "SELECT id, status, created_at, display_name FROM tenants WHERE id = ?", (tenant_id,)
            ).fetchone()
        return TenantRecord(*row) if row else None

    def all_tenants(self) -> list[TenantRecord]:
        if not paths.registry_file().exists():
            return []
        with closing(connect()) as conn:
            rows = conn.execute("SELECT id, status, created_at, display_name FROM tenants ORDER BY id").fetchall()
        return [TenantRecord(*row) for row in rows]

    def set_status(self, tenant_id: str, status: str) -> None:
        with closing(connect()) as conn:
            conn.execute("UPDATE tenants SET status = ? WHERE id = ?", (status, tenant_id))

    def remove(self, tenant_id: str) -> None:
        with closing(connect()) as conn:
            conn.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))

    def publish(self, tenant_id: str, folder: Path, store: str, expected: int | None = None) -> int | None:
        return None  # a local home's tenant.yaml is the settings

    def materialise(self, record: TenantRecord, folder: Path) -> None:
        return None


def backend() -> SqliteRegistry | PgRegistry:
    """registry.db in local mode; the `tenants` table in PostgreSQL in cluster mode."""
    from tenantctl.storage import cluster

    pg = cluster.postgres()
    if pg is None:
        return SqliteRegistry()
    from tenantctl.storage.pg.control import PgRegistry

    return PgRegistry(pg)


def add(
    tenant_id: str, display_name: str | None = None, created_at: str | None = None, status: str = "active",
    store: str = "local",
) -> TenantRecord:
    record = TenantRecord(tenant_id, status, created_at or iso_utc(), display_name, store)
    backend().add(record)
    return record


def get(tenant_id: str) -> TenantRecord | None:
    return backend().get(tenant_id)


def all_tenants() -> list[TenantRecord]:
    return backend().all_tenants()


def set_status(tenant_id: str, status: str) -> None:
    backend().set_status(tenant_id, status)


def remove(tenant_id: str) -> None:
    backend().remove(tenant_id)


def publish_settings(tenant_id: str, folder: Path, store: str) -> None:
    """After tenantctl rewrote a tenant's tenant.yaml: in cluster mode, make it the settings every node
    reads (and record the tenant's placement)."""
    backend().publish(tenant_id, folder, store)


def materialise(record: TenantRecord, folder: Path) -> None:
    """In cluster mode, bring this node's cached folder of a pooled tenant in step with PostgreSQL."""
    backend().materialise(record, folder)
