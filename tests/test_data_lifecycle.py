"""A removed document leaves nothing of its text in the tenant's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantctl.storage.store import NewChunk, Store

from .conftest import fast_home


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


@pytest.fixture
def no_secure_delete_default(monkeypatch):
    """SQLite as many builds ship it (python.org's, macOS's): deleted content stays in a page's free space
    unless a connection turns `secure_delete` on. Debian's build turns it on by default."""
    import sqlite3

    connect = sqlite3.connect

    def plain(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete=OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", plain)


def _holding(folder: Path, marker: bytes) -> list[str]:
    """The files under a tenant's folder whose bytes hold `marker` (any case)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and marker in p.read_bytes().lower())


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs" / "share"
    docs.mkdir(parents=True)
    for i in range(3):
        (docs / f"f{i}.md").write_text(f"Ordinary paragraph {i} about the weekly office routine.\n")
    return docs


def test_a_source_removed_from_the_cli_leaves_no_text_in_the_tenants_files(cli, home, tmp_path,
                                                                            no_secure_delete_default):
    fast_home(cli, home)
    docs, other = _docs(tmp_path), tmp_path / "other"
    other.mkdir()
    (other / "merger.md").write_text("Confidential: the merger target is Quokkacorp at 41 dollars a share.\n")
    assert cli("tenant", "create", "acme").code == 0
    assert cli("source", "add", "acme", docs).code == 0 and cli("source", "add", "acme", other).code == 0
    assert cli("reindex", "acme").code == 0
    folder = home / "tenants" / "acme"
    assert _holding(folder, b"quokkacorp") == ["store.db"]
    assert cli("source", "remove", "acme", other).code == 0
    assert _holding(folder, b"quokkacorp") == []
    assert cli("search", "acme", "weekly office routine", "--json").json()  # the others are still found


def test_an_upload_removed_over_the_api_leaves_no_text_while_the_server_holds_the_store_open(
        cli, home, tmp_path, no_secure_delete_default):
    """A running server keeps the store open, so its write-ahead log is never written back on close: the
    removed document's pages stayed in store.db (and the log) until some later checkpoint."""
    import tarfile

    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    auth = {"Authorization": f"Bearer {cli('key', 'create', 'acme', '--json').json()['key']}"}
    folder = home / "tenants" / "acme"
    with TestClient(create_app(load_config())) as client:
        for i in range(3):
            sent = client.post("/v1/documents", headers=auth,
                               files=[("files", (f"n{i}.md", f"# Leave {i}\n\nStaff get 28 days of leave.".encode()))])
            assert sent.status_code == 200, sent.text
        sent = client.post("/v1/documents", headers=auth,
                           files=[("files", ("merger.md", b"Confidential: the merger target is Quokkacorp."))])
        assert sent.status_code == 200, sent.text
        assert client.post("/v1/search", headers=auth, json={"query": "merger target"}).json()["hits"]
        assert "store.db" in _holding(folder, b"quokkacorp")
        assert client.delete("/v1/documents/uploads/merger.md", headers=auth).status_code == 200
        assert (folder / "store.db-wal").exists()  # still open
        assert _holding(folder, b"quokkacorp") == []
        assert client.post("/v1/search", headers=auth, json={"query": "days of leave"}).json()["hits"]
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    with tarfile.open(archive) as tar:
        assert all(b"quokkacorp" not in tar.extractfile(m).read().lower() for m in tar.getmembers() if m.isfile())
