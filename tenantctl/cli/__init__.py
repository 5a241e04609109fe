"""The command line: parses arguments, calls the core, renders what it returns.

Heavy modules (torch, sentence-transformers, faiss, llama-cpp) are imported only inside the commands
that need them, so `tenantctl --help` and `tenantctl tenant list` start instantly.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Annotated

# tenantctl uses no pydantic plugins, and discovering them reads every installed package's metadata
# (~40 ms of each process, before any work starts). Set before the commands' modules import pydantic.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402

from tenantctl.cli import doctor, ingest, integrity, query, reindex, search, serve, tenant, tool, usage
from tenantctl.cli import init as init_cmd
from tenantctl.errors import ExitCode, TenantctlError, from_system_error


def _print_version(value: bool) -> None:
    if value:
        from tenantctl import __version__

        typer.echo(f"tenantctl {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[bool, typer.Option("--version", help="Print tenantctl's version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    pass


_SETTINGS: dict = dict(
    name="tenantctl",
    callback=_root,
    help="Multi-tenant RAG on one machine: shared compute, isolated data.\n\n"
    "Start with: tenantctl create ID, then tenantctl ingest ID PATH, then tenantctl query ID QUESTION.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**_SETTINGS)
# `--help` lists commands in the order they are added: the first steps (create, ingest, query) first.
app.command("create", help="Create a tenant: its folder, tenant.yaml and empty store (as `tenant create`).")(
    tenant.create
)
ingest.register(app)
query.register(app)
search.register(app)
app.add_typer(tenant.app, name="tenant")
init_cmd.register(app)
reindex.register(app)
integrity.register(app)
usage.register(app)
serve.register(app)
app.add_typer(tool.app, name="tool")
doctor.register(app)


def _unwrapped(group: typer.Typer, prefix: tuple[str, ...] = ()) -> typer.Typer:
    """Join the hard-wrapped lines of each command's help paragraphs: typer's rich help keeps a
    docstring's line breaks after its first paragraph, so `--help` broke sentences mid-line ("first
    citation,\nabstention"). Paragraphs (blank lines) stay apart; `\\b` ones keep their lines.
    Each command's help ends with its examples (cli/examples.py)."""
    import inspect

    from tenantctl.cli.examples import epilog

    for info in group.registered_commands:
        doc = info.help if info.help is not None else inspect.getdoc(info.callback)
        if doc:
            info.help = "\n\n".join(p if p.startswith("\b") else " ".join(p.split("\n"))
                                    for p in inspect.cleandoc(doc).split("\n\n"))
        info.epilog = epilog(" ".join((*prefix, info.name or info.callback.__name__)))
    for sub in group.registered_groups:
        _unwrapped(sub.typer_instance, (*prefix, sub.name))
    return group


_unwrapped(app)

# The commands a fresh process is most often started for, each in an app of its own module's commands
# alone: typer turns the app it runs into a click command by introspecting every command's signature
# (~15 ms of CPU for all of them). Their --help, usage errors and exit codes are the same as in `app`.
_HOT = {"search": search.register, "query": query.register}
_LIGHT: dict[str, typer.Typer] = {}


def _app_for(args: list[str]) -> typer.Typer:
    if not args or args[0] not in _HOT:
        return app
    if args[0] not in _LIGHT:
        light = typer.Typer(**_SETTINGS)
        _HOT[args[0]](light)
        _LIGHT[args[0]] = _unwrapped(light)
    return _LIGHT[args[0]]


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and turns core errors into `Error: ... / Hint: ...` and an exit code.
    Every command leaves one log line (command name, tenant, exit code, time; never its arguments).
    As a process's entry (`argv` None), a search or question that succeeded ends the process at once."""
    import time

    from tenantctl.cli._common import _PRINTED
    from tenantctl.context import cli_actor, current_actor, current_tenant

    args = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    _PRINTED.clear()  # a command's own JSON (tests run many commands in one process)
    current_actor.set(cli_actor())  # every log line of the command names who ran it
    os.umask(0o077)  # tenants' data is its owner's alone: every file and folder tenantctl makes is private
    code: int = 0
    error: str | None = None
    try:
        _run(_app_for(args), args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise
    except TenantctlError as exc:
        code, error = _report(exc, args)
        if os.environ.get("TENANTCTL_DEBUG"):
            raise
        sys.exit(code)
    except KeyboardInterrupt:
        code = int(ExitCode.INTERRUPTED)
        _say_interrupted()
        sys.exit(code)
    except (OSError, sqlite3.Error) as exc:  # a full disk, a read-only home, a damaged store
        if os.environ.get("TENANTCTL_DEBUG"):
            code = int(ExitCode.ERROR)
            raise
        from tenantctl import paths

        typed = from_system_error(exc, paths.home(), current_tenant.get())
        code, error = _report(typed, args)
        sys.exit(code)
    except BaseException as exc:  # a crash is logged as one, never as success
        code, error = int(ExitCode.ERROR), f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _log_command(args, code, error, started)
        if argv is None and code == 0 and args and args[0] in _HOT:
            _exit_now()


def _run(app: typer.Typer, args: list[str]) -> None:
    """Run the app as its console script does, but print a usage error (an unknown option, a missing
    argument, a bad value) as every other error: `Error: ...` and a `Hint:` line, not a five-line box."""
    from typer.exceptions import TyperException  # click's ClickException, as typer vendors it

    try:
        code = app(args=args, prog_name="tenantctl", standalone_mode=False)
    except TyperException as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # its help is printed already
            from rich.markup import escape

            from tenantctl.cli._common import err, print_json_error, wants_json

            ctx = getattr(exc, "ctx", None)
            command = args[0] if args and not args[0].startswith("-") else ""
            where = ctx.command_path if ctx is not None else f"tenantctl {command}".strip()
            err.print(f"[bold red]Error:[/] {escape(exc.format_message())}", markup=True, soft_wrap=True)
            err.print(f"[dim]Hint:[/] see `{escape(where)} --help`", markup=True, soft_wrap=True)
            if wants_json(args):
                print_json_error(exc.format_message(), f"see `{where} --help`", exc.exit_code)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(int(ExitCode.ERROR))
    if isinstance(code, int) and code:  # typer.Exit(code), returned when not in standalone mode
        if code == ExitCode.INTERRUPTED:  # typer's Exit(130) for Ctrl-C
            _say_interrupted()
        sys.exit(code)


def _say_interrupted() -> None:
    """Ctrl-C ended a command without a word (exit 130): an operator could not tell what was kept."""
    sys.stderr.write("\nInterrupted. Work already committed is kept (an ingest's finished batches); "
                     "run the command again to finish.\n")


def _exit_now() -> None:
    """End a finished search or question without tearing the interpreter down: freeing the LLM, ONNX
    Runtime, FAISS and every module's objects took 0.1-0.25 s after the answer was printed. Nothing is
    lost: its store is closed, the log line and the cached prompt state are written, and stdout and
    stderr are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a reader that went away, a closed stream (None)
            pass
    os._exit(0)


def _report(exc: TenantctlError, args: list[str]) -> tuple[int, str]:
    """Print `Error: ... / Hint: ...` on stderr (and, with --json, the error as JSON on stdout); the exit
    code and message to log."""
    from tenantctl.cli._common import print_error, print_json_error, wants_json

    print_error(exc)
    if wants_json(args):
        print_json_error(exc.message, exc.hint, int(exc.exit_code))
    return int(exc.exit_code), exc.message


_GROUPS = ("tenant", "tool", "key", "source")  # logged with their subcommand: `key revoke`, not `key`


def _log_command(args: list[str], code: int, error: str | None, started: float) -> None:
    import time

    quiet = ("-h", "--help", "--version", "logs", "paths", "doctor")
    if not args or args[0] in quiet or "--help" in args or "-h" in args:
        return
    from tenantctl import logs, paths

    if not paths.home().exists():  # never create a home just to log that nothing happened
        return

    words = [a for a in args[:2] if not a.startswith("-")]
    command = " ".join(words[:2]) if words and words[0] in _GROUPS else (words[0] if words else "")
    logs.event(
        "command", level="info" if code == 0 else "error", command=command, exit_code=code,
        ms=round((time.perf_counter() - started) * 1000, 1), **({"error": error} if error else {}),
    )
