"""The server's tenant pool under a race: a tenant evicted by another request between lookup and use."""

from __future__ import annotations


def test_a_tenant_evicted_between_lookup_and_use_is_loaded_again(cli, home, monkeypatch):
    from tenantctl.config import load_config
    from tenantctl.serving import pool as pool_module

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("embedder:\n  name: hashing-64\n")
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
