"""Tenants: the handle that owns a tenant's folder, and their lifecycle (create, open, list, describe,
delete). A tenant is its folder (see `tenantctl.storage.layout` for the files in it); everything that
reads or writes a tenant's files goes through `TenantFolder` or its subclass `Tenant`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl import paths
from tenantctl.context import current_tenant
from tenantctl.errors import ConfigError, IndexCorrupt, Suspended, TenantctlError, TenantExists, TenantNotFound, busy
from tenantctl.fileio import iso_utc
from tenantctl.storage import registry
from tenantctl.storage.layout import (
    LOCK_FILE,
    MANIFEST_FILE,
    STORE_FILE,
    SYNC_FILE,
    TENANT_FILE,
    UPLOAD_STAGING_RE,
    UPLOADS_DIR,
)

if TYPE_CHECKING:
    from tenantctl.config import ChunkingConfig, Config, TenantConfig
    from tenantctl.storage.store import Counts, Store


@dataclass
class TenantFolder:
    """A tenant's folder and the files in it, whether or not it is (yet) a registered tenant: an export
    being written, an import being staged, a folder being checked."""

    dir: Path

    @property
    def config_path(self) -> Path:
        return self.dir / TENANT_FILE

    @property
    def store_path(self) -> Path:
        return self.dir / STORE_FILE

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST_FILE

    def open_store(self, *, readonly: bool = False) -> Store:
        """The folder's store. For writing it is created and migrated as needed; `readonly` opens an
        existing store as it is (sqlite3.OperationalError when there is none)."""
        from tenantctl.storage.store import Store

        if self.manifest_path.exists() and self.store_lost():  # never re-created empty under its index
            raise IndexCorrupt(
                f"{self.store_path} is missing or empty, but {MANIFEST_FILE} names an index built from it",
                "restore the tenant from an export (`tenantctl tenant import FILE`), or start its store afresh, "
                f"keeping its settings and keys: move {MANIFEST_FILE} and its index-*.faiss out of {self.dir} and "
                "ingest its documents again",
            )
        return Store(self.store_path, readonly=readonly)

    def store_lost(self) -> bool:
        if not self.store_path.exists():
            return True
        wal = self.store_path.with_name(self.store_path.name + "-wal")  # may hold it all before a checkpoint
        return self.store_path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0)

    def counts(self) -> Counts:
        """Documents, chunks, bytes and the last ingest, read without writing anything. A store that is
        missing or damaged raises IndexCorrupt naming it."""
        import sqlite3

        try:
            with self.open_store(readonly=True) as store:
                return store.counts()
        except sqlite3.Error as exc:
            raise IndexCorrupt(
                f"{self.store_path} cannot be read ({exc})",
                "check the tenant with `tenantctl verify TENANT`; restore it from an export if it is damaged",
            ) from exc

    def disk_bytes(self) -> int:
        """What the folder takes on disk: its files and those below it (uploads/), links not followed."""
        total = 0
        for folder, _, names in os.walk(self.dir):
            for name in names:
                with contextlib.suppress(OSError):  # removed meanwhile
                    st = os.lstat(os.path.join(folder, name))
                    total += st.st_size if stat.S_ISREG(st.st_mode) else 0
        return total


@dataclass
class Tenant(TenantFolder):
    """A registered tenant: its id, its registry row and its folder."""

    id: str
    record: registry.TenantRecord

    def __init__(self, id: str, dir: Path, record: registry.TenantRecord) -> None:
        self.id, self.dir, self.record = id, dir, record

    @contextlib.contextmanager
    def as_current(self) -> Iterator[Tenant]:
        """Make this the current tenant (logs and usage records read it) for the block, then restore."""
        token = current_tenant.set(self.id)
        try:
            yield self
        finally:
            current_tenant.reset(token)

    @cached_property
    def config(self) -> TenantConfig:
        from tenantctl.config import load_tenant_config

        return load_tenant_config(self.config_path)

    def chunking(self, cfg: Config) -> ChunkingConfig:
        return self.config.chunking or cfg.chunking

    @property
    def pooled(self) -> bool:
        """Its documents, chunks, vectors and usage live in PostgreSQL (the pooled tables or its own
        schema), not in its folder."""
        return self.config.store != "local"

    def open_store(self, *, readonly: bool = False) -> Store:
        """The tenant's store: its folder's SQLite store, or its rows in the PostgreSQL pool."""
        if not self.pooled:
            store = super().open_store(readonly=readonly)
            if not readonly:
                try:
                    store.relocate(str(self.dir.resolve()))  # after the home moved, or an import
                except BaseException:
                    store.close()
                    raise
            return store
        return open_pg_store(self.id, self.config.store, self.config_path)

    def require_active(self, operation: str) -> None:
        """A suspended tenant refuses ingests and questions. Reads the registry afresh: a long-running
        server must see a suspension made by the CLI meanwhile."""
        self.record = registry.get(self.id) or self.record
        if self.record.status == "suspended":
            raise Suspended(
                f"tenant {self.id!r} is suspended and refuses {operation}",
                f"resume it with `tenantctl tenant resume {self.id}`",
            )

    @contextlib.contextmanager
    def write_lock(self, wait: float = 0) -> Iterator[None]:
        """One writer per tenant: a lock file in its folder, or in cluster mode a PostgreSQL advisory
        lock, so that writers on every node exclude each other. Raises Busy at once, or after `wait`
        seconds."""
        from tenantctl.storage import cluster

        pg = cluster.postgres()
        if pg is not None:
            from tenantctl.storage.pg.control import advisory_lock

            with advisory_lock(pg, self.id, wait):
                yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(self.dir / LOCK_FILE, timeout=wait)
        try:
            lock.acquire()
        except Timeout:
            raise busy(self.id, wait) from None
        try:
            yield
        finally:
            lock.release()


@dataclass
class BrokenTenant:
    """A registered tenant that cannot be opened (its folder is missing or incomplete, or its id is not
    valid): reported by `each_tenant` instead of stopping a run over all tenants."""

    id: str
    dir: Path | None  # None when the registered id is not a valid one
    error: TenantctlError


class FolderMissing(TenantNotFound):
    """A tenant in the registry whose folder (or its tenant.yaml) is gone."""

    def __init__(self, tenant_id: str, folder: Path, elsewhere: bool = False) -> None:
        if elsewhere:  # cluster mode: a local tenant lives in the folder of the node that created it
            TenantctlError.__init__(
                self,
                f"tenant {tenant_id!r} is a local tenant of another node: its folder is not on this one ({folder})",
                f"run this on the node that holds it, or move it into PostgreSQL there "
                f"(`tenantctl tenant move {tenant_id} --to postgres`); deleting it here would remove it everywhere",
            )
        elif (folder / STORE_FILE).is_file():  # its documents are all there: deleting it was the advice
            TenantctlError.__init__(
                self,
                f"tenant {tenant_id!r} lacks its {TENANT_FILE}; its store is there ({folder / STORE_FILE})",
                f"write a {TENANT_FILE} holding `id: {tenant_id}` in {folder} (its settings at their defaults), "
                "or restore that file from a backup; `tenantctl doctor` checks it",
            )
        else:
            TenantctlError.__init__(
                self,
                f"tenant {tenant_id!r} is registered, but its folder {folder} is missing or lacks {TENANT_FILE}",
                f"restore the folder from a backup, or remove the tenant with `tenantctl tenant delete {tenant_id}`",
            )
        self.tenant_id = tenant_id
        self.elsewhere = elsewhere
        self.settings_lost = not elsewhere and (folder / STORE_FILE).is_file()


def _elsewhere(record: registry.TenantRecord) -> bool:
    """A local tenant in a cluster's shared registry: its folder may be on another node."""
    from tenantctl.storage import cluster

    return record.store == "local" and cluster.postgres() is not None


def each_tenant() -> Iterator[Tenant | BrokenTenant]:
    """Every registered tenant in id order, from one read of the registry. A tenant that cannot be
    opened comes as a BrokenTenant naming the fault, so a run over all tenants goes on with the others.
    Does not set the current tenant (a caller working on one sets it)."""
    for record in registry.all_tenants():
        try:
            folder = paths.tenant_dir(record.id)
            registry.materialise(record, folder)
        except TenantctlError as exc:
            yield BrokenTenant(record.id, None, exc)
            continue
        if not (folder / TENANT_FILE).is_file():
            yield BrokenTenant(record.id, folder, FolderMissing(record.id, folder, _elsewhere(record)))
            continue
        yield Tenant(record.id, folder, record)


def usable_tenants() -> tuple[list[Tenant], list[BrokenTenant]]:
    """Every registered tenant split into those that can be opened, tenant.yaml included, and the
    broken ones, so a report over all tenants covers the others and names the broken ones."""
    usable: list[Tenant] = []
    broken: list[BrokenTenant] = []
    for tenant in each_tenant():
        if isinstance(tenant, Tenant):
            try:
                tenant.config  # noqa: B018 - parse tenant.yaml now, not halfway through a report
            except TenantctlError as exc:
                tenant = BrokenTenant(tenant.id, tenant.dir, exc)
        (usable if isinstance(tenant, Tenant) else broken).append(tenant)
    return usable, broken


def open_tenant(tenant_id: str) -> Tenant:
    folder = paths.tenant_dir(tenant_id)  # validates the id before anything touches the disk
    record = registry.get(tenant_id)
    if record is None:
        raise TenantNotFound(tenant_id)
    registry.materialise(record, folder)  # cluster mode: this node's copy of a pooled tenant's settings
    if not (folder / TENANT_FILE).is_file():
        raise FolderMissing(tenant_id, folder, _elsewhere(record))
    current_tenant.set(tenant_id)
    return Tenant(tenant_id, folder, record)


def postgres_config():
    """The `postgres:` settings, required by a tenant that lives in the pool or is to be put there."""
    from tenantctl.storage import cluster

    cfg = cluster.postgres()  # parsed once per version of config.yaml, not per store opened
    if cfg is None:
        raise ConfigError(
            "PostgreSQL is not configured: config.yaml has no `postgres:` section",
            f"add `postgres: {{dsn: ...}}` to {paths.config_file()} (README, \"Scaling out\")",
        )
    return cfg


def pg_schema(tenant_id: str, store: str) -> str:
    """Placement: the PostgreSQL schema that holds a tenant of store kind `postgres` (the pooled tables)
    or `postgres-dedicated` (its own schema)."""
    from tenantctl.storage.pg.schema import SCHEMA, dedicated_schema

    return SCHEMA if store == "postgres" else dedicated_schema(tenant_id)


def open_pg_store(tenant_id: str, store: str, path: Path | None = None):
    """A tenant's rows in PostgreSQL, in the pool or in its dedicated schema."""
    from tenantctl.storage.pg.store import PgStore

    return PgStore(postgres_config(), tenant_id, path, schema=pg_schema(tenant_id, store))


def create_dedicated_schema(tenant_id: str) -> None:
    """A dedicated tenant's schema, created (or brought up to date) by the schema owner."""
    from tenantctl.storage.pg import schema

    cfg = postgres_config()
    schema.create_dedicated(_admin_dsn(cfg, "a dedicated tenant's schema is created"), cfg.dsn, tenant_id)


def drop_dedicated_schema(tenant_id: str) -> None:
    from tenantctl.storage.pg import schema

    schema.drop_dedicated(_admin_dsn(postgres_config(), "a dedicated tenant's schema is dropped"), tenant_id)


def _admin_dsn(cfg, why: str) -> str:
    if cfg.admin_dsn is None:
        raise ConfigError(
            f"config.yaml has no `postgres.admin_dsn`, the schema owner's connection, with which {why}",
            f"add `admin_dsn:` under `postgres:` in {paths.config_file()}",
        )
    return cfg.admin_dsn


def create_tenant(tenant_id: str, display_name: str | None = None, store: str = "local") -> Tenant:
    """A new tenant: its folder (tenant.yaml, and the SQLite store when `store` is local) and its
    registry row. A tenant in PostgreSQL gets its rows at its first write; a dedicated one first gets its
    schema."""
    from tenantctl.config import TenantConfig, save_tenant_config

    folder = paths.tenant_dir(tenant_id)
    current_tenant.set(tenant_id)
    registered = registry.get(tenant_id) is not None
    if not registered and (folder / SYNC_FILE).exists():
        shutil.rmtree(folder, ignore_errors=True)  # this node's cache of a pooled tenant deleted elsewhere
    if registered or folder.exists():
        raise _exists(tenant_id)
    paths.private_dir(paths.tenants_dir())
    clean_leftovers()
    staging = paths.tenants_dir() / f".creating-{tenant_id}-{os.getpid()}"
    staging.mkdir(mode=0o700)
    os.chmod(staging, 0o700)  # a tenant's folder is its owner's alone, whatever the umask
    try:
        created = iso_utc()
        work = TenantFolder(staging)
        settings = TenantConfig(id=tenant_id, display_name=display_name, created_at=created, store=store)
        save_tenant_config(settings, work.config_path)
        if store == "local":
            work.open_store().close()
        else:
            if store == "postgres-dedicated":
                create_dedicated_schema(tenant_id)
            with open_pg_store(tenant_id, store) as pooled:  # reachable, schema current, no rows left
                pooled.drop_all()
        try:
            os.rename(staging, folder)  # the folder appears whole or not at all
        except OSError as exc:  # created meanwhile by a concurrent `create` of the same id
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            raise _exists(tenant_id) from None
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if store == "postgres-dedicated" and not isinstance(exc, TenantExists):  # not the other create's schema
            with contextlib.suppress(TenantctlError):
                drop_dedicated_schema(tenant_id)
        raise
    try:
        record = registry.add(tenant_id, display_name, created, store=store)
    except BaseException:  # created meanwhile by another node (cluster mode), or the registry failed
        shutil.rmtree(folder, ignore_errors=True)
        raise
    drop_orphan_keys(tenant_id)
    registry.publish_settings(tenant_id, folder, store)
    return Tenant(tenant_id, folder, record)


def _exists(tenant_id: str) -> TenantExists:
    return TenantExists(f"tenant {tenant_id!r} already exists",
                        f"pick another id, or remove it first with `tenantctl tenant delete {tenant_id}`")


def describe(tenant: Tenant) -> dict[str, Any]:
    """What `tenant show` prints. Reads the store's counts and the manifest; never loads the index."""
    from tenantctl.storage.index import read_manifest

    counts = tenant.counts()
    manifest = read_manifest(tenant.dir) or {}
    cfg = tenant.config
    return {
        "id": tenant.id,
        "display_name": tenant.record.display_name,
        "status": tenant.record.status,
        "created_at": tenant.record.created_at,
        "path": str(tenant.dir),
        "store": cfg.store,
        "pg_schema": pg_schema(tenant.id, cfg.store) if tenant.pooled else None,
        "documents": counts.documents,
        "chunks": counts.chunks,
        "source_bytes": counts.bytes,
        "disk_bytes": tenant.disk_bytes(),
        "last_ingest": iso_utc(counts.last_ingest) if counts.last_ingest else None,
        "index": {k: manifest.get(k) for k in ("embedder", "chunking", "generation", "vectors", "written_at")}
        if manifest else None,
        "model": cfg.answer.model,
        "sources": [s.model_dump() for s in cfg.sources],
        "quotas": cfg.quotas.model_dump(exclude_none=True),
        "tools": [f"{t.name} ({t.kind})" for t in cfg.tools],  # `tenantctl tool list` shows them in full
    }


def delete_tenant(tenant_id: str, wait: float = 0) -> None:
    """Remove everything of one tenant. Works whether or not its index was ever loaded, and for a
    registered tenant whose folder is already gone. Busy while another writer holds it (`wait` seconds)."""
    folder = paths.tenant_dir(tenant_id)
    clean_leftovers()
    record = registry.get(tenant_id)
    if record is not None:
        registry.materialise(record, folder)  # cluster mode: a tenant in PostgreSQL is deleted from any node
    if record is not None and not (folder / TENANT_FILE).exists():
        if record.store.startswith("postgres"):  # no settings to open it by: its rows go all the same
            dedicated = record.store == "postgres-dedicated"
            if dedicated:
                _admin_dsn(postgres_config(), "a dedicated tenant's schema is dropped")  # before anything goes
            current_tenant.set(tenant_id)
            with open_pg_store(tenant_id, record.store) as pooled:
                pooled.drop_all()
            if dedicated:  # else a new tenant of this id would be given the schema back, rows and all
                drop_dedicated_schema(tenant_id)
        _unregister(tenant_id)
        shutil.rmtree(folder, ignore_errors=True)
        return
    tenant = open_tenant(tenant_id)
    with tenant.write_lock(wait):
        if _pooled_for_delete(tenant):
            if tenant.config.store == "postgres-dedicated":
                _admin_dsn(postgres_config(), "a dedicated tenant's schema is dropped")  # before anything goes
            with tenant.open_store() as pooled:
                pooled.drop_all()
            if tenant.config.store == "postgres-dedicated":
                drop_dedicated_schema(tenant_id)
        trash = paths.tenants_dir() / f".deleting-{tenant_id}-{os.getpid()}-{int(time.time())}"
        os.rename(tenant.dir, trash)
        _unregister(tenant_id)
    shutil.rmtree(trash, ignore_errors=True)


def _pooled_for_delete(tenant: Tenant) -> bool:
    """Whether the tenant's data is in PostgreSQL, from its tenant.yaml. A local tenant (as the registry
    records it) whose tenant.yaml cannot be read is deleted all the same: its folder is all of it, and
    the one way out its error offered was to fix a file the delete was about to remove."""
    try:
        return tenant.pooled
    except ConfigError:
        if tenant.record.store != "local":
            raise
        return False


def drop_orphan_keys(tenant_id: str) -> None:
    """A new tenant starts without keys: any of its id left by a registry row dropped by hand (doctor once
    advised it for a tenant whose folder was gone) belonged to the tenant before it, not to this one."""
    from tenantctl.storage import keys

    keys.delete_for_tenant(tenant_id)


def _unregister(tenant_id: str) -> None:
    """The tenant's registry row and keys go, and nothing of them stays in the registry's files."""
    from tenantctl.storage import keys

    registry.remove(tenant_id)
    keys.delete_for_tenant(tenant_id)
    registry.scrub()


# Staging and trash folders: `.creating-<id>-<pid>`, `.importing-<id>-<pid>-<hex>`, `.deleting-<id>-<pid>-<time>`.
_LEFTOVER = re.compile(r"\.(?:creating-.+-(?P<c>\d+)|importing-.+-(?P<i>\d+)-[0-9a-f]+|deleting-.+-(?P<d>\d+)-\d+)")
_STALE_SECONDS = 24 * 3600


def leftovers() -> list[Path]:
    """Folders under tenants/ left by a create, import or delete whose process is gone (a delete killed
    in its last step leaves `.deleting-*` holding the deleted tenant's store), an upload's staging
    folder in a tenant's uploads/ left by a server killed midway, and (cluster mode) this node's cached
    folder of a tenant in PostgreSQL deleted through another node: its tenant.yaml, and the files
    uploaded through this node, the only copies of them."""
    root = paths.tenants_dir()
    if not root.is_dir():
        return []
    found = _deleted_elsewhere(root)
    for path in sorted(root.iterdir()):
        match = _LEFTOVER.fullmatch(path.name)
        if match and path.is_dir() and not _in_progress(int(match["c"] or match["i"] or match["d"]), path):
            found.append(path)
        elif not match and (path / UPLOADS_DIR).is_dir():
            found += [p for p in sorted((path / UPLOADS_DIR).iterdir())
                      if (m := UPLOAD_STAGING_RE.fullmatch(p.name)) and not _in_progress(int(m["pid"]), p)]
    return found


def _deleted_elsewhere(root: Path) -> list[Path]:
    cached = [p for p in sorted(root.iterdir()) if not p.name.startswith(".") and (p / SYNC_FILE).is_file()]
    if not cached:  # a local home has none: no registry read
        return []
    registered = {record.id for record in registry.all_tenants()}
    return [p for p in cached if p.name not in registered]


def upload_stagings(folder: Path) -> tuple[list[Path], list[Path]]:
    """The staging folders in an uploads folder: those of uploads still running (their process alive),
    and those a killed server left."""
    live: list[Path] = []
    dead: list[Path] = []
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if match := UPLOAD_STAGING_RE.fullmatch(path.name):
                (live if _in_progress(int(match["pid"]), path) else dead).append(path)
    return live, dead


def _in_progress(pid: int, path: Path) -> bool:
    try:
        if time.time() - path.stat().st_mtime > _STALE_SECONDS:
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's process
        return True
    return True


def clean_leftovers() -> list[str]:
    """Finish what an interrupted create, import, delete or upload left: remove its folder. Returns the
    names."""
    removed = []
    for path in leftovers():
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path.name)
    return removed


def set_status(tenant_id: str, status: str) -> Tenant:
    open_tenant(tenant_id)  # refuses unknown ids
    registry.set_status(tenant_id, status)
    return open_tenant(tenant_id)


def register_lost() -> list[str]:
    """A home without cluster mode: register again each tenant folder that has no registry row (registry.db
    deleted, or restored from an older backup): a folder named by a valid id, holding a store and a tenant.yaml
    that names that id and a local store. Its display name and creation time come from that tenant.yaml; its
    status is active (a suspension was recorded in the registry alone) and it has no API keys. Without this,
    a lost registry.db left every tenant "does not exist", with no command to bring one back. Returns the ids."""
    from tenantctl.config import load_tenant_config
    from tenantctl.storage import cluster

    tenants_dir = paths.tenants_dir()
    if cluster.postgres() is not None or not tenants_dir.is_dir():
        return []  # in cluster mode a folder may be a cache of a tenant deleted elsewhere
    known = {record.id for record in registry.all_tenants()}
    found = []
    for folder in sorted(tenants_dir.iterdir()):
        if folder.name in known or not paths.TENANT_ID_RE.fullmatch(folder.name) or not folder.is_dir():
            continue
        if not (folder / STORE_FILE).is_file():
            continue
        try:
            settings = load_tenant_config(folder / TENANT_FILE)
        except TenantctlError:  # no tenant.yaml, or a broken one: `doctor` names the folder
            continue
        if settings.id != folder.name or settings.store != "local":
            continue
        if time.time() - (folder / TENANT_FILE).stat().st_mtime < 10:  # a `create` between its rename and its row
            continue
        drop_orphan_keys(folder.name)
        try:
            registry.add(folder.name, settings.display_name, settings.created_at, store="local")
        except sqlite3.IntegrityError:  # registered meanwhile
            continue
        found.append(folder.name)
    return found


def adopt_local_registry() -> int:
    """Cluster mode: copy this home's registry.db (tenants, API keys) into the PostgreSQL registry, so a
    home that switches to cluster mode keeps its tenants and keys; rows already there are kept. A
    pooled tenant's settings are published from its folder. Returns the tenants added."""
    import dataclasses

    from tenantctl.config import load_tenant_config
    from tenantctl.storage import cluster, keys
    from tenantctl.storage.pg.control import adopt_local

    pg = cluster.postgres()
    if pg is None or not paths.registry_file().exists():
        return 0
    records = []
    for record in registry.SqliteRegistry().all_tenants():
        try:
            store = load_tenant_config(paths.tenant_dir(record.id) / TENANT_FILE).store
        except TenantctlError:  # its folder or tenant.yaml is gone or broken: adopted as a local tenant
            store = "local"
        records.append(dataclasses.replace(record, store=store))
    added = adopt_local(pg, records, keys.SqliteKeys().with_hashes())
    for record in records:
        current = registry.get(record.id)
        if record.store.startswith("postgres") and current is not None and current.settings_version == 0:
            registry.publish_settings(record.id, paths.tenant_dir(record.id), record.store)
    return added
