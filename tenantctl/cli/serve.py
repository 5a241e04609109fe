"""`tenantctl serve` and `tenantctl key create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli._common import JsonOption, err, load_cfg, out, print_json
from tenantctl.context import current_tenant

key_app = typer.Typer(help="API keys for `tenantctl serve` (stored hashed).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(key_app, name="key")


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address \\[default: server.host in config.yaml].")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port \\[default: server.port in config.yaml].")
    ] = None,
) -> None:
    """Serve the multi-tenant HTTP API (search, questions, chat, uploads, usage, metrics).

    Each request's tenant comes from its API key, or from a claim of a verified bearer JWT when
    `server.jwt` is configured. Localhost by default: put a gateway in front. config.yaml is read at
    start (restart after changing it); a tenant's tenant.yaml at every request.
    """
    import uvicorn

    from tenantctl.context import current_actor
    from tenantctl.serving.app import create_app, ensure_can_listen, ensure_database

    cfg = load_cfg()
    host, port = host or cfg.server.host, port or cfg.server.port
    ensure_can_listen(host, port)
    ensure_database(cfg)
    err.print(f"tenantctl serving on http://{host}:{port} (docs at /docs)")
    started_by = current_actor.set(None)  # a request's actor is its key, never the operator who started `serve`
    try:
        uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")
    finally:
        current_actor.reset(started_by)


@key_app.command("create")
def key_create(
    tenant_id: Annotated[str | None, typer.Argument(metavar="TENANT", help="The key's tenant.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (no tenant).")] = False,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "",
    json_out: JsonOption = False,
) -> None:
    """Create an API key for a tenant (or --admin). The secret is shown once."""
    from tenantctl.errors import BadInput
    from tenantctl.storage import keys
    from tenantctl.storage.tenants import open_tenant

    if tenant_id and admin:
        raise BadInput("an admin key belongs to no tenant", f"drop --admin for a key of {tenant_id!r}, or the tenant "
                       "for an admin key")
    if not tenant_id and not admin:
        raise BadInput("name a tenant, or pass --admin", "e.g. `tenantctl key create acme`")
    if tenant_id:
        open_tenant(tenant_id)
    key, secret = keys.create(tenant_id, admin=admin, name=name)
    if json_out:
        print_json({**key.__dict__, "key": secret})
    else:
        out.print(secret)
        err.print(f"{'admin key' if admin else 'key'} {key.id}{'' if admin else ' for tenant ' + str(tenant_id)}: "
                  "store it now, it is not shown again")


@key_app.command("list")
def key_list(
    tenant_id: Annotated[str | None, typer.Argument(metavar="TENANT", help="Only this tenant's keys.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List API keys (ids and status, never secrets)."""
    from tenantctl.errors import TenantNotFound
    from tenantctl.paths import validate_tenant_id
    from tenantctl.storage import keys, registry

    if tenant_id is not None:  # "" is an invalid id, not every tenant's keys
        validate_tenant_id(tenant_id)
        if registry.get(tenant_id) is None:  # a typo listed nothing and exited 0, as if it had no keys
            raise TenantNotFound(tenant_id)
        current_tenant.set(tenant_id)  # the command's log line is the tenant's (`logs --tenant T`)
    rows = keys.listing(tenant_id)
    if json_out:
        print_json([k.__dict__ for k in rows])
        return
    if not rows:
        err.print(f"No API keys yet: `tenantctl key create {tenant_id or 'TENANT'}` makes one.")
    for k in rows:
        who = "(admin key)" if k.admin else k.tenant  # "admin" was also how a key of a tenant named admin read
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        out.print(f"{k.id}  {who:<24} {state:<30} {k.created_at}  {k.name}")


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key id shown by `key list`.")],
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key at once."""
    from tenantctl.storage import keys

    keys.revoke(key_id)
    owner = next((k.tenant for k in keys.listing(None) if k.id == key_id), None)
    current_tenant.set(owner)  # the command's log line is its tenant's, as the key-revoke event is
    if json_out:  # the key as `key list --json` shows it, now with revoked_at
        print_json(next(k.__dict__ for k in keys.listing(None) if k.id == key_id))
    else:
        out.print(f"revoked key {key_id}")
