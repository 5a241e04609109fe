"""The PostgreSQL schema of pooled tenants, created and migrated by the schema owner (`admin_dsn`).

Every pooled table has a `tenant_id` column, ROW LEVEL SECURITY enabled and FORCEd, and one policy:
a row is visible and writable only when `tenant_id` equals the transaction's `tenantctl.tenant`
setting. The application connects as another role (`dsn`) that owns nothing and may not bypass row
security, so a connection that did not set the tenant sees no rows at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantctl.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "tenantctl"
TENANT_SETTING = "tenantctl.tenant"
POOLED_TABLES = ("meta", "documents", "chunks", "usage")

# Each migration brings the schema from version i to i + 1. Append, never edit.
_V1 = f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE {SCHEMA}.meta (
    tenant_id text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE TABLE {SCHEMA}.documents (
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
CREATE TABLE {SCHEMA}.chunks (
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
    FOREIGN KEY (tenant_id, doc_id) REFERENCES {SCHEMA}.documents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chunks_tenant ON {SCHEMA}.chunks (tenant_id, id);
CREATE INDEX chunks_doc ON {SCHEMA}.chunks (tenant_id, doc_id);
CREATE INDEX chunks_fts ON {SCHEMA}.chunks USING gin (fts);
"""
_V2 = f"""
CREATE TABLE {SCHEMA}.usage (
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
CREATE INDEX usage_tenant_ts ON {SCHEMA}.usage (tenant_id, ts);
"""
MIGRATIONS: list[str] = [_V1, _V2]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _policy_sql(table: str, role: str) -> str:
    role = quote_ident(role)
    return f"""
ALTER TABLE {SCHEMA}.{table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {SCHEMA}.{table} FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON {SCHEMA}.{table};
CREATE POLICY tenant_isolation ON {SCHEMA}.{table}
    USING (tenant_id = current_setting('{TENANT_SETTING}', true))
    WITH CHECK (tenant_id = current_setting('{TENANT_SETTING}', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.{table} TO {role};
"""


def hnsw_index_sql(dim: int) -> str:
    """A partial HNSW index over the vectors of one dimension (pooled tenants may use several embedders)."""
    return (
        f"CREATE INDEX IF NOT EXISTS chunks_hnsw_{dim} ON {SCHEMA}.chunks"
        f" USING hnsw ((embedding::vector({dim})) vector_ip_ops) WHERE dim = {dim}"
    )


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, **kwargs)
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


def version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_version",)).fetchone()[0]
    if exists is None:
        return 0
    return conn.execute(f"SELECT version FROM {SCHEMA}.schema_version").fetchone()[0]


def migrate(admin_dsn: str, dsn: str, dims: tuple[int, ...] = (384,)) -> int:
    """Create or upgrade the schema as its owner and grant the application role what it needs.
    Idempotent. Returns the schema version."""
    with connect(dsn) as app:
        role = app_role(app)
    with connect(admin_dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tenantctl:migrate'))")
        current = version(conn)
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"the PostgreSQL schema has version {current}, newer than this tenantctl ({len(MIGRATIONS)})",
                "upgrade tenantctl",
            )
        if current == 0:
            conn.execute(MIGRATIONS[0])
            conn.execute(f"CREATE TABLE {SCHEMA}.schema_version (version integer NOT NULL)")
            conn.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (1)")
            current = 1
        for number in range(current, len(MIGRATIONS)):
            conn.execute(MIGRATIONS[number])
            conn.execute(f"UPDATE {SCHEMA}.schema_version SET version = %s", (number + 1,))
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {quote_ident(role)}")
        conn.execute(f"GRANT SELECT ON {SCHEMA}.schema_version TO {quote_ident(role)}")
        for table in POOLED_TABLES:
            conn.execute(_policy_sql(table, role))
        for dim in dims:
            conn.execute(hnsw_index_sql(dim))
    return len(MIGRATIONS)
