"""OpenAI-compatible routes: the key selects the tenant; `model` is informational, except that a
`tenantctl:<id>` naming another tenant is not found."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tenantctl.errors import TenantctlError, from_system_error
from tenantctl.serving.deps import AskingTenant, CurrentTenant, Shared
from tenantctl.serving.errors import HttpRefusal, error_body, scrub
from tenantctl.serving.questions import answer_stream, final, primed
from tenantctl.serving.render import public
from tenantctl.serving.schemas import OPENAI_ERRORS, streamed

router = APIRouter(tags=["openai"], responses=OPENAI_ERRORS)


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionBody(BaseModel):
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    # Accepted as OpenAI clients send them, and not applied: the tenant's `answer` settings decide.
    max_tokens: int | None = None
    temperature: float | None = None


def _model(tenant_id: str) -> dict[str, Any]:
    return {"id": f"tenantctl:{tenant_id}", "object": "model", "created": 0, "owned_by": tenant_id}


@router.get("/v1/models")
def models(tenant: CurrentTenant) -> dict[str, Any]:
    return {"object": "list", "data": [_model(tenant.id)]}


def _not_found(model_id: str, tenant_id: str) -> HttpRefusal:
    return HttpRefusal(404, f"model {model_id[:100]!r} does not exist",
                       f"this key's model is 'tenantctl:{tenant_id}', as GET /v1/models lists")


@router.get("/v1/models/{model_id:path}")
def model(model_id: str, tenant: CurrentTenant) -> dict[str, Any]:
    """The key's one model; any other id — another tenant's included — is not found, as if it did not exist."""
    if model_id not in (f"tenantctl:{tenant.id}", "tenantctl"):
        raise _not_found(model_id, tenant.id)
    return _model(tenant.id)


@router.post("/v1/chat/completions",
             responses=streamed("`chat.completion.chunk` objects in `data:` lines, then `data: [DONE]`"))
async def chat_completions(body: ChatCompletionBody, tenant: AskingTenant, shared: Shared, request: Request):
    if body.model and body.model.startswith("tenantctl:") and body.model != f"tenantctl:{tenant.id}":
        # Another tenant's model (or none's): a key of the wrong tenant was answered from its own tenant,
        # under the other's name. Not found, as GET /v1/models/{id} says; any other name is informational.
        raise _not_found(body.model, tenant.id)
    question, history = _from_messages(body.messages)
    created = int(time.time())
    completion_id = f"chatcmpl-{created}{id(body) % 100000}"
    model = f"tenantctl:{tenant.id}"
    gen = answer_stream(shared, tenant.id, question, history, body.stream, request=request)
    if not body.stream:
        result = await final(gen)
        prompt, completion = result.timings.get("prompt_tokens", 0), result.timings.get("completion_tokens", 0)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": _with_sources(result)}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            "citations": public(tenant, {"sources": [s.__dict__ for s in result.sources]})["sources"],
            "notes": [scrub(note) for note in result.notes],  # e.g. a tool failed: from the documents alone
        }

    gen = await primed(gen)  # a refusal is a status (403, 429), not an error after 200

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        # The checked answer can differ from the raw tokens, so the stream carries the final text.
        yield chunk({"role": "assistant", "content": ""})
        try:
            result = await final(gen)
            yield chunk({"content": _with_sources(result)})
            yield chunk({}, finish="stop")
        except (TenantctlError, OSError, sqlite3.Error) as exc:  # after the 200: an event, as OpenAI's shape
            body = error_body(exc if isinstance(exc, TenantctlError) else from_system_error(exc))
            message = f"{body['error']} ({body['hint']})" if body["hint"] else body["error"]
            error = {"message": message, "type": "server_error", "code": 500, "hint": body["hint"]}
            yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def _from_messages(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    def text(m: ChatMessage) -> str:
        if isinstance(m.content, list):
            parts = [p.get("text") for p in m.content if p.get("type", "text") == "text"]
            if not all(isinstance(part, str) for part in parts):
                raise HttpRefusal(400, "a text content part has no text",
                                  "send it as {\"type\": \"text\", \"text\": \"...\"}")
            content = " ".join(parts)
        else:
            content = m.content or ""
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:
            raise HttpRefusal(400, "message content is not valid Unicode text (a lone surrogate)",
                              "send the question as UTF-8 text") from None
        return content

    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not text(turns[-1]).strip():
        raise HttpRefusal(400, "the last message must be the user's question, as text",
                          "end `messages` with {\"role\": \"user\", \"content\": \"your question\"}")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in turns[:-1]:
        if m.role == "user":
            pending = text(m)
        elif pending is not None:
            history.append((pending, text(m)))
            pending = None
    return text(turns[-1]), history


def _with_sources(result) -> str:
    if not result.sources:
        return result.answer
    lines = [f"[{s.n}] {Path(s.path).name} ({s.position})" for s in result.sources]
    return result.answer + "\n\nSources:\n" + "\n".join(lines)
