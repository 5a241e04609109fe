"""POST /v1/search: hybrid search in the key's tenant."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tenantctl.config import SearchMode
from tenantctl.serving.deps import CurrentTenant, Shared
from tenantctl.serving.render import public
from tenantctl.serving.schemas import ERRORS, SearchResult, ok

router = APIRouter(tags=["search"], responses=ERRORS)


class SearchBody(BaseModel):
    query: str = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=100)
    mode: SearchMode | None = None


@router.post("/v1/search", response_class=JSONResponse, response_model=None, responses=ok(SearchResult))
def search(body: SearchBody, tenant: CurrentTenant, shared: Shared) -> JSONResponse:
    """`{tenant, hits, timings}`: the k best chunks of the key's tenant (document paths relative to it)."""
    with shared.pool.use(tenant.id) as opened:
        hits = opened.search(body.query, k=body.k, mode=body.mode)
        timings = dict(opened.searcher.timings)
    # Rendered here, once: the hits are plain values, nothing for a response model to check.
    return JSONResponse(public(tenant, {"tenant": tenant.id, "hits": [h.to_dict() for h in hits],
                                        "timings": timings}))
