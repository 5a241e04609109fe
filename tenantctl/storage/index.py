"""A tenant's FAISS index: exact inner-product search over normalised vectors, ids = chunk ids.

On disk: `index-<generation>.faiss` and `manifest.json` naming it, with the embedder, the chunking
settings, the store generation it was built from and the file's checksum. The index is written aside
and the manifest is renamed into place last, so a reader sees the old index or the new one, never a
torn one. An index whose generation differs from the store's is rebuilt from the store's vectors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl.errors import IndexMismatch
from tenantctl.fileio import fsync_dir, iso_utc, write_atomic
from tenantctl.storage.layout import INDEX_GLOB, MANIFEST_FILE, index_file_name

if TYPE_CHECKING:
    import numpy as np

    from tenantctl.storage.store import Store

INDEX_FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
        ids, blob = store.vectors()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if ids:
            matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
            if matrix.shape[1] != dim:
                raise IndexMismatch(
                    f"stored vectors have dimension {matrix.shape[1]}, the embedder gives {dim}",
                    "re-embed with `tenantctl repair TENANT --reembed`",
                )
            index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        return cls(index, generation)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.size == 0:
            return []
        scores, ids = self.faiss_index.search(vector.reshape(1, -1), min(k, self.size))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, folder: Path, *, embedder: str, dim: int, chunking: str) -> dict[str, Any]:
        import faiss

        name = index_file_name(self.generation)
        data = faiss.serialize_index(self.faiss_index).tobytes()
        write_atomic(folder / name, data)
        manifest = {
            "format_version": INDEX_FORMAT_VERSION,
            "embedder": {"name": embedder, "dim": dim, "normalized": True, "metric": "inner_product"},
            "chunking": chunking,
            "generation": self.generation,
            "vectors": self.size,
            "index_file": name,
            "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}},
            "written_at": iso_utc(),
        }
        write_atomic(folder / MANIFEST_FILE, json.dumps(manifest, indent=2))
        fsync_dir(folder)
        for old in folder.glob(INDEX_GLOB):
            if old.name != name:
                old.unlink(missing_ok=True)
        # Temporary files of a writer killed mid-save (only the lock holder writes these).
        for tmp in [*folder.glob(".index-*.faiss.tmp*"), *folder.glob(f".{MANIFEST_FILE}.tmp*")]:
            tmp.unlink(missing_ok=True)
        return manifest


# Index files up to this size are checked against the manifest's SHA-256 on every load (about 20 ms
# for 12,000 vectors); a damaged file is then never searched: the index is rebuilt from the store.
CHECKSUM_ON_LOAD_MAX_BYTES = 256 << 20


def load_index(folder: Path, store: Store, dim: int, *, verify_checksum: bool | None = None) -> VectorIndex:
    """The tenant's index as of the store's last commit: from disk when current and intact, else
    rebuilt in memory from the store (`tenantctl repair` writes the rebuilt one back)."""
    generation = store.generation()
    manifest = read_manifest(folder)
    if manifest and manifest.get("generation") == generation and manifest.get("format_version") == 1:
        path = folder / manifest["index_file"]
        expected = manifest["files"][manifest["index_file"]]
        try:
            fresh = path.stat().st_size == expected["bytes"] and manifest["embedder"]["dim"] == dim
            if verify_checksum is None:
                verify_checksum = expected["bytes"] <= CHECKSUM_ON_LOAD_MAX_BYTES
            if fresh and verify_checksum:
                fresh = sha256_file(path) == expected["sha256"]
            if fresh:
                import faiss

                index = faiss.read_index(str(path))
                if index.ntotal == manifest["vectors"] and index.d == dim:
                    return VectorIndex(index, generation)
        except (OSError, RuntimeError, KeyError):
            pass
    return VectorIndex.from_store(store, dim)
