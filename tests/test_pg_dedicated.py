"""Dedicated tenants (`--store postgres-dedicated`): a tenant in its own PostgreSQL schema, created by the
schema owner, with row security still on and pinned to it. On a real PostgreSQL + pgvector: create,
ingest, search, show, move between every pair of stores, delete, and the cross-tenant probes."""

from __future__ import annotations

import psycopg
import pytest

from tenantctl.storage.pg import schema
from tenantctl.storage.pg.schema import SCHEMA, TENANT_SETTING, dedicated_schema, quote_ident

from .conftest import MOVE_QUERIES, copy_samples, top10, usage_events

pytestmark = pytest.mark.slow  # a real PostgreSQL server (and, where said, the real embedding model)

FAST = "embedder: {name: hashing-64}\n"


@pytest.fixture
def fast(postgres, home):
    """Cluster mode with the instant hashing embedder (the real model is used by the move test)."""
    config = home / "config.yaml"
    config.write_text(config.read_text() + FAST)
    return postgres


def _docs(tmp_path, tenant: str, word: str):
    folder = tmp_path / tenant
    folder.mkdir()
    (folder / "a.txt").write_text(f"The {word} handbook says the {word} secret code is 4711.\n")
    (folder / "b.md").write_text(f"# {word} notes\n\nEvery {word} meeting starts at nine.\n")
    return folder


@pytest.fixture
def neighbours(cli, fast, tmp_path):
    """`ded` in its own schema, `pool` in the pooled tables, `loc` in its folder; each knows its word."""
    for tenant, store, word in (("ded", "postgres-dedicated", "zeppelin"), ("pool", "postgres", "walrus"),
                                ("loc", "local", "quokka")):
        created = cli("create", tenant, "--store", store)
        assert created.code == 0, created
        assert cli("ingest", tenant, _docs(tmp_path, tenant, word)).code == 0
    return fast


def test_a_dedicated_tenant_lives_in_its_own_schema(cli, neighbours):
    shown = cli("tenant", "show", "ded", "--json").json()
    assert shown["store"] == "postgres-dedicated" and shown["pg_schema"] == "tenant_ded" and shown["documents"] == 2
    assert cli("tenant", "show", "pool", "--json").json()["pg_schema"] == SCHEMA
    hits = cli("search", "ded", "secret code", "--json").json()
    assert hits and all("zeppelin" in h["text"] for h in hits)
    for tenant, stranger in (("ded", "walrus"), ("pool", "zeppelin"), ("loc", "zeppelin")):
        hits = cli("search", tenant, f"{stranger} secret code meeting", "--json").json()
        assert not any(stranger in h["text"] for h in hits), tenant
    with psycopg.connect(neighbours.admin_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks WHERE tenant_id = 'ded'").fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {quote_ident('tenant_ded')}.chunks").fetchone()[0] > 0
    verified = cli("verify", "ded", "--json")
    assert verified.code == 0, verified


def test_raw_sql_as_the_application_reaches_no_other_tenant_across_schemas(neighbours):
    ded = quote_ident(dedicated_schema("ded"))
    with psycopg.connect(neighbours.dsn, autocommit=True) as conn:
        for table in schema.TENANT_TABLES:  # no tenant set: nothing anywhere
            assert conn.execute(f"SELECT count(*) FROM {ded}.{table}").fetchone()[0] == 0, table
        with conn.transaction():  # the pooled tenant set: the dedicated schema shows nothing
            conn.execute("SELECT set_config(%s, 'pool', true)", (TENANT_SETTING,))
            assert conn.execute(f"SELECT count(*) FROM {ded}.chunks").fetchone()[0] == 0
            assert conn.execute(f"SELECT count(*) FROM {ded}.documents WHERE tenant_id = 'ded'").fetchone()[0] == 0
            assert conn.execute(f"DELETE FROM {ded}.documents").rowcount == 0
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] > 0  # its own
        with conn.transaction():  # the dedicated tenant set: nothing of the pool
            conn.execute("SELECT set_config(%s, 'ded', true)", (TENANT_SETTING,))
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 0
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks WHERE tenant_id = 'pool'").fetchone()[0] == 0
            assert conn.execute(f"UPDATE {SCHEMA}.chunks SET text = 'x'").rowcount == 0
            assert conn.execute(f"SELECT count(*) FROM {ded}.chunks").fetchone()[0] > 0  # its own
        for planted in ("pool", "ded"):  # its policy pins the schema to its tenant: no other tenant's rows
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, planted))
                conn.execute(f"INSERT INTO {ded}.meta VALUES ('pool', 'planted', 'x')")
        privileges = conn.execute(
            "SELECT has_schema_privilege(%s, 'CREATE'), has_schema_privilege('public', %s, 'USAGE')",
            (dedicated_schema("ded"), dedicated_schema("ded")),
        ).fetchone()
        assert privileges == (False, False)  # the application creates nothing there; no one else may enter


def test_init_upgrades_dedicated_schemas_and_delete_drops_one(cli, neighbours):
    assert schema.migrate(neighbours.admin_dsn, neighbours.dsn, dims=(64,)) == len(schema.MIGRATIONS)
    with psycopg.connect(neighbours.admin_dsn) as conn:
        assert schema.version(conn, dedicated_schema("ded")) == len(schema.MIGRATIONS)
    assert cli("tenant", "delete", "ded", "--yes").code == 0
    with psycopg.connect(neighbours.admin_dsn) as conn:
        assert conn.execute("SELECT to_regnamespace('tenant_ded')").fetchone()[0] is None
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.dedicated").fetchone()[0] == 0
    assert cli("search", "pool", "walrus", "--json").json()


def test_a_dedicated_tenant_needs_the_schema_owner(cli, fast, home):
    config = home / "config.yaml"
    config.write_text(f"postgres: {{dsn: {fast.dsn!r}}}\n" + FAST)
    refused = cli("create", "ded", "--store", "postgres-dedicated")
    assert refused.code == 1 and "admin_dsn" in refused.err and "Hint:" in refused.err, refused
    assert cli("tenant", "list", "--json").json() == []


def test_move_through_every_store_keeps_results_and_usage(cli, postgres, tmp_path, home):
    """local -> dedicated -> pooled -> dedicated -> local on the real embedding model: each move is
    verified by counts and checksum, the tenant's rows leave the store it left, and back home its
    top-10 and usage history are what they were."""
    docs = copy_samples(tmp_path / "samples")
    assert cli("create", "acme-hr").code == 0
    assert cli("ingest", "acme-hr", docs / "acme-hr").code == 0

    def rows(where: str) -> int:
        with psycopg.connect(postgres.admin_dsn) as conn:
            if conn.execute("SELECT to_regclass(%s)", (f"{where}.chunks",)).fetchone()[0] is None:
                return -1  # no such schema
            return conn.execute(f"SELECT count(*) FROM {where}.chunks WHERE tenant_id = 'acme-hr'").fetchone()[0]

    before = top10(cli, "acme-hr")
    checksums = set()
    for to, gone in (("postgres-dedicated", None), ("postgres", "tenant_acme-hr"), ("postgres-dedicated", SCHEMA),
                     ("local", "tenant_acme-hr")):
        moved = cli("tenant", "move", "acme-hr", "--to", to, "--json")
        assert moved.code == 0, moved
        checksums.add(moved.json()["checksum"])
        assert cli("tenant", "show", "acme-hr", "--json").json()["store"] == to
        if to != "local":
            assert rows(quote_ident(dedicated_schema("acme-hr")) if to == "postgres-dedicated" else SCHEMA) > 0
            found = top10(cli, "acme-hr")
            assert all(found[q][0] in before[q][:3] for q in MOVE_QUERIES), to  # the same passages lead
        if gone == SCHEMA:
            assert rows(SCHEMA) == 0
        elif gone:
            assert rows(quote_ident(gone)) == -1  # the dedicated schema it left was dropped
    assert len(checksums) == 1
    assert top10(cli, "acme-hr") == before
    assert cli("verify", "acme-hr").code == 0
    assert usage_events(cli, "acme-hr") == {"ingest": 1, "search": 5 * len(MOVE_QUERIES)}


@pytest.mark.parametrize("tenant", ["pool", "ded"])
def test_verify_names_keyword_statistics_that_disagree_with_the_rows(cli, neighbours, tenant):
    assert cli("verify", tenant).code == 0
    where = SCHEMA if tenant == "pool" else quote_ident(dedicated_schema(tenant))
    with psycopg.connect(neighbours.admin_dsn, autocommit=True) as conn:  # the owner, as a damaged upgrade would
        conn.execute(f"UPDATE {where}.meta SET value = '999' WHERE key = 'bm25_chunks' AND tenant_id = %s", (tenant,))
    result = cli("verify", tenant, "--json")
    assert result.code != 0, result
    problems = result.json()["tenants"][0]["problems"]
    assert [p["code"] for p in problems] == ["keyword-stats"] and "999" in problems[0]["message"], problems


def test_a_dedicated_tenant_without_settings_is_deleted_whole_and_its_id_starts_empty(cli, neighbours, home,
                                                                                       tmp_path):
    """A dedicated tenant whose settings are gone from this node and the pool (no tenant.yaml to open it
    by): its delete unregistered it and left its schema in PostgreSQL, documents, chunks, sessions and all
    (a new tenant of the same id empties it at its create)."""
    with psycopg.connect(neighbours.admin_dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {SCHEMA}.settings WHERE tenant_id = 'ded'")
    (home / "tenants" / "ded" / "tenant.yaml").unlink()
    assert cli("tenant", "delete", "ded", "--yes").code == 0
    with psycopg.connect(neighbours.admin_dsn) as conn:
        assert conn.execute("SELECT to_regnamespace('tenant_ded')").fetchone()[0] is None
    assert cli("create", "ded", "--store", "postgres-dedicated").code == 0
    assert cli("tenant", "show", "ded", "--json").json()["documents"] == 0
    assert not any("zeppelin" in h["text"] for h in cli("search", "ded", "zeppelin secret code", "--json").json())
