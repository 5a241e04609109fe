"""`tenant move`: a tenant between its folder, the PostgreSQL pool and a dedicated PostgreSQL schema,
without re-embedding.

Under the tenant's write lock (ingests and repairs get "busy" meanwhile; searches and questions go on
from the source), documents, chunks, vectors, the embedder settings, the usage history and the chat
sessions are copied into the destination, which is then checked against the source: the same counts,
the same content checksum (every document's hash, every chunk's text and vector), the same number of
sessions and messages. Only then does tenant.yaml switch to the destination (one atomic rename: a
reader sees one store or the other; in cluster mode it is published to every node), and the source is
emptied. A move interrupted before the switch leaves the tenant where it was; the next move starts afresh.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tenantctl.config import save_tenant_config
from tenantctl.errors import TenantctlError
from tenantctl.storage import sessions
from tenantctl.storage.layout import INDEX_GLOB, MANIFEST_FILE, STORE_FILE
from tenantctl.storage.pg.transfer import content_checksum, copy_documents
from tenantctl.storage.store import Store
from tenantctl.storage.tenants import (
    Tenant,
    create_dedicated_schema,
    drop_dedicated_schema,
    open_pg_store,
    open_tenant,
)


class MoveFailed(TenantctlError):
    """The copy did not match its source; the tenant stays where it was."""


@dataclass
class MoveResult:
    tenant: str
    source: str
    destination: str
    moved: bool
    documents: int = 0
    chunks: int = 0
    usage_events: int = 0
    checksum: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def move_tenant(tenant_id: str, to: str, wait: float = 0) -> MoveResult:
    tenant = open_tenant(tenant_id)
    source = tenant.config.store
    if source == to:  # repeating a finished move is success
        return MoveResult(tenant_id, source, to, moved=False)
    started = time.perf_counter()
    with tenant.write_lock(wait):
        result = _to_folder(tenant) if to == "local" else _to_postgres(tenant, to)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _copy_and_check(tenant: Tenant, src: Any, dst: Any, source: str, destination: str) -> MoveResult:
    counts = copy_documents(src, dst)
    usage = [tuple(row) for row in src.usage_rows()]
    if usage:
        dst.record_usage(usage)
    sessions.copy_all(src, dst)
    before, checksum = src.counts(), content_checksum(src)
    if (counts.documents, counts.chunks, counts.bytes) != (before.documents, before.chunks, before.bytes) \
            or content_checksum(dst) != checksum or len(dst.usage_rows()) != len(usage) \
            or sessions.count(dst) != sessions.count(src):
        raise MoveFailed(f"the copy of tenant {tenant.id!r} does not match its source; nothing was switched",
                         "run the move again; if it fails again, run `tenantctl verify` on the tenant")
    return MoveResult(tenant.id, source, destination, True, counts.documents, counts.chunks, len(usage), checksum)


def _switch(tenant: Tenant, to: str) -> None:
    from tenantctl.storage import registry

    save_tenant_config(tenant.config.model_copy(update={"store": to}), tenant.config_path)
    registry.publish_settings(tenant.id, tenant.dir, to)  # cluster mode: every node sees the new placement
    tenant.__dict__.pop("config", None)  # the cached settings name the old store


def _remove_local_files(tenant: Tenant) -> None:
    for name in (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm", MANIFEST_FILE):
        (tenant.dir / name).unlink(missing_ok=True)
    for index in tenant.dir.glob(INDEX_GLOB):
        index.unlink(missing_ok=True)


def _empty_postgres_source(tenant: Tenant, src: Any, source: str) -> None:
    """After the switch: the rows the tenant left behind, and a dedicated tenant's schema."""
    src.drop_all()
    if source == "postgres-dedicated":
        drop_dedicated_schema(tenant.id)


def _to_postgres(tenant: Tenant, to: str) -> MoveResult:
    """Into the pool or into a dedicated schema, from the folder or from the other PostgreSQL store."""
    source = tenant.config.store
    if to == "postgres-dedicated":
        create_dedicated_schema(tenant.id)
    with tenant.open_store() as src:
        with open_pg_store(tenant.id, to, tenant.config_path) as dst:
            dst.drop_all()  # rows of an earlier, interrupted move
            try:
                result = _copy_and_check(tenant, src, dst, source, to)
            except BaseException:  # a copy never switched to leaves none of the tenant's rows there
                with contextlib.suppress(Exception):
                    dst.drop_all()
                raise
        _switch(tenant, to)
        if source != "local":
            _empty_postgres_source(tenant, src, source)
    if source == "local":
        _remove_local_files(tenant)
    return result


def _to_folder(tenant: Tenant) -> MoveResult:
    from tenantctl.storage.index import refresh_index

    source = tenant.config.store
    _remove_local_files(tenant)  # files of an earlier, interrupted move
    staging = tenant.dir / f".moving-{STORE_FILE}"
    _remove_staging(staging)  # of an earlier, interrupted move
    with tenant.open_store() as src:
        try:
            with Store(staging) as dst:
                result = _copy_and_check(tenant, src, dst, source, "local")
        except BaseException:  # a copy never switched to leaves no file behind
            _remove_staging(staging)
            raise
        os.replace(staging, tenant.store_path)
        with Store(tenant.store_path) as store:
            refresh_index(tenant.dir, store)  # the FAISS index, before any reader can look for it
        _switch(tenant, "local")
        _empty_postgres_source(tenant, src, source)
    return result


def _remove_staging(staging: Path) -> None:
    for part in (staging, staging.with_name(staging.name + "-wal"), staging.with_name(staging.name + "-shm")):
        part.unlink(missing_ok=True)
