"""The command line: parses arguments, calls the core, renders what it returns.

Heavy modules (torch, sentence-transformers, faiss, llama-cpp) are imported only inside the commands
that need them, so `tenantctl --help` and `tenantctl tenant list` start instantly.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import ExitCode, TenantctlError
from . import admin, ingest, integrity, query, search, tenant
from . import init as init_cmd

app = typer.Typer(
    name="tenantctl",
    help="Multi-tenant RAG on one machine: shared compute, isolated data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(tenant.app, name="tenant")
init_cmd.register(app)
ingest.register(app)
search.register(app)
query.register(app)
integrity.register(app)
admin.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns core errors into `Error: ... / Hint: ...` and an exit code."""
    try:
        app(args=argv, prog_name="tenantctl")
    except TenantctlError as exc:
        from ._common import err

        err.print(f"[bold red]Error:[/] {exc.message}", markup=True, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]Hint:[/] {exc.hint}", markup=True, soft_wrap=True)
        if os.environ.get("TENANTCTL_DEBUG"):
            raise
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))
