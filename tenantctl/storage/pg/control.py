"""The control plane in PostgreSQL (cluster mode), shared by every node: the registry of tenants, API
keys, pooled tenants' settings (their tenant.yaml) and the per-tenant writer lock.

Each node keeps a pooled tenant's folder as a cache only: `materialise` writes the tenant.yaml held in
PostgreSQL into it (with `.synced.json` recording the version and SHA-256 it wrote), and publishes a
tenant.yaml edited on this node (its SHA-256 no longer matches) as the next version, unless another
node published one meanwhile — then the pool's version wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tenantctl.errors import ConfigError, busy
from tenantctl.storage.layout import SYNC_FILE, TENANT_FILE
from tenantctl.storage.pg.schema import SCHEMA, TENANT_SETTING, connect
from tenantctl.storage.records import ApiKey, TenantRecord

if TYPE_CHECKING:
    import psycopg

    from tenantctl.config import PostgresConfig

_TENANT_COLUMNS = "id, status, created_at, display_name, store, settings_version"
_KEY_COLUMNS = "id, tenant_id, admin, name, created_at, revoked_at"
_ADD_TENANT = (f"INSERT INTO {SCHEMA}.tenants (id, status, created_at, display_name, store)"
               " VALUES (%s, %s, %s, %s, %s)")


class Control:
    """The control plane's short statements (each one autocommit statement or one short transaction),
    on connections borrowed from the process's idle ones, as the stores' transactions are. A connection
    found broken (a restarted server) is dropped and the statement tried once more."""

    def __init__(self, cfg: PostgresConfig) -> None:
        self.cfg = cfg

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        import psycopg

        from tenantctl.storage.pg.store import _borrow, _check_schema, _drop_idle, _give_back, connection_lost

        conn = _borrow(self.cfg.dsn)
        try:
            _check_schema(self.cfg.dsn, SCHEMA, conn)
            yield conn
        except psycopg.OperationalError as exc:
            conn.close()
            if connection_lost(exc):
                _drop_idle(self.cfg.dsn)  # the others idle beside it are as dead: the retry connects afresh
            raise
        finally:
            _give_back(self.cfg.dsn, conn)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """One statement; tried once more on a fresh connection when the one borrowed was broken."""
        import psycopg

        for attempt in (1, 2):
            try:
                with self.connection() as conn:
                    cursor = conn.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError as exc:
                from tenantctl.storage.pg.store import connection_lost, lost_connection

                if attempt == 2:
                    if connection_lost(exc):
                        raise lost_connection(exc) from exc
                    raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def scoped(self, tenant_id: str) -> Iterator[psycopg.Connection]:
        """A transaction in which row-level security shows tenant `tenant_id`'s rows alone."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, tenant_id))
            yield conn


_CONTROLS: dict[str, Control] = {}
_CONTROLS_LOCK = threading.Lock()


def control(cfg: PostgresConfig) -> Control:
    with _CONTROLS_LOCK:
        if cfg.dsn not in _CONTROLS:
            _CONTROLS[cfg.dsn] = Control(cfg)
        return _CONTROLS[cfg.dsn]


# -- registry -------------------------------------------------------------------------------------------


class PgRegistry:
    """The registry of tenants in the `tenants` table: the same interface as the home's registry.db."""

    def __init__(self, cfg: PostgresConfig) -> None:
        self.control = control(cfg)

    @staticmethod
    def _record(row: tuple) -> TenantRecord:
        return TenantRecord(row[0], row[1], row[2], row[3], row[4], int(row[5]))

    def add(self, record: TenantRecord) -> None:
        import psycopg

        from tenantctl.errors import TenantExists

        try:
            self.control.rows(_ADD_TENANT, (record.id, record.status, record.created_at, record.display_name,
                                            record.store))
        except psycopg.errors.UniqueViolation:
            raise TenantExists(
                f"tenant {record.id!r} already exists",
                f"pick another id, or remove it first with `tenantctl tenant delete {record.id}`",
            ) from None

    def get(self, tenant_id: str) -> TenantRecord | None:
        rows = self.control.rows(f"SELECT {_TENANT_COLUMNS} FROM {SCHEMA}.tenants WHERE id = %s", (tenant_id,))
        return self._record(rows[0]) if rows else None

    def all_tenants(self) -> list[TenantRecord]:
        rows = self.control.rows(f"SELECT {_TENANT_COLUMNS} FROM {SCHEMA}.tenants ORDER BY id")
        return [self._record(r) for r in rows]

    def set_status(self, tenant_id: str, status: str) -> None:
        self.control.rows(f"UPDATE {SCHEMA}.tenants SET status = %s WHERE id = %s", (status, tenant_id))

    def remove(self, tenant_id: str) -> None:
        with self.control.scoped(tenant_id) as conn:
            conn.execute(f"DELETE FROM {SCHEMA}.settings")
            conn.execute(f"DELETE FROM {SCHEMA}.tenants WHERE id = %s", (tenant_id,))

    # -- a pooled tenant's settings: PostgreSQL holds them, a node's folder caches them ---------------
    def publish(self, tenant_id: str, folder: Path, store: str, expected: int | None = None) -> int | None:
        """Make the folder's tenant.yaml the tenant's settings in the pool (its next version) and record
        its placement. With `expected`, only if the pool still holds that version (else None)."""
        from tenantctl.fileio import write_atomic

        if not store.startswith("postgres"):  # a local tenant's settings stay in its folder, on its node
            (folder / SYNC_FILE).unlink(missing_ok=True)  # no longer a cache: the tenant lives here
            self.control.rows(f"UPDATE {SCHEMA}.tenants SET store = %s WHERE id = %s", (store, tenant_id))
            return None
        text = (folder / TENANT_FILE).read_text(encoding="utf-8")
        with self.control.scoped(tenant_id) as conn:
            row = conn.execute(f"SELECT settings_version FROM {SCHEMA}.tenants WHERE id = %s FOR UPDATE",
                               (tenant_id,)).fetchone()
            if row is None or (expected is not None and row[0] != expected):
                return None
            version = int(row[0]) + 1
            conn.execute(
                f"INSERT INTO {SCHEMA}.settings (tenant_id, yaml, version) VALUES (%s, %s, %s)"
                " ON CONFLICT (tenant_id) DO UPDATE SET yaml = EXCLUDED.yaml, version = EXCLUDED.version",
                (tenant_id, text, version),
            )
            conn.execute(f"UPDATE {SCHEMA}.tenants SET settings_version = %s, store = %s WHERE id = %s",
                         (version, store, tenant_id))
        write_atomic(folder / SYNC_FILE, json.dumps({"version": version, "sha256": _sha(text)}), durable=False)
        return version

    def materialise(self, record: TenantRecord, folder: Path) -> None:
        """Bring this node's cached folder of a pooled tenant in step with the pool (see the module)."""
        from tenantctl.config import load_tenant_config
        from tenantctl.fileio import write_atomic
        from tenantctl.paths import private_dir

        if not record.store.startswith("postgres"):
            if (folder / SYNC_FILE).exists():  # this node's cache of a tenant now in another node's folder
                shutil.rmtree(folder, ignore_errors=True)
            return
        synced = _read_sync(folder)
        local = _read_text(folder / TENANT_FILE)
        if local is not None and (synced is None or _sha(local) != synced["sha256"]):
            try:  # edited on this node (or never published): publish it, if valid and nobody else did
                load_tenant_config(folder / TENANT_FILE)
            except ConfigError:
                return  # the tenant reports its invalid settings where it is used
            expected = synced["version"] if synced else record.settings_version
            if self.publish(record.id, folder, record.store, expected=expected) is not None:
                return
        elif local is not None and synced["version"] == record.settings_version:
            return
        with self.control.scoped(record.id) as conn:
            row = conn.execute(f"SELECT yaml, version FROM {SCHEMA}.settings").fetchone()
        if row is None:
            return
        private_dir(folder)
        write_atomic(folder / TENANT_FILE, row[0], durable=False)
        write_atomic(folder / SYNC_FILE, json.dumps({"version": int(row[1]), "sha256": _sha(row[0])}), durable=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_sync(folder: Path) -> dict | None:
    text = _read_text(folder / SYNC_FILE)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    ok = isinstance(data, dict) and isinstance(data.get("version"), int) and isinstance(data.get("sha256"), str)
    return data if ok else None


# -- API keys -------------------------------------------------------------------------------------------


class PgKeys:
    """API keys in the `api_keys` table. The application role cannot read the hashes: `resolve` goes
    through `resolve_key(hash)`, which returns the one key with that hash."""

    def __init__(self, cfg: PostgresConfig) -> None:
        self.control = control(cfg)

    @staticmethod
    def _key(row: tuple) -> ApiKey:
        return ApiKey(row[0], row[1], bool(row[2]), row[3], row[4], row[5])

    def insert(self, key: ApiKey, key_hash: str) -> None:
        self.control.rows(
            f"INSERT INTO {SCHEMA}.api_keys (id, tenant_id, admin, hash, name, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (key.id, key.tenant, key.admin, key_hash, key.name, key.created_at),
        )

    def listing(self, tenant_id: str | None = None) -> list[ApiKey]:
        sql = f"SELECT {_KEY_COLUMNS} FROM {SCHEMA}.api_keys"
        if tenant_id:
            return [self._key(r) for r in self.control.rows(sql + " WHERE tenant_id = %s ORDER BY created_at, id",
                                                             (tenant_id,))]
        return [self._key(r) for r in self.control.rows(sql + " ORDER BY created_at, id")]

    def tenant_of(self, key_id: str) -> tuple[bool, str | None]:
        rows = self.control.rows(f"SELECT tenant_id FROM {SCHEMA}.api_keys WHERE id = %s", (key_id,))
        return (bool(rows), rows[0][0] if rows else None)

    def set_revoked(self, key_id: str, when: str) -> None:
        self.control.rows(f"UPDATE {SCHEMA}.api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                          (when, key_id))

    def by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self.control.rows(f"SELECT {_KEY_COLUMNS} FROM {SCHEMA}.resolve_key(%s)", (key_hash,))
        return self._key(rows[0]) if rows else None

    def delete_for_tenant(self, tenant_id: str) -> None:
        self.control.rows(f"DELETE FROM {SCHEMA}.api_keys WHERE tenant_id = %s", (tenant_id,))


def adopt_local(cfg: PostgresConfig, records: list[TenantRecord], keys: list[tuple[ApiKey, str]]) -> int:
    """Copy a home's registry.db rows (tenants, keys with their hashes) into the pool's registry, for a
    home switching to cluster mode; rows already there are kept. Returns the tenants added."""
    added = 0
    with control(cfg).connection() as conn, conn.transaction():
        for r in records:
            cursor = conn.execute(_ADD_TENANT + " ON CONFLICT (id) DO NOTHING",
                                  (r.id, r.status, r.created_at, r.display_name, r.store))
            added += cursor.rowcount
        for key, key_hash in keys:
            conn.execute(
                f"INSERT INTO {SCHEMA}.api_keys (id, tenant_id, admin, hash, name, created_at, revoked_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key.id, key.tenant, key.admin, key_hash, key.name, key.created_at, key.revoked_at))
    return added


# -- the writer lock ------------------------------------------------------------------------------------


@contextlib.contextmanager
def advisory_lock(cfg: PostgresConfig, tenant_id: str, wait: float = 0) -> Iterator[None]:
    """One writer per tenant across every node: a session-level advisory lock keyed by the tenant, held
    on a connection of its own for the block (PostgreSQL releases it if the process dies). Raises Busy
    at once, or after `wait` seconds."""
    conn = connect(cfg.dsn)
    key = f"tenantctl:writer:{tenant_id}"
    held = False
    try:
        deadline = time.monotonic() + wait
        while not conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise busy(tenant_id, wait, " (on some node)")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        held = True
        yield
    finally:
        if held:  # released now, not whenever the server notices the connection closed
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
        conn.close()  # ends the session, and with it the lock if the unlock could not run
