"""A conversation with one tenant's documents: the chat turn, written once for the CLI and the server.

A session lives in the tenant's own store (`tenantctl.storage.sessions`), so a session id of another
tenant is simply not found. Each turn answers with the earlier exchanges as history and records the
exchange in the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenantctl.storage import sessions

if TYPE_CHECKING:
    from tenantctl.answering.answer import Answer
    from tenantctl.config import Config
    from tenantctl.retrieval.session import TenantSession


@dataclass
class ChatSession:
    id: str
    tenant_id: str
    history: list[tuple[str, str]] = field(default_factory=list)
    stored: bool = True  # False: a new session not written until its first exchange

    @classmethod
    def open(cls, tenant_session: TenantSession, session_id: str | None = None, *, lazy: bool = False) -> ChatSession:
        """Resume `session_id` of the open tenant's (SessionNotFound when it is not this tenant's),
        or start a new session when it is None — with `lazy`, stored only once a question is asked."""
        store, tenant_id = tenant_session.store, tenant_session.tenant.id
        if session_id is None:
            return cls(sessions.new_id(), tenant_id, stored=False) if lazy else cls(sessions.create(store), tenant_id)
        sessions.require(store, tenant_id, session_id)
        return cls(session_id, tenant_id, sessions.history(store, session_id))

    def turn(
        self, tenant_session: TenantSession, question: str, cfg: Config, *,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer `question` in this session and record the exchange."""
        from tenantctl.answering.answer import answer_question

        if tenant_session.tenant.id != self.tenant_id:  # a session never crosses tenants
            raise ValueError(f"session {self.id!r} belongs to tenant {self.tenant_id!r}")
        result = answer_question(tenant_session, question, cfg, history=list(self.history), on_token=on_token)
        if not self.stored:
            sessions.create(tenant_session.store, session_id=self.id)
            self.stored = True
        sessions.add(tenant_session.store, self.id, question, result)
        self.history.append((question, result.answer))
        return result
