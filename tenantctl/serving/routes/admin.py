"""Operations: health (open), Prometheus metrics and the operator's views (admin key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from tenantctl.serving.deps import AdminKey, Shared
from tenantctl.storage import registry

router = APIRouter(tags=["operations"])


@router.get("/v1/health")
def health(shared: Shared) -> dict[str, Any]:
    pool, scheduler = shared.pool, shared.scheduler
    return {"status": "ok", "tenants_loaded": len(pool), "loaded_bytes": pool.used_bytes,
            "budget_bytes": pool.budget, "queued": sum(scheduler.queued().values())}


@router.get("/metrics", dependencies=[AdminKey], response_class=PlainTextResponse)
def prometheus(shared: Shared) -> PlainTextResponse:
    tenants = {r.id for r in registry.all_tenants()}  # a tenant deleted meanwhile loses its series
    text = shared.metrics.render(shared.pool, shared.scheduler, tenants)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@router.get("/v1/admin/tenants", dependencies=[AdminKey])
def admin_tenants() -> list[dict[str, Any]]:
    return [r.__dict__ for r in registry.all_tenants()]


@router.get("/v1/admin/usage", dependencies=[AdminKey])
def admin_usage(since: str | None = None, by: Literal["day", "month"] | None = None):
    from tenantctl.storage.metering import parse_since, report
    from tenantctl.storage.tenants import usable_tenants

    return report(usable_tenants()[0], since=parse_since(since), by=by)[0]
