"""Tenant lifecycle: create, open, list, describe, delete. A tenant is its folder:

    tenants/<id>/tenant.yaml        the tenant's settings (prompt, passages, model, sources, quotas)
    tenants/<id>/store.db           SQLite: documents, chunks, vectors, full-text index, sessions, usage
    tenants/<id>/index-<gen>.faiss  FAISS index derived from store.db
    tenants/<id>/manifest.json      which index file is current, with embedder, chunking and checksums
    tenants/<id>/.lock              held by the one writer (ingest, reindex, repair, delete)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl import paths
from tenantctl.context import current_tenant
from tenantctl.errors import Busy, Suspended, TenantExists, TenantNotFound
from tenantctl.storage import registry

if TYPE_CHECKING:
    from tenantctl.config import ChunkingConfig, Config, TenantConfig
    from tenantctl.storage.store import Store

TENANT_FILE = "tenant.yaml"
STORE_FILE = "store.db"
LOCK_FILE = ".lock"


@dataclass
class Tenant:
    id: str
    dir: Path
    record: registry.TenantRecord

    @cached_property
    def config(self) -> TenantConfig:
        from tenantctl.config import load_tenant_config

        return load_tenant_config(self.dir / TENANT_FILE)

    def open_store(self) -> Store:
        from tenantctl.storage.store import Store

        return Store(self.dir / STORE_FILE)

    def chunking(self, cfg: Config) -> ChunkingConfig:
        return self.config.chunking or cfg.chunking

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
        """One writer per tenant. Raises Busy at once, or after `wait` seconds."""
        from filelock import FileLock, Timeout

        lock = FileLock(self.dir / LOCK_FILE, timeout=wait)
        try:
            lock.acquire()
        except Timeout:
            raise Busy(
                f"tenant {self.id!r} is busy: another ingest, reindex or repair is writing to it",
                "retry later, or pass --wait SECONDS to wait for it",
            ) from None
        try:
            yield
        finally:
            lock.release()


def open_tenant(tenant_id: str) -> Tenant:
    folder = paths.tenant_dir(tenant_id)  # validates the id before anything touches the disk
    record = registry.get(tenant_id)
    if record is None or not (folder / TENANT_FILE).exists():
        raise TenantNotFound(tenant_id)
    current_tenant.set(tenant_id)
    return Tenant(tenant_id, folder, record)


def create_tenant(tenant_id: str, display_name: str | None = None) -> Tenant:
    from tenantctl.config import TenantConfig, save_tenant_config

    folder = paths.tenant_dir(tenant_id)
    current_tenant.set(tenant_id)
    if registry.get(tenant_id) is not None or folder.exists():
        raise TenantExists(
            f"tenant {tenant_id!r} already exists",
            f"pick another id, or remove it first with `tenantctl tenant delete {tenant_id}`",
        )
    paths.tenants_dir().mkdir(parents=True, exist_ok=True)
    staging = paths.tenants_dir() / f".creating-{tenant_id}-{os.getpid()}"
    staging.mkdir()
    try:
        created = registry.now_iso()
        cfg = TenantConfig(id=tenant_id, display_name=display_name, created_at=created)
        save_tenant_config(cfg, staging / TENANT_FILE)
        from tenantctl.storage.store import Store

        Store(staging / STORE_FILE).close()
        os.rename(staging, folder)  # the folder appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record = registry.add(tenant_id, display_name, created)
    return Tenant(tenant_id, folder, record)


def describe(tenant: Tenant) -> dict[str, Any]:
    """What `tenant show` prints. Reads the store's counts and the manifest; never loads the index."""
    from tenantctl.storage.index import read_manifest
    from tenantctl.storage.store import connect

    conn = connect(tenant.dir / STORE_FILE)
    try:
        docs, size, chunks = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(chunks), 0) FROM documents"
        ).fetchone()
        last = conn.execute("SELECT MAX(ingested_at) FROM documents").fetchone()[0]
    finally:
        conn.close()
    manifest = read_manifest(tenant.dir) or {}
    disk = sum(p.stat().st_size for p in tenant.dir.iterdir() if p.is_file())
    cfg = tenant.config
    return {
        "id": tenant.id,
        "display_name": tenant.record.display_name,
        "status": tenant.record.status,
        "created_at": tenant.record.created_at,
        "path": str(tenant.dir),
        "documents": docs,
        "chunks": chunks,
        "source_bytes": size,
        "disk_bytes": disk,
        "last_ingest": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None,
        "index": {k: manifest.get(k) for k in ("embedder", "chunking", "generation", "vectors", "written_at")}
        if manifest else None,
        "model": cfg.answer.model,
        "sources": [s.model_dump() for s in cfg.sources],
        "quotas": cfg.quotas.model_dump(exclude_none=True),
    }


def delete_tenant(tenant_id: str) -> None:
    """Remove everything of one tenant. Works whether or not its index was ever loaded, and for a
    registered tenant whose folder is already gone."""
    from tenantctl.storage import keys

    folder = paths.tenant_dir(tenant_id)
    if registry.get(tenant_id) is not None and not (folder / TENANT_FILE).exists():
        registry.remove(tenant_id)
        keys.delete_for_tenant(tenant_id)
        shutil.rmtree(folder, ignore_errors=True)
        return
    tenant = open_tenant(tenant_id)
    with tenant.write_lock():
        trash = paths.tenants_dir() / f".deleting-{tenant_id}-{os.getpid()}-{int(time.time())}"
        os.rename(tenant.dir, trash)
        registry.remove(tenant_id)
        keys.delete_for_tenant(tenant_id)
    shutil.rmtree(trash, ignore_errors=True)


def set_status(tenant_id: str, status: str) -> Tenant:
    open_tenant(tenant_id)  # refuses unknown ids
    registry.set_status(tenant_id, status)
    return open_tenant(tenant_id)
