"""API keys for `tenantctl serve`. A key belongs to one tenant (or is an admin key); only its SHA-256
is stored, in the home's registry.db. The tenant of a request is taken from its key alone."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from tenantctl.errors import BadInput
from tenantctl.fileio import iso_utc
from tenantctl.storage import registry

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


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str | None
    admin: bool
    name: str
    created_at: str
    revoked_at: str | None


def _connect() -> sqlite3.Connection:
    return registry.connect(_SCHEMA)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(tenant_id: str | None, *, admin: bool = False, name: str = "") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and never stored."""
    key_id = secrets.token_hex(4)
    secret = f"tk_{key_id}_{secrets.token_urlsafe(24)}"
    created = iso_utc()
    with closing(_connect()) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, tenant, admin, hash, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, tenant_id, int(admin), _hash(secret), name, created),
        )
    return ApiKey(key_id, tenant_id, admin, name, created, None), secret


def listing(tenant_id: str | None = None) -> list[ApiKey]:
    with closing(_connect()) as conn:
        sql = "SELECT id, tenant, admin, name, created_at, revoked_at FROM api_keys"
        if tenant_id:
            rows = conn.execute(sql + " WHERE tenant = ? ORDER BY created_at", (tenant_id,)).fetchall()
        else:
            rows = conn.execute(sql + " ORDER BY created_at").fetchall()
    return [ApiKey(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in rows]


def revoke(key_id: str, tenant_id: str | None = None) -> None:
    with closing(_connect()) as conn:
        row = conn.execute("SELECT tenant FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None or (tenant_id is not None and row[0] != tenant_id):
            raise BadInput(f"no API key {key_id!r}" + (f" for tenant {tenant_id!r}" if tenant_id else ""),
                           "list keys with `tenantctl key list`")
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                     (iso_utc(), key_id))


def resolve(secret: str) -> ApiKey | None:
    """The live key for a presented secret, or None (unknown, malformed or revoked)."""
    if not secret or not secret.startswith("tk_"):
        return None
    with closing(_connect()) as conn:
        row = conn.execute(
            "SELECT id, tenant, admin, name, created_at, revoked_at FROM api_keys WHERE hash = ?", (_hash(secret),)
        ).fetchone()
    if row is None or row[5] is not None:
        return None
    return ApiKey(row[0], row[1], bool(row[2]), row[3], row[4], row[5])


def delete_for_tenant(tenant_id: str) -> None:
    with closing(_connect()) as conn:
        conn.execute("DELETE FROM api_keys WHERE tenant = ?", (tenant_id,))
