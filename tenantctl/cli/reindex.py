"""`tenantctl reindex` and `tenantctl source add|list|remove`."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli._common import JsonOption, TenantArg, WaitOption, err, out, plain, print_json, typed_paths

source_app = typer.Typer(help="Manage the source folders a tenant is re-indexed from.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("reindex")(reindex)
    app.add_typer(source_app, name="source")


def reindex(
    tenant_id: Annotated[str | None, typer.Argument(metavar="TENANT", help="Tenant id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every tenant.")] = False,
    wait: WaitOption = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Report every tenant, not only failures.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Bring tenants in line with the sources in their tenant.yaml (add, update, prune).

    Silent unless something fails. With --all, suspended tenants and those without sources are skipped.
    Exit codes: 0 success, 4 some tenants failed, 75 busy (retry later), 5 the named tenant is
    suspended, 2 it has no sources, 1 error.
    """
    from tenantctl.cli._common import load_cfg
    from tenantctl.errors import BadInput
    from tenantctl.ingestion.reindex import reindex_all, reindex_one

    if bool(tenant_id) == all_:
        raise BadInput("name one tenant or pass --all", "e.g. `tenantctl reindex acme` or `tenantctl reindex --all`")
    cfg = load_cfg()
    report = reindex_one(tenant_id, cfg, wait=wait) if tenant_id else reindex_all(cfg, wait=wait)
    if json_out:
        print_json(report.to_dict())
    for run in report.runs:
        if run in report.failures:
            fix = f" ({run.hint})" if run.hint else ""  # "busy" said nothing of --wait
            err.print(f"{run.tenant}: {run.status}: {plain(run.error or '')}{fix}", markup=False, soft_wrap=True)
        elif verbose and not json_out:
            s = run.summary or {}
            detail = (f"{s.get('added', 0)} added, {s.get('updated', 0)} updated, {s.get('skipped', 0)} skipped, "
                      f"{s.get('removed', 0)} removed" if s else run.error)
            out.print(f"{run.tenant}: {run.status}: {detail}", markup=False)
    raise typer.Exit(int(report.exit_code))


@source_app.command("add")
def source_add(
    tenant_id: TenantArg,
    name: Annotated[str, typer.Argument(metavar="PATH", help="A folder (or file) to index from.", show_default=False)],
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob of files to take (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of files to skip (repeatable).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Add a source folder to a tenant's tenant.yaml (absolute path stored).

    Refused inside the tenantctl home (another tenant's folder, the home itself) and, when
    `ingest.source_roots` is set in config.yaml, outside those folders.
    """
    from tenantctl.errors import BadInput
    from tenantctl.ingestion.ingest import SourceSpec
    from tenantctl.ingestion.reindex import edit_sources
    from tenantctl.storage.tenants import open_tenant

    (path,) = typed_paths([name])
    tenant = open_tenant(tenant_id)
    if not path.expanduser().exists():
        raise BadInput(f"source {path} does not exist", "check the path; sources are files or folders")
    resolved = path.expanduser().resolve()
    existed = any(s.path == str(resolved) for s in tenant.config.sources)
    edit_sources(tenant, add=SourceSpec(resolved, tuple(include or ()), tuple(exclude or ())))
    if json_out:
        print_json(_sources_result(tenant.id, str(resolved), "updated" if existed else "added"))
        return
    verb = "updated (its include/exclude replaced)" if existed else "added"
    out.print(f"{tenant.id}: source {resolved} {verb}; run `tenantctl reindex {tenant.id}`")


@source_app.command("list")
def source_list(tenant_id: TenantArg, json_out: JsonOption = False) -> None:
    """List a tenant's sources."""
    from tenantctl.storage.tenants import open_tenant

    sources = [s.model_dump() for s in open_tenant(tenant_id).config.sources]
    if json_out:
        print_json(sources)
        return
    if not sources:
        err.print(f"Tenant {tenant_id} has no sources: `tenantctl source add {tenant_id} PATH` adds one.")
    for s in sources:
        out.print(f"{plain(s['path'])}  include={s['include']} exclude={s['exclude']}", markup=False)


@source_app.command("remove")
def source_remove(
    tenant_id: TenantArg, path: Annotated[str, typer.Argument(metavar="PATH", help="The source path as listed.")],
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Remove a source from tenant.yaml and its documents from the index (not those another source holds).

    Takes the tenant's write lock: exit 75 while an ingest or reindex writes to it (or wait with --wait).
    """
    from pathlib import Path

    from tenantctl.ingestion.reindex import remove_source
    from tenantctl.storage.tenants import open_tenant
    from tenantctl.textproc import plural

    tenant = open_tenant(tenant_id)
    # named as `source add` and `source list` name it (a relative path typed was echoed as typed)
    named = (path, str(Path(path).expanduser().resolve())) if path.strip() else (path,)
    listed = next((s.path for s in tenant.config.sources if s.path in named), path)
    _, gone = remove_source(tenant, path, wait=wait)
    if json_out:
        print_json({**_sources_result(tenant_id, listed, "removed"), "documents_removed": len(gone)})
    else:
        removed = plural(len(gone), "document")
        out.print(f"{tenant_id}: source {plain(listed)} removed, and its {removed} from the index", markup=False)


def _sources_result(tenant_id: str, path: str, action: str) -> dict:
    """What `source add|remove --json` print: the change and the tenant's sources after it (as `source list`)."""
    from tenantctl.storage.tenants import open_tenant

    sources = [s.model_dump() for s in open_tenant(tenant_id).config.sources]
    return {"tenant": tenant_id, "source": path, "action": action, "sources": sources}
