"""Operating many tenants: sources and reindex, suspend, metering, quotas, logs."""

import json
import shutil

import pytest

from tenantctl.errors import ExitCode

from .conftest import copy_samples, fast_home, set_tenant_yaml


def _write_docs(folder, n, prefix="doc"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{prefix}{i}.md").write_text(f"# {prefix} {i}\n\nFact number {i} of {prefix} is {i * 7}.\n")


@pytest.mark.slow
def test_reindex_follows_sources_with_globs_and_prunes(cli, home, tmp_path):
    docs = copy_samples(tmp_path / "samples") / "acme-hr"
    (docs / "drafts").mkdir()
    (docs / "drafts" / "secret_plan.md").write_text("# Draft\n\nThe draft bonus is 999 dollars.\n")
    assert cli("tenant", "create", "acme").code == 0
    added = cli("source", "add", "acme", docs, "--exclude", "drafts/*")
    assert added.code == 0, added
    assert [s["exclude"] for s in cli("source", "list", "acme", "--json").json()] == [["drafts/*"]]

    first = cli("reindex", "acme")
    assert first.code == 0 and first.out == "" and first.err == ""  # silent for cron
    info = cli("tenant", "show", "acme", "--json").json()
    assert info["documents"] == 5
    hits = cli("search", "acme", "draft bonus 999", "--json").json()
    assert not any("secret_plan" in h["path"] for h in hits)

    (docs / "holidays_2025.csv").unlink()
    verbose = cli("reindex", "--all", "--verbose")
    assert verbose.code == 0 and "acme: ok: 0 added, 0 updated, 4 skipped, 1 removed" in verbose.out
    assert cli("tenant", "show", "acme", "--json").json()["documents"] == 4


def test_reindex_all_reports_failures_and_goes_on(cli, home, tmp_path):
    fast_home(cli, home)
    for name in ("good", "broken", "gone", "nosources"):
        cli("tenant", "create", name)
    _write_docs(tmp_path / "good", 3)
    _write_docs(tmp_path / "broken", 2)
    (tmp_path / "broken" / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    _write_docs(tmp_path / "gone", 2)
    for name in ("good", "broken", "gone"):
        assert cli("source", "add", name, tmp_path / name).code == 0
    assert cli("reindex", "gone").code == 0
    shutil.rmtree(tmp_path / "gone")  # an unmounted share must not empty the index

    result = cli("reindex", "--all", "--json")
    assert result.code == ExitCode.PARTIAL
    runs = {r["tenant"]: r for r in result.json()["tenants"]}
    assert runs["good"]["status"] == "ok" and runs["good"]["summary"]["added"] == 3
    assert runs["broken"]["status"] == "partial" and "bad.pdf" in runs["broken"]["error"]
    assert runs["gone"]["status"] == "partial" and "no such file or folder" in runs["gone"]["error"]
    assert runs["gone"]["error"].startswith("1 file failed: "), runs["gone"]  # was "1 files failed"
    assert runs["nosources"]["status"] == "skipped"
    assert cli("tenant", "show", "gone", "--json").json()["documents"] == 2
    assert "bad.pdf" in result.err and "good" not in result.err


def test_reindex_all_goes_on_past_a_tenant_whose_folder_is_missing(cli, home, tmp_path):
    """Issue 8 item 9: a registered tenant whose folder is gone is named, the others are re-indexed, exit 4."""
    fast_home(cli, home)
    for name in ("alpha", "lost", "omega"):
        cli("tenant", "create", name)
        _write_docs(tmp_path / name, 2, prefix=name)
        assert cli("source", "add", name, tmp_path / name).code == 0
    shutil.rmtree(home / "tenants" / "lost")

    result = cli("reindex", "--all", "--json")
    assert result.code == ExitCode.PARTIAL
    runs = {r["tenant"]: r for r in result.json()["tenants"]}
    assert runs["alpha"]["status"] == runs["omega"]["status"] == "ok"
    assert runs["alpha"]["summary"]["added"] == runs["omega"]["summary"]["added"] == 2
    assert runs["lost"]["status"] == "error" and "folder" in runs["lost"]["error"] and runs["lost"]["hint"]
    assert "lost: error" in result.err and "alpha" not in result.err
    assert cli("search", "omega", "Fact number").code == 0

    plain = cli("reindex", "--all")
    assert plain.code == ExitCode.PARTIAL and plain.out == "" and "lost" in plain.err
    verify = cli("verify", "--all", "--json")
    assert verify.code != 0 and "lost" in verify.out
    assert cli("reindex", "lost").code == ExitCode.NOT_FOUND


def test_reindex_all_of_a_home_whose_only_tenant_fails_exits_1(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "solo")
    _write_docs(tmp_path / "solo", 1)
    assert cli("source", "add", "solo", tmp_path / "solo").code == 0
    shutil.rmtree(home / "tenants" / "solo")
    assert cli("reindex", "--all").code == ExitCode.ERROR  # as `reindex solo` would; README says so


def test_usage_report_goes_on_past_a_broken_tenant_and_names_it(cli, home, tmp_path):
    """A tenant.yaml broken by hand, or a damaged store (it failed the whole report, exit 1), must not hide
    every other tenant's billing records."""
    fast_home(cli, home)
    for name in ("alpha", "broken", "lost", "damaged"):
        cli("tenant", "create", name)
        _write_docs(tmp_path / name, 1, prefix=name)
        assert cli("ingest", name, tmp_path / name).code == 0
    (home / "tenants" / "broken" / "tenant.yaml").write_text("answer: {min_score: [\n")
    shutil.rmtree(home / "tenants" / "lost")
    for leftover in (home / "tenants" / "damaged").glob("store.db-*"):
        leftover.unlink()
    (home / "tenants" / "damaged" / "store.db").write_bytes(b"not a database" * 500)

    for fmt in ((), ("--json",), ("--csv",)):
        result = cli("usage", *fmt)
        assert result.code == ExitCode.PARTIAL, (fmt, result)
        billed = {r["tenant"] for r in result.json()["usage"]} if fmt == ("--json",) else result.out
        assert "alpha" in billed and "broken" not in billed and "lost" not in billed and "damaged" not in billed
        assert "broken: skipped" in result.err and "tenant.yaml" in result.err and "lost: skipped" in result.err
        assert "damaged: skipped" in result.err, result
        if fmt == ("--json",):  # named in the JSON too
            assert sorted(t["tenant"] for t in result.json()["skipped"]) == ["broken", "damaged", "lost"], result
    _admin_usage_goes_on(cli)


def _admin_usage_goes_on(cli) -> None:
    """GET /v1/admin/usage was a 500 for every tenant's bill when one store was damaged."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    admin = cli("key", "create", "--admin", "--json").json()["key"]
    with TestClient(create_app(load_config())) as client:
        reply = client.get("/v1/admin/usage", headers={"Authorization": f"Bearer {admin}"})
    assert reply.status_code == 200, reply.text
    assert {r["tenant"] for r in reply.json()} == {"alpha"}
    assert reply.headers["X-Tenantctl-Skipped"] == "broken,damaged,lost"
    assert cli("usage", "--tenant", "alpha", "--json").code == 0


def test_an_empty_tenant_id_is_refused_not_read_as_every_tenant(cli, home, tmp_path):
    """`usage --tenant "$T" --csv` with T unset billed one customer with every tenant's usage, and
    `key list ""` listed every tenant's keys: "" is an invalid id, as `logs --tenant ""` says."""
    fast_home(cli, home)
    for name in ("alpha", "beta"):
        assert cli("tenant", "create", name).code == 0
        assert cli("key", "create", name).code == 0
        assert cli("search", name, "anything").code == 0
    for args in (("usage", "--tenant", "", "--csv"), ("usage", "--tenant", ""), ("key", "list", "")):
        result = cli(*args)
        assert result.code == ExitCode.USAGE and "invalid tenant id ''" in result.err, args
        assert "alpha" not in result.out and "beta" not in result.out, args
    assert {row.split(",")[0] for row in cli("usage", "--tenant", "beta", "--csv").out.split()[1:]} == {"beta"}
    assert [k["tenant"] for k in cli("key", "list", "beta", "--json").json()] == ["beta"]


def test_reindex_busy_tenant_gets_its_own_exit_code(cli, home, tmp_path):
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 2)
    cli("source", "add", "t", tmp_path / "d")
    with open_tenant("t").write_lock():
        busy = cli("reindex", "t")
        assert busy.code == ExitCode.BUSY and "busy" in busy.err
        assert "pass --wait SECONDS" in busy.err  # the line names the fix, as every other error does
        assert cli("ingest", "t", tmp_path / "d").code == ExitCode.BUSY
        assert cli("reindex", "--all", "--json").json()["status"] == "busy"
    assert cli("reindex", "t").code == 0


def test_key_list_of_an_unknown_tenant_is_not_found(cli, home):
    """`key list acne` (a typo) printed nothing and exited 0, as if acme had no keys; every other command
    naming a tenant that does not exist exits 3."""
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    assert cli("key", "create", "acme").code == 0
    for args in (("key", "list", "acne"), ("key", "list", "acne", "--json")):
        result = cli(*args)
        assert result.code == ExitCode.NOT_FOUND and "tenant 'acne' does not exist" in result.err, args
        assert (result.json()["exit_code"] == 3) if "--json" in args else result.out == "", args
    assert len(cli("key", "list", "acme", "--json").json()) == 1


def test_a_long_message_on_stderr_keeps_its_command_on_one_line(cli, home):
    """stderr wrapped at 80 columns when it was not a terminal (cron mail, a log file): "`tenantctl ingest
    T` / `PATH`." split the command a hint gives over two lines."""
    fast_home(cli, home)
    tenant = "customer-with-a-rather-long-tenant-id"
    cli("tenant", "create", tenant)
    result = cli("search", tenant, "anything")
    assert f"It has no documents yet: `tenantctl ingest {tenant} PATH`." in result.err
    gone = cli("logs", "--tenant", "no-such-customer-with-a-rather-long-id")
    assert "(`tenantctl tenant list`)" in gone.err and len(gone.err.strip().splitlines()) == 1


def test_usage_events_are_ok_refused_or_errors_also_when_interrupted(cli, home):
    """An interrupted ingest or question (Ctrl-C, a client gone) was an event that was neither ok, refused
    nor an error: "2 events (0 refused, 0 errors)" with one ok, so the figures did not add up."""
    from tenantctl.storage import metering
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "acme")
    with open_tenant("acme").open_store() as store:
        with metering.track(store, "ingest"):
            pass
        with pytest.raises(KeyboardInterrupt), metering.track(store, "ingest"):
            raise KeyboardInterrupt
    row = cli("usage", "--tenant", "acme", "--json").json()["usage"][0]
    assert (row["events"], row["ok"], row["refused"], row["errors"]) == (2, 1, 0, 1)
    assert "2 events (0 refused, 1 error)" in cli("usage", "--tenant", "acme").out
    assert cli("usage", "--since", "2999-01-01").err.strip() == "No usage recorded since 2999-01-01."


def test_an_empty_listing_says_so_on_stderr(cli, home):
    """`chat T --list`, `source list T` and `key list` printed nothing at all when there was nothing: no
    sessions, or the wrong home? `tenant list` and `tool list` said so."""
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    for args, said in ((("chat", "acme", "--list"), "Tenant acme has no chat sessions yet: `tenantctl chat acme`"),
                       (("source", "list", "acme"), "Tenant acme has no sources: `tenantctl source add acme PATH`"),
                       (("key", "list", "acme"), "No API keys yet: `tenantctl key create acme`"),
                       (("key", "list"), "No API keys yet: `tenantctl key create TENANT`")):
        result = cli(*args)
        assert result.code == 0 and result.out == "" and said in result.err, (args, result)
        assert cli(*args, "--json").json() == []


def test_options_that_exclude_each_other_are_a_usage_error(cli, home):
    """`chat T --list --session X` listed every session (X might not even exist) and `usage --csv --json`
    printed CSV: one option was dropped without a word."""
    fast_home(cli, home)
    cli("tenant", "create", "acme")
    for args, said in ((("chat", "acme", "--list", "--session", "nosuch"), "--list lists the sessions, --session"),
                       (("usage", "--csv", "--json"), "--csv or --json, not both")):
        result = cli(*args)
        assert result.code == ExitCode.USAGE and said in result.err, (args, result)
        assert (result.json()["error"] == said) if "--json" in args else result.out == "", (args, result)


def test_an_ingest_that_waited_for_the_lock_says_so_apart_from_its_own_time(cli, home, tmp_path):
    """`ingest --wait 60` behind another writer said "13 chunks embedded in 15.5s": the wait counted as its
    own time. And a --wait that ran out still said "pass --wait SECONDS"."""
    import threading
    import time

    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 2)
    with open_tenant("t").write_lock():
        short = cli("ingest", "t", tmp_path / "d", "--wait", "0.2")
    assert short.code == ExitCode.BUSY and "(waited 0.2 s)" in short.err and "pass a longer --wait" in short.err
    held = threading.Event()

    def writer():
        with open_tenant("t").write_lock():
            held.set()
            time.sleep(0.6)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait()
    result = cli("ingest", "t", tmp_path / "d", "--wait", "10", "--json")
    thread.join()
    summary = result.json()
    assert result.code == 0 and summary["added"] == 2 and summary["waited"] >= 0.4, summary
    assert summary["seconds"] < summary["waited"], summary  # a few files of the hashing embedder
    again = cli("ingest", "t", tmp_path / "d")
    assert again.code == 0 and "waiting" not in again.out


def test_the_next_ingest_writes_an_index_file_that_went_missing(cli, home, tmp_path):
    """An index file deleted under a current manifest stayed missing after the next ingest (nothing had
    changed, so nothing was written): `verify` kept asking for `repair`."""
    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 2)
    assert cli("ingest", "t", tmp_path / "d").code == 0
    (index,) = (home / "tenants" / "t").glob("index-*.faiss")
    index.unlink()
    assert cli("verify", "t").code == 1
    assert cli("ingest", "t", tmp_path / "d").code == 0
    assert cli("verify", "t").code == 0 and index.is_file()


def test_last_ingest_moves_when_a_reindex_only_removes_a_document(cli, home, tmp_path):
    """`tenant show`'s last_ingest was the newest document's ingest time: a reindex that only dropped a
    deleted file left it where it was (and removing the newest document moved it back)."""
    import calendar
    import time

    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 2)
    assert cli("source", "add", "t", tmp_path / "d").code == 0
    assert cli("reindex", "t").code == 0
    with open_tenant("t").open_store() as store, store.transaction():  # as if indexed a day ago
        store.conn.execute("UPDATE documents SET ingested_at = ingested_at - 86400")
        store.conn.execute("UPDATE meta SET value = CAST(value AS REAL) - 86400 WHERE key = 'changed_at'")
    day_ago = cli("tenant", "show", "t", "--json").json()["last_ingest"]
    before = int(time.time())
    next(p for p in (tmp_path / "d").iterdir()).unlink()
    assert cli("reindex", "t").code == 0
    shown = cli("tenant", "show", "t", "--json").json()
    assert shown["documents"] == 1
    moved = calendar.timegm(time.strptime(shown["last_ingest"], "%Y-%m-%dT%H:%M:%SZ"))
    assert moved >= before, (day_ago, shown["last_ingest"])


def test_suspended_tenant_refuses_ingest_and_questions_but_searches(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 2)
    assert cli("ingest", "t", tmp_path / "d").code == 0
    assert cli("tenant", "suspend", "t").code == 0
    assert cli("tenant", "list", "--json").json()[0]["status"] == "suspended"
    refused = cli("ingest", "t", tmp_path / "d")
    assert refused.code == ExitCode.REFUSED and "suspended" in refused.err and "tenant resume t" in refused.err
    asked = cli("query", "t", "What is fact number 1?")
    assert asked.code == ExitCode.REFUSED and "suspended" in asked.err
    assert cli("search", "t", "fact number 1", "--json").code == 0
    refused = {r["operation"]: r["refused"] for r in cli("usage", "--json").json()["usage"]}
    assert refused["ingest"] == 1 and refused["question"] == 1
    assert cli("tenant", "resume", "t").code == 0
    assert cli("ingest", "t", tmp_path / "d").code == 0


def test_storage_quotas_refuse_before_embedding(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "t")
    set_tenant_yaml(home, "t", quotas={"documents": 3})
    _write_docs(tmp_path / "d", 3)
    assert cli("ingest", "t", tmp_path / "d").code == 0
    _write_docs(tmp_path / "d", 4)
    over = cli("ingest", "t", tmp_path / "d")
    assert over.code == ExitCode.REFUSED and "quota documents=3" in over.err and "would hold 4" in over.err
    assert cli("tenant", "show", "t", "--json").json()["documents"] == 3
    set_tenant_yaml(home, "t", quotas={"bytes": 10})
    edited = tmp_path / "d" / "doc0.md"
    edited.write_text(edited.read_text() + "more\n")
    assert "quota bytes=10" in cli("ingest", "t", tmp_path / "d").err


def test_a_quota_lowered_below_what_a_tenant_holds_refuses_growth_not_the_prune_it_advises(cli, home, tmp_path):
    """With `documents: 2` set on a tenant holding 4, every ingest was refused: one that changed nothing (the
    nightly reindex, an alert every night) and the `ingest --prune` its hint advised. Only growth is refused."""
    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 4)
    assert cli("ingest", "t", tmp_path / "d").code == 0
    set_tenant_yaml(home, "t", quotas={"documents": 2})
    assert cli("ingest", "t", tmp_path / "d").code == 0  # nothing changed
    (tmp_path / "d" / "doc3.md").unlink()
    pruned = cli("ingest", "t", tmp_path / "d", "--prune", "--json")
    assert pruned.code == 0 and pruned.json()["removed"] == 1, pruned
    assert cli("tenant", "show", "t", "--json").json()["documents"] == 3
    _write_docs(tmp_path / "more", 1, prefix="extra")
    grown = cli("ingest", "t", tmp_path / "more")
    assert grown.code == ExitCode.REFUSED and "would hold 4 documents" in grown.err, grown
    set_tenant_yaml(home, "t", quotas={"bytes": 10})  # already over: a smaller file runs, a larger one not
    (tmp_path / "d" / "doc0.md").write_text("# d\n\nShort.\n")
    assert cli("ingest", "t", tmp_path / "d").code == 0
    (tmp_path / "d" / "doc1.md").write_text("# d\n\n" + "Much longer text. " * 20 + "\n")
    assert "quota bytes=10" in cli("ingest", "t", tmp_path / "d").err


@pytest.mark.slow
def test_usage_totals_match_operations_and_question_quota(cli, home, tmp_path):
    docs = copy_samples(tmp_path / "samples") / "acme-hr"
    cli("tenant", "create", "acme")
    cli("tenant", "create", "other")
    set_tenant_yaml(home, "acme", quotas={"questions_per_day": 2})
    ingest = cli("ingest", "acme", docs, "--json").json()
    for q in ("annual leave", "hotel limit", "learning budget"):
        assert cli("search", "acme", q).code == 0
    first = cli("query", "acme", "How long is the probation period for new hires?", "--json").json()
    cli("query", "acme", "What is the boiling point of liquid nitrogen?", "--json")  # no answer: still a question
    refused = cli("query", "acme", "How many days of paid annual leave do employees accrue?")
    assert refused.code == ExitCode.REFUSED and "questions_per_day=2" in refused.err

    report = cli("usage", "--json").json()
    rows = {(r["tenant"], r["operation"]): r for r in report["usage"]}
    assert rows[("acme", "ingest")]["events"] == 1
    assert rows[("acme", "ingest")]["chunks_embedded"] == ingest["chunks"]
    assert rows[("acme", "search")]["events"] == 3
    q = rows[("acme", "question")]
    assert (q["events"], q["ok"], q["refused"]) == (3, 2, 1)
    assert q["prompt_tokens"] == first["timings"]["prompt_tokens"]
    assert q["completion_tokens"] == first["timings"]["completion_tokens"]
    assert not any(t == "other" for t, _ in rows)
    assert report["quotas"]["acme"]["questions_per_day"] == {"used": 2, "limit": 2}

    by_day = cli("usage", "--tenant", "acme", "--by", "day", "--csv")
    lines = by_day.out.strip().splitlines()
    assert lines[0].startswith("tenant,period,operation") and len(lines) == 4
    assert cli("usage", "--since", "2999-01-01", "--json").json()["usage"] == []
    assert cli("usage", "--by", "week").code == ExitCode.USAGE


def test_logs_carry_the_tenant_and_no_document_text(cli, home, tmp_path):
    fast_home(cli, home)
    for name in ("alpha", "beta"):
        cli("tenant", "create", name)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.md").write_text("# A\n\nThe alpha launch code is PINEAPPLE-42.\n")
    cli("ingest", "alpha", tmp_path / "a")
    cli("search", "alpha", "launch code PINEAPPLE")
    cli("search", "beta", "launch code")
    log_text = (home / "logs" / "tenantctl.jsonl").read_text()
    assert "PINEAPPLE" not in log_text
    # The tenant field is checked on the raw file: `logs --tenant` filters by it, so its output cannot show
    # a line written with the wrong tenant.
    raw = [json.loads(line) for line in log_text.splitlines()]
    searches = [(r["tenant"], r.get("outcome")) for r in raw if r["event"] == "search"]
    assert searches == [("alpha", "ok"), ("beta", "ok")]
    assert [r["tenant"] for r in raw if r["event"] == "ingest"] == ["alpha"]
    assert all(r["tenant"] in ("alpha", "beta") for r in raw if r["event"] == "command" and r["command"] != "init")
    alpha = cli("logs", "--tenant", "alpha", "--json").json()
    assert alpha == [r for r in raw if r["tenant"] == "alpha"]
    assert {r["event"] for r in alpha} >= {"command", "ingest", "search"}
    beta = [json.loads(line) for line in cli("logs", "--tenant", "beta").out.splitlines()]
    assert beta and beta == [r for r in raw if r["tenant"] == "beta"]
    assert cli("logs", "-n", "1", "--json").json()[-1]["event"] == "command"
    assert cli("logs", "--tenant", "alpha", "-n", "2", "--json").json() == alpha[-2:]  # the last two, in order
    # --since takes a date as `usage --since` does: "yesterday" or month 13 printed nothing, exit 0.
    today = raw[-1]["ts"][:10]
    assert cli("logs", "--since", today, "--json").json() and cli("logs", "--since", "2999-01-01").out == ""
    # Nothing printed said nothing of why: a mistyped tenant id is named (a deleted tenant's lines stay).
    assert cli("logs", "--since", "2999-01-01").err.strip() == "No log lines since 2999-01-01."
    typo = cli("logs", "--tenant", "alpah")
    assert typo.code == 0 and typo.out == "" and "no tenant 'alpah' exists" in typo.err, typo
    assert cli("logs", "--tenant", "alpah", "--json").json() == []
    for bad in ("yesterday", "2026-13-01"):
        result = cli("logs", "--since", bad)
        assert result.code == ExitCode.USAGE and f"invalid date '{bad}'" in result.err, result


def test_reindex_all_script_alerts_on_failure(cli, home, tmp_path):
    """scripts/reindex-all.sh, as cron runs it: silent when all is well, an alert naming the failure."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    fast_home(cli, home)
    cli("tenant", "create", "ok")
    cli("tenant", "create", "bad")
    _write_docs(tmp_path / "ok", 2)
    _write_docs(tmp_path / "bad", 1)
    cli("source", "add", "ok", tmp_path / "ok")
    cli("source", "add", "bad", tmp_path / "bad")
    script = Path(__file__).resolve().parent.parent / "scripts" / "reindex-all.sh"
    wrapper = tmp_path / "tenantctl"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m tenantctl \"$@\"\n")
    wrapper.chmod(0o755)
    alert = tmp_path / "alert.txt"
    env = {**os.environ, "TENANTCTL": str(wrapper), "ALERT_CMD": f"cat > {alert}"}

    quiet = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == "" and not alert.exists()

    (tmp_path / "bad" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    loud = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert loud.returncode == 4
    report = alert.read_text()
    assert "exited 4" in report and "- bad: partial" in report and "broken.pdf" in report and "- ok" not in report


def test_reindex_of_a_named_suspended_tenant_is_refused(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "t")
    _write_docs(tmp_path / "d", 1)
    cli("source", "add", "t", tmp_path / "d")
    again = cli("source", "add", "t", tmp_path / "d", "--exclude", "x*")
    assert "updated" in again.out
    cli("tenant", "suspend", "t")
    result = cli("reindex", "t")
    assert result.code == ExitCode.REFUSED and "suspended" in result.err
    assert cli("reindex", "--all", "--json").json()["tenants"][0]["status"] == "skipped"
    chat = cli("chat", "t")
    assert chat.code == ExitCode.REFUSED and cli("chat", "t", "--list", "--json").json() == []


def test_a_log_lines_time_is_one_instant(home, monkeypatch):
    """Its seconds and milliseconds come from one clock reading: read twice across a second's turn, the
    line would say 12:00:00.001, a time before the event."""
    import time as clock

    from tenantctl import logs

    readings = iter([1_700_000_000.999, 1_700_000_001.001])
    monkeypatch.setattr(logs.time, "time", lambda: next(readings, 1_700_000_001.5))
    logs.event("probe")
    [row] = list(logs.read())
    assert row["ts"] == clock.strftime("%Y-%m-%dT%H:%M:%S", clock.gmtime(1_700_000_000)) + ".999Z"
