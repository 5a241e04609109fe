"""Tenants placed in the PostgreSQL pool (`create --store postgres`), end to end on a real PostgreSQL +
pgvector and the real embedding model: ingest, search, serve, show and delete through the pooled store,
side by side with a local tenant, and nothing crosses between them."""

from __future__ import annotations

import psycopg
import pytest

from tenantctl.context import current_tenant
from tenantctl.storage.pg.schema import SCHEMA

from .conftest import MOVE_QUERIES, copy_samples, top10, usage_events

pytestmark = pytest.mark.slow


@pytest.fixture
def mixed(cli, postgres, tmp_path):
    """acme-hr in the pool, huaxin-bank local, both ingested from the samples."""
    docs = copy_samples(tmp_path / "samples")
    assert cli("create", "acme-hr", "--store", "postgres").code == 0
    assert cli("tenant", "create", "huaxin-bank").code == 0
    for tenant in ("acme-hr", "huaxin-bank"):
        result = cli("ingest", tenant, docs / tenant, "--json")
        assert result.code == 0, result
    return docs


def test_a_pooled_tenant_ingests_searches_and_shows_its_store(cli, mixed, postgres, home):
    shown = cli("tenant", "show", "acme-hr", "--json").json()
    assert shown["store"] == "postgres" and shown["documents"] == 5 and shown["chunks"] > 5
    assert cli("tenant", "show", "huaxin-bank", "--json").json()["store"] == "local"
    assert not (home / "tenants" / "acme-hr" / "store.db").exists()  # nothing of it on this node's disk
    hits = cli("search", "acme-hr", "How many days of paid annual leave per year?", "--json").json()
    assert any("23 days of paid annual leave" in h["text"] for h in hits)
    assert all("/samples/acme-hr/" in h["path"] for h in hits)
    for tenant, probe in (("acme-hr", "手机银行单笔转账限额是多少"), ("huaxin-bank", "paid annual leave days")):
        hits = cli("search", tenant, probe, "--json").json()
        assert all(f"/samples/{tenant}/" in h["path"] for h in hits), (tenant, [h["path"] for h in hits])
    again = cli("ingest", "acme-hr", mixed / "acme-hr", "--json").json()  # unchanged files are skipped
    assert (again["skipped"], again["chunks"]) == (5, 0)
    assert cli("tenant", "show", "acme-hr", "--json").json()["chunks"] == shown["chunks"]
    current_tenant.set(None)  # as in a fresh `tenantctl verify --all` (it failed: no tenant context)
    verified = cli("verify", "--all", "--json")
    assert verified.code == 0 and verified.json()["ok"], verified
    report = {r["tenant"]: r for r in verified.json()["tenants"]}["acme-hr"]
    assert report["problems"] == [] and report["chunks"] == shown["chunks"] and report["path"] == "postgres"
    assert "in PostgreSQL)" in cli("verify", "acme-hr").out  # not "no index yet": it never has a FAISS file
    assert cli("chat", "acme-hr", "--list", "--json").json() == []
    with psycopg.connect(postgres.dsn) as conn:  # the application role, without the tenant setting
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 0
    with psycopg.connect(postgres.admin_dsn) as conn:
        usage = conn.execute(f"SELECT operation, count(*) FROM {SCHEMA}.usage GROUP BY 1").fetchall()
    assert {op for op, _ in usage} >= {"ingest", "search"}


def test_serve_answers_a_pooled_tenant_and_keeps_it_apart(cli, mixed):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    keys = {t: cli("key", "create", t, "--json").json()["key"] for t in ("acme-hr", "huaxin-bank")}
    own = {t: {p.name for p in (mixed / t).iterdir()} for t in keys}  # the server shows relative paths
    with TestClient(create_app(load_config())) as client:
        for owner, key in keys.items():
            for probe in ("How many days of paid annual leave per year?", "手机银行单笔转账限额是多少"):
                found = client.post("/v1/search", json={"query": probe, "k": 5, "tenant": "acme-hr"},
                                    headers={"Authorization": f"Bearer {key}"})
                assert found.status_code == 200 and found.json()["tenant"] == owner
                assert all(h["path"] in own[owner] for h in found.json()["hits"])
        found = client.post("/v1/search", json={"query": "annual leave"},
                            headers={"Authorization": f"Bearer {keys['acme-hr']}"}).json()
        assert any("annual leave" in h["text"] for h in found["hits"])


def test_a_question_to_a_pooled_tenant_is_answered_from_its_passages_and_metered(cli, mixed, postgres):
    result = cli("query", "acme-hr", "How many days of paid annual leave per year?", "--json")
    assert result.code == 0, result
    answer = result.json()
    assert answer["sources"] and all("/samples/acme-hr/" in s["path"] for s in answer["sources"])
    assert "23" in answer["answer"]
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.usage WHERE operation = 'question'").fetchone()[0] == 1


def test_deleting_a_pooled_tenant_removes_its_rows(cli, mixed, postgres):
    assert cli("tenant", "delete", "acme-hr", "--yes").code == 0
    with psycopg.connect(postgres.admin_dsn) as conn:
        for table in ("documents", "chunks", "meta", "usage"):
            count = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table} WHERE tenant_id = 'acme-hr'").fetchone()
            assert count[0] == 0, table
    assert cli("search", "huaxin-bank", "转账限额", "--json").code == 0


def test_a_pooled_tenant_without_postgres_configured_is_refused(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    result = cli("create", "acme", "--store", "postgres")
    assert result.code == 1 and "no `postgres:` section" in result.err and "Hint:" in result.err
    assert cli("tenant", "list", "--json").json() == []
    assert cli("create", "acme", "--store", "mongodb").code == 2


def test_move_to_the_pool_and_back_keeps_results_and_usage(cli, postgres, tmp_path, home):
    docs = copy_samples(tmp_path / "samples")
    assert cli("create", "acme-hr").code == 0
    assert cli("ingest", "acme-hr", docs / "acme-hr").code == 0

    before, usage_before = top10(cli, "acme-hr"), usage_events(cli, "acme-hr")
    moved = cli("tenant", "move", "acme-hr", "--to", "postgres", "--json")
    assert moved.code == 0, moved
    result = moved.json()
    assert result["moved"] and result["documents"] == 5 and result["usage_events"] == 1 + len(MOVE_QUERIES)
    assert cli("tenant", "show", "acme-hr", "--json").json()["store"] == "postgres"
    assert not (home / "tenants" / "acme-hr" / "store.db").exists()
    assert not list((home / "tenants" / "acme-hr").glob("index-*.faiss"))
    pooled = top10(cli, "acme-hr")
    for query in MOVE_QUERIES:  # fusion with PostgreSQL full-text ranking: the same passages lead
        assert pooled[query][0] in before[query][:3], query
    again = cli("tenant", "move", "acme-hr", "--to", "postgres", "--json")
    assert again.code == 0 and again.json()["moved"] is False
    back = cli("tenant", "move", "acme-hr", "--to", "local", "--json")
    assert back.code == 0, back
    assert back.json()["checksum"] == result["checksum"]
    assert back.json()["usage_events"] == 1 + 2 * len(MOVE_QUERIES)
    assert top10(cli, "acme-hr") == before  # back home: identical top-10 for every query
    assert cli("verify", "acme-hr").code == 0
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks WHERE tenant_id = 'acme-hr'").fetchone()[0] == 0
    assert usage_before == {"ingest": 1, "search": len(MOVE_QUERIES)}
    # the history survived both moves
    assert usage_events(cli, "acme-hr") == {"ingest": 1, "search": 3 * len(MOVE_QUERIES)}


def test_chat_sessions_move_into_the_pool_and_back(cli, postgres, home):
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    home.mkdir(parents=True, exist_ok=True)
    assert cli("create", "t1").code == 0
    with open_tenant("t1").open_store() as store:
        sid = sessions.create(store, "hello")
    assert cli("tenant", "move", "t1", "--to", "postgres").code == 0
    assert cli("tenant", "show", "t1", "--json").json()["store"] == "postgres"
    listed = cli("chat", "t1", "--list", "--json").json()
    assert [s["id"] for s in listed] == [sid] and listed[0]["title"] == "hello"
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT tenant_id FROM {SCHEMA}.sessions").fetchall() == [("t1",)]
    assert cli("tenant", "move", "t1", "--to", "postgres-dedicated").code == 0  # into its own schema
    assert [s["id"] for s in cli("chat", "t1", "--list", "--json").json()] == [sid]
    assert cli("tenant", "move", "t1", "--to", "local").code == 0
    assert [s["id"] for s in cli("chat", "t1", "--list", "--json").json()] == [sid]
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.sessions").fetchone()[0] == 0
    assert cli("tenant", "move", "t1", "--to", "mongodb").code == 2


def _recorded_embedder(tenant_id: str) -> str | None:
    from tenantctl.storage.tenants import open_tenant

    with open_tenant(tenant_id).open_store() as store:
        return store.get_meta("embedder")


def test_an_fp32_tenant_keeps_its_precision_through_a_move_after_the_int8_switch(cli, postgres, tmp_path, home):
    """Made with fp32 before int8 became the default, moved into the pool and back after: its vectors,
    its recorded embedder and its results go along; a new pooled tenant gets int8."""
    docs = copy_samples(tmp_path / "samples")
    config = (home / "config.yaml").read_text()
    (home / "config.yaml").write_text(config + "embedder:\n  precision: fp32\n")
    assert cli("create", "acme-hr").code == 0 and cli("ingest", "acme-hr", docs / "acme-hr").code == 0
    before = top10(cli, "acme-hr")
    (home / "config.yaml").write_text(config)  # the default: int8 for new indexes
    assert cli("tenant", "move", "acme-hr", "--to", "postgres").code == 0
    assert _recorded_embedder("acme-hr") == "all-MiniLM-L6-v2"
    pooled = top10(cli, "acme-hr")
    assert all(pooled[q][0] in before[q][:3] for q in MOVE_QUERIES), (pooled, before)
    assert cli("create", "nordwerk-maint", "--store", "postgres").code == 0
    assert cli("ingest", "nordwerk-maint", docs / "nordwerk-maint").code == 0
    assert _recorded_embedder("nordwerk-maint") == "all-MiniLM-L6-v2-int8"
    hits = cli("search", "nordwerk-maint", "paid annual leave", "--json").json()
    assert hits and all(h["path"].startswith(str(docs / "nordwerk-maint")) for h in hits)
    assert cli("tenant", "move", "acme-hr", "--to", "local").code == 0
    assert _recorded_embedder("acme-hr") == "all-MiniLM-L6-v2" and top10(cli, "acme-hr") == before


def test_a_move_whose_copy_fails_its_check_leaves_no_copy_behind(cli, postgres, tmp_path, home, monkeypatch):
    """The tenant stayed where it was, but its copied rows stayed in the pool (and, moving back, a full
    copy of its store in its folder): data of a tenant where it does not live, left even by its delete."""
    from tenantctl.operations import move

    with (home / "config.yaml").open("a") as config:
        config.write("embedder: {name: hashing-64}\n")
    (tmp_path / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    assert cli("create", "acme").code == 0 and cli("ingest", "acme", tmp_path / "a.md").code == 0
    checksums = iter(["source", "copy"] * 4)
    real_checksum = move.content_checksum
    monkeypatch.setattr(move, "content_checksum", lambda store: next(checksums))
    failed = cli("tenant", "move", "acme", "--to", "postgres")
    assert failed.code == 1 and "does not match its source; nothing was switched" in failed.err, failed
    assert cli("tenant", "show", "acme", "--json").json()["store"] == "local"
    with psycopg.connect(postgres.admin_dsn) as conn:
        for table in ("documents", "chunks", "meta", "usage"):
            count = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table} WHERE tenant_id = 'acme'").fetchone()
            assert count[0] == 0, table

    monkeypatch.setattr(move, "content_checksum", real_checksum)
    assert cli("tenant", "move", "acme", "--to", "postgres").code == 0
    monkeypatch.setattr(move, "content_checksum", lambda store: next(checksums))
    back = cli("tenant", "move", "acme", "--to", "local")
    assert back.code == 1 and cli("tenant", "show", "acme", "--json").json()["store"] == "postgres"
    assert not [p.name for p in (home / "tenants" / "acme").iterdir() if "store.db" in p.name]


def test_an_interrupted_ingest_keeps_the_batches_it_committed_in_the_pool_as_in_a_folder(
        cli, postgres, home, tmp_path, monkeypatch):
    """What the README says of a killed ingest: each batch of files is one transaction, in PostgreSQL as in
    SQLite, so what was committed before the interruption stays, and the next ingest skips it."""
    from tenantctl.config import load_config
    from tenantctl.ingestion import ingest
    from tenantctl.storage.tenants import open_tenant

    with (home / "config.yaml").open("a") as config:
        config.write("embedder:\n  name: hashing-64\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"d{i}.txt").write_text(f"Document {i} is about topic{i}.")
    monkeypatch.setattr(ingest, "BATCH_CHUNKS", 2)

    def interrupt(done: int, total: int) -> None:
        if done:  # after the first batch's commit
            raise KeyboardInterrupt

    for tenant, store in (("pooled", "postgres"), ("local", "local")):
        assert cli("create", tenant, "--store", store).code == 0
        with pytest.raises(KeyboardInterrupt):
            ingest.ingest(open_tenant(tenant), [docs], load_config(), progress=interrupt)
        assert cli("tenant", "show", tenant, "--json").json()["documents"] == 2, tenant
        again = cli("ingest", tenant, docs, "--json").json()
        assert (again["skipped"], again["added"]) == (2, 4), again


def test_a_pooled_tenant_deleted_through_one_node_leaves_nothing_on_another(cli, postgres, home, tmp_path,
                                                                            monkeypatch):
    """Node 2's folder of a pooled tenant (its tenant.yaml, and files uploaded through node 2: their only
    copies) stayed after the tenant was deleted through node 1, until a tenant of that id was created
    there again."""
    second = tmp_path / "node2"
    second.mkdir()
    (second / "config.yaml").write_text((home / "config.yaml").read_text())
    assert cli("create", "gone", "--store", "postgres").code == 0
    assert cli("create", "kept", "--store", "postgres").code == 0
    monkeypatch.setenv("TENANTCTL_HOME", str(second))
    assert cli("tenant", "show", "gone").code == 0 and cli("tenant", "show", "kept").code == 0
    upload = second / "tenants" / "gone" / "uploads" / "merger.md"  # as node 2's serve keeps an upload
    upload.parent.mkdir(mode=0o700)
    upload.write_text("The merger target is QUOKKACORP.\n")
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    assert cli("tenant", "delete", "gone", "--yes").code == 0
    monkeypatch.setenv("TENANTCTL_HOME", str(second))
    checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}
    assert checks["leftovers"]["status"] == "warn" and "gone" in checks["leftovers"]["detail"]
    assert cli("reindex", "--all").code == 0  # cron, on every node
    assert not (second / "tenants" / "gone").exists() and (second / "tenants" / "kept" / "tenant.yaml").exists()
