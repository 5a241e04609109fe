"""Writers killed or racing: the store stays the truth, readers stay correct, and a clean run converges.

Real subprocesses (`python -m tenantctl`), real SIGKILLs. The kill loop runs on the model-free
`hashing-64` embedder so that each run takes about a second; a few kills hit the real model as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tenantctl.errors import ExitCode

from .conftest import copy_samples

pytestmark = pytest.mark.slow

SEED = 20250611
KILLS = 20
# What `verify` may report right after a writer was killed: an index behind the store (or not yet
# written), which readers handle by rebuilding it in memory. Never a damaged file.
AFTER_KILL = {"index-stale", "manifest-missing"}


# -- helpers ----------------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "TENANTCTL_HOME": str(home), "TENANTCTL_NO_PROGRESS": "1"}


def _cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "tenantctl", *map(str, args)]


def _run(home: Path, *args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), env=_env(home), capture_output=True, text=True, timeout=timeout)


def _start(home: Path, *args: object) -> subprocess.Popen:
    return subprocess.Popen(_cmd(*args), env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.args, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


def _setup_home(home: Path, embedder: str | None) -> None:
    from tenantctl.cli import main

    try:
        main(["init"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    if embedder:
        (home / "config.yaml").write_text(f"embedder:\n  name: {embedder}\n")


_LETTERS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"
_FIRST = ["Astrid", "Bogdan", "Carmela", "Dietmar", "Eleni", "Fumiko", "Gunnar", "Halima", "Ivo", "Jolanta",
          "Kwame", "Leocadia", "Mirko", "Nadia", "Oswin", "Priya", "Quirin", "Rosalind", "Sven", "Tamsin"]
_LAST = ["Albescu", "Brandvold", "Castellanos", "Drummond", "Ekwueme", "Falkenrath", "Grimaldi", "Holloway",
         "Ishikawa", "Jablonski", "Kowalczyk", "Lindqvist", "Moravec", "Nakashima", "Okonkwo", "Pellegrini"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_LETTERS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 4)))


def _vocabulary(seed: int) -> list[str]:
    rng = random.Random(seed)
    return sorted({_word(rng) for _ in range(3000)})


def _document(i: int, variant: str, parts: int, vocab: list[str]) -> str:
    """Document `i`: a heading, one fact paragraph (its length grows with i, so no two fact chunks tie
    in BM25), then `parts` sections of filler. Variant "B" changes the facts of three documents in four."""
    rng = random.Random(f"doc-{i}")
    archive = "q" + _word(rng)  # no filler word starts with q
    keeper_rng = random.Random(f"keeper-{i}-{variant if i % 4 else 'A'}")
    keeper = f"{keeper_rng.choice(_FIRST)} {keeper_rng.choice(_LAST)}"
    extension = keeper_rng.randint(1000, 9999)
    filler = " ".join(rng.choice(vocab) for _ in range(i + 1))
    lines = [f"# Dossier {i}", "", f"The keeper of archive {archive} is {keeper}, at extension {extension}. "
             f"{filler.capitalize()}.", ""]
    for part in range(parts):
        lines += [f"## Part {part}", ""]
        for _ in range(3):
            lines.append(" ".join(
                " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 16))).capitalize() + "."
                for _ in range(rng.randint(2, 4))
            ))
            lines.append("")
    return "\n".join(lines)


def _archive(i: int) -> str:
    return "q" + _word(random.Random(f"doc-{i}"))


def _write_version(folder: Path, variant: str, count: int, parts: int, vocab: list[str]) -> None:
    """Version A: documents 0..count-1. Version B: drops 0..4, adds count..count+4, changes the others
    but every fourth."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = range(count) if variant == "A" else range(5, count + 5)
    for i in range(count + 5):
        path = folder / f"dossier-{i:03d}.md"
        if i not in wanted:
            path.unlink(missing_ok=True)
            continue
        text = _document(i, variant, parts, vocab)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _store(home: Path, tenant: str) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(home / "tenants" / tenant / "store.db"))


def _documents(home: Path, tenant: str) -> dict[str, tuple]:
    with _store(home, tenant) as conn:
        rows = conn.execute("SELECT path, sha256, bytes, format, chunking, chunks FROM documents")
        return {row[0]: row[1:] for row in rows}


def _chunks(home: Path, tenant: str) -> list[tuple]:
    with _store(home, tenant) as conn:
        return sorted(conn.execute(
            "SELECT d.path, c.ord, c.start, c.end, c.page, c.heading, c.text, c.vector"
            " FROM chunks c JOIN documents d ON d.id = c.doc_id"
        ))


def _hits(hits) -> list[dict]:
    return json.loads(json.dumps([h.to_dict() for h in hits]))


def _search(tenant: str, query: str, k: int, mode: str = "hybrid", *, rebuild: bool = False) -> list[dict]:
    """Search in this process, as a fresh reader would (index from disk when current), or with the index
    rebuilt in memory from the store (the reference)."""
    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.index import VectorIndex
    from tenantctl.storage.tenants import open_tenant

    opened = TenantSession(open_tenant(tenant), load_config())
    try:
        dim = opened.store.get_meta("embedder_dim")
        if rebuild and dim:
            opened.searcher._index = VectorIndex.from_store(opened.store, int(dim))
        return _hits(opened.searcher.search(query, k=k, mode=mode))
    finally:
        opened.close()


def _verify_codes(tenant: str) -> tuple[set[str], list[str]]:
    from tenantctl.operations.integrity import verify_tenant
    from tenantctl.storage.tenants import open_tenant

    report = verify_tenant(open_tenant(tenant))
    return {p.code for p in report.problems}, [p.message for p in report.problems] + report.notes


def _check_after_kill(home: Path, tenant: str, query: str) -> set[str]:
    """A fresh process searches fine, finds only committed documents, and agrees with a reader that
    rebuilds the index from the store; verify finds at most a stale index."""
    result = _ok(_run(home, "search", tenant, query, "-k", "8", "--json"))
    hits = json.loads(result.stdout)
    committed = set(_documents(home, tenant))
    assert {h["path"] for h in hits} <= committed
    assert hits == _search(tenant, query, 8, rebuild=True)
    codes, messages = _verify_codes(tenant)
    assert codes <= AFTER_KILL, messages
    return codes


def _same_end_state(home: Path, tenant: str, control: str, queries: list[str], *, exact_vectors: bool = True):
    assert _documents(home, tenant) == _documents(home, control)
    ours, theirs = _chunks(home, tenant), _chunks(home, control)
    assert [c[:7] for c in ours] == [c[:7] for c in theirs]
    if exact_vectors:
        assert [c[7] for c in ours] == [c[7] for c in theirs]
    else:
        import numpy as np

        for a, b in zip(ours, theirs, strict=True):
            assert np.allclose(np.frombuffer(a[7], np.float32), np.frombuffer(b[7], np.float32), atol=1e-5)
    for codes_messages in (_verify_codes(tenant), _verify_codes(control)):
        assert codes_messages == (set(), []), codes_messages
    n, digits = len(ours), (6 if exact_vectors else 4)
    for query in queries:
        # Every chunk's score from each retriever: independent of chunk ids (which differ after updates).
        for mode in ("dense", "bm25"):
            got = {(h["path"], h["ord"]): round(h["score"], digits) for h in _search(tenant, query, n, mode)}
            want = {(h["path"], h["ord"]): round(h["score"], digits) for h in _search(control, query, n, mode)}
            assert got == want, (query, mode)
        if exact_vectors:
            strip = [{k: v for k, v in h.items() if k != "chunk_id"} for h in _search(tenant, query, 5)]
            assert strip == [{k: v for k, v in h.items() if k != "chunk_id"} for h in _search(control, query, 5)]
        else:
            assert [(h["path"], h["ord"]) for h in _search(tenant, query, 5)] == [
                (h["path"], h["ord"]) for h in _search(control, query, 5)
            ]


def _generation(home: Path, tenant: str) -> int:
    with _store(home, tenant) as conn:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])


def _kill_at_random(proc: subprocess.Popen, rng: random.Random, home: Path, tenant: str, span: float) -> str:
    """SIGKILL `proc` at a random moment of its first `span` seconds, or, one time in three, a random
    few milliseconds after its first commit (the window before and during the index rewrite). Waits
    for it; returns when the kill was aimed."""
    if rng.random() < 1 / 3:
        delay = rng.uniform(0.0, 0.03)
        start, deadline = _generation(home, tenant), time.monotonic() + 120
        while proc.poll() is None and _generation(home, tenant) == start and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        when = f"commit+{delay * 1000:.0f}ms"
    else:
        delay = rng.uniform(0.2, span)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=delay)
        when = f"{delay:.2f}s"
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, err = proc.communicate()
    assert proc.returncode in (0, -signal.SIGKILL), (proc.returncode, err[-2000:])
    return when


# -- concurrent writers -----------------------------------------------------------------------------


def test_two_concurrent_ingests_one_is_busy_or_both_wait(tmp_path, home):
    _setup_home(home, "hashing-64")
    vocab = _vocabulary(SEED)
    big = tmp_path / "big"
    _write_version(big, "A", 60, 80, vocab)  # ~7000 chunks: the winner holds the lock for seconds
    _ok(_run(home, "tenant", "create", "race"))

    started = time.perf_counter()
    procs = [_start(home, "ingest", "race", big, "--json") for _ in range(2)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    elapsed = time.perf_counter() - started
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, ExitCode.BUSY], (elapsed, results)
    busy = next(err for code, _, err in results if code == ExitCode.BUSY)
    assert "busy" in busy and "--wait" in busy
    winner = json.loads(next(out for code, out, _ in results if code == 0))
    assert winner["added"] == 60 and winner["chunks"] > 5000, "the folder is too small to hold the lock long"

    codes_, messages = _verify_codes("race")
    assert not codes_, messages
    _ok(_run(home, "verify", "race"))
    hit = json.loads(_ok(_run(home, "search", "race", f"keeper of archive {_archive(7)}", "-k", "1",
                                  "--mode", "bm25", "--json")).stdout)
    assert hit and hit[0]["path"].endswith("dossier-007.md")

    # With --wait both writers succeed, one after the other: two folders, one tenant.
    halves = [big, tmp_path / "small"]
    _write_version(halves[1], "B", 60, 5, vocab)
    _ok(_run(home, "tenant", "create", "queue"))
    procs = [_start(home, "ingest", "queue", half, "--wait", "120", "--json") for half in halves]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert sum(json.loads(out)["added"] for _, out, _ in results) == 120
    assert len(_documents(home, "queue")) == 120
    _ok(_run(home, "verify", "queue"))
    for half, i in ((halves[0], 3), (halves[1], 61)):
        hit = json.loads(_ok(_run(home, "search", "queue", f"keeper of archive {_archive(i)}", "-k", "1",
                                  "--mode", "bm25", "--json")).stdout)
        assert hit[0]["path"] == str((half / f"dossier-{i:03d}.md").resolve())


# -- SIGKILL at random moments ----------------------------------------------------------------------


def test_sigkill_loop_hashing_embedder(tmp_path, home):
    _setup_home(home, "hashing-64")
    vocab = _vocabulary(SEED)
    docs = tmp_path / "dossiers"
    count, parts = 60, 8
    _write_version(docs, "A", count, parts, vocab)
    queries = [f"who is the keeper of archive {_archive(i)}" for i in (6, 9, 30, 57)] + ["extension of the keeper"]

    _ok(_run(home, "tenant", "create", "control"))
    started = time.perf_counter()
    _ok(_run(home, "ingest", "control", docs))
    full = time.perf_counter() - started
    assert len(_chunks(home, "control")) > 2 * 256  # several batches, hence several commits per run
    _ok(_run(home, "tenant", "create", "crash"))

    rng = random.Random(SEED)
    variant, kills, completed, log = "A", 0, 0, []
    for _ in range(200):
        if kills >= KILLS and completed >= 2:
            break
        before = _documents(home, "crash")
        proc = _start(home, "ingest", "crash", docs, "--prune")
        when = _kill_at_random(proc, rng, home, "crash", 1.1 * full)
        kills += proc.returncode != 0
        if proc.returncode == 0:
            completed += 1
            log.append(f"{when}: done")
            variant = "B" if variant == "A" else "A"
            _write_version(docs, variant, count, parts, vocab)
        else:
            after = _documents(home, "crash")
            log.append(f"{when}: killed, {'changed' if after != before else 'unchanged'}")
        log[-1] += f", verify {sorted(_check_after_kill(home, 'crash', rng.choice(queries)))}"
    assert kills >= KILLS, log
    assert any("killed, changed" in line for line in log), log  # some kills landed mid-ingest

    if variant != "A":
        _write_version(docs, "A", count, parts, vocab)
    _ok(_run(home, "ingest", "crash", docs, "--prune"))
    _ok(_run(home, "verify", "--all"))
    _same_end_state(home, "crash", "control", queries)
    assert [p.name for p in (home / "tenants" / "crash").iterdir() if ".tmp" in p.name] == []


def test_sigkill_real_model(tmp_path, home, cli):
    """A few kills of an ingest on the real embedding model (which loads, then embeds, under the lock)
    on top of an indexed tenant: the earlier documents stay searchable, and a clean run converges."""
    samples = copy_samples(tmp_path / "samples")
    assert cli("tenant", "create", "real").code == 0
    assert cli("ingest", "real", samples / "acme-hr").code == 0  # in-process: loads the model here once
    queries = ["How many days of paid annual leave per year?", "What does error code E-417 mean?",
               "main isolator switch for Press Line 3"]

    rng = random.Random(SEED)
    outcomes = []
    for span in (0.8, None):  # once at a random moment (while the model loads), once after the commit
        proc = _start(home, "ingest", "real", samples / "nordwerk-maint")
        if span is None:
            start = _generation(home, "real")
            while proc.poll() is None and _generation(home, "real") == start:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.02))
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=rng.uniform(0.3, span))  # a whole ingest takes ~1.5 s on a quiet machine
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.communicate()
        outcomes.append(proc.returncode)
        assert proc.returncode in (0, -signal.SIGKILL)
        codes, messages = _verify_codes("real")
        assert codes <= AFTER_KILL, messages
        for query in queries:
            hits = _search("real", query, 5)
            assert hits and hits == _search("real", query, 5, rebuild=True)
            assert {h["path"] for h in hits} <= set(_documents(home, "real"))
    assert -signal.SIGKILL in outcomes
    assert cli("ingest", "real", samples / "nordwerk-maint").code == 0  # the clean run

    assert cli("tenant", "create", "control").code == 0
    for part in ("acme-hr", "nordwerk-maint"):
        assert cli("ingest", "control", samples / part).code == 0
    _same_end_state(home, "real", "control", queries, exact_vectors=False)
