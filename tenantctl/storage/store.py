"""A tenant's SQLite store: documents, chunks (text + vector), the full-text index, sessions, usage.

The store is the source of truth. The FAISS index beside it is derived from the vectors held here and
stamped with the store's `generation`, which every write transaction increments: an index whose stamp
differs from the store is stale and is rebuilt from the store, never trusted.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tenantctl import textproc
from tenantctl.errors import DiskFull, StorageError, StoreTooNew

# Each migration brings the store from version i to i + 1 (PRAGMA user_version). Append, never edit.
_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    mtime REAL NOT NULL,
    format TEXT NOT NULL,
    chunking TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    title TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
"""
_V2 = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    chunks_embedded INTEGER NOT NULL DEFAULT 0,
    documents INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    ms REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage(ts);
"""
MIGRATIONS: list[str] = [_V1, _V2]
STORE_FORMAT_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Counts:
    documents: int
    chunks: int
    bytes: int
    last_ingest: float | None  # the last change of the documents, an addition or a removal


CHANGED_AT = "changed_at"  # meta: when a document was last added, replaced or removed (a Unix time)


def last_change(newest_ingest: float | None, changed_at: str | None) -> float | None:
    """The later of the newest document's ingest and the last recorded change: a removal leaves no
    document to date it, and a store from before `changed_at` was kept has only its documents' times."""
    times = [t for t in (newest_ingest, float(changed_at) if changed_at else None) if t is not None]
    return max(times, default=None)


# Tables SQLite itself makes for the schema above (FTS5 shadow tables, AUTOINCREMENT's counters).
_INTERNAL = re.compile(
    r"chunks_fts_(data|idx|content|docsize|config)|sqlite_sequence|sqlite_autoindex_.*|sqlite_stat\d"
)


def _schema(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return {(kind, name): " ".join((sql or "").split()) for kind, name, sql in rows}


def foreign_schema(conn: sqlite3.Connection) -> list[str]:
    """Schema objects of a store that this tenantctl's migrations (up to the store's version) do not
    create — triggers, views, extra tables or indexes — or that differ from them. Reads only
    `sqlite_master`: nothing of the store's own SQL runs. An imported store must have none."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    reference = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS[: min(version, STORE_FORMAT_VERSION)]:
            reference.executescript(migration)
        expected = _schema(reference)
    finally:
        reference.close()
    found = []
    for (kind, name), sql in sorted(_schema(conn).items()):
        if kind in ("table", "index") and _INTERNAL.fullmatch(name):
            continue
        if (kind, name) not in expected:
            found.append(f"{kind} {name!r}")
        elif sql != expected[(kind, name)]:
            found.append(f"{kind} {name!r} (altered)")
    missing = [f"{kind} {name!r} (missing)" for kind, name in expected if (kind, name) not in _schema(conn)]
    return found + missing


def merge_full_text(conn: sqlite3.Connection) -> None:
    """Merge a store's full-text index into one segment, after documents were removed: FTS5 keeps a
    deleted row's words in the segments written before the delete until they merge, so a removed
    document's words stayed in store.db (and in an export of it). About 0.2 s for 12,000 chunks."""
    conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")


@dataclass(frozen=True)
class Document:
    id: int
    path: str
    sha256: str
    bytes: int
    mtime: float
    format: str
    chunking: str
    chunks: int
    ingested_at: float


@dataclass(frozen=True)
class ChunkRow:
    id: int
    doc_id: int
    path: str
    ord: int
    start: int
    end: int
    page: int | None
    heading: str
    text: str


@dataclass(frozen=True)
class NewChunk:
    ord: int
    start: int
    end: int
    page: int | None
    heading: str
    text: str


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit). Read-only connections never create
    the file, never change its journal mode and cannot write. A store made here is private to its owner
    (0600, whatever the umask); SQLite gives the -wal and -shm files the same mode."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        return conn
    new = not path.exists()
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        if new:
            os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, on every SQLite build
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _damaged(path, exc) from exc
    return conn


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> StorageError:
    if "unable to open" in str(exc) or "readonly" in str(exc):
        blocked = _blocked(path.parent)
        if blocked is not None:
            return blocked
    return StorageError(
        f"the store of tenant folder {path.parent.name!r} is damaged or not a tenantctl store ({exc})",
        f"check it with `tenantctl verify {path.parent.name}`, or restore the tenant from an export",
    )


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def unwritable(folder: Path) -> OSError | None:
    """Why `folder` takes no new file (a read-only mount, an immutable folder, no permission, a full disk);
    None when it does. A WAL store is read through files made beside it, so such a folder fails every command
    of its tenant with SQLite's "unable to open database file", which is no damage of the store."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:  # a folder gone (deleted meanwhile) is not one that refuses files
        blocked = (errno.EROFS, errno.EACCES, errno.EPERM, *_DISK_FULL)
        return exc if exc.errno in blocked else None


def unwritable_hint(exc: OSError) -> str:
    """What to do about a tenant folder that takes no new file (`unwritable`'s error), in the words every
    command, `verify` and `doctor` give alike. Naming a command makes it the operator's to act on: an API client
    is told to contact the operator instead (`serving.errors.api_hint`), not to fix a mount."""
    if exc.errno in _DISK_FULL:
        return "free some disk space, then retry"
    return ("make the tenant's folder writable (check its mount, owner and modes; `tenantctl doctor` lists every "
            "such folder); nothing in it is damaged")


def _blocked(folder: Path) -> StorageError | None:
    """The error for a store SQLite could not open because its folder takes no new file: it read "damaged or
    not a tenantctl store", and `verify` advised deleting the tenant."""
    exc = unwritable(folder)
    if exc is None:
        return None
    message = (f"cannot open the store of tenant folder {folder.name!r}: {folder} takes no new file "
               f"({exc.strerror or type(exc).__name__})")
    return (DiskFull if exc.errno in _DISK_FULL else StorageError)(message, unwritable_hint(exc))


def check_format(version: int, where: object) -> None:
    """Refuse a store written by a newer tenantctl: its tables may mean something this one does not know."""
    if version > STORE_FORMAT_VERSION:
        error = StoreTooNew(
            f"{where} has store format {version}, newer than this tenantctl ({STORE_FORMAT_VERSION})",
            "upgrade tenantctl",
        )
        error.version = version
        raise error


def _not_a_file(path: Path) -> NoReturn:
    raise StorageError(f"{path.name} of tenant folder {path.parent.name!r} is not a file",
                       "check the tenant folder with `tenantctl doctor`; restore it from an export")


class Store:
    """One connection to a tenant's store. Opened for writing, it brings the schema up to date first;
    opened `readonly`, it changes nothing (an older store is read as it is: a table it lacks is missing)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if path.exists() and not path.is_file():
            _not_a_file(path)
        self.conn = connect(path, readonly=readonly)
        try:
            if readonly:
                check_format(self.format_version(), path)
            else:
                self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise _damaged(path, exc) from exc
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------
    def format_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.format_version()
        check_format(version, self.path)
        for number in range(version, STORE_FORMAT_VERSION):
            # executescript commits on its own, so each migration is one script, version bump included.
            self.conn.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[number]};"
                " INSERT OR IGNORE INTO meta VALUES ('generation', '0');"
                f" PRAGMA user_version={number + 1}; COMMIT;"
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite already rolled back after SQLITE_FULL and the like
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # -- usage --------------------------------------------------------------------------------------
    def record_usage(self, rows: list[tuple]) -> None:
        """Usage events, each: ts, operation, outcome, chunks_embedded, documents, prompt and completion
        tokens, ms."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO usage (ts, operation, outcome, chunks_embedded, documents, prompt_tokens,"
                " completion_tokens, ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows,
            )

    def usage_rows(self) -> list[tuple]:
        """Every usage event, oldest first, as `record_usage` takes it."""
        return self.conn.execute(
            "SELECT ts, operation, outcome, chunks_embedded, documents, prompt_tokens, completion_tokens, ms"
            " FROM usage ORDER BY id"
        ).fetchall()

    def questions_since(self, ts: float) -> tuple[int, int]:
        """Questions answered, under way (a claim, `claim_question`) or stopped after the model worked on them
        (a client that went away mid-answer: it was free of both daily quotas) since `ts`, and their tokens."""
        return tuple(self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage"
            " WHERE operation = 'question' AND (outcome IN ('ok', 'pending') OR prompt_tokens + completion_tokens > 0)"
            " AND ts >= ?", (ts,)
        ).fetchone())

    def claim_question(self, since: float, limit: int) -> int | None:
        """Below `limit` questions since `since`, claim one: a `pending` usage row, counted and written in
        one write transaction, so two processes cannot both take the last question of the day. Returns
        its id (`settle_usage` writes the outcome into it), None at the limit."""
        with self.transaction() as conn:
            if self.questions_since(since)[0] >= limit:
                return None
            return conn.execute("INSERT INTO usage (ts, operation, outcome) VALUES (?, 'question', 'pending')",
                                (time.time(),)).lastrowid

    def settle_usage(self, claim: int, row: tuple) -> None:
        """Write a claimed event's outcome, counts and ms (`record_usage`'s row, its ts and operation kept)."""
        with self.transaction() as conn:
            conn.execute("UPDATE usage SET outcome = ?, chunks_embedded = ?, documents = ?, prompt_tokens = ?,"
                         " completion_tokens = ?, ms = ? WHERE id = ?", (*row[2:], claim))

    # -- the folder the documents' paths name ---------------------------------------------------------
    def relocate(self, folder: str) -> int:
        """Documents inside the tenant's folder (its uploads) are keyed by their absolute paths: after the
        home moved, or an import (into another home, under another id), rewrite the keys that name the
        folder the store was last opened in (meta `folder`; for a store from before it was kept, the one
        tenant folder its uploads lie in) to `folder`. Returns how many were rewritten."""
        if self.get_meta("folder") == folder:
            return 0
        with self.transaction() as conn:
            old = self.moved_from(folder)
            moved = 0
            if old is not None:
                moved = conn.execute(
                    "UPDATE OR IGNORE documents SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?",
                    (folder, len(old) + 1, len(old) + 1, old + "/")).rowcount
            self.set_meta("folder", folder)
        return moved

    def moved_from(self, folder: str) -> str | None:
        """The folder the documents' paths name when it is not `folder` (the home moved, an import), read
        without writing: what `relocate` rewrites them from."""
        old = self.get_meta("folder") or self._uploads_folder()
        return old if old is not None and old != folder else None

    def _uploads_folder(self) -> str | None:
        """The tenant folder (`…/tenants/<id>`) holding the uploads among the documents, when there is one."""
        found = set()
        for (path,) in self.conn.execute("SELECT path FROM documents WHERE path LIKE '%/uploads/%'"):
            folder = Path(path).parent.parent
            if Path(path).parent.name == "uploads" and folder.parent.name == "tenants":
                found.add(str(folder))
        return found.pop() if len(found) == 1 else None

    # -- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> None:
        """Call inside `transaction()`: every reader then drops the index it loaded."""
        self.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- documents ----------------------------------------------------------------------------------
    def documents(self) -> dict[str, Document]:
        rows = self.conn.execute(
            "SELECT id, path, sha256, bytes, mtime, format, chunking, chunks, ingested_at FROM documents"
        )
        return {row[1]: Document(*row) for row in rows}

    def counts(self) -> Counts:
        """Documents, their chunks and source bytes, and the last change of the documents (a Unix time),
        in one query."""
        docs, chunks, size, newest, changed = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(chunks), 0), COALESCE(SUM(bytes), 0), MAX(ingested_at),"
            f" (SELECT value FROM meta WHERE key = '{CHANGED_AT}') FROM documents"
        ).fetchone()
        return Counts(docs, chunks, size, last_change(newest, changed))

    def put_document(
        self,
        *,
        path: str,
        sha256: str,
        size: int,
        mtime: float,
        fmt: str,
        chunking: str,
        chunks: list[NewChunk],
        vectors: Iterable[bytes],
    ) -> None:
        """Insert or replace one document with its chunks. Call inside `transaction()`."""
        self._drop(path)
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO documents (path, sha256, bytes, mtime, format, chunking, chunks, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (path, sha256, size, mtime, fmt, chunking, len(chunks), now),
        )
        doc_id = cur.lastrowid
        self.set_meta(CHANGED_AT, repr(now))
        for chunk, vector in zip(chunks, vectors, strict=True):
            cur = self.conn.execute(
                "INSERT INTO chunks (doc_id, ord, start, end, page, heading, text, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, chunk.ord, chunk.start, chunk.end, chunk.page, chunk.heading, chunk.text, vector),
            )
            self.conn.execute(
                "INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)",
                (cur.lastrowid, textproc.fts_body(chunk.heading, chunk.text)),
            )
        self.bump_generation()

    def _drop(self, path: str) -> bool:
        """Delete one document's full-text rows, chunks (by cascade) and row. Whether it was there."""
        self.conn.execute("DELETE FROM chunks_fts WHERE rowid IN "
                          "(SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.path = ?)",
                          (path,))
        return self.conn.execute("DELETE FROM documents WHERE path = ?", (path,)).rowcount > 0

    def remove_document(self, path: str) -> None:
        """Remove one document and its chunks. Call inside `transaction()`."""
        if self._drop(path):
            self.set_meta(CHANGED_AT, repr(time.time()))
        self.bump_generation()

    def remove_documents(self, paths: Iterable[str]) -> None:
        """Remove documents and their chunks in one transaction, leaving none of their text in the
        store's files: their words leave the full-text index (`merge_full_text`), the space they took is
        overwritten (`secure_delete`), and the write-ahead log, which held the pages as they were while
        any process (a running `serve`) kept the store open, is written back and emptied."""
        with self.transaction():
            for path in paths:
                self.remove_document(path)
            merge_full_text(self.conn)
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- chunks -------------------------------------------------------------------------------------
    def vectors(self) -> tuple[list[int], bytes]:
        """All chunk ids and their vectors, concatenated (float32, row-major)."""
        ids: list[int] = []
        blobs: list[bytes] = []
        for block_ids, blob in self.vector_blocks():
            ids.extend(block_ids)
            blobs.append(blob)
        return ids, b"".join(blobs)

    def vector_blocks(self, rows: int = 4096) -> Iterator[tuple[list[int], bytes]]:
        """Chunk ids and their vectors (float32, row-major, concatenated), `rows` at a time in id
        order: an index is built without holding a second copy of every vector."""
        for block in self.chunk_pages("vector", rows):
            yield [row[0] for row in block], b"".join(row[1] for row in block)

    def chunk_pages(self, columns: str, rows: int) -> Iterator[list[tuple]]:
        """Every chunk's id and `columns` (SQL, e.g. "heading, text"), `rows` chunks at a time in id
        order, each page read by the id after the last one's (never an OFFSET that rereads the rest)."""
        last = -1
        while True:
            page = self.conn.execute(
                f"SELECT id, {columns} FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, rows)
            ).fetchall()
            if not page:
                return
            last = page[-1][0]
            yield page

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def document_chunks(self, doc_id: int) -> list[tuple[NewChunk, bytes]]:
        """One document's chunks in order, each with its vector (for copying a tenant between stores)."""
        rows = self.conn.execute(
            "SELECT ord, start, end, page, heading, text, vector FROM chunks WHERE doc_id = ? ORDER BY ord", (doc_id,)
        )
        return [(NewChunk(*row[:6]), row[6]) for row in rows]

    def wrong_size_vectors(self, dim: int) -> int:
        """How many chunk vectors are not `dim` float32 values."""
        return self.conn.execute("SELECT COUNT(*) FROM chunks WHERE length(vector) != ?", (dim * 4,)).fetchone()[0]

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT c.id, c.doc_id, d.path, c.ord, c.start, c.end, c.page, c.heading, c.text"
            f" FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks})",
            ids,
        )
        return {row[0]: ChunkRow(*row) for row in rows}

    def chunk_vectors(self, ids: list[int]) -> dict[int, bytes]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", ids)
        return dict(rows.fetchall())

    def keyword_search(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the chunks' full text. Returns (chunk id, score), best first; higher is better."""
        match = textproc.fts_query(query)
        if not match:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY s LIMIT ?",
            (match, limit),
        )
        return [(rowid, -score) for rowid, score in rows]
