"""`tenantctl serve`: the multi-tenant HTTP API.

The tenant of every request comes from its API key (or a claim of a verified bearer JWT, with
`server.jwt`) alone: one dependency (`deps.CurrentTenant`) resolves it, sets the tenant context once and
applies the tenant's rate limit; no path, query or body field names a tenant. Routes live in
`serving/routes/`, one module per area; this factory only builds the shared services (tenant pool
within a memory budget, fair queue in front of the one shared model, rate limiter, metrics) and
assembles the routers.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantctl.config import Config
from tenantctl.errors import (
    ConfigError,
    DiskFull,
    ExitCode,
    RateLimited,
    Suspended,
    TenantctlError,
    TooLarge,
    from_system_error,
)
from tenantctl.serving.deps import Services
from tenantctl.serving.errors import error_body, is_openai, openai_shape, scrub
from tenantctl.serving.limits import BodyLimit
from tenantctl.serving.metrics import Measure, Metrics
from tenantctl.serving.pool import FairScheduler, Overloaded, RateLimiter, TenantPool
from tenantctl.storage import registry

_STATUS = {
    ExitCode.USAGE: 400, ExitCode.NOT_FOUND: 404, ExitCode.REFUSED: 429, ExitCode.BUSY: 409,
    ExitCode.ERROR: 500, ExitCode.PARTIAL: 207,
}


def status_of(exc: TenantctlError) -> int:
    if isinstance(exc, Overloaded):
        return 503
    if isinstance(exc, DiskFull):
        return 507
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, Suspended):
        return 403
    if isinstance(exc, ConfigError):  # the request is fine; the tenant's settings need the operator
        return 503
    return _STATUS.get(exc.exit_code, 500)


def ensure_can_listen(host: str, port: int) -> None:
    """Refuse, before anything starts, an address the server cannot listen on: a port in use, an unknown
    host, an address not this machine's (uvicorn printed its own ERROR line or a traceback, exit 3)."""
    import errno
    import socket

    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:  # not "stop what uses that port"
            hint = "pass --host an address of this machine (127.0.0.1; 0.0.0.0 for every interface)"
        elif exc.errno == errno.EACCES:
            hint = "pass a --port above 1023, or run as a user allowed to listen on it"
        else:
            hint = "stop what uses that port, or pass another --port (or --host)"
        raise TenantctlError(f"cannot listen on {host}:{port} ({exc.strerror or exc})", hint) from None


def ensure_database(cfg: Config) -> None:
    """In cluster mode, refuse to start when PostgreSQL cannot be reached as `postgres.dsn` (a wrong
    password, a server down): `serve` said "serving" and its health "ok" while every request failed 503."""
    if cfg.postgres is not None:
        from tenantctl.storage.pg.schema import connect

        connect(cfg.postgres.dsn, connect_timeout=10).close()


def create_app(cfg: Config) -> FastAPI:
    from tenantctl.serving.identity import JwtVerifier
    from tenantctl.serving.routes import ROUTERS

    shared = Services(cfg=cfg, pool=TenantPool(cfg, int(cfg.server.memory_budget_mb * (1 << 20))),
                      scheduler=FairScheduler(cfg.server.max_queue, cfg.server.max_queue_per_tenant),
                      limiter=RateLimiter(), metrics=Metrics(),
                      jwt=JwtVerifier(cfg.server.jwt) if cfg.server.jwt else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with registry.kept_connections():  # key and tenant lookups on every request: connections kept
            yield
        shared.scheduler.close()
        shared.pool.close()

    # No redirect of `/v1/search/` to `/v1/search`: its Location named the server's own address (behind a gateway,
    # an internal one) and came without a body; it is a 404 whose hint names the endpoint (`_http_error`).
    app = FastAPI(title="tenantctl", version="1", summary="Multi-tenant RAG: shared compute, isolated data",
                  lifespan=lifespan, redirect_slashes=False)
    app.state.services = shared
    app.state.pool, app.state.scheduler, app.state.cfg = shared.pool, shared.scheduler, cfg

    _error_handlers(app)
    app.add_middleware(BodyLimit, json_limit=cfg.server.max_json_kb << 10,
                       upload_limit=int(cfg.server.max_upload_mb * (1 << 20)))

    app.add_middleware(Measure, metrics=shared.metrics)

    for router in ROUTERS:
        app.include_router(router)
    # Each endpoint's methods, for a 405's hint (Starlette's names only the first route's of a path).
    app.state.methods = [(route.path_regex, route.methods) for router in ROUTERS for route in router.routes
                         if isinstance(route, APIRoute)]
    return app


_HINTS = {404: "no such endpoint: the API documentation at /docs lists them",
          405: "this endpoint takes another method: the API documentation at /docs lists them"}
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type"}


def _respond(request: Request, body: dict[str, Any], status: int,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """`{error, hint}`; on the OpenAI-compatible endpoints in OpenAI's shape, `{error: {message, type,
    code}}`, whose `message` (hint included) is what an OpenAI client's exception shows."""
    if is_openai(request.url.path):
        body = openai_shape(str(body.get("error") or body.get("detail") or "error"), body.get("hint"), status)
    return JSONResponse(body, status_code=status, headers=headers)


def _methods(request: Request, path: str | None = None) -> list[str]:
    """The methods the endpoints at the request's path (or `path`) take."""
    methods: set[str] = set()
    for pattern, taken in getattr(request.app.state, "methods", []):
        if pattern.match(path or request.url.path):
            methods |= set(taken) - {"HEAD"}
    return sorted(methods)


def _error_handlers(app: FastAPI) -> None:
    """Every refusal and failure is one JSON object `{error, hint}` without server paths or tracebacks."""

    @app.exception_handler(TenantctlError)
    async def _tenantctl_error(request: Request, exc: TenantctlError) -> JSONResponse:
        body = error_body(exc)  # the hint an API client can act on, not a CLI command
        # A rate limit says when to come back: OpenAI clients (and others) wait that long before retrying.
        retry = {"Retry-After": str(math.ceil(exc.retry_after))} if isinstance(exc, RateLimited) else None
        return _respond(request, body, status_of(exc), retry)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        hint = getattr(exc, "hint", None) or _HINTS.get(exc.status_code, "see the API documentation at /docs")
        allowed, headers = _methods(request) if exc.status_code == 405 else [], exc.headers
        trimmed = request.url.path.rstrip("/")
        if exc.status_code == 404 and trimmed != request.url.path and _methods(request, trimmed):
            hint = f"no such endpoint: drop the trailing slash ({trimmed})"
        if allowed:  # which: "another method" left the client to guess (Allow named only one route's)
            hint = f"this endpoint takes {' or '.join(allowed)}: the API documentation at /docs lists them"
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        message = scrub(str(exc.detail))
        return _respond(request, {"error": message, "hint": hint, "detail": message}, exc.status_code, headers)

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def _system_error(request: Request, exc: Exception) -> JSONResponse:
        typed = from_system_error(exc)
        return _respond(request, error_body(typed), status_of(typed))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from tenantctl import logs

        logs.event("server_error", level="error", endpoint=request.url.path, error=type(exc).__name__)
        return _respond(request, {"error": "internal error (logged on the server)", "hint": "retry; if it "
                                  "persists, tell the server's operator (it is in the server's log)"}, 500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed: it may be huge, or not even serialisable (`1e400`).
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        where = ".".join(errors[0]["loc"]) if errors else "body"
        error, hint = f"{where}: {errors[0]['msg'] if errors else 'invalid'}", "see the API documentation at /docs"
        if any(e.get("type") == "json_invalid" for e in exc.errors()):  # its loc is the parser's offset
            error, hint = "the body is not valid JSON", "send a JSON object with `Content-Type: application/json`"
        elif errors and errors[0]["loc"] == ["body"] and exc.errors()[0].get("type") in _NOT_AN_OBJECT:
            sent = request.headers.get("content-type", "none").split(";")[0]
            error = f"the body is not a JSON object (Content-Type: {sent[:60]})"
            hint = "send a JSON object with `Content-Type: application/json` (curl -d sends a form without it)"
        elif errors and errors[0]["loc"][:2] == ["body", "files"]:  # /v1/documents
            error = "no files: send each file as a multipart file part named `files`"
            hint = "curl -F files=@report.pdf -F files=@notes.md (a part named otherwise, or text, is not a file)"
        return _respond(request, {"error": f"invalid request: {error}", "hint": hint, "detail": errors}, 422)
