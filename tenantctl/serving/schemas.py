"""What the OpenAPI document (/openapi.json, /docs) says the errors and streams look like: the shapes the
error handlers in `app.py` really send, not FastAPI's default `{detail}`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ApiError(BaseModel):
    error: str = Field(description="what went wrong, in one line")
    hint: str | None = Field(None, description="the fix")
    detail: Any = Field(None, description="401/403/404/405: the message again; 422: each invalid field")


class OpenAIErrorBody(BaseModel):
    message: str = Field(description="the error with its hint, as an OpenAI client's exception shows it")
    type: str = Field(description="invalid_request_error, authentication_error, permission_error, "
                                  "rate_limit_error or server_error")
    code: int = Field(description="the HTTP status")
    hint: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


_CLIENT = ("400 bad input, 401 missing/unknown/revoked key, 403 suspended tenant, admin key or another "
           "tenant's, 404 not found, 409 busy, 413 too large, 422 invalid body, 429 quota or rate limit "
           "(with Retry-After)")
_SERVER = "503 the tenant's settings are invalid or the question queue is full, 507 disk full, 500 internal"

ERRORS: dict[int | str, dict[str, Any]] = {"4XX": {"model": ApiError, "description": _CLIENT},
                                           "5XX": {"model": ApiError, "description": _SERVER}}
OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {"4XX": {"model": OpenAIError, "description": _CLIENT},
                                                  "5XX": {"model": OpenAIError, "description": _SERVER}}


def streamed(what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 response of an endpoint that streams with `stream: true`: JSON, or server-sent events."""
    return {200: {"description": f"JSON; with `stream: true`, server-sent events: {what}",
                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
