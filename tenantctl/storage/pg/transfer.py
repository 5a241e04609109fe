"""Copying a tenant's documents between its local store and the pool, vectors included (nothing is
re-embedded), with counts and a checksum to verify the copy."""

from __future__ import annotations

import hashlib

from tenantctl.storage.pg.store import PgStore
from tenantctl.storage.store import NewChunk, Store

META_KEYS = ("embedder", "embedder_dim", "chunking")


def copy_local_to_pool(src: Store, dst: PgStore) -> dict[str, int]:
    """Copy every document of a local store, with its chunks and vectors, into a pooled store in one
    transaction. Returns the counts copied."""
    with dst.transaction():
        for key in META_KEYS:
            value = src.get_meta(key)
            if value is not None:
                dst.set_meta(key, value)
        for doc in src.documents().values():
            rows = src.conn.execute(
                "SELECT ord, start, end, page, heading, text, vector FROM chunks WHERE doc_id = ? ORDER BY ord",
                (doc.id,),
            ).fetchall()
            dst.put_document(
                path=doc.path, sha256=doc.sha256, size=doc.bytes, mtime=doc.mtime, fmt=doc.format,
                chunking=doc.chunking, chunks=[NewChunk(*row[:6]) for row in rows], vectors=[row[6] for row in rows],
            )
    return dst.stats()


def content_checksum(store: Store | PgStore) -> str:
    """SHA-256 over every document's path and hash and every chunk's text and vector, in path order:
    equal in two stores exactly when they hold the same documents, chunks and vectors."""
    digest = hashlib.sha256()
    ids, blob = store.vectors()
    size = len(blob) // len(ids) if ids else 0
    vectors = {cid: blob[i * size:(i + 1) * size] for i, cid in enumerate(ids)}
    rows = store.chunks(ids)
    for row in sorted(rows.values(), key=lambda r: (r.path, r.ord)):
        for part in (row.path, str(row.ord), row.heading, row.text):
            digest.update(part.encode() + b"\0")
        digest.update(vectors[row.id])
    for doc in sorted(store.documents().values(), key=lambda d: d.path):
        digest.update(f"{doc.path}\0{doc.sha256}\0{doc.chunks}\0".encode())
    return digest.hexdigest()
