"""A question through the fair queue, as an async stream: token strings while the model generates
(when streaming), then the checked Answer. Shared by /v1/query, chat sessions and the OpenAI route."""

from __future__ import annotations

import asyncio
import contextvars
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from tenantctl.errors import TenantctlError, from_system_error
from tenantctl.serving.deps import Services
from tenantctl.serving.errors import error_body


class ClientGone(TenantctlError):
    """The client of a question disconnected: its job leaves the queue, or stops generating."""


async def answer_stream(shared: Services, tenant_id: str, question: str, history: list[tuple[str, str]] | None,
                        stream: bool, session: str | None = None,
                        request: Request | None = None) -> AsyncIterator[Any]:
    """Run a question through the fair queue; yields token strings (when streaming), then the Answer.
    When the client goes away (a closed stream, or `request` disconnected while the question waits or
    generates), the question is withdrawn from the queue or its generation stopped."""
    from tenantctl.answering.chat import ChatSession, ask

    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue = asyncio.Queue()
    context = contextvars.copy_context()
    gone = threading.Event()

    def on_token(piece: str) -> None:
        if gone.is_set():
            raise ClientGone("the client disconnected")  # stops the generation
        if stream:
            loop.call_soon_threadsafe(tokens.put_nowait, piece)

    def job():
        if gone.is_set():
            raise ClientGone("the client disconnected")
        # The question works on its own connection, so the tenant's searches go on while it generates.
        with shared.pool.use(tenant_id) as pooled:
            opened = pooled.fork()
        try:
            if session is not None:
                return ChatSession.open(opened, session).turn(opened, question, shared.cfg, on_token=on_token)
            return ask(opened, question, shared.cfg, history, on_token=on_token)  # a follow-up stands alone
        finally:
            opened.close()

    submitted = shared.scheduler.submit(tenant_id, lambda: context.run(job))
    future = asyncio.wrap_future(submitted)
    try:
        while not future.done():
            getter = asyncio.ensure_future(tokens.get())
            done, _ = await asyncio.wait({getter, future}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            if not done and request is not None and await request.is_disconnected():
                raise ClientGone("the client disconnected")
        while not tokens.empty():
            yield tokens.get_nowait()
        result = await future
    finally:
        if not submitted.done():  # the client went away (or the stream was closed): drop the question
            gone.set()
            shared.scheduler.withdraw(tenant_id, submitted)
    shared.metrics.tokens.labels(tenant_id, "prompt").inc(result.timings.get("prompt_tokens", 0))
    shared.metrics.tokens.labels(tenant_id, "completion").inc(result.timings.get("completion_tokens", 0))
    yield result


async def primed(gen: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The stream, once its first item came: a refusal (suspended tenant, quota, rate limit) raises here,
    before the response starts, so a streaming client gets its status (403, 429), not 200 and an event."""
    first = await anext(gen)

    async def chained() -> AsyncIterator[Any]:
        yield first
        async for item in gen:
            yield item

    return chained()


async def final(gen: AsyncIterator[Any]) -> Any:
    """The Answer at the end of a stream."""
    result = None
    async for item in gen:
        result = item
    return result


def sse(gen: AsyncIterator[Any], render: Callable[[Any], dict[str, Any]]) -> StreamingResponse:
    """Server-sent events: `token` events, then one `answer` event (or an `error` event)."""

    async def events() -> AsyncIterator[str]:
        try:
            async for item in gen:
                if isinstance(item, str):
                    yield f"event: token\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"
                else:
                    yield f"event: answer\ndata: {json.dumps(render(item), ensure_ascii=False, default=str)}\n\n"
        except TenantctlError as exc:
            yield f"event: error\ndata: {json.dumps(error_body(exc))}\n\n"
        except (OSError, sqlite3.Error) as exc:
            yield f"event: error\ndata: {json.dumps(error_body(from_system_error(exc)))}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
