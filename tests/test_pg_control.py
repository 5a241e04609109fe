"""The control plane in PostgreSQL (cluster mode): two nodes — two homes with the same config.yaml and
nothing else in common — share the registry, API keys, pooled tenants' settings, chat sessions and
the writer lock; every new table is probed for cross-tenant access as the application role."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest

from tenantctl.storage.pg.schema import SCHEMA, TENANT_SETTING

from .conftest import copy_samples, set_tenant_yaml

pytestmark = pytest.mark.slow  # a real PostgreSQL server


@pytest.fixture
def nodes(postgres, home, tmp_path, monkeypatch):
    """Two homes ("nodes") with the same config.yaml; `use(n)` points TENANTCTL_HOME at node n."""
    other = tmp_path / "node2"
    other.mkdir()
    (other / "config.yaml").write_text((home / "config.yaml").read_text())
    homes = {1: home, 2: other}

    def use(n: int):
        monkeypatch.setenv("TENANTCTL_HOME", str(homes[n]))
        return homes[n]

    return use


def test_a_pooled_tenant_created_on_one_node_is_served_by_another(cli, nodes, tmp_path):
    docs = copy_samples(tmp_path / "samples")
    nodes(1)
    assert cli("create", "acme-hr", "--store", "postgres", "--name", "Acme").code == 0
    assert cli("create", "huaxin-bank").code == 0  # local: its folder stays on node 1
    assert cli("ingest", "acme-hr", docs / "acme-hr").code == 0
    key = cli("key", "create", "acme-hr", "--json").json()["key"]

    node2 = nodes(2)
    listed = {t["id"]: t for t in cli("tenant", "list", "--json").json()}
    assert set(listed) == {"acme-hr", "huaxin-bank"}
    hits = cli("search", "acme-hr", "How many days of paid annual leave per year?", "--json").json()
    assert any("23 days of paid annual leave" in h["text"] for h in hits)
    assert (node2 / "tenants" / "acme-hr" / "tenant.yaml").is_file()  # the cached settings
    assert not (node2 / "tenants" / "acme-hr" / "store.db").exists()
    from tenantctl.storage import keys

    assert keys.resolve(key).tenant == "acme-hr"  # a key created on node 1 works on node 2
    elsewhere = cli("tenant", "show", "huaxin-bank")
    assert elsewhere.code == 3  # a local tenant lives on its own node only
    assert "is a local tenant of another node" in elsewhere.err, elsewhere.err
    assert "tenant move huaxin-bank --to postgres" in elsewhere.err and "tenant delete" not in elsewhere.err
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    nodes(1)
    local_key = cli("key", "create", "huaxin-bank", "--json").json()["key"]
    nodes(2)
    with TestClient(create_app(load_config())) as client:  # node 2's server: not "does not exist" (401)
        r = client.post("/v1/search", json={"query": "x"}, headers={"Authorization": f"Bearer {local_key}"})
        assert r.status_code == 503 and "local tenant of another node" in r.json()["detail"], r.text

    assert cli("tenant", "suspend", "acme-hr").code == 0  # suspended on node 2 ...
    nodes(1)
    refused = cli("query", "acme-hr", "How many days of annual leave?")
    assert refused.code == 5 and "suspended" in refused.err  # ... refused on node 1
    assert cli("tenant", "resume", "acme-hr").code == 0


def test_settings_edited_on_one_node_apply_on_the_other(cli, nodes):
    nodes(1)
    assert cli("create", "acme", "--store", "postgres").code == 0
    node2 = nodes(2)
    assert cli("tenant", "show", "acme", "--json").json()["quotas"] == {}
    set_tenant_yaml(node2, "acme", quotas={"questions_per_day": 3})  # an operator's edit on node 2
    assert cli("tenant", "show", "acme", "--json").json()["quotas"] == {"questions_per_day": 3}
    node1 = nodes(1)
    assert cli("tenant", "show", "acme", "--json").json()["quotas"] == {"questions_per_day": 3}
    (node1.parent / "docs-of-acme").mkdir()
    assert cli("source", "add", "acme", node1.parent / "docs-of-acme").code == 0
    nodes(2)
    assert [s["path"] for s in cli("source", "list", "acme", "--json").json()] == [str(node1.parent / "docs-of-acme")]
    (node2 / "tenants" / "acme" / "tenant.yaml").write_text("id: acme\nstore: postgres\nquotas: {nope: 1}\n")
    assert cli("tenant", "show", "acme").code == 1  # an invalid edit is not published ...
    nodes(1)
    assert cli("tenant", "show", "acme", "--json").json()["quotas"] == {"questions_per_day": 3}  # ... anywhere


def test_a_move_on_one_node_is_seen_by_the_other(cli, nodes, tmp_path):
    nodes(1)
    assert cli("create", "acme", "--store", "postgres").code == 0
    node2 = nodes(2)
    assert cli("tenant", "show", "acme", "--json").json()["store"] == "postgres"
    nodes(1)
    assert cli("tenant", "move", "acme", "--to", "postgres-dedicated").code == 0
    nodes(2)
    assert cli("tenant", "show", "acme", "--json").json()["store"] == "postgres-dedicated"
    nodes(1)
    assert cli("tenant", "move", "acme", "--to", "local").code == 0  # now in node 1's folder
    assert cli("tenant", "show", "acme", "--json").json()["store"] == "local"
    nodes(2)
    gone = cli("tenant", "show", "acme")
    assert gone.code == 3 and "folder" in gone.err  # not served from a stale copy of its settings
    assert not (node2 / "tenants" / "acme").exists()
    nodes(1)
    assert cli("tenant", "move", "acme", "--to", "postgres").code == 0
    nodes(2)
    assert cli("tenant", "show", "acme", "--json").json()["store"] == "postgres"


def test_a_tenant_deleted_on_one_node_is_gone_on_the_other_and_can_be_created_again(cli, nodes, postgres):
    nodes(1)
    assert cli("create", "acme", "--store", "postgres").code == 0
    nodes(2)
    assert cli("tenant", "show", "acme").code == 0  # node 2 caches its folder
    nodes(1)
    assert cli("tenant", "delete", "acme", "--yes").code == 0
    nodes(2)
    assert cli("tenant", "show", "acme").code == 3
    assert cli("create", "acme", "--store", "postgres").code == 0  # the stale cache is no obstacle
    nodes(1)
    assert cli("tenant", "list", "--json").json()[0]["id"] == "acme"
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.tenants").fetchone()[0] == 1


def test_a_tenant_is_deleted_with_its_rows_from_a_node_that_never_served_it(cli, nodes, postgres):
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    nodes(1)
    assert cli("create", "acme", "--store", "postgres").code == 0
    with open_tenant("acme").open_store() as store:
        sessions.create(store, "hello")
    node2 = nodes(2)
    assert not (node2 / "tenants" / "acme").exists()
    assert cli("tenant", "delete", "acme", "--yes").code == 0
    with psycopg.connect(postgres.admin_dsn) as conn:
        for table in ("sessions", "settings", "tenants"):
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0] == 0, table


def test_chat_sessions_of_a_pooled_tenant_are_shared_and_isolated(cli, nodes, postgres):
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    nodes(1)
    for tenant in ("a", "b"):
        assert cli("create", tenant, "--store", "postgres").code == 0
    with open_tenant("a").open_store() as store:
        sid = sessions.create(store, "from node 1")
    nodes(2)
    tenant = open_tenant("a")
    with tenant.open_store() as store:
        sessions.require(store, "a", sid)
        assert [s["id"] for s in sessions.listing(store)] == [sid]
    with open_tenant("b").open_store() as store:  # another tenant's session id is simply not there
        with pytest.raises(Exception, match="does not belong"):
            sessions.require(store, "b", sid)
        assert sessions.listing(store) == []
        assert sessions.history(store, sid) == []


def _app(postgres) -> psycopg.Connection:
    return psycopg.connect(postgres.dsn, autocommit=True)


def test_cross_tenant_probes_on_every_new_table(cli, nodes, postgres):
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    nodes(1)
    for tenant in ("a", "b"):
        assert cli("create", tenant, "--store", "postgres").code == 0
        with open_tenant(tenant).open_store() as store:
            sid = sessions.create(store, f"secret of {tenant}")
            with store.transaction() as conn:
                conn.execute(f"INSERT INTO {SCHEMA}.messages (tenant_id, session_id, question, answer,"
                             " created_at) VALUES (%s, %s, 'q', 'a', 0)", (tenant, sid))
    with _app(postgres) as conn:
        for table in ("sessions", "messages", "settings"):  # no tenant setting: nothing
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0] == 0, table
        with conn.transaction():
            conn.execute("SELECT set_config(%s, 'a', true)", (TENANT_SETTING,))
            for table in ("sessions", "messages", "settings"):  # tenant a: b's rows are not there
                assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table} WHERE tenant_id = 'b'").fetchone()[0] == 0
                assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0] == 1, table
            assert conn.execute(f"UPDATE {SCHEMA}.settings SET yaml = 'x' WHERE tenant_id = 'b'").rowcount == 0
            assert conn.execute(f"DELETE FROM {SCHEMA}.sessions WHERE tenant_id = 'b'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT set_config(%s, 'a', true)", (TENANT_SETTING,))
            conn.execute(f"INSERT INTO {SCHEMA}.sessions VALUES ('b', 'planted', 0, 0, 'x')")
    with psycopg.connect(postgres.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.messages").fetchone()[0] == 2


def test_the_application_role_cannot_read_key_hashes_and_resolves_one_key_only(cli, nodes, postgres):
    from tenantctl.storage import keys

    nodes(1)
    for tenant in ("a", "b"):
        assert cli("create", tenant, "--store", "postgres").code == 0
    key_a, secret_a = keys.create("a")
    keys.create("b")
    with _app(postgres) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT hash FROM {SCHEMA}.api_keys")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {SCHEMA}.api_keys")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {SCHEMA}.api_keys SET tenant_id = 'b'")
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.resolve_key('')").fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.resolve_key('%%')").fetchone()[0] == 0
        from tenantctl.storage.keys import _hash

        found = conn.execute(f"SELECT id, tenant_id FROM {SCHEMA}.resolve_key(%s)", (_hash(secret_a),)).fetchall()
        assert found == [(key_a.id, "a")]
    keys.revoke(key_a.id)
    nodes(2)
    assert keys.resolve(secret_a) is None  # revoked on node 1: refused on node 2


def test_init_moves_a_local_home_into_cluster_mode(cli, home, pg_cluster, postgres):
    import json

    config = home / "config.yaml"
    saved = config.read_text()
    config.write_text("")  # local mode first
    assert cli("create", "old").code == 0
    secret = cli("key", "create", "old", "--json").json()["key"]
    config.write_text(saved)
    assert cli("tenant", "list", "--json").json() == []  # the shared registry does not know it yet
    assert cli("init", "--json").json()["postgres_schema"] >= 3
    assert [t["id"] for t in cli("tenant", "list", "--json").json()] == ["old"]
    from tenantctl.storage import keys

    assert keys.resolve(secret).tenant == "old"
    assert json.loads(cli("init", "--json").out)["postgres_schema"] >= 3  # again: nothing doubled
    assert len(cli("tenant", "list", "--json").json()) == 1


_HOLD = """
import sys, time
from tenantctl.config import PostgresConfig
from tenantctl.storage.pg.control import advisory_lock
with advisory_lock(PostgresConfig(dsn=sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def test_the_writer_lock_is_held_across_processes(cli, nodes, postgres, tmp_path):
    from tenantctl.errors import Busy
    from tenantctl.storage.tenants import open_tenant

    nodes(1)
    assert cli("create", "acme", "--store", "postgres").code == 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, postgres.dsn, "acme", "3"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        held_at = time.monotonic()
        nodes(2)
        (tmp_path / "empty").mkdir()
        busy = cli("ingest", "acme", tmp_path / "empty")
        assert busy.code == 75 and "busy" in busy.err
        assert cli("source", "add", "acme", tmp_path / "empty").code == 0
        busy = cli("reindex", "--all", "--json")  # cron on another node: the tenant is skipped as busy
        assert busy.code != 0 and "busy" in (busy.out + busy.err)
        with pytest.raises(Busy), open_tenant("acme").write_lock():
            pass
        with open_tenant("acme").write_lock(wait=10):
            assert time.monotonic() - held_at > 2.5  # granted once the other process let go
    finally:
        holder.kill()
        holder.wait()
    started = time.monotonic()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, postgres.dsn, "acme", "30"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.kill()  # a writer that dies releases its lock with its connection
        holder.wait()
        with open_tenant("acme").write_lock(wait=10):
            pass
    finally:
        holder.kill()
    assert time.monotonic() - started < 20
    for _ in range(200):  # released at once: the same writer may take it again straight away
        with open_tenant("acme").write_lock():
            pass


def test_doctor_checks_postgres_and_the_shared_registry(cli, nodes, postgres):
    nodes(1)
    assert cli("create", "pooled", "--store", "postgres").code == 0
    assert cli("create", "here").code == 0  # local: its folder is on node 1
    node2 = nodes(2)
    checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}
    assert checks["postgres"]["status"] == "ok" and "schema version" in checks["postgres"]["detail"]
    assert checks["registry"]["status"] == "ok" and "PostgreSQL (2 tenants)" in checks["registry"]["detail"]
    assert checks["tenant here"]["status"] == "warn"  # may be another node's
    assert cli("paths", "--json").json()["registry"].startswith("PostgreSQL")
    assert "tenant pooled" not in checks and "orphan folders" not in checks
    config = node2 / "config.yaml"
    config.write_text(config.read_text().replace(f'"{postgres.dsn}"', f'"{postgres.admin_dsn}"', 1))
    checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}
    assert checks["postgres"]["status"] == "fail" and "superuser" in checks["postgres"]["detail"]
