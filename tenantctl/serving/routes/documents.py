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
    from tenantctl.ingestion.uploads import Upload, safe_name, store_uploads

    uploads = [Upload(f.filename or "upload", f.file, _size(f)) for f in files]
    summary = store_uploads(tenant, uploads, shared.cfg, max_file_bytes=int(shared.cfg.server.max_file_mb * (1 << 20)),
                            wait=LOCK_WAIT_S)
    data = summary.to_dict()
    for f in data["files"]:
        f["path"] = Path(f["path"]).name  # the tenant's folder layout is not the caller's business
    sent = {safe_name(u.name) for u in uploads}  # not the files a killed server left, indexed beside them
    own = [f for f in data["files"] if f["path"] in sent]
    if own and all(f["status"] == "failed" for f in own):  # was 200 "partial"
        first = own[0]
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
    chunks and vectors. A document not uploaded (a source's, or one the operator ingested): 409."""
    from tenantctl.errors import DocumentNotFound
    from tenantctl.ingestion.uploads import remove_upload

    name = path.removeprefix(f"{UPLOADS_DIR}/")
    try:
        return {"tenant": tenant.id, "removed": f"{UPLOADS_DIR}/{remove_upload(tenant, name, wait=LOCK_WAIT_S)}"}
    except DocumentNotFound:
        listed = [d for d in documents(tenant)["documents"] if d["path"] == path and not d["uploaded"]]
        if not listed:
            raise
    # A source's document, or one the operator ingested from a folder ("sla.txt" too: it was 404, "no
    # uploaded document", with a hint to the listing that names it).
    raise HttpRefusal(409, f"{path[:200]!r} is not an upload: a document of one of the tenant's sources or of a "
                      "folder the server's operator indexed",
                      "only uploads are removed over the API; ask the server's operator to remove it")


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size
