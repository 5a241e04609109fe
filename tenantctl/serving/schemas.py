"""What the OpenAPI document (/openapi.json, /docs) says the responses look like: the shapes the routes
and the error handlers in `app.py` really send (not FastAPI's default `{detail}`). Declared for the
document only (`responses=`), never to filter what a route returns; tests check real responses
against them, extra fields refused, so they stay true."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from tenantctl.answering.answer import Answer
from tenantctl.answering.answer import Source as AnswerSource
from tenantctl.retrieval.search import Hit


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


def _shape_of(result: type, name: str | None = None, *, types: dict[str, Any] | None = None,
              after: dict[str, Any] | None = None, **descriptions: str) -> type[_Shape]:
    """The response shape of a core result dataclass, derived from it (named as it is unless `name`
    says): its fields in their order, each required (the route always sends it), a field's type
    replaced by `types` (another shape), then the computed fields `to_dict()` adds (`after`), each
    with its description, if any, from `descriptions`."""
    hints = get_type_hints(result) | (types or {}) | (after or {})
    names = [f.name for f in fields(result)] + list(after or {})
    spec: dict[str, Any] = {each: (hints[each], Field(description=descriptions.get(each))) for each in names}
    return create_model(name or result.__name__, __base__=_Shape, __module__=__name__, **spec)


SearchHit = _shape_of(
    Hit, "SearchHit", after={"position": str},
    path="relative to the tenant's uploads or source folder (`uploads/report.pdf`)",
    score="the fused score", similarity="cosine similarity of the query and the chunk")


class SearchResult(_Shape):
    tenant: str
    hits: list[SearchHit]
    timings: dict[str, float]


Source = _shape_of(AnswerSource, quote="the sentence of this passage that supports the answer")

AnswerResult = _shape_of(
    Answer, "AnswerResult", types={"sources": list[Source], "passages": int | list[SearchHit]},
    question="as answered (a chat follow-up made a question of its own)",
    answer="the checked answer with its citation marks: show this one",
    no_answer="the documents do not hold an answer; the model was not called",
    passages="how many passages; the passages with `passages: true`",
    raw="what the model printed, before checking")


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
    waited: float = Field(0.0, description="seconds spent waiting for another write of the tenant (not in `seconds`)")
    unsupported: dict[str, int] = Field(default_factory=dict, description="files of types no reader takes, by suffix")
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
