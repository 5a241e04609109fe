"""Retrieval parity on a real PostgreSQL + pgvector: the sample tenants, ingested locally with the real
embedding model and copied into the pool (vectors included), are searched through pgvector and
PostgreSQL full-text search and must find what the local store finds, and nothing of another tenant."""

from __future__ import annotations

import pytest

from tenantctl.config import load_config
from tenantctl.context import current_tenant
from tenantctl.retrieval.session import TenantSession
from tenantctl.storage.pg.transfer import content_checksum, copy_documents
from tenantctl.storage.tenants import create_tenant, open_tenant

from .conftest import SAMPLE_IDS
from .test_ingest import FACTS, _flat

pytestmark = pytest.mark.slow


@pytest.fixture
def pooled(samples, postgres, home, monkeypatch):
    """The three sample tenants, each both local (the sample home) and pooled (a copy in a second home
    whose tenants live in PostgreSQL), searched by the same Searcher (each in its TenantSession)."""
    cfg = load_config()
    local = {tenant_id: TenantSession(open_tenant(tenant_id), cfg) for tenant_id in SAMPLE_IDS}
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    sessions = {}
    for tenant_id, session in local.items():
        tenant = create_tenant(tenant_id, store="postgres")
        with tenant.open_store() as store:
            copy_documents(session.store, store)
            assert content_checksum(store) == content_checksum(session.store)
        sessions[tenant_id] = (session, TenantSession(tenant, cfg, session.searcher.embedder))
    yield sessions
    for pair in sessions.values():
        for session in pair:
            session.close()
    current_tenant.set(None)


def _keys(hits):
    return [(h.path, h.ord) for h in hits]


@pytest.mark.parametrize(("owner", "query", "filename", "fact"), FACTS)
def test_pooled_search_finds_each_fact_in_its_tenant_and_nowhere_else(pooled, owner, query, filename, fact):
    for tenant_id, (local, pg) in pooled.items():
        current_tenant.set(tenant_id)
        dense = pg.searcher.search(query, k=10, mode="dense")
        assert _keys(dense) == _keys(local.searcher.search(query, k=10, mode="dense"))
        hits = pg.search(query, k=5)
        assert hits and all(f"/samples/{tenant_id}/" in h.path for h in hits), [h.path for h in hits]
        texts = [_flat(h.text) for h in hits]
        if tenant_id == owner:
            assert any(h.path.endswith("/" + filename) for h in hits), (query, [h.path for h in hits])
            assert any(_flat(fact) in t for t in texts), (fact, texts)
        else:
            assert not any(_flat(fact) in t for t in texts)


def test_a_pooled_searcher_in_another_tenants_context_refuses(pooled):
    from tenantctl.storage.pg.store import TenantContextMissing

    current_tenant.set("acme-hr")
    _, huaxin = pooled["huaxin-bank"]
    with pytest.raises(TenantContextMissing):
        huaxin.search("转账限额")
