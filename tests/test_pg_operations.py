"""Operations on a tenant in PostgreSQL, end to end on a real PostgreSQL + pgvector and the real
embedding model: the usage report, export and import (into the pool again), repair and re-embedding,
chat sessions through the server — each checked against another tenant's data."""

from __future__ import annotations

import psycopg
import pytest

from tenantctl.storage.pg.schema import SCHEMA

from .conftest import copy_samples

pytestmark = pytest.mark.slow

QUESTION = "How many days of paid annual leave per year?"


@pytest.fixture
def pooled(cli, postgres, tmp_path):
    """acme-hr in the pool, huaxin-bank too, both ingested and searched once."""
    docs = copy_samples(tmp_path / "samples")
    for tenant in ("acme-hr", "huaxin-bank"):
        assert cli("create", tenant, "--store", "postgres").code == 0
        assert cli("ingest", tenant, docs / tenant).code == 0
    assert cli("search", "acme-hr", QUESTION).code == 0
    return docs


def test_the_usage_report_covers_pooled_tenants(cli, pooled):
    report = cli("usage", "--json").json()
    events = {(r["tenant"], r["operation"]): r["events"] for r in report["usage"]}
    assert events == {("acme-hr", "ingest"): 1, ("acme-hr", "search"): 1, ("huaxin-bank", "ingest"): 1}
    assert report["quotas"]["acme-hr"]["documents"]["used"] == 5
    by_day = cli("usage", "--tenant", "acme-hr", "--by", "day", "--json").json()["usage"]
    assert {r["tenant"] for r in by_day} == {"acme-hr"} and len(by_day[0]["period"]) == 10
    csv = cli("usage", "--csv", "--by", "month")
    assert csv.code == 0 and csv.out.count("acme-hr") == 2 and csv.out.count("huaxin-bank") == 1


def test_export_and_import_a_pooled_tenant_back_into_the_pool(cli, pooled, home, postgres):
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    with open_tenant("acme-hr").open_store() as store:
        sid = sessions.create(store, "leave")
    before = [(h["path"], h["ord"]) for h in cli("search", "acme-hr", QUESTION, "-k", "5", "--json").json()]
    exported = cli("tenant", "export", "acme-hr", home / "acme.tgz", "--json")
    assert exported.code == 0, exported
    assert exported.json()["documents"] == 5 and exported.json()["chunks"] > 5
    imported = cli("tenant", "import", home / "acme.tgz", "--as", "acme-copy", "--json")
    assert imported.code == 0, imported
    assert imported.json()["store"] == "postgres" and imported.json()["documents"] == 5
    shown = cli("tenant", "show", "acme-copy", "--json").json()
    assert shown["store"] == "postgres" and shown["documents"] == 5
    after = [(h["path"], h["ord"]) for h in cli("search", "acme-copy", QUESTION, "-k", "5", "--json").json()]
    assert after == before
    assert [s["id"] for s in cli("chat", "acme-copy", "--list", "--json").json()] == [sid]
    usage = {r["operation"]: r["events"] for r in cli("usage", "--tenant", "acme-copy", "--json").json()["usage"]}
    assert "ingest" not in usage and imported.json()["usage_left_behind"] >= 3  # the history stayed with acme-hr
    assert not (home / "tenants" / "acme-copy" / "store.db").exists()
    with psycopg.connect(postgres.admin_dsn) as conn:  # the copy is a tenant of its own
        for table in ("documents", "sessions"):
            rows = dict(conn.execute(f"SELECT tenant_id, count(*) FROM {SCHEMA}.{table} GROUP BY 1").fetchall())
            assert rows["acme-copy"] == rows["acme-hr"], table
    hits = cli("search", "acme-copy", "手机银行单笔转账限额是多少", "--json").json()
    assert all("/acme-hr/" in h["path"] for h in hits)  # nothing of huaxin-bank came with it


def test_repair_and_reembed_a_pooled_tenant(cli, pooled, postgres):
    with psycopg.connect(postgres.admin_dsn) as conn:
        conn.execute(f"UPDATE {SCHEMA}.chunks SET embedding = array_fill(0.0::real, ARRAY[384])::vector"
                     " WHERE tenant_id = 'acme-hr'")  # vectors spoilt (or from another embedder)
        other = conn.execute(f"SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM {SCHEMA}.chunks"
                             " WHERE tenant_id = 'huaxin-bank'").fetchone()[0]
    spoilt = cli("search", "acme-hr", QUESTION, "--mode", "dense", "--json").json()
    assert not any("23 days of paid annual leave" in h["text"] for h in spoilt[:1])
    plain = cli("repair", "acme-hr", "--json")
    assert plain.code == 0 and plain.json()["actions"] == []
    repaired = cli("repair", "acme-hr", "--reembed", "--json")
    assert repaired.code == 0, repaired
    assert repaired.json()["actions"][0].startswith("re-embedded")
    hits = cli("search", "acme-hr", QUESTION, "--mode", "dense", "--json").json()
    assert any("23 days of paid annual leave" in h["text"] for h in hits[:3])
    with psycopg.connect(postgres.admin_dsn) as conn:  # another tenant's vectors were not touched
        assert conn.execute(f"SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM {SCHEMA}.chunks"
                            " WHERE tenant_id = 'huaxin-bank'").fetchone()[0] == other


def test_chat_sessions_of_a_pooled_tenant_through_the_server(cli, pooled):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    keys = {t: cli("key", "create", t, "--json").json()["key"] for t in ("acme-hr", "huaxin-bank")}
    auth = {t: {"Authorization": f"Bearer {k}"} for t, k in keys.items()}
    with TestClient(create_app(load_config())) as client:
        sid = client.post("/v1/chat/sessions", headers=auth["acme-hr"]).json()["session"]
        assert [s["id"] for s in client.get("/v1/chat/sessions", headers=auth["acme-hr"]).json()] == [sid]
        assert client.get("/v1/chat/sessions", headers=auth["huaxin-bank"]).json() == []
        probe = client.post(f"/v1/chat/sessions/{sid}/messages", json={"question": QUESTION},
                            headers=auth["huaxin-bank"])
        assert probe.status_code == 404  # another tenant's session id is not there
        usage = client.get("/v1/usage", headers=auth["acme-hr"]).json()
        assert usage["tenant"] == "acme-hr" and {r["operation"] for r in usage["usage"]} >= {"ingest", "search"}
