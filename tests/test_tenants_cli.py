import os
import shutil
import time

import pytest
import yaml

from tenantctl.errors import ExitCode

from .conftest import fast_home


@pytest.mark.parametrize("bad", ["../x", "A B", "", "x/../y", "-rf", "Upper", "a" * 64, "_x", "x y", "é"])
def test_bad_tenant_ids_are_refused_before_touching_disk(cli, home, bad):
    # "--" makes even "-rf" reach the id check instead of the option parser.
    for args in (["tenant", "create", "--", bad], ["tenant", "show", "--", bad], ["ingest", "--", bad, "."],
                 ["search", "--", bad, "q"], ["tenant", "delete", "--yes", "--", bad]):
        result = cli(*args)
        assert result.code == ExitCode.USAGE, (args, result)
        assert "invalid tenant id" in result.err
    assert not (home / "tenants").exists() or not any((home / "tenants").iterdir())


def test_option_like_id_without_double_dash_is_a_usage_error(cli):
    assert cli("tenant", "create", "-rf").code == ExitCode.USAGE


def test_good_ids_accepted(cli):
    for good in ["a", "0", "acme-hr", "x_y-z9", "a" * 63]:
        assert cli("tenant", "create", good).code == 0


def test_create_list_show_delete(cli, home):
    assert cli("tenant", "list", "--json").json() == []
    assert cli("tenant", "create", "acme", "--name", "Acme Corp").code == 0
    again = cli("tenant", "create", "acme")
    assert again.code == ExitCode.USAGE and "already exists" in again.err
    rows = cli("tenant", "list", "--json").json()
    assert [r["id"] for r in rows] == ["acme"] and rows[0]["display_name"] == "Acme Corp"
    info = cli("tenant", "show", "acme", "--json").json()
    assert info["documents"] == 0 and info["status"] == "active" and info["index"] is None
    assert yaml.safe_load(cli("tenant", "show", "acme").out) == info  # the plain form is YAML of the same
    folder = home / "tenants" / "acme"
    assert (folder / "tenant.yaml").exists() and (folder / "store.db").exists()

    refused = cli("tenant", "delete", "acme")  # no terminal: --yes is required
    assert refused.code == ExitCode.USAGE and "--yes" in refused.err and folder.exists()
    assert "Error: not confirmed, and no terminal to ask: Delete tenant 'acme' and all its data?" in refused.err
    assert cli("tenant", "delete", "acme", "--yes").code == 0
    assert not folder.exists()
    assert cli("tenant", "list", "--json").json() == []
    missing = cli("tenant", "show", "acme")
    assert missing.code == ExitCode.NOT_FOUND and "does not exist" in missing.err and "Hint:" in missing.err


def test_unknown_tenant_is_named_with_a_hint(cli):
    result = cli("search", "nobody", "hello")
    assert result.code == ExitCode.NOT_FOUND
    assert "tenant 'nobody' does not exist" in result.err
    assert "tenantctl create nobody" in result.err


def test_broken_config_is_one_clear_line(cli, home):
    cli("init")
    (home / "config.yaml").write_text("chunking:\n  max_tokens: lots\n", encoding="utf-8")
    cli("tenant", "create", "t")
    result = cli("search", "t", "hello")
    assert result.code == ExitCode.ERROR
    assert "config.yaml: chunking.max_tokens" in result.err and "Hint:" in result.err
    (home / "config.yaml").write_text("chunking: [unclosed\n", encoding="utf-8")
    result = cli("search", "t", "hello")
    assert result.code == ExitCode.ERROR and "is not valid YAML" in result.err


def test_init_writes_the_example_config_which_parses_to_the_defaults(cli, home):
    from tenantctl.config import Config, load_config

    assert cli("init").code == 0
    assert load_config() == Config()
    text = (home / "config.yaml").read_text(encoding="utf-8")
    assert "max_tokens" in text and "#" in text
    assert cli("init").code == 0  # repeating a finished operation is success


def test_manifest_records_embedder_chunking_and_checksum(cli, home, tmp_path):
    import hashlib
    import json

    cli("init")
    (home / "config.yaml").write_text("embedder:\n  name: hashing-64\nchunking:\n  max_tokens: 120\n")
    cli("tenant", "create", "t")
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    assert cli("ingest", "t", tmp_path / "a.md").code == 0
    folder = home / "tenants" / "t"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["embedder"] == {"name": "hashing-64", "dim": 64, "normalized": True, "metric": "inner_product"}
    assert manifest["chunking"] == "v1:max=120:overlap=30" and manifest["vectors"] == 1
    index_file = folder / manifest["index_file"]
    assert hashlib.sha256(index_file.read_bytes()).hexdigest() == manifest["files"][index_file.name]["sha256"]
    assert cli("tenant", "show", "t", "--json").json()["index"]["chunking"] == "v1:max=120:overlap=30"


def test_top_level_create_is_tenant_create(cli, home):
    made = cli("create", "acme", "--name", "Acme Corp", "--json")
    assert made.code == 0 and made.json()["id"] == "acme" and made.json()["display_name"] == "Acme Corp"
    assert (home / "tenants" / "acme" / "store.db").exists()
    again = cli("create", "acme")
    assert again.code == ExitCode.USAGE and "already exists" in again.err
    assert cli("create", "--", "../x").code == ExitCode.USAGE
    assert cli("tenant", "create", "beta").code == 0
    assert [r["id"] for r in cli("tenant", "list", "--json").json()] == ["acme", "beta"]


def test_tenant_list_has_a_header_on_a_terminal_only(cli, monkeypatch):
    import sys

    cli("create", "acme", "--name", "Acme Corp")
    piped = cli("tenant", "list").out.splitlines()
    assert len(piped) == 1 and piped[0].split()[:2] == ["acme", "active"] and piped[0].endswith("Acme Corp")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    shown = cli("tenant", "list").out.splitlines()
    assert shown[0].split() == ["ID", "STATUS", "CREATED", "NAME"] and shown[1:] == piped
    cli("create", "evil", "--name", "\x1b]0;pwned\x07Evil\x1b[2J")
    listed = cli("tenant", "list").out
    assert "\x1b" not in listed and "\x07" not in listed and "?]0;pwned?Evil?[2J" in listed


def test_show_names_a_damaged_or_missing_store(cli, home):
    cli("create", "acme")
    store = home / "tenants" / "acme" / "store.db"
    store.write_bytes(b"not a database at all" * 100)
    damaged = cli("tenant", "show", "acme")
    assert damaged.code == ExitCode.ERROR and "store" in damaged.err and "damaged" in damaged.err
    assert "Hint:" in damaged.err and "Traceback" not in damaged.err
    store.unlink()
    missing = cli("tenant", "show", "acme")
    assert missing.code == ExitCode.ERROR and "store.db cannot be read" in missing.err
    assert not store.exists()  # looking never creates a store


def test_postgres_asked_for_without_its_settings_names_them(cli, home):
    """`create --store postgres` and `tenant move --to postgres` said "this tenant lives in PostgreSQL"."""
    fast_home(cli, home)
    assert cli("create", "local").code == 0
    for args in (("create", "acme", "--store", "postgres"), ("tenant", "move", "local", "--to", "postgres")):
        result = cli(*args)
        assert result.code == 1 and "PostgreSQL is not configured: config.yaml has no `postgres:`" in result.err
        assert "lives in" not in result.err and "Scaling out" in result.err, result
    assert [t["id"] for t in cli("tenant", "list", "--json").json()] == ["local"]


def test_exit_codes_of_repeated_operations_are_the_readmes(cli, home, tmp_path):
    """README's exit-code table: repeating a finished operation is success; what a first delete or
    removal took is not found the second time; an id already taken is a usage error."""
    from tenantctl.errors import ExitCode

    assert cli("init").code == 0 and cli("init").code == 0
    assert cli("tenant", "create", "acme").code == 0
    assert cli("tenant", "create", "acme").code == ExitCode.USAGE
    assert [cli("tenant", "suspend", "acme").code for _ in range(2)] == [0, 0]
    assert [cli("tenant", "resume", "acme").code for _ in range(2)] == [0, 0]
    key = cli("key", "create", "acme", "--json").json()["id"]
    assert [cli("key", "revoke", key).code for _ in range(2)] == [0, 0]
    docs = tmp_path / "docs"
    docs.mkdir()
    assert [cli("source", "add", "acme", docs).code for _ in range(2)] == [0, 0]
    assert [cli("source", "remove", "acme", docs).code for _ in range(2)] == [0, ExitCode.NOT_FOUND]
    assert [cli("tenant", "delete", "acme", "--yes").code for _ in range(2)] == [0, ExitCode.NOT_FOUND]


@pytest.mark.parametrize("how", ["create", "import"])
def test_a_new_tenant_never_inherits_the_keys_of_an_id_dropped_by_hand(cli, home, tmp_path, how):
    """A registry row dropped with sqlite3 (doctor's old fix for a tenant whose folder was gone) left the
    tenant's API keys: a tenant created or imported later under that id answered to them."""
    import shutil
    import sqlite3

    fast_home(cli, home)
    assert cli("tenant", "create", "other").code == 0
    assert cli("tenant", "export", "other", tmp_path / "other.tar.gz").code == 0
    assert cli("tenant", "create", "acme").code == 0
    assert cli("key", "create", "acme", "--name", "old-owner").code == 0
    assert cli("key", "create", "other").code == 0
    shutil.rmtree(home / "tenants" / "acme")
    with sqlite3.connect(home / "registry.db") as conn:
        conn.execute("DELETE FROM tenants WHERE id = 'acme'")
    if how == "create":
        assert cli("tenant", "create", "acme").code == 0
    else:
        assert cli("tenant", "import", tmp_path / "other.tar.gz", "--as", "acme").code == 0
    assert cli("key", "list", "acme", "--json").json() == []
    assert len(cli("key", "list", "other", "--json").json()) == 1  # another tenant's keys stay


def test_init_registers_again_the_tenant_folders_a_lost_registry_db_left(cli, home, tmp_path):
    """registry.db deleted: every tenant "does not exist", `doctor` advised restoring a backup nothing makes
    (an export holds one tenant, not the registry), and no command brought a tenant back. `init` registers
    each folder holding a store and a tenant.yaml of its own id, active and without keys."""
    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    assert cli("tenant", "create", "acme", "--name", "Acme Robotics").code == 0
    assert cli("ingest", "acme", docs).code == 0 and cli("tenant", "create", "beta").code == 0
    assert cli("key", "create", "acme").code == 0 and cli("tenant", "suspend", "beta").code == 0
    # a copy whose tenant.yaml names another id is no tenant of its own
    shutil.copytree(home / "tenants" / "acme", home / "tenants" / "stray")
    for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
        (home / name).unlink(missing_ok=True)
    assert cli("search", "acme", "gate code").code == ExitCode.NOT_FOUND
    assert cli("init", "--json").json()["registered"] == []  # written just now: a `create` may be under way
    for settings in (home / "tenants").glob("*/tenant.yaml"):
        os.utime(settings, (time.time() - 60, time.time() - 60))
    done = cli("init", "--json")
    assert done.code == 0 and done.json()["registered"] == ["acme", "beta"], done
    listed = {t["id"]: t for t in cli("tenant", "list", "--json").json()}
    assert set(listed) == {"acme", "beta"} and listed["beta"]["status"] == "active", listed
    assert cli("key", "list", "--json").json() == [] and listed["acme"]["display_name"] == "Acme Robotics"
    assert "4711" in cli("search", "acme", "gate code", "--json").json()[0]["text"]
    assert cli("init", "--json").json()["registered"] == []  # repeating it changes nothing
    checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}
    assert "stray" in checks["orphan folders"]["detail"] and "`tenantctl init`" in checks["orphan folders"]["fix"]


def test_a_tenant_whose_tenant_yaml_went_is_told_how_to_write_one_not_to_be_deleted(cli, home, tmp_path):
    """Its store (every document) in place, a tenant without tenant.yaml was "registered, but its folder is
    missing or lacks tenant.yaml" with the fix "restore the folder from a backup, or remove the tenant with
    `tenantctl tenant delete`", and its API key got 401 "the key's tenant does not exist ... deleted"."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    assert cli("tenant", "create", "acme").code == 0 and cli("ingest", "acme", docs).code == 0
    key = cli("key", "create", "acme", "--json").json()["key"]
    (home / "tenants" / "acme" / "tenant.yaml").unlink()
    searched = cli("search", "acme", "gate code")
    assert searched.code == ExitCode.NOT_FOUND and "lacks its tenant.yaml; its store is there" in searched.err
    assert "write a tenant.yaml holding `id: acme`" in searched.err and "delete" not in searched.err, searched
    checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}
    assert "write a tenant.yaml holding `id: acme`" in checks["tenant acme"]["fix"], checks["tenant acme"]
    with TestClient(create_app(load_config())) as client:
        r = client.post("/v1/search", json={"query": "gate code"}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 503 and "contact the server's operator" in r.json()["hint"], r.text
    (home / "tenants" / "acme" / "tenant.yaml").write_text("id: acme\n")  # what the hint says
    assert "4711" in cli("search", "acme", "gate code", "--json").json()[0]["text"]


def test_wait_takes_seconds_not_nan_or_a_negative_time(cli, home, tmp_path):
    """`--wait -5` waited for ever for a busy tenant (the lock library reads a negative time-out as no limit) and
    `--wait nan` ended in a ValueError traceback; both are usage errors now, on every command that waits."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    for args in (("ingest", "acme", docs), ("reindex", "acme"), ("repair", "acme"), ("tenant", "delete", "acme")):
        for value in ("-5", "nan"):
            result = cli(*args, "--wait", value)
            assert result.code == ExitCode.USAGE and "is not a number of seconds" in result.err, (args, result)
    assert cli("ingest", "acme", docs, "--wait", "inf").code == 0


def test_a_usage_row_that_cannot_be_written_is_named_in_the_log(cli, home, tmp_path, monkeypatch):
    """A tenant folder that took reads but no writes (a read-only mount whose WAL files were there) answered
    searches and questions with no usage row and no trace of the one missing from its bill."""
    import json
    import sqlite3

    from tenantctl.storage.store import Store

    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    assert cli("tenant", "create", "acme").code == 0 and cli("ingest", "acme", docs).code == 0

    def refuse(self, rows):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Store, "record_usage", refuse)
    assert cli("search", "acme", "gate code").code == 0
    lines = [json.loads(line) for line in (home / "logs" / "tenantctl.jsonl").read_text().splitlines()]
    search = [line for line in lines if line["event"] == "search"][-1]
    assert search["level"] == "warning" and "readonly database" in search["usage_not_recorded"], search
