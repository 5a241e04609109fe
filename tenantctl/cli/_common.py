"""What every command shares: consoles, JSON output, the loaded config, confirmation."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tenantctl.errors import TenantctlError

# Control characters from documents and file names, shown as escapes ("\x1b") instead of acted on: a
# tenant's uploaded text with "\x1b[2J" cleared the operator's screen in `search` (rich drops only BEL, BS,
# VT, FF and CR). `plain` also shows a newline or tab so: a file name with a newline made two lines of one
# "failed:" report.
_INERT = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0D, 0x20), 0x7F, *range(0x80, 0xA0))}
_ONE_LINE = {**_INERT, 0x09: "\\t", 0x0A: "\\n"}


def inert(text: str) -> str:
    """Text with its control characters (but newlines and tabs) as escapes, as the consoles print it."""
    return text.translate(_INERT)


def plain(text: str) -> str:
    """A file name (or any text meant for one line) with its control characters, newlines too, as escapes."""
    return text.translate(_ONE_LINE)


class _Console(Console):
    """A console that prints a string's control characters (but newlines and tabs) as escapes."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(inert(o) if isinstance(o, str) else o for o in objects), **kwargs)


# No markup unless a call asks for it (and escapes what it prints): a "[/b]" in a heading, a path or a
# key's label is text, not a rich tag (it raised MarkupError).
out = _Console(highlight=False, soft_wrap=True, markup=False)
err = _Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # a hint's command stays on its line

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
TenantArg = Annotated[str, typer.Argument(metavar="TENANT", help="Tenant id.", show_default=False)]


def _seconds(value: float) -> float:
    """--wait's value: "-5" waited for ever (the lock library reads a negative time-out as no limit) and "nan"
    ended in a traceback; `inf` waits for ever on purpose."""
    if math.isnan(value) or value < 0:
        raise typer.BadParameter(f"{value} is not a number of seconds (0 or more; inf waits for ever)")
    return value


WaitOption = Annotated[
    float, typer.Option("--wait", metavar="SECONDS", callback=_seconds,
                        help="Wait this long for another writer instead of failing.")
]


_PRINTED: list[bool] = []  # a JSON document went to stdout: an error after it adds no second one


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
    _PRINTED.append(True)


def print_json_error(message: str, hint: str | None, exit_code: int) -> None:
    """With --json, an error is also one JSON object on stdout, `{error, hint, exit_code}` (the API's
    `{error, hint}`): a script reading stdout got nothing it could parse, only stderr's `Error:` text.
    One line, so it is also a line of a chat's NDJSON. Nothing when a JSON document was printed already."""
    if _PRINTED:
        return
    try:
        sys.stdout.write(json.dumps({"error": message, "hint": hint, "exit_code": int(exit_code)}, ensure_ascii=False)
                         + "\n")
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):  # a reader gone (`| head`), a closed stdout: stderr said it
        pass


def wants_json(args: list[str]) -> bool:
    """Whether a command line asks for JSON (`--json` before any `--`)."""
    return "--json" in (args[:args.index("--")] if "--" in args else args)


def print_error(exc: TenantctlError) -> None:
    """`Error: ... / Hint: ...` on stderr, as every command says a core error (no hint line without one)."""
    from rich.markup import escape

    err.print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True, soft_wrap=True)
    if exc.hint:
        err.print(f"[dim]Hint:[/] {escape(exc.hint)}", markup=True, soft_wrap=True)


def typed_paths(values: list[str]) -> list[Path]:
    """Paths named on the command line. An empty one is refused: it is what a script's unset variable
    gives (`tenantctl ingest acme "$DOCS"`), and as a path it is the working directory, which was ingested
    whole (or added as a source) into the tenant."""
    from tenantctl.errors import BadInput

    if any(not value.strip() for value in values):
        raise BadInput("an empty path was given (an unset variable in a script?)",
                       "name the files or folders; `.` names the working directory")
    return [Path(value) for value in values]


def load_cfg():
    from tenantctl.config import load_config

    return load_config()


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("TENANTCTL_NO_PROGRESS")


def confirm(question: str, yes: bool) -> None:
    from tenantctl.errors import BadInput, ExitCode

    if yes:
        return
    if not interactive():
        # It read "Delete tenant 'acme' and all its data? needs confirmation".
        raise BadInput(f"not confirmed, and no terminal to ask: {question}", "pass --yes to confirm it")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(int(ExitCode.ERROR))
