"""`tenantctl doctor`: checks of the installation and the home (the checks live in operations/doctor.py)."""

from __future__ import annotations

import typer

from tenantctl.cli._common import JsonOption, out, print_json
from tenantctl.textproc import plural

_STYLE = {"ok": ("ok", "green"), "warn": ("WARN", "yellow"), "fail": ("FAIL", "bold red")}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(json_out: JsonOption = False) -> None:
    """Check the installation and the home: Python, packages, models, config, registry, tenants, disk.

    Looks only (loads no model); exit code 1 when any check fails, 0 otherwise (warnings included).
    """
    from rich.markup import escape

    from tenantctl.operations import doctor as core

    checks = core.run_checks()
    code = core.exit_code(checks)
    if json_out:
        print_json(core.report(checks))
        raise typer.Exit(code)
    width = max(len(c.name) for c in checks)
    for c in checks:
        label, style = _STYLE[c.status]
        out.print(f"[{style}]{label:<4}[/]  {escape(c.name):<{width}}  {escape(c.detail)}", markup=True)
        if c.fix and c.status != "ok":
            out.print(f"      {'':<{width}}  [dim]fix:[/] {escape(c.fix)}", markup=True)
    summary = core.summarize(checks)
    verdict = "[bold red]problems found[/]" if code else "[green]healthy[/]"
    counts = f"{summary['ok']} ok, {plural(summary['warn'], 'warning')}, {plural(summary['fail'], 'failure')}"
    out.print(f"\n{counts}: {verdict}", markup=True)
    raise typer.Exit(code)
