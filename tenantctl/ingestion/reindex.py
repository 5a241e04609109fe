"""Bring tenants in line with the sources listed in their tenant.yaml: add, update, prune.

Built for cron: each tenant runs under its own write lock; a busy or failing tenant does not stop the
others; the outcome of each is one of ok, partial (some files failed), busy, error, skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tenantctl import logs
from tenantctl.config import Config, TenantConfig, dump_yaml
from tenantctl.errors import BadInput, Busy, ExitCode, TenantctlError
from tenantctl.ingestion.ingest import Source, ingest
from tenantctl.storage.tenants import TENANT_FILE, Tenant


@dataclass
class TenantRun:
    tenant: str
    status: str  # ok | partial | busy | error | skipped
    summary: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def sources_of(tenant: Tenant) -> list[Source]:
    """The tenant's sources; relative paths are relative to the tenant's folder."""
    return [
        Source((tenant.dir / Path(s.path).expanduser()).resolve(), tuple(s.include), tuple(s.exclude))
        for s in tenant.config.sources
    ]


def reindex_tenant(tenant: Tenant, cfg: Config, *, wait: float = 0) -> TenantRun:
    if tenant.record.status == "suspended":
        return TenantRun(tenant.id, "skipped", error="suspended")
    try:
        sources = sources_of(tenant)
        if not sources:
            return TenantRun(tenant.id, "skipped", error="no sources in tenant.yaml")
        summary = ingest(tenant, sources, cfg, prune=True, wait=wait)
    except Busy as exc:
        return TenantRun(tenant.id, "busy", error=exc.message, hint=exc.hint)
    except TenantctlError as exc:
        logs.event("reindex", level="error", tenant=tenant.id, error=exc.message)
        return TenantRun(tenant.id, "error", error=exc.message, hint=exc.hint)
    except Exception as exc:  # one tenant's failure must not stop the others
        logs.event("reindex", level="error", tenant=tenant.id, error=f"{type(exc).__name__}: {exc}")
        return TenantRun(tenant.id, "error", error=f"{type(exc).__name__}: {exc}")
    data = summary.to_dict()
    if summary.failed:
        failed = [f for f in data["files"] if f["status"] == "failed"]
        return TenantRun(tenant.id, "partial", data, error=f"{len(failed)} files failed: "
                         + "; ".join(f"{f['path']}: {f['reason']}" for f in failed[:3]))
    return TenantRun(tenant.id, "ok", data)


def exit_code(runs: list[TenantRun]) -> ExitCode:
    """Success; some tenants failed (partial); busy (retry later); all failed (error)."""
    statuses = {r.status for r in runs}
    failed = sum(r.status in ("error", "partial") for r in runs)
    if failed and len(runs) == 1 and runs[0].status == "error":
        return ExitCode.ERROR
    if failed:
        return ExitCode.PARTIAL
    if "busy" in statuses:
        return ExitCode.BUSY
    return ExitCode.OK


def edit_sources(tenant: Tenant, *, add: Source | None = None, remove: str | None = None) -> list[dict]:
    """Add or remove a source in tenant.yaml, keeping the file's other settings as written."""
    path = tenant.dir / TENANT_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    sources = list(data.get("sources") or [])
    if add is not None:
        entry: dict[str, Any] = {"path": str(add.path)}
        if add.include:
            entry["include"] = list(add.include)
        if add.exclude:
            entry["exclude"] = list(add.exclude)
        sources = [s for s in sources if s.get("path") != entry["path"]] + [entry]
    if remove is not None:
        kept = [s for s in sources if s.get("path") not in (remove, str(Path(remove).expanduser().resolve()))]
        if len(kept) == len(sources):
            raise BadInput(f"tenant {tenant.id!r} has no source {remove!r}",
                           f"list them with `tenantctl source list {tenant.id}`")
        sources = kept
    data["sources"] = sources
    TenantConfig.model_validate(data)
    dump_yaml(data, path)
    return sources
