"""POST /v1/documents: upload files into the tenant's own folder and ingest them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse

from tenantctl.serving.deps import CurrentTenant, Shared
from tenantctl.serving.limits import scrub

router = APIRouter(tags=["documents"])


@router.post("/v1/documents", response_model=None)
def upload(tenant: CurrentTenant, shared: Shared,
           files: Annotated[list[UploadFile], File()]) -> dict[str, Any] | JSONResponse:
    """Store uploaded files in the tenant's own folder and ingest them (all or nothing: a refused or
    failed upload leaves no file behind). When no file could be indexed, 422 with each file's reason."""
    from tenantctl.ingestion.uploads import Upload, store_uploads

    uploads = [Upload(f.filename or "upload", f.file, _size(f)) for f in files]
    summary = store_uploads(tenant, uploads, shared.cfg, max_file_bytes=int(shared.cfg.server.max_file_mb * (1 << 20)))
    data = summary.to_dict()
    for f in data["files"]:
        f["path"] = Path(f["path"]).name  # the tenant's folder layout is not the caller's business
    if summary.failed and not (summary.added or summary.updated or summary.skipped):  # was 200 "partial"
        first = next(f for f in data["files"] if f["status"] == "failed")
        error = f"no file of the upload could be indexed: {first['path']}: {scrub(first['reason'])}"
        hint = "send files of a supported type with text in them (`files` gives each file's reason)"
        return JSONResponse({**data, "error": error, "hint": hint}, status_code=422)
    return data


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size
