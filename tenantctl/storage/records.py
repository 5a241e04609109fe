"""The control plane's rows, shared by its two backends (the home's registry.db in local mode,
PostgreSQL in cluster mode): a registered tenant and an API key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TenantRecord:
    id: str
    status: str
    created_at: str
    display_name: str | None
    store: str = "local"  # where its data lives; kept in the registry in cluster mode (tenant.yaml says it too)
    settings_version: int = 0  # cluster mode: the version of its settings in PostgreSQL


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str | None
    admin: bool
    name: str
    created_at: str
    revoked_at: str | None
