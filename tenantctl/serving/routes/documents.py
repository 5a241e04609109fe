"""The key's tenant's documents: upload files into its own folder and ingest them, list them, remove an
uploaded one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse

from tenantctl.serving.deps import CurrentTenant, Shared
from tenantctl.serving.errors import HttpRefusal, scrub
from tenantctl.serving.render import public_path, source_roots
from tenantctl.serving.schemas import ERRORS, DocumentList, DocumentRemoved, UploadResult, ok
from tenantctl.storage.layout import UPLOADS_DIR

router = APIRouter(tags=["documents"], responses=ERRORS)

# An upload or removal waits this long for another write of its tenant — a parallel upload of the same
# client takes well under a second — before it is refused as busy (409).
LOCK_WAIT_S = 10.0


@router.post("/v1/documents", response_model=None, responses=ok(
    UploadResult, "the files stored and ingested; 422 (the same body with `error`, `hint`) when none could be"))
def upload(tenant: CurrentTenant, shared: Shared,
           files: Annotated[list[UploadFile], File()]) -> dict[str, Any] | JSONResponse:
    """Store uploaded files in the tenant's own folder and ingest them (all or nothing: a refused or
    failed upload leaves no file behind). When no file could be indexed, 422 with each file's reason."""
    from tenantctl.ingestion.uploads import Upload, store_uploads

    uploads = [Upload(f.filename or "upload", f.file, _size(f)) for f in files]
    summary = store_uploads(tenant, uploads, shared.cfg, max_file_bytes=int(shared.cfg.server.max_file_mb * (1 << 20)),
                            wait=LOCK_WAIT_S)
    data = summary.to_dict()
    for f in data["files"]:
        f["path"] = Path(f["path"]).name  # the tenant's folder layout is not the caller's business
    if summary.failed and not (summary.added or summary.updated or summary.skipped):  # was 200 "partial"
        first = next(f for f in data["files"] if f["status"] == "failed")
        error = f"no file of the upload could be indexed: {first['path']}: {scrub(first['reason'])}"
        hint = "send files of a supported type with text in them (`files` gives each file's reason)"
        return JSONResponse({**data, "error": error, "hint": hint}, status_code=422)
    return data


@router.get("/v1/documents", response_model=None, responses=ok(DocumentList))
def documents(tenant: CurrentTenant) -> dict[str, Any]:
    """`{tenant, documents}`: each document's path as search results name it (`uploads/...` for an
    uploaded one, which DELETE /v1/documents/{path} removes), bytes, chunks, format and time indexed."""
    from tenantctl.fileio import iso_utc

    with tenant.open_store(readonly=True) as store:
        docs = store.documents()
    roots, uploads = source_roots(tenant), (tenant.dir / UPLOADS_DIR).resolve()
    listed = [{"path": public_path(tenant, key, roots), "uploaded": Path(key).parent == uploads, "bytes": doc.bytes,
               "chunks": doc.chunks, "format": doc.format, "ingested_at": iso_utc(doc.ingested_at)}
              for key, doc in docs.items()]
    return {"tenant": tenant.id, "documents": sorted(listed, key=lambda d: d["path"])}


@router.delete("/v1/documents/{path:path}", response_model=None, responses=ok(DocumentRemoved))
def remove(path: str, tenant: CurrentTenant) -> dict[str, Any]:
    """Remove one uploaded document (`uploads/report.pdf`, or the name the upload returned): its file,
    chunks and vectors. A document of one of the tenant's sources comes back at its next reindex: 409."""
    from tenantctl.ingestion.uploads import remove_upload

    name = path.removeprefix(f"{UPLOADS_DIR}/")
    if "/" in name and any(d["path"] == path for d in documents(tenant)["documents"]):
        raise HttpRefusal(409, f"{path[:200]!r} is a document of one of the tenant's sources, not an upload",
                          "it is re-read from its source at each reindex: the operator removes it there")
    return {"tenant": tenant.id, "removed": f"{UPLOADS_DIR}/{remove_upload(tenant, name, wait=LOCK_WAIT_S)}"}


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size
