"""`tenantctl tenant create|list|show|delete|suspend|resume|export|move|import`."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli._common import JsonOption, TenantArg, WaitOption, confirm, err, out, print_json, typed_paths
from tenantctl.textproc import plural

app = typer.Typer(help="Create, list, show, suspend, resume, export, import, move and delete tenants.",
                  no_args_is_help=True)


@app.command("create")
def create(
    tenant_id: TenantArg,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    store: Annotated[str, typer.Option(
        "--store", help="local: the tenant's folder; postgres: the PostgreSQL pool; postgres-dedicated: its own"
        " PostgreSQL schema (both need `postgres:` in config.yaml; dedicated also `admin_dsn`)."
    )] = "local",
    json_out: JsonOption = False,
) -> None:
    """Create a tenant: its folder, tenant.yaml and empty store."""
    from tenantctl.config import STORE_KINDS
    from tenantctl.errors import BadInput
    from tenantctl.storage.tenants import create_tenant, describe

    if store not in STORE_KINDS:
        raise BadInput(f"unknown store {store!r}", f"use --store {' or '.join(STORE_KINDS)}")
    tenant = create_tenant(tenant_id, name, store)
    if json_out:
        print_json(describe(tenant))
    else:
        where = {"postgres": "in the PostgreSQL pool", "postgres-dedicated": "in its own PostgreSQL schema"}.get(
            tenant.config.store, f"at {tenant.dir}")
        out.print(f"Created tenant {tenant.id} {where}")


@app.command("list")
def list_(json_out: JsonOption = False) -> None:
    """List tenants (reads the registry only; no index is loaded)."""
    from tenantctl.storage import registry

    rows = registry.all_tenants()
    if json_out:
        print_json([r.__dict__ for r in rows])
        return
    if not rows:
        err.print("No tenants yet. Create one with `tenantctl create ID`.")
        return
    import sys

    # A display name comes from whoever created or exported the tenant: no escape sequences reach the terminal.
    lines = [(r.id, r.status, r.created_at, _printable(r.display_name or "")) for r in rows]
    if sys.stdout.isatty():  # a header for people; scripts reading a pipe get the bare rows
        lines.insert(0, ("ID", "STATUS", "CREATED", "NAME"))
    sys.stdout.writelines(f"{i:<32} {status:<10} {created:<20}  {name}".rstrip() + "\n"
                          for i, status, created, name in lines)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


@app.command("show")
def show(tenant_id: TenantArg, json_out: JsonOption = False) -> None:
    """Show a tenant's settings, counts and index manifest (without loading the index)."""
    from tenantctl.storage.tenants import describe, open_tenant

    info = describe(open_tenant(tenant_id))
    if json_out:
        print_json(info)
        return
    import yaml

    out.print(yaml.safe_dump(info, sort_keys=False, allow_unicode=True, width=1000).rstrip(), markup=False)


@app.command("delete")
def delete(
    tenant_id: TenantArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required without a terminal.")] = False,
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Delete a tenant and everything it holds: documents, index, sessions, usage, keys.

    Exit 75 while an ingest, reindex, source remove, repair, export or move holds it (or wait with --wait)."""
    from tenantctl.paths import validate_tenant_id
    from tenantctl.storage import registry
    from tenantctl.storage.tenants import delete_tenant, open_tenant

    if registry.get(validate_tenant_id(tenant_id)) is None:
        open_tenant(tenant_id)  # raises "does not exist"
    confirm(f"Delete tenant {tenant_id!r} and all its data?", yes)
    delete_tenant(tenant_id, wait=wait)
    if json_out:
        print_json({"tenant": tenant_id, "deleted": True})
    else:
        out.print(f"Deleted tenant {tenant_id}")


@app.command("suspend")
def suspend(tenant_id: TenantArg, json_out: JsonOption = False) -> None:
    """Suspend a tenant: it refuses questions and ingests until resumed (search still works)."""
    _set_status(tenant_id, "suspended", "Suspended", json_out)


@app.command("resume")
def resume(tenant_id: TenantArg, json_out: JsonOption = False) -> None:
    """Resume a suspended tenant."""
    _set_status(tenant_id, "active", "Resumed", json_out)


def _set_status(tenant_id: str, status: str, done: str, json_out: bool) -> None:
    from tenantctl.storage.tenants import describe, set_status

    tenant = set_status(tenant_id, status)
    if json_out:
        print_json(describe(tenant))
    else:
        out.print(f"{done} tenant {tenant.id}")


@app.command("export")
def export(
    tenant_id: TenantArg,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The .tar.gz to write (replacing an earlier export).",
                                        show_default=False)],
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Export a tenant to one .tar.gz: tenant.yaml, a consistent copy of its store, its index, checksums.

    Holds the tenant's write lock meanwhile (searches go on); the file appears whole or not at all.
    A tenant in PostgreSQL is exported the same way (its rows as a store; the index is rebuilt on import).
    """
    from tenantctl.operations.transfer import export_tenant

    (path,) = typed_paths([file])  # "" (an unset variable) was "<working directory> is a folder"
    result = export_tenant(tenant_id, path, wait=wait)
    if json_out:
        print_json(result.to_dict())
    else:
        out.print(f"Exported tenant {result.tenant} to {result.file} ({plural(result.documents, 'document')}, "
                  f"{plural(result.chunks, 'chunk')}, {plural(result.bytes, 'byte')})")


@app.command("move")
def move(
    tenant_id: TenantArg,
    to: Annotated[str, typer.Option(
        "--to", help="local (the tenant's folder), postgres (the pool) or postgres-dedicated (its own schema).",
        show_default=False)],
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Move a tenant between its folder, the PostgreSQL pool and a dedicated schema, without re-embedding.

    Copies documents, chunks, vectors, usage history and chat sessions, checks the copy (counts and a
    checksum), then switches. Searches go on throughout; ingests get "busy" (exit 75) until it is done.
    """
    from tenantctl.config import STORE_KINDS
    from tenantctl.errors import BadInput
    from tenantctl.operations.move import move_tenant

    if to not in STORE_KINDS:
        raise BadInput(f"unknown store {to!r}", f"use --to {' or '.join(STORE_KINDS)}")
    result = move_tenant(tenant_id, to, wait=wait)
    if json_out:
        print_json(result.to_dict())
    elif not result.moved:
        out.print(f"Tenant {result.tenant} is already in the {result.destination} store")
    else:
        out.print(f"Moved tenant {result.tenant} from {result.source} to {result.destination}: "
                  f"{plural(result.documents, 'document')}, {plural(result.chunks, 'chunk')}, "
                  f"{plural(result.usage_events, 'usage event')}, checksum verified "
                  f"({result.seconds:.1f}s)")


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(metavar="FILE", help="A .tar.gz written by `tenantctl tenant export`.",
                                        show_default=False)],
    as_id: Annotated[str | None, typer.Option("--as", metavar="ID",
                                              help="Import under this id instead of the exported one.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Import a tenant from an export; refuses unsafe or altered archives and ids already taken.

    The tenant keeps its status, display name and creation time; with --as, tenant.yaml gets the new id.
    An export of a tenant in PostgreSQL goes back into the same kind of store in cluster mode.
    """
    from tenantctl.operations.transfer import import_tenant

    (path,) = typed_paths([file])  # "" (an unset variable) was "<working directory> does not exist or is not a file"
    result = import_tenant(path, as_id=as_id)
    if json_out:
        print_json(result.to_dict())
    else:
        source = f" (exported as {result.source_tenant})" if result.source_tenant != result.tenant else ""
        out.print(f"Imported tenant {result.tenant}{source} from {result.file}: "
                  f"{plural(result.documents, 'document')}, {plural(result.chunks, 'chunk')}, status {result.status}",
                  markup=False)
    if result.usage_left_behind:
        err.print(f"{result.tenant}: {plural(result.usage_left_behind, 'usage event')} of {result.source_tenant} "
                  f"stay with {result.source_tenant} (a tenant imported under a new id starts its own usage history)",
                  markup=False, soft_wrap=True)
    if result.unknown_model:
        err.print(f"{result.tenant}: its answer.model {result.unknown_model!r} is not under `models:` in this home's "
                  f"config.yaml: its questions fail until you add it there, or change answer.model in "
                  f"{result.path}/tenant.yaml", markup=False, soft_wrap=True)
    if result.missing_tool_files:
        files = ", ".join(result.missing_tool_files)
        err.print(f"{result.tenant}: its tools' data files are not in an export ({files}): "
                  f"copy them into {result.path}", markup=False, soft_wrap=True)
    if result.dropped_sources:
        err.print(f"{result.tenant}: sources from the archive were dropped ({', '.join(result.dropped_sources)}); "
                  f"add the ones this machine should index with `tenantctl source add {result.tenant} PATH`",
                  markup=False, soft_wrap=True)
