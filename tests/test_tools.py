"""Per-tenant tools: http against a real service on localhost, sql over the tenant's own files, a plugin
kind found through its entry point; failures degrade, secrets never show, other tenants never reach them."""

import json
import os
import sqlite3
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from tests.conftest import http_service, set_tenant_yaml

PLUGINS = Path(__file__).resolve().parent / "plugins"
SECRET = "s3cr3t-token-9f2c"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, body: bytes, kind="application/json", length=True, extra=None):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.log.append({"path": self.path, "auth": self.headers.get("Authorization")})
        path = self.path
        if path.startswith("/orders/"):
            order = path.rsplit("/", 1)[1]
            self._send(200, json.dumps({"order": order, "status": "shipped", "eta": "2026-12-03",
                                        "parcels": 2}).encode())
        elif path == "/slow":
            time.sleep(2)
            self._send(200, b'{"late": true}')
        elif path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"x" * (1 << 20))
        elif path == "/fail":
            self._send(500, b'{"error": "boom"}')
        elif path == "/echo":
            self._send(200, f"Caller sent {self.headers.get('Authorization')}".encode(), kind="text/plain")
        elif path.startswith("/redirect"):
            self._send(302, b"", extra={"Location": path.split("to=", 1)[1]})
        else:
            self._send(404, b"{}")


@pytest.fixture
def service():
    with http_service(_Handler) as server:
        server.log = []
        yield server


def _hostport(server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def set_config(home: Path, **tools) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(yaml.safe_dump({"tools": tools}), encoding="utf-8")


def set_tools(home: Path, tenant: str, tools: list[dict]) -> None:
    set_tenant_yaml(home, tenant, tools=tools)


def _crm(server, path="/orders/{order}", **extra) -> dict:
    return {"name": "crm", "kind": "http", "when": r"(?i)\border\s+(?P<order>[A-Z]-\d{3,})",
            "url": f"http://{_hostport(server)}{path}", "description": "Order status from Acme's CRM",
            "timeout_s": 1, **extra}


@pytest.fixture
def two_tenants(cli, home, service):
    for t in ("acme", "globex"):
        assert cli("tenant", "create", t).code == 0
    set_config(home, allowed_hosts=[_hostport(service)], env_secrets={"acme": ["ACME_CRM_TOKEN"]})
    set_tools(home, "acme", [_crm(service)])
    return service


def _tenant(tenant_id):
    from tenantctl.storage.tenants import open_tenant

    return open_tenant(tenant_id)


def _passages(tenant_id, question):
    from tenantctl.config import load_config
    from tenantctl.tools.run import tool_passages

    return tool_passages(_tenant(tenant_id), question, load_config())


def test_http_tool_fills_the_call_from_the_question_and_only_for_its_tenant(two_tenants):
    service = two_tenants
    [result] = _passages("acme", "What is the status of order A-1234?")
    assert result.ok, result
    assert "status: shipped" in result.text and "A-1234" in result.text and result.ms > 0
    assert [r["path"] for r in service.log] == ["/orders/A-1234"]
    assert _passages("globex", "What is the status of order A-1234?") == []
    assert _passages("acme", "How many days of leave do I get?") == []
    assert len(service.log) == 1  # neither call reached the service


def test_group_values_are_percent_encoded_never_reshaping_the_url(cli, home, service):
    cli("tenant", "create", "acme")
    set_config(home, allowed_hosts=[_hostport(service)])
    set_tools(home, "acme", [_crm(service, when=r"order (?P<order>\S+)")])
    [result] = _passages("acme", "order ../../fail?x=${HOME}")
    assert service.log[0]["path"] == "/orders/..%2F..%2Ffail%3Fx%3D%24%7BHOME%7D"
    assert result.ok  # the service answered 200 for that (odd) order id, nothing else was called


@pytest.mark.parametrize(("path", "timeout", "message"), [
    ("/slow", 0.5, "timed out after 0.5 s"),
    ("/big", 5, "exceeds the limit of 1000000 bytes"),
    ("/fail", 1, "answered HTTP 500"),
])
def test_failures_give_a_clear_per_tool_error(cli, home, service, path, timeout, message):
    cli("tenant", "create", "acme")
    set_config(home, allowed_hosts=[_hostport(service)])
    set_tools(home, "acme", [_crm(service, path=path, timeout_s=timeout)])
    started = time.perf_counter()
    [result] = _passages("acme", "order A-1234")
    assert result.status == "error" and result.text == ""
    assert result.error.startswith("tool 'crm': ") and message in result.error, result.error
    assert result.hint
    assert time.perf_counter() - started < 1.8


def test_a_host_not_allowed_is_never_called_nor_reached_by_redirect(cli, home, service):
    cli("tenant", "create", "acme")
    set_config(home, allowed_hosts=[])
    set_tools(home, "acme", [_crm(service)])
    [result] = _passages("acme", "order A-1234")
    assert "not in tools.allowed_hosts" in result.error and service.log == []

    with http_service(_Handler) as other:
        other.log = []
        set_config(home, allowed_hosts=[_hostport(service)])
        set_tools(home, "acme", [_crm(service, path=f"/redirect?to=http://{_hostport(other)}/orders/X-1")])
        [result] = _passages("acme", "order A-1234")
        assert f"redirects to {_hostport(other)}, which is not in tools.allowed_hosts" in result.error
        assert other.log == [] and len(service.log) == 1
        set_tools(home, "acme", [_crm(service, path="/redirect?to=/orders/B-777")])
        [result] = _passages("acme", "order A-1234")
        assert result.ok and "B-777" in result.text  # a redirect on the same allowed host is followed


def test_secrets_come_from_outside_the_tenant_and_never_show(cli, home, service, monkeypatch, tmp_path):
    from tenantctl import logs

    cli("tenant", "create", "acme")
    set_tools(home, "acme", [_crm(service, path="/echo", headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
    set_config(home, allowed_hosts=[_hostport(service)], env_secrets={"acme": ["ACME_CRM_TOKEN"]})
    monkeypatch.delenv("ACME_CRM_TOKEN", raising=False)
    [result] = _passages("acme", "order A-1234")
    assert result.error == "tool 'crm': secret ${ACME_CRM_TOKEN} is not set" and service.log == []

    monkeypatch.setenv("ACME_CRM_TOKEN", SECRET)
    [result] = _passages("acme", "order A-1234")
    assert service.log[-1]["auth"] == f"Bearer {SECRET}"  # the service got it ...
    assert result.ok and "Caller sent Bearer [redacted]" in result.text  # ... the answer never does

    monkeypatch.delenv("ACME_CRM_TOKEN")
    secrets = tmp_path / "secrets"
    (secrets / "acme").mkdir(parents=True)
    (secrets / "acme" / "ACME_CRM_TOKEN").write_text(SECRET + "\n")
    set_config(home, allowed_hosts=[_hostport(service)], secrets_dir=str(secrets))
    out = cli("tool", "test", "acme", "crm", "--question", "order A-1234", "--json")
    assert out.code == 0, out
    assert service.log[-1]["auth"] == f"Bearer {SECRET}"
    assert SECRET not in out.out + out.err
    assert SECRET not in logs.log_file().read_text()
    store = sqlite3.connect(home / "tenants" / "acme" / "store.db")
    assert SECRET not in "".join(str(r) for r in store.execute("SELECT * FROM usage"))

    set_config(home, allowed_hosts=[_hostport(service)], secrets_dir=str(home / "tenants"))
    out = cli("tool", "test", "acme", "crm", "--question", "order A-1234")
    assert out.code == 1 and "overlaps the tenants folder" in out.err


def test_sql_tool_reads_a_csv_or_sqlite_file_in_the_tenants_folder(cli, home):
    cli("tenant", "create", "acme")
    folder = home / "tenants" / "acme"
    (folder / "balances.csv").write_text("employee,name,annual_leave_days_left\nE-1042,Dana,14.5\nE-2001,Li,3\n")
    db = sqlite3.connect(folder / "prices.db")
    db.execute("CREATE TABLE prices (sku TEXT, price REAL)")
    db.execute("INSERT INTO prices VALUES ('RX-7', 129.0)")
    db.commit()
    db.close()
    set_tools(home, "acme", [
        {"name": "leave", "kind": "sql", "when": r"(?i)employee\s+(?P<employee>E-\d+)", "file": "balances.csv",
         "query": "SELECT name, annual_leave_days_left FROM data WHERE employee = :employee",
         "description": "Leave balance"},
        {"name": "price", "kind": "sql", "when": r"(?i)price of (?P<sku>[A-Z]{2}-\d+)", "file": "prices.db",
         "query": "SELECT sku, price FROM prices WHERE sku = :sku"},
    ])
    [leave] = _passages("acme", "How much leave has employee E-1042 left?")
    assert leave.ok and leave.text == ("Leave balance (employee E-1042):\n\n"
                                       "employee: E-1042; name: Dana; annual leave days left: 14.5")
    [price] = _passages("acme", "What is the price of RX-7?")
    assert "sku: RX-7; price: 129.0" in price.text  # the sku was a field: not given twice
    [none] = _passages("acme", "employee E-9999")
    assert none.ok and none.text.endswith("no matching record.")


def test_a_result_is_records_of_fields_keyed_by_the_calls_values():
    """Each record a paragraph of `field: value` fields, as ingestion writes a table's rows, opening with
    the call's values it lacks: the answer then names the field asked for, not the row."""
    from tenantctl.answering import records
    from tenantctl.tools.base import passage, render

    rows = [{"name": "Dana", "annual_leave_days_left": 14.5, "carried_over_days": 3, "address": {"city": "Lyon"}},
            {"employee": "E-1042", "name": "Bo", "note": "a; b", "tags": ["x", "y"], "manager": None}]
    body = render(rows, {"employee": "E-1042"})
    assert body.split("\n\n") == [
        "employee: E-1042; name: Dana; annual leave days left: 14.5; carried over days: 3; address city: Lyon",
        "employee: E-1042; name: Bo; note: a, b; tags: x, y"]  # given once; no "; " inside a value
    assert records.field_answer("How many days of annual leave does employee E-1042 have left?",
                                body.split("\n\n")[0]) == "employee: E-1042; annual leave days left: 14.5"
    assert passage("Leave", "leave", {"employee": "E-1042"}, body).startswith("Leave (employee E-1042):\n\n")
    assert render("  free   text ") == "free text" and render([1, 2]) == "[1, 2]" and render({}) == ""


@pytest.mark.parametrize(("file", "query", "message"), [
    ("../globex/store.db", "SELECT 1", "outside the tenant's folder"),
    ("/etc/passwd", "SELECT 1", "outside the tenant's folder"),
    ("store.db", "ATTACH DATABASE 'x.db' AS x", "refused or failed"),
    ("store.db", "DELETE FROM usage", "refused or failed"),
    ("store.db", "PRAGMA table_info(usage)", "refused or failed"),
    ("store.db", "SELECT 1; DELETE FROM usage", "cannot run"),
    ("store.db", "SELECT :missing", "cannot run"),
    ("store.db", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
     "timed out"),
])
def test_sql_tool_stays_read_only_and_in_its_folder(cli, home, file, query, message):
    for t in ("acme", "globex"):
        cli("tenant", "create", t)
    set_tools(home, "acme", [{"name": "q", "kind": "sql", "when": "probe", "file": file, "query": query,
                              "timeout_s": 0.3}])
    [result] = _passages("acme", "probe")
    assert result.status == "error" and message in result.error, result.error


def test_sql_tool_refuses_a_symlink_out_of_the_folder(cli, home):
    for t in ("acme", "globex"):
        cli("tenant", "create", t)
    (home / "tenants" / "acme" / "link.db").symlink_to(home / "tenants" / "globex" / "store.db")
    set_tools(home, "acme", [{"name": "q", "kind": "sql", "when": "probe", "file": "link.db",
                              "query": "SELECT * FROM documents"}])
    [result] = _passages("acme", "probe")
    assert "outside the tenant's folder" in result.error


def test_sql_tool_refuses_a_hard_link_to_another_tenants_file(cli, home):
    """A hard link has no "outside": acme's link.db was globex's store, read as acme's own file."""
    for t in ("acme", "globex"):
        cli("tenant", "create", t)
    os.link(home / "tenants" / "globex" / "store.db", home / "tenants" / "acme" / "link.db")
    set_tools(home, "acme", [{"name": "q", "kind": "sql", "when": "probe", "file": "link.db",
                              "query": "SELECT count(*) AS n FROM documents"}])
    [result] = _passages("acme", "probe")
    assert result.error == "tool 'q': file 'link.db' is a hard link, which may be another folder's file"
    assert not (home / "tenants" / "acme" / "link.db-shm").exists()
    assert cli("tool", "list", "acme", "--json").json()[0]["allowed"] is False


def test_tool_list_says_what_the_loader_refuses_a_file_for(cli, home):
    """A tool file that exists outside the tenant's folder was listed "outside the tenant's folder; file
    missing", and an absolute path into the folder as ready while the loader refused it: the listing
    says what running the tool says, and looks at no file outside the folder."""
    for t in ("acme", "globex"):
        cli("tenant", "create", t)
    acme = home / "tenants" / "acme"
    (acme / "link.db").symlink_to(home / "tenants" / "globex" / "store.db")
    files = {"up": "../globex/store.db", "absolute": str(acme / "store.db"), "link": "link.db",
             "gone": "nothing.csv", "own": "store.db"}
    set_tools(home, "acme", [{"name": name, "kind": "sql", "when": name, "file": file, "query": "SELECT 1"}
                             for name, file in files.items()])
    text = {line.split()[0]: line for line in cli("tool", "list", "acme").out.splitlines() if not line[0].isspace()}
    listed = {t["name"]: t for t in cli("tool", "list", "acme", "--json").json()}
    for name in ("up", "absolute", "link"):
        assert text[name].endswith("outside the tenant's folder: refused"), text[name]
        assert listed[name]["allowed"] is False and listed[name]["exists"] is None, listed[name]
        [result] = _passages("acme", name)
        assert "outside the tenant's folder" in result.error
    assert text["gone"].endswith("file missing") and listed["gone"]["exists"] is False
    assert "does not exist" in _passages("acme", "gone")[0].error
    assert text["own"].endswith("ready") and listed["own"]["allowed"] and listed["own"]["exists"]


def test_a_plugin_kind_is_found_through_its_entry_point(cli, home, monkeypatch):
    from tenantctl.tools import plugins

    cli("tenant", "create", "acme")
    (home / "tenants" / "acme" / "stock.json").write_text('{"BRG-6204": 17}')
    set_tools(home, "acme", [
        {"name": "stock", "kind": "stock", "when": r"(?i)part (?P<part>[A-Z]+-\d+)",
         "options": {"file": "stock.json", "warehouse": "Hagen"}},
    ])
    plugins.refresh()
    [missing] = _passages("acme", "Is part BRG-6204 in stock?")
    assert "no installed plugin provides kind 'stock'" in missing.error

    monkeypatch.syspath_prepend(str(PLUGINS))
    plugins.refresh()
    try:
        kinds = cli("tool", "kinds", "--json").json()
        assert {"name": "stock", "source": "tenantctl-stock-tool 0.1.0",
                "target": "tenantctl_stock_tool:lookup"} in kinds
        assert [k["source"] for k in kinds if k["name"] == "http"] == ["built-in"]  # never replaced
        [result] = _passages("acme", "Is part BRG-6204 in stock?")
        assert result.ok and "in stock: 17" in result.text and "warehouse: Hagen" in result.text
        set_tools(home, "acme", [{"name": "slow", "kind": "hang", "when": "part", "timeout_s": 0.2}])
        [result] = _passages("acme", "part")
        assert "timed out after 0.2 s" in result.error
    finally:
        plugins.refresh()


def test_a_plugins_error_tells_the_tenant_and_keeps_the_question_out_of_the_shared_log(cli, home, monkeypatch):
    """A plugin's exception may quote the question's values ("part BRG-6204 is not in the catalogue"): it
    went whole into the log every tenant's lines share, which holds no question."""
    from tenantctl import logs
    from tenantctl.tools import plugins

    cli("tenant", "create", "acme")
    set_tools(home, "acme", [{"name": "catalogue", "kind": "strict", "when": r"(?i)part (?P<part>[A-Z]+-\d+)"}])
    monkeypatch.syspath_prepend(str(PLUGINS))
    plugins.refresh()
    try:
        [result] = _passages("acme", "Is part BRG-6204 in stock?")
    finally:
        plugins.refresh()
    assert result.error == ("tool 'catalogue': the strict plugin failed "
                            "(LookupError: part BRG-6204 is not in the catalogue)")
    [line] = [e for e in logs.read(tenant="acme") if e["event"] == "tool"]
    assert line["error"] == "tool 'catalogue': the strict plugin failed (LookupError)"
    assert "BRG-6204" not in logs.log_file().read_text()


def test_tool_cli_lists_tests_and_meters_per_tenant(two_tenants, cli, home):
    service = two_tenants
    listed = cli("tool", "list", "acme", "--json")
    assert listed.code == 0 and listed.json()[0]["name"] == "crm" and listed.json()[0]["allowed"] is True
    assert cli("tool", "list", "globex", "--json").json() == []
    assert cli("tenant", "show", "acme", "--json").json()["tools"] == ["crm (http)"]
    text = cli("tool", "list", "acme")
    assert "crm" in text.out and "ready" in text.out

    ok = cli("tool", "test", "acme", "crm", "--question", "order A-1234", "--json")
    assert ok.code == 0 and ok.json()[0]["status"] == "ok" and "shipped" in ok.json()[0]["text"]
    nomatch = cli("tool", "test", "acme", "crm", "--question", "hello")
    assert nomatch.code == 2 and "does not match" in nomatch.err
    bare = cli("tool", "test", "acme", "crm")  # it ran without its value: "did not supply … :order" or a 404
    assert bare.code == 2 and "tool 'crm' takes order from a question's match" in bare.err, bare
    assert "`tenantctl tool test acme crm --question Q`" in bare.err
    # Cross-tenant probe: globex cannot run acme's tool, by name or by question.
    probe = cli("tool", "test", "globex", "crm", "--question", "order A-1234")
    assert probe.code == 3 and "has no tool 'crm'" in probe.err
    probe = cli("tool", "test", "globex", "--question", "order A-1234")
    assert probe.code == 2 and "does not match" in probe.err
    assert len(service.log) == 1

    set_tools(home, "acme", [_crm(service, path="/fail")])
    failed = cli("tool", "test", "acme", "--question", "order A-1234")
    assert failed.code == 1 and "answered HTTP 500" in failed.err

    usage = {(r["tenant"], r["operation"]): r for r in cli("usage", "--json").json()["usage"]}
    assert usage[("acme", "tool")]["events"] == 2 and usage[("acme", "tool")]["errors"] == 1
    assert ("globex", "tool") not in usage
    from tenantctl import logs

    lines = [r for r in logs.read() if r["event"] == "tool"]
    assert [(r["tenant"], r["tool"], r["outcome"]) for r in lines] == [
        ("acme", "crm", "ok"), ("acme", "crm", "error:ToolFailed")]


def test_a_backtracking_when_pattern_fails_its_tool_in_bounded_time(cli, home):
    cli("tenant", "create", "acme")
    set_tools(home, "acme", [{"name": "slow", "kind": "sql", "when": r"(\w+\s?)+$", "file": "x.csv",
                              "query": "SELECT 1"}])
    started = time.perf_counter()
    [result] = _passages("acme", "a" * 1999 + "!")
    assert time.perf_counter() - started < 1.5
    assert result.status == "error" and "`when` pattern ran over 50 ms" in result.error


def test_tool_settings_are_validated(cli, home):
    cli("tenant", "create", "acme")
    for tools, message in (
        ([{"name": "x", "kind": "http", "when": "(unclosed"}], "not a valid regular expression"),
        ([{"name": "x", "kind": "http", "when": "a"}], "kind http needs `url`"),
        ([{"name": "x", "kind": "sql", "when": "a", "file": "f.csv"}], "needs `file` and `query`"),
        ([{"name": "x", "kind": "http", "when": "a", "url": "ftp://h/x"}], "url must start with http"),
        ([{"name": "x", "kind": "sql", "when": "a", "file": "f", "query": "q"}] * 2, "used twice"),
        ([{"name": "x", "kind": "sql", "when": "a", "file": "f", "query": "q", "secret": 1}], "unknown setting"),
    ):
        set_tools(home, "acme", tools)
        result = cli("tool", "list", "acme")
        assert result.code == 1 and message in result.err, (message, result)
        assert "Value error" not in result.err  # pydantic's prefix to a validator's own words
    set_config(home, allowed_hosts=["crm.internal"])
    assert "is not host:port" in cli("tool", "list", "acme").err


def test_the_tools_layer_imports_no_higher_layer():
    import re

    root = Path(__file__).resolve().parent.parent / "tenantctl" / "tools"
    for path in root.glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import) (tenantctl\.\w+)", path.read_text(), re.M)
        assert not {i for i in imports if i.split(".")[1] in ("answering", "serving", "cli")}, path


# -- through the answer path, on the sample tenants and the real models ---------------------------------

QUESTION = "What is the status of order A-1234?"
TOOL_VALUES = ("shipped", "2026-12-03", "parcels: 2", "2 parcels")


@pytest.fixture
def tool_home(samples, tmp_path, monkeypatch, service):
    """A copy of the sample home where acme-hr has an http tool on the test's service; nordwerk-maint none."""
    import os
    import shutil

    home = tmp_path / "tool-home"
    shutil.copytree(os.environ["TENANTCTL_HOME"], home)
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    set_config(home, allowed_hosts=[_hostport(service)], env_secrets={"acme-hr": ["ACME_CRM_TOKEN"]})
    set_tools(home, "acme-hr", [_crm(service)])
    return home


def _tool_sources(answer: dict) -> list[str]:
    return [s["path"] for s in answer["sources"] if s["path"].startswith("tool:")]


@pytest.mark.slow
def test_a_tenants_tool_answers_and_another_tenants_identical_question_never_calls_it(tool_home, service, cli):
    a = cli("query", "acme-hr", QUESTION, "--json")
    assert a.code == 0, a
    answer = a.json()
    assert _tool_sources(answer) == ["tool:crm"] and any(v in answer["answer"] for v in TOOL_VALUES), answer
    [call] = answer["tools"]
    assert call["status"] == "ok" and call["ms"] > 0 and call["params"] == {"order": "A-1234"}
    assert answer["timings"]["tools_ms"] == call["ms"] and answer["notes"] == []
    assert [r["path"] for r in service.log] == ["/orders/A-1234"]

    b = cli("query", "nordwerk-maint", QUESTION, "--json")
    assert b.code == 0, b
    other = b.json()
    assert other["tools"] == [] and _tool_sources(other) == []
    assert not any(v in other["answer"] for v in TOOL_VALUES)
    assert len(service.log) == 1  # the service's access log: nordwerk-maint's question never reached it

    human = cli("query", "acme-hr", QUESTION)
    assert "tool:crm (tool result)" in human.out


@pytest.mark.slow
@pytest.mark.parametrize(("path", "extra", "message"), [
    ("/fail", {}, "answered HTTP 500"),  # time-outs, size and host limits fail the same way (tested above)
    ("/orders/{order}", {"headers": {"Authorization": "Bearer ${ACME_CRM_TOKEN}"}},
     "secret ${ACME_CRM_TOKEN} is not set"),
])
def test_a_failing_tool_gives_a_document_only_answer_with_a_note(tool_home, service, cli, monkeypatch,
                                                                 path, extra, message):
    monkeypatch.delenv("ACME_CRM_TOKEN", raising=False)
    set_tools(tool_home, "acme-hr", [_crm(service, path=path, **extra)])
    result = cli("query", "acme-hr", QUESTION + " And how many days of paid annual leave do employees accrue?",
                 "--json")
    assert result.code == 0, result
    answer = result.json()
    assert answer["tools"][0]["status"] == "error" and message in answer["tools"][0]["error"]
    assert answer["notes"] == [f"tool 'crm': {answer['tools'][0]['error'].split(': ', 1)[1]}"
                               " — answered from the documents alone"]
    assert _tool_sources(answer) == [] and not any(v in answer["answer"] for v in TOOL_VALUES)
    human = cli("query", "acme-hr", QUESTION)
    assert human.code == 0 and "Note: tool 'crm'" in human.err and message in human.err


@pytest.mark.slow
def test_the_secret_never_reaches_answers_logs_usage_or_exports(tool_home, service, cli, monkeypatch, tmp_path):
    import tarfile

    from tenantctl import logs

    monkeypatch.setenv("ACME_CRM_TOKEN", SECRET)
    set_tools(tool_home, "acme-hr", [_crm(service, path="/echo",
                                          headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
    result = cli("query", "acme-hr", QUESTION, "--json", "--passages")
    assert result.code == 0 and service.log[-1]["auth"] == f"Bearer {SECRET}"
    assert "[redacted]" in result.out and SECRET not in result.out + result.err
    assert cli("tenant", "export", "acme-hr", tmp_path / "acme.tar.gz").code == 0
    with tarfile.open(tmp_path / "acme.tar.gz") as archive:
        for member in archive.getmembers():
            data = archive.extractfile(member).read() if member.isfile() else b""
            assert SECRET.encode() not in data, member.name
            if member.name == "tenant.yaml":
                assert b"${ACME_CRM_TOKEN}" in data
    assert SECRET not in logs.log_file().read_text()
    usage = sqlite3.connect(tool_home / "tenants" / "acme-hr" / "store.db").execute("SELECT * FROM usage")
    assert SECRET not in repr(usage.fetchall())


@pytest.mark.slow
def test_server_and_openai_endpoint_run_a_tool_for_its_own_tenant_alone(tool_home, service, cli):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    keys = {t: cli("key", "create", t, "--json").json()["key"] for t in ("acme-hr", "nordwerk-maint")}

    def auth(tenant):
        return {"Authorization": f"Bearer {keys[tenant]}"}

    chat = {"messages": [{"role": "user", "content": QUESTION}]}
    with TestClient(create_app(load_config())) as client:
        # Another tenant's key, the same question, and a body that names acme-hr: no call, no data.
        other = client.post("/v1/query", json={"question": QUESTION, "tenant": "acme-hr"},
                            headers=auth("nordwerk-maint"))
        assert other.status_code == 200 and other.json()["tools"] == [] and _tool_sources(other.json()) == []
        completion = client.post("/v1/chat/completions", json=chat, headers=auth("nordwerk-maint"))
        assert completion.status_code == 200
        assert "tool:crm" not in completion.json()["choices"][0]["message"]["content"]
        assert service.log == []

        own = client.post("/v1/query", json={"question": QUESTION}, headers=auth("acme-hr")).json()
        assert _tool_sources(own) == ["tool:crm"] and own["tools"][0]["status"] == "ok"
        completion = client.post("/v1/chat/completions", json=chat, headers=auth("acme-hr")).json()
        assert "tool:crm" in completion["choices"][0]["message"]["content"]
        assert len(service.log) == 2

        set_tools(tool_home, "acme-hr", [_crm(service, path="/fail")])
        failed = client.post("/v1/query", json={"question": QUESTION}, headers=auth("acme-hr"))
        assert failed.status_code == 200 and "answered HTTP 500" in failed.json()["notes"][0]
        completion = client.post("/v1/chat/completions", json=chat, headers=auth("acme-hr")).json()
        assert "answered HTTP 500" in completion["notes"][0]  # an OpenAI client sees why, too


@pytest.mark.slow
def test_the_sample_sql_tool_answers_a_leave_balance(samples, tmp_path, monkeypatch, cli):
    """The demo's setup (scripts/demo_tools.py) on a copy of the sample home: acme-hr's leave-balance tool."""
    import importlib.util
    import os
    import shutil

    home = tmp_path / "demo-home"
    shutil.copytree(os.environ["TENANTCTL_HOME"], home)
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    assert cli("init").code == 0
    script = Path(__file__).resolve().parent.parent / "scripts" / "demo_tools.py"
    spec = importlib.util.spec_from_file_location("demo_tools", script)
    demo_tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_tools)
    demo_tools.install(home, 8089)
    from tenantctl.config import load_config

    assert load_config().tools.allowed_hosts == ["127.0.0.1:8089"]
    assert load_config().tools.env_secrets == {"nordwerk-maint": ["NORDWERK_ERP_TOKEN"]}
    listed = {t["name"]: t for t in cli("tool", "list", "acme-hr", "--json").json()}
    assert listed["leave-balance"]["exists"] is True

    result = cli("query", "acme-hr", "How many days of annual leave does employee E-1042 have left?", "--json")
    assert result.code == 0, result
    answer = result.json()
    assert _tool_sources(answer) == ["tool:leave-balance"] and "14.5" in answer["answer"], answer
    assert "carried over" not in answer["answer"], answer  # the field asked for, not the whole row
    usage = {(r["tenant"], r["operation"]): r["events"] for r in cli("usage", "--json").json()["usage"]}
    assert usage[("acme-hr", "tool")] == 1 and ("nordwerk-maint", "tool") not in usage


def test_tool_list_names_a_missing_secret_and_not_ready(two_tenants, cli, home, monkeypatch):
    service = two_tenants
    set_tools(home, "acme", [_crm(service, headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
    monkeypatch.delenv("ACME_CRM_TOKEN", raising=False)
    text = cli("tool", "list", "acme")
    assert "secret ${ACME_CRM_TOKEN} not set" in text.out and "ready" not in text.out
    assert cli("tool", "list", "acme", "--json").json()[0]["missing_secrets"] == ["ACME_CRM_TOKEN"]
    monkeypatch.setenv("ACME_CRM_TOKEN", SECRET)
    listed = cli("tool", "list", "acme")
    assert "ready" in listed.out and SECRET not in listed.out
    assert cli("tool", "list", "acme", "--json").json()[0]["missing_secrets"] == []


def test_a_csv_whose_header_names_a_column_twice_fails_cleanly_and_closes_its_table(tmp_path, monkeypatch):
    from tenantctl.config import ToolConfig, ToolsConfig
    from tenantctl.errors import ToolFailed
    from tenantctl.tools import sql

    (tmp_path / "dup.csv").write_text("id,id\n1,2\n")
    tool = ToolConfig(name="q", kind="sql", when="probe", file="dup.csv", query="SELECT * FROM data")
    opened = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(sql.sqlite3, "connect", lambda *a, **k: opened.append(real_connect(*a, **k)) or opened[-1])
    with pytest.raises(ToolFailed, match="duplicate column name"):
        sql.call(tool, {}, tmp_path, ToolsConfig())
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")


def test_a_tenants_tool_reads_no_environment_variable_the_operator_did_not_list_for_it(cli, home, service,
                                                                                     monkeypatch, tmp_path):
    """Every tenant's tools run in one process: a tenant.yaml naming acme's ${ACME_CRM_TOKEN} (or the
    database password) in its own tool sent it to an allowed host, acme's CRM read with acme's token."""
    for t in ("acme", "globex"):
        assert cli("tenant", "create", t).code == 0
    monkeypatch.setenv("ACME_CRM_TOKEN", SECRET)
    monkeypatch.setenv("PGPASSWORD", "db-password-123")
    set_config(home, allowed_hosts=[_hostport(service)], env_secrets={"acme": ["ACME_CRM_TOKEN"]})
    for var in ("ACME_CRM_TOKEN", "PGPASSWORD"):
        set_tools(home, "globex", [_crm(service, path=f"/echo?k=${{{var}}}",
                                        headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
        [result] = _passages("globex", "order A-1234")
        assert result.error == f"tool 'crm': secret ${{{var}}} is not set" and service.log == []
        assert f"env_secrets: {{globex: [{var}]}}" in result.hint
    set_tools(home, "acme", [_crm(service, path="/echo?k=${PGPASSWORD}")])
    [result] = _passages("acme", "order A-1234")
    assert result.error == "tool 'crm': secret ${PGPASSWORD} is not set" and service.log == []
    set_tools(home, "acme", [_crm(service, path="/echo", headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
    [result] = _passages("acme", "order A-1234")  # the one it was given
    assert result.ok and service.log[-1]["auth"] == f"Bearer {SECRET}"

    secrets = tmp_path / "secrets"  # a secrets folder of acme's is no fallback for globex either
    (secrets / "acme").mkdir(parents=True)
    (secrets / "acme" / "ACME_CRM_TOKEN").write_text(SECRET)
    set_config(home, allowed_hosts=[_hostport(service)], secrets_dir=str(secrets))
    set_tools(home, "globex", [_crm(service, path="/echo", headers={"Authorization": "Bearer ${ACME_CRM_TOKEN}"})])
    [result] = _passages("globex", "order A-1234")
    assert result.error == "tool 'crm': secret ${ACME_CRM_TOKEN} is not set" and len(service.log) == 1


def test_a_host_allowed_for_one_tenant_is_called_by_no_other_tenants_tool(two_tenants, cli, home):
    """acme's CRM, reachable without a credential from tenantctl's network: globex's tenant.yaml naming
    it in a tool of its own read acme's orders while it was in `allowed_hosts`, which is every tenant's."""
    service = two_tenants
    set_config(home, tenant_hosts={"acme": [_hostport(service)]})
    set_tools(home, "globex", [_crm(service)])
    [result] = _passages("globex", "order A-1234")
    assert "which is not in tools.allowed_hosts" in result.error and service.log == []
    listed = cli("tool", "list", "globex", "--json").json()
    assert listed[0]["allowed"] is False
    [result] = _passages("acme", "order A-1234")
    assert result.ok and len(service.log) == 1
    assert cli("tool", "list", "acme", "--json").json()[0]["allowed"] is True
    set_config(home, tenant_hosts={"acme": ["crm.internal"]})
    assert "is not host:port" in cli("tool", "list", "acme").err
