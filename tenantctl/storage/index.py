"""A tenant's FAISS index and its whole lifecycle: build from the store, save, name, validate, load,
refresh after a write, rebuild on repair, and the check that a store is only searched or extended with
the embedder that built it.

On disk: `index-<generation>.faiss` and `manifest.json` naming it, with the embedder, the chunking
settings, the store generation it was built from and the file's checksum. The index is written aside
and the manifest is renamed into place last, so a reader sees the old index or the new one, never a
torn one. An index whose generation differs from the store's is rebuilt from the store's vectors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl.context import current_tenant
from tenantctl.errors import IndexMismatch
from tenantctl.fileio import fsync_dir, iso_utc, sha256_file, temp_name, write_atomic
from tenantctl.storage.layout import INDEX_GLOB, INDEX_NAME_RE, MANIFEST_FILE, STORE_FILE, index_file_name
from tenantctl.textproc import plural

if TYPE_CHECKING:
    import numpy as np

    from tenantctl.storage.store import Store

INDEX_FORMAT_VERSION = 1


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest as written, when it is a readable JSON object (else None). Use `load_manifest` for
    the validated fields."""
    try:
        data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ManifestInvalid(ValueError):
    """A manifest that cannot be trusted: `code` is one of manifest-unreadable, manifest-format."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Manifest:
    """The validated fields of manifest.json."""

    index_file: str  # always a plain `index-<n>.faiss` name: never a path out of the folder
    sha256: str
    bytes: int
    generation: int
    vectors: int
    dim: int
    embedder: str | None
    raw: dict[str, Any]


def parse_manifest(text: str) -> Manifest:
    """Validate a manifest's text; raises ManifestInvalid naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestInvalid("manifest-unreadable", f"cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise ManifestInvalid("manifest-unreadable", "cannot be read (not a JSON object)")
    if data.get("format_version") != INDEX_FORMAT_VERSION:
        raise ManifestInvalid("manifest-format", f"format_version {data.get('format_version')!r} is not the one "
                                                 f"this tenantctl knows ({INDEX_FORMAT_VERSION})")
    try:
        name = data["index_file"]
        expected = data["files"][name]
        manifest = Manifest(
            index_file=name, sha256=str(expected["sha256"]), bytes=int(expected["bytes"]),
            generation=int(data["generation"]), vectors=int(data["vectors"]), dim=int(data["embedder"]["dim"]),
            embedder=data["embedder"].get("name"), raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestInvalid("manifest-unreadable", f"lacks a valid field ({type(exc).__name__}: {exc})") from exc
    if not isinstance(name, str) or not INDEX_NAME_RE.fullmatch(name):
        raise ManifestInvalid("manifest-unreadable", f"names an invalid index file {name!r}")
    return manifest


def load_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, validated; None when there is none or it cannot be trusted."""
    try:
        return parse_manifest((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ManifestInvalid):
        return None


def check_embedder(recorded: str | None, embedder_name: str) -> None:
    """A store is searched and extended only with the embedder that built its vectors (`recorded`, the
    name its meta holds; None for a store without vectors)."""
    if recorded and recorded != embedder_name:
        tenant = current_tenant.get()  # named: a cron job over many tenants had to guess which one
        raise IndexMismatch(
            f"the index of {f'tenant {tenant!r}' if tenant else 'this tenant'} was built with embedder "
            f"{recorded!r}, config says {embedder_name!r}",
            "set `embedder.name` and `embedder.precision` back (or remove `precision`), or re-embed the"
            f" tenant with `tenantctl repair {tenant or 'TENANT'} --reembed`",
        )


@dataclass
class VectorIndex:
    """FAISS IndexIDMap2 over IndexFlatIP. `generation` is the store generation it reflects."""

    faiss_index: Any
    generation: int

    @property
    def size(self) -> int:
        return int(self.faiss_index.ntotal)

    @classmethod
    def from_store(cls, store: Store, dim: int) -> VectorIndex:
        import faiss
        import numpy as np

        generation = store.generation()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        for ids, blob in store.vector_blocks():
            matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
            if matrix.shape[1] != dim:
                raise IndexMismatch(
                    f"stored vectors have dimension {matrix.shape[1]}, the embedder gives {dim}",
                    "re-embed with `tenantctl repair TENANT --reembed`",
                )
            index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        return cls(index, generation)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        import faiss

        if self.size == 0:
            return []
        # One query runs on the calling thread. FAISS would fork its OpenMP team for it, which costs more
        # than it saves, and with concurrent searches (the server's request threads) on a busy machine the
        # team's threads wait on each other: a 2-vector index then took up to 8 ms. The setting is the
        # calling thread's own (OpenMP keeps it per thread), so every searching thread sets it.
        faiss.omp_set_num_threads(1)
        scores, ids = self.faiss_index.search(vector.reshape(1, -1), min(k, self.size))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, folder: Path, *, embedder: str, dim: int, chunking: str) -> dict[str, Any]:
        import faiss

        name = index_file_name(self.generation)
        tmp = temp_name(folder / name)
        faiss.write_index(self.faiss_index, str(tmp))  # straight to disk: no in-memory copy of the index
        os.chmod(tmp, 0o600)  # tenant data: owner only, whatever the umask
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        checksum, size = sha256_file(tmp), tmp.stat().st_size
        os.replace(tmp, folder / name)
        manifest = {
            "format_version": INDEX_FORMAT_VERSION,
            "embedder": {"name": embedder, "dim": dim, "normalized": True, "metric": "inner_product"},
            "chunking": chunking,
            "generation": self.generation,
            "vectors": self.size,
            "index_file": name,
            "files": {name: {"sha256": checksum, "bytes": size}},
            "written_at": iso_utc(),
        }
        write_atomic(folder / MANIFEST_FILE, json.dumps(manifest, indent=2))
        fsync_dir(folder)
        for old in folder.glob(INDEX_GLOB):
            if old.name != name:
                old.unlink(missing_ok=True)
        # Temporary files of a writer killed mid-save (only the lock holder writes these).
        for tmp in [*folder.glob(f".{INDEX_GLOB}.tmp*"), *folder.glob(f".{MANIFEST_FILE}.tmp*")]:
            tmp.unlink(missing_ok=True)
        return manifest


# Index files up to this size are checked against the manifest's SHA-256 on every load (about 20 ms
# for 12,000 vectors); a damaged file is then never searched: the index is rebuilt from the store.
CHECKSUM_ON_LOAD_MAX_BYTES = 256 << 20


def load_index(folder: Path, store: Store, dim: int, *, verify_checksum: bool | None = None) -> VectorIndex:
    """The tenant's index as of the store's last commit: from disk when current and intact, else
    rebuilt in memory from the store (`tenantctl repair` writes the rebuilt one back)."""
    generation = store.generation()
    manifest = load_manifest(folder)
    if manifest and manifest.generation == generation and manifest.dim == dim:
        path = folder / manifest.index_file
        try:
            fresh = path.stat().st_size == manifest.bytes
            if verify_checksum is None:
                verify_checksum = manifest.bytes <= CHECKSUM_ON_LOAD_MAX_BYTES
            if fresh and verify_checksum:
                fresh = sha256_file(path) == manifest.sha256
            if fresh:
                import faiss

                index = faiss.read_index(str(path))
                if index.ntotal == manifest.vectors and index.d == dim:
                    return VectorIndex(index, generation)
        except (OSError, RuntimeError):
            pass
    return VectorIndex.from_store(store, dim)


def _save_from_store(folder: Path, store: Store, dim: int) -> tuple[VectorIndex, dict[str, Any]]:
    index = VectorIndex.from_store(store, dim)
    manifest = index.save(
        folder, embedder=store.get_meta("embedder") or "", dim=dim, chunking=store.get_meta("chunking") or ""
    )
    return index, manifest


def refresh_index(folder: Path, store: Store) -> None:
    """After a write (under the tenant's lock): rewrite the index from the store when the manifest does
    not reflect the store's generation, or names a file that is gone (an ingest left it missing, though
    verify said the next one writes it). A store without vectors yet has no index."""
    dim = store.get_meta("embedder_dim")
    manifest = read_manifest(folder) or {}
    there = (folder / str(manifest.get("index_file") or "")).is_file()
    if dim is None or (manifest.get("generation") == store.generation() and there):
        return
    _save_from_store(folder, store, int(dim))


def rebuild_index(folder: Path, store: Store, tenant_id: str) -> str:
    """Repair (under the tenant's lock): bump the store's generation, so that every reader drops an index
    it may have loaded from a damaged file, and write the index afresh from the stored vectors.
    Raises IndexMismatch when the stored vectors do not fit the recorded embedder."""
    chunks = store.chunk_count()
    dim_text = store.get_meta("embedder_dim")
    if dim_text is None:
        if chunks:
            raise IndexMismatch(
                f"{STORE_FILE} of tenant {tenant_id!r} holds {chunks} chunks but records no embedder",
                f"re-embed them with `tenantctl repair {tenant_id} --reembed`",
            )
        return "nothing to index yet (no chunks)"
    dim = int(dim_text)
    wrong = store.wrong_size_vectors(dim)
    if wrong:
        raise IndexMismatch(
            f"{wrong} of {chunks} stored vectors of tenant {tenant_id!r} are not {dim}-dimensional",
            f"re-embed them with `tenantctl repair {tenant_id} --reembed`",
        )
    with store.transaction():
        store.bump_generation()
    index, manifest = _save_from_store(folder, store, dim)
    vectors = plural(index.size, "vector")
    return f"rebuilt {manifest['index_file']} from {STORE_FILE} ({vectors}, generation {index.generation})"
