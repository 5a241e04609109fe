"""The log names who did each administrative action: the OS user or `$TENANTCTL_ACTOR` for the CLI, the
API key's id for the HTTP API."""

from __future__ import annotations

import getpass
import json

from .conftest import fast_home


def _lines(home) -> list[dict]:
    return [json.loads(line) for line in (home / "logs" / "tenantctl.jsonl").read_text().splitlines()]


def test_every_admin_command_logs_its_actor(cli, home, tmp_path, monkeypatch):
    fast_home(cli, home)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Staff get 28 days of leave.\n")
    monkeypatch.setenv("TENANTCTL_ACTOR", "alice@ops")
    steps = [("tenant", "create", "acme"), ("key", "create", "acme"), ("source", "add", "acme", docs),
             ("reindex", "acme"), ("tenant", "suspend", "acme"), ("tenant", "resume", "acme"),
             ("tenant", "export", "acme", tmp_path / "acme.tar.gz"), ("source", "remove", "acme", docs),
             ("key", "revoke", "KEY"), ("tenant", "delete", "acme", "--yes")]
    key = None
    for args in steps:
        args = tuple(key if a == "KEY" else a for a in args)
        result = cli(*args, *(["--json"] if args[:2] == ("key", "create") else []))
        assert result.code == 0, (args, result)
        key = result.json()["id"] if args[:2] == ("key", "create") else key
    lines = _lines(home)
    commands = [line["command"] for line in lines if line["event"] == "command"]
    assert commands[-10:] == ["tenant create", "key create", "source add", "reindex", "tenant suspend",
                              "tenant resume", "tenant export", "source remove", "key revoke", "tenant delete"]
    after_init = lines[next(i for i, line in enumerate(lines) if line.get("command") == "init") + 1:]
    assert after_init and all(line.get("actor") == "alice@ops" for line in after_init), after_init
    events = {line["event"]: line for line in after_init}
    assert events["key-create"]["key"] == key and events["key-create"]["tenant"] == "acme"
    assert events["key-revoke"]["key"] == key and events["key-revoke"]["tenant"] == "acme"
    assert "source-remove" in events

    monkeypatch.delenv("TENANTCTL_ACTOR")
    assert cli("tenant", "create", "globex").code == 0
    assert _lines(home)[-1]["actor"] == getpass.getuser()


def test_a_removal_over_the_api_logs_the_key_that_made_it(cli, home):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    made = cli("key", "create", "acme", "--json").json()
    auth = {"Authorization": f"Bearer {made['key']}"}
    with TestClient(create_app(load_config())) as client:
        sent = client.post("/v1/documents", headers=auth, files=[("files", ("notes.md", b"28 days of leave."))])
        assert sent.status_code == 200, sent.text
        assert client.delete("/v1/documents/uploads/notes.md", headers=auth).status_code == 200
    removed = [line for line in _lines(home) if line["event"] == "upload-remove"]
    assert [line["actor"] for line in removed] == [f"key:{made['id']}"]
    assert made["key"] not in (home / "logs" / "tenantctl.jsonl").read_text()  # the id, never the secret
