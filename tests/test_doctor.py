"""`tenantctl doctor`: healthy homes pass; each kind of breakage is a named failure with a fix."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from .conftest import fast_home


def _doctor(cli):
    result = cli("doctor", "--json")
    report = result.json()
    checks = {c["name"]: c for c in report["checks"]}
    return result, report, checks


def _failures(checks: dict) -> dict:
    return {name: c for name, c in checks.items() if c["status"] == "fail"}


def test_healthy_home_passes(cli, home):
    assert cli("init").code == 0
    assert cli("tenant", "create", "acme").code == 0
    result, report, checks = _doctor(cli)
    assert result.code == 0, result
    assert report["ok"] is True and report["summary"]["fail"] == 0 and report["home"] == str(home)
    assert _failures(checks) == {}
    for name in ("python", "typer", "pydantic", "faiss-cpu", "sentence-transformers", "torch",
                 "llama-cpp-python", "home", "config", "embedder", "model default", "registry", "tenants", "disk"):
        assert name in checks, name
    assert checks["home"]["status"] == "ok" and "writable" in checks["home"]["detail"]
    assert checks["embedder"]["status"] == "ok" and "packaged" in checks["embedder"]["detail"]
    assert checks["model default"]["status"] == "ok"
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])
    assert not list(home.glob(".doctor-*"))  # the write probe cleaned up after itself

    human = cli("doctor")
    assert human.code == 0 and "healthy" in human.out and "0 failures" in human.out
    assert "FAIL" not in human.out


def test_a_tenant_whose_store_is_damaged_or_emptied_fails(cli, home, tmp_path):
    """doctor called the home healthy while a tenant's store.db was junk or emptied under its index."""
    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    for name in ("junk", "emptied", "fine", "new"):
        assert cli("tenant", "create", name).code == 0
        if name != "new":  # a tenant never ingested has no index: an empty store is fine for it
            assert cli("ingest", name, docs).code == 0
    (home / "tenants" / "junk" / "store.db").write_bytes(b"garbage garbage garbage")
    (home / "tenants" / "emptied" / "store.db").write_bytes(b"")
    (home / "tenants" / "new" / "store.db").write_bytes(b"")
    result, _, checks = _doctor(cli)
    assert result.code == 1 and set(_failures(checks)) == {"tenant junk", "tenant emptied"}, checks
    assert "not an SQLite database" in checks["tenant junk"]["detail"]
    assert "verify junk" in checks["tenant junk"]["fix"] and "tenants" not in checks
    assert "empty, but manifest.json names an index" in checks["tenant emptied"]["detail"]


def test_broken_config_fails_with_a_hint(cli, home):
    assert cli("init").code == 0
    (home / "config.yaml").write_text("chunking: [unclosed\n", encoding="utf-8")
    result, report, checks = _doctor(cli)
    assert result.code == 1 and report["ok"] is False
    assert checks["config"]["status"] == "fail"
    assert "not valid YAML" in checks["config"]["detail"] and "fix the syntax" in checks["config"]["fix"]
    assert checks["embedder"]["status"] == "warn" and "not checked" in checks["embedder"]["detail"]

    (home / "config.yaml").write_text("chunking:\n  max_tokens: lots\n", encoding="utf-8")
    _, _, checks = _doctor(cli)
    assert checks["config"]["status"] == "fail" and "chunking.max_tokens" in checks["config"]["detail"]

    (home / "config.yaml").write_text("default_model: big\n", encoding="utf-8")
    _, _, checks = _doctor(cli)
    assert checks["config"]["status"] == "fail"
    assert "default_model: 'big' is not under `models:`" in checks["config"]["detail"]

    human = cli("doctor")
    assert human.code == 1 and "FAIL" in human.out and "fix:" in human.out and "problems found" in human.out


def test_registered_tenant_without_its_folder_fails(cli, home):
    assert cli("init").code == 0
    for tenant in ("acme", "globex"):
        assert cli("tenant", "create", tenant).code == 0
    shutil.rmtree(home / "tenants" / "acme")
    result, _, checks = _doctor(cli)
    assert result.code == 1
    assert set(_failures(checks)) == {"tenant acme"}
    failure = checks["tenant acme"]
    assert "registered" in failure["detail"] and "is missing" in failure["detail"]
    assert "`tenantctl tenant delete acme`" in failure["fix"] and "DELETE FROM" not in failure["fix"]
    assert "tenants" not in checks  # the all-good line is only shown when all is good


def test_the_fix_for_a_missing_folder_leaves_no_key_to_a_new_tenant_of_that_id(cli, home):
    """doctor's fix for a registered tenant whose folder is gone was to drop its registry row with sqlite3:
    its API keys stayed, and a tenant created later under that id was reachable with them. The fix it
    names now, `tenant delete`, removes the keys too."""
    assert cli("init").code == 0
    assert cli("tenant", "create", "acme").code == 0
    assert cli("key", "create", "acme", "--name", "old-owner").code == 0
    shutil.rmtree(home / "tenants" / "acme")
    fix = _doctor(cli)[2]["tenant acme"]["fix"]
    command = fix.split("`")[1].split()
    assert command[:3] == ["tenantctl", "tenant", "delete"]
    assert cli(*command[1:], "--yes").code == 0
    assert cli("doctor").code == 0
    assert cli("tenant", "create", "acme").code == 0
    assert cli("key", "list", "acme", "--json").json() == []


def test_missing_or_bogus_gguf_fails(cli, home, tmp_path):
    assert cli("init").code == 0
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    notgguf = tmp_path / "notes.gguf"
    notgguf.write_text("hello", encoding="utf-8")
    (home / "config.yaml").write_text(
        "models:\n"
        f"  default:\n    path: {tmp_path / 'missing.gguf'}\n"
        f"  good:\n    path: {gguf}\n"
        f"  bogus:\n    path: {notgguf}\n"
        "  packaged:\n    path: null\n"
        f"  folder:\n    path: {tmp_path}\n",
        encoding="utf-8",
    )
    result, _, checks = _doctor(cli)
    assert result.code == 1
    assert set(_failures(checks)) == {"model default", "model bogus", "model folder"}
    assert checks["model folder"]["detail"] == f"GGUF file {tmp_path} is a folder"  # was "does not exist"
    missing = checks["model default"]
    assert "missing.gguf does not exist" in missing["detail"] and "models.default.path" in missing["fix"]
    assert "not a GGUF file" in checks["model bogus"]["detail"]
    assert checks["model good"]["status"] == "ok" and checks["model packaged"]["status"] == "ok"


def test_missing_home_fails_and_is_not_created(cli, home):
    from tenantctl.operations.doctor import run_checks

    checks = {c.name: c for c in run_checks()}
    assert checks["home"].status == "fail" and "tenantctl init" in checks["home"].fix
    assert not home.exists()  # the checks only look (the CLI's command log may create it afterwards)
    result, _, checks = _doctor(cli)
    assert result.code == 1 and checks["home"]["status"] == "fail"


def test_warnings_do_not_fail(cli, home, monkeypatch):
    from tenantctl.operations import doctor

    assert cli("init").code == 0
    assert cli("tenant", "create", "acme").code == 0
    (home / "tenants" / "lost").mkdir()  # no registry row
    (home / "tenants" / ".importing-x-1").mkdir()  # work folder: ignored
    os.chmod(home / "tenants", os.stat(home / "tenants").st_mode | stat.S_IWOTH)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor, "_disk_usage", lambda path: usage(10 << 30, 10 << 30, 200 << 20))

    result, report, checks = _doctor(cli)
    assert result.code == 0, result
    assert report["summary"]["fail"] == 0
    assert checks["orphan folders"]["status"] == "warn" and "lost" in checks["orphan folders"]["detail"]
    assert ".importing" not in checks["orphan folders"]["detail"]
    assert checks["permissions"]["status"] == "warn" and "chmod o-w" in checks["permissions"]["fix"]
    assert checks["disk"]["status"] == "warn" and "200.0 MB free" in checks["disk"]["detail"]


@pytest.mark.parametrize(("version", "status"), [((3, 10, 4), "fail"), ((3, 11, 9), "ok"), ((3, 12, 1), "warn")])
def test_python_version(version, status):
    from tenantctl.operations.doctor import check_python

    assert check_python(version).status == status


def test_doctor_loads_no_model(cli, home):
    assert cli("init").code == 0
    heavy = ("torch", "sentence_transformers", "transformers", "faiss", "llama_cpp", "numpy")
    code = (
        "import sys\n"
        "from tenantctl.cli import main\n"
        "try:\n"
        "    main(['doctor', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY:"


def test_a_registry_on_a_read_only_home_is_not_called_damaged(cli, home, monkeypatch):
    """On a read-only mount SQLite cannot open the WAL registry: the fix is the mount, not a backup."""
    import sqlite3

    from tenantctl.operations import doctor

    assert cli("init").code == 0 and cli("tenant", "create", "acme").code == 0
    real_connect, real_access = sqlite3.connect, os.access

    def connect(database, *args, **kwargs):
        if "registry.db" in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: Path(path) != home and real_access(path, mode))
    result, _, checks = _doctor(cli)
    registry = checks["registry"]
    assert result.code == 1 and registry["status"] == "fail", result
    assert "read-only" in registry["detail"] and "backup" not in registry["fix"], registry
    monkeypatch.setattr(doctor.os, "access", real_access)  # a writable home: the file itself is damaged
    registry = _doctor(cli)[2]["registry"]
    assert "read-only" not in registry["detail"] and "backup" in registry["fix"], registry


def _tiny_gguf(path: Path) -> int:
    """A GGUF v3 file of one 4x4 F32 tensor, with a string array in its metadata; returns its whole size."""
    import struct

    def text(s: bytes) -> bytes:
        return struct.pack("<Q", len(s)) + s

    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 2)
    head += text(b"general.alignment") + struct.pack("<II", 4, 32)
    head += text(b"tokenizer.tokens") + struct.pack("<IIQ", 9, 8, 2) + text(b"a") + text(b"bc")
    head += text(b"w") + struct.pack("<IQQIQ", 2, 4, 4, 0, 0)
    head += bytes(-len(head) % 32)
    path.write_bytes(head + bytes(64))
    return len(head) + 64


def test_a_gguf_copied_in_part_fails_the_doctor(cli, home, tmp_path):
    """A pilot model whose copy was cut short (an interrupted scp) was "ok" (its first bytes are GGUF's)."""
    whole = tmp_path / "pilot.gguf"
    size = _tiny_gguf(whole)
    (tmp_path / "cut.gguf").write_bytes(whole.read_bytes()[:size - 10])
    (tmp_path / "head.gguf").write_bytes(whole.read_bytes()[:40])
    models = "".join(f"  {name}:\n    path: {tmp_path / name}.gguf\n" for name in ("pilot", "cut", "head"))
    fast_home(cli, home, f"models:\n{models}")
    checks = _doctor(cli)[2]
    assert checks["model pilot"]["status"] == "ok", checks["model pilot"]
    assert checks["model cut"]["status"] == "fail" and "before its tensors end" in checks["model cut"]["detail"]
    assert checks["model head"]["status"] == "fail" and "inside its header" in checks["model head"]["detail"]


def test_gguf_size_reads_every_kind_of_metadata_value(tmp_path):
    """Where a GGUF's tensors end, read past metadata of every type (scalars, strings, arrays of scalars, of
    strings and of arrays), with the alignment the file sets; a K-quant's blocks counted by their bytes; an
    unknown tensor type counts 0 bytes. A header doctor cannot read is None, one cut short -1."""
    import struct

    from tenantctl.operations.doctor import gguf_size

    def text(s: bytes) -> bytes:
        return struct.pack("<Q", len(s)) + s

    def value(key: bytes, kind: int, body: bytes) -> bytes:
        return text(key) + struct.pack("<I", kind) + body

    metadata = [
        value(b"u8", 0, b"\x07"), value(b"i16", 3, struct.pack("<h", -2)), value(b"f32", 6, struct.pack("<f", 1.5)),
        value(b"bool", 7, b"\x01"), value(b"u64", 10, struct.pack("<Q", 9)), value(b"f64", 12, struct.pack("<d", 2.0)),
        value(b"name", 8, text(b"a tiny GGUF model made by the doctor's test")),
        value(b"ids", 9, struct.pack("<IQ", 4, 3) + struct.pack("<3I", 1, 2, 3)),
        value(b"tokens", 9, struct.pack("<IQ", 8, 2) + text(b"a") + text(b"bc")),
        value(b"nested", 9, struct.pack("<IQ", 9, 2) + struct.pack("<IQH", 2, 1, 5) + struct.pack("<IQ", 8, 1)
              + text(b"x")),
        value(b"general.alignment", 4, struct.pack("<I", 64)),
    ]

    def gguf(name: str, version: int = 3, extra: bytes = b"", count: int = len(metadata)) -> Path:
        head = b"GGUF" + struct.pack("<IQQ", version, 2, count) + b"".join(metadata) + extra
        head += text(b"q") + struct.pack("<IQIQ", 1, 512, 12, 0)  # Q4_K: two blocks of 256, 144 bytes each
        head += text(b"odd") + struct.pack("<IQIQ", 1, 8, 99, 288)  # a type doctor does not know: 0 bytes
        assert extra or 0 < len(head) % 64 <= 32  # aligned to 32 bytes, its tensors would start too early
        head += bytes(-len(head) % 64)
        path = tmp_path / name
        path.write_bytes(head + bytes(288))
        return path

    whole = gguf("whole.gguf")
    assert gguf_size(whole) == whole.stat().st_size
    assert gguf_size(gguf("v1.gguf", version=1)) is None
    unknown = gguf("unknown.gguf", extra=value(b"what", 13, b"\x00" * 8), count=len(metadata) + 1)
    assert gguf_size(unknown) is None
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[:100])
    assert gguf_size(cut) == -1
