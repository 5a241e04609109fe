"""The PostgreSQL schema of cluster mode, created and migrated by the schema owner (`admin_dsn`).

Every table holding a tenant's data (TENANT_TABLES: its documents, chunks, meta, usage, term
statistics, chat sessions and messages; and SHARED_TENANT_TABLES: its settings) has a `tenant_id`
column, ROW LEVEL SECURITY enabled and FORCEd, and one policy: a row is visible and writable only when
`tenant_id` equals the transaction's `tenantctl.tenant` setting. The application connects as another
role (`dsn`) that owns nothing and may not bypass row security, so a connection that did not set the
tenant sees no rows at all.

The control plane (CONTROL_TABLES) is what every node must read before it knows a tenant: the
registry `tenants` (id, status, placement, settings version; no row security: which tenants exist is
what `tenant list` shows) and `api_keys`. The application role may write keys and read their ids,
tenants and labels, but not their `hash` column: a presented key is matched only through the SECURITY
DEFINER function `resolve_key(hash)`, which returns the one key with exactly that SHA-256.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tenantctl.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "tenantctl"  # the pooled tenants' tables (and whatever all tenants share)
TENANT_SETTING = "tenantctl.tenant"
TENANT_TABLES = ("meta", "documents", "chunks", "usage", "terms", "sessions", "messages")
SHARED_TENANT_TABLES = ("settings",)  # a tenant's rows, kept in the pooled schema whatever its placement
POOLED_TABLES = TENANT_TABLES + SHARED_TENANT_TABLES
CONTROL_TABLES = ("tenants", "api_keys")
DEDICATED_PREFIX = "tenant_"
BM25_K1, BM25_B = 1.2, 0.75  # BM25's parameters, as FTS5's bm25()

# A chunk's length in tokens for BM25: the last position in its full-text vector (PostgreSQL counts
# stopwords as positions, as FTS5 counts every token).
TOKENS_SQL = "COALESCE((SELECT max(p) FROM unnest({fts}) u, unnest(u.positions) p), 0)"

# Each migration brings a schema from version i to i + 1. Append, never edit. `{s}` stands for the schema:
# the pooled one and each dedicated tenant's schema get the same tables from the same migrations. A
# migration of tables all tenants share (a registry, keys) begins with SHARED and runs on the pooled
# schema only.
SHARED = "-- shared: the pooled schema only\n"
_V1 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE {s}.meta (
    tenant_id text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE TABLE {s}.documents (
    tenant_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path text NOT NULL,
    sha256 text NOT NULL,
    bytes bigint NOT NULL,
    mtime double precision NOT NULL,
    format text NOT NULL,
    chunking text NOT NULL,
    chunks integer NOT NULL,
    ingested_at double precision NOT NULL,
    UNIQUE (tenant_id, path),
    UNIQUE (tenant_id, id)
);
CREATE TABLE {s}.chunks (
    tenant_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id bigint NOT NULL,
    ord integer NOT NULL,
    start integer NOT NULL,
    "end" integer NOT NULL,
    page integer,
    heading text NOT NULL DEFAULT '',
    text text NOT NULL,
    dim integer NOT NULL,
    embedding vector NOT NULL,
    fts tsvector NOT NULL,
    -- a chunk belongs to a document of the same tenant
    FOREIGN KEY (tenant_id, doc_id) REFERENCES {s}.documents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chunks_tenant ON {s}.chunks (tenant_id, id);
CREATE INDEX chunks_doc ON {s}.chunks (tenant_id, doc_id);
CREATE INDEX chunks_fts ON {s}.chunks USING gin (fts);
"""
_V2 = """
CREATE TABLE {s}.usage (
    tenant_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts double precision NOT NULL,
    operation text NOT NULL,
    outcome text NOT NULL,
    chunks_embedded integer NOT NULL DEFAULT 0,
    documents integer NOT NULL DEFAULT 0,
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    ms double precision NOT NULL DEFAULT 0
);
CREATE INDEX usage_tenant_ts ON {s}.usage (tenant_id, ts);
"""
# BM25 statistics, kept in the transaction that writes the chunks: each chunk's length in tokens, each
# term's document frequency per tenant, and per tenant the chunks and tokens counted (meta bm25_chunks,
# bm25_tokens). Row security is lifted for the owner while the existing rows are counted (the policies
# force it again at the end of `migrate`).
_V3 = f"""
ALTER TABLE {{s}}.chunks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{s}}.meta NO FORCE ROW LEVEL SECURITY;
ALTER TABLE {{s}}.chunks ADD COLUMN tokens integer NOT NULL DEFAULT 0;
UPDATE {{s}}.chunks SET tokens = {TOKENS_SQL.format(fts="fts")};
CREATE TABLE {{s}}.terms (
    tenant_id text NOT NULL,
    term text NOT NULL,
    df integer NOT NULL,
    PRIMARY KEY (tenant_id, term)
);
INSERT INTO {{s}}.terms SELECT tenant_id, u.lexeme, count(*) FROM {{s}}.chunks, unnest(fts) u GROUP BY 1, 2;
INSERT INTO {{s}}.meta SELECT tenant_id, 'bm25_chunks', count(*)::text FROM {{s}}.chunks GROUP BY 1
    UNION ALL SELECT tenant_id, 'bm25_tokens', sum(tokens)::text FROM {{s}}.chunks GROUP BY 1;
"""
_V4 = SHARED + f"""
CREATE TABLE {SCHEMA}.dedicated (
    tenant_id text PRIMARY KEY,
    schema_name text NOT NULL UNIQUE
);
"""
# The control plane (see the module's docstring) and each tenant's settings, shared by every node.
_V5 = SHARED + f"""
CREATE TABLE {SCHEMA}.tenants (
    id text PRIMARY KEY,
    status text NOT NULL DEFAULT 'active',
    created_at text NOT NULL,
    display_name text,
    store text NOT NULL DEFAULT 'local',
    settings_version bigint NOT NULL DEFAULT 0
);
CREATE TABLE {SCHEMA}.api_keys (
    id text PRIMARY KEY,
    tenant_id text,
    admin boolean NOT NULL DEFAULT false,
    hash text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT '',
    created_at text NOT NULL,
    revoked_at text
);
CREATE INDEX api_keys_tenant ON {SCHEMA}.api_keys (tenant_id);
CREATE FUNCTION {SCHEMA}.resolve_key(key_hash text)
    RETURNS TABLE (id text, tenant_id text, admin boolean, name text, created_at text, revoked_at text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT k.id, k.tenant_id, k.admin, k.name, k.created_at, k.revoked_at
          FROM {SCHEMA}.api_keys k WHERE k.hash = key_hash $$;
REVOKE ALL ON FUNCTION {SCHEMA}.resolve_key(text) FROM PUBLIC;
CREATE TABLE {SCHEMA}.settings (
    tenant_id text PRIMARY KEY,
    yaml text NOT NULL,
    version bigint NOT NULL
);
"""
# Chat sessions, with the tenant's other data (the pooled schema or its dedicated one).
_V6 = """
CREATE TABLE {s}.sessions (
    tenant_id text NOT NULL,
    id text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    title text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE {s}.messages (
    tenant_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id text NOT NULL,
    question text NOT NULL,
    answer text NOT NULL,
    sources text NOT NULL DEFAULT '[]',
    created_at double precision NOT NULL,
    FOREIGN KEY (tenant_id, session_id) REFERENCES {s}.sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_session ON {s}.messages (tenant_id, session_id, id);
"""
MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4, _V5, _V6]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dedicated_schema(tenant_id: str) -> str:
    """The schema of a dedicated tenant: `tenant_<id>` (an id too long for PostgreSQL's 63-byte names
    is cut and given a hash of the whole)."""
    import hashlib

    name = DEDICATED_PREFIX + tenant_id
    if len(name.encode()) > 63:
        name = name[:54] + "_" + hashlib.sha256(tenant_id.encode()).hexdigest()[:8]
    return name


def qualified(schema: str) -> str:
    """A schema name as it goes into SQL (the pooled schema's name needs no quotes)."""
    return schema if schema == SCHEMA else quote_ident(schema)


def _policy_sql(schema: str, table: str, role: str, tenant_id: str | None = None) -> str:
    """Row security on one table. In a dedicated schema the policy also pins its one tenant."""
    role, s = quote_ident(role), qualified(schema)
    check = f"tenant_id = current_setting('{TENANT_SETTING}', true)"
    if tenant_id is not None:
        check += f" AND tenant_id = {_literal(tenant_id)}"
    return f"""
ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.{table} FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON {s}.{table};
CREATE POLICY tenant_isolation ON {s}.{table} USING ({check}) WITH CHECK ({check});
GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.{table} TO {role};
"""


def _control_grants(role: str) -> str:
    """The application's rights on the control plane: the registry in full; API keys without their
    hashes (matched only through `resolve_key`)."""
    role = quote_ident(role)
    return f"""
GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.tenants TO {role};
REVOKE ALL ON {SCHEMA}.api_keys FROM {role};
GRANT SELECT (id, tenant_id, admin, name, created_at, revoked_at) ON {SCHEMA}.api_keys TO {role};
GRANT INSERT, DELETE ON {SCHEMA}.api_keys TO {role};
GRANT UPDATE (revoked_at) ON {SCHEMA}.api_keys TO {role};
GRANT EXECUTE ON FUNCTION {SCHEMA}.resolve_key(text) TO {role};
"""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def hnsw_index_sql(dim: int, schema: str = SCHEMA) -> str:
    """A partial HNSW index over the vectors of one dimension (pooled tenants may use several embedders)."""
    return (
        f"CREATE INDEX IF NOT EXISTS chunks_hnsw_{dim} ON {qualified(schema)}.chunks"
        f" USING hnsw ((embedding::vector({dim})) vector_ip_ops) WHERE dim = {dim}"
    )


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, **kwargs)
    except psycopg.ProgrammingError as exc:  # not a connection string at all ("missing '=' after ...")
        raise ConfigError(
            f"postgres.dsn or admin_dsn is not a PostgreSQL connection string: {str(exc).strip().splitlines()[0]}",
            "write it as postgresql://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE in config.yaml",
        ) from exc
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to PostgreSQL: {first}",
            "check `postgres.dsn` (and `admin_dsn`) in config.yaml and that the server is running",
        ) from exc


def app_role(conn: psycopg.Connection) -> str:
    """The application's role, refused when row-level security would not bind it."""
    name, superuser, bypass, owned = conn.execute(
        "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
        " (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid"
        "  AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %s))"
        " FROM pg_roles r WHERE r.rolname = current_user",
        (SCHEMA,),
    ).fetchone()
    if superuser or bypass or owned:
        why = "is a superuser" if superuser else "may bypass row security" if bypass else "owns tenantctl's tables"
        raise ConfigError(
            f"postgres.dsn connects as role {name!r}, which {why}: row-level security would not bind it",
            "connect the application as a role that owns nothing (CREATE ROLE tenantctl_app LOGIN) and keep"
            " the owner in `postgres.admin_dsn`",
        )
    return name


def version(conn: psycopg.Connection, schema: str = SCHEMA) -> int:
    exists = conn.execute("SELECT to_regclass(%s)", (f"{qualified(schema)}.schema_version",)).fetchone()[0]
    if exists is None:
        return 0
    return conn.execute(f"SELECT version FROM {qualified(schema)}.schema_version").fetchone()[0]


def _upgrade(conn: psycopg.Connection, schema: str) -> None:
    """Bring one schema (the pooled one or a dedicated tenant's) to the current version."""
    current = version(conn, schema)
    if current > len(MIGRATIONS):
        raise ConfigError(
            f"the PostgreSQL schema {schema} has version {current}, newer than this tenantctl ({len(MIGRATIONS)})",
            "upgrade tenantctl",
        )
    s = qualified(schema)
    for number in range(current, len(MIGRATIONS)):
        sql = MIGRATIONS[number]
        if schema == SCHEMA or not sql.startswith(SHARED):
            conn.execute(sql.replace("{s}", s))
        if number == 0:
            conn.execute(f"CREATE TABLE {s}.schema_version (version integer NOT NULL)")
            conn.execute(f"INSERT INTO {s}.schema_version VALUES (1)")
        else:
            conn.execute(f"UPDATE {s}.schema_version SET version = %s", (number + 1,))


def _secure(conn: psycopg.Connection, schema: str, role: str, dims: tuple[int, ...], tenant_id: str | None) -> None:
    """Row security on every tenant table of the schema, the application's grants, the HNSW indexes."""
    s = qualified(schema)
    conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {quote_ident(role)}")
    conn.execute(f"GRANT SELECT ON {s}.schema_version TO {quote_ident(role)}")
    for table in TENANT_TABLES:
        conn.execute(_policy_sql(schema, table, role, tenant_id))
    if schema == SCHEMA:
        for table in SHARED_TENANT_TABLES:
            conn.execute(_policy_sql(schema, table, role))
        conn.execute(_control_grants(role))
    for dim in dims:
        conn.execute(hnsw_index_sql(dim, schema))


@contextlib.contextmanager
def _as_owner() -> Iterator[None]:
    """Schema changes by `admin_dsn`: a role that may not make them is named, not a traceback."""
    import psycopg

    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(
            f"postgres.admin_dsn may not change tenantctl's schema: {str(exc).strip().splitlines()[0]}",
            "set `postgres.admin_dsn` to the role that owns the schema (the one the first `tenantctl init` used)"
            " or a superuser, not the application's role",
        ) from exc


def migrate(admin_dsn: str, dsn: str, dims: tuple[int, ...] = (384,)) -> int:
    """Create or upgrade the pooled schema and every dedicated tenant's schema as their owner, and grant
    the application role what it needs. Idempotent. Returns the schema version."""
    with connect(dsn) as app:
        role = app_role(app)
    with _as_owner(), connect(admin_dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tenantctl:migrate'))")
        _upgrade(conn, SCHEMA)
        _secure(conn, SCHEMA, role, dims, None)
        for tenant_id, schema in conn.execute(f"SELECT tenant_id, schema_name FROM {SCHEMA}.dedicated").fetchall():
            _upgrade(conn, schema)
            _secure(conn, schema, role, dims, tenant_id)
    return len(MIGRATIONS)


def create_dedicated(admin_dsn: str, dsn: str, tenant_id: str) -> str:
    """A dedicated tenant's own schema, with the pooled tables' structure and row security pinned to
    it; the application role may use it and no other role is granted anything. Idempotent: an existing
    schema is brought to the current version. Returns the schema's name."""
    schema = dedicated_schema(tenant_id)
    with connect(dsn) as app:
        role = app_role(app)
    with _as_owner(), connect(admin_dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tenantctl:migrate'))")
        if version(conn, SCHEMA) != len(MIGRATIONS):
            raise ConfigError(
                "the PostgreSQL schema is not current", "run `tenantctl init` with `postgres.admin_dsn` set"
            )
        conn.execute(
            f"INSERT INTO {SCHEMA}.dedicated VALUES (%s, %s) ON CONFLICT (tenant_id) DO NOTHING", (tenant_id, schema)
        )
        _upgrade(conn, schema)
        conn.execute(f"REVOKE ALL ON SCHEMA {qualified(schema)} FROM PUBLIC")
        dims = tuple(int(r[0]) for r in conn.execute(  # HNSW indexes for the dimensions the pool has them for
            "SELECT substring(indexname FROM 'chunks_hnsw_([0-9]+)') FROM pg_indexes"
            " WHERE schemaname = %s AND indexname LIKE 'chunks_hnsw_%%'", (SCHEMA,)))
        _secure(conn, schema, role, dims, tenant_id)
    return schema


def drop_dedicated(admin_dsn: str, tenant_id: str) -> None:
    """Drop a dedicated tenant's schema and everything in it (nothing when there is none)."""
    schema = dedicated_schema(tenant_id)
    with connect(admin_dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tenantctl:migrate'))")
        conn.execute(f"DROP SCHEMA IF EXISTS {qualified(schema)} CASCADE")
        conn.execute(f"DELETE FROM {SCHEMA}.dedicated WHERE tenant_id = %s", (tenant_id,))
