"""A removed document leaves nothing of its text in the tenant's files."""

from __future__ import annotations

from tenantctl.storage.store import NewChunk, Store


def _put(store: Store, path: str, text: str) -> None:
    with store.transaction():
        store.put_document(path=path, sha256="0" * 64, size=len(text), mtime=0.0, fmt="txt", chunking="v1",
                           chunks=[NewChunk(0, 0, len(text), None, "", text)], vectors=[b"\0" * 16])


def test_remove_documents_takes_their_rows_and_full_text_words_in_one_call(tmp_path):
    """One function removes documents and merges the full-text index (its older segments kept a removed
    row's words): ingest's prune, `source remove` and an upload's removal all call it."""
    with Store(tmp_path / "store.db") as store:
        for i in range(3):  # one full-text segment each
            _put(store, f"f{i}.txt", f"ordinary weekly routine number {i}")
        _put(store, "secret.txt", "the merger target is quokkacorp")
        generation = store.generation()
        store.remove_documents(["secret.txt", "f0.txt"])
        assert sorted(store.documents()) == ["f1.txt", "f2.txt"] and store.generation() == generation + 2
        assert store.keyword_search("quokkacorp", 5) == [] and len(store.keyword_search("weekly", 5)) == 2
        segments = store.conn.execute("SELECT count(*) FROM chunks_fts_data WHERE id > 10").fetchone()[0]
        assert segments == 1  # merged into one
