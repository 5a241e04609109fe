"""Who is calling, resolved once per request: the FastAPI dependencies every route uses.

`CurrentTenant` resolves the API key (or, when `server.jwt` is configured, verifies a bearer JWT and
reads the tenant from its claim), opens that tenant, sets the tenant context (logs and usage
records read it), applies the tenant's request rate limit and returns the tenant handle. No path, query
or body field can name another tenant. `AskingTenant` adds the question rate limit; `AdminKey` guards
the operator's endpoints.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from tenantctl import context
from tenantctl.config import Config
from tenantctl.errors import InvalidTenantId, TenantNotFound
from tenantctl.serving.errors import HttpRefusal
from tenantctl.serving.identity import InvalidToken, JwtVerifier, looks_like_jwt
from tenantctl.serving.metrics import Metrics
from tenantctl.serving.pool import FairScheduler, RateLimiter, TenantPool
from tenantctl.storage import keys
from tenantctl.storage.tenants import FolderMissing, Tenant, open_tenant


@dataclass
class Services:
    """What one server shares between requests: settings, loaded tenants, the model queue, limits."""

    cfg: Config
    pool: TenantPool
    scheduler: FairScheduler
    limiter: RateLimiter
    metrics: Metrics
    jwt: JwtVerifier | None = None


def services(request: Request) -> Services:
    return request.app.state.services


Shared = Annotated[Services, Depends(services)]

_BEARER = {"WWW-Authenticate": "Bearer"}
_SEND_KEY = "send `Authorization: Bearer <key>` (or `X-API-Key: <key>`)"
_NEW_KEY = "the server's operator issues each tenant's keys"


def _secret(authorization: str | None, x_api_key: str | None, jwt: bool = False) -> str:
    """The credential sent: X-API-Key's, else the bearer's. A bearer that is itself one of this server's
    credentials (a key; a JWT when `server.jwt` is set) and differs from X-API-Key is refused: X-API-Key won
    silently, so a request a gateway let in with one tenant's token or key ran as another key's tenant. A bearer
    of something else (a gateway's own token, beside the key it adds as X-API-Key) is not ours, and ignored."""
    bearer = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
    ours = bearer is not None and (bearer.startswith("tk_") or (jwt and looks_like_jwt(bearer)))
    if x_api_key and ours and bearer != x_api_key.strip():
        raise HttpRefusal(401, "two different credentials were sent (Authorization: Bearer and X-API-Key)",
                          f"send one: {_SEND_KEY}", _BEARER)
    if x_api_key:
        return x_api_key.strip()
    if bearer is not None:
        return bearer
    if authorization and authorization.strip():  # never echo it: it may be the key itself
        raise HttpRefusal(401, "the Authorization header is not a bearer credential", _SEND_KEY, _BEARER)
    raise HttpRefusal(401, "missing API key", f"{_SEND_KEY}; {_NEW_KEY}", _BEARER)


def _tenant_of_key(secret: str) -> tuple[str, str]:
    """The key's tenant and the request's actor (`key:<key id>`)."""
    key = keys.resolve(secret)
    if key is None:
        raise HttpRefusal(401, "invalid or revoked API key", f"check the key sent; {_NEW_KEY}", _BEARER)
    if key.tenant is None:
        raise HttpRefusal(403, "an admin key selects no tenant", f"use a tenant's key; {_NEW_KEY}")
    return key.tenant, f"key:{key.id}"


def _tenant_of_token(token: str, verifier: JwtVerifier) -> str:
    try:
        return verifier.tenant_of(token)
    except InvalidToken as exc:
        raise HttpRefusal(401, exc.message, exc.hint or "get a new token from the identity provider", _BEARER) from None


def _resolve(secret: str, shared: Services) -> tuple[Tenant, str]:
    """The caller's tenant, opened, and who the caller is (for the log's `actor`)."""
    if shared.jwt is not None and looks_like_jwt(secret):
        tenant_id, source, actor = _tenant_of_token(secret, shared.jwt), "token", "token"
    else:
        (tenant_id, actor), source = _tenant_of_key(secret), "key"
    gone = HttpRefusal(401, f"the {source}'s tenant does not exist",
                       "it was deleted or never created: ask the server's operator", _BEARER)
    try:
        tenant = open_tenant(tenant_id)
    except FolderMissing as exc:
        if exc.settings_lost:  # a tenant whose tenant.yaml went: not "deleted", as a broken one is not
            raise HttpRefusal(503, f"the {source}'s tenant cannot be opened on this server (its settings are missing)",
                              "the server's settings need a fix: contact the server's operator") from None
        if not exc.elsewhere:
            raise gone from None
        raise HttpRefusal(503, f"the {source}'s tenant is a local tenant of another node, not served here",
                          "send its requests to that node (or the operator moves it into PostgreSQL)") from None
    except (TenantNotFound, InvalidTenantId):
        raise gone from None
    shared.limiter.check(tenant.id, "requests", tenant.config.rate_limit.requests_per_minute)
    return tenant, actor


async def current_tenant(
    request: Request,
    shared: Shared,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    x_tenantctl_tenant: Annotated[str | None, Header(description="Refuse the request (403) unless the key's "
                                                                 "tenant is this one; it never selects one")] = None,
) -> Tenant:
    """The key's (or verified token's) tenant. The lookups run in a worker thread; the context is set
    here, in the request's own context, so everything the route runs afterwards (threads included)
    sees it. `X-Tenantctl-Tenant` (the CLI's `--server` sends it) refuses a key of another tenant before
    any work is done or metered."""
    secret = _secret(authorization, x_api_key, jwt=services(request).jwt is not None)
    tenant, actor = await asyncio.to_thread(_resolve, secret, shared)
    if x_tenantctl_tenant is not None and x_tenantctl_tenant.strip() != tenant.id:
        raise HttpRefusal(403, f"the key is not a key of tenant {x_tenantctl_tenant.strip()[:63]!r}",
                          "use a key of the tenant the request names (X-Tenantctl-Tenant)")
    request.state.tenant = tenant.id
    context.current_tenant.set(tenant.id)
    context.current_actor.set(actor)
    return tenant


CurrentTenant = Annotated[Tenant, Depends(current_tenant)]


async def asking_tenant(tenant: CurrentTenant, shared: Shared) -> Tenant:
    """The caller's tenant, for a question to the shared model: its question rate limit applies too."""
    shared.limiter.check(tenant.id, "questions", tenant.config.rate_limit.questions_per_minute)
    return tenant


AskingTenant = Annotated[Tenant, Depends(asking_tenant)]


def admin_key(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    key = keys.resolve(_secret(authorization, x_api_key))
    if key is None:  # as on every endpoint: it was 403, as if the key were a valid one of a tenant
        raise HttpRefusal(401, "invalid or revoked API key", "check the key sent; the server's operator issues "
                          "admin keys", _BEARER)
    if not key.admin:
        raise HttpRefusal(403, "this endpoint needs an admin key",
                          "use an admin key: the server's operator issues them")


AdminKey = Depends(admin_key)
