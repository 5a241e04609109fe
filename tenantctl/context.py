"""The tenant of the current command or request, resolved once at the entry point.

Logs (usage events included) and the cluster store's tenant guard read it. Nothing downstream takes a tenant
id from anywhere else. It is set in three places, each an entry point:
- `open_tenant` and `create_tenant` (storage/tenants.py): the one tenant a CLI command works on;
- `Tenant.as_current()`: each tenant in turn, for a run over many (`reindex --all`), restored after;
- the server's `current_tenant` dependency (serving/deps.py), in the request's own context: the key
  is resolved in a worker thread, whose copy of the context (set there by `open_tenant`) is dropped.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

current_tenant: ContextVar[str | None] = ContextVar("current_tenant", default=None)

# Who is acting, for the log's `actor` field: set by the CLI's entry point (`cli_actor()`) and by the
# server for each request (`key:<key id>`, or `token` for a verified JWT).
current_actor: ContextVar[str | None] = ContextVar("current_actor", default=None)


def cli_actor() -> str:
    """The person or job running a command: `$TENANTCTL_ACTOR` when set (a cron job, an operator acting
    through sudo or a shared account), else the OS user."""
    import getpass

    named = os.environ.get("TENANTCTL_ACTOR", "").strip()
    if named:
        return named[:200]
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name for this uid (a container)
        return f"uid:{os.getuid()}"
