"""`tenantctl query` and `tenantctl chat`."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from tenantctl.cli._common import (
    JsonOption,
    TenantArg,
    err,
    inert,
    load_cfg,
    out,
    plain,
    print_error,
    print_json,
    print_json_error,
)
from tenantctl.cli.search import KeyOption, ServerOption, remote_target
from tenantctl.textproc import plural

if TYPE_CHECKING:
    from tenantctl.answering.chat import ChatSession
    from tenantctl.config import Config
    from tenantctl.errors import BadInput
    from tenantctl.retrieval.session import TenantSession


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.command("chat")(chat)


def _streamed(ask, stream: bool = True):
    """Run `ask(on_token)`; on a terminal the model's tokens stream live, then the checked answer shows."""
    if not (stream and sys.stdout.isatty()):
        return ask(None)
    from rich.live import Live
    from rich.text import Text

    shown = Text(style="dim")
    with Live(shown, console=out, refresh_per_second=15, transient=True) as live:
        def on_token(piece: str) -> None:
            shown.append(inert(piece))  # the model copies passages: their control characters too
            live.update(shown)

        return ask(on_token)


def _render(result: dict) -> None:
    out.print(result["answer"], markup=False)
    for note in result.get("notes") or []:
        err.print(f"[dim]Note:[/] {escape(note)}", markup=True, soft_wrap=True, highlight=False)
    if result["fallback"]:
        err.print("[dim](no short answer the passages support: quoting the best sentence)[/]", markup=True)
    if result["sources"]:
        out.print("\nSources:")
        for s in result["sources"]:
            where = f" ({s['position']})" if s.get("position") else ""
            out.print(f"  [{s['n']}] {plain(s['path'])}{where}", markup=False)
            if s.get("quote") and s["quote"] != result.get("short_answer"):
                out.print(f"      “{s['quote']}”", markup=False)


def query(
    tenant_id: TenantArg,
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question.")],
    passages: Annotated[bool, typer.Option("--passages", help="With --json: include the passages.")] = False,
    server: ServerOption = None,
    key: KeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Answer a question from one tenant's documents, citing them, with the shared local LLM."""
    if passages and not json_out:  # it was ignored: the answer came without them, and no word why
        from tenantctl.errors import BadInput

        raise BadInput("--passages needs --json", "add --json: the passages are part of its result")
    cfg, server = remote_target(tenant_id, server)
    empty = False
    if server:
        from tenantctl.serving.client import call

        result = call(server, "/v1/query", {"question": question, "passages": passages}, tenant_id, key)
    else:
        from tenantctl.answering.answer import answer_question
        from tenantctl.retrieval.session import TenantSession
        from tenantctl.storage.tenants import open_tenant

        opened = TenantSession(open_tenant(tenant_id), cfg)
        try:
            answer = _streamed(lambda on_token: answer_question(opened, question, cfg, on_token=on_token),
                               stream=not json_out)
            result = answer.to_dict(include_passages=passages)
            empty = answer.no_answer and opened.store.chunk_count() == 0
        finally:
            opened.close()
    if json_out:
        print_json(result)
    else:
        _render(result)
    if empty:
        err.print(f"Tenant {tenant_id} has no documents yet: `tenantctl ingest {tenant_id} PATH`.")


def _print_sessions(rows: list[dict]) -> None:
    """One line a session, its columns aligned whatever the ids' and counts' widths; a header on a terminal."""
    counts = [(str(r["messages"]), "exchange" if r["messages"] == 1 else "exchanges") for r in rows]  # answered
    digits = max((len(n) for n, _ in counts), default=1)
    lines = [(r["id"], r["updated_at"], f"{n:>{digits}} {word}", r["title"].replace("\n", " "))
             for r, (n, word) in zip(rows, counts, strict=True)]
    if sys.stdout.isatty() and lines:
        lines.insert(0, ("SESSION", "UPDATED", "EXCHANGES", "TITLE"))
    widths = [max(len(line[i]) for line in lines) for i in range(3)] if lines else []
    for line in lines:
        text = "  ".join(f"{cell:<{w}}" for cell, w in zip(line[:3], widths, strict=True)) + f"  {line[3]}"
        out.print("".join(ch if ch.isprintable() else "?" for ch in text.rstrip()), markup=False)


def chat(
    tenant_id: TenantArg,
    session: Annotated[str | None, typer.Option("--session", help="Resume this session id.")] = None,
    list_sessions: Annotated[bool, typer.Option("--list", help="List this tenant's sessions.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Talk with one tenant's documents; the history is kept with the tenant's data, resumable by id.

    Reads questions line by line (from a terminal or a pipe); an empty line, /exit, /quit or end of input
    ends it; another /word is no question (nothing is asked or metered).
    A question refused as bad input (too long) is said and the chat goes on; the exit code is then 2.
    """
    from tenantctl.answering.chat import ChatSession
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    if list_sessions and session is not None:  # the listing ignored the session, also one that does not exist
        from tenantctl.errors import BadInput

        raise BadInput("--list lists the sessions, --session resumes one: not both",
                       f"`tenantctl chat {tenant_id} --list`, then `--session ID`")
    tenant = open_tenant(tenant_id)
    cfg = load_cfg()
    if not list_sessions:
        tenant.require_active("questions")  # before a session is created for nothing
    opened = TenantSession(tenant, cfg)
    try:
        if list_sessions:
            rows = sessions.listing(opened.store)
            if json_out:
                print_json(rows)
            elif rows:
                _print_sessions(rows)
            else:  # an empty listing said nothing: no sessions, or a wrong home?
                err.print(f"Tenant {tenant.id} has no chat sessions yet: `tenantctl chat {tenant.id}` starts one.")
            return
        conversation = ChatSession.open(opened, session, lazy=True)  # a chat that asks nothing leaves nothing
        session = conversation.id
        earlier = plural(len(conversation.history), "earlier exchange")
        err.print(f"Session {session} with tenant {tenant.id} ({earlier}); /exit to leave.")
        if opened.store.chunk_count() == 0:  # as `query` says: every answer would be "do not hold"
            err.print(f"Tenant {tenant.id} has no documents yet: `tenantctl ingest {tenant.id} PATH`.")
        try:
            refused = _converse(conversation, opened, cfg, json_out)
        finally:  # also after Ctrl-C, the usual way out of a terminal's chat: the id was lost
            if conversation.stored:  # a new session is stored at its first question
                err.print(f"Resume it with `tenantctl chat {tenant.id} --session {session}`.")
    finally:
        opened.close()
    if refused is not None:
        raise typer.Exit(int(refused.exit_code))


def _converse(conversation: ChatSession, opened: TenantSession, cfg: Config, json_out: bool) -> BadInput | None:
    """Answer questions read line by line until an empty line, /exit or the end of input; the last
    question refused as bad input (too long), if any: the chat goes on past it."""
    from tenantctl.errors import BadInput

    refused: BadInput | None = None
    while True:
        if sys.stdin.isatty():
            err.print("[bold]>[/] ", end="", markup=True)
        line = sys.stdin.readline()
        question = line.strip()
        if not line or question in ("", "/exit", "/quit"):
            return refused
        if re.fullmatch(r"/\w+", question):  # "/help", "/bye": a command, not a question to meter and keep
            err.print(f"unknown command {question}: /exit, /quit or an empty line leaves the chat; "
                      "anything else is asked of the documents")
            continue
        try:
            result = _streamed(lambda on_token, q=question: conversation.turn(opened, q, cfg, on_token=on_token),
                               stream=not json_out)
        except BadInput as exc:  # this question's fault (a pasted page): it ended the whole chat
            print_error(exc)
            if json_out:  # a line of the NDJSON too, where its answer would be
                print_json_error(exc.message, exc.hint, int(exc.exit_code))
            refused = exc
            continue
        if json_out:
            sys.stdout.write(json.dumps({"session": conversation.id, **result.to_dict()}, ensure_ascii=False,
                                        default=str) + "\n")
            sys.stdout.flush()
        else:
            _render(result.to_dict())
            out.print()
