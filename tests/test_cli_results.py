"""The second new user's run: every result has --json (also the commands that change state), and
counts are printed with the right plural ("1 chunk embedded", not "1 chunks")."""

from tests.conftest import fast_home
from tests.test_hardening import _tenant

NO_RESULT = {"serve"}  # runs until stopped: no result to print


def _commands(command, prefix: str = ""):
    if hasattr(command, "commands"):  # a group (typer's own click)
        for name, sub in command.commands.items():
            yield from _commands(sub, prefix + name + " ")
    else:
        yield prefix.strip(), command


def test_every_command_but_serve_has_json():
    """The README: "Every listing and result has `--json`". tenant suspend|resume|delete, key revoke and
    source add|remove had none."""
    import typer.main

    from tenantctl.cli import app

    commands = dict(_commands(typer.main.get_command(app)))
    assert {"tenant suspend", "key revoke", "source add", "ingest"} <= set(commands)
    missing = [name for name, command in commands.items()
               if name not in NO_RESULT and not any("--json" in p.opts for p in command.params)]
    assert not missing, f"no --json: {missing}"


def test_suspend_resume_delete_json(cli, home, tmp_path):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "a")
    _tenant(cli, home, tmp_path, "b")
    suspended = cli("tenant", "suspend", "a", "--json")
    assert suspended.code == 0 and suspended.err == "", suspended
    info = suspended.json()
    assert info["id"] == "a" and info["status"] == "suspended" and info["documents"] == 1
    assert info == cli("tenant", "show", "a", "--json").json()  # the shape `tenant show|create --json` use
    assert cli("tenant", "show", "b", "--json").json()["status"] == "active"  # the other tenant untouched
    assert cli("tenant", "resume", "a", "--json").json()["status"] == "active"
    assert cli("tenant", "suspend", "a").out == "Suspended tenant a\n"  # text unchanged without --json
    deleted = cli("tenant", "delete", "a", "--yes", "--json")
    assert deleted.code == 0 and deleted.json() == {"tenant": "a", "deleted": True}, deleted
    assert [t["id"] for t in cli("tenant", "list", "--json").json()] == ["b"]


def test_key_revoke_json_is_the_key_as_listed(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "a")
    cli("tenant", "create", "b")
    key_a = cli("key", "create", "a", "--json").json()["id"]
    key_b = cli("key", "create", "b", "--json").json()["id"]
    revoked = cli("key", "revoke", key_a, "--json")
    assert revoked.code == 0, revoked
    shown = revoked.json()
    assert shown["id"] == key_a and shown["tenant"] == "a" and shown["revoked_at"] and "key" not in shown
    listed = {k["id"]: k for k in cli("key", "list", "--json").json()}
    assert shown == listed[key_a] and listed[key_b]["revoked_at"] is None  # b's key stays live
    unknown = cli("key", "revoke", "nope", "--json")  # not found (3), as an unknown tenant or session
    assert unknown.code == 3 and "no API key 'nope'" in unknown.err and "tenantctl key list" in unknown.err


def test_source_add_remove_json_shows_only_that_tenants_sources(cli, home, tmp_path):
    fast_home(cli, home)
    cli("tenant", "create", "a")
    cli("tenant", "create", "b")
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    assert cli("source", "add", "b", theirs).code == 0
    added = cli("source", "add", "a", mine, "--include", "*.md", "--json")
    assert added.code == 0, added
    assert added.json() == {"tenant": "a", "source": str(mine.resolve()), "action": "added",
                            "sources": [{"path": str(mine.resolve()), "include": ["*.md"], "exclude": []}]}
    assert cli("source", "add", "a", mine, "--json").json()["action"] == "updated"
    # b's source cannot be removed through a (cross-tenant probe): a's tenant.yaml has no such source
    probe = cli("source", "remove", "a", str(theirs.resolve()), "--json")
    assert probe.code == 3 and probe.json()["exit_code"] == 3, probe  # not found, said as JSON too
    assert cli("source", "list", "b", "--json").json()[0]["path"] == str(theirs.resolve())
    removed = cli("source", "remove", "a", str(mine.resolve()), "--json")
    assert removed.json() == {"tenant": "a", "source": str(mine.resolve()), "action": "removed", "sources": [],
                              "documents_removed": 0}
    # a relative path typed is named as `source add` and `source list` name it (it was echoed as typed)
    import os

    assert cli("source", "add", "a", mine).code == 0
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        relative = cli("source", "remove", "a", "mine", "--json")
    finally:
        os.chdir(cwd)
    assert relative.code == 0 and relative.json()["source"] == str(mine.resolve()), relative


def test_counts_have_the_right_plural(cli, home, tmp_path):
    """`ingest` printed "1 chunks embedded"; verify "1 documents, 1 chunks"; usage "1 events"."""
    fast_home(cli, home)
    cli("tenant", "create", "t")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    ingested = cli("ingest", "t", folder)
    assert ingested.code == 0 and "; 1 chunk embedded in " in ingested.out, ingested
    verified = cli("verify", "t").out
    assert "1 document, 1 chunk," in verified, verified
    cli("search", "t", "gate code")
    rows = cli("usage", "--tenant", "t").out
    assert " 1 event  (0 refused, 0 errors)" in rows, rows
    assert "1 vector," in cli("repair", "t").out
    (folder / "b.md").write_text("# B\n\nThe door code is 1234.\n")
    assert "; 1 chunk embedded" in cli("ingest", "t", folder).out
    (folder / "c.md").write_text("# C\n\nOne.\n\n# D\n\nTwo.\n")
    assert "; 2 chunks embedded" in cli("ingest", "t", folder).out
    from tenantctl.operations.doctor import _registry_rows  # doctor printed "(1 tenant(s))"

    assert [c.detail.endswith("(1 tenant)") for c in _registry_rows(None)[0]] == [True]


def test_a_model_added_while_serve_runs_names_the_restart(cli, home, tmp_path):
    """Pilot rollout: a model entry added to config.yaml while `serve` ran, and a tenant switched to it,
    got 503 "add it under `models:` in config.yaml" -- where it already was; the server reads config.yaml
    when it starts. The other tenant goes on."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app
    from tests.test_server import _auth

    fast_home(cli, home)
    for name in ("a", "b"):
        _tenant(cli, home, tmp_path, name, docs={"g.md": "# Gate\n\nThe gate code of the north hall is 4711.\n"})
    key_a, key_b = (cli("key", "create", name).out.strip() for name in ("a", "b"))
    with TestClient(create_app(load_config())) as client:
        (home / "config.yaml").write_text((home / "config.yaml").read_text() + "models:\n  pilot: {max_tokens: 40}\n")
        path = home / "tenants" / "a" / "tenant.yaml"
        path.write_text(path.read_text().replace("answer:\n", "answer:\n  model: pilot\n", 1))
        ask = {"question": "What is the gate code of the north hall?", "k": 1}
        refused = client.post("/v1/query", json=ask, headers=_auth(key_a))
        assert refused.status_code == 503 and "restarts the server" in refused.json()["hint"], refused.text
        assert "config.yaml" not in refused.json()["hint"]
        assert "pilot" in refused.json()["error"] and str(home) not in refused.text
        assert client.post("/v1/search", json={"query": "gate code"}, headers=_auth(key_b)).status_code == 200
    assert cli("tenant", "show", "a", "--json").json()["model"] == "pilot"  # a new process sees it


def test_a_deleted_tenant_leaves_nothing_in_the_home(cli, home, tmp_path):
    """`tenant delete` removed the registry rows, but their bytes (display name, key labels and hashes)
    stayed in registry.db-wal (and, after a checkpoint, in registry.db's free pages). A tenant re-created
    under the same id sees nothing of the old one."""
    import hashlib
    import sqlite3

    fast_home(cli, home)
    assert cli("tenant", "create", "keep", "--name", "Keeper Ltd").code == 0
    assert cli("tenant", "create", "gone", "--name", "Zebra Unique Holdings").code == 0
    _tenant(cli, home, tmp_path, "gone2", docs={"v.md": "# Vault\n\nThe vault combination is 9-27-44.\n"})
    secret = cli("key", "create", "gone", "--name", "zebra-label-xyz").out.strip()
    cli("key", "create", "keep", "--name", "keeper-label")
    server = sqlite3.connect(home / "registry.db")  # as a running `serve` keeps one: the WAL stays
    server.execute("SELECT count(*) FROM tenants").fetchone()
    assert cli("tenant", "delete", "gone", "--yes").code == 0
    assert cli("tenant", "delete", "gone2", "--yes").code == 0
    traces = [b"Zebra Unique Holdings", b"zebra-label-xyz", hashlib.sha256(secret.encode()).hexdigest().encode(),
              b"9-27-44"]
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [t for t in traces if t in data], f"{path} keeps a deleted tenant's data"
    assert [r[0] for r in server.execute("SELECT display_name FROM tenants")] == ["Keeper Ltd"]
    server.close()
    assert [k["name"] for k in cli("key", "list", "--json").json()] == ["keeper-label"]
    assert cli("tenant", "create", "gone2").code == 0  # the same id again: nothing of the old one
    assert cli("usage", "--tenant", "gone2", "--json").json()["usage"] == []
    assert cli("search", "gone2", "vault combination", "--json").json() == []
    assert cli("tenant", "show", "gone2", "--json").json()["display_name"] is None


def test_a_local_tenant_whose_tenant_yaml_is_broken_can_be_deleted(cli, home, tmp_path):
    """`tenant delete --yes` of a tenant whose tenant.yaml was not valid YAML failed with "fix the syntax
    in …/tenant.yaml": a broken tenant could not be removed. Its neighbour is untouched."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "broken", docs={"v.md": "# Vault\n\nThe vault combination is 9-27-44.\n"})
    _tenant(cli, home, tmp_path, "keep", docs={"k.md": "# Keep\n\nThe keeper's code is 5-5-5.\n"})
    (home / "tenants" / "broken" / "tenant.yaml").write_text("id: broken\nanswer: [unclosed\n")
    assert cli("search", "broken", "vault").code != 0  # broken indeed
    result = cli("tenant", "delete", "broken", "--yes")
    assert result.code == 0, result
    assert not (home / "tenants" / "broken").exists()
    assert [t["id"] for t in cli("tenant", "list", "--json").json()] == ["keep"]
    assert "5-5-5" in cli("search", "keep", "keeper code", "--json").out


def test_help_names_arguments_as_the_readme_does_and_summaries_fit_one_line():
    """`--help` showed `{sources}...`, `{question}`, `{query}`, `{path}`, `{key_id}` beside `{TENANT}` (the
    README writes PATH..., QUESTION, TEXT); the command list broke eval's and init's summaries mid-line."""
    import typer.main

    from tenantctl.cli import app

    commands = dict(_commands(typer.main.get_command(app)))
    wrong = {name: p.metavar for name, command in commands.items() for p in command.params
             if p.param_type_name == "argument" and not (p.metavar and p.metavar.isupper())}
    assert not wrong, wrong
    assert [p.metavar for p in commands["ingest"].params if p.param_type_name == "argument"] == ["TENANT", "PATH"]
    assert [p.metavar for p in commands["search"].params if p.param_type_name == "argument"] == ["TENANT", "TEXT"]
    broken = [name for name, command in commands.items() if "\n" in (command.help or "").strip().split("\n\n")[0]]
    assert not broken, f"summary over several lines: {broken}"


def test_delete_of_a_busy_tenant_can_wait_as_its_hint_says(cli, home, tmp_path):
    """`tenant delete` during an ingest said "busy ... pass --wait SECONDS", but had no --wait."""
    import threading
    import time

    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "a")
    _tenant(cli, home, tmp_path, "b")
    held, release = threading.Event(), threading.Event()

    def writer():  # as an ingest of a holds a's write lock
        with open_tenant("a").write_lock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(5)
    busy = cli("tenant", "delete", "a", "--yes")
    assert busy.code == 75 and "--wait SECONDS" in busy.err, busy
    assert cli("tenant", "show", "a", "--json").json()["documents"] == 1  # nothing of it went
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    waited = cli("tenant", "delete", "a", "--yes", "--wait", "10", "--json")
    thread.join()
    assert waited.code == 0 and waited.json() == {"tenant": "a", "deleted": True}, waited
    assert time.monotonic() - started >= 0.15
    assert [t["id"] for t in cli("tenant", "list", "--json").json()] == ["b"]  # b untouched
    assert cli("search", "b", "gate code", "--json").json()


def test_a_refused_upload_is_metered_once_as_a_refused_cli_ingest_is(cli, home, tmp_path):
    """An upload over the document quota (429) or of a suspended tenant (403) left no usage event; the same
    refusal through `tenantctl ingest` is one refused `ingest` event."""
    import io

    import pytest

    from tenantctl.config import load_config
    from tenantctl.errors import Refused
    from tenantctl.ingestion.uploads import Upload, store_uploads
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "a")
    _tenant(cli, home, tmp_path, "b")
    path = home / "tenants" / "a" / "tenant.yaml"
    path.write_text(path.read_text().replace("quotas: {}", "quotas: {documents: 1}"))

    def ingests(tenant):
        return {(r["ok"], r["refused"]) for r in cli("usage", "--tenant", tenant, "--json").json()["usage"]
                if r["operation"] == "ingest"}

    def upload():
        data = b"# New\n\nA new page.\n"
        store_uploads(open_tenant("a"), [Upload("new.md", io.BytesIO(data), len(data))], load_config(),
                      max_file_bytes=1 << 20)

    with pytest.raises(Refused, match="quota documents=1"):
        upload()
    assert ingests("a") == {(1, 1)}
    more = tmp_path / "more"
    more.mkdir()
    (more / "m.md").write_text("# M\n\nMore.\n")
    assert cli("ingest", "a", more).code == 5
    assert ingests("a") == {(1, 2)}  # the CLI's refusal: one event too
    assert cli("tenant", "suspend", "a").code == 0
    with pytest.raises(Refused, match="suspended"):
        upload()
    assert ingests("a") == {(1, 3)}
    assert ingests("b") == {(1, 0)}  # the other tenant's usage is its own
    assert not (home / "tenants" / "a" / "uploads" / "new.md").exists()


def test_source_remove_drops_its_documents_and_only_its_own(cli, home, tmp_path):
    """`source remove` said "its documents go at the next reindex", but reindex prunes only under the sources
    it still has (and refuses a tenant left without any): the documents stayed, with no command to drop them."""
    fast_home(cli, home)
    folder = tmp_path / "all"
    (folder / "sub").mkdir(parents=True)
    (folder / "top.md").write_text("# Top\n\nThe walrus password is anchovy.\n")
    (folder / "sub" / "kept.md").write_text("# Kept\n\nThe heron password is sardine.\n")
    for name in ("a", "b"):
        _tenant(cli, home, tmp_path, name, docs={"own.md": "# Own\n\nThe own password is tuna.\n"})
        assert cli("ingest", name, folder).code == 0
    assert cli("source", "add", "a", folder).code == 0
    assert cli("source", "add", "a", folder / "sub").code == 0
    removed = cli("source", "remove", "a", str(folder.resolve()))
    assert removed.code == 0 and "and its 1 document from the index" in removed.out, removed

    def paths(tenant, text):
        return {h["path"].rsplit("/", 1)[-1] for h in cli("search", tenant, text, "--json").json()}

    assert "top.md" not in paths("a", "walrus password anchovy")  # gone from a's index
    assert "kept.md" in paths("a", "heron password sardine")  # another source of a holds it
    assert "own.md" in paths("a", "own password tuna")  # ingested by hand: not a source's
    assert "top.md" in paths("b", "walrus password anchovy")  # b's copy is b's (cross-tenant probe)
    assert cli("tenant", "show", "a", "--json").json()["documents"] == 2
    assert cli("tenant", "show", "b", "--json").json()["documents"] == 3
    assert cli("verify", "a").code == 0
    again = cli("source", "remove", "a", str(folder.resolve()))  # not a source any more: nothing changes
    assert again.code == 3 and cli("tenant", "show", "a", "--json").json()["documents"] == 2


def test_reindex_and_serve_help_say_what_they_do(cli, home, tmp_path):
    """`reindex --help` listed exit codes 0, 4, 75, 1, but a named suspended tenant exits 5 and one without
    sources 2; `serve --help` did not say config.yaml is read at start only."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "a")
    text = " ".join(cli("reindex", "--help").out.split())
    assert "5 the named tenant is suspended, 2 it has no sources" in text
    assert cli("reindex", "a").code == 2
    cli("tenant", "suspend", "a")
    assert cli("reindex", "a").code == 5
    assert "config.yaml is read at start (restart after changing it)" in " ".join(cli("serve", "--help").out.split())


def test_two_creates_of_one_id_at_once_one_wins_the_other_is_told_it_exists(cli, home, monkeypatch):
    """Five concurrent `tenantctl create race`: one printed 'OSError: [Errno 39] Directory not empty:
    .creating-race-PID -> race' (exit 1) instead of "already exists" (exit 2)."""
    from tenantctl.storage import tenants

    fast_home(cli, home)
    clean = tenants.clean_leftovers

    def the_other_create_wins():  # runs after this create's checks, before its folder is renamed into place
        monkeypatch.setattr(tenants, "clean_leftovers", clean)
        tenants.create_tenant("race", "The winner")
        clean()

    monkeypatch.setattr(tenants, "clean_leftovers", the_other_create_wins)
    lost = cli("create", "race", "--name", "The loser")
    assert lost.code == 2 and "tenant 'race' already exists" in lost.err and "OSError" not in lost.err, lost
    assert cli("tenant", "show", "race", "--json").json()["display_name"] == "The winner"
    assert [p.name for p in (home / "tenants").iterdir()] == ["race"]  # no staging folder left


def test_source_adds_at_once_lose_none(cli, home, tmp_path, monkeypatch):
    """Six `source add` of one tenant at once: all exited 0, three sources were in tenant.yaml (each
    read the file, added its own, wrote it back over the others')."""
    import threading
    import time

    import yaml

    from tenantctl.ingestion import reindex
    from tenantctl.ingestion.ingest import SourceSpec
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    cli("tenant", "create", "t")
    cli("tenant", "create", "u")
    load = yaml.safe_load

    def slow_load(text):  # widens the window between reading tenant.yaml and writing it back
        data = load(text)
        time.sleep(0.05)
        return data

    monkeypatch.setattr(reindex.yaml, "safe_load", slow_load)
    folders = [tmp_path / f"src{i}" for i in range(6)]
    for folder in folders:
        folder.mkdir()
    threads = [threading.Thread(target=reindex.edit_sources, args=(open_tenant("t"),),
                                kwargs={"add": SourceSpec(f.resolve())}) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = {s["path"] for s in cli("source", "list", "t", "--json").json()}
    assert listed == {str(f.resolve()) for f in folders}
    assert cli("source", "list", "u", "--json").json() == []  # the other tenant's settings untouched


def test_an_upload_staging_folder_a_killed_server_left_is_named_and_removed(cli, home, tmp_path):
    """`serve` killed (-9) during an upload left `uploads/.incoming-<hex>/` behind; doctor called the home
    healthy and nothing ever removed it. Now named by the server's pid, it is a leftover like an
    interrupted create's: doctor warns, the next create/delete/import removes it; a live server's stays."""
    import os
    import subprocess
    import sys

    from tenantctl.operations.doctor import check_leftovers

    fast_home(cli, home)
    _tenant(cli, home, tmp_path, "a")
    uploads = home / "tenants" / "a" / "uploads"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = uploads / f".incoming-{dead}-0a1b2c"
    live = uploads / f".incoming-{os.getpid()}-3d4e5f"
    for folder in (left, live):
        folder.mkdir(parents=True)
        (folder / "x.md").write_text("half an upload")
    check = check_leftovers(home)
    assert check.status == "warn" and f"a/uploads/{left.name}" in check.detail and live.name not in check.detail
    assert cli("tenant", "create", "b").code == 0  # finishes what interrupted work left
    assert not left.exists() and live.exists()
    assert cli("search", "a", "gate code", "--json").json()  # the tenant itself untouched


def test_an_admin_key_reads_apart_from_a_key_of_a_tenant_named_admin(cli, home):
    """`key list` showed "admin" for an admin key and for a key of a tenant named admin (a valid id): an
    operator revoking the admin key could take the tenant's."""
    fast_home(cli, home)
    assert cli("tenant", "create", "admin").code == 0
    tenant_key, admin_key = cli("key", "create", "admin", "--json").json(), cli("key", "create", "--admin")
    assert f"admin key {cli('key', 'list', '--json').json()[1]['id']}: store it now" in admin_key.err
    lines = {line.split()[0]: line.split()[1] for line in cli("key", "list").out.splitlines()}
    assert lines[tenant_key["id"]] == "admin" and set(lines.values()) == {"admin", "(admin"}


def test_key_commands_of_a_tenant_are_in_its_log(cli, home):
    """`logs --tenant acme` left out `key list acme` and `key revoke <acme's key>` (their lines had no tenant):
    an audit of who touched a tenant's keys missed them."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    from tenantctl.context import current_tenant

    key = cli("key", "create", "acme", "--json").json()["id"]
    for command in (("key", "list", "acme"), ("key", "revoke", key)):
        current_tenant.set(None)  # as in a new process: the in-process runner keeps the last command's
        assert cli(*command).code == 0
    commands = [r["command"] for r in cli("logs", "--tenant", "acme", "--json").json() if r["event"] == "command"]
    assert {"key create", "key list", "key revoke"} <= set(commands), commands


def test_with_json_an_error_is_json_on_stdout_too(cli, home):
    """`--json` printed an error only as stderr's `Error: … / Hint: …` text: a script parsing stdout got
    nothing. It is also one JSON object on stdout, `{error, hint, exit_code}`, the exit code unchanged;
    without --json stdout stays empty."""
    import json

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    for args, code in ((("search", "nosuch", "x"), 3),           # a core error
                       (("reindex", "acme"), 2),                 # no sources
                       (("search", "acme", "x", "-k", "abc"), 2),  # a usage error of the parser
                       (("tenant", "show", "acme", "--bogus"), 2)):
        result = cli(*args, "--json")
        assert result.code == code, result
        error = result.json()
        assert set(error) == {"error", "hint", "exit_code"} and error["exit_code"] == code, error
        assert error["error"] in result.err and result.err.startswith("Error: ")  # stderr as before
        plain = cli(*args)
        assert plain.code == code and plain.out == "", plain

    # a chat's NDJSON: a refused question is a line where its answer would be, and the chat goes on
    import sys
    from io import StringIO

    sys_stdin = sys.stdin
    sys.stdin = StringIO("x" * 2100 + "\n")
    try:
        chat = cli("chat", "acme", "--json")
    finally:
        sys.stdin = sys_stdin
    assert chat.code == 2, chat
    assert [json.loads(line)["exit_code"] for line in chat.out.splitlines()] == [2]


def test_usage_json_names_the_tenants_it_could_not_read(cli, home):
    """`usage --json` left out a tenant whose tenant.yaml is invalid with only a stderr line and exit 4: a billing
    script reading the JSON saw the other tenants' usage and no sign one was missing."""
    fast_home(cli, home)
    for tenant in ("acme", "beta"):
        assert cli("tenant", "create", tenant).code == 0
    settings = home / "tenants" / "beta" / "tenant.yaml"
    settings.write_text(settings.read_text().replace("quotas: {}", "quotas: {documents: -1}"))
    result = cli("usage", "--json")
    assert result.code == 4, result
    report = result.json()
    assert list(report["quotas"]) == ["acme"] and "beta: skipped" in result.err
    [skipped] = report["skipped"]
    assert skipped["tenant"] == "beta" and "quotas.documents" in skipped["error"]
    assert "fix the setting" in skipped["hint"]
    settings.write_text(settings.read_text().replace("quotas: {documents: -1}", "quotas: {}"))
    assert cli("usage", "--json").json()["skipped"] == []


def test_export_and_import_refuse_an_empty_file_name_as_ingest_does(cli, home):
    """`tenant export acme "$FILE"` with FILE unset said "<the working directory> is a folder", and `tenant
    import ""` that it "does not exist or is not a file": the empty name an unset variable gives is named."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    for args in (("tenant", "export", "acme", ""), ("tenant", "import", "")):
        result = cli(*args)
        assert result.code == 2 and "an empty path was given" in result.err, result


def test_an_error_whose_json_meets_a_closed_pipe_keeps_its_exit_code(home, monkeypatch):
    """`tenantctl search nosuch x --json | head -0`: writing the error's JSON to a pipe its reader had closed
    raised, and a search's process then ended with exit code 0."""
    import sys

    import pytest

    from tenantctl.cli import main

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    with pytest.raises(SystemExit) as done:
        main(["search", "nosuch", "x", "--json"])
    assert done.value.code == 3
