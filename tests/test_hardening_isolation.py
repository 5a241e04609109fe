"""Hardening (issue 8), isolation and operations: sources confined to what the operator allows, links
that leave a source skipped, imported archives that carry sources, triggers, views or escape sequences,
private file modes whatever the umask, leftovers of an interrupted delete."""

import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile

import pytest
import yaml

from tenantctl.errors import ExitCode

from .conftest import fast_home


def _docs(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1) if "." not in name else folder / name).write_text(text)
    return folder


def _hits(cli, tenant, query):
    result = cli("search", tenant, query, "--json", "-k", "10")
    assert result.code == 0, result
    return result.json()


# -- item 1: sources ---------------------------------------------------------------------------------

def test_source_add_refuses_the_home_and_other_tenants(cli, home, tmp_path):
    fast_home(cli, home)
    for name in ("acme", "evil"):
        assert cli("tenant", "create", name).code == 0
    uploads = home / "tenants" / "acme" / "uploads"
    uploads.mkdir()
    (uploads / "salaries.md").write_text("# Salaries\n\nThe CEO earns 900000.\n")
    for path in (home / "tenants" / "acme", uploads, home, home / "tenants", home.parent):
        result = cli("source", "add", "evil", path)
        assert result.code == ExitCode.USAGE and "source refused" in result.err, (path, result)
    result = cli("ingest", "evil", uploads)
    assert result.code == ExitCode.USAGE and "inside the tenantctl home" in result.err
    assert cli("source", "list", "evil", "--json").json() == []
    own = home / "tenants" / "evil" / "docs"
    _docs(own, **{"a.md": "# A\n\nOwn docs are fine.\n"})
    assert cli("source", "add", "evil", own).code == 0


def test_source_roots_allow_list(cli, home, tmp_path):
    allowed = tmp_path / "shares"
    fast_home(cli, home, f"ingest:\n  source_roots: [{allowed}]\n")
    cli("tenant", "create", "t")
    inside = _docs(allowed / "t", **{"a.md": "# A\n\nThe blue key opens door 7.\n"})
    outside = _docs(tmp_path / "etc", **{"passwd.md": "# Root\n\nroot password hunter2\n"})
    assert cli("source", "add", "t", inside).code == 0
    refused = cli("source", "add", "t", outside)
    assert refused.code == ExitCode.USAGE and "source_roots" in refused.err
    # The hint was about the tenantctl home, which the folder has nothing to do with.
    assert "Hint: use a folder under one of them, or add its folder to `ingest.source_roots`" in refused.err
    assert cli("ingest", "t", outside).code == ExitCode.USAGE
    # A source written into tenant.yaml by hand is refused at reindex, named, and the others go on.
    path = home / "tenants" / "t" / "tenant.yaml"
    data = yaml.safe_load(path.read_text())
    data["sources"].append({"path": str(outside)})
    path.write_text(yaml.safe_dump(data))
    run = cli("reindex", "t", "--json")
    assert run.code == ExitCode.PARTIAL and "source refused" in run.out
    assert not any("hunter2" in h["text"] for h in _hits(cli, "t", "root password hunter2"))
    assert any("door 7" in h["text"] for h in _hits(cli, "t", "blue key door"))


# -- item 2: links -----------------------------------------------------------------------------------

def test_links_leaving_a_source_are_skipped_and_named(cli, home, tmp_path):
    fast_home(cli, home)
    for name in ("acme", "mallory"):
        cli("tenant", "create", name)
    secret = _docs(tmp_path / "acme-docs", **{"payroll.md": "# Payroll\n\nThe payroll secret is PX-99.\n"})
    assert cli("ingest", "acme", secret).code == 0
    share = _docs(tmp_path / "share", **{"ok.md": "# OK\n\nThe lunch break is at noon.\n"})
    (share / "inner.md").symlink_to(share / "ok.md")  # inside the folder: followed
    (share / "stolen.md").symlink_to(secret / "payroll.md")  # another tenant's file
    (share / "store.json").symlink_to(home / "tenants" / "acme" / "manifest.json")  # into the home
    (share / "dir").symlink_to(secret, target_is_directory=True)
    result = cli("ingest", "mallory", share, "--json")
    assert result.code == 0, result
    files = {os.path.basename(f["path"]): f for f in result.json()["files"]}
    for name in ("stolen.md", "store.json", "dir"):
        assert files[name]["status"] == "skipped" and "link" in files[name]["reason"], files[name]
    plain = cli("ingest", "mallory", share)
    assert "skipped: " in plain.err and "stolen.md" in plain.err
    assert not any("PX-99" in h["text"] for h in _hits(cli, "mallory", "payroll secret PX-99"))
    assert any("noon" in h["text"] for h in _hits(cli, "mallory", "lunch break"))


def test_a_broken_link_inside_a_source_is_named(cli, home, tmp_path):
    """A link to a document that went away (inside the folder) was passed over without a word, while a link
    leaving the folder is named; a broken link of a type tenantctl does not read stays unnamed."""
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    share = _docs(tmp_path / "share", **{"ok.md": "# OK\n\nThe lunch break is at noon.\n"})
    (share / "policy.md").symlink_to("moved-away.md")
    (share / "old.log").symlink_to("gone.log")
    result = cli("ingest", "acme", share, "--json")
    files = {os.path.basename(f["path"]): f for f in result.json()["files"]}
    assert result.code == 0 and set(files) == {"ok.md", "policy.md"}, files
    assert files["policy.md"]["status"] == "skipped", files
    assert files["policy.md"]["reason"] == "broken symbolic link: its target moved-away.md does not exist"


def test_an_ingest_report_names_every_file_by_its_absolute_path(cli, home, tmp_path, monkeypatch):
    """Named relative to the working folder, a skipped link or an unsupported file was reported as given
    ("docs/x.txt") while the documents beside it were absolute."""
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    share = _docs(tmp_path / "docs", **{"ok.md": "# OK\n\nThe lunch break is at noon.\n", "notes.xyz": "x"})
    (share / "out.txt").symlink_to(home / "config.yaml")
    monkeypatch.chdir(tmp_path)
    result = cli("ingest", "acme", "docs", "docs/notes.xyz", "nowhere", "--json")
    files = {f["path"]: f["status"] for f in result.json()["files"]}
    assert files == {str(share / "ok.md"): "added", str(share / "out.txt"): "skipped",
                     str(share / "notes.xyz"): "failed", str(tmp_path / "nowhere"): "failed"}, result


def test_follow_links_is_an_explicit_choice_and_never_reaches_the_home(cli, home, tmp_path):
    fast_home(cli, home, "ingest:\n  follow_links: true\n")
    cli("tenant", "create", "t")
    elsewhere = _docs(tmp_path / "elsewhere", **{"x.md": "# X\n\nThe linked fact is 31337.\n"})
    share = _docs(tmp_path / "share", **{"ok.md": "# OK\n\nplain\n"})
    (share / "x.md").symlink_to(elsewhere / "x.md")
    (share / "reg.json").symlink_to(home / "tenants" / "t" / "tenant.yaml")
    result = cli("ingest", "t", share, "--json")
    files = {os.path.basename(f["path"]): f for f in result.json()["files"]}
    assert files["reg.json"]["status"] == "skipped"
    assert any("31337" in h["text"] for h in _hits(cli, "t", "linked fact"))


# -- items 1 and 3: imports ----------------------------------------------------------------------------

def _rewrite(archive, dest, **changes):
    """A copy of an export with members changed (bytes -> bytes), its export.json checksums updated —
    what an attacker who edits an archive would do."""
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    meta = json.loads(members.pop("export.json"))
    for name, change in changes.items():
        if name == "meta":
            change(meta)
        else:
            members[name] = change(members[name])
    meta["members"] = {n: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)} for n, b in members.items()}
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in [("export.json", json.dumps(meta).encode()), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _sql(tmp_path, *statements):
    def change(data: bytes) -> bytes:
        path = tmp_path / f"s{len(statements)}-{abs(hash(statements))}.db"
        path.write_bytes(data)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=DELETE")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return path.read_bytes()
    return change


@pytest.fixture
def exported(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    cli("ingest", "acme", _docs(tmp_path / "acme-docs", **{"a.md": "# A\n\nAcme's fact is 42.\n"}))
    uploads = home / "tenants" / "acme" / "uploads"
    uploads.mkdir()
    (uploads / "private.md").write_text("# Private\n\nThe acme upload secret is ZETA.\n")
    cli("tenant", "create", "src")
    cli("ingest", "src", _docs(tmp_path / "src-docs", **{"s.md": "# S\n\nSource fact.\n"}))
    archive = tmp_path / "src.tar.gz"
    assert cli("tenant", "export", "src", archive).code == 0
    return archive


def test_imported_sources_are_dropped(cli, home, tmp_path, exported):
    def sources(text: bytes) -> bytes:
        data = yaml.safe_load(text)
        data["sources"] = [{"path": "../acme/uploads"}, {"path": "/etc"}]
        return yaml.safe_dump(data).encode()

    bad = _rewrite(exported, tmp_path / "bad.tar.gz", **{"tenant.yaml": sources})
    result = cli("tenant", "import", bad, "--as", "evil")
    assert result.code == 0, result
    assert "sources from the archive were dropped" in result.err and "../acme/uploads" in result.err
    assert cli("source", "list", "evil", "--json").json() == []
    cli("reindex", "--all")
    assert not any("ZETA" in h["text"] for h in _hits(cli, "evil", "acme upload secret ZETA"))


@pytest.mark.parametrize("statements, named", [
    (("CREATE TRIGGER wipe AFTER INSERT ON usage BEGIN DELETE FROM usage; END",), "trigger 'wipe'"),
    (("CREATE TRIGGER burn AFTER INSERT ON usage BEGIN SELECT count(*) FROM chunks a, chunks b; END",),
     "trigger 'burn'"),
    (("CREATE VIEW v AS SELECT * FROM chunks",), "view 'v'"),
    (("CREATE TABLE extra (x)",), "table 'extra'"),
    (("CREATE INDEX slow ON chunks(text)",), "index 'slow'"),
    (("DROP TABLE sessions", "CREATE TABLE sessions (id TEXT, created_at, updated_at, title, x)"),
     "table 'sessions' (altered)"),
])
def test_imported_store_with_foreign_schema_is_refused(cli, home, tmp_path, exported, statements, named):
    bad = _rewrite(exported, tmp_path / "bad.tar.gz", **{"store.db": _sql(tmp_path, *statements)})
    result = cli("tenant", "import", bad, "--as", "evil")
    assert result.code == ExitCode.USAGE and named in result.err, result
    assert "evil" not in [t["id"] for t in cli("tenant", "list", "--json").json()]
    assert not any(p.name.startswith(".importing") for p in (home / "tenants").iterdir())


def test_display_name_escape_sequences(cli, home, tmp_path, exported):
    def rename(meta):
        meta["tenant"]["display_name"] = "Evil\x1b[2J\x1b]0;pwned\x07 Corp"

    bad = _rewrite(exported, tmp_path / "bad.tar.gz", meta=rename)
    assert cli("tenant", "import", bad, "--as", "evil").code == 0
    listed = cli("tenant", "list")
    assert "\x1b" not in listed.out and "\x07" not in listed.out and "Evil[2J]0;pwned Corp" in listed.out
    cli("tenant", "create", "named", "--name", "A\x1b[31mred")
    assert "\x1b" not in cli("tenant", "list").out


# -- item 8: modes -----------------------------------------------------------------------------------

def _loose(home):
    bad = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            bad.append(f"{path.relative_to(home.parent)} {oct(mode & 0o777)}")
    return bad


def test_everything_is_private_whatever_the_umask(cli, home, tmp_path, exported):
    from tenantctl.storage.tenants import create_tenant

    old = os.umask(0o022)
    try:
        create_tenant("core")  # the library alone, without the CLI's umask
        cli("tenant", "import", exported, "--as", "copy")
        cli("ingest", "copy", _docs(tmp_path / "more", **{"m.md": "# M\n\nmore\n"}))
        os.umask(0o000)
        create_tenant("wide")
    finally:
        os.umask(old)
    assert _loose(home) == [], _loose(home)
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}
    assert checks["permissions"]["status"] == "ok"
    (home / "tenants" / "acme" / "store.db").chmod(0o644)
    (home / "tenants" / "acme").chmod(0o755)
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}
    assert checks["privacy"]["status"] == "warn" and "store.db" in checks["privacy"]["detail"]
    assert "chmod -R go-rwx" in checks["privacy"]["fix"]


def test_init_makes_an_empty_home_folder_private(cli, home, tmp_path, monkeypatch):
    """`mkdir ~/tenantctl-home; tenantctl init` left the home 0755, and `doctor` warned about it."""
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    assert cli("init").code == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}
    assert "privacy" not in checks and checks["permissions"]["status"] == "ok", checks
    shared = tmp_path / "shared"  # a folder that already holds other things is left as it is
    (shared / "other").mkdir(parents=True)
    shared.chmod(0o755)
    monkeypatch.setenv("TENANTCTL_HOME", str(shared))
    assert cli("init").code == 0 and stat.S_IMODE(shared.stat().st_mode) == 0o755


# -- item 10: leftovers ------------------------------------------------------------------------------

def test_an_interrupted_delete_is_finished_and_reported(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "gone")
    cli("tenant", "create", "kept")
    trash = home / "tenants" / ".deleting-gone-999999-1700000000"  # a delete killed in its last step
    os.rename(home / "tenants" / "gone", trash)
    from tenantctl.storage import registry

    registry.remove("gone")
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}
    assert checks["leftovers"]["status"] == "warn" and ".deleting-gone" in checks["leftovers"]["detail"]
    assert cli("tenant", "delete", "kept", "--yes").code == 0
    assert not trash.exists()
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}
    assert checks["leftovers"]["status"] == "ok"
    mine = home / "tenants" / f".creating-x-{os.getpid()}"  # a live process's staging folder stays
    mine.mkdir()
    cli("tenant", "create", "again")
    assert mine.exists()


def _uploader(cli, home):
    """A new home with one tenant, acme, and a function that uploads `name=bytes` files into it as the
    server does, returning each file's status."""
    from tenantctl.config import load_config
    from tenantctl.ingestion.uploads import Upload, store_uploads
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "acme")
    tenant, cfg = open_tenant("acme"), load_config()

    def upload(**files):
        batch = [Upload(name, io.BytesIO(data), len(data)) for name, data in files.items()]
        summary = store_uploads(tenant, batch, cfg, max_file_bytes=1 << 20)
        return {f.path.rsplit("/", 1)[-1]: f.status for f in summary.files}

    return upload


def test_an_uploaded_file_that_fails_alone_is_not_kept(cli, home):
    """An empty, binary or unsupported file of an upload stayed in uploads/ (out of the tenant's reach)."""
    upload = _uploader(cli, home)
    first = upload(**{"a.md": b"# A\n\nThe gate code is 4711.\n", "e.txt": b"Old text.\n"})
    assert first == {"a.md": "added", "e.txt": "added"}
    statuses = upload(**{"e.txt": b"", "x.xyz": b"what", "bin.txt": bytes(range(256)) * 4})
    assert statuses == {"e.txt": "failed", "x.xyz": "failed", "bin.txt": "failed"}, statuses
    folder = home / "tenants" / "acme" / "uploads"
    assert sorted(p.name for p in folder.iterdir()) == ["a.md", "e.txt"]
    assert (folder / "e.txt").read_bytes() == b"Old text.\n"  # the version still indexed
    assert any("Old text" in h["text"] for h in _hits(cli, "acme", "old text"))


def test_files_a_killed_upload_left_unindexed_are_indexed_by_the_next_upload(cli, home):
    """`serve` killed between moving an upload's files into uploads/ and indexing them left them there
    unindexed (a replaced file's old version still answered) until the same files were uploaded again."""
    import subprocess
    import sys

    from tenantctl.ingestion.uploads import unindexed_uploads
    from tenantctl.storage.tenants import open_tenant

    upload = _uploader(cli, home)
    tenant = open_tenant("acme")
    assert upload(**{"a.md": b"# A\n\nThe gate code is 4711.\n"}) == {"a.md": "added"}
    folder = home / "tenants" / "acme" / "uploads"
    # What the killed server left: its staging folder, a new file and a new version moved into place.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (folder / f".incoming-{dead}-0a1b2c").mkdir()
    (folder / f".incoming-{dead}-0a1b2c" / ".previous-a.md").write_bytes((folder / "a.md").read_bytes())
    (folder / "a.md").write_text("# A\n\nThe gate code is now 9090.\n")
    (folder / "b.md").write_text("# B\n\nThe canteen opens at seven.\n")
    (folder / "empty.txt").write_text("")
    assert [p.name for p in unindexed_uploads(tenant)] == ["a.md", "b.md", "empty.txt"]
    verified = cli("verify", "acme", "--json")
    assert verified.code == 0, verified  # not a problem of the index: a note naming the fix
    (note,) = [n for n in verified.json()["tenants"][0]["notes"] if n.startswith("uploads/")]
    assert "3 uploaded files not indexed (a.md, b.md, empty.txt)" in note and "next upload" in note, note
    live = folder / f".incoming-{os.getpid()}-3d4e5f"  # an upload under way: its files are its own
    live.mkdir()
    assert unindexed_uploads(tenant) == []
    live.rmdir()

    statuses = upload(**{"c.md": b"# C\n\nParking is free.\n"})
    assert statuses == {"c.md": "added", "a.md": "updated", "b.md": "added", "empty.txt": "failed"}, statuses
    assert not (folder / "empty.txt").exists() and unindexed_uploads(tenant) == []
    assert not any(n.startswith("uploads/") for n in cli("verify", "acme", "--json").json()["tenants"][0]["notes"])
    assert sorted(p.name for p in folder.iterdir()) == ["a.md", "b.md", "c.md"]  # the dead staging folder went
    assert any("9090" in h["text"] for h in _hits(cli, "acme", "gate code"))
    assert any("canteen" in h["text"] for h in _hits(cli, "acme", "canteen opens"))
    assert not any("4711" in h["text"] for h in _hits(cli, "acme", "gate code"))
