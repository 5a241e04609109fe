"""Retrieval parity on a real PostgreSQL + pgvector: the sample tenants, ingested locally with the real
embedding model and copied into the pool (vectors included), are searched through pgvector and
PostgreSQL full-text search and must find what the local store finds, and nothing of another tenant."""

from __future__ import annotations

import pytest

from tenantctl.config import load_config
from tenantctl.context import current_tenant
from tenantctl.retrieval.pg_search import PgSearcher
from tenantctl.retrieval.search import Searcher
from tenantctl.storage.pg.store import PgStore
from tenantctl.storage.pg.transfer import content_checksum, copy_local_to_pool
from tenantctl.storage.tenants import open_tenant

from .conftest import SAMPLE_IDS
from .test_ingest import FACTS, _flat

pytestmark = pytest.mark.slow


@pytest.fixture
def pooled(samples, postgres):
    """The three sample tenants, each both local (the sample home) and pooled (a copy)."""
    cfg = load_config()
    searchers = {}
    for tenant_id in SAMPLE_IDS:
        tenant = open_tenant(tenant_id)
        local = Searcher(tenant, cfg)
        pooled = PgStore(postgres, tenant_id)
        copy_local_to_pool(local.store, pooled)
        assert content_checksum(pooled) == content_checksum(local.store)
        searchers[tenant_id] = (local, PgSearcher(pooled, cfg, local.embedder))
    yield searchers
    for local, pooled in searchers.values():
        local.close()
        pooled.store.close()
    current_tenant.set(None)


def _keys(hits):
    return [(h.path, h.ord) for h in hits]


@pytest.mark.parametrize(("owner", "query", "filename", "fact"), FACTS)
def test_pooled_search_finds_each_fact_in_its_tenant_and_nowhere_else(pooled, owner, query, filename, fact):
    for tenant_id, (local, pg) in pooled.items():
        current_tenant.set(tenant_id)
        dense = pg.search(query, k=10, mode="dense")
        assert _keys(dense) == _keys(local.search(query, k=10, mode="dense", meter=False))
        hits = pg.search(query, k=5)
        assert hits and all(f"/samples/{tenant_id}/" in h.path for h in hits), [h.path for h in hits]
        texts = [_flat(h.text) for h in hits]
        if tenant_id == owner:
            assert any(h.path.endswith("/" + filename) for h in hits), (query, [h.path for h in hits])
            assert any(_flat(fact) in t for t in texts), (fact, texts)
        else:
            assert not any(_flat(fact) in t for t in texts)


def test_a_pooled_searcher_in_another_tenants_context_refuses(pooled):
    current_tenant.set("acme-hr")
    _, huaxin = pooled["huaxin-bank"]
    from tenantctl.storage.pg.store import TenantContextMissing

    with pytest.raises(TenantContextMissing):
        huaxin.search("转账限额")
