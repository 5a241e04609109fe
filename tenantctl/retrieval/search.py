"""Hybrid retrieval for one tenant: dense (FAISS, cosine) and BM25 (SQLite FTS5), fused by a convex
combination of their scaled scores (or reciprocal rank fusion). Every hit also carries its cosine
similarity to the query, the signal the answer path uses for its relevance threshold."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tenantctl.config import Config, SearchMode
from tenantctl.errors import BadInput
from tenantctl.models.embedding import Embedder, MakeEmbedder, embedder_for_store, maker
from tenantctl.storage.store import ChunkRow, Store
from tenantctl.storage.tenants import Tenant


@dataclass
class Hit:
    rank: int
    chunk_id: int
    path: str
    ord: int
    start: int
    end: int
    page: int | None
    heading: str
    text: str
    score: float  # the fused score (or the single retriever's score)
    similarity: float  # cosine similarity between query and chunk
    dense_rank: int | None
    keyword_rank: int | None

    @property
    def position(self) -> str:
        if self.path.startswith("tool:"):  # a tool's result, passed to the answer as a passage
            return "tool result"
        where = f"p. {self.page}, " if self.page else ""
        return f"{where}chunk {self.ord + 1}, chars {self.start}-{self.end}"

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "position": self.position}  # every field is a plain value: no deep copy


def rrf(rankings: list[list[int]], k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion: each list adds weight / (k + rank) to the ids it holds (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def convex(scored: list[list[tuple[int, float]]], weights: list[float]) -> dict[int, float]:
    """Convex combination: each list's scores scaled to 0..1 (its best 1, its worst 0; a list of equal
    scores all 1), then summed with the weights normalised to sum 1; an id missing from a list gets 0
    there. Unlike RRF it keeps how far apart the scores are, not only their order."""
    total = sum(weights) or 1.0
    fused: dict[int, float] = {}
    for items, weight in zip(scored, weights, strict=True):
        if not items:
            continue
        values = [v for _, v in items]
        low = min(values)
        span = max(values) - low
        for item, value in items:
            share = (value - low) / span if span else 1.0
            fused[item] = fused.get(item, 0.0) + weight / total * share
    return fused


@dataclass
class Fused:
    """Both retrievers' rankings and the k best chunk ids after fusion."""

    top: list[int]
    scores: dict[int, float]
    dense_rank: dict[int, int]
    keyword_rank: dict[int, int]

    def hits(self, rows: dict[int, ChunkRow], similarity: dict[int, float]) -> list[Hit]:
        hits: list[Hit] = []
        for cid in self.top:
            if cid not in rows:
                continue
            row = rows[cid]
            hits.append(
                Hit(
                    rank=len(hits) + 1, chunk_id=cid, path=row.path, ord=row.ord, start=row.start, end=row.end,
                    page=row.page, heading=row.heading, text=row.text, score=round(self.scores[cid], 6),
                    similarity=round(similarity[cid], 4), dense_rank=self.dense_rank.get(cid),
                    keyword_rank=self.keyword_rank.get(cid),
                )
            )
        return hits


def fuse(
    query: str, dense: list[tuple[int, float]], keyword: list[tuple[int, float]], mode: SearchMode, k: int, search_cfg,
) -> Fused:
    """The k best chunks: one retriever's order, or both fused (`search.fusion`: a convex combination of
    their scaled scores, or weighted reciprocal rank fusion)."""
    dense_ids = [i for i, _ in dense]
    keyword_ids = [i for i, _ in keyword]
    if mode == "dense":
        scores = dict(dense)
    elif mode == "bm25":
        scores = dict(keyword)
    else:
        weights = [dense_weight(query, search_cfg), 1.0]
        if search_cfg.fusion == "convex":
            scores = convex([dense, keyword], weights)
        else:
            scores = rrf([dense_ids, keyword_ids], search_cfg.rrf_k, weights)
    top = sorted(scores, key=lambda i: (-scores[i], i))[:k]
    return Fused(
        top, scores, {cid: r for r, cid in enumerate(dense_ids, 1)}, {cid: r for r, cid in enumerate(keyword_ids, 1)}
    )


def feedback_vector(qvec, vectors: list[bytes], weight: float):
    """Pseudo-relevance feedback (Rocchio): the query vector plus `weight` times the mean of `vectors`
    (float32 chunk vectors, the best chunks of a first fusion), L2-normalised again. The chunks both
    retrievers agree on pull the query towards the vocabulary of the documents that answer it."""
    import numpy as np

    if not vectors or weight <= 0:
        return qvec
    mean = np.mean([np.frombuffer(blob, dtype=np.float32) for blob in vectors], axis=0)
    moved = (qvec + weight * mean).astype(np.float32)
    norm = float(np.linalg.norm(moved))
    return moved / norm if norm else qvec


def dense_weight(query: str, search_cfg) -> float:
    """The dense retriever's weight in the fusion: lower for a query written mostly in CJK scripts,
    which the default (English) embedding model barely understands while keyword search does."""
    from tenantctl.textproc import CJK_RUN

    letters = sum(1 for ch in query if ch.isalnum())
    cjk = sum(len(run) for run in CJK_RUN.findall(query))
    return search_cfg.cjk_dense_weight if letters and cjk / letters > 0.3 else 1.0


def check_query(text: str, cfg: Config, what: str = "query") -> None:
    """Refuse a query or question longer than `search.max_query_chars` (documented; keeps the work of one
    request small), one that is empty or one that is not valid Unicode text."""
    if not text.strip():
        raise BadInput(f"empty {what}", "pass the text to search for" if what == "query" else f"ask a {what}")
    limit = cfg.search.max_query_chars
    if len(text) > limit:
        raise BadInput(f"the {what} is {len(text)} characters long, more than the limit of {limit}",
                       "shorten it, or raise `search.max_query_chars` in config.yaml")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"the {what} is not valid Unicode text (it holds a lone surrogate)",
                       "send UTF-8 text") from None


class Searcher:
    """Retrieval over one tenant's store connection and its FAISS index: the index is loaded lazily and
    reloaded when another process commits a new generation. It neither meters nor checks the tenant's
    status: `tenantctl.retrieval.session.TenantSession` does that around it."""

    def __init__(self, tenant: Tenant, store: Store, cfg: Config, embedder: Embedder | None = None,
                 make_embedder: MakeEmbedder | None = None) -> None:
        """`embedder`: one fixed embedder; else each search takes the embedder of the store's recorded
        precision (`embedder_for_store`), made by `make_embedder` (default: the process's own)."""
        self.tenant = tenant
        self.store = store
        self.cfg = cfg
        self._make = maker(embedder, make_embedder)
        self._index = None
        self.timings: dict[str, float] = {}

    def over(self, store: Store) -> Searcher:
        """A searcher of the same tenant over another connection `store`, sharing this one's loaded index
        and embedder (both are only read)."""
        twin = Searcher(self.tenant, store, self.cfg, make_embedder=self._make)
        twin._index = self._index
        return twin

    @property
    def embedder(self) -> Embedder:
        """The embedder of this tenant's vectors (IndexMismatch when the config forbids it)."""
        return embedder_for_store(self.cfg.embedder, self.store, self._make)

    def index(self):
        """The FAISS index of a local tenant (None for a pooled one: pgvector searches in the database)."""
        from tenantctl.storage.index import load_index

        if self.tenant.pooled:
            return None
        generation = self.store.generation()
        if self._index is None or self._index.generation != generation:
            dim = int(self.store.get_meta("embedder_dim") or self._make(self.cfg.embedder.for_index(None)).dim)
            self._index = load_index(self.tenant.dir, self.store, dim)
        return self._index

    def _dense(self, qvec, candidates: int) -> list[tuple[int, float]]:
        if self.tenant.pooled:
            return self.store.dense_search(qvec, candidates)
        return self.index().search(qvec, candidates)

    def _with_feedback(self, query: str, qvec, first: Fused, keyword: list[tuple[int, float]], k: int,
                       candidates: int) -> tuple[Fused, dict[int, bytes]]:
        """The fusion again, with the dense hits of the query moved towards the best chunks of the `first`
        fusion (`search.feedback`, `search.feedback_weight`); and those chunks' vectors, by chunk id. Not for
        a query whose dense hits weigh less (`dense_weight`, a CJK query with an English embedder): moving
        a vector the model barely understands lowered the Chinese answers. Call inside a snapshot."""
        search_cfg = self.cfg.search
        best = sorted(first.scores, key=lambda i: (-first.scores[i], i))[: search_cfg.feedback]
        vectors = self.store.chunk_vectors(best)
        moved = feedback_vector(qvec, [vectors[i] for i in best if i in vectors], search_cfg.feedback_weight)
        return fuse(query, self._dense(moved, candidates), keyword, "hybrid", k, search_cfg), vectors

    def keyword_preview(self, query: str, n: int) -> list[tuple[str, str]]:
        """(text under its heading path, path) of the n best keyword (BM25) chunks: cheap, no embedder."""
        with self.store.snapshot():
            rows = self.store.chunks([cid for cid, _ in self.store.keyword_search(query, n)])
        return [(f"{row.heading}\n{row.text}" if row.heading else row.text, row.path) for row in rows.values()]

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               candidates: int | None = None) -> list[Hit]:
        """The k best chunks for `query`, not metered (`TenantSession.search` meters a search)."""
        import numpy as np

        if not query.strip():
            raise BadInput("empty query", "pass the text to search for")
        k = k or self.cfg.search.k
        mode = mode or self.cfg.search.mode
        candidates = max(candidates or self.cfg.search.candidates, k)
        started = time.perf_counter()
        with self.store.snapshot():  # one snapshot for the whole search
            chunks = self.store.chunk_count()
            if chunks == 0:
                return []
            embedder = embedder_for_store(self.cfg.embedder, self.store, self._make, chunks)
            loaded_before = getattr(embedder, "load_ms", 0.0)
            qvec = embedder.encode_query([query])[0]
            t_embed = time.perf_counter()
            load_ms = getattr(embedder, "load_ms", 0.0) - loaded_before
            dense = self._dense(qvec, candidates) if mode != "bm25" else []
            keyword = self.store.keyword_search(query, candidates) if mode != "dense" else []
            fused = fuse(query, dense, keyword, mode, k, self.cfg.search)
            vectors: dict[int, bytes] = {}  # read once: feedback's best chunks are mostly among the hits
            if mode == "hybrid" and dense and self.cfg.search.feedback and dense_weight(query, self.cfg.search) == 1:
                fused, vectors = self._with_feedback(query, qvec, fused, keyword, k, candidates)
            t_retrieve = time.perf_counter()
            rows = self.store.chunks(fused.top)
            vectors.update(self.store.chunk_vectors([cid for cid in fused.top if cid not in vectors]))
        similarity = {cid: float(np.frombuffer(vectors[cid], dtype=np.float32) @ qvec)
                      for cid in fused.top if cid in vectors}
        hits = fused.hits(rows, similarity)
        self.timings = {
            "embedder_load_ms": round(load_ms, 2),
            "embed_ms": round((t_embed - started) * 1000 - load_ms, 2),
            "retrieve_ms": round((t_retrieve - t_embed) * 1000, 2),
            "total_ms": round((time.perf_counter() - started) * 1000 - load_ms, 2),
        }
        return hits
