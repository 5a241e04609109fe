"""How the API shows an error: `{error, hint}` as every endpoint and event stream sends it, without
server paths and with a hint an API client can act on; on the OpenAI-compatible endpoints, OpenAI's
`{error: {message, type, code}}`."""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException

from tenantctl.errors import (
    Busy,
    ConfigError,
    ExitCode,
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


# A CLI command (`tenantctl repair ...`), option (`--wait`, "ingest with --prune") or settings file of the
# server ("raise `rate_limit` in its tenant.yaml") in a hint: the operator's to act on, not the client's.
_NAMES_CLI = re.compile(r"`tenantctl[ `]|(?<![\w-])--[a-z]|\b(?:tenant|config)\.yaml\b")
# What an API client is told instead, by the kind of error (the first that fits).
_OPERATOR_HINTS: tuple[tuple[type[TenantctlError], str], ...] = (
    (RateLimited, "retry after the seconds the Retry-After header gives"),
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
    if isinstance(exc, ConfigError) and exc.hint and "restart" in exc.hint:  # a pilot model added meanwhile
        return ("the server's settings name a model it does not have (one added since it started?): contact the "
                "server's operator, who adds it or, when it is there, restarts the server")
    if isinstance(exc, Refused) and "_per_day" in exc.message:  # questions_per_day, tokens_per_day
        return "retry on the next UTC day, or ask the server's operator to raise the tenant's daily quota"
    if exc.hint and _NAMES_CLI.search(exc.hint):
        return next((hint for kind, hint in _OPERATOR_HINTS if isinstance(exc, kind)), None) or _client_part(
            exc.hint) or ("the request is not valid: the API documentation at /docs describes it"
                          if exc.exit_code == ExitCode.USAGE  # the client's fault, never "the server's"
                          else "a fault on the server, not in the request: contact the server's operator")
    return scrub(exc.hint)


def _client_part(hint: str) -> str | None:
    """A hint of the client's fix and then the operator's, "shorten it, or raise `search.max_query_chars` in
    config.yaml": the client's, then to ask the operator (it was "a fault on the server, not in the request"
    for a question over the length limit)."""
    head, sep, _ = hint.partition(", or ")
    if not sep or _NAMES_CLI.search(head):
        return None
    return f"{scrub(head)}, or ask the server's operator to raise the limit"


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


def openai_shape(error: str, hint: str | None, status: int) -> dict[str, Any]:
    """OpenAI's error shape, `{error: {message, type, code, hint}}`, whose `message` (hint included) is what
    an OpenAI client's exception shows."""
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": f"{error} ({hint})" if hint else error, "type": kind, "code": status, "hint": hint}}
