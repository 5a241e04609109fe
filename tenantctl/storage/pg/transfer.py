"""Copying a tenant's documents between stores (its folder's SQLite store and the PostgreSQL pool),
vectors included (nothing is re-embedded), with a checksum that verifies the copy."""

from __future__ import annotations

import hashlib

from tenantctl.storage.pg.store import PgStore
from tenantctl.storage.store import Counts, Store

META_KEYS = ("embedder", "embedder_dim", "chunking")


def copy_documents(src: Store | PgStore, dst: Store | PgStore) -> Counts:
    """Copy every document of `src`, with its chunks and vectors, and the embedder and chunking it was
    built with, into the empty store `dst`, in one transaction of `dst`. Returns `dst`'s counts."""
    with dst.transaction():
        for key in META_KEYS:
            value = src.get_meta(key)
            if value is not None:
                dst.set_meta(key, value)
        for doc in src.documents().values():
            pairs = src.document_chunks(doc.id)
            dst.put_document(
                path=doc.path, sha256=doc.sha256, size=doc.bytes, mtime=doc.mtime, fmt=doc.format,
                chunking=doc.chunking, chunks=[c for c, _ in pairs], vectors=[v for _, v in pairs],
            )
    return dst.counts()



def content_checksum(store: Store | PgStore) -> str:
    """SHA-256 over every document's path and hash and every chunk's text and vector, in path order:
    equal in two stores exactly when they hold the same documents, chunks and vectors."""
    digest = hashlib.sha256()
    for doc in sorted(store.documents().values(), key=lambda d: d.path):
        digest.update(f"{doc.path}\0{doc.sha256}\0{doc.chunks}\0".encode())
        for chunk, vector in store.document_chunks(doc.id):
            for part in (str(chunk.ord), str(chunk.start), str(chunk.end), str(chunk.page), chunk.heading, chunk.text):
                digest.update(part.encode() + b"\0")
            digest.update(vector)
    return digest.hexdigest()
