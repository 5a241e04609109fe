"""Incremental ingestion: new and changed files are embedded, unchanged ones skipped by content hash,
vanished ones pruned on request. Each batch of files is committed in one SQLite transaction, so a crash
loses at most the batch in flight; the FAISS index is rebuilt from the store and swapped in at the end.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenantctl.config import Config
from tenantctl.errors import BadInput, ExitCode
from tenantctl.ingestion.chunking import chunk_text
from tenantctl.ingestion.extract import ExtractError, extract, is_supported, reader_version, unsupported_reason
from tenantctl.models.embedding import Embedder, embedder_for_store, maker
from tenantctl.storage import metering
from tenantctl.storage.index import refresh_index
from tenantctl.storage.store import Document, NewChunk, Store
from tenantctl.storage.tenants import Tenant
from tenantctl.textproc import embed_input

# Chunks embedded (and committed) together. Large batches let the embedder sort by length and pad
# little; a crash loses at most one batch, which the next run redoes.
BATCH_CHUNKS = 1024


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | skipped | removed | failed
    chunks: int = 0
    reason: str | None = None

    def __post_init__(self) -> None:  # a link's reason names its target, whose name may be no UTF-8 either
        self.reason = None if self.reason is None else _printable(self.reason)


@dataclass
class IngestSummary:
    tenant: str
    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    failed: int = 0
    chunks: int = 0  # chunks embedded by this run
    seconds: float = 0.0  # the run's own time, without `waited`
    waited: float = 0.0  # seconds spent waiting (--wait) for another writer of the tenant
    unsupported: dict[str, int] = field(default_factory=dict)  # files under folders no reader takes, by suffix
    files: list[FileResult] = field(default_factory=list)

    def record(self, result: FileResult) -> None:
        self.files.append(result)
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status in ("added", "updated"):
            self.chunks += result.chunks

    @property
    def status(self) -> str:
        """ok, or partial when some files failed (the others went through)."""
        return "partial" if self.failed else "ok"

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.failed else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass
class _Pending:
    """A new or changed file, waiting to be embedded. Its bytes are read again when its turn comes, so
    an ingest never holds more than one batch of files in memory."""

    path: Path
    key: str
    size: int
    sha256: str
    mtime: float
    status: str


@dataclass(frozen=True)
class SourceSpec:
    """A file or folder to ingest; folders are read recursively, filtered by glob patterns matched
    against the path relative to the folder (`*` crosses folders; a pattern without `/` matches the
    file name)."""

    path: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wants(self, rel: str) -> bool:
        if self.include and not any(_glob(rel, p) for p in self.include):
            return False
        return not any(_glob(rel, p) for p in self.exclude)


def _glob(rel: str, pattern: str) -> bool:
    if "/" not in pattern:
        return fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatch(rel, pattern) or (pattern.startswith("**/") and _glob(rel, pattern[3:]))


def collect_files(
    sources: Iterable[SourceSpec], links: Callable[[Path, Path], str | None] | None = None,
    hard_links: Callable[[Path], str | None] | None = None, unsupported: dict[str, int] | None = None,
) -> tuple[list[Path], list[FileResult]]:
    """Supported files of `sources` (hidden entries and Office's "~$" lock files skipped), and the sources
    that could not be used.
    A symbolic link under a folder is followed only when `links(link, folder)` says nothing against it
    (without `links`: when it stays inside the folder); links to folders are never followed. A link not
    followed, or a file `hard_links(file)` refuses, is reported as skipped, with the reason. Files under a
    folder of a type no reader takes are counted by suffix into `unsupported`."""
    files: dict[Path, None] = {}
    problems: list[FileResult] = []
    for source in sources:
        root = source.path.expanduser().absolute()  # reported as the documents are: by absolute path
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if any(part.startswith(".") for part in rel.parts) or path.name.startswith("~$"):
                    continue  # hidden, or the lock file Office keeps beside a document it has open
                if path.is_symlink():
                    reason = _link_refusal(path, root, links)
                    if reason is None and not path.exists() and source.wants(rel.as_posix()) and is_supported(path):
                        # a document's link whose target went away was passed over without a word
                        reason = f"broken symbolic link: its target {path.readlink()} does not exist"
                    if reason:
                        problems.append(FileResult(shown(path), "skipped", reason=reason))
                        continue
                if not path.is_file():
                    continue
                if not source.wants(rel.as_posix()):
                    continue
                if not is_supported(path):  # a folder of .doc files ingested as "0 added, 0 failed"
                    if unsupported is not None:
                        suffix = path.suffix.lower() or "no extension"
                        unsupported[suffix] = unsupported.get(suffix, 0) + 1
                    continue
                if hard_links is not None and (reason := hard_links(path)):
                    problems.append(FileResult(shown(path), "skipped", reason=reason))
                    continue
                _take(path.resolve(), files, problems)
        elif root.is_file():
            if hard_links is not None and (reason := hard_links(root)):
                problems.append(FileResult(shown(root), "skipped", reason=reason))
            elif is_supported(root):
                _take(root.resolve(), files, problems)
            else:
                problems.append(FileResult(shown(root), "failed", reason=unsupported_reason(root)))
        elif root.exists():  # a named pipe, socket or device: "no such file or folder" it was not
            problems.append(FileResult(shown(root), "failed", reason="not a regular file (a pipe, socket or device)"))
        else:
            problems.append(FileResult(shown(root), "failed", reason="no such file or folder"))
    return list(files), problems


def shown(path: Path) -> str:
    """A path as text that prints and stores: a name that is not UTF-8 (a Latin-1 "laté.txt" off an old
    share, which Python keeps as surrogates) has its undecodable bytes written as "\\xe9"."""
    return _printable(str(path))


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _take(path: Path, files: dict[Path, None], problems: list[FileResult]) -> None:
    """A file to ingest, unless its name is no UTF-8 text: its document could not be stored under it (the
    whole ingest ended in a UnicodeEncodeError traceback)."""
    if shown(path) != str(path):
        problems.append(FileResult(shown(path), "failed", reason="its name is not UTF-8 text: rename the file"))
    else:
        files[path] = None



def _link_refusal(link: Path, root: Path, links: Callable[[Path, Path], str | None] | None) -> str | None:
    if link.is_dir():
        return f"symbolic link to the folder {link.resolve()} (links to folders are not followed)"
    if links is not None:
        return links(link, root)
    return None if link.resolve().is_relative_to(root.resolve()) else "symbolic link leaves the source folder"


def ingest(
    tenant: Tenant,
    sources: list[Path | SourceSpec],
    cfg: Config,
    *,
    prune: bool = False,
    wait: float = 0,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
) -> IngestSummary:
    """Bring the tenant's index in line with `sources`. With `prune`, documents under a source that
    no longer match a file are removed; a source that does not exist prunes nothing (an unmounted
    share must not empty the index)."""
    if not sources:
        raise BadInput("nothing to ingest", "name one or more files or folders")
    started = time.perf_counter()
    summary = IngestSummary(tenant=tenant.id)
    chunking = tenant.chunking(cfg)
    signature = chunking.signature()
    specs = [s if isinstance(s, SourceSpec) else SourceSpec(Path(s)) for s in sources]
    from tenantctl.ingestion.policy import hard_link_checker, link_checker

    files, problems = collect_files(specs, link_checker(tenant.dir, cfg), hard_link_checker(tenant.dir),
                                    summary.unsupported)
    roots = [s.path for s in specs if s.path.expanduser().exists()]
    for problem in problems:
        summary.record(problem)

    asked = time.perf_counter()
    with tenant.write_lock(wait):  # "13 chunks embedded in 15.5s" counted the wait for another writer
        summary.waited = round(time.perf_counter() - asked, 3)
        with tenant.open_store() as store, metering.track(store, "ingest") as usage:
            tenant.require_active("ingests")  # inside: a refusal is metered too
            # The store's own embedder (an index built with fp32 keeps it), checked before anything is read.
            embedder = embedder_for_store(cfg.embedder, store, maker(embedder))
            known = store.documents()
            pending = _changed(files, known, signature, summary)
            done = len(files) - len(pending)  # skipped, or unreadable
            if progress:
                progress(done, len(files))
            _check_quota(tenant, known, pending, files, roots if prune else None)
            if pending:
                _embed_and_store(store, pending, embedder, chunking, signature, summary, progress, len(files), done)
            if prune:
                _prune(store, known, files, roots, summary)
            if not tenant.pooled:
                refresh_index(tenant.dir, store)
            usage.chunks_embedded = summary.chunks
            usage.documents = summary.added + summary.updated
            usage.outcome = summary.status
            usage.details = {k: getattr(summary, k) for k in ("added", "updated", "skipped", "removed", "failed")}
    summary.seconds = round(time.perf_counter() - started - summary.waited, 3)
    return summary


def _changed(files: list[Path], known: dict[str, Document], signature: str,
             summary: IngestSummary) -> list[_Pending]:
    """The files to embed: new, or changed since they were stored (content hash, chunking, or the
    version of their type's reader). Unchanged files are recorded as skipped, unreadable ones as failed."""
    pending: list[_Pending] = []
    for path in files:
        key = str(path)
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError as exc:
            summary.record(FileResult(key, "failed", reason=exc.strerror or str(exc)))
            continue
        sha = hashlib.sha256(data).hexdigest()
        old = known.get(key)
        if old and old.sha256 == sha and old.chunking == signature + reader_version(path):
            summary.record(FileResult(key, "skipped", old.chunks))
            continue
        pending.append(_Pending(path, key, len(data), sha, mtime, "updated" if old else "added"))
        del data
    return pending


def _prune(store: Store, known: dict[str, Document], files: list[Path], roots: list[Path],
           summary: IngestSummary) -> None:
    """Remove the documents under `roots` whose files are gone (not among `files`)."""
    seen = {str(p) for p in files}
    gone = [key for key in known if key not in seen and in_scope(key, roots)]
    if gone:
        store.remove_documents(gone)
        for key in gone:
            summary.record(FileResult(key, "removed", known[key].chunks))


def in_scope(key: str, roots: list[Path]) -> bool:
    """Whether a document (its path) lies in one of `roots` (files or folders)."""
    scopes = [str(r.expanduser().resolve()) for r in roots]
    return any(key == s or key.startswith(s.rstrip("/") + "/") for s in scopes)


def _check_quota(
    tenant: Tenant, known: dict, pending: list[_Pending], files: list[Path], prune_roots: list[Path] | None
) -> None:
    """Refuse, before anything is embedded, an ingest that would exceed the document or byte quota."""
    quotas = tenant.config.quotas
    if quotas.documents is None and quotas.bytes is None:
        return
    seen = {str(p) for p in files}
    kept = {
        key: doc.bytes for key, doc in known.items()
        if not (prune_roots and key not in seen and in_scope(key, prune_roots))
    }
    for item in pending:
        kept[item.key] = item.size
    before = (len(known), sum(doc.bytes for doc in known.values()))
    metering.check_storage_quota(tenant, len(kept), sum(kept.values()), before)


def _embed_and_store(
    store: Store,
    pending: list[_Pending],
    embedder: Embedder,
    chunking: Any,
    signature: str,
    summary: IngestSummary,
    progress: Callable[[int, int], None] | None,
    total: int,
    done: int,
) -> None:
    batch: list[tuple[_Pending, str, list[NewChunk]]] = []

    def commit() -> None:
        nonlocal done
        texts = [embed_input(c.heading, c.text) for _, _, chunks in batch for c in chunks]
        vectors = embedder.encode(texts) if texts else None
        with store.transaction():
            if store.get_meta("embedder") != embedder.name:  # a new or emptied store: checked above
                store.set_meta("embedder", embedder.name)
                store.set_meta("embedder_dim", str(embedder.dim))
            store.set_meta("chunking", signature)
            row = 0
            for item, fmt, chunks in batch:
                blobs = [vectors[row + i].tobytes() for i in range(len(chunks))]
                row += len(chunks)
                store.put_document(
                    path=item.key, sha256=item.sha256, size=item.size, mtime=item.mtime, fmt=fmt,
                    chunking=signature + reader_version(item.path), chunks=chunks, vectors=blobs,
                )
        for item, _, chunks in batch:
            summary.record(FileResult(item.key, item.status, len(chunks)))
        done += len(batch)
        batch.clear()
        if progress:
            progress(done, total)

    for item in pending:
        data = b""
        try:
            data = _reread(item)
            extracted = extract(item.path, data)
            chunks = chunk_text(extracted.text, chunking, paged=extracted.paged)
            if not chunks:
                raise ExtractError("no text found in the file")
        except ExtractError as exc:
            reason = f"{exc}{misnamed(item.path, data) or _resave(str(exc))}"
            summary.record(FileResult(item.key, "failed", reason=reason))
            done += 1
            continue
        except Exception as exc:  # a reader library choking on a malformed file must not stop the run
            reason = f"unreadable ({type(exc).__name__}: {exc})"
            reason += misnamed(item.path, data) or _resave(reason)
            summary.record(FileResult(item.key, "failed", reason=reason))
            done += 1
            continue
        batch.append((item, extracted.format, chunks))
        if sum(len(c) for _, _, c in batch) >= BATCH_CHUNKS:
            commit()
    if batch:
        commit()


# A file's first bytes, for one its reader could not read: a PDF or a DOCX under another type's name, an
# old binary Word file renamed .docx. The failure then says what the file is and the fix.
_SIGNATURES = (
    (b"%PDF-", "a PDF", "rename it to .pdf"),
    (b"PK\x03\x04", "a ZIP archive, not a DOCX", "save it as .docx, .pdf or .txt"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old binary Office file (.doc, .xls, .ppt)", "save it as .docx or .pdf"),
    (b"{\\rtf", "an RTF document", "save it as .docx, .pdf or .txt"),
)


def _resave(reason: str) -> str:
    """The fix for a file its reader could not parse (and that is no other type under its name): it said
    "unreadable PDF (PdfStreamError: Stream has ended unexpectedly)" and nothing an operator could do."""
    if reason.startswith("unreadable"):
        return "; the file is damaged or cut short: save or download it again"
    return ""


def misnamed(path: Path, data: bytes) -> str:
    """"; it is a PDF: rename it to .pdf" when a failed file's content is another type than its name says;
    "" when it is what its name says, or nothing tenantctl recognises."""
    suffix = path.suffix.lower()
    for magic, what, fix in _SIGNATURES:
        if not data.startswith(magic):
            continue
        if magic.startswith(b"PK") and b"word/" in data:  # a DOCX (its parts are named word/...)
            what, fix = "a DOCX", "rename it to .docx"
        expected = {"a PDF": ".pdf", "a DOCX": ".docx"}.get(what)
        return "" if suffix == expected else f"; it is {what}: {fix}"
    head = data[:4096]
    if suffix in (".pdf", ".docx") and head.strip() and b"\x00" not in head:
        try:  # text typed or exported under a PDF's or a DOCX's name (a character cut at 4096 bytes is no error)
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return ""
        return "; it is text: rename it to .txt, .md or .html"
    return ""


def _reread(item: _Pending) -> bytes:
    """The file's bytes for embedding; a file changed since it was hashed is recorded as it is now."""
    data = item.path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != item.sha256:
        item.size, item.sha256, item.mtime = len(data), sha, item.path.stat().st_mtime
    return data
