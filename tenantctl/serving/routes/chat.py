"""Chat sessions of the key's tenant: list, create, and a turn in a session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tenantctl.serving.deps import AskingTenant, CurrentTenant, Shared
from tenantctl.serving.questions import answer_stream, final, primed, sse
from tenantctl.serving.render import public
from tenantctl.serving.routes.query import QuestionBody
from tenantctl.serving.schemas import ERRORS, ChatTurn, NewSession, SessionInfo, SessionMessages, ok, streamed

router = APIRouter(tags=["chat"], responses=ERRORS)


@router.get("/v1/chat/sessions", response_model=None, responses=ok(list[SessionInfo]))
def list_sessions(tenant: CurrentTenant, shared: Shared) -> list[dict[str, Any]]:
    from tenantctl.storage import sessions

    with shared.pool.use(tenant.id) as opened:
        return sessions.listing(opened.store)


@router.post("/v1/chat/sessions", response_model=None, responses=ok(NewSession))
def new_session(tenant: CurrentTenant, shared: Shared) -> dict[str, str]:
    from tenantctl.storage import sessions

    with shared.pool.use(tenant.id) as opened:
        session = sessions.create(opened.store)
    return {"id": session, "session": session}  # `id` as the listing names it; `session` for older clients


@router.get("/v1/chat/sessions/{session_id}/messages", response_model=None, responses=ok(SessionMessages))
def session_messages(session_id: str, tenant: CurrentTenant, shared: Shared) -> dict[str, Any]:
    """`{session, messages}`: the session's turns in order, each `{question, answer}` as asked and answered
    (to show a conversation again); a session of another tenant is not found."""
    from tenantctl.storage import sessions

    with shared.pool.use(tenant.id) as opened:
        sessions.require(opened.store, tenant.id, session_id)
        turns = sessions.history(opened.store, session_id)
    return {"session": session_id, "messages": [{"question": q, "answer": a} for q, a in turns]}


@router.post("/v1/chat/sessions/{session_id}/messages", response_model=None,
             responses=streamed("`token` events (raw model output), then one `answer`", ChatTurn))
async def chat_message(session_id: str, body: QuestionBody, tenant: AskingTenant, shared: Shared,
                       request: Request):
    gen = answer_stream(shared, tenant.id, body.question, None, body.stream, session=session_id, request=request)
    if body.stream:
        return sse(await primed(gen), lambda r: public(tenant, {"session": session_id, **r.to_dict()}))
    result = await final(gen)
    return public(tenant, {"session": session_id, **result.to_dict()})
