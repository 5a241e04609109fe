"""`tenantctl doctor` (export and import live in cli/tenant.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
