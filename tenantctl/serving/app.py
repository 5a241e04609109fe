"""`tenantctl serve`: the multi-tenant HTTP API.

The tenant of every request comes from its API key alone and is set once, in a context variable that
everything below reads; no path, query or body field names a tenant. Tenants load lazily into a pool
bounded by a memory budget; questions for the one shared model wait in a fair queue across tenants.
"""


import asyncio
import contextlib
import contextvars
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from tenantctl.config import Config
from tenantctl.context import current_tenant
from tenantctl.errors import ExitCode, Suspended, TenantctlError
from tenantctl.serving.pool import FairScheduler, Overloaded, RateLimiter, TenantPool
from tenantctl.storage import keys, registry

_STATUS = {
    ExitCode.USAGE: 400, ExitCode.NOT_FOUND: 404, ExitCode.REFUSED: 429, ExitCode.BUSY: 409,
    ExitCode.ERROR: 500, ExitCode.PARTIAL: 207,
}


class SearchBody(BaseModel):
    query: str = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] | None = None


class QuestionBody(BaseModel):
    question: str = Field(min_length=1)
    stream: bool = False
    passages: bool = False


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionBody(BaseModel):
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


def create_app(cfg: Config) -> FastAPI:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    pool = TenantPool(cfg, int(cfg.server.memory_budget_mb * (1 << 20)))
    scheduler = FairScheduler(cfg.server.max_queue)
    limiter = RateLimiter()
    metrics = CollectorRegistry()
    requests_total = Counter("tenantctl_requests_total", "Requests by tenant, endpoint and status",
                             ["tenant", "endpoint", "status"], registry=metrics)
    latency = Histogram("tenantctl_request_seconds", "Request latency by tenant and endpoint",
                        ["tenant", "endpoint"], registry=metrics)
    tokens_total = Counter("tenantctl_tokens_total", "LLM tokens by tenant and kind", ["tenant", "kind"],
                           registry=metrics)
    loaded_gauge = Gauge("tenantctl_tenants_loaded", "Tenants loaded in memory", registry=metrics)
    loaded_bytes = Gauge("tenantctl_loaded_bytes", "Estimated bytes of loaded tenant indexes", registry=metrics)
    queue_gauge = Gauge("tenantctl_llm_queue", "Questions waiting for the shared model", ["tenant"],
                        registry=metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        scheduler.close()
        pool.close()

    app = FastAPI(title="tenantctl", version="1", summary="Multi-tenant RAG: shared compute, isolated data",
                  lifespan=lifespan)
    app.state.pool, app.state.scheduler, app.state.cfg = pool, scheduler, cfg

    @app.exception_handler(TenantctlError)
    async def _tenantctl_error(request: Request, exc: TenantctlError) -> JSONResponse:
        if isinstance(exc, Overloaded):
            status = 503
        elif isinstance(exc, Suspended):
            status = 403
        else:
            status = _STATUS.get(exc.exit_code, 500)
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        tenant = request.state.tenant if hasattr(request.state, "tenant") else ""
        endpoint = request.scope.get("route").path if request.scope.get("route") else "unmatched"
        requests_total.labels(tenant, endpoint, str(response.status_code)).inc()
        if tenant:
            latency.labels(tenant, endpoint).observe(time.perf_counter() - started)
        return response

    # -- authentication -----------------------------------------------------------------------------
    def _secret(authorization: str | None, x_api_key: str | None) -> str:
        if x_api_key:
            return x_api_key.strip()
        if authorization and authorization.lower().startswith("bearer "):
            return authorization[7:].strip()
        raise HTTPException(401, "missing API key: send `Authorization: Bearer <key>`",
                            headers={"WWW-Authenticate": "Bearer"})

    def tenant_of_key(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        key = keys.resolve(_secret(authorization, x_api_key))
        if key is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if key.tenant is None:
            raise HTTPException(403, "an admin key selects no tenant: use a tenant's key")
        if registry.get(key.tenant) is None:
            raise HTTPException(401, "the key's tenant no longer exists")
        request.state.tenant = key.tenant
        current_tenant.set(key.tenant)
        return key.tenant

    def admin_key(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> None:
        key = keys.resolve(_secret(authorization, x_api_key))
        if key is None or not key.admin:
            raise HTTPException(403, "this endpoint needs an admin key")

    Tenant = Annotated[str, Depends(tenant_of_key)]

    def _rate(tenant_id: str, kind: str) -> None:
        from tenantctl.storage.tenants import open_tenant

        limits = open_tenant(tenant_id).config.rate_limit
        limiter.check(tenant_id, "requests", limits.requests_per_minute)
        if kind == "questions":
            limiter.check(tenant_id, "questions", limits.questions_per_minute)

    def _gauges() -> None:
        loaded_gauge.set(len(pool))
        loaded_bytes.set(pool.used_bytes)

    # -- open endpoints -----------------------------------------------------------------------------
    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "tenants_loaded": len(pool), "loaded_bytes": pool.used_bytes,
                "budget_bytes": pool.budget, "queued": sum(scheduler.queued().values())}

    @app.get("/metrics", dependencies=[Depends(admin_key)], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        _gauges()
        queue_gauge.clear()
        for tenant, n in scheduler.queued().items():
            queue_gauge.labels(tenant).set(n)
        return PlainTextResponse(generate_latest(metrics).decode(), media_type="text/plain; version=0.0.4")

    # -- tenant endpoints ---------------------------------------------------------------------------
    @app.post("/v1/search")
    def search(body: SearchBody, tenant: Tenant) -> dict[str, Any]:
        _rate(tenant, "requests")
        with pool.use(tenant) as searcher:
            hits = searcher.search(body.query, k=body.k, mode=body.mode)
            timings = dict(searcher.timings)
        _gauges()
        return {"tenant": tenant, "hits": [h.to_dict() for h in hits], "timings": timings}

    async def _answer(tenant: str, question: str, history: list[tuple[str, str]] | None, stream: bool,
                      session: str | None = None):
        """Run a question through the fair queue; yields token strings (when streaming), then the Answer."""
        from tenantctl.answering.answer import answer_question
        from tenantctl.storage import sessions

        loop = asyncio.get_running_loop()
        tokens: asyncio.Queue = asyncio.Queue()
        context = contextvars.copy_context()

        def job():
            # The question works on its own connection, so the tenant's searches go on while it generates.
            with pool.use(tenant) as shared:
                searcher = shared.fork()
            try:
                if session is not None:
                    sessions.require(searcher.store, tenant, session)
                    past = sessions.history(searcher.store, session)
                else:
                    past = history
                on_token = (lambda piece: loop.call_soon_threadsafe(tokens.put_nowait, piece)) if stream else None
                result = answer_question(searcher, question, cfg, history=past, on_token=on_token)
                if session is not None:
                    sessions.add(searcher.store, session, question, result)
                return result
            finally:
                searcher.close()

        future = asyncio.wrap_future(scheduler.submit(tenant, lambda: context.run(job)))
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
        tokens_total.labels(tenant, "prompt").inc(result.timings.get("prompt_tokens", 0))
        tokens_total.labels(tenant, "completion").inc(result.timings.get("completion_tokens", 0))
        yield result

    async def _final(gen) -> Any:
        result = None
        async for item in gen:
            result = item
        return result

    def _sse(gen, render) -> StreamingResponse:
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

    @app.post("/v1/query")
    async def query(body: QuestionBody, tenant: Tenant):
        await asyncio.to_thread(contextvars.copy_context().run, _rate, tenant, "questions")
        gen = _answer(tenant, body.question, None, body.stream)
        if body.stream:
            return _sse(gen, lambda r: r.to_dict(include_passages=body.passages))
        result = await _final(gen)
        return result.to_dict(include_passages=body.passages)

    @app.get("/v1/chat/sessions")
    def list_sessions(tenant: Tenant) -> list[dict[str, Any]]:
        from tenantctl.storage import sessions

        with pool.use(tenant) as searcher:
            return sessions.listing(searcher.store)

    @app.post("/v1/chat/sessions")
    def new_session(tenant: Tenant) -> dict[str, str]:
        from tenantctl.storage import sessions

        with pool.use(tenant) as searcher:
            return {"session": sessions.create(searcher.store)}

    @app.post("/v1/chat/sessions/{session_id}/messages")
    async def chat_message(session_id: str, body: QuestionBody, tenant: Tenant):
        await asyncio.to_thread(contextvars.copy_context().run, _rate, tenant, "questions")
        gen = _answer(tenant, body.question, None, body.stream, session=session_id)
        if body.stream:
            return _sse(gen, lambda r: {"session": session_id, **r.to_dict()})
        result = await _final(gen)
        return {"session": session_id, **result.to_dict()}

    @app.post("/v1/documents")
    def upload(tenant: Tenant, files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        """Store uploaded files in the tenant's own folder and ingest them."""
        from tenantctl.ingestion.ingest import ingest
        from tenantctl.storage.tenants import open_tenant

        _rate(tenant, "requests")
        target = open_tenant(tenant)
        folder = target.dir / "uploads"
        folder.mkdir(exist_ok=True)
        saved: list[Path] = []
        for upload_file in files:
            name = _safe_name(upload_file.filename or "upload")
            path = folder / name
            tmp = folder / f".{name}.part"
            with tmp.open("wb") as fh:
                while block := upload_file.file.read(1 << 20):
                    fh.write(block)
            tmp.replace(path)
            saved.append(path)
        summary = ingest(target, saved, cfg)
        data = summary.to_dict()
        for f in data["files"]:
            f["path"] = Path(f["path"]).name  # the tenant's folder layout is not the caller's business
        data["status"] = "partial" if summary.failed else "ok"
        return data

    @app.get("/v1/usage")
    def own_usage(tenant: Tenant, since: str | None = None, by: Literal["day", "month"] | None = None):
        from tenantctl.storage.metering import parse_since, report
        from tenantctl.storage.tenants import open_tenant

        rows, quotas = report([open_tenant(tenant)], since=parse_since(since), by=by, quotas=True)
        return {"tenant": tenant, "usage": rows, "quotas": quotas[tenant]}

    # -- OpenAI-compatible --------------------------------------------------------------------------
    @app.get("/v1/models")
    def models(tenant: Tenant) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": f"tenantctl:{tenant}", "object": "model", "owned_by": tenant}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionBody, tenant: Tenant):
        await asyncio.to_thread(contextvars.copy_context().run, _rate, tenant, "questions")
        question, history = _from_messages(body.messages)
        created = int(time.time())
        completion_id = f"chatcmpl-{created}{id(body) % 100000}"
        model = f"tenantctl:{tenant}"
        gen = _answer(tenant, question, history, body.stream)
        if not body.stream:
            result = await _final(gen)
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": _with_sources(result)}}],
                "usage": {"prompt_tokens": result.timings.get("prompt_tokens", 0),
                          "completion_tokens": result.timings.get("completion_tokens", 0),
                          "total_tokens": result.timings.get("prompt_tokens", 0)
                          + result.timings.get("completion_tokens", 0)},
                "citations": [s.__dict__ for s in result.sources],
            }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            # The checked answer can differ from the raw tokens, so the stream carries the final text.
            yield chunk({"role": "assistant", "content": ""})
            try:
                result = await _final(gen)
                yield chunk({"content": _with_sources(result)})
                yield chunk({}, finish="stop")
            except TenantctlError as exc:
                yield f"data: {json.dumps({'error': {'message': exc.message}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # -- admin --------------------------------------------------------------------------------------
    @app.get("/v1/admin/tenants", dependencies=[Depends(admin_key)])
    def admin_tenants() -> list[dict[str, Any]]:
        return [r.__dict__ for r in registry.all_tenants()]

    @app.get("/v1/admin/usage", dependencies=[Depends(admin_key)])
    def admin_usage(since: str | None = None, by: Literal["day", "month"] | None = None):
        from tenantctl import paths
        from tenantctl.storage.metering import parse_since, report
        from tenantctl.storage.tenants import Tenant

        tenants = [Tenant(r.id, paths.tenant_dir(r.id), r) for r in registry.all_tenants()]
        return report(tenants, since=parse_since(since), by=by)[0]

    return app


def _safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only ordinary characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .") or "upload"
    return base[:200]


def _from_messages(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    def text(m: ChatMessage) -> str:
        if isinstance(m.content, list):
            return " ".join(p.get("text", "") for p in m.content if isinstance(p, dict))
        return m.content or ""

    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not text(turns[-1]).strip():
        raise HTTPException(400, "the last message must be the user's question")
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
