"""What the API shows of a tenant's documents: paths relative to the tenant's upload folder or to the
source folder they came from (`uploads/report.pdf`, `handbook/leave.md`), never the server's own paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantctl.storage.layout import UPLOADS_DIR
from tenantctl.storage.tenants import Tenant

_WITH_PATHS = ("hits", "sources", "passages", "citations")


def public_path(tenant: Tenant, path: str, roots: list[Path] | None = None) -> str:
    """`path` relative to the tenant's uploads folder or one of its sources (named by the source
    folder); the file name alone for a document ingested from anywhere else."""
    doc = Path(path)
    for root in roots if roots is not None else source_roots(tenant):
        if doc.is_relative_to(root):
            return (Path(root.name) / doc.relative_to(root)).as_posix()
    return doc.name


def source_roots(tenant: Tenant) -> list[Path]:
    roots = [tenant.dir / UPLOADS_DIR]
    try:
        for source in tenant.config.sources:
            root = (tenant.dir / Path(source.path).expanduser()).resolve()
            roots.append(root if root.is_dir() else root.parent)
    except Exception:  # an unreadable tenant.yaml shows file names only
        pass
    return roots


def public(tenant: Tenant, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a search result, an answer, a chat turn) with every document path made public."""
    roots = source_roots(tenant)
    for key in _WITH_PATHS:
        items = data.get(key)
        if isinstance(items, list):
            data[key] = [{**item, "path": public_path(tenant, item["path"], roots)}
                         if isinstance(item, dict) and isinstance(item.get("path"), str) else item
                         for item in items]
    return data
