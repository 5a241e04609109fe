"""Send `search` and `query` to a running `tenantctl serve`, so scripts get warm latency."""

from __future__ import annotations

import os
from typing import Any

from tenantctl.errors import BadInput, ExitCode, ModelUnavailable, TenantctlError

KEY_ENV = "TENANTCTL_API_KEY"


def call(server: str, path: str, body: dict[str, Any], tenant_id: str, key: str | None) -> dict[str, Any]:
    import httpx

    key = key or os.environ.get(KEY_ENV)
    if not key:
        raise BadInput(f"an API key is needed to use the server at {server}",
                       f"pass --key or set {KEY_ENV} (create one with `tenantctl key create {tenant_id}`)")
    if not server.lower().startswith(("http://", "https://")):
        raise BadInput(f"--server {server!r} is not a URL", f"give its scheme: --server http://{server}")
    try:
        response = httpx.post(server.rstrip("/") + path, json=body, timeout=httpx.Timeout(300, connect=5),
                              headers={"Authorization": f"Bearer {key}", "X-Tenantctl-Tenant": tenant_id})
    except httpx.HTTPError as exc:
        raise ModelUnavailable(f"cannot reach the tenantctl server at {server} ({exc})",
                               "start it with `tenantctl serve`, or drop --server") from exc
    kind = response.headers.get("content-type", "")
    try:
        data = response.json() if kind.startswith("application/json") else None
    except ValueError:
        data = None
    if response.status_code >= 400:
        data = data if isinstance(data, dict) else {}
        if response.status_code == 403 and str(data.get("error", "")).startswith("the key is not a key of tenant"):
            raise _other_tenant(tenant_id)  # refused before any work was done or metered (X-Tenantctl-Tenant)
        message = data.get("error") or data.get("detail") or " ".join(response.text.split())[:200]
        hint = data.get("hint")
        if response.status_code == 401:  # the server cannot know which tenant the key was meant for
            hint = f"pass a key of tenant {tenant_id!r} with --key or ${KEY_ENV} (`tenantctl key create {tenant_id}`)"
        error = TenantctlError(f"server at {server}: {message} (HTTP {response.status_code})", hint)
        error.exit_code = _exit_code(response.status_code, str(message))
        raise error
    if not isinstance(data, dict):  # another web server: its page is no result (it raised KeyError)
        raise TenantctlError(
            f"the server at {server} did not answer as tenantctl does (HTTP {response.status_code}, "
            f"{kind.split(';')[0] or 'no content type'})",
            "check --server (or `client.server` in config.yaml): it names a running `tenantctl serve`",
        )
    if data.get("tenant") not in (None, tenant_id):  # a server that does not read X-Tenantctl-Tenant
        raise _other_tenant(tenant_id)
    return data


def _exit_code(status: int, message: str) -> ExitCode:
    """The exit code the README's table gives for what the server refused: over a quota or rate limit, or
    suspended, 5 (it was 1 for every status, so a cron job could not tell a quota from a fault)."""
    if status == 429 or (status == 403 and "suspended" in message):
        return ExitCode.REFUSED
    if status == 409:
        return ExitCode.BUSY
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (400, 413, 422):
        return ExitCode.USAGE
    return ExitCode.ERROR


def _other_tenant(tenant_id: str) -> BadInput:
    return BadInput(f"the API key belongs to another tenant than {tenant_id!r}", f"use a key of tenant {tenant_id!r}")
