"""GET /v1/usage: the caller's own usage and quota status."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from tenantctl.serving.deps import CurrentTenant
from tenantctl.serving.schemas import ERRORS, UsageReport, ok

router = APIRouter(tags=["usage"], responses=ERRORS)


@router.get("/v1/usage", response_model=None, responses=ok(UsageReport))
def own_usage(tenant: CurrentTenant, since: str | None = None, by: Literal["day", "month"] | None = None):
    from tenantctl.storage.metering import parse_since, report

    rows, quotas = report([tenant], since=parse_since(since), by=by, quotas=True)
    return {"tenant": tenant.id, "usage": rows, "quotas": quotas.get(tenant.id)}  # None: no store to measure
