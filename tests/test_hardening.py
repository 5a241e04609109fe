"""Hardening (issue 8): bad input and injected faults get a clean one-line error, nothing indexed is lost.

Every probe here is counted in the `BAD_INPUTS` tally that `tests/test_hardening*.py` print with
`-s`; the closing note of issue 8 quotes it.
"""

import contextlib
import errno
import io
import json
import os
import subprocess
import time
import zipfile

import pytest

from tenantctl.errors import ExitCode

from .conftest import fast_home, set_tenant_yaml


def _tenant(cli, home, tmp_path, name="t", docs=None):
    assert cli("tenant", "create", name).code == 0
    folder = tmp_path / f"docs-{name}"
    folder.mkdir()
    for fname, text in (docs or {"a.md": "# A\n\nThe gate code is 4711.\n"}).items():
        (folder / fname).write_text(text)
    assert cli("ingest", name, folder).code == 0
    return folder


def _clean(result, code=None):
    """A clean refusal: a non-zero exit, an `Error:` line, no traceback."""
    assert result.code != 0 and (code is None or result.code == code), result
    assert "Error:" in result.err and "Traceback" not in result.err + result.out, result
    return result


@contextlib.contextmanager
def tmpfs(path, size="2m"):
    """A real, small tmpfs (needs root); the test is skipped where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- settings files (item 11) -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("embedder:\n  name: hashing-64\nembedder:\n  name: other\n", "duplicate key 'embedder'"),
    ("search:\n  k: 3\n  k: 4\n", "duplicate key 'k'"),
    ("search: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
])
def test_bad_config_yaml_is_one_clean_error(cli, home, text, expected):
    cli("init")
    (home / "config.yaml").write_text(text)
    assert expected in _clean(cli("search", "x", "y")).err


def test_settings_files_not_in_utf8_are_one_clean_error(cli, home, tmp_path):
    cli("init")
    (home / "config.yaml").write_bytes(b"\xff\xfe\x00bad")
    assert "is not UTF-8 text" in _clean(cli("search", "x", "y"), ExitCode.ERROR).err
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    path = home / "tenants" / "t" / "tenant.yaml"
    path.write_bytes(path.read_bytes() + "display_name: Café\n".encode("latin-1"))
    result = _clean(cli("search", "t", "gate"), ExitCode.ERROR)
    assert "tenant.yaml is not UTF-8 text" in result.err and "save" in result.err


def test_a_home_that_is_not_a_folder_is_named(cli, home, tmp_path, monkeypatch):
    """It was "Error: FileExistsError: [Errno 17] File exists: '...'" and "run `tenantctl doctor`"."""
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("not a folder")
    for args in (("init",), ("create", "acme")):
        result = _clean(cli(*args), ExitCode.ERROR)
        assert f"Error: the tenantctl home {home} is not a folder" in result.err, result
        assert "TENANTCTL_HOME" in result.err
    if os.path.isdir("/proc"):  # a place no folder can be made in
        monkeypatch.setenv("TENANTCTL_HOME", "/proc/tenantctl-home")
        assert "does not exist and cannot be created" in _clean(cli("init"), ExitCode.ERROR).err


def test_a_folder_named_config_yaml(cli, home):
    home.mkdir(parents=True)
    (home / "config.yaml").mkdir()
    result = _clean(cli("search", "t", "x"))
    assert "cannot read" in result.err and "config.yaml" in result.err


@pytest.mark.parametrize("template, expected", [
    ("{0}", "unknown field"),
    ("{foo} {question}", "unknown field"),
    ("Passages {passages} literal { brace", "not a valid template"),
    ("{question!r}", "without conversions"),
    ("{question:>999999999}", "without conversions"),
    ("{question.__class__}", "unknown field"),
    ("hello", "lacks {passages} and {question}"),  # accepted: the model read neither and answered from nothing
    ("Answer briefly: {question}", "lacks {passages}"),
])
def test_bad_prompt_template_is_refused(cli, home, tmp_path, template, expected):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    set_tenant_yaml(home, "t", answer={"prompt_template": template})
    result = _clean(cli("query", "t", "What is the gate code?"), ExitCode.ERROR)
    assert expected in result.err and "prompt_template" in result.err


def test_literal_braces_doubled_are_fine(cli, home, tmp_path):
    from tenantctl.config import AnswerConfig

    assert AnswerConfig(prompt_template="{{json}} {passages}\nQ: {question}").prompt_template


def test_duplicate_keys_in_tenant_yaml(cli, home, tmp_path):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    path = home / "tenants" / "t" / "tenant.yaml"
    path.write_text(path.read_text() + "display_name: a\ndisplay_name: b\n")
    assert "duplicate key 'display_name'" in _clean(cli("search", "t", "gate")).err


# -- queries (item 6) --------------------------------------------------------------------------------

def test_fts_query_is_linear():
    from tenantctl.textproc import fts_query

    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(100_000))  # 100 K distinct-ish bigrams
    started = time.perf_counter()
    query = fts_query(cjk)
    assert time.perf_counter() - started < 5  # was 44-57 s (a list lookup per term)
    assert query.count(" OR ") + 1 == len(set(query.split(" OR ")))


def test_long_query_is_refused_cleanly_and_search_goes_on(cli, home, tmp_path):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    result = _clean(cli("search", "t", "漢字" * 50_000), ExitCode.USAGE)
    assert "more than the limit of 2000" in result.err and "max_query_chars" in result.err
    result = _clean(cli("query", "t", "x" * 2001), ExitCode.USAGE)
    assert cli("search", "t", "gate code").code == 0


def test_an_empty_question_is_called_a_question(cli, home, tmp_path):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    assert "Error: empty query" in _clean(cli("search", "t", "  "), ExitCode.USAGE).err
    result = _clean(cli("query", "t", " "), ExitCode.USAGE)  # was "empty query; pass the text to search for"
    assert "Error: empty question" in result.err and "ask a question" in result.err, result


def test_a_question_to_a_tenant_without_documents_says_how_to_add_them(cli, home, tmp_path):
    """`search` said "It has no documents yet"; `query` only that the documents do not hold an answer."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    assert cli("tenant", "create", "bare").code == 0
    bare = cli("query", "bare", "What is the gate code?")
    assert bare.code == 0 and "do not hold an answer" in bare.out
    assert "Tenant bare has no documents yet: `tenantctl ingest bare PATH`." in bare.err, bare
    assert "no documents yet" not in cli("query", "t", "Who painted the moon?").err


def test_a_chat_with_a_tenant_without_documents_says_how_to_add_them(cli, home, tmp_path, monkeypatch):
    """`query` said "Tenant bare has no documents yet"; `chat` only "do not hold an answer" to every question."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    assert cli("tenant", "create", "bare").code == 0
    for tenant, said in (("bare", True), ("t", False)):
        monkeypatch.setattr("sys.stdin", io.StringIO("What is the gate code?\n"))
        result = cli("chat", tenant)
        assert result.code == 0 and ("no documents yet: `tenantctl ingest bare PATH`" in result.err) is said, result


def test_chat_list_counts_exchanges(cli, home, tmp_path, monkeypatch):
    """The banner counted "earlier exchanges" and the listing "1 messages" of the same thing."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("Who painted the [moon]?\n"))  # turned away: no model
    asked = cli("chat", "t")
    assert asked.code == 0 and "Resume it with `tenantctl chat t --session " in asked.err, asked
    (line,) = cli("chat", "t", "--list").out.splitlines()
    assert line.endswith("  1 exchange  Who painted the [moon]?"), line  # the title is not rich markup
    assert cli("chat", "t", "--list", "--json").json()[0]["messages"] == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))  # left at once: it stored an empty session
    left = cli("chat", "t")
    assert left.code == 0 and "Resume" not in left.err and len(cli("chat", "t", "--list", "--json").json()) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("Who painted the moon?\nAnd the sun?\n"))
    turns = [json.loads(line) for line in cli("chat", "t", "--json").out.splitlines()]  # NDJSON: a line a turn
    assert len(turns) == 2 and turns[0]["session"] == turns[1]["session"] and turns[1]["answer"]


def test_a_slash_command_in_chat_is_no_question(cli, home, tmp_path, monkeypatch):
    """"/help" was asked of the documents: metered as a question and kept as a session titled "/help"."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("/help\n/bye\n"))
    result = cli("chat", "t")
    assert result.code == 0 and "unknown command /help: /exit, /quit or an empty line leaves" in result.err
    assert "unknown command /bye" in result.err and "Resume" not in result.err
    assert cli("chat", "t", "--list", "--json").json() == []
    assert cli("usage", "--tenant", "t", "--json").json()["quotas"]["t"]["questions_per_day"]["used"] == 0


def test_ctrl_c_says_so_and_a_chat_left_with_it_names_its_session(cli, home, tmp_path, monkeypatch):
    """Ctrl-C ended a command without a word (exit 130), and a chat left with it without the id to resume."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)

    class Stdin(io.StringIO):
        def readline(self, *args):
            line = super().readline(*args)
            if not line:
                raise KeyboardInterrupt
            return line

    monkeypatch.setattr("sys.stdin", Stdin("Who painted the moon?\n"))
    left = cli("chat", "t")
    assert left.code == ExitCode.INTERRUPTED and "Interrupted. Work already committed is kept" in left.err
    session = cli("chat", "t", "--list", "--json").json()[0]["id"]
    assert f"Resume it with `tenantctl chat t --session {session}`." in left.err


def test_a_damaged_store_names_its_tenant_and_the_command_to_check_it(cli, home, tmp_path):
    """"a database is damaged … check the tenant with `tenantctl verify TENANT`": which tenant, the
    operator had to guess (a cron job's search of many)."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    store = home / "tenants" / "t" / "store.db"
    data = bytearray(store.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page past the header
    store.write_bytes(bytes(data))
    result = cli("search", "t", "moon")
    assert result.code == ExitCode.ERROR and "while working on tenant 't'" in result.err, result
    assert "check it with `tenantctl verify t`" in result.err and "TENANT" not in result.err


def test_query_passages_without_json_is_a_usage_error(cli, home, tmp_path):
    """`query T Q --passages` answered as without it: the option only works with --json, and nothing said so."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    result = cli("query", "t", "Who painted the moon?", "--passages")
    assert result.code == ExitCode.USAGE and "--passages needs --json" in result.err and result.out == ""
    assert "question" not in {r["operation"] for r in cli("usage", "--tenant", "t", "--json").json()["usage"]}
    assert "passages" in cli("query", "t", "Who painted the moon?", "--passages", "--json").json()


def test_control_characters_of_documents_and_file_names_reach_no_terminal(cli, home, tmp_path):
    """A tenant's document with "\x1b[2J" cleared the operator's screen in `search` and `query`, and a file
    name with a newline made two lines of one "failed:" report (the second one a made-up failure)."""
    fast_home(cli, home)
    folder = _tenant(cli, home, tmp_path, docs={"vault.md": "# Vault\n\nThe safe code is 5522.\x1b[2J Cleared.\n"})
    (folder / "a\nfailed: evil.md").write_text("")
    hits = cli("search", "t", "safe code")
    assert "\x1b" not in hits.out and "5522.\\x1b[2J Cleared." in hits.out, hits.out
    assert "\x1b" in cli("search", "t", "safe code", "--json").json()[0]["text"]  # the data keeps it
    ingested = cli("ingest", "t", folder)
    (line,) = [line for line in ingested.err.splitlines() if "failed" in line]
    assert line.endswith("/a\\nfailed: evil.md: empty file"), ingested.err


def test_the_streamed_tokens_on_a_terminal_are_inert(monkeypatch):
    """The model copies passages, escape sequences too: its live tokens reached the terminal as they were."""
    import rich.live

    from tenantctl.cli import query

    seen = []

    class Live:
        def __init__(self, renderable, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, text):
            seen.append(text.plain)

    monkeypatch.setattr(rich.live, "Live", Live)
    monkeypatch.setattr(query.sys.stdout, "isatty", lambda: True)
    query._streamed(lambda on_token: on_token("5522\x1b[2J"))
    assert seen == ["5522\\x1b[2J"]


def test_a_too_long_chat_question_is_refused_and_the_chat_goes_on(cli, home, tmp_path, monkeypatch):
    """A pasted page (over `search.max_query_chars`) ended the whole chat with its error: the questions
    after it were never read."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("Who painted the moon?\n" + "a" * 2500 + "\nAnd the sun?\n"))
    asked = cli("chat", "t", "--json")
    assert asked.code == 2, asked  # scripts learn that a question was refused
    assert asked.err.count("Error: the question is 2500 characters long") == 1, asked.err
    turns = [json.loads(line) for line in asked.out.splitlines()]
    assert [t.get("question", t.get("exit_code")) for t in turns] == ["Who painted the moon?", 2, "And the sun?"]
    assert "Resume it with `tenantctl chat t --session " in asked.err
    assert cli("chat", "t", "--list", "--json").json()[0]["messages"] == 2


def test_brackets_in_documents_and_labels_are_printed_as_text(cli, home, tmp_path):
    """A heading "Pricing [/b] rules" made `search` end in a rich MarkupError traceback; "[v2]" in a path
    or a key's label vanished."""
    fast_home(cli, home)
    doc = "# Pricing [/b] rules [draft]\n\nA croissant is 3 USD.\n"
    folder = _tenant(cli, home, tmp_path, docs={"price [v2].md": doc})
    result = cli("search", "t", "croissant")
    assert result.code == 0 and "Traceback" not in result.err, result
    assert f"{folder}/price [v2].md" in result.out and "Pricing [/b] rules [draft]" in result.out, result
    assert cli("key", "create", "t", "--name", "ci [bot]").code == 0
    assert "ci [bot]" in cli("key", "list").out


@pytest.mark.parametrize("loss", ["deleted", "emptied"])
def test_a_lost_store_is_never_recreated_empty_under_its_index(cli, home, tmp_path, loss):
    """A search of a tenant whose store.db was deleted or emptied made a new empty store and said "It has
    no documents yet"; `verify` then advised a `repair` that would have emptied the index too."""
    fast_home(cli, home)
    docs = _tenant(cli, home, tmp_path)
    folder = home / "tenants" / "t"
    for name in ("store.db-wal", "store.db-shm", "store.db"):
        (folder / name).unlink(missing_ok=True)
    if loss == "emptied":
        (folder / "store.db").write_bytes(b"")
    index = {p.name: p.read_bytes() for p in folder.glob("index-*.faiss")}
    for args in (("search", "t", "gate code"), ("query", "t", "What is the gate code?"), ("ingest", "t", docs)):
        result = _clean(cli(*args), ExitCode.ERROR)
        assert "store.db is missing or empty, but manifest.json names an index" in result.err, (args, result)
    assert "store.db" in _clean(cli("repair", "t"), ExitCode.ERROR).err
    store = folder / "store.db"
    assert (store.exists() and store.stat().st_size == 0) if loss == "emptied" else not store.exists()
    assert {p.name: p.read_bytes() for p in folder.glob("index-*.faiss")} == index


def test_key_create_names_what_is_wrong(cli, home, tmp_path):
    """`key create acme --admin` said "name a tenant, or pass --admin": both were given."""
    fast_home(cli, home)
    cli("tenant", "create", "t")
    both = _clean(cli("key", "create", "t", "--admin"), ExitCode.USAGE)
    assert "an admin key belongs to no tenant" in both.err and "drop --admin" in both.err
    assert "name a tenant, or pass --admin" in _clean(cli("key", "create"), ExitCode.USAGE).err
    assert cli("key", "list", "--json").json() == []


# -- extraction caps (item 6) ----------------------------------------------------------------------------

def _docx_bomb(xml_bytes: int) -> bytes:
    from docx import Document

    buf = io.BytesIO()
    Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>")
                para = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>"
                data = head + b"<w:body>" + para * (xml_bytes // len(para)) + tail
            dst.writestr(item, data)
    return out.getvalue()


def test_docx_bomb_and_deep_html_fail_alone(cli, home, tmp_path):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    bomb = _docx_bomb(10 << 20)
    assert len(bomb) < 200_000
    (bad / "bomb.docx").write_bytes(bomb)
    (bad / "deep.html").write_text("<html><body>" + "<div>" * 50_000 + "x" + "</div>" * 50_000 + "</body></html>")
    (bad / "good.md").write_text("# Good\n\nThe boiler is serviced in May.\n")
    started = time.perf_counter()
    result = cli("ingest", "t", bad, "--json")
    assert time.perf_counter() - started < 20  # was 15 s for the DOCX and 77 s for the HTML
    assert result.code == ExitCode.PARTIAL
    reasons = {os.path.basename(f["path"]): f.get("reason") for f in result.json()["files"]}
    assert "zip bomb" in reasons["bomb.docx"] or "limit" in reasons["bomb.docx"]
    assert "nested deeper than 256" in reasons["deep.html"]
    assert reasons["good.md"] is None
    assert cli("tenant", "show", "t", "--json").json()["documents"] == 2  # a.md and good.md


def test_markdown_front_matter_is_not_indexed(cli, home, tmp_path):
    from tenantctl.ingestion.extract import read_md

    text = read_md(b"---\ntitle: Payroll\nsecret_token: hunter2\n---\n# Payroll\n\nPaid monthly.\n")
    assert "hunter2" not in text and text.startswith("# Payroll")
    assert read_md(b"Setext\n------\n\nbody\n").startswith("## Setext")  # setext headings still work


# -- damaged tenants (item 11) -----------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated", "folder"])
def test_corrupt_store_on_search_is_clean(cli, home, tmp_path, damage):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    store = home / "tenants" / "t" / "store.db"
    for suffix in ("-wal", "-shm"):
        store.with_name("store.db" + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        store.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        store.write_bytes(store.read_bytes()[:1500])
    else:
        store.unlink()
        store.mkdir()
    result = _clean(cli("search", "t", "gate code"))
    assert "t" in result.err


@pytest.mark.parametrize("manifest", ["[1, 2, 3]", "\"text\"", "{not json", "null"])
def test_manifest_that_is_not_an_object(cli, home, tmp_path, manifest):
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    (home / "tenants" / "t" / "manifest.json").write_text(manifest)
    found = cli("search", "t", "gate code", "--json")
    assert found.code == 0 and "4711" in found.json()[0]["text"]  # rebuilt from the store in memory
    assert cli("verify", "t").code != 0
    repaired = cli("repair", "t")
    assert repaired.code == 0, repaired
    assert cli("verify", "t").code == 0


# -- logs (item 7) ---------------------------------------------------------------------------------

def test_a_crash_is_logged_as_an_error(cli, home, tmp_path, monkeypatch):
    from tenantctl.cli import search as search_cli

    fast_home(cli, home)
    _tenant(cli, home, tmp_path)

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("tenantctl.retrieval.search.Searcher.search", boom)
    with pytest.raises(RuntimeError):
        from tenantctl.cli import main

        main(["search", "t", "gate"])
    assert search_cli  # the module the command lives in
    last = [json.loads(line) for line in (home / "logs" / "tenantctl.jsonl").read_text().splitlines()][-1]
    assert last["exit_code"] == 1 and last["level"] == "error" and "RuntimeError" in last["error"]
    assert last["tenant"] == "t"


# -- full disk and read-only home (item 11) -----------------------------------------------------------

def test_full_disk_on_ingest_is_clean_and_keeps_the_index(cli, home, tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    with tmpfs(disk, "1m"):
        monkeypatch.setenv("TENANTCTL_HOME", str(disk / "home"))
        small = disk / "home"
        fast_home(cli, small)
        _tenant(cli, small, tmp_path)
        big = tmp_path / "big"
        big.mkdir()
        for i in range(60):  # ~3 MB of distinct text: more than the disk holds once indexed
            (big / f"f{i}.txt").write_text(" ".join(f"word{i}x{j}" for j in range(6000)))
        result = _clean(cli("ingest", "t", big))
        assert "no space left" in result.err or "disk" in result.err
        found = cli("search", "t", "gate code", "--json")
        assert found.code == 0 and "4711" in found.json()[0]["text"]  # what was indexed is intact


def test_a_full_disk_fails_every_command_cleanly_until_space_is_freed_and_nothing_needs_repair(
        cli, home, tmp_path, monkeypatch):
    """What the README says of a full disk: even `search` and `tenant list` fail (SQLite cannot make the
    files it reads a WAL database through), cleanly; once space is freed they work, no `repair` needed."""
    disk = tmp_path / "disk"
    with tmpfs(disk, "3m"):
        monkeypatch.setenv("TENANTCTL_HOME", str(disk / "home"))
        fast_home(cli, disk / "home")
        _tenant(cli, disk / "home", tmp_path)
        with open(disk / "filler", "wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        for args in (("search", "t", "gate code"), ("tenant", "list")):
            assert "disk" in _clean(cli(*args)).err
        (disk / "filler").unlink()
        found = cli("search", "t", "gate code", "--json")
        assert found.code == 0 and "4711" in found.json()[0]["text"]
        verified = cli("verify", "t", "--json")
        assert verified.code == 0 and verified.json()["ok"], verified


def test_read_only_home_is_clean(cli, home, tmp_path, monkeypatch):
    disk = tmp_path / "ro"
    with tmpfs(disk, "8m"):
        monkeypatch.setenv("TENANTCTL_HOME", str(disk / "home"))
        fast_home(cli, disk / "home")
        _tenant(cli, disk / "home", tmp_path)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert "read-only" in _clean(cli("tenant", "create", "u")).err
        doc = tmp_path / "n.md"
        doc.write_text("# N\n\nNew.\n")
        _clean(cli("ingest", "t", doc))
        listed = cli("tenant", "list")
        assert listed.code == 0 or "read-only" in _clean(listed).err


def test_a_read_only_tenant_folder_is_not_called_damaged(cli, home, tmp_path):
    """A tenant folder on a read-only mount (or immutable, or full) fails its commands: SQLite cannot make the
    files it reads a WAL store through. `search` said "the store ... is damaged or not a tenantctl store" and
    `verify` advised "delete the tenant and ingest its documents again", `doctor` said healthy; they now name the
    folder and the fix."""
    _tenant(cli, home, tmp_path)
    folder = home / "tenants" / "t"
    mounted = subprocess.run(["mount", "-o", "bind,ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        from tenantctl.serving.errors import error_body
        from tenantctl.storage.store import _blocked, unwritable_hint

        hint = unwritable_hint(OSError(errno.EROFS, "Read-only file system"))
        searched = _clean(cli("search", "t", "gate code"))
        assert "takes no new file (Read-only file system)" in searched.err and "damaged" not in searched.err.split(
            "Hint:")[0], searched.err
        assert " ".join(searched.err.split("Hint:")[1].split()) == hint, searched.err
        verified = cli("verify", "t", "--json")
        problem = verified.json()["tenants"][0]["problems"][0]
        assert verified.code == 1 and problem["code"] == "store-unopenable", problem
        assert "delete the tenant" not in problem["fix"] and "writable" in problem["fix"], problem
        checks = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}  # it said "healthy"
        assert checks["tenant t"]["status"] == "fail" and "takes no new file" in checks["tenant t"]["detail"], checks
        assert problem["fix"] == checks["tenant t"]["fix"] == hint  # one wording: the three had each their own

        body = error_body(_blocked(folder))  # an API client is told to contact the operator, not to fix a mount
        assert "contact the server's operator" in body["hint"] and str(home) not in body["error"], body
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    found = cli("search", "t", "gate code", "--json")
    assert found.code == 0 and "4711" in found.json()[0]["text"]  # nothing needed a repair


def test_a_tenant_folder_on_a_full_disk_is_told_to_free_space(tmp_path, monkeypatch):
    """A folder that takes no new file for want of space: a DiskFull error (the server answers 507) whose hint
    says to free space, as `verify` and `doctor` say of it; any other cause, to make the folder writable."""
    from tenantctl.errors import DiskFull, StorageError
    from tenantctl.storage import store

    writable = "make the tenant's folder writable"
    for code, kind, words in ((errno.ENOSPC, DiskFull, "free some disk space"), (errno.EDQUOT, DiskFull, "free some"),
                              (errno.EROFS, StorageError, writable), (errno.EACCES, StorageError, writable)):
        monkeypatch.setattr(store, "unwritable", lambda folder, code=code: OSError(code, os.strerror(code)))
        error = store._blocked(tmp_path)
        assert type(error) is kind and words in error.hint, error
        assert error.hint == store.unwritable_hint(OSError(code, "")), error


def test_chat_list_columns_line_up(cli, home, tmp_path, monkeypatch):
    """`chat --list` padded the count to 3 digits but not "exchange"/"exchanges", so the titles of a
    1-exchange session and a 2-exchange one started in different columns."""
    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    for questions in ("Who painted the moon?\n", "Who sang the sun?\nAnd the stars?\n"):  # turned away: no model
        monkeypatch.setattr("sys.stdin", io.StringIO(questions))
        assert cli("chat", "t").code == 0
    lines = cli("chat", "t", "--list").out.splitlines()
    assert len(lines) == 2, lines
    sang, painted = sorted(lines, key=lambda line: "painted" in line)
    assert sang.index("Who sang the sun?") == painted.index("Who painted the moon?"), lines
    assert sang.endswith("  2 exchanges  Who sang the sun?")
    assert painted.endswith("  1 exchange   Who painted the moon?")


def test_a_failed_assembly_of_the_packaged_model_leaves_no_part_behind(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tenantctl.models import generation

    part = tmp_path / "part.bin"
    part.write_bytes(b"x" * 64)

    def assemble(dest, overwrite):
        dest.write_bytes(b"x" * 10)  # a partial write, then the disk is full
        raise OSError(28, "No space left on device")

    fake = SimpleNamespace(MODEL_NAME="model.gguf", chunk_paths=lambda: [part], assemble=assemble)
    monkeypatch.setattr(generation, "_gemma_package", lambda: fake)
    monkeypatch.setattr(generation, "assembled_gguf", lambda name: tmp_path / "models" / name)
    with pytest.raises(OSError):
        generation.packaged_gguf()
    assert list((tmp_path / "models").iterdir()) == []


def test_a_misspelt_setting_is_named_with_the_one_meant(cli, home, tmp_path):
    """config.yaml's `serch:` and tenant.yaml's `answer.pasages` were refused with pydantic's "Extra inputs
    are not permitted"."""
    import yaml

    fast_home(cli, home)
    _tenant(cli, home, tmp_path)
    config = home / "config.yaml"
    good = config.read_text()
    config.write_text(good + "serch: {k: 5}\n")
    result = cli("tenant", "list")
    assert result.code == 1 and f"{config}: serch: unknown setting (did you mean `search`?)" in result.err, result
    config.write_text(good + "models:\n  pilot: {n_ctxx: 512}\n")
    assert "models.pilot.n_ctxx: unknown setting (did you mean `n_ctx`?)" in cli("tenant", "list").err
    # A misspelt default_model loaded, and every question failed ("model 'pilott' is not configured").
    config.write_text(good + "models:\n  default: {}\n  pilot: {n_ctx: 1024}\ndefault_model: pilott\n")
    result = cli("tenant", "list")
    assert result.code == 1 and "default_model: 'pilott' is not under `models:` (did you mean `pilot`? " in result.err
    config.write_text(good)
    settings = home / "tenants" / "t" / "tenant.yaml"
    data = yaml.safe_load(settings.read_text())
    settings.write_text(yaml.safe_dump({**data, "answer": {**data["answer"], "pasages": 3}, "zzz": 1}))
    result = cli("search", "t", "moon")
    assert result.code == 1 and "answer.pasages: unknown setting (did you mean `passages`?) (and 1 more)" in result.err
    assert "Extra inputs" not in result.err


def test_a_misspelt_required_setting_in_a_list_is_named_not_the_missing_one(tmp_path):
    """A source's `pth:` for `path:` was "sources.0.path: Field required", naming no line of the file."""
    from tenantctl.config import load_tenant_config
    from tenantctl.errors import ConfigError

    settings = tmp_path / "tenant.yaml"
    settings.write_text("id: t\nsources:\n  - path: /srv/a\n  - pth: /srv/b\n    include: ['*.md']\n")
    with pytest.raises(ConfigError) as caught:
        load_tenant_config(settings)
    assert "sources.1.pth: unknown setting (did you mean `path`?) (and 1 more)" in caught.value.message


@pytest.mark.parametrize("settings, expected", [
    ("rate_limit: 5", "rate_limit: should be a mapping of its settings (requests_per_minute, questions_per_minute), "
                      "not 5"),
    ("quotas: [1]", "quotas: should be a mapping of its settings (documents, bytes, questions_per_day, "
                    "tokens_per_day), not [1]"),
    ("sources:\n  - /srv/a", "sources.0: should be a mapping of its settings (path, include, exclude), not '/srv/a'"),
    ("tools:\n  - {name: Order Status, kind: http, when: x, url: 'http://crm:80/'}",  # was the pattern's regex
     "tools.0.name: should be 1-40 lowercase letters, digits, '-' and '_', starting with a letter, not 'Order Status'"),
])
def test_a_section_written_as_a_value_names_its_settings_not_a_class(tmp_path, settings, expected):
    """`rate_limit: 5` was "Input should be a valid dictionary or instance of RateLimitConfig": a class name of
    the code, not what the operator can write there; a tool's name, the regular expression it must match."""
    from tenantctl.config import load_tenant_config
    from tenantctl.errors import ConfigError

    path = tmp_path / "tenant.yaml"
    path.write_text(f"id: t\n{settings}\n")
    with pytest.raises(ConfigError) as caught:
        load_tenant_config(path)
    assert caught.value.message == f"{path}: {expected}" and "Config" not in caught.value.message
    assert "^[a-z]" not in caught.value.message


def test_a_relative_model_path_is_relative_to_the_home_not_the_working_directory(cli, home, tmp_path, monkeypatch):
    """`models.pilot.path: models/pilot.gguf` was read from the working directory: a pilot model found when
    the operator ran `query` from the home was missing for cron or a service started elsewhere."""
    from tenantctl.config import load_config

    fast_home(cli, home, extra="models:\n  default: {}\n  pilot: {path: models/pilot.gguf}\n  abs: {path: /m.gguf}\n"
                               "tools: {secrets_dir: secrets}\ningest: {source_roots: [shares, /srv/docs]}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.models["pilot"].path == str(home / "models" / "pilot.gguf") and cfg.models["abs"].path == "/m.gguf"
    assert cfg.tools.secrets_dir == str(home / "secrets")
    assert cfg.ingest.source_roots == [str(home / "shares"), "/srv/docs"]
    missing = cli("doctor")
    assert f"GGUF file {home / 'models' / 'pilot.gguf'} does not exist" in missing.out, missing
