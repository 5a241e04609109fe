"""Request limits every endpoint shares, and errors rendered without server paths.

`BodyLimit` refuses a request body larger than the server's limits with 413 before it is read — by its
Content-Length, or, for a chunked body, as soon as the bytes received pass the limit: JSON bodies at most
`server.max_json_kb`, multipart uploads at most `server.max_upload_mb`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException

from tenantctl.errors import (
    Busy,
    ConfigError,
    IndexMismatch,
    ModelUnavailable,
    RateLimited,
    Refused,
    SessionNotFound,
    Suspended,
    TenantctlError,
)

OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")  # their errors take OpenAI's shape


def is_openai(path: str) -> bool:
    """Whether `path` is an OpenAI-compatible endpoint (`/v1/models/{id}` included)."""
    return path in OPENAI_PATHS or path.startswith("/v1/models/")

_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:/[^\s/:'\"`,;()\[\]]+){2,}")
_API_PATH = re.compile(r"/v1/(?:chat|documents|models|query|search|usage|admin|health)(?:/[\w{}-]+)*")


def scrub(text: str | None) -> str | None:
    """`text` with every absolute path cut to its last component: clients never see server paths. The
    API's own endpoints (`/v1/...`), which hints name, stay whole."""
    if not text:
        return text
    return _ABSOLUTE_PATH.sub(lambda m: m.group(0) if _API_PATH.fullmatch(m.group(0))
                              else m.group(0).rsplit("/", 1)[-1], text)


# A CLI command (`tenantctl repair ...`) or option (`--wait`, "ingest with --prune") in a hint.
_NAMES_CLI = re.compile(r"`tenantctl[ `]|(?<![\w-])--[a-z]")
# What an API client is told instead of a CLI command, by the kind of error (the first that fits).
_OPERATOR_HINTS: tuple[tuple[type[TenantctlError], str], ...] = (
    (RateLimited, "retry later"),
    (Refused, "remove uploads (GET /v1/documents lists them, DELETE /v1/documents/{path} removes one), or ask "
              "the server's operator to raise the tenant's quota"),
    (IndexMismatch, "the tenant's index must be rebuilt on the server: contact the server's operator"),
    (ModelUnavailable, "the server's model cannot be used: contact the server's operator"),
    (ConfigError, "the server's settings need a fix: contact the server's operator"),
)


def api_hint(exc: TenantctlError) -> str | None:
    """The hint of a core error for a client of the API: the core's hints name CLI commands and options
    (`tenantctl tenant resume`, `--wait`) for the operator at the command line, which an API client cannot
    run; these say what the client can do. Without server paths (a core hint is scrubbed)."""
    if isinstance(exc, Suspended):
        return "contact the operator to resume the tenant"
    if isinstance(exc, SessionNotFound):
        return "GET /v1/chat/sessions lists this tenant's sessions; POST /v1/chat/sessions starts one"
    if isinstance(exc, Busy):
        return "retry later: an ingest, reindex or upload of this tenant is running"
    if exc.hint and _NAMES_CLI.search(exc.hint):
        return next((hint for kind, hint in _OPERATOR_HINTS if isinstance(exc, kind)),
                    "a fault on the server, not in the request: contact the server's operator")
    return scrub(exc.hint)


def error_body(exc: TenantctlError) -> dict[str, str | None]:
    """`{error, hint}` of a core error, as every endpoint and event stream shows it: no server paths, and
    a hint an API client can act on."""
    return {"error": scrub(exc.message), "hint": api_hint(exc)}


class HttpRefusal(HTTPException):
    """An HTTP refusal of the request itself (its credentials, its body, its model) with any status and
    its one-line fix: rendered `{error, hint, detail}` like every other error (`detail`, the message
    again, for clients of the former `{"detail": ...}` shape). Not `errors.Refused`, the core's refusal
    by policy (a quota, a suspension: 429, 403)."""

    def __init__(self, status: int, message: str, hint: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.hint = hint


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the limit of {limit} bytes")


class BodyLimit:
    """Pure ASGI middleware: caps every request body."""

    def __init__(self, app: Any, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.upload_limit if multipart else self.json_limit
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit, is_openai(scope.get("path", "")))
            return
        received = 0

        async def limited() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit, is_openai(scope.get("path", "")))


async def _refuse(send: Any, limit: int, openai: bool = False) -> None:
    error = f"request body larger than the limit of {limit} bytes"
    hint = "send less, or ask the operator to raise `server.max_json_kb` / `server.max_upload_mb`"
    shaped = ({"error": {"message": f"{error} ({hint})", "type": "invalid_request_error", "code": 413, "hint": hint}}
              if openai else {"error": error, "hint": hint})
    body = json.dumps(shaped).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
