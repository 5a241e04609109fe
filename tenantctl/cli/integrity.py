"""`tenantctl verify` and `tenantctl repair`."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli._common import JsonOption, TenantArg, WaitOption, err, load_cfg, out, print_json
from tenantctl.errors import ExitCode
from tenantctl.textproc import plural


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("repair")(repair)


def _summary(report) -> str:
    if report.generation is None:
        return ""
    index = (", in PostgreSQL" if report.path == "postgres"  # no FAISS file: pgvector searches the rows
             else f", {report.index_file}" if report.index_file else ", no index yet")
    counts = f"{plural(report.documents, 'document')}, {plural(report.chunks, 'chunk')}"
    return f" (generation {report.generation}, {counts}{index})"


def _render(report) -> None:
    if report.ok:
        out.print(f"{report.tenant}: ok{_summary(report)}", markup=False)
    else:
        count = len(report.problems)
        out.print(f"{report.tenant}: {plural(count, 'problem')}", markup=False)
        for problem in report.problems:
            out.print(f"  - {problem.message}", markup=False)
    for note in report.notes:
        out.print(f"  note: {note}", markup=False, style="dim")


def verify(
    tenant_id: Annotated[
        str | None, typer.Argument(metavar="TENANT", help="Tenant id.", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Verify every tenant.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Check a tenant's store, full-text index, manifest and FAISS index for damage or staleness.

    Read-only; never loads the embedding model. Each problem names its file and the fix.

    Exit code 0 when everything is ok, 1 when a problem is found; with --all, as `reindex --all`: 4 when
    some tenants have problems (1 when the home's only tenant has).
    """
    from tenantctl.errors import BadInput
    from tenantctl.operations.integrity import verify_all, verify_tenant
    from tenantctl.storage.tenants import open_tenant

    if bool(tenant_id) == all_:
        raise BadInput("name one tenant or pass --all", "e.g. `tenantctl verify acme` or `tenantctl verify --all`")
    reports = [verify_tenant(open_tenant(tenant_id))] if tenant_id else verify_all()
    ok = all(r.ok for r in reports)
    if json_out:
        print_json({"ok": ok, "tenants": [r.to_dict() for r in reports]})
    else:
        if not reports:
            err.print("No tenants yet. Create one with `tenantctl create ID`.")
        for report in reports:
            _render(report)
        if len(reports) > 1:
            bad = sum(not r.ok for r in reports)
            out.print(f"{plural(len(reports), 'tenant')}: {len(reports) - bad} ok, {bad} with problems", markup=False)
    if not ok:
        raise typer.Exit(int(ExitCode.ERROR if len(reports) == 1 else ExitCode.PARTIAL))


def repair(
    tenant_id: TenantArg,
    reembed: Annotated[
        bool,
        typer.Option("--reembed", help="Re-embed every stored chunk with the configured embedder, at"
                     " `embedder.precision` (int8 when unset; loads the model)."),
    ] = False,
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Rebuild a tenant's FAISS index (and its full-text index, if out of step) from its store, then verify.

    Never re-reads source files; without --reembed, never loads the embedding model. A tenant in
    PostgreSQL has no index files: repair verifies it, and --reembed re-embeds it there.

    --reembed re-embeds every chunk with the configured embedder at `embedder.precision`, or int8 (the
    default for new indexes) when precision is unset: the fix after changing `embedder.name` or
    `embedder.precision`, and the way to convert an index built with fp32 to int8.
    """
    from tenantctl.operations.integrity import repair_tenant
    from tenantctl.storage.tenants import open_tenant

    tenant = open_tenant(tenant_id)
    cfg = load_cfg() if reembed else None
    report = repair_tenant(tenant, cfg, wait=wait, reembed=reembed)
    if json_out:
        print_json(report.to_dict())
    else:
        for action in report.actions:
            out.print(f"{tenant.id}: {action}", markup=False)
        _render(report.after)
    if not report.ok:
        raise typer.Exit(int(ExitCode.ERROR))
