"""`tenantctl init` and `tenantctl paths`."""

from __future__ import annotations

import typer

from tenantctl.cli._common import JsonOption, err, out, print_json


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("paths")(paths_cmd)


def init(json_out: JsonOption = False) -> None:
    """Create the home folder and a commented config.yaml (an existing one is kept).

    Tenant folders without a registry row (registry.db deleted or restored from an older backup) are registered
    again, active and without API keys.

    In cluster mode (`postgres:` with `admin_dsn` in config.yaml), also create or upgrade the PostgreSQL
    schema and copy this home's tenants and keys into the shared registry."""
    from tenantctl.operations.home import init_home

    done = init_home()
    if json_out:
        print_json({"home": str(done.home), "config": str(done.config), "config_created": done.config_created,
                    "postgres_schema": done.postgres_schema, "registered": done.registered})
    else:
        out.print(f"Home: {done.home}")
        out.print(f"Config: {done.config}{' (created)' if done.config_created else ' (kept)'}")
        if done.postgres_schema is not None:
            out.print(f"PostgreSQL schema: version {done.postgres_schema}")
        if done.registered:
            out.print(f"Registered again: {', '.join(done.registered)} (their folders had no registry row)")
            err.print("Their API keys and any suspension were in the lost registry: create keys with `tenantctl key "
                      "create ID`; suspend again with `tenantctl tenant suspend ID`.")


def paths_cmd(json_out: JsonOption = False) -> None:
    """Show where tenantctl keeps its config, registry, tenants and logs, and its per-user model cache."""
    from tenantctl import paths
    from tenantctl.storage import cluster

    in_cluster = cluster.postgres() is not None
    data = {
        "home": str(paths.home()),
        "config": str(paths.config_file()),
        "registry": "PostgreSQL (`postgres.dsn` in config.yaml)" if in_cluster else str(paths.registry_file()),
        "tenants": str(paths.tenants_dir()),
        "logs": str(paths.log_dir()),
        "cache": str(paths.cache_dir()),  # the embedder's ONNX export, the LLM's prompt-opening state; per user
    }
    if json_out:
        print_json(data)
    else:
        for key, value in data.items():
            out.print(f"{key:<9} {value}")
