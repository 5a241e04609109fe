"""`tenantctl init`: the home folder, its config.yaml (the commented defaults) and registry, and in cluster
mode the PostgreSQL schema and the adoption of this home's tenants and keys into the shared registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tenantctl import paths


@dataclass(frozen=True)
class InitResult:
    home: Path
    config: Path
    config_created: bool  # False: an existing config.yaml was kept
    postgres_schema: int | None  # the schema version in cluster mode (with `postgres.admin_dsn`), else None
    registered: list[str] = field(default_factory=list)  # tenant folders without a registry row, registered again


def init_home() -> InitResult:
    """Create the home (private, whatever the umask) with tenants/ and logs/, a config.yaml when there is
    none, and the registry; in cluster mode also create or upgrade the PostgreSQL schema. Repeating it
    changes nothing that exists. Tenant folders without a registry row (a registry.db lost) are registered
    again (`register_lost`)."""
    home = paths.home()
    if home.is_dir() and not any(home.iterdir()):  # an empty folder made for it (`mkdir`): private too
        home.chmod(0o700)
    for folder in (home, home / "tenants", home / "logs"):
        paths.private_dir(folder)
    config = paths.config_file()
    created = not config.exists()
    if created:
        example = resources.files("tenantctl").joinpath("data/config.example.yaml").read_text(encoding="utf-8")
        config.write_text(example, encoding="utf-8")
        config.chmod(0o600)
    from tenantctl.storage import registry

    registry.connect().close()  # creates the registry
    from tenantctl.storage.tenants import register_lost

    schema = _migrate_postgres()
    return InitResult(home, config, created, schema, register_lost())


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
