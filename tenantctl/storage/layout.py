"""What a tenant's folder holds, named once. Every module that touches a tenant's files takes the
names from here (through the tenant handle in `tenantctl.storage.tenants` where it has one):

    tenant.yaml         the tenant's settings (prompt, passages, model, sources, quotas)
    store.db            SQLite: documents, chunks, vectors, full-text index, sessions, usage
    index-<gen>.faiss   FAISS index derived from store.db at store generation <gen>
    manifest.json       which index file is current, with embedder, chunking and checksums
    .lock               held by the one writer (ingest, reindex, source remove, repair, export, move,
                        delete)
    .settings.lock      held for a moment by each edit of tenant.yaml (`source add|remove`)
    uploads/            files uploaded through `serve`; `.incoming-<pid>-<hex>/` stages one upload
    .synced.json        cluster mode, a pooled tenant: the folder is this node's cache of its settings;
                        the version and SHA-256 of the tenant.yaml last written or published here

Temporary files of a writer killed mid-save are named `.<name>.tmp<pid>` (see `tenantctl.fileio`).
"""

from __future__ import annotations

import re

TENANT_FILE = "tenant.yaml"
STORE_FILE = "store.db"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
SETTINGS_LOCK = ".settings.lock"
SYNC_FILE = ".synced.json"
UPLOADS_DIR = "uploads"
# An upload's staging folder under uploads/, named by the serving process.
UPLOAD_STAGING_RE = re.compile(r"\.incoming-(?P<pid>\d+)-[0-9a-f]+")
INDEX_GLOB = "index-*.faiss"
INDEX_NAME_RE = re.compile(r"index-\d{1,20}\.faiss")
# Left behind by an interrupted write of an index or a manifest; `repair` removes them.
STRAY_RE = re.compile(r"(index-\d{1,20}\.faiss|\.index-\d{1,20}\.faiss\.tmp\d+|\.manifest\.json\.tmp\d+)")


def index_file_name(generation: int) -> str:
    return f"index-{generation}.faiss"
