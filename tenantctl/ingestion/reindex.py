"""Bring tenants in line with the sources listed in their tenant.yaml: add, update, prune.

Built for cron: each tenant runs under its own write lock; a busy or failing tenant (or one whose
folder is gone) does not stop the others; the outcome of each is one of ok, partial (some files
failed), busy, error, skipped. `reindex_one` and `reindex_all` are the use cases; the CLI renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tenantctl import logs
from tenantctl.config import Config, TenantConfig, dump_yaml
from tenantctl.errors import BadInput, Busy, ExitCode, SourceNotFound, TenantctlError
from tenantctl.ingestion.ingest import SourceSpec, ingest
from tenantctl.ingestion.policy import SourceRefused
from tenantctl.storage import registry
from tenantctl.storage.layout import SETTINGS_LOCK
from tenantctl.storage.tenants import BrokenTenant, Tenant, clean_leftovers, each_tenant, open_tenant
from tenantctl.textproc import plural


@dataclass
class TenantRun:
    tenant: str
    status: str  # ok | partial | busy | error | skipped
    summary: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def remove_source(tenant: Tenant, path: str, *, wait: float = 0) -> tuple[list[dict], list[str]]:
    """Remove a source from tenant.yaml and its documents from the index, except those another of the
    tenant's sources still holds. Under the tenant's write lock. Returns the sources left and the
    documents removed."""
    from tenantctl.ingestion.ingest import in_scope
    from tenantctl.storage.index import refresh_index

    named = (path, str(Path(path).expanduser().resolve()))
    specs = list(zip(tenant.config.sources, sources_of(tenant), strict=True))
    roots = [spec.path for source, spec in specs if source.path in named]
    others = [spec.path for source, spec in specs if source.path not in named]
    with tenant.write_lock(wait), tenant.open_store() as store:
        sources = edit_sources(tenant, remove=path)  # refuses a path that is not one of its sources
        gone = [key for key in store.documents() if in_scope(key, roots) and not in_scope(key, others)]
        if gone:
            store.remove_documents(gone)
            if not tenant.pooled:
                refresh_index(tenant.dir, store)
    logs.event("source-remove", tenant=tenant.id, removed=len(gone))
    return sources, gone


def sources_of(tenant: Tenant) -> list[SourceSpec]:
    """The tenant's sources; relative paths are relative to the tenant's folder."""
    return [
        SourceSpec((tenant.dir / Path(s.path).expanduser()).resolve(), tuple(s.include), tuple(s.exclude))
        for s in tenant.config.sources
    ]


def reindex_tenant(tenant: Tenant, cfg: Config, *, wait: float = 0) -> TenantRun:
    if tenant.record.status == "suspended":
        return TenantRun(tenant.id, "skipped", error="suspended")
    from tenantctl.ingestion.ingest import FileResult
    from tenantctl.ingestion.policy import source_refusal

    try:
        sources = sources_of(tenant)
        if not sources:
            return TenantRun(tenant.id, "skipped", error="no sources in tenant.yaml")
        refused = [(s, r) for s in sources if (r := source_refusal(s.path, tenant.dir, cfg))]
        allowed = [s for s in sources if not any(s is r for r, _ in refused)]
        if not allowed:
            raise SourceRefused(f"every source is refused: {refused[0][1]}",
                                f"fix the sources with `tenantctl source list|remove|add {tenant.id}`")
        summary = ingest(tenant, allowed, cfg, prune=True, wait=wait)
        for source, reason in refused:  # named in the report; the tenant's other sources went through
            summary.record(FileResult(str(source.path), "failed", reason=f"source refused: {reason}"))
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
        return TenantRun(tenant.id, "partial", data, error=f"{plural(len(failed), 'file')} failed: "
                         + "; ".join(f"{f['path']}: {f['reason']}" for f in failed[:3]))
    return TenantRun(tenant.id, "ok", data)


def exit_code(runs: list[TenantRun]) -> ExitCode:
    """Success; partial when a tenant failed or had files fail (`--all` goes on past each); busy (retry
    later) when one was busy and none failed; error when the one tenant of the run failed outright."""
    statuses = {r.status for r in runs}
    failed = sum(r.status in ("error", "partial") for r in runs)
    if failed and len(runs) == 1 and runs[0].status == "error":
        return ExitCode.ERROR
    if failed:
        return ExitCode.PARTIAL
    if "busy" in statuses:
        return ExitCode.BUSY
    return ExitCode.OK


_STATUS = {ExitCode.OK: "ok", ExitCode.PARTIAL: "partial", ExitCode.BUSY: "busy", ExitCode.ERROR: "error"}


@dataclass
class ReindexReport:
    """The outcome of a reindex run: one TenantRun per tenant, the overall status and exit code."""

    runs: list[TenantRun] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.runs)

    @property
    def status(self) -> str:
        return _STATUS[self.exit_code]

    @property
    def failures(self) -> list[TenantRun]:
        return [r for r in self.runs if r.status in ("error", "partial", "busy")]

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "status": self.status, "tenants": [r.to_dict() for r in self.runs]}


def reindex_one(tenant_id: str, cfg: Config, *, wait: float = 0) -> ReindexReport:
    """Reindex one named tenant. Named explicitly, a suspended tenant or one without sources is refused
    (Suspended, BadInput) rather than skipped."""
    tenant = open_tenant(tenant_id)
    tenant.require_active("re-indexing")
    if not tenant.config.sources:
        raise BadInput(f"tenant {tenant_id!r} has no sources to re-index",
                       f"add one with `tenantctl source add {tenant_id} PATH`")
    return ReindexReport([reindex_tenant(tenant, cfg, wait=wait)])


def reindex_all(cfg: Config, *, wait: float = 0) -> ReindexReport:
    """Reindex every registered tenant; suspended ones and those without sources are skipped, and a
    broken one (its folder gone) is reported as an error while the others go on."""
    clean_leftovers()  # cron runs it on every node: a tenant deleted through another node leaves this one's copy
    report = ReindexReport()
    for tenant in each_tenant():
        if isinstance(tenant, BrokenTenant):
            logs.event("reindex", level="error", tenant=tenant.id, error=tenant.error.message)
            report.runs.append(TenantRun(tenant.id, "error", error=tenant.error.message, hint=tenant.error.hint))
            continue
        with tenant.as_current():
            report.runs.append(reindex_tenant(tenant, cfg, wait=wait))
    return report


def edit_sources(tenant: Tenant, *, add: SourceSpec | None = None, remove: str | None = None,
                 cfg: Config | None = None) -> list[dict]:
    """Add or remove a source in tenant.yaml, keeping the file's other settings as written. A source
    outside what the operator allows (see `ingestion.policy`) is refused."""
    if add is not None:
        from tenantctl.config import load_config
        from tenantctl.ingestion.policy import check_source

        check_source(add.path, tenant.dir, cfg or load_config())
    from filelock import FileLock, Timeout

    try:
        with FileLock(tenant.dir / SETTINGS_LOCK, timeout=30):  # two edits at once: neither is lost
            return _edit_sources(tenant, add, remove)
    except Timeout:
        raise Busy(f"the tenant.yaml of {tenant.id!r} is being edited by another command", "retry") from None


def _edit_sources(tenant: Tenant, add: SourceSpec | None, remove: str | None) -> list[dict]:
    path = tenant.config_path
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
            raise SourceNotFound(f"tenant {tenant.id!r} has no source {remove!r}",
                                 f"list them with `tenantctl source list {tenant.id}`")
        sources = kept
    data["sources"] = sources
    TenantConfig.model_validate(data)
    dump_yaml(data, path)
    registry.publish_settings(tenant.id, tenant.dir, tenant.config.store)  # cluster mode: for every node
    return sources
