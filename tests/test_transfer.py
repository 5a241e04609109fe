"""`tenant export` / `tenant import`: round trips, and refusal of unsafe or altered archives."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from tenantctl.errors import ExitCode

QUERIES = ["quick brown fox", "hydraulic pressure sensor", "annual leave days", "E-417"]
DOCS = {
    "fox.txt": "The quick brown fox jumps over the lazy dog. Foxes are small omnivorous mammals.\n",
    "pump.md": "# Press line\n\nError E-417 means the hydraulic pressure sensor reads out of range.\n",
    "leave.txt": "Employees accrue 23 days of paid annual leave per calendar year.\n",
}


def _tenant(cli, home: Path, tmp_path: Path, tenant_id: str = "acme") -> Path:
    """A home on the model-free embedder with one ingested tenant; returns the documents folder."""
    assert cli("init").code == 0
    (home / "config.yaml").write_text("embedder:\n  name: hashing-64\n", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    assert cli("tenant", "create", tenant_id, "--name", "Acme Corp").code == 0
    result = cli("ingest", tenant_id, docs)
    assert result.code == 0, result
    return docs


def _searches(cli, tenant_id: str) -> list:
    results = []
    for query in QUERIES:
        result = cli("search", tenant_id, query, "-k", "5", "--json")
        assert result.code == 0, result
        results.append(result.json())
    assert any(results), "the searches found nothing: the comparison would prove nothing"
    return results


def _show(cli, tenant_id: str) -> dict:
    info = cli("tenant", "show", tenant_id, "--json").json()
    return {k: info[k] for k in ("display_name", "status", "created_at", "documents", "chunks", "index")}


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _write_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def _state(home: Path) -> tuple[list[str], list[str]]:
    """Everything in tenants/ (work folders included) and every registry row."""
    folders = sorted(p.name for p in (home / "tenants").iterdir())
    with sqlite3.connect(home / "registry.db") as conn:
        rows = [r[0] for r in conn.execute("SELECT id FROM tenants ORDER BY id")]
    return folders, rows


def test_export_holds_the_tenant_files_and_their_checksums(cli, home, tmp_path):
    import hashlib

    _tenant(cli, home, tmp_path)
    archive = tmp_path / "out" / "acme.tar.gz"
    archive.parent.mkdir()
    result = cli("tenant", "export", "acme", archive, "--json")
    assert result.code == 0, result
    summary = result.json()
    assert summary["tenant"] == "acme" and summary["documents"] == 3 and summary["file"] == str(archive)
    assert [p.name for p in archive.parent.iterdir()] == ["acme.tar.gz"]  # no temp files left beside it

    members = _members(archive)
    index_names = [n for n in members if n.startswith("index-")]
    assert len(index_names) == 1
    assert set(members) == {"export.json", "tenant.yaml", "store.db", "manifest.json", index_names[0]}
    meta = json.loads(members["export.json"])
    assert meta["format_version"] == 1 and meta["tenantctl_version"]
    assert meta["tenant"] == {"id": "acme", "status": "active", "display_name": "Acme Corp",
                              "created_at": meta["tenant"]["created_at"]}
    assert meta["exported_at"].endswith("Z")
    assert set(meta["members"]) == set(members) - {"export.json"}
    for name, entry in meta["members"].items():
        assert entry["sha256"] == hashlib.sha256(members[name]).hexdigest()
        assert entry["bytes"] == len(members[name])
    assert json.loads(members["manifest.json"])["index_file"] == index_names[0]


def test_export_copies_what_still_sits_in_the_write_ahead_log(cli, home, tmp_path):
    _tenant(cli, home, tmp_path)
    writer = sqlite3.connect(home / "tenants" / "acme" / "store.db", isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO meta VALUES ('probe', 'in the wal')")
        assert (home / "tenants" / "acme" / "store.db-wal").stat().st_size > 0
        archive = tmp_path / "acme.tar.gz"
        assert cli("tenant", "export", "acme", archive).code == 0
    finally:
        writer.close()
    copy = tmp_path / "copy.db"
    copy.write_bytes(_members(archive)["store.db"])
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone() == ("in the wal",)


def test_export_waits_for_the_writer_lock(cli, home, tmp_path):
    from tenantctl.storage.tenants import open_tenant

    _tenant(cli, home, tmp_path)
    archive = tmp_path / "acme.tar.gz"
    with open_tenant("acme").write_lock():
        result = cli("tenant", "export", "acme", archive, "--wait", "0.2")
    assert result.code == ExitCode.BUSY and "busy" in result.err
    assert not archive.exists() and list(tmp_path.glob(".acme.tar.gz*")) == []
    missing = cli("tenant", "export", "nobody", archive)
    assert missing.code == ExitCode.NOT_FOUND and not archive.exists()


def test_round_trip_export_delete_import_gives_the_same_tenant(cli, home, tmp_path):
    _tenant(cli, home, tmp_path)
    assert cli("tenant", "suspend", "acme").code == 0
    before, shown = _searches(cli, "acme"), _show(cli, "acme")
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    assert cli("tenant", "delete", "acme", "--yes").code == 0
    assert cli("tenant", "list", "--json").json() == []

    result = cli("tenant", "import", archive)
    assert result.code == 0, result
    assert "Imported tenant acme" in result.out
    assert _show(cli, "acme") == shown  # status (suspended), name, created_at, counts, index manifest
    assert _searches(cli, "acme") == before
    assert sorted(p.name for p in (home / "tenants").iterdir()) == ["acme"]  # no staging folder left


def test_import_as_a_new_id_while_the_original_exists(cli, home, tmp_path):
    import yaml

    _tenant(cli, home, tmp_path)
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    result = cli("tenant", "import", archive, "--as", "acme-copy", "--json")
    assert result.code == 0, result
    info = result.json()
    assert info["tenant"] == "acme-copy" and info["source_tenant"] == "acme" and info["documents"] == 3

    text = (home / "tenants" / "acme-copy" / "tenant.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["id"] == "acme-copy"
    assert yaml.safe_load((home / "tenants" / "acme" / "tenant.yaml").read_text(encoding="utf-8"))["id"] == "acme"
    assert [r["id"] for r in cli("tenant", "list", "--json").json()] == ["acme", "acme-copy"]
    assert _searches(cli, "acme-copy") == _searches(cli, "acme")
    assert _show(cli, "acme-copy") == _show(cli, "acme")

    numeric = cli("tenant", "import", archive, "--as", "2025")  # YAML would read a bare 2025 as a number
    assert numeric.code == 0, numeric
    assert cli("tenant", "show", "2025", "--json").json()["id"] == "2025"


def test_an_import_into_a_home_without_the_tenant_s_pilot_model_says_so(cli, home, tmp_path, monkeypatch):
    """A tenant answering with a pilot model (`answer.model: pilot`) imported into a home whose config.yaml
    has no such entry: the import said nothing, and every question then failed ("model 'pilot' is not
    configured")."""
    from .conftest import set_tenant_yaml

    _tenant(cli, home, tmp_path)
    with (home / "config.yaml").open("a") as config:
        config.write("models:\n  default: {}\n  pilot: {n_ctx: 1024}\n")
    set_tenant_yaml(home, "acme", answer={"model": "pilot"})
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    assert cli("tenant", "import", archive, "--as", "acme-copy", "--json").json()["unknown_model"] is None

    other = tmp_path / "other-home"
    monkeypatch.setenv("TENANTCTL_HOME", str(other))
    assert cli("init").code == 0
    (other / "config.yaml").write_text("embedder:\n  name: hashing-64\n", encoding="utf-8")
    result = cli("tenant", "import", archive)
    assert result.code == 0, result
    assert "acme: its answer.model 'pilot' is not under `models:` in this home's config.yaml" in result.err
    assert str(other / "tenants" / "acme" / "tenant.yaml") in result.err
    assert cli("tenant", "import", archive, "--as", "acme-2", "--json").json()["unknown_model"] == "pilot"


def test_an_import_names_the_tool_files_the_export_does_not_carry(cli, home, tmp_path):
    """A tenant's sql tool reads a file in its folder, which no export carries: the import said nothing, and
    the tool failed at every question (a note, "file not found") until someone noticed."""
    from .conftest import set_tenant_yaml

    _tenant(cli, home, tmp_path)
    (home / "tenants" / "acme" / "stock.csv").write_text("item,stock\nKayak,3\n", encoding="utf-8")
    set_tenant_yaml(home, "acme", tools=[{"name": "stock", "kind": "sql", "when": "(?i)stock", "file": "stock.csv",
                                          "query": "SELECT * FROM data"}])
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    result = cli("tenant", "import", archive, "--as", "copy")
    assert result.code == 0, result
    assert f"copy: its tools' data files are not in an export (stock.csv): copy them into {home / 'tenants' / 'copy'}" \
        in result.err


def test_an_import_under_a_new_id_leaves_the_usage_history_with_the_source(cli, home, tmp_path):
    """`import --as NEW` copied acme's usage history: the all-tenant `usage` report counted it twice."""
    _tenant(cli, home, tmp_path)
    _searches(cli, "acme")
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    history = {r["operation"]: r["events"] for r in cli("usage", "--tenant", "acme", "--json").json()["usage"]}
    assert history == {"ingest": 1, "search": len(QUERIES)}

    result = cli("tenant", "import", archive, "--as", "acme-copy")
    assert result.code == 0 and f"{1 + len(QUERIES)} usage events of acme stay with acme" in result.err, result
    assert cli("usage", "--tenant", "acme-copy", "--json").json()["usage"] == []  # nothing of acme's
    report = cli("usage", "--json").json()["usage"]
    assert {r["tenant"] for r in report} == {"acme"} and sum(r["events"] for r in report) == 1 + len(QUERIES)
    cli("search", "acme-copy", "fox", "--json")
    assert [(r["tenant"], r["operation"], r["events"]) for r in cli("usage", "--tenant", "acme-copy", "--json")
            .json()["usage"]] == [("acme-copy", "search", 1)]  # its own history starts at the import

    assert cli("tenant", "delete", "acme", "--yes").code == 0
    same = cli("tenant", "import", archive, "--json")  # under its own id: the tenant, history and all
    assert same.code == 0 and same.json()["usage_left_behind"] == 0, same
    assert {r["operation"]: r["events"] for r in cli("usage", "--tenant", "acme", "--json").json()["usage"]} == history


# -- refusals -----------------------------------------------------------------------------------------


def _valid_entries(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(_file(name), data) for name, data in _members(archive).items()]


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


def _tampered(entries):
    out = []
    for info, data in entries:
        if info.name == "tenant.yaml":
            assert b"Acme Corp" in data
            data = data.replace(b"Acme Corp", b"Evil Corp")  # same size: only the checksum tells
        out.append((info, data))
    return out


def _resized(entries):
    return [(i, d + b"\n# more\n" if i.name == "store.db" else d) for i, d in entries]


def _unlisted(entries):
    return [(i, d) for i, d in entries if i.name != "export.json"]


def _bad_meta(entries):
    return [(i, b"{not json" if i.name == "export.json" else d) for i, d in entries]


BAD_ARCHIVES = {
    "dotdot": (lambda e: [*e, (_file("../evil"), b"pwned")], "'..' component"),
    "absolute": (lambda e: [*e, (_file("/tmp/tenantctl-evil"), b"pwned")], "absolute path"),
    "symlink": (lambda e: [*e, (_symlink("manifest.json", "/etc/passwd"), None)], "symbolic link"),
    "symlink-only": (lambda e: [(i, d) for i, d in e if i.name != "tenant.yaml"]
                     + [(_symlink("tenant.yaml", "../../config.yaml"), None)], "symbolic link"),
    "hardlink": (lambda e: [*e, (_hardlink("evil", "/etc/passwd"), None)], "hard link"),
    "extra-member": (lambda e: [*e, (_file("notes.txt"), b"hello")], "unexpected member 'notes.txt'"),
    "tampered-checksum": (_tampered, "checksum mismatch for tenant.yaml"),
    "resized-member": (_resized, "checksum mismatch: store.db"),
    "no-export-json": (_unlisted, "has no export.json"),
    "bad-export-json": (_bad_meta, "export.json cannot be read"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_unsafe_or_altered_archives_are_refused_leaving_nothing_behind(cli, home, tmp_path, case):
    _tenant(cli, home, tmp_path)
    good = tmp_path / "good.tar.gz"
    assert cli("tenant", "export", "acme", good).code == 0
    build, message = BAD_ARCHIVES[case]
    bad = _write_tar(tmp_path / f"{case}.tar.gz", build(_valid_entries(good)))
    before = _state(home)

    result = cli("tenant", "import", bad, "--as", "fresh")
    assert result.code == ExitCode.USAGE, result
    assert message in result.err, result
    assert [line for line in result.err.splitlines() if line.startswith("Error:")], result
    assert "Hint:" in result.err
    assert _state(home) == before  # no folder (staging included), no registry row
    assert not (tmp_path / "evil").exists() and not (home / "evil").exists()
    assert not Path("/tmp/tenantctl-evil").exists()


def test_not_a_tarball_is_refused(cli, home, tmp_path):
    _tenant(cli, home, tmp_path)
    before = _state(home)
    for name, data in {"notes.tar.gz": b"just some text\n", "empty.tar.gz": b"",
                       "truncated.tar.gz": b"\x1f\x8b\x08\x00garbage"}.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = cli("tenant", "import", path)
        assert result.code == ExitCode.USAGE, (name, result)
        assert "is not a tenantctl export" in result.err and "Hint:" in result.err, result
        assert _state(home) == before
    missing = cli("tenant", "import", tmp_path / "nope.tar.gz")
    assert missing.code == ExitCode.USAGE and "does not exist" in missing.err


def test_an_export_is_never_written_into_a_tenant_s_folder(cli, home, tmp_path):
    """`tenant export acme tenants/globex/uploads/x.csv` wrote acme's data into globex's folder."""
    _tenant(cli, home, tmp_path)
    assert cli("tenant", "create", "globex").code == 0
    (home / "tenants" / "globex" / "uploads").mkdir()
    for dest in (home / "tenants" / "globex" / "uploads" / "x.csv", home / "tenants" / "acme" / "self.tar.gz"):
        result = cli("tenant", "export", "acme", dest)
        assert result.code == ExitCode.USAGE and "is inside the tenants' folders" in result.err, result
        assert not dest.exists() and not list(dest.parent.glob(".*tmp"))
    registry = (home / "registry.db").read_bytes()
    for dest in (home / "registry.db", home / "registry.db-wal", home / "config.yaml", home / "logs" / "x.tar.gz"):
        result = cli("tenant", "export", "acme", dest)  # the registry was replaced by the archive
        assert result.code == ExitCode.USAGE and "the tenantctl home's own files" in result.err, result
    assert (home / "registry.db").read_bytes() == registry and not (home / "registry.db-wal").exists()
    assert cli("tenant", "list").code == 0
    assert cli("tenant", "export", "acme", home / "acme.tar.gz").code == 0  # a new file beside them is fine
    assert cli("tenant", "export", "acme", tmp_path / "acme.tar.gz").code == 0


def test_an_export_replaces_an_earlier_export_but_no_other_file(cli, home, tmp_path):
    """`tenant export acme ~/docs/acme/handbook.pdf` (a slip) replaced the handbook with the archive."""
    _tenant(cli, home, tmp_path)
    handbook = tmp_path / "handbook.pdf"
    handbook.write_bytes(b"%PDF-1.4 the handbook")
    other = tmp_path / "backup.tar.gz"  # a .tar.gz of something else
    with tarfile.open(other, "w:gz") as tar:
        tar.addfile(_file("notes.txt"), io.BytesIO(b"x" * 10))
    kept = {path: path.read_bytes() for path in (handbook, other)}
    for path in kept:
        result = cli("tenant", "export", "acme", path)
        assert result.code == ExitCode.USAGE and "exists and is not a tenantctl export: not replaced" in result.err
        assert path.read_bytes() == kept[path] and not list(tmp_path.glob(".*tmp"))
    nightly = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", nightly).code == 0
    assert cli("tenant", "export", "acme", nightly).code == 0  # last night's export is replaced
    empty = tmp_path / "mktemp.out"
    empty.touch()  # `f=$(mktemp); tenantctl tenant export acme "$f"`
    assert cli("tenant", "export", "acme", empty).code == 0 and "export.json" in _members(empty)


def test_existing_or_invalid_ids_are_refused(cli, home, tmp_path):
    _tenant(cli, home, tmp_path)
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    before = _state(home)

    exists = cli("tenant", "import", archive)
    assert exists.code == ExitCode.USAGE and "tenant 'acme' already exists" in exists.err and "--as" in exists.err
    for bad in ["../x", "Upper", "a b"]:
        invalid = cli("tenant", "import", archive, "--as", bad)
        assert invalid.code == ExitCode.USAGE and "invalid tenant id" in invalid.err, invalid
    assert _state(home) == before
    # An orphan folder of that id (no registry row) also blocks the import.
    (home / "tenants" / "stray").mkdir()
    assert cli("tenant", "import", archive, "--as", "stray").code == ExitCode.USAGE
    assert list((home / "tenants" / "stray").iterdir()) == []

    # An export naming an invalid id cannot be imported under it, but can be under --as.
    entries = []
    for info, data in _valid_entries(archive):
        if info.name == "export.json":
            meta = json.loads(data)
            meta["tenant"]["id"] = "../../etc"
            data = json.dumps(meta).encode()
        entries.append((info, data))
    renamed = _write_tar(tmp_path / "renamed.tar.gz", entries)
    result = cli("tenant", "import", renamed)
    assert result.code == ExitCode.USAGE and "invalid tenant id" in result.err
    assert cli("tenant", "import", renamed, "--as", "fine").code == 0


# -- the real embedding model ---------------------------------------------------------------------------


@pytest.mark.slow
def test_round_trip_on_the_real_model_gives_identical_search_results(cli, samples, home, tmp_path, monkeypatch):
    queries = ["How many days of paid annual leave per year?", "hotel limit per night in New York City",
               "learning budget for courses and conferences"]

    def searches(tenant_id: str) -> list:
        return [cli("search", tenant_id, q, "-k", "5", "--json").json() for q in queries]

    original = searches("acme-hr")
    assert all(original)
    first = tmp_path / "acme-hr.tar.gz"
    assert cli("tenant", "export", "acme-hr", first).code == 0  # from the shared sample home, left as is

    monkeypatch.setenv("TENANTCTL_HOME", str(home))  # a fresh home: the sample home stays untouched
    assert cli("tenant", "import", first).code == 0
    assert searches("acme-hr") == original

    second = tmp_path / "again.tar.gz"
    assert cli("tenant", "export", "acme-hr", second).code == 0
    assert cli("tenant", "delete", "acme-hr", "--yes").code == 0
    assert cli("tenant", "import", second).code == 0
    assert searches("acme-hr") == original


def test_uploads_are_found_again_after_the_home_moved_or_an_import_under_another_id(cli, home, tmp_path, monkeypatch):
    """Documents in a tenant's uploads/ are keyed by absolute path. After `mv` of the home, search named the
    old path, verify took every upload for one a killed server left, and the next upload indexed them all
    again beside themselves; an import `--as` another id named the source tenant's folder."""
    import shutil

    _tenant(cli, home, tmp_path)
    uploads = home / "tenants" / "acme" / "uploads"
    uploads.mkdir()
    (uploads / "gate.md").write_text("# Gate\n\nThe warehouse gate code is 4711-KESTREL.\n", encoding="utf-8")
    assert cli("ingest", "acme", uploads).code == 0
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0

    moved = tmp_path / "moved-home"
    shutil.move(home, moved)
    monkeypatch.setenv("TENANTCTL_HOME", str(moved))
    assert "not indexed" not in cli("verify", "acme").out  # read-only, before any command wrote the store
    hits = cli("search", "acme", "warehouse gate code", "--json").json()
    assert hits[0]["path"] == str(moved / "tenants" / "acme" / "uploads" / "gate.md")
    assert "not indexed" not in cli("verify", "acme").out
    again = cli("ingest", "acme", moved / "tenants" / "acme" / "uploads", "--json").json()
    assert (again["added"], again["skipped"]) == (0, 1)

    copy = tmp_path / "copied-home"  # `cp -r`: the files' times are not kept
    shutil.copytree(moved, copy, copy_function=shutil.copy)
    monkeypatch.setenv("TENANTCTL_HOME", str(copy))
    assert "not indexed" not in cli("verify", "acme").out  # same bytes at another time: still indexed
    monkeypatch.setenv("TENANTCTL_HOME", str(moved))

    assert cli("tenant", "import", archive, "--as", "copy").code == 0
    copied = cli("search", "copy", "warehouse gate code", "--json").json()
    assert copied[0]["path"] == str(moved / "tenants" / "copy" / "uploads" / "gate.md")
    assert all("/acme/" not in h["path"] for h in copied)


def test_a_store_from_before_the_folder_was_kept_finds_its_uploads_folder(tmp_path):
    """A store written before meta `folder` existed (every store of an older export) is relocated from the
    one tenant folder its uploads lie in; a document elsewhere keeps its path."""
    from tenantctl.storage.store import NewChunk, Store

    old = "/srv/old-home/tenants/acme"
    with Store(tmp_path / "store.db") as store:
        with store.transaction():
            for path in (f"{old}/uploads/gate.md", "/srv/share/handbook.md"):
                store.put_document(path=path, sha256="0" * 64, size=1, mtime=1.0, fmt="md", chunking="x",
                                   chunks=[NewChunk(ord=0, start=0, end=1, page=None, heading="", text="x")],
                                   vectors=[b"\0" * 16])
            store.conn.execute("DELETE FROM meta WHERE key = 'folder'")
        assert store.relocate("/data/home/tenants/acme-2") == 1
        assert sorted(store.documents()) == ["/data/home/tenants/acme-2/uploads/gate.md", "/srv/share/handbook.md"]
        assert store.relocate("/data/home/tenants/acme-2") == 0
        assert store.get_meta("folder") == "/data/home/tenants/acme-2"
