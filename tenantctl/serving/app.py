"""`tenantctl serve`: the multi-tenant HTTP API.

The tenant of every request comes from its API key alone: one dependency (`deps.CurrentTenant`)
resolves the key, sets the tenant context once and applies the tenant's rate limit; no path, query or
body field names a tenant. Routes live in `serving/routes/`, one module per area; this factory only
builds the shared services (tenant pool within a memory budget, fair queue in front of the one shared
model, rate limiter, metrics) and assembles the routers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tenantctl.config import Config
from tenantctl.errors import ExitCode, Suspended, TenantctlError
from tenantctl.serving.deps import Services
from tenantctl.serving.metrics import Metrics
from tenantctl.serving.pool import FairScheduler, Overloaded, RateLimiter, TenantPool

_STATUS = {
    ExitCode.USAGE: 400, ExitCode.NOT_FOUND: 404, ExitCode.REFUSED: 429, ExitCode.BUSY: 409,
    ExitCode.ERROR: 500, ExitCode.PARTIAL: 207,
}


def status_of(exc: TenantctlError) -> int:
    if isinstance(exc, Overloaded):
        return 503
    if isinstance(exc, Suspended):
        return 403
    return _STATUS.get(exc.exit_code, 500)


def create_app(cfg: Config) -> FastAPI:
    from tenantctl.serving.identity import JwtVerifier
    from tenantctl.serving.routes import ROUTERS

    shared = Services(cfg=cfg, pool=TenantPool(cfg, int(cfg.server.memory_budget_mb * (1 << 20))),
                      scheduler=FairScheduler(cfg.server.max_queue), limiter=RateLimiter(), metrics=Metrics(),
                      jwt=JwtVerifier(cfg.server.jwt) if cfg.server.jwt else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        shared.scheduler.close()
        shared.pool.close()

    app = FastAPI(title="tenantctl", version="1", summary="Multi-tenant RAG: shared compute, isolated data",
                  lifespan=lifespan)
    app.state.services = shared
    app.state.pool, app.state.scheduler, app.state.cfg = shared.pool, shared.scheduler, cfg

    @app.exception_handler(TenantctlError)
    async def _tenantctl_error(request: Request, exc: TenantctlError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status_of(exc))

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        tenant = getattr(request.state, "tenant", "")
        endpoint = request.scope.get("route").path if request.scope.get("route") else "unmatched"
        shared.metrics.requests.labels(tenant, endpoint, str(response.status_code)).inc()
        if tenant:
            shared.metrics.latency.labels(tenant, endpoint).observe(time.perf_counter() - started)
        return response

    for router in ROUTERS:
        app.include_router(router)
    return app
