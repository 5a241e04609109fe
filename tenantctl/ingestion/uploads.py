"""Files uploaded through the server, stored in the tenant's `uploads/` folder and ingested.

Nothing of a refused or failed upload stays behind: sizes, names, suspension, the storage quota and the
free disk space are checked before a byte is written; the files are streamed to a private staging
folder beside their targets, moved into place only then, and — when the ingest is refused or fails
(quota, busy, full disk) — the previous files are put back and the new ones removed. Files a killed
server had moved into place but not indexed are indexed by the tenant's next upload, which removes the
staging folder it left.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tenantctl import logs
from tenantctl.config import Config
from tenantctl.errors import BadInput, DiskFull, DocumentNotFound, Refused, TooLarge, from_system_error
from tenantctl.ingestion.ingest import IngestSummary, ingest
from tenantctl.storage import metering
from tenantctl.storage.layout import UPLOADS_DIR
from tenantctl.storage.tenants import Tenant, upload_stagings

# Bytes of a stored name: file systems allow 255, and the staging names add a prefix.
MAX_NAME_BYTES = 200
# Free space kept beyond the uploaded bytes, for the store and index writes the ingest makes.
DISK_MARGIN = 1 << 20


@dataclass
class Upload:
    name: str  # as sent by the client; made safe here
    file: BinaryIO
    size: int


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only ordinary characters, at most MAX_NAME_BYTES
    of UTF-8 — shortened in its stem, so the suffix (the file's type) survives."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, suffix = base, ""
    tail = f".{suffix}" if suffix else ""
    while len((stem + tail).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[: max(1, len(stem) - max(1, (len((stem + tail).encode()) - MAX_NAME_BYTES) // 3))]
    return (stem.rstrip(" .") or "upload") + tail


def store_uploads(tenant: Tenant, uploads: list[Upload], cfg: Config, *, max_file_bytes: int,
                  copy: Callable[[BinaryIO, BinaryIO], None] | None = None, wait: float = 0) -> IngestSummary:
    """Store `uploads` in the tenant's uploads folder and ingest them; all or nothing. The ingest waits
    up to `wait` seconds for another writer of the tenant (Busy after that)."""
    names = [safe_name(u.name) for u in uploads]
    folder = _admit(tenant, uploads, names, max_file_bytes=max_file_bytes)
    return _swap_in_and_ingest(tenant, uploads, names, folder, cfg, copy=copy, wait=wait)


def _admit(tenant: Tenant, uploads: list[Upload], names: list[str], *, max_file_bytes: int) -> Path:
    """Refuse the upload before a byte is written: no files, two of one name, a file too large, a
    suspended tenant, the storage quota, the free disk space. Returns the uploads folder, made."""
    if not uploads:
        raise BadInput("no files in the upload", "send one or more files in the `files` form field")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadInput(f"two files named {twice[0]!r} in one upload", "send files with distinct names")
    for upload, name in zip(uploads, names, strict=True):
        if upload.size > max_file_bytes:
            raise TooLarge(f"{name} is {upload.size} bytes, more than the limit of {max_file_bytes} per file",
                           "split the file, or raise `server.max_file_mb` in config.yaml")
    folder = tenant.dir / UPLOADS_DIR
    targets = [folder / n for n in names]
    try:
        tenant.require_active("uploads")
        _check_quota(tenant, targets, [u.size for u in uploads])
    except Refused as exc:  # metered as a CLI ingest's refusal is: one refused `ingest` event
        with tenant.open_store() as store, contextlib.suppress(Refused), metering.track(store, "ingest"):
            raise exc
        raise
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise from_system_error(exc) from None
    needed = sum(u.size for u in uploads) + DISK_MARGIN
    if needed > free:
        raise DiskFull(f"not enough disk space for this upload ({needed} bytes needed, {free} free)",
                       "retry later; the operator must free disk space")
    return folder


def _swap_in_and_ingest(tenant: Tenant, uploads: list[Upload], names: list[str], folder: Path, cfg: Config, *,
                        copy: Callable[[BinaryIO, BinaryIO], None] | None, wait: float) -> IngestSummary:
    """Write the files to a staging folder, move them into place (each previous version kept aside) and
    ingest them with any a killed server left unindexed; put the folder back as it was when that fails."""
    targets = [folder / n for n in names]
    left = [p for p in unindexed_uploads(tenant) if p.name not in names]
    staging = folder / f".incoming-{os.getpid()}-{secrets.token_hex(6)}"  # see layout.UPLOAD_STAGING_RE
    moved: list[tuple[Path, Path | None]] = []  # (target, previous version kept aside)
    try:
        staging.mkdir(mode=0o700)
        for upload, name in zip(uploads, names, strict=True):
            _write(staging / name, upload.file, copy)
        for name, target in zip(names, targets, strict=True):
            previous = None
            if target.exists():
                previous = staging / f".previous-{name}"
                os.replace(target, previous)
            moved.append((target, previous))
            os.replace(staging / name, target)
        summary = ingest(tenant, targets + left, cfg, wait=wait)
        _drop_failed(summary, folder, left, moved)
    except BaseException as exc:
        for target, previous in reversed(moved):  # put the folder back as it was
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
                if previous is not None:
                    os.replace(previous, target)
        if isinstance(exc, OSError | sqlite3.Error):
            raise from_system_error(exc) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _drop_failed(summary: IngestSummary, folder: Path, left: list[Path], moved: list[tuple[Path, Path | None]]) -> None:
    """After the ingest: a file that failed alone (empty, unsupported...) is not kept, its previous
    version put back (so is an unchanged one's, the same bytes); one a killed server left that cannot be
    indexed goes, as it would have, and so
    does that server's staging folder (what it held is superseded)."""
    failed = {Path(f.path).resolve() for f in summary.files if f.status == "failed"}
    unchanged = {Path(f.path).resolve() for f in summary.files if f.status == "skipped"}
    for path in left:
        if path.resolve() in failed:
            path.unlink(missing_ok=True)
    for dead in upload_stagings(folder)[1]:
        shutil.rmtree(dead, ignore_errors=True)
    for target, previous in moved:
        if target.resolve() in failed:
            target.unlink(missing_ok=True)
            if previous is not None:
                os.replace(previous, target)
        elif target.resolve() in unchanged and previous is not None:  # the same bytes again: the file the
            os.replace(previous, target)  # store describes (size, time) stays, not taken for one left unindexed


def remove_upload(tenant: Tenant, name: str, *, wait: float = 0) -> str:
    """Remove one uploaded document of `tenant` — its file in the uploads folder, its chunks, vectors and
    full text — under the tenant's write lock. `name` is the file name the upload returned. The file is
    set aside until the store no longer holds it, and put back when that fails. Returns the name."""
    from tenantctl.storage.index import refresh_index

    target = tenant.dir / UPLOADS_DIR / name
    missing = DocumentNotFound(f"no uploaded document {name[:200]!r} in tenant {tenant.id!r}",
                               "GET /v1/documents lists the tenant's documents")
    if safe_name(name) != name:  # "../x", "a/b", hidden names: never one of the uploads
        raise missing
    tenant.require_active("uploads")
    with tenant.write_lock(wait), tenant.open_store() as store:
        key = str(target.resolve())
        if key not in store.documents():
            raise missing
        aside = target.with_name(f".removing-{secrets.token_hex(6)}")
        moved = removed = False
        try:
            if target.is_file():
                os.replace(target, aside)
                moved = True
            store.remove_documents([key])
            removed = True
            if not tenant.pooled:  # a pooled tenant's vectors are in PostgreSQL
                refresh_index(tenant.dir, store)
        except BaseException as exc:
            if moved and not removed:  # still indexed: its file stays
                os.replace(aside, target)
            if isinstance(exc, OSError | sqlite3.Error):
                raise from_system_error(exc) from exc
            raise
        finally:
            if removed:
                aside.unlink(missing_ok=True)
    logs.event("upload-remove", tenant=tenant.id, removed=1)
    return name


def unindexed_uploads(tenant: Tenant) -> list[Path]:
    """Files in the tenant's uploads folder that its store does not hold as they are (missing, or another
    size or time): moved into place by an upload whose server was killed before it indexed them. None
    while another upload of the tenant is under way, whose files are its own to index or put back."""
    return unindexed_in(tenant.dir / UPLOADS_DIR, lambda: tenant.open_store(readonly=True))


def unindexed_in(folder: Path, open_store: Callable[[], Any]) -> list[Path]:
    """`unindexed_uploads` of an uploads folder, its store opened (read-only) by `open_store` only when
    the folder holds files."""
    try:
        files = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and p.is_file()]
        if not files or upload_stagings(folder)[0]:
            return []
        here = str(folder.parent.resolve())  # the tenant's folder
        with contextlib.closing(open_store()) as store:
            known = store.documents()
            # After a move of the home, until a command writes the store, its keys name the old folder.
            moved = store.moved_from(here) if hasattr(store, "moved_from") else None
        stats = [(p, p.stat()) for p in files]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise from_system_error(exc) from None
    left = []
    for path, st in stats:
        key = str(path.resolve())
        doc = known.get(moved + key[len(here):] if moved and key.startswith(here + "/") else key)
        if doc is None or doc.bytes != st.st_size or (doc.mtime != st.st_mtime and not _same_bytes(path, doc.sha256)):
            left.append(path)
    return left


def _same_bytes(path: Path, sha256: str) -> bool:
    """Whether a file of the indexed size but another time holds the indexed bytes: a home copied without
    its files' times (`cp -r`) had every upload taken for one a killed server left, read again at each upload."""
    from tenantctl.fileio import sha256_file

    try:
        return sha256_file(path) == sha256
    except OSError:
        return False


def _write(path: Path, source: BinaryIO, copy: Callable[[BinaryIO, BinaryIO], None] | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        if copy is not None:
            copy(source, out)
        else:
            shutil.copyfileobj(source, out, 1 << 20)


def _check_quota(tenant: Tenant, targets: list[Path], sizes: list[int]) -> None:
    """Refuse, before anything is written, an upload that would exceed the document or byte quota."""
    quotas = tenant.config.quotas
    if quotas.documents is None and quotas.bytes is None:
        return
    with contextlib.closing(tenant.open_store(readonly=True)) as store:
        kept = {key: doc.bytes for key, doc in store.documents().items()}
    before = (len(kept), sum(kept.values()))
    for target, size in zip(targets, sizes, strict=True):
        kept[str(target.resolve())] = size
    metering.check_storage_quota(tenant, len(kept), sum(kept.values()), before)
