"""The server's tenant pool under a race: a tenant evicted by another request between lookup and use."""

from __future__ import annotations

from .conftest import fast_home


def test_a_tenant_evicted_between_lookup_and_use_is_loaded_again(cli, home, monkeypatch):
    from tenantctl.config import load_config
    from tenantctl.serving import pool as pool_module

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    pool = pool_module.TenantPool(load_config(), 1 << 30)
    first = pool.acquire("acme")
    real_identity = pool_module._identity

    def evicted_meanwhile(path):  # another request's load evicts acme right after this one looked it up
        monkeypatch.setattr(pool_module, "_identity", real_identity)
        pool.drop("acme")
        return real_identity(path)

    monkeypatch.setattr(pool_module, "_identity", evicted_meanwhile)
    with pool.use("acme") as session:  # raised KeyError (a 500 in serve) before
        assert session is not first.session and session.store.chunk_count() == 0
    assert first.closed and "acme" in pool._loaded
    pool.close()


def test_an_evicted_tenant_is_closed_without_holding_up_the_pool(cli, home, monkeypatch):
    """Closing a tenant's last store connection checkpoints and syncs it (tens of ms on a real disk):
    the request whose load evicted it closes it after letting go of the pool's lock, so requests for
    loaded tenants go on meanwhile."""
    import threading

    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.serving import pool as pool_module

    fast_home(cli, home)
    for tenant_id in ("a", "b", "c"):
        assert cli("tenant", "create", tenant_id).code == 0
    pool = pool_module.TenantPool(load_config(), 2 * pool_module.TENANT_OVERHEAD_BYTES)  # holds two
    closing, release = threading.Event(), threading.Event()
    real_close = TenantSession.close

    def slow_close(session):
        if session.tenant.id == "a":
            closing.set()
            assert release.wait(10)
        real_close(session)

    monkeypatch.setattr(TenantSession, "close", slow_close)
    pool.acquire("a")
    pool.acquire("b")
    loader = threading.Thread(target=pool.acquire, args=("c",))  # evicts a, whose close blocks
    loader.start()
    assert closing.wait(10)
    served = []
    other = threading.Thread(target=lambda: served.append(pool.acquire("b")))
    other.start()
    other.join(2)
    assert served and not other.is_alive()  # b was served while a was still closing
    release.set()
    loader.join(10)
    assert sorted(pool._loaded) == ["b", "c"] and pool.evictions == 1
    pool.close()


def test_a_tenant_whose_index_cannot_load_leaves_no_connection_open(cli, home, tmp_path, monkeypatch):
    """Each request to such a tenant failed, and left its store connection (a file descriptor) open."""
    import sqlite3

    import pytest

    from tenantctl.config import load_config
    from tenantctl.errors import IndexMismatch
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.serving import pool as pool_module

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    (tmp_path / "a.md").write_text("The gate code is 4711.\n")
    assert cli("ingest", "acme", tmp_path / "a.md").code == 0
    store = sqlite3.connect(home / "tenants" / "acme" / "store.db")
    with store:  # the store now says its 64-dimensional vectors are 32-dimensional
        store.execute("UPDATE meta SET value = '32' WHERE key = 'embedder_dim'")
    store.close()
    opened = []
    monkeypatch.setattr(pool_module, "TenantSession",
                        lambda *a, **k: opened.append(TenantSession(*a, **k)) or opened[-1])
    pool = pool_module.TenantPool(load_config(), 1 << 30)
    with pytest.raises(IndexMismatch):
        pool.acquire("acme")
    [session] = opened
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        session.store.conn.execute("SELECT 1")
    pool.close()
