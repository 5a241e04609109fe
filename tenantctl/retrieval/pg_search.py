"""Hybrid retrieval for a tenant in PostgreSQL: dense (pgvector) and keyword (PostgreSQL full-text
search) fused exactly as for a local tenant (`search.fuse`: weighted reciprocal rank fusion)."""

from __future__ import annotations

import time

from tenantctl.config import Config
from tenantctl.errors import BadInput
from tenantctl.ingestion.ingest import check_embedder
from tenantctl.models.embedding import Embedder, get_embedder
from tenantctl.retrieval.search import Hit, Mode, fuse
from tenantctl.storage.pg.store import PgStore


class PgSearcher:
    """One pooled tenant's retrieval: every query runs in one transaction scoped to that tenant."""

    def __init__(self, store: PgStore, cfg: Config, embedder: Embedder | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self._embedder = embedder
        self.timings: dict[str, float] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.cfg.embedder)
        return self._embedder

    def search(
        self, query: str, k: int | None = None, mode: Mode | None = None, candidates: int | None = None
    ) -> list[Hit]:
        import numpy as np

        if not query.strip():
            raise BadInput("empty query", "pass the text to search for")
        k = k or self.cfg.search.k
        mode = mode or self.cfg.search.mode
        candidates = max(candidates or self.cfg.search.candidates, k)
        started = time.perf_counter()
        with self.store.transaction():
            if self.store.chunk_count() == 0:
                return []
            check_embedder(self.store, self.cfg.embedder.identity)
            qvec = self.embedder.encode_query([query])[0]
            t_embed = time.perf_counter()
            dense = self.store.dense_search(qvec, candidates) if mode != "bm25" else []
            keyword = self.store.keyword_search(query, candidates) if mode != "dense" else []
            t_retrieve = time.perf_counter()
            fused = fuse(query, dense, keyword, mode, k, self.cfg.search)
            rows = self.store.chunks(fused.top)
            vectors = self.store.chunk_vectors(fused.top)
        similarity = {cid: float(np.frombuffer(blob, dtype=np.float32) @ qvec) for cid, blob in vectors.items()}
        self.timings = {
            "embed_ms": round((t_embed - started) * 1000, 2),
            "retrieve_ms": round((t_retrieve - t_embed) * 1000, 2),
            "total_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        return fused.hits(rows, similarity)
