"""Re-embedding a tenant in PostgreSQL (`repair --reembed`): its chunks' texts read and their vectors
replaced in the store's tenant-scoped transaction."""

from __future__ import annotations

from tenantctl.storage.pg.store import PgStore, vector_literal


def chunk_texts(store: PgStore) -> list[tuple[int, str, str]]:
    """Every chunk's id, heading and text, in id order."""
    with store.transaction() as conn:
        return conn.execute(f"SELECT id, heading, text FROM {store.s}.chunks ORDER BY id").fetchall()


def replace_vectors(store: PgStore, vectors: dict[int, object], dim: int) -> int:
    """Set every chunk's vector (numpy arrays by chunk id, all of dimension `dim`) in one transaction;
    refused when the chunks are not exactly those given. Returns the chunks updated."""
    from tenantctl.errors import IndexCorrupt

    with store.transaction() as conn:
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {store.s}.chunks").fetchall()]
        if set(ids) != set(vectors):
            raise IndexCorrupt("chunks changed during re-embedding", "run the repair again")
        with conn.cursor() as cur:
            cur.executemany(f"UPDATE {store.s}.chunks SET embedding = %s::vector, dim = %s WHERE id = %s",
                            [(vector_literal(v), dim, cid) for cid, v in vectors.items()])
        store.bump_generation()
    return len(ids)
