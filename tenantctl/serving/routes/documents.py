"""POST /v1/documents: upload files into the tenant's own folder and ingest them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from tenantctl.serving.deps import CurrentTenant, Shared

router = APIRouter(tags=["documents"])


@router.post("/v1/documents")
def upload(tenant: CurrentTenant, shared: Shared, files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
    """Store uploaded files in the tenant's own folder and ingest them."""
    from tenantctl.ingestion.ingest import ingest

    folder = tenant.dir / "uploads"
    folder.mkdir(exist_ok=True)
    saved: list[Path] = []
    for upload_file in files:
        name = safe_name(upload_file.filename or "upload")
        path = folder / name
        tmp = folder / f".{name}.part"
        with tmp.open("wb") as fh:
            while block := upload_file.file.read(1 << 20):
                fh.write(block)
        tmp.replace(path)
        saved.append(path)
    summary = ingest(tenant, saved, shared.cfg)
    data = summary.to_dict()
    for f in data["files"]:
        f["path"] = Path(f["path"]).name  # the tenant's folder layout is not the caller's business
    return data


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only ordinary characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .") or "upload"
    return base[:200]
