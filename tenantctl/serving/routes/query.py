"""POST /v1/query: a cited answer from the shared model, whole or as server-sent events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tenantctl.serving.deps import AskingTenant, Shared
from tenantctl.serving.questions import answer_stream, final, primed, sse
from tenantctl.serving.render import public
from tenantctl.serving.schemas import ERRORS, AnswerResult, streamed

router = APIRouter(tags=["questions"], responses=ERRORS)


class QuestionBody(BaseModel):
    question: str = Field(min_length=1)
    stream: bool = False
    passages: bool = False


@router.post("/v1/query", response_model=None,
             responses=streamed("`token` events (raw model output), then one `answer`", AnswerResult))
async def query(body: QuestionBody, tenant: AskingTenant, shared: Shared, request: Request):
    gen = answer_stream(shared, tenant.id, body.question, None, body.stream, request=request)
    if body.stream:
        return sse(await primed(gen), lambda r: public(tenant, r.to_dict(include_passages=body.passages)))
    result = await final(gen)
    return public(tenant, result.to_dict(include_passages=body.passages))
