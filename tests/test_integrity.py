"""`tenantctl verify` and `tenantctl repair`: damage is found, named, and repaired from the store alone."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tenantctl.errors import ExitCode

from .conftest import copy_samples, fast_home

QUERIES = ["How many days of paid annual leave per year?", "hotel limit per night in New York City",
           "learning budget for courses and conferences"]


def _ingested(cli, tmp_path, tenant: str = "acme") -> Path:
    docs = tmp_path / "samples" if (tmp_path / "samples").exists() else copy_samples(tmp_path / "samples")
    assert cli("tenant", "create", tenant).code == 0
    result = cli("ingest", tenant, docs / "acme-hr")
    assert result.code == 0, result
    return docs


def _searches(cli, tenant: str = "acme", mode: str = "hybrid") -> list:
    results = []
    for query in QUERIES:
        result = cli("search", tenant, query, "-k", "5", "--mode", mode, "--json")
        assert result.code == 0, result
        results.append(result.json())
    return results


def _tenant_dir(home: Path, tenant: str = "acme") -> Path:
    return home / "tenants" / tenant


def _manifest(home: Path, tenant: str = "acme") -> dict:
    return json.loads((_tenant_dir(home, tenant) / "manifest.json").read_text())


def _index_file(home: Path, tenant: str = "acme") -> Path:
    return _tenant_dir(home, tenant) / _manifest(home, tenant)["index_file"]


def _problems(cli, tenant: str = "acme") -> list[dict]:
    result = cli("verify", tenant, "--json")
    data = result.json()
    assert result.code == (0 if data["ok"] else ExitCode.ERROR), result
    return data["tenants"][0]["problems"]


def _no_model(monkeypatch) -> None:
    """Make any use of the sentence-transformers model fail."""
    from tenantctl.models import embedding

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model must not be used here")

    monkeypatch.setattr(embedding.SentenceTransformerEmbedder, "_load", refuse)


@pytest.mark.slow
def test_flipped_byte_is_found_repaired_and_search_is_as_before(cli, tmp_path, home, monkeypatch):
    """On the real embedding model: verify and repair never load it, and repair restores the results."""
    _ingested(cli, tmp_path)
    assert cli("verify", "acme").code == 0
    before = _searches(cli)
    assert before[0] and before[0][0]["path"].endswith("employee_handbook.docx")

    path = _index_file(home)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A  # inside the vectors: same size, wrong content
    path.write_bytes(bytes(data))

    with monkeypatch.context() as patch:
        _no_model(patch)
        damaged = cli("verify", "acme")
        assert damaged.code == ExitCode.ERROR, damaged
        assert f"{path.name}: sha256 differs" in damaged.out and "run `tenantctl repair acme`" in damaged.out
        assert [p["code"] for p in _problems(cli)] == ["index-checksum"]

        repaired = cli("repair", "acme")
        assert repaired.code == 0, repaired
        assert "rebuilt index-" in repaired.out and "acme: ok" in repaired.out
        assert cli("verify", "acme").code == 0

    assert _searches(cli) == before
    assert not path.exists() or _index_file(home) == path


def test_deleted_index_file(cli, tmp_path, home):
    fast_home(cli, home)
    _ingested(cli, tmp_path)
    before = _searches(cli)
    path = _index_file(home)
    path.unlink()

    result = cli("verify", "acme")
    assert result.code == ExitCode.ERROR
    assert f"{path.name}: missing" in result.out and "run `tenantctl repair acme`" in result.out
    assert _searches(cli) == before  # readers rebuild in memory meanwhile

    assert cli("repair", "acme").code == 0
    assert _index_file(home).exists() and _problems(cli) == []
    assert _searches(cli) == before


def test_stale_manifest_generation(cli, tmp_path, home, monkeypatch):
    """A writer killed between its commit and the index rewrite leaves the manifest a generation behind."""
    fast_home(cli, home)
    docs = _ingested(cli, tmp_path)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "parking.md").write_text("# Parking\n\nThe staff car park closes at 23:30 every night.\n")

    import tenantctl.ingestion.ingest

    with monkeypatch.context() as patch:
        patch.setattr(tenantctl.ingestion.ingest, "refresh_index", lambda tenant, store: None)
        assert cli("ingest", "acme", extra).code == 0
    problems = _problems(cli)
    assert [p["code"] for p in problems] == ["index-stale"]
    assert problems[0]["file"] == "manifest.json" and "generation" in problems[0]["message"]
    assert problems[0]["message"].endswith("run `tenantctl repair acme`")
    hit = cli("search", "acme", "when does the car park close", "-k", "1", "--json").json()[0]
    assert "23:30" in hit["text"]  # the reader rebuilt the index from the store

    assert cli("repair", "acme").code == 0
    manifest = _manifest(home)
    assert _problems(cli) == [] and manifest["vectors"] == cli("tenant", "show", "acme", "--json").json()["chunks"]

    # A manifest edited to claim an older generation is as stale.
    manifest["generation"] -= 1
    (_tenant_dir(home) / "manifest.json").write_text(json.dumps(manifest))
    assert [p["code"] for p in _problems(cli)] == ["index-stale"]
    assert cli("repair", "acme").code == 0 and _problems(cli) == []
    assert docs.exists()


def test_damaged_manifest_fts_and_leftovers(cli, tmp_path, home):
    fast_home(cli, home)
    _ingested(cli, tmp_path)
    before = _searches(cli)
    before_bm25 = _searches(cli, mode="bm25")
    folder = _tenant_dir(home)

    (folder / "manifest.json").write_text('{"format_version": 1, "generation": ')
    leftover = folder / f".{_index_file_name(folder)}.tmp4242"
    leftover.write_bytes(b"half-written")
    with sqlite3.connect(folder / "store.db") as conn:
        conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks ORDER BY id LIMIT 3)")
    result = cli("verify", "acme", "--json")
    assert result.code == ExitCode.ERROR
    report = result.json()["tenants"][0]
    assert sorted(p["code"] for p in report["problems"]) == ["fts-count", "manifest-unreadable"]
    assert all(p["repairable"] and "tenantctl repair acme" in p["message"] for p in report["problems"])
    assert any(leftover.name in note for note in report["notes"])

    repaired = cli("repair", "acme", "--json")
    assert repaired.code == 0, repaired
    actions = repaired.json()["actions"]
    assert any("full-text" in a for a in actions) and any(leftover.name in a for a in actions)
    assert not leftover.exists() and _problems(cli) == []
    assert _searches(cli, mode="bm25") == before_bm25
    assert _searches(cli) == before

    # Changed text in the full-text table (same row count) is found too.
    with sqlite3.connect(folder / "store.db") as conn:
        conn.execute("UPDATE chunks_fts SET body = 'nothing here' WHERE rowid = (SELECT MIN(id) FROM chunks)")
    assert [p["code"] for p in _problems(cli)] == ["fts-content"]
    assert cli("repair", "acme").code == 0 and _problems(cli) == []
    assert _searches(cli, mode="bm25") == before_bm25


def _index_file_name(folder: Path) -> str:
    return sorted(p.name for p in folder.glob("index-*.faiss"))[-1]


def test_reembed_round_trip(cli, tmp_path, home):
    fast_home(cli, home)
    _ingested(cli, tmp_path)
    before = _searches(cli)
    folder = _tenant_dir(home)

    def vectors(tenant: str = "acme") -> dict:
        with sqlite3.connect(_tenant_dir(home, tenant) / "store.db") as conn:
            return dict(conn.execute("SELECT id, vector FROM chunks"))

    original = vectors()
    assert {len(v) for v in original.values()} == {64 * 4}

    (home / "config.yaml").write_text("embedder:\n  name: hashing-32\n")
    refused = cli("search", "acme", QUERIES[0])
    assert refused.code == ExitCode.ERROR and "tenantctl repair acme --reembed" in refused.err  # it said TENANT
    assert "the index of tenant 'acme' was built with embedder" in refused.err

    result = cli("repair", "acme", "--reembed", "--json")
    assert result.code == 0, result
    assert any("re-embedded" in a and "hashing-32" in a for a in result.json()["actions"])
    manifest = _manifest(home)
    assert manifest["embedder"]["name"] == "hashing-32" and manifest["embedder"]["dim"] == 32
    assert {len(v) for v in vectors().values()} == {32 * 4}
    assert _problems(cli) == []

    # Same vectors and results as a tenant ingested with hashing-32 from the start.
    _ingested(cli, tmp_path, "control")
    assert vectors("control") == vectors()
    assert _searches(cli, "control") == _searches(cli)

    (home / "config.yaml").write_text("embedder:\n  name: hashing-64\n")
    assert cli("repair", "acme", "--reembed").code == 0
    assert vectors() == original
    assert _searches(cli) == before
    assert _manifest(home)["embedder"] == {"name": "hashing-64", "dim": 64, "normalized": True,
                                           "metric": "inner_product"}
    assert folder.exists()


def test_verify_all_empty_tenants_and_usage(cli, tmp_path, home):
    fast_home(cli, home)
    assert cli("verify", "--all").code == 0  # no tenants at all
    _ingested(cli, tmp_path)
    assert cli("tenant", "create", "empty").code == 0
    ok = cli("verify", "--all", "--json")
    assert ok.code == 0 and ok.json()["ok"] and [t["tenant"] for t in ok.json()["tenants"]] == ["acme", "empty"]
    assert "empty: ok" in cli("verify", "empty").out

    _index_file(home).unlink()
    bad = cli("verify", "--all")
    assert bad.code == ExitCode.PARTIAL  # as `reindex --all` exits when some tenants failed
    assert "acme: 1 problem" in bad.out and "empty: ok" in bad.out and "2 tenants: 1 ok, 1 with problems" in bad.out
    assert cli("verify", "acme").code == ExitCode.ERROR
    assert cli("tenant", "delete", "empty", "--yes").code == 0
    assert cli("verify", "--all").code == ExitCode.ERROR  # the home's only tenant

    assert cli("verify").code == ExitCode.USAGE
    assert cli("verify", "acme", "--all").code == ExitCode.USAGE
    assert cli("verify", "nope").code == ExitCode.NOT_FOUND
    assert cli("repair", "nope").code == ExitCode.NOT_FOUND


def test_damaged_store_is_reported_not_repaired(cli, tmp_path, home):
    fast_home(cli, home)
    _ingested(cli, tmp_path)
    store = _tenant_dir(home) / "store.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    data = bytearray(store.read_bytes())
    data[:16] = b"not a database!!"
    store.write_bytes(bytes(data))

    result = cli("verify", "acme", "--json")
    assert result.code == ExitCode.ERROR
    problem = result.json()["tenants"][0]["problems"][0]
    assert problem["code"] == "store-corrupt" and problem["file"] == "store.db" and not problem["repairable"]
    assert "backup" in problem["message"]
    repaired = cli("repair", "acme")
    assert repaired.code == ExitCode.ERROR and "store.db" in repaired.err


def test_verify_and_repair_load_no_model_and_repair_respects_the_lock(cli, tmp_path, home):
    fast_home(cli, home)
    _ingested(cli, tmp_path)
    (home / "config.yaml").write_text("")  # the real model would be configured, and must not be loaded
    code = (
        "import sys\n"
        "from tenantctl.cli import main\n"
        "for args in (['verify', '--all'], ['repair', 'acme']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (args, exc.code)\n"
        "print('LOADED:' + ','.join(m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED:"

    from tenantctl.storage.tenants import open_tenant

    with open_tenant("acme").write_lock():
        busy = subprocess.run([sys.executable, "-m", "tenantctl", "repair", "acme"],
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == ExitCode.BUSY and "busy" in busy.stderr


def test_the_next_writer_removes_what_a_killed_writer_left(cli, tmp_path, home):
    """A writer killed inside VectorIndex.save leaves its temporary files; the next index write removes them."""
    fast_home(cli, home)
    docs = _ingested(cli, tmp_path)
    folder = _tenant_dir(home)
    generation = _manifest(home)["generation"]
    leftovers = [folder / f".index-{generation + 1}.faiss.tmp99999", folder / ".manifest.json.tmp99999",
                 folder / f"index-{generation + 100}.faiss"]
    for path in leftovers:
        path.write_bytes(b"half-written")
    other = folder / ".tenant.yaml.tmp99999"  # not the index's: left alone
    other.write_bytes(b"x")
    assert cli("verify", "acme").code == 0  # leftovers are notes, not problems

    (docs / "acme-hr" / "note.md").write_text("# Note\n\nThe canteen opens at 11:45.\n")
    assert cli("ingest", "acme", docs / "acme-hr").code == 0
    assert [p.name for p in leftovers if p.exists()] == []
    assert other.exists()
    assert cli("verify", "acme", "--json").json()["tenants"][0]["notes"] == []


def test_a_damaged_index_is_never_searched(cli, home, tmp_path):
    """Readers check the index file's checksum on load and fall back to the store's vectors."""
    import json as _json

    fast_home(cli, home)
    cli("tenant", "create", "t")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\n\nThe value of item {i} is {i * 3} units.\n")
    assert cli("ingest", "t", docs).code == 0
    before = cli("search", "t", "value of item 7", "--mode", "dense", "--json").json()
    manifest = _json.loads((home / "tenants" / "t" / "manifest.json").read_text())
    index_file = home / "tenants" / "t" / manifest["index_file"]
    data = bytearray(index_file.read_bytes())
    for offset in range(200, 4000, 3):  # scramble stored vectors; size and structure stay valid
        data[offset] ^= 0x01
    index_file.write_bytes(bytes(data))
    after = cli("search", "t", "value of item 7", "--mode", "dense", "--json").json()
    assert [(h["path"], h["score"]) for h in after] == [(h["path"], h["score"]) for h in before]


def test_a_lost_store_is_told_how_to_start_afresh_keeping_settings_and_keys(cli, home, tmp_path):
    """A store.db lost with no export: the fix was to delete the tenant, which also took its tenant.yaml
    (quotas, prompts, tools) and its API keys. Moving the index out is enough to ingest again."""
    from .conftest import fast_home

    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    assert cli("tenant", "create", "acme").code == 0 and cli("ingest", "acme", docs).code == 0
    assert cli("key", "create", "acme").code == 0
    folder = home / "tenants" / "acme"
    for path in folder.glob("store.db*"):
        path.unlink()
    problem = cli("verify", "acme", "--json").json()["tenants"][0]["problems"][0]
    assert "delete the tenant" not in problem["fix"] and "keeping its settings and keys" in problem["fix"], problem
    searched = cli("search", "acme", "gate code")
    assert searched.code != 0 and "keeping its settings and keys" in searched.err, searched
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in [folder / "manifest.json", *folder.glob("index-*.faiss")]:  # what the fix says
        path.rename(moved / path.name)
    assert cli("ingest", "acme", docs).code == 0
    assert "4711" in cli("search", "acme", "gate code", "--json").json()[0]["text"]
    assert len(cli("key", "list", "acme", "--json").json()) == 1


def test_verify_all_goes_on_past_a_tenant_whose_settings_are_invalid(cli, home):
    """One tenant's tenant.yaml with a wrong value stopped `verify --all` at it (exit 1, no other tenant
    verified); it is that tenant's problem, named with the setting and the fix, and the others are checked."""
    fast_home(cli, home)
    for tenant in ("acme", "beta", "zeta"):
        assert cli("tenant", "create", tenant).code == 0
    settings = _tenant_dir(home, "beta") / "tenant.yaml"
    settings.write_text(settings.read_text().replace("quotas: {}", "quotas: {documents: -1}"))

    result = cli("verify", "--all", "--json")
    assert result.code == ExitCode.PARTIAL, result
    reports = {t["tenant"]: t for t in result.json()["tenants"]}
    assert reports["acme"]["ok"] and reports["zeta"]["ok"] and not reports["beta"]["ok"]
    problem = reports["beta"]["problems"][0]
    assert problem["code"] == "tenant-settings" and not problem["repairable"]
    assert "quotas.documents" in problem["message"] and "fix the setting in" in problem["message"]
    assert [p["code"] for p in reports["beta"]["problems"]] == ["tenant-settings"]  # its store is checked too: ok

    one = cli("verify", "beta")
    assert one.code == ExitCode.ERROR and "beta: 1 problem" in one.out and "quotas.documents" in one.out
