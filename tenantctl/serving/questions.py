"""A question through the fair queue, as an async stream: token strings while the model generates
(when streaming), then the checked Answer. Shared by /v1/query, chat sessions and the OpenAI route."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from tenantctl.errors import TenantctlError
from tenantctl.serving.deps import Services


async def answer_stream(shared: Services, tenant_id: str, question: str, history: list[tuple[str, str]] | None,
                        stream: bool, session: str | None = None) -> AsyncIterator[Any]:
    """Run a question through the fair queue; yields token strings (when streaming), then the Answer."""
    from tenantctl.answering.answer import answer_question
    from tenantctl.answering.chat import ChatSession

    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue = asyncio.Queue()
    context = contextvars.copy_context()

    def job():
        # The question works on its own connection, so the tenant's searches go on while it generates.
        with shared.pool.use(tenant_id) as pooled:
            searcher = pooled.fork()
        try:
            on_token = (lambda piece: loop.call_soon_threadsafe(tokens.put_nowait, piece)) if stream else None
            if session is not None:
                return ChatSession.open(searcher, session).turn(searcher, question, shared.cfg, on_token=on_token)
            return answer_question(searcher, question, shared.cfg, history=history, on_token=on_token)
        finally:
            searcher.close()

    future = asyncio.wrap_future(shared.scheduler.submit(tenant_id, lambda: context.run(job)))
    while stream and not future.done():
        getter = asyncio.ensure_future(tokens.get())
        done, _ = await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            yield getter.result()
        else:
            getter.cancel()
    while not tokens.empty():
        yield tokens.get_nowait()
    result = await future
    shared.metrics.tokens.labels(tenant_id, "prompt").inc(result.timings.get("prompt_tokens", 0))
    shared.metrics.tokens.labels(tenant_id, "completion").inc(result.timings.get("completion_tokens", 0))
    yield result


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
            yield f"event: error\ndata: {json.dumps({'error': exc.message, 'hint': exc.hint})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
