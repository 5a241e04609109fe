"""API keys for `tenantctl serve`. A key belongs to one tenant (or is an admin key); only its SHA-256
is stored, in the home's registry.db (local mode) or PostgreSQL's `api_keys` (cluster mode). The tenant
of a request is taken from its key alone."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

from tenantctl import logs, paths
from tenantctl.errors import KeyNotFound
from tenantctl.fileio import iso_utc
from tenantctl.storage import registry
from tenantctl.storage.records import ApiKey

if TYPE_CHECKING:
    from tenantctl.storage.pg.control import PgKeys

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT,
    admin INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


def _connect() -> sqlite3.Connection:
    return registry.connect(_SCHEMA)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


_COLUMNS = "id, tenant, admin, name, created_at, revoked_at"


def _key(r: tuple) -> ApiKey:
    return ApiKey(r[0], r[1], bool(r[2]), r[3], r[4], r[5])


class SqliteKeys:
    """API keys of a home in local mode, in registry.db."""

    def insert(self, key: ApiKey, key_hash: str) -> None:
        with closing(_connect()) as conn:
            conn.execute(
                "INSERT INTO api_keys (id, tenant, admin, hash, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, key.tenant, int(key.admin), key_hash, key.name, key.created_at),
            )

    def listing(self, tenant_id: str | None = None) -> list[ApiKey]:
        with closing(_connect()) as conn:
            sql = f"SELECT {_COLUMNS} FROM api_keys"
            if tenant_id:
                rows = conn.execute(sql + " WHERE tenant = ? ORDER BY created_at", (tenant_id,)).fetchall()
            else:
                rows = conn.execute(sql + " ORDER BY created_at").fetchall()
        return [_key(r) for r in rows]

    def tenant_of(self, key_id: str) -> tuple[bool, str | None]:
        with closing(_connect()) as conn:
            row = conn.execute("SELECT tenant FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return (row is not None, row[0] if row else None)

    def set_revoked(self, key_id: str, when: str) -> None:
        with closing(_connect()) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (when, key_id))

    def by_hash(self, key_hash: str) -> ApiKey | None:
        with registry.reading(_SCHEMA) as conn:  # on every request: a server keeps it open
            row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE hash = ?", (key_hash,)).fetchone()
        return _key(row) if row else None

    def delete_for_tenant(self, tenant_id: str) -> None:
        with closing(_connect()) as conn:
            conn.execute("DELETE FROM api_keys WHERE tenant = ?", (tenant_id,))

    def with_hashes(self) -> list[tuple[ApiKey, str]]:
        """Every key with its hash (for `init` moving a home's keys into cluster mode)."""
        if not paths.registry_file().exists():
            return []
        with closing(_connect()) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS}, hash FROM api_keys ORDER BY created_at").fetchall()
        return [(_key(r), r[6]) for r in rows]


def backend() -> SqliteKeys | PgKeys:
    """registry.db in local mode; the `api_keys` table in PostgreSQL in cluster mode."""
    from tenantctl.storage import cluster

    pg = cluster.postgres()
    if pg is None:
        return SqliteKeys()
    from tenantctl.storage.pg.control import PgKeys

    return PgKeys(pg)


def create(tenant_id: str | None, *, admin: bool = False, name: str = "") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and never stored."""
    key_id = secrets.token_hex(4)
    secret = f"tk_{key_id}_{secrets.token_urlsafe(24)}"
    key = ApiKey(key_id, tenant_id, admin, name, iso_utc(), None)
    backend().insert(key, _hash(secret))
    logs.event("key-create", tenant=tenant_id, key=key_id, admin=admin)
    return key, secret


def listing(tenant_id: str | None = None) -> list[ApiKey]:
    return backend().listing(tenant_id)


def revoke(key_id: str, tenant_id: str | None = None) -> None:
    keys = backend()
    found, owner = keys.tenant_of(key_id)
    if not found or (tenant_id is not None and owner != tenant_id):
        raise KeyNotFound(f"no API key {key_id!r}" + (f" for tenant {tenant_id!r}" if tenant_id else ""),
                       "list keys with `tenantctl key list`")
    keys.set_revoked(key_id, iso_utc())
    logs.event("key-revoke", tenant=owner, key=key_id)


def resolve(secret: str) -> ApiKey | None:
    """The live key for a presented secret, or None (unknown, malformed or revoked)."""
    if not secret or not secret.startswith("tk_"):
        return None
    key = backend().by_hash(_hash(secret))
    if key is None or key.revoked_at is not None:
        return None
    return key


def delete_for_tenant(tenant_id: str) -> None:
    backend().delete_for_tenant(tenant_id)
