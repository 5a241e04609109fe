"""`tenantctl init` and `tenantctl paths`."""

from __future__ import annotations

from importlib import resources

import typer

from tenantctl.cli._common import JsonOption, out, print_json


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("paths")(paths_cmd)


def init(json_out: JsonOption = False) -> None:
    """Create the home folder and a commented config.yaml (an existing one is kept).

    In cluster mode (`postgres:` with `admin_dsn` in config.yaml), also create or upgrade the PostgreSQL
    schema and copy this home's tenants and keys into the shared registry."""
    from tenantctl import paths

    home = paths.home()
    if home.is_dir() and not any(home.iterdir()):  # an empty folder made for it (`mkdir`): private too
        home.chmod(0o700)
    for folder in (home, home / "tenants", home / "logs"):  # private, whatever the umask
        paths.private_dir(folder)
    config = paths.config_file()
    created = not config.exists()
    if created:
        example = resources.files("tenantctl").joinpath("data/config.example.yaml").read_text(encoding="utf-8")
        config.write_text(example, encoding="utf-8")
        config.chmod(0o600)
    from tenantctl.storage import registry

    registry.connect().close()  # creates the registry
    schema = _migrate_postgres()
    if json_out:
        print_json({"home": str(home), "config": str(config), "config_created": created, "postgres_schema": schema})
    else:
        out.print(f"Home: {home}")
        out.print(f"Config: {config}{' (created)' if created else ' (kept)'}")
        if schema is not None:
            out.print(f"PostgreSQL schema: version {schema}")


def _migrate_postgres() -> int | None:
    """In cluster mode with `postgres.admin_dsn`, create or upgrade the PostgreSQL schema."""
    from tenantctl.config import load_config

    cfg = load_config()
    if cfg.postgres is None or cfg.postgres.admin_dsn is None:
        return None
    from tenantctl.models.embedding import get_embedder
    from tenantctl.storage.pg import schema
    from tenantctl.storage.tenants import adopt_local_registry

    dim = get_embedder(cfg.embedder.for_index(None)).dim  # the HNSW index is built for a new index's vectors
    version = schema.migrate(cfg.postgres.admin_dsn, cfg.postgres.dsn, dims=(dim,))
    adopt_local_registry()  # a home switching to cluster mode keeps its tenants and keys
    return version


def paths_cmd(json_out: JsonOption = False) -> None:
    """Show where tenantctl keeps its config, registry, tenants and logs."""
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
