"""Operations: health (open), Prometheus metrics and the operator's views (admin key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from tenantctl.serving.deps import AdminKey, Shared
from tenantctl.serving.schemas import ERRORS
from tenantctl.storage import registry

router = APIRouter(tags=["operations"], responses=ERRORS)


@router.get("/v1/health")
def health(shared: Shared) -> dict[str, Any]:
    pool, scheduler = shared.pool, shared.scheduler
    return {"status": "ok", "tenants_loaded": len(pool), "loaded_bytes": pool.used_bytes,
            "budget_bytes": pool.budget, "queued": sum(scheduler.queued().values())}


_JSON_ERRORS = {status: {"description": spec["description"],  # else filed under text/plain, as the metrics
                         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}
                for status, spec in ERRORS.items()}


@router.get("/metrics", dependencies=[AdminKey], response_class=PlainTextResponse, responses=_JSON_ERRORS)
def prometheus(shared: Shared) -> PlainTextResponse:
    tenants = {r.id for r in registry.all_tenants()}  # a tenant deleted meanwhile loses its series
    text = shared.metrics.render(shared.pool, shared.scheduler, tenants)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@router.get("/v1/admin/tenants", dependencies=[AdminKey])
def admin_tenants() -> list[dict[str, Any]]:
    return [r.__dict__ for r in registry.all_tenants()]


@router.get("/v1/admin/usage", dependencies=[AdminKey])
def admin_usage(response: Response, since: str | None = None, by: Literal["day", "month"] | None = None):
    """Every tenant's usage rows. A tenant that cannot be read (its tenant.yaml or store damaged) is left out
    and named in the `X-Tenantctl-Skipped` header, as `tenantctl usage` names it (a damaged store was a 500
    for every tenant's bill)."""
    from tenantctl.storage.metering import parse_since, report
    from tenantctl.storage.tenants import usable_tenants

    usable, broken = usable_tenants()
    rows = report(usable, since=parse_since(since), by=by, broken=broken)[0]
    if broken:
        response.headers["X-Tenantctl-Skipped"] = ",".join(sorted(t.id for t in broken))
    return rows
