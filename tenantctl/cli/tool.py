"""`tenantctl tool list|test|kinds`: a tenant's tools (tenant.yaml `tools:`), run safely."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from tenantctl.cli._common import JsonOption, TenantArg, err, load_cfg, out, print_json
from tenantctl.errors import ExitCode

app = typer.Typer(help="A tenant's tools: list them, test one, list the installed kinds.", no_args_is_help=True)


@app.command("list")
def list_(tenant_id: TenantArg, json_out: JsonOption = False) -> None:
    """List a tenant's tools: kind, `when` pattern, target, and whether they can run here."""
    from tenantctl.storage.tenants import open_tenant
    from tenantctl.tools.run import describe

    rows = describe(open_tenant(tenant_id), load_cfg())
    if json_out:
        print_json(rows)
        return
    if not rows:
        err.print(f"Tenant {tenant_id} has no tools. Add them under `tools:` in its tenant.yaml.")
        return
    for row in rows:
        problems = [p for p, bad in (("kind not installed", not row["installed"]),
                                     ("host not in tools.allowed_hosts" if row["kind"] == "http"
                                      else "outside the tenant's folder: refused", not row["allowed"]),
                                     ("file missing", row.get("exists") is False)) if bad]
        problems += [f"secret ${{{var}}} not set" for var in row["missing_secrets"]]
        state = "; ".join(problems) or "ready"
        out.print(f"{row['name']:<16} {row['kind']:<8} {row['target'] or '-':<28} {state}", markup=False)
        out.print(f"{'':<16} when: {row['when']}", markup=False)
        if row["description"]:
            out.print(f"{'':<16} {row['description']}", markup=False)


@app.command("test")
def test(
    tenant_id: TenantArg,
    name: Annotated[str | None, typer.Argument(
        metavar="NAME", help="The tool; default: every tool the question selects.")] = None,
    question: Annotated[str | None, typer.Option("--question", "-q",
                                                 help="A question: its `when` match fills the call.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Run a tenant's tool as an answer would (metered and logged); exit 1 if a call failed."""
    from tenantctl.storage.tenants import open_tenant
    from tenantctl.tools.run import try_tools

    tenant = open_tenant(tenant_id)
    tenant.require_active("tool calls")
    results = try_tools(tenant, load_cfg(), name, question)
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            out.print(f"tool:{r.name} ({r.kind}) {r.status} in {r.ms:.0f} ms", markup=False)
            if r.ok:
                out.print(r.text, markup=False)
            else:
                err.print(f"[bold red]Error:[/] {escape(r.error)}", markup=True, soft_wrap=True)
                if r.hint:
                    err.print(f"[dim]Hint:[/] {escape(r.hint)}", markup=True, soft_wrap=True)
    if any(not r.ok for r in results):
        raise typer.Exit(int(ExitCode.ERROR))


@app.command("kinds")
def kinds(json_out: JsonOption = False) -> None:
    """List the tool kinds: built-in ones and those of installed plugins (entry-point group tenantctl.tools)."""
    from tenantctl.tools.plugins import kinds as all_kinds

    rows = [k.__dict__ for k in all_kinds()]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['name']:<12} {row['source']:<28} {row['target']}", markup=False)
