"""The tenant handle (core, no CLI): its files, read-only store, counts, and the run over all tenants."""

import shutil
import sqlite3

import pytest

from tenantctl.errors import TenantNotFound
from tenantctl.storage import registry
from tenantctl.storage.tenants import BrokenTenant, Tenant, create_tenant, each_tenant, open_tenant, usable_tenants

from .conftest import fast_home


def test_each_tenant_reports_broken_ones_and_goes_on(home):
    for name in ("a", "b", "c"):
        create_tenant(name)
    shutil.rmtree(home / "tenants" / "b")
    with sqlite3.connect(home / "registry.db") as conn:  # a row no tenantctl would write
        conn.execute("INSERT INTO tenants (id, status, created_at) VALUES ('../x', 'active', 'now')")

    seen = {t.id: t for t in each_tenant()}
    assert list(seen) == ["../x", "a", "b", "c"]
    assert isinstance(seen["a"], Tenant) and isinstance(seen["c"], Tenant)
    assert isinstance(seen["b"], BrokenTenant) and "folder" in seen["b"].error.message
    assert seen["b"].dir == home / "tenants" / "b"
    assert isinstance(seen["../x"], BrokenTenant) and seen["../x"].dir is None
    assert [t.id for t in usable_tenants()[0]] == ["a", "c"]
    with pytest.raises(TenantNotFound, match="registered, but its folder"):
        open_tenant("b")

    from tenantctl.operations.integrity import verify_all

    reports = {r.tenant: r for r in verify_all()}
    assert reports["a"].ok and reports["c"].ok
    assert [p.code for p in reports["b"].problems] == ["tenant-missing"]
    assert [p.code for p in reports["../x"].problems] == ["tenant-invalid"]


def test_the_handle_names_its_files_and_reads_without_writing(home):
    tenant = create_tenant("acme", "Acme")
    assert tenant.store_path == home / "tenants" / "acme" / "store.db"
    assert tenant.config_path.name == "tenant.yaml" and tenant.manifest_path.name == "manifest.json"
    counts = tenant.counts()
    assert (counts.documents, counts.chunks, counts.bytes, counts.last_ingest) == (0, 0, 0, None)
    with tenant.open_store(readonly=True) as store, pytest.raises(sqlite3.OperationalError):
        store.conn.execute("INSERT INTO meta VALUES ('x', 'y')")
    assert registry.get("acme").display_name == "Acme"


def test_a_store_from_a_newer_tenantctl_is_refused_read_only_too(home):
    from tenantctl.errors import StoreTooNew
    from tenantctl.storage.store import STORE_FORMAT_VERSION

    tenant = create_tenant("acme")
    with sqlite3.connect(tenant.store_path) as conn:
        conn.execute(f"PRAGMA user_version = {STORE_FORMAT_VERSION + 1}")
    for readonly in (True, False):
        with pytest.raises(StoreTooNew, match="newer than this tenantctl") as caught:
            tenant.open_store(readonly=readonly)
        assert caught.value.version == STORE_FORMAT_VERSION + 1 and caught.value.hint == "upgrade tenantctl"


def test_init_home_makes_a_private_home_once_and_keeps_its_config(home):
    """The core of `tenantctl init`, without the CLI: what it made, returned as data."""
    import stat

    from tenantctl.operations.home import init_home

    first = init_home()
    assert (first.home, first.config_created, first.postgres_schema) == (home, True, None)
    assert first.config.read_text().startswith("# tenantctl global settings")
    assert (home / "registry.db").is_file() and (home / "tenants").is_dir() and (home / "logs").is_dir()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 and stat.S_IMODE(first.config.stat().st_mode) == 0o600
    first.config.write_text("search: {k: 3}\n")
    again = init_home()
    assert not again.config_created and again.config.read_text() == "search: {k: 3}\n"


def test_a_tenants_disk_bytes_count_its_uploads_too(cli, home):
    """`tenant show` counted the files at the top of the folder only: 32 MB of uploads showed as nothing."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    before = cli("tenant", "show", "acme", "--json").json()["disk_bytes"]
    uploads = home / "tenants" / "acme" / "uploads"
    uploads.mkdir()
    (uploads / "report.txt").write_bytes(b"x" * 50_000)
    (uploads / "elsewhere.txt").symlink_to("/etc/hostname")  # a link is not the tenant's bytes
    assert cli("tenant", "show", "acme", "--json").json()["disk_bytes"] == before + 50_000
