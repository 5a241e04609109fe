"""Choosing and running a tenant's tools. `tool_passages` is the seam the answer path uses.

Choice is deterministic: a tool runs when its `when` pattern matches the question, with the pattern's
named groups as parameters. Every call is metered as one `tool` usage event in the tenant's own store and
logged with the tenant (tool name, kind, outcome, milliseconds — never the URL, parameters or secrets).
A failing call never raises out of here: it comes back as a result with status "error" and its message.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl.config import Config, ToolConfig
from tenantctl.errors import ToolFailed
from tenantctl.tools import plugins
from tenantctl.tools.base import ToolCall, ToolResult, passage, render
from tenantctl.tools.secrets import Secrets

if TYPE_CHECKING:
    from tenantctl.storage.store import Store
    from tenantctl.storage.tenants import Tenant

MAX_TOOLS_PER_QUESTION = 3
MAX_QUESTION_CHARS = 2000  # `when` patterns are run on at most this much of a question
WHEN_TIMEOUT_S = 0.05
_TOOLS_READ: dict[Path, tuple[tuple[int, int], list[ToolConfig]]] = {}


def tools_of(tenant: Tenant) -> list[ToolConfig]:
    """The tenant's tools as its tenant.yaml says now: a tool removed or changed there stops or changes at
    the next question, also in a server that loaded the tenant long ago. A tenant.yaml that no longer
    validates runs no tool (and is logged)."""
    from tenantctl import logs
    from tenantctl.config import load_tenant_config
    from tenantctl.errors import ConfigError

    path = tenant.config_path
    try:
        stat = path.stat()
    except OSError:
        return []
    version = (stat.st_mtime_ns, stat.st_size)
    known = _TOOLS_READ.get(path)
    if known is not None and known[0] == version:
        return known[1]
    try:
        tools = load_tenant_config(path).tools
    except ConfigError as exc:
        logs.event("tool_config_invalid", level="error", tenant=tenant.id, error=exc.message)
        return []
    _TOOLS_READ[path] = (version, tools)
    return tools


def select(tools: list[ToolConfig], question: str) -> list[tuple[ToolConfig, dict[str, str] | ToolFailed]]:
    """The tools whose `when` matches the question, in tenant.yaml order, with their parameters. Patterns
    run with a time limit (the `regex` module's): a pattern that backtracks for ever on some question
    fails its tool for that question instead of freezing the answer path of every tenant."""
    if not tools:
        return []
    import regex

    chosen: list[tuple[ToolConfig, dict[str, str] | ToolFailed]] = []
    for tool in tools:
        try:
            match = regex.search(tool.when, question[:MAX_QUESTION_CHARS], timeout=WHEN_TIMEOUT_S)
        except TimeoutError:
            chosen.append((tool, ToolFailed(tool.name, f"its `when` pattern ran over {WHEN_TIMEOUT_S * 1000:g} ms "
                                            "on this question", "simplify the pattern: nested repeats backtrack")))
            continue
        if match:
            chosen.append((tool, {k: v for k, v in match.groupdict().items() if v is not None}))
    return chosen[:MAX_TOOLS_PER_QUESTION]


def _plugin(tool: ToolConfig, call: ToolCall) -> Any:
    """Run a plugin kind in a thread, giving up at the tool's time-out (the thread is left to finish)."""
    function = plugins.load(tool.name, tool.kind)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function(call)
        except BaseException as exc:  # reported below, in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(tool.timeout_s)
    if thread.is_alive():
        raise ToolFailed(tool.name, f"timed out after {tool.timeout_s:g} s", "raise timeout_s of the tool")
    if "error" in box:
        exc = box["error"]
        failed = exc if isinstance(exc, ToolFailed) else ToolFailed(
            tool.name, f"the {tool.kind} plugin failed ({type(exc).__name__}: {exc})", "see the plugin's documentation")
        # The shared log gets what failed, not the plugin's words: they may hold the question's values.
        failed.logged = f"tool {tool.name!r}: the {tool.kind} plugin failed ({type(exc).__name__})"
        raise failed
    return box.get("value")


def _call(tenant: Tenant, tool: ToolConfig, params: dict[str, str], cfg: Config, secrets: Secrets) -> str:
    if tool.kind == "http":
        from tenantctl.tools import http

        data = http.call(tool, params, secrets, cfg.tools, tenant.id)
    elif tool.kind == "sql":
        from tenantctl.tools import sql

        data = sql.call(tool, params, tenant.dir, cfg.tools)
    else:
        call = ToolCall(tenant=tenant.id, name=tool.name, params=dict(params),
                        options=secrets.fill_any(tool.options), folder=tenant.dir,
                        timeout_s=tool.timeout_s, max_bytes=cfg.tools.max_response_bytes)
        data = _plugin(tool, call)
    body = render(data, params)
    if len(body.encode()) > cfg.tools.max_response_bytes:
        raise ToolFailed(tool.name, f"the result exceeds the limit of {cfg.tools.max_response_bytes} bytes",
                         "raise tools.max_response_bytes in config.yaml, or return less")
    return passage(tool.description, tool.name, params, body)


def run_tool(tenant: Tenant, tool: ToolConfig, params: dict[str, str] | ToolFailed, cfg: Config,
             store: Store | None = None) -> ToolResult:
    """One metered, logged call of one of the tenant's own tools (or, given a ToolFailed, the record of a
    call that could not start). Never raises for the tool's failure."""
    from tenantctl.storage import metering

    own = store is None
    store = store or tenant.open_store()
    secrets = Secrets(cfg.tools, tenant.id, tool.name)
    started = time.perf_counter()
    failed, params = (params, {}) if isinstance(params, ToolFailed) else (None, params)
    result = ToolResult(name=tool.name, kind=tool.kind, status="ok", ms=0.0, params=dict(params))
    try:
        with metering.track(store, "tool") as usage:
            usage.details = {"tool": tool.name, "kind": tool.kind}
            try:
                if failed is not None:
                    raise failed
                result.text = secrets.scrub(_call(tenant, tool, params, cfg, secrets)) or ""
            except ToolFailed as exc:
                result.status, result.error, result.hint = "error", secrets.scrub(exc.message), exc.hint
                usage.details["error"] = secrets.scrub(getattr(exc, "logged", None)) or result.error
                raise
            except Exception as exc:  # a tool's bug must not become a 500
                result.status = "error"
                result.error = secrets.scrub(f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}")
                usage.details["error"] = result.error
                raise
    except Exception:
        pass  # recorded in the result, the usage event and the log line
    finally:
        result.ms = round((time.perf_counter() - started) * 1000, 1)
        if own:
            store.close()
    return result


def tool_passages(tenant: Tenant, question: str, cfg: Config, store: Store | None = None) -> list[ToolResult]:
    """Run the tenant's tools whose `when` matches the question. Successful results carry passage text;
    failed ones an error to show as a note beside a document-only answer."""
    return [run_tool(tenant, tool, params, cfg, store) for tool, params in select(tools_of(tenant), question)]


def describe(tenant: Tenant, cfg: Config) -> list[dict[str, Any]]:
    """What `tool list` shows: each tool's kind, trigger and target, and whether it can run here.
    Header values are never shown (they may hold secrets); their names are."""
    rows = []
    for tool in tenant.config.tools:
        row: dict[str, Any] = {"name": tool.name, "kind": tool.kind, "when": tool.when,
                               "description": tool.description, "timeout_s": tool.timeout_s,
                               "installed": plugins.available(tool.kind)}
        if tool.kind == "http":
            from tenantctl.tools.http import host_port

            target = host_port(tool.url or "")
            row.update(target=target, allowed=target in cfg.tools.hosts_for(tenant.id), headers=sorted(tool.headers))
        elif tool.kind == "sql":
            from tenantctl.tools.sql import hard_linked, inside_folder

            path = inside_folder(tool, tenant.dir)  # what the tool's call refuses; nothing outside is looked at
            row.update(target=tool.file, allowed=path is not None and not hard_linked(path),
                       exists=path.is_file() if path else None)
        else:
            row.update(target=None, allowed=True, options=sorted(tool.options))
        row["missing_secrets"] = Secrets(cfg.tools, tenant.id, tool.name).missing(
            [tool.url, tool.headers, tool.query, tool.options])
        rows.append(row)
    return rows


def try_tools(tenant: Tenant, cfg: Config, name: str | None = None, question: str | None = None) -> list[ToolResult]:
    """`tool test`: run one tool (or every tool the question selects), exactly as an answer would."""
    from tenantctl.errors import BadInput, ToolNotFound

    tools = tenant.config.tools
    if name is not None:
        tools = [t for t in tools if t.name == name]
        if not tools:
            known = ", ".join(t.name for t in tenant.config.tools) or "none"
            raise ToolNotFound(f"tenant {tenant.id!r} has no tool {name!r} (its tools: {known})",
                               f"list them with `tenantctl tool list {tenant.id}`")
    if question is None:
        if name is None:
            raise BadInput("name a tool or pass --question", f"e.g. `tenantctl tool test {tenant.id} --question Q`")
        import regex

        groups = ", ".join(regex.compile(tools[0].when).groupindex)
        if groups:  # it ran without them: "You did not supply a value for binding parameter :pid"
            raise BadInput(f"tool {name!r} takes {groups} from a question's match of its `when` pattern",
                           f"pass one: `tenantctl tool test {tenant.id} {name} --question Q`")
        return [run_tool(tenant, tools[0], {}, cfg)]
    chosen = select(tools, question)
    if not chosen:
        which = f"tool {name!r}'s" if name else "any tool's"
        raise BadInput(f"the question does not match {which} `when` pattern",
                       f"see the patterns with `tenantctl tool list {tenant.id}`")
    return [run_tool(tenant, tool, params, cfg) for tool, params in chosen]
