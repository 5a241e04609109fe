"""What the OpenAPI document (/openapi.json, /docs) says the responses look like: the shapes the routes
and the error handlers in `app.py` really send (not FastAPI's default `{detail}`). Declared for the
document only (`responses=`), never to filter what a route returns; tests check real responses
against them, extra fields refused, so they stay true."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


def streamed(what: str, model: type[BaseModel] | None = None) -> dict[int | str, dict[str, Any]]:
    """The 200 response of an endpoint that streams with `stream: true`: JSON (`model`), or server-sent
    events."""
    response = {"description": f"JSON; with `stream: true`, server-sent events: {what}",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    return {200: response | ({"model": model} if model else {})}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchHit(_Shape):
    rank: int
    chunk_id: int
    path: str = Field(description="relative to the tenant's uploads or source folder (`uploads/report.pdf`)")
    ord: int
    start: int
    end: int
    page: int | None
    heading: str
    text: str
    score: float = Field(description="the fused score")
    similarity: float = Field(description="cosine similarity of the query and the chunk")
    dense_rank: int | None
    keyword_rank: int | None
    position: str


class SearchResult(_Shape):
    tenant: str
    hits: list[SearchHit]
    timings: dict[str, float]


class Source(_Shape):
    n: int
    path: str
    position: str
    page: int | None
    heading: str
    chunk_id: int | None
    quote: str = Field(description="the sentence of this passage that supports the answer")


class AnswerResult(_Shape):
    tenant: str
    question: str = Field(description="as answered (a chat follow-up made a question of its own)")
    answer: str = Field(description="the checked answer with its citation marks: show this one")
    citations: list[int]
    sources: list[Source]
    grounded: bool
    fallback: bool
    no_answer: bool = Field(description="the documents do not hold an answer; the model was not called")
    model: str | None
    short_answer: str
    supporting: str
    passages: int | list[SearchHit] = Field(description="how many passages; the passages with `passages: true`")
    raw: str = Field(description="what the model printed, before checking")
    confidence: float | None
    timings: dict[str, float]
    gate: dict[str, float]
    tools: list[dict[str, Any]]
    notes: list[str]


class ChatTurn(AnswerResult):
    session: str


class SessionInfo(_Shape):
    id: str
    title: str
    created_at: str
    updated_at: str
    messages: int


class NewSession(_Shape):
    id: str
    session: str = Field(description="the same id, for older clients")


class SessionMessage(_Shape):
    question: str
    answer: str


class SessionMessages(_Shape):
    session: str
    messages: list[SessionMessage]


class FileResult(_Shape):
    path: str = Field(description="the stored name")
    status: Literal["added", "updated", "skipped", "removed", "failed"]
    chunks: int
    reason: str | None


class UploadResult(_Shape):
    tenant: str
    added: int
    updated: int
    skipped: int
    removed: int
    failed: int
    chunks: int
    seconds: float
    files: list[FileResult]
    status: Literal["ok", "partial"]


class DocumentInfo(_Shape):
    path: str
    uploaded: bool = Field(description="an upload, which DELETE /v1/documents/{path} removes")
    bytes: int
    chunks: int
    format: str
    ingested_at: str


class DocumentList(_Shape):
    tenant: str
    documents: list[DocumentInfo]


class DocumentRemoved(_Shape):
    tenant: str
    removed: str


class UsageRow(_Shape):
    tenant: str
    period: str = Field(description="`all`, a day (YYYY-MM-DD) or a month (YYYY-MM), UTC")
    operation: str
    events: int
    ok: int
    refused: int
    errors: int
    chunks_embedded: int
    prompt_tokens: int
    completion_tokens: int
    ms: float


class QuotaStatus(_Shape):
    used: int
    limit: int | None


class UsageReport(_Shape):
    tenant: str
    usage: list[UsageRow]
    quotas: dict[str, QuotaStatus] | None


def ok(model: type[BaseModel], description: str = "Successful Response") -> dict[int | str, dict[str, Any]]:
    """The 200 response of a route, documented as `model`."""
    return {200: {"model": model, "description": description}}
