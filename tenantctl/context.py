"""The tenant of the current command or request, resolved once at the entry point.

`open_tenant` sets it; logs and usage records read it. Nothing downstream takes a tenant id from
anywhere else.
"""

from __future__ import annotations

from contextvars import ContextVar

current_tenant: ContextVar[str | None] = ContextVar("current_tenant", default=None)
