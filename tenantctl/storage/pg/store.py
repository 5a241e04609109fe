"""A pooled tenant's store in PostgreSQL: documents, chunks with their pgvector vectors and their
full-text vectors, and the tenant's meta (generation, embedder, chunking).

Every statement runs inside `transaction()`, which sets the tenant for that transaction alone
(`set_config('tenantctl.tenant', id, true)`, the parameterised form of SET LOCAL) from the tenant
context; the database's row-level security then shows and accepts only that tenant's rows. The
queries below never name a tenant: isolation is the database's, not a WHERE clause's.
"""

from __future__ import annotations

import heapq
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenantctl import textproc
from tenantctl.context import current_tenant
from tenantctl.errors import TenantctlError
from tenantctl.storage.pg.schema import BM25_B, BM25_K1, SCHEMA, TENANT_SETTING, TOKENS_SQL, connect, qualified
from tenantctl.storage.store import CHANGED_AT, ChunkRow, Counts, Document, NewChunk, last_change

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import psycopg

    from tenantctl.config import PostgresConfig

TS_CONFIG = "english"  # stemming like FTS5's porter tokenizer; CJK runs arrive as bigrams (textproc)


class TenantContextMissing(TenantctlError):
    """A database transaction was attempted without the tenant context it must run in."""


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form; Python's float repr round-trips float32 exactly."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def _unpack(blob: bytes) -> bytes:
    """pgvector's binary form (vector_send: int16 dim, int16 unused, big-endian float32s) as the
    little-endian float32 bytes the local store keeps."""
    import numpy as np

    return np.frombuffer(blob, dtype=">f4", offset=4).astype(np.float32).tobytes()


_CHECKED: set[tuple[str, str]] = set()


def _check_schema(dsn: str, schema: str, conn: psycopg.Connection) -> None:
    """Once per process, database and schema: the schema is there and current (else `tenantctl init`)."""
    if (dsn, schema) in _CHECKED:
        return
    from tenantctl.errors import ConfigError
    from tenantctl.storage.pg.schema import MIGRATIONS, version

    found = version(conn, schema)
    if found != len(MIGRATIONS):
        where = "" if schema == SCHEMA else f" of the dedicated schema {schema}"
        raise ConfigError(
            f"the PostgreSQL schema{where} is at version {found}, this tenantctl needs {len(MIGRATIONS)}",
            "run `tenantctl init` with `postgres.admin_dsn` set (or upgrade tenantctl)",
        )
    _CHECKED.add((dsn, schema))


_IDLE: dict[tuple[int, str], list[psycopg.Connection]] = {}
_IDLE_LOCK = threading.Lock()
MAX_IDLE = 8  # idle connections kept per database and process


def _borrow(dsn: str) -> psycopg.Connection:
    with _IDLE_LOCK:
        idle = _IDLE.get((os.getpid(), dsn))  # a forked child never reuses its parent's connections
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.broken:
                return conn
            conn.close()  # a broken one still holds its socket
    return connect(dsn)


def _drop_idle(dsn: str) -> None:
    """Close every idle connection to `dsn`: one found broken means the server restarted or went away,
    and the others idle beside it are as dead (each would fail the next request it served)."""
    with _IDLE_LOCK:
        idle = _IDLE.pop((os.getpid(), dsn), [])
    for conn in idle:
        conn.close()


def connection_lost(exc: Exception) -> bool:
    """The server went away (no SQLSTATE: the socket closed), shut the session down (57P: a restart) or
    the connection failed (08), as opposed to an error of the statement itself."""
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


def lost_connection(exc: Exception) -> TenantctlError:
    """A connection that failed in use, as a typed error (the server answers it 503, the CLI one line)."""
    from tenantctl.errors import ConfigError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"lost the connection to PostgreSQL: {first}",
                       "retry; if it persists, check that the server named by `postgres.dsn` is running")


def _give_back(dsn: str, conn: psycopg.Connection) -> None:
    """Keep an idle, healthy connection for the next transaction (no transaction is left open on it)."""
    from psycopg.pq import TransactionStatus

    if not conn.closed and not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
        with _IDLE_LOCK:
            idle = _IDLE.setdefault((os.getpid(), dsn), [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
    conn.close()


@dataclass
class _Pending:
    """What a writing transaction changed in the BM25 statistics so far (applied by `_flush`)."""

    added: set[int] = field(default_factory=set)  # documents written, whose chunks are not counted yet
    removed: dict[str, int] = field(default_factory=dict)  # term -> chunks deleted that held it
    chunks: int = 0
    tokens: int = 0
    changed: bool = False


class PgStore:
    """One tenant's data in PostgreSQL, in the pooled tables (`schema` tenantctl) or in its dedicated
    schema. Each transaction borrows a connection from the process's idle connections (the tenant
    setting lasts that transaction only, so a connection serves any tenant in turn): a server with a
    thousand tenants loaded holds as many connections as it runs transactions at once, not a thousand."""

    def __init__(self, cfg: PostgresConfig, tenant_id: str, path: Path | None = None, schema: str = SCHEMA) -> None:
        self.cfg = cfg
        self.tenant_id = tenant_id
        self.path = path  # the file whose identity marks this tenant (its tenant.yaml), for caches
        self.schema, self.s = schema, qualified(schema)
        self._tx: psycopg.Connection | None = None  # the connection of the open transaction
        self._own: psycopg.Connection | None = None
        self._depth = 0
        self._stats = _Pending()
        conn = _borrow(cfg.dsn)
        try:
            _check_schema(cfg.dsn, schema, conn)
        finally:
            _give_back(cfg.dsn, conn)

    @property
    def conn(self) -> psycopg.Connection:
        """The open transaction's connection; outside one, a connection of this store's own."""
        if self._tx is not None:
            return self._tx
        if self._own is None:
            self._own = connect(self.cfg.dsn)
        return self._own

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction scoped to the tenant of the current context (nested calls join it)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        tenant = current_tenant.get()
        if tenant != self.tenant_id:
            raise TenantContextMissing(
                f"no tenant context for a database transaction of tenant {self.tenant_id!r} (context: {tenant!r})",
                "open the tenant with open_tenant() before using its store",
            )
        import psycopg

        conn = _borrow(self.cfg.dsn)
        try:
            with conn.transaction():
                conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, tenant))
                self._tx, self._depth = conn, 1
                try:
                    yield conn
                    self._flush()
                finally:
                    self._tx, self._depth = None, 0
                    self._stats = _Pending()
        except psycopg.OperationalError as exc:  # a restarted or stopped server: not an internal error
            if not connection_lost(exc):
                raise
            conn.close()
            _drop_idle(self.cfg.dsn)
            raise lost_connection(exc) from exc
        finally:
            _give_back(self.cfg.dsn, conn)

    snapshot = transaction  # a search reads one consistent state

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        with self.transaction() as conn:
            return conn.execute(sql, params).fetchone()

    # -- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one(f"SELECT value FROM {self.s}.meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO {self.s}.meta (tenant_id, key, value) VALUES (%s, %s, %s)"
                " ON CONFLICT (tenant_id, key) DO UPDATE SET value = EXCLUDED.value",
                (self.tenant_id, key, value),
            )

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> None:
        self.conn.execute(
            f"INSERT INTO {self.s}.meta (tenant_id, key, value) VALUES (%s, 'generation', '1')"
            " ON CONFLICT (tenant_id, key) DO UPDATE SET value = (meta.value::bigint + 1)::text",
            (self.tenant_id,),
        )

    def _add_meta(self, key: str, delta: int) -> None:
        self.conn.execute(
            f"INSERT INTO {self.s}.meta (tenant_id, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (tenant_id, key) DO UPDATE SET value = (meta.value::bigint + EXCLUDED.value::bigint)::text",
            (self.tenant_id, key, str(delta)),
        )

    # -- documents ----------------------------------------------------------------------------------
    def documents(self) -> dict[str, Document]:
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT id, path, sha256, bytes, mtime, format, chunking, chunks, ingested_at"
                f" FROM {self.s}.documents"
            ).fetchall()
        return {row[1]: Document(*row) for row in rows}

    def counts(self) -> Counts:
        """Documents, their chunks and source bytes, and the last change of the documents (a Unix time)."""
        docs, chunks, size, newest, changed = self._one(
            f"SELECT count(*), COALESCE(sum(chunks), 0), COALESCE(sum(bytes), 0), max(ingested_at),"
            f" (SELECT value FROM {self.s}.meta WHERE key = '{CHANGED_AT}') FROM {self.s}.documents"
        )
        return Counts(int(docs), int(chunks), int(size), last_change(newest, changed))

    def consistency(self) -> dict:
        """What verify compares: the chunks held, the vector dimensions present, and the chunks the
        keyword statistics count."""
        with self.transaction() as conn:
            chunks = conn.execute(f"SELECT count(*) FROM {self.s}.chunks").fetchone()[0]
            dims = [r[0] for r in conn.execute(f"SELECT DISTINCT dim FROM {self.s}.chunks ORDER BY 1")]
            counted = self.get_meta("bm25_chunks")  # the keyword statistics' own count
        return {"chunks": int(chunks), "dims": dims, "counted": int(counted) if counted is not None else None}

    def drop_all(self) -> None:
        """Delete every row of this tenant (documents, chunks by cascade, meta, usage, chat sessions)."""
        with self.transaction() as conn:
            for table in ("documents", "meta", "usage", "terms", "sessions"):
                conn.execute(f"DELETE FROM {self.s}.{table}")
            self._stats = _Pending()  # nothing left to count

    # -- usage --------------------------------------------------------------------------------------
    def record_usage(self, rows: list[tuple]) -> None:
        """Usage events, each: ts, operation, outcome, chunks_embedded, documents, prompt and completion
        tokens, ms."""
        with self.transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.s}.usage (tenant_id, ts, operation, outcome, chunks_embedded, documents,"
                " prompt_tokens, completion_tokens, ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(self.tenant_id, *row) for row in rows],
            )

    def usage_rows(self) -> list[tuple]:
        """Every usage event, oldest first, as `record_usage` takes it."""
        with self.transaction() as conn:
            return conn.execute(
                "SELECT ts, operation, outcome, chunks_embedded, documents, prompt_tokens, completion_tokens, ms"
                f" FROM {self.s}.usage ORDER BY id"
            ).fetchall()

    def questions_since(self, ts: float) -> tuple[int, int]:
        """As the local store's: answered, under way or stopped after the model worked on them."""
        questions, tokens = self._one(
            f"SELECT count(*), COALESCE(sum(prompt_tokens + completion_tokens), 0) FROM {self.s}.usage"
            " WHERE operation = 'question' AND (outcome IN ('ok', 'pending') OR prompt_tokens + completion_tokens > 0)"
            " AND ts >= %s", (ts,)
        )
        return int(questions), int(tokens)

    def claim_question(self, since: float, limit: int) -> int | None:
        """As the local store's: the count and the claim under a transaction-level advisory lock of the
        tenant's quota, so no two nodes take the last question of the day."""
        with self.transaction() as conn:
            key = f"tenantctl:quota:{self.tenant_id}"
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if self.questions_since(since)[0] >= limit:  # joins this transaction, under the lock
                return None
            return conn.execute(
                f"INSERT INTO {self.s}.usage (tenant_id, ts, operation, outcome) VALUES (%s, %s, 'question',"
                " 'pending') RETURNING id", (self.tenant_id, time.time())).fetchone()[0]

    def settle_usage(self, claim: int, row: tuple) -> None:
        """Write a claimed event's outcome, counts and ms (`record_usage`'s row, its ts and operation kept)."""
        with self.transaction() as conn:
            conn.execute(f"UPDATE {self.s}.usage SET outcome = %s, chunks_embedded = %s, documents = %s,"
                         " prompt_tokens = %s, completion_tokens = %s, ms = %s WHERE id = %s", (*row[2:], claim))

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
        """Insert or replace one document with its chunks (vectors: float32 bytes, as the local store)."""
        import numpy as np

        with self.transaction() as conn:
            self._forget(path)
            now = time.time()
            (doc_id,) = conn.execute(
                f"INSERT INTO {self.s}.documents (tenant_id, path, sha256, bytes, mtime, format, chunking,"
                " chunks, ingested_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (self.tenant_id, path, sha256, size, mtime, fmt, chunking, len(chunks), now),
            ).fetchone()
            self.set_meta(CHANGED_AT, repr(now))
            rows = []
            for chunk, blob in zip(chunks, vectors, strict=True):
                vector = np.frombuffer(blob, dtype=np.float32)
                rows.append((
                    self.tenant_id, doc_id, chunk.ord, chunk.start, chunk.end, chunk.page, chunk.heading,
                    chunk.text, len(vector), vector_literal(vector), textproc.fts_body(chunk.heading, chunk.text),
                ))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.s}.chunks (tenant_id, doc_id, ord, start, \"end\", page, heading, text,"
                    f" dim, embedding, fts, tokens) SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector,"
                    f" v.fts, {TOKENS_SQL.format(fts='v.fts')} FROM (SELECT to_tsvector('{TS_CONFIG}', %s) AS fts) v",
                    rows,
                )
            self._stats.added.add(doc_id)
            self._stats.changed = True

    def remove_document(self, path: str) -> None:
        """Remove one document and its chunks (by cascade)."""
        with self.transaction():
            if self._forget(path):
                self.set_meta(CHANGED_AT, repr(time.time()))

    def remove_documents(self, paths: Iterable[str]) -> None:
        """Remove documents and their chunks in one transaction (a deleted row's text search vector goes
        with the row)."""
        with self.transaction():
            for path in paths:
                self.remove_document(path)

    def _forget(self, path: str) -> bool:
        """Delete a document (its chunks by cascade); its chunks leave the BM25 statistics at commit.
        Whether it was there."""
        row = self.conn.execute(f"SELECT id FROM {self.s}.documents WHERE path = %s", (path,)).fetchone()
        if row is None:
            return False
        doc_id = row[0]
        if doc_id in self._stats.added:  # written in this transaction: never counted
            self._stats.added.remove(doc_id)
        else:
            chunks, tokens = self.conn.execute(
                f"SELECT count(*), COALESCE(sum(tokens), 0) FROM {self.s}.chunks WHERE doc_id = %s", (doc_id,)
            ).fetchone()
            self._stats.chunks -= int(chunks)
            self._stats.tokens -= int(tokens)
            for term, n in self.conn.execute(
                f"SELECT u.lexeme, count(*) FROM {self.s}.chunks c, unnest(c.fts) u WHERE c.doc_id = %s GROUP BY 1",
                (doc_id,),
            ):
                self._stats.removed[term] = self._stats.removed.get(term, 0) + int(n)
        self.conn.execute(f"DELETE FROM {self.s}.documents WHERE id = %s", (doc_id,))
        self._stats.changed = True
        return True

    def _flush(self) -> None:
        """At the end of a writing transaction, in it: the BM25 statistics (term document frequencies,
        chunks and tokens counted) and the generation, each row updated once. (A row updated once per
        document would keep every version until the commit, and a bulk copy would slow to a crawl.)"""
        pending = self._stats
        if not pending.changed:
            return
        if pending.removed:
            emptied = [term for term, df in self.conn.execute(
                f"UPDATE {self.s}.terms t SET df = t.df - g.n FROM unnest(%s::text[], %s::int[]) AS g(term, n)"
                " WHERE t.term = g.term RETURNING t.term, t.df", (list(pending.removed), list(pending.removed.values()))
            ) if df <= 0]
            if emptied:
                self.conn.execute(f"DELETE FROM {self.s}.terms WHERE term = ANY(%s)", (emptied,))
        if pending.added:
            added = list(pending.added)
            chunks, tokens = self.conn.execute(
                f"SELECT count(*), COALESCE(sum(tokens), 0) FROM {self.s}.chunks WHERE doc_id = ANY(%s)", (added,)
            ).fetchone()
            pending.chunks += int(chunks)
            pending.tokens += int(tokens)
            self.conn.execute(
                f"INSERT INTO {self.s}.terms (tenant_id, term, df) SELECT %s, u.lexeme, count(*)"
                f" FROM {self.s}.chunks c, unnest(c.fts) u WHERE c.doc_id = ANY(%s) GROUP BY u.lexeme"
                " ON CONFLICT (tenant_id, term) DO UPDATE SET df = terms.df + EXCLUDED.df",
                (self.tenant_id, added),
            )
        self._add_meta("bm25_chunks", pending.chunks)
        self._add_meta("bm25_tokens", pending.tokens)
        self.bump_generation()

    # -- chunks -------------------------------------------------------------------------------------
    def document_chunks(self, doc_id: int) -> list[tuple[NewChunk, bytes]]:
        """One document's chunks in order, each with its vector (for copying a tenant between stores)."""
        with self.transaction() as conn:
            rows = conn.execute(
                f"SELECT ord, start, \"end\", page, heading, text, vector_send(embedding) FROM {self.s}.chunks"
                " WHERE doc_id = %s ORDER BY ord", (doc_id,)
            ).fetchall()
        return [(NewChunk(*row[:6]), _unpack(row[6])) for row in rows]

    def chunk_count(self) -> int:
        """The tenant's chunks, as counted with every committed write (meta bm25_chunks; a count over
        the rows when that is missing). `consistency` counts the rows themselves."""
        with self.transaction() as conn:
            row = conn.execute(f"SELECT value FROM {self.s}.meta WHERE key = 'bm25_chunks'").fetchone()
            if row is not None and not self._stats.changed:
                return int(row[0])
            return int(conn.execute(f"SELECT count(*) FROM {self.s}.chunks").fetchone()[0])

    def vectors(self) -> tuple[list[int], bytes]:
        """All chunk ids and their vectors, concatenated (float32, row-major), as the local store."""
        with self.transaction() as conn:
            rows = conn.execute(f"SELECT id, vector_send(embedding) FROM {self.s}.chunks ORDER BY id").fetchall()
        return [r[0] for r in rows], b"".join(_unpack(r[1]) for r in rows)

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT c.id, c.doc_id, d.path, c.ord, c.start, c.\"end\", c.page, c.heading, c.text"
                f" FROM {self.s}.chunks c JOIN {self.s}.documents d ON d.id = c.doc_id WHERE c.id = ANY(%s)",
                (ids,),
            ).fetchall()
        return {row[0]: ChunkRow(*row) for row in rows}

    def chunk_vectors(self, ids: list[int]) -> dict[int, bytes]:
        if not ids:
            return {}
        with self.transaction() as conn:
            rows = conn.execute(
                f"SELECT id, vector_send(embedding) FROM {self.s}.chunks WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        return {r[0]: _unpack(r[1]) for r in rows}

    def dense_search(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first. Exact for a tenant below `exact_below` chunks;
        above, pgvector's HNSW index with iterative scans, which keep scanning until `limit` rows of
        this tenant passed the row-level security filter."""
        literal = vector_literal(vector)
        with self.transaction() as conn:
            settings, sql = self.dense_sql(len(vector), exact=self.chunk_count() < self.cfg.exact_below)
            for setting in settings:
                conn.execute(setting)
            rows = conn.execute(sql, {"q": literal, "limit": limit}).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def dense_sql(self, dim: int, *, exact: bool) -> tuple[list[str], str]:
        """The transaction settings and the query of a dense search (parameters q and limit). The
        dimension is a literal: the planner matches it against the partial HNSW index's predicate."""
        dim = int(dim)
        if exact:  # the HNSW index is only ever an index scan: without one the search is exact
            return ["SET LOCAL enable_indexscan = off"], (
                f"SELECT id, -(embedding <#> %(q)s::vector) FROM {self.s}.chunks WHERE dim = {dim}"
                " ORDER BY embedding <#> %(q)s::vector, id LIMIT %(limit)s"
            )
        settings = [
            f"SET LOCAL hnsw.ef_search = {int(self.cfg.ef_search)}", "SET LOCAL hnsw.iterative_scan = relaxed_order"
        ]
        return settings, (
            f"WITH nearest AS MATERIALIZED (SELECT id, embedding::vector({dim}) <#> %(q)s::vector({dim}) AS distance"
            f" FROM {self.s}.chunks WHERE dim = {dim} ORDER BY distance LIMIT %(limit)s)"
            " SELECT id, -distance FROM nearest ORDER BY distance, id"
        )

    def keyword_search(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the chunks' full text as FTS5's bm25() computes it (k1 1.2, b 0.75, the same idf),
        from the tenant's term statistics. The chunks matching any query term (the GIN index) come back
        with their length and only the query's lexemes of their full-text vector, with positions (a
        term's frequency), and are scored here. Returns (chunk id, score), best first; higher is better."""
        if not textproc.query_terms(query):
            return []
        # The query's lexemes as PostgreSQL's parser makes them of a chunk's text (fts_body): "E-417" is
        # 'e' and '-417' in both, where joined query words would look for '417' and miss it.
        with self.transaction() as conn:
            df = dict(conn.execute(
                f"SELECT u.lexeme, COALESCE(t.df, 0) FROM unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', %s)))"
                f" AS u(lexeme) LEFT JOIN {self.s}.terms t ON t.term = u.lexeme", (textproc.fts_body("", query),)
            ).fetchall())
            if not df:
                return []
            stats = dict(conn.execute(
                f"SELECT key, value::float8 FROM {self.s}.meta WHERE key IN ('bm25_chunks', 'bm25_tokens')"
            ).fetchall())
            rows = conn.execute(
                f"SELECT id, tokens, ts_filter(setweight(fts, 'A', %s), '{{a}}')::text FROM {self.s}.chunks"
                " WHERE fts @@ %s::tsquery", (list(df), " | ".join(_quoted(lexeme) for lexeme in df))
            ).fetchall()
        return bm25_rank(rows, df, stats.get("bm25_chunks", 0.0), stats.get("bm25_tokens", 0.0), limit)


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery operand, taken as it is (already normalised: no second stemming)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


_LEXEME = re.compile(r"'((?:[^']|'')*)':([0-9A-D,]+)")


def bm25_rank(rows: list[tuple[int, int, str]], df: dict[str, int], chunks: float, tokens: float,
              limit: int) -> list[tuple[int, float]]:
    """Score (chunk id, length in tokens, its query lexemes as tsvector text) by BM25, best first."""
    k1, b = BM25_K1, BM25_B
    idf = {term: max(math.log((chunks - n + 0.5) / (n + 0.5)), 1e-6) for term, n in df.items()}
    avgdl = max(tokens / max(chunks, 1.0), 1.0)
    scored = []
    for chunk_id, length, vector in rows:
        norm = k1 * (1 - b + b * length / avgdl)
        score = 0.0
        for match in _LEXEME.finditer(vector):
            tf = match.group(2).count(",") + 1  # one position per occurrence
            score += idf.get(match.group(1).replace("''", "'"), 0.0) * tf * (k1 + 1) / (tf + norm)
        scored.append((-score, chunk_id))
    return [(int(chunk_id), -negative) for negative, chunk_id in heapq.nsmallest(limit, scored)]
