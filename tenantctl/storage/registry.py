"""The registry of tenants: one small SQLite table in the home (local mode), or the `tenants` table in
PostgreSQL shared by every node (cluster mode, `tenantctl.storage.pg.control`). Listing tenants reads
only this."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
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
    conn.execute("PRAGMA secure_delete=ON")  # a deleted tenant's rows are overwritten, not left in free space
    conn.execute(schema)
    return conn


_local = threading.local()
_kept: list[sqlite3.Connection] = []
_kept_lock = threading.Lock()
_keepers = 0  # servers running in this process (see `kept_connections`)
_epoch = 0  # moves when the kept connections are closed


@contextlib.contextmanager
def kept_connections() -> Iterator[None]:
    """While a server runs: each thread keeps its connection to registry.db open between the lookups
    made on every request (a key's hash, a tenant's record), since opening one costs ten times the
    query. At the end every kept connection is closed (a CLI process keeps none open)."""
    global _keepers, _epoch
    with _kept_lock:
        _keepers += 1
    try:
        yield
    finally:
        with _kept_lock:
            _keepers -= 1
            if _keepers == 0:
                _epoch += 1
                for conn in _kept:
                    conn.close()
                _kept.clear()


@contextlib.contextmanager
def reading(schema: str = _SCHEMA) -> Iterator[sqlite3.Connection]:
    """A connection for reads: a new one, closed after; or, while a server runs, this thread's kept one.
    In autocommit mode each read sees the latest commit of any process. A kept connection is opened
    again when registry.db is another file (a new home, a restore: device, inode or change time)."""
    if not _keepers:
        with closing(connect(schema)) as conn:
            yield conn
        return
    path = paths.registry_file()
    if not path.exists():
        connect(schema).close()  # as `connect` would: create it
    st = os.stat(path)
    ident = (str(path), st.st_dev, st.st_ino, st.st_ctime_ns, _epoch)
    held = getattr(_local, "held", None)
    if held is None or held[0] != ident:
        conn = connect(schema)
        with _kept_lock:
            if held is not None:
                held[1].close()  # a file replaced meanwhile (closing a closed one does nothing)
                with contextlib.suppress(ValueError):
                    _kept.remove(held[1])
            _kept.append(conn)
        held = (ident, conn, {schema})
        _local.held = held
    elif schema not in held[2]:
        held[1].execute(schema)
        held[2].add(schema)
    yield held[1]


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
        with reading() as conn:
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


def scrub() -> None:
    """After a tenant's rows were deleted: registry.db-wal still holds their earlier copies (its display
    name, its keys' labels and hashes) while any process (a running `serve`) has the registry open. The
    WAL is written back and emptied."""
    if isinstance(backend(), SqliteRegistry) and paths.registry_file().exists():
        with closing(connect()) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def publish_settings(tenant_id: str, folder: Path, store: str) -> None:
    """After tenantctl rewrote a tenant's tenant.yaml: in cluster mode, make it the settings every node
    reads (and record the tenant's placement)."""
    backend().publish(tenant_id, folder, store)


def materialise(record: TenantRecord, folder: Path) -> None:
    """In cluster mode, bring this node's cached folder of a pooled tenant in step with PostgreSQL."""
    backend().materialise(record, folder)
