"""The local store's own helpers, on a real SQLite file."""

from __future__ import annotations

from tenantctl.storage.store import NewChunk, Store


def test_chunk_pages_reads_every_chunk_once_in_id_order_a_page_at_a_time(tmp_path):
    """One keyset-paged read serves the index build (`vector_blocks`) and re-embedding (`replace_vectors`)."""
    with Store(tmp_path / "store.db") as store:
        with store.transaction():
            store.put_document(path="a.txt", sha256="0" * 64, size=1, mtime=0.0, fmt="txt", chunking="v1",
                               chunks=[NewChunk(i, 0, 1, None, f"h{i}", f"text {i}") for i in range(5)],
                               vectors=[bytes([i]) * 4 for i in range(5)])
        pages = list(store.chunk_pages("heading, text", 2))
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [row[1:] for page in pages for row in page] == [(f"h{i}", f"text {i}") for i in range(5)]
        ids = [row[0] for page in pages for row in page]
        assert ids == sorted(ids) and len(set(ids)) == 5
        assert list(store.vector_blocks(3)) == [(ids[:3], b"".join(bytes([i]) * 4 for i in range(3))),
                                                (ids[3:], b"".join(bytes([i]) * 4 for i in range(3, 5)))]
