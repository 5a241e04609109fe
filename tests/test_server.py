"""`tenantctl serve`: keys select the tenant, nothing crosses tenants, the pool stays within budget."""

import contextlib
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tenantctl.errors import ExitCode

from .conftest import SAMPLE_IDS, fast_home, http_service, open_gate, set_tenant_yaml


def _key(cli, *args):
    result = cli("key", "create", *args, "--json")
    assert result.code == 0, result
    return result.json()["key"]


@contextlib.contextmanager
def _serving_acme(cli, home):
    """An in-process server over a new home holding one empty tenant, acme (hashing embedder): the
    client and acme's key."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    key = _key(cli, "acme")
    with TestClient(create_app(load_config())) as client:
        yield client, key


@pytest.fixture(params=["local"])
def api(request, samples, cli, tmp_path, monkeypatch):
    """The sample tenants behind an in-process server, on a copy of the shared sample home (uploads
    must not leak into other tests). Parametrised with `store`, the tenants are first moved there."""
    import os
    import shutil

    from fastapi.testclient import TestClient

    home = tmp_path / "api-home"
    shutil.copytree(os.environ["TENANTCTL_HOME"], home)
    if request.param != "local":
        request.getfixturevalue("postgres")  # cluster mode: its config.yaml is in the test's own home
        (home / "config.yaml").write_text((request.getfixturevalue("home") / "config.yaml").read_text())
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    if request.param != "local":
        assert cli("init").code == 0  # the home's registry goes into PostgreSQL
        for tenant in SAMPLE_IDS:
            moved = cli("tenant", "move", tenant, "--to", request.param)
            assert moved.code == 0, moved

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    tenant_keys = {t: _key(cli, t) for t in SAMPLE_IDS}
    admin = _key(cli, "--admin")
    with TestClient(create_app(load_config())) as client:
        yield client, tenant_keys, admin


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.slow
def test_keys_are_required_and_select_the_tenant(api, cli):
    client, tenant_keys, admin = api
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.post("/v1/search", json={"query": "leave"}).status_code == 401
    assert client.post("/v1/search", json={"query": "leave"}, headers=_auth("tk_nope_nope")).status_code == 401
    assert client.post("/v1/search", json={"query": "leave"}, headers=_auth(admin)).status_code == 403
    assert client.get("/v1/admin/tenants", headers=_auth(tenant_keys["acme-hr"])).status_code == 403
    listed = client.get("/v1/admin/tenants", headers=_auth(admin)).json()
    assert sorted(t["id"] for t in listed) == sorted(SAMPLE_IDS)
    assert client.get("/metrics", headers=_auth(tenant_keys["acme-hr"])).status_code == 403

    spare = _key(cli, "acme-hr")
    assert client.post("/v1/search", json={"query": "leave"}, headers=_auth(spare)).status_code == 200
    key_id = [k for k in cli("key", "list", "acme-hr", "--json").json()][-1]["id"]
    assert cli("key", "revoke", key_id).code == 0
    assert client.post("/v1/search", json={"query": "leave"}, headers=_auth(spare)).status_code == 401
    assert "tk_" not in cli("key", "list", "--json").out  # secrets are never stored or shown again


@pytest.mark.slow
@pytest.mark.parametrize("api", ["local", "postgres", "postgres-dedicated"], indirect=True)
def test_a_key_never_reaches_another_tenants_data(api, tmp_path, samples):
    client, tenant_keys, admin = api
    own = {t: {p.name for p in (samples / t).iterdir()} for t in tenant_keys}  # paths shown are relative
    probes = {
        "acme-hr": "How many days of paid annual leave do employees accrue per year?",
        "nordwerk-maint": "What does error code E-417 mean?",
        "huaxin-bank": "手机银行单笔转账限额是多少",
    }
    for owner, key in tenant_keys.items():
        headers = _auth(key)
        for probe in probes.values():
            # A tenant field in the body is ignored: the key alone selects the tenant.
            found = client.post("/v1/search", json={"query": probe, "k": 5, "tenant": "acme-hr"}, headers=headers)
            assert found.status_code == 200 and found.json()["tenant"] == owner
            assert all(h["path"] in own[owner] for h in found.json()["hits"])
        usage = client.get("/v1/usage", headers=headers).json()
        assert usage["tenant"] == owner and {r["tenant"] for r in usage["usage"]} == {owner}
        assert client.get("/v1/models", headers=headers).json()["data"][0]["owned_by"] == owner

    answer = client.post("/v1/query", json={"question": probes["nordwerk-maint"], "passages": True},
                         headers=_auth(tenant_keys["nordwerk-maint"])).json()
    assert "E-417" in answer["supporting"] and "sensor" in answer["answer"], answer  # the code's meaning
    assert all(s["path"] in own["nordwerk-maint"] for s in answer["sources"])
    assert all(p["path"] in own["nordwerk-maint"] for p in answer["passages"])

    session = client.post("/v1/chat/sessions", headers=_auth(tenant_keys["acme-hr"])).json()["session"]
    reply = client.post(f"/v1/chat/sessions/{session}/messages",
                        json={"question": "How long is the probation period for new hires?"},
                        headers=_auth(tenant_keys["acme-hr"]))
    assert reply.status_code == 200 and "90 days" in reply.json()["answer"]
    stolen = client.post(f"/v1/chat/sessions/{session}/messages", json={"question": "What did I ask?"},
                         headers=_auth(tenant_keys["huaxin-bank"]))
    assert stolen.status_code == 404 and "does not belong" in stolen.json()["error"]
    assert client.get("/v1/chat/sessions", headers=_auth(tenant_keys["huaxin-bank"])).json() == []

    doc = tmp_path / "night.md"
    doc.write_text("# Night shift\n\nThe night shift foreman is Dagmar Oswald.\n")
    with doc.open("rb") as fh:
        up = client.post("/v1/documents", files=[("files", ("../../evil/night.md", fh, "text/markdown"))],
                         headers=_auth(tenant_keys["nordwerk-maint"]))
    assert up.status_code == 200 and up.json()["added"] == 1 and up.json()["files"][0]["path"] == "night.md"
    mine = client.post("/v1/search", json={"query": "night shift foreman", "k": 1},
                       headers=_auth(tenant_keys["nordwerk-maint"])).json()["hits"][0]
    assert "Dagmar Oswald" in mine["text"] and mine["path"] == "uploads/night.md"  # never the server's paths
    for other in ("acme-hr", "huaxin-bank"):
        hits = client.post("/v1/search", json={"query": "night shift foreman Dagmar Oswald"},
                           headers=_auth(tenant_keys[other])).json()["hits"]
        assert not any("Dagmar" in h["text"] for h in hits)

    metrics = client.get("/metrics", headers=_auth(admin)).text
    assert 'tenantctl_requests_total{endpoint="/v1/search",status="200",tenant="acme-hr"}' in metrics


@pytest.mark.slow
def test_streamed_answer_and_cli_via_server(api, cli, samples):
    client, tenant_keys, _ = api
    with client.stream("POST", "/v1/query", json={"question": "What does error code E-417 mean?", "stream": True},
                       headers=_auth(tenant_keys["nordwerk-maint"])) as response:
        events = [line for line in response.iter_lines() if line.startswith("event:")]
    assert events.count("event: answer") == 1 and events.count("event: token") >= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(app):
    """Run `app` with uvicorn on a free localhost port, in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(samples, cli):
    """A real uvicorn server on localhost, in a thread."""
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    with _serve(create_app(load_config())) as url:
        yield url


@pytest.mark.slow
def test_openai_client_talks_to_a_tenant_and_cli_uses_the_server(live_server, cli):
    import openai

    key = _key(cli, "acme-hr")
    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key=key, max_retries=0, timeout=120)
    assert client.models.list().data[0].id == "tenantctl:acme-hr"
    reply = client.chat.completions.create(
        model="tenantctl", messages=[{"role": "user", "content": "How long is the probation period for new hires?"}]
    )
    content = reply.choices[0].message.content
    assert "90 days" in content and "employee_handbook.docx" in content
    stream = client.chat.completions.create(
        model="tenantctl", stream=True,
        messages=[{"role": "user", "content": "How many days of paid annual leave do employees accrue per year?"}],
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "23 days" in streamed
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_server}/v1", api_key="tk_bad_key", max_retries=0).models.list()

    via = cli("search", "acme-hr", "paid annual leave", "--server", live_server, "--key", key, "--json")
    assert via.code == 0 and via.json()[0]["path"].endswith("employee_handbook.docx")
    wrong = cli("search", "nordwerk-maint", "E-417", "--server", live_server, "--key", key)
    assert wrong.code != 0 and "another tenant" in wrong.err
    asked = cli("query", "acme-hr", "How long is the probation period for new hires?", "--server", live_server,
                "--key", key, "--json")
    assert asked.code == 0 and "90 days" in asked.json()["answer"]


@pytest.mark.slow
def test_load_100_tenants_concurrent_clients_within_budget(cli, home, tmp_path):
    """100 tenants behind a small memory budget, a real server on localhost, 8 concurrent clients:
    no errors, no cross-tenant hits, tenants evicted and reloaded, the pool never above its budget."""
    import httpx

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app
    from tenantctl.serving.pool import TENANT_OVERHEAD_BYTES

    cli("init")
    budget_tenants = 20
    (home / "config.yaml").write_text(
        "embedder:\n  name: hashing-64\n"
        f"server:\n  memory_budget_mb: {budget_tenants * (TENANT_OVERHEAD_BYTES + 40_000) / (1 << 20)}\n"
    )
    keys = {}
    for i in range(100):
        tenant = f"t{i:03d}"
        folder = tmp_path / tenant
        folder.mkdir()
        for j in range(3):
            (folder / f"{tenant}-{j}.md").write_text(f"# {tenant} doc {j}\n\nSecret word of {tenant} is W{i}X{j}.\n")
        assert cli("tenant", "create", tenant).code == 0
        assert cli("ingest", tenant, folder).code == 0
        keys[tenant] = _key(cli, tenant)

    app = create_app(load_config())
    pool = app.state.pool
    peak = 0
    errors: list[str] = []

    def hit(n: int) -> None:
        nonlocal peak
        tenant = f"t{(n * 37) % 100:03d}"
        response = httpx.post(f"{url}/v1/search", json={"query": f"secret word of {tenant}", "k": 3},
                              headers=_auth(keys[tenant]), timeout=60)
        if response.status_code != 200:
            errors.append(f"{tenant}: {response.status_code} {response.text[:200]}")
            return
        for h in response.json()["hits"]:
            if not h["path"].startswith(f"{tenant}-"):
                errors.append(f"{tenant} got {h['path']}")
        peak = max(peak, pool.used_bytes)

    with _serve(app) as url, ThreadPoolExecutor(max_workers=8) as executor:
        list(executor.map(hit, range(600)))
        health = httpx.get(f"{url}/v1/health").json()
    assert errors == []
    assert pool.loads > 100 and pool.evictions > 0  # tenants were evicted and loaded again
    assert peak <= pool.budget and health["loaded_bytes"] <= health["budget_bytes"]
    assert len(pool) <= budget_tenants


def test_fair_queue_serves_tenants_in_turn():
    from tenantctl.serving.pool import FairScheduler

    scheduler = FairScheduler(max_queue=100)
    gate = threading.Event()
    order: list[str] = []
    futures = [scheduler.submit("busy", gate.wait)]  # hold the worker while the queue fills
    futures += [scheduler.submit("busy", lambda: order.append("busy")) for _ in range(10)]
    futures += [scheduler.submit("quiet", lambda: order.append("quiet")) for _ in range(2)]
    gate.set()
    for f in futures:
        f.result(timeout=10)
    scheduler.close()
    # The quiet tenant's two questions do not wait behind the busy tenant's ten.
    assert order.index("quiet") <= 1 and order[:4].count("quiet") == 2


def test_rate_limit_from_tenant_yaml(cli, home):
    from tenantctl.errors import Refused
    from tenantctl.serving.pool import RateLimiter

    limiter = RateLimiter()
    for _ in range(3):
        limiter.check("t", "questions", 3)
    with pytest.raises(Refused, match="rate limit of 3 questions per minute"):
        limiter.check("t", "questions", 3)
    limiter.check("other", "questions", 3)  # buckets are per tenant


@pytest.mark.slow
def test_a_tenants_searches_go_on_while_its_question_generates(samples, cli, monkeypatch):
    import httpx

    from tenantctl.config import load_config
    from tenantctl.models import generation
    from tenantctl.serving.app import create_app

    key = _key(cli, "acme-hr")
    started, release = threading.Event(), threading.Event()
    original = generation.LlamaCppGenerator.generate

    def slow_generate(self, request, on_token=None):
        started.set()
        assert release.wait(60)
        return original(self, request, on_token)

    monkeypatch.setattr(generation.LlamaCppGenerator, "generate", slow_generate)
    with _serve(create_app(load_config())) as url, ThreadPoolExecutor(1) as executor:
        asked = executor.submit(httpx.post, f"{url}/v1/query", headers=_auth(key), timeout=120,
                                json={"question": "How long is the probation period for new hires?"})
        assert started.wait(60)
        found = httpx.post(f"{url}/v1/search", json={"query": "paid annual leave"}, headers=_auth(key), timeout=10)
        assert found.status_code == 200 and not asked.done()  # answered while the question still waits
        release.set()
        assert "90 days" in asked.result(timeout=120).json()["answer"]


def test_suspension_reaches_a_running_server(cli, home, tmp_path):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    cli("tenant", "create", "t")
    (tmp_path / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    cli("ingest", "t", tmp_path / "a.md")
    key = _key(cli, "t")
    with TestClient(create_app(load_config())) as client:
        assert client.post("/v1/search", json={"query": "gate code"}, headers=_auth(key)).status_code == 200
        cli("tenant", "suspend", "t")  # the tenant is loaded: the server must still notice
        refused = client.post("/v1/query", json={"question": "What is the gate code?"}, headers=_auth(key))
        assert refused.status_code == 403 and "suspended" in refused.json()["error"]
        assert refused.json()["hint"] == "contact the operator to resume the tenant"  # no `tenantctl tenant resume`
        doc = tmp_path / "b.md"
        doc.write_text("# B\n\nMore.\n")
        with doc.open("rb") as fh:
            assert client.post("/v1/documents", files=[("files", ("b.md", fh))],
                               headers=_auth(key)).status_code == 403
        # Streamed, the refusal is the status too: it was 200 and an `error` event (or an OpenAI chunk).
        session = client.post("/v1/chat/sessions", headers=_auth(key)).json()["session"]
        for path, body in (("/v1/query", {"question": "What is the gate code?", "stream": True}),
                           (f"/v1/chat/sessions/{session}/messages", {"question": "Gate code?", "stream": True}),
                           ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Gate?"}],
                                                     "stream": True})):
            streamed = client.post(path, json=body, headers=_auth(key))
            assert streamed.status_code == 403, (path, streamed.text)
            assert "suspended" in str(streamed.json()["error"]) and "tenantctl" not in streamed.text


def test_a_wrong_key_through_the_cli_names_the_fix(cli, home, monkeypatch):
    """`search --server URL --key WRONG` printed the server's 401 without a hint."""
    import httpx
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    with TestClient(create_app(load_config())) as client:  # the real app answers the CLI's request
        monkeypatch.setattr(httpx, "post", lambda url, timeout, **kw: client.post(url.removeprefix("http://x"), **kw))
        result = cli("search", "acme", "leave", "--server", "http://x", "--key", "tk_nope_nope")
    assert result.code == 1 and "invalid or revoked API key (HTTP 401)" in result.err, result
    assert "Hint: pass a key of tenant 'acme' with --key or $TENANTCTL_API_KEY" in result.err, result


def test_a_loaded_tenant_s_answer_settings_follow_its_tenant_yaml(cli, home, tmp_path):
    """A running server kept the answer settings a tenant had when it was loaded (answer.passages,
    min_score, model...) until it was evicted; tools and rate limits already followed the file."""
    import yaml
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(4):
        (docs / f"d{n}.md").write_text(f"# Doc {n}\n\nThe gate code of hall {n} is 47{n}.\n")
    assert cli("ingest", "acme", docs).code == 0
    key = cli("key", "create", "acme").out.strip()
    path = home / "tenants" / "acme" / "tenant.yaml"

    def settings(**answer):
        data = yaml.safe_load(path.read_text())
        data["answer"].update(answer)
        path.write_text(yaml.safe_dump(data))

    settings(min_score=1.0, passages=1)  # every question turned away: no model is loaded
    with TestClient(create_app(load_config())) as client:
        ask = lambda: client.post("/v1/query", json={"question": "What is the gate code of hall 2?"},  # noqa: E731
                                  headers=_auth(key)).json()
        assert ask()["passages"] == 1
        settings(passages=3)
        assert ask()["passages"] == 3


def test_serve_on_an_address_it_cannot_listen_on_is_one_clean_error(cli, home):
    """A port in use printed "serving on ..." then uvicorn's own ERROR line, exit 3 ("not found"); port
    99999 a traceback."""
    import socket

    cli("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", port)
    assert result.code == 1 and f"Error: cannot listen on 127.0.0.1:{port} (Address already in use)" in result.err
    assert "serving on" not in result.err and "Traceback" not in result.err, result
    assert "stop what uses that port" in result.err
    elsewhere = cli("serve", "--host", "192.0.2.1", "--port", port)  # an address not this machine's
    assert elsewhere.code == 1 and f"cannot listen on 192.0.2.1:{port}" in elsewhere.err, elsewhere
    assert "pass --host an address of this machine" in elsewhere.err and "stop what" not in elsewhere.err
    wrong = cli("serve", "--port", "99999")
    assert wrong.code == 2 and "Invalid value for '--port'" in wrong.err and "Traceback" not in wrong.err


def test_serve_without_its_database_is_one_clean_error(cli, home, monkeypatch):
    """Cluster mode with PostgreSQL unreachable: `serve` printed "serving on ..." and answered /v1/health
    "ok" while every request failed 503; it now stops at once, naming the setting."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    home.mkdir(parents=True)
    (home / "config.yaml").write_text("postgres: {dsn: 'postgresql://tenantctl_app@127.0.0.1:1/tenantctl'}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("serve", "--port", port)
    assert result.code == 1 and "Error: cannot connect to PostgreSQL" in result.err, result
    assert "postgres.dsn" in result.err and "serving on" not in result.err and "Traceback" not in result.err


def test_a_deleted_tenant_s_metrics_leave_the_running_server(cli, home, tmp_path):
    """/metrics of a running `serve` kept the counters of a tenant deleted (by the CLI) meanwhile."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    keys = {}
    for name in ("gone", "kept"):
        assert cli("tenant", "create", name).code == 0
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.md").write_text(f"# {name}\n\nThe gate code of {name} is 4711.\n")
        assert cli("ingest", name, tmp_path / name).code == 0
        keys[name] = _key(cli, name)
    admin = _key(cli, "--admin")
    with TestClient(create_app(load_config())) as client:
        for name in keys:
            assert client.post("/v1/search", json={"query": "gate code"}, headers=_auth(keys[name])).status_code == 200
        before = client.get("/metrics", headers=_auth(admin)).text
        assert 'tenant="gone"' in before and 'tenant="kept"' in before
        assert cli("tenant", "delete", "gone", "--yes").code == 0
        after = client.get("/metrics", headers=_auth(admin)).text
        assert 'tenant="gone"' not in after, after
        assert 'tenantctl_requests_total{endpoint="/v1/search",status="200",tenant="kept"} 1.0' in after
        assert 'tenantctl_request_seconds_count{endpoint="/v1/search",tenant="kept"} 1.0' in after
        # Another tenant's key sees no metrics at all; the deleted tenant's key is refused.
        assert client.get("/metrics", headers=_auth(keys["kept"])).status_code == 403
        assert client.post("/v1/search", json={"query": "gate"}, headers=_auth(keys["gone"])).status_code == 401


def test_a_key_sent_without_bearer_is_named_and_never_echoed(cli, home):
    """`Authorization: <key>` (no scheme) was answered "missing API key", though a key was sent."""
    with _serving_acme(cli, home) as (client, key):
        bare = client.post("/v1/search", json={"query": "leave"}, headers={"Authorization": key})
        assert bare.status_code == 401 and "not a bearer credential" in bare.text and key not in bare.text
        assert "Bearer <key>" in bare.json()["hint"]
        missing = client.post("/v1/search", json={"query": "leave"})
        assert missing.status_code == 401 and missing.json()["error"] == "missing API key"
        assert client.post("/v1/search", json={"query": "leave"}, headers=_auth(key)).status_code == 200


def test_a_form_or_list_body_is_told_to_send_a_json_object(cli, home):
    """`curl -d 'query=x'` (a form, no JSON Content-Type) got "body: Input should be a valid dictionary"."""
    with _serving_acme(cli, home) as (client, key):
        form = client.post("/v1/search", content=b"query=x", headers={
            **_auth(key), "Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 422, form.text
        body = form.json()
        assert body["error"] == ("invalid request: the body is not a JSON object "
                                 "(Content-Type: application/x-www-form-urlencoded)")
        assert "Content-Type: application/json" in body["hint"]
        listed = client.post("/v1/query", json=[1, 2], headers=_auth(key))
        assert listed.status_code == 422 and "not a JSON object" in listed.json()["error"]
        field = client.post("/v1/search", json={"q": "x"}, headers=_auth(key))
        assert field.json()["error"] == "invalid request: body.query: Field required"


def test_chat_completions_without_a_user_question_names_the_fix(cli, home):
    """An empty, image-only or assistant-last `messages` got only "the last message must be the user's
    question", which left an OpenAI client's user guessing what to send."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    key = _key(cli, "acme")
    bad = [[], [{"role": "user", "content": ""}], [{"role": "assistant", "content": "hi"}],
           [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]]
    with TestClient(create_app(load_config())) as client:
        for messages in bad:
            reply = client.post("/v1/chat/completions", json={"messages": messages}, headers=_auth(key))
            assert reply.status_code == 400, reply.text
            assert '{"role": "user", "content": "your question"}' in reply.json()["error"]["message"]


def test_a_server_without_scheme_is_named_not_called_unreachable(cli, home):
    """`--server 127.0.0.1:8765` said "cannot reach the tenantctl server ... start it with `tenantctl serve`"."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    result = cli("search", "acme", "leave", "--server", "127.0.0.1:8765", "--key", "tk_x_y")
    assert result.code == 2, result
    assert "--server '127.0.0.1:8765' is not a URL" in result.err and "cannot reach" not in result.err
    assert "--server http://127.0.0.1:8765" in result.err


def test_a_server_that_is_not_tenantctl_is_named_not_a_traceback(cli, home):
    """Another web server's page came back as `{}`: `search --server` failed with KeyError: 'hits'."""
    from http.server import BaseHTTPRequestHandler

    class Page(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            status = 200 if self.path == "/v1/search" else 502
            body = b"<html><body>\n  <h1>Welcome</h1>\n</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    fast_home(cli, home)
    with http_service(Page) as page:
        url = f"http://127.0.0.1:{page.server_address[1]}"
        found = cli("search", "acme", "leave", "--server", url, "--key", "tk_x_y")
        assert found.code == 1 and "did not answer as tenantctl does (HTTP 200, text/html)" in found.err, found
        assert "Traceback" not in found.err and "--server" in found.err
        asked = cli("query", "acme", "leave?", "--server", url, "--key", "tk_x_y")
        assert asked.code == 1 and "<html><body> <h1>Welcome</h1> </body></html> (HTTP 502)" in asked.err, asked


def test_own_usage_of_a_tenant_whose_store_is_gone_is_not_a_500(cli, home):
    """`GET /v1/usage` indexed the quota report by the tenant, which has no entry without a store."""
    with _serving_acme(cli, home) as (client, key):
        (home / "tenants" / "acme" / "store.db").unlink()
        response = client.get("/v1/usage", headers=_auth(key))
        assert response.status_code == 200, response.text
        assert response.json() == {"tenant": "acme", "usage": [], "quotas": None}


def test_openai_endpoints_answer_errors_in_openai_s_shape(cli, home):
    """An OpenAI client showed only "Error code: 400" / "401": it reads `error.message`, and the errors
    were `{"detail": ...}` or `{"error": "..."}`."""
    with _serving_acme(cli, home) as (client, key):
        empty = client.post("/v1/chat/completions", json={"messages": []}, headers=_auth(key))
        assert empty.status_code == 400
        assert empty.json()["error"]["type"] == "invalid_request_error"
        assert "the last message must be the user's question" in empty.json()["error"]["message"]
        wrong = client.get("/v1/models", headers=_auth("tk_nope_nope"))
        assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
        assert wrong.json()["error"]["message"].startswith("invalid or revoked API key (check the key sent; ")
        invalid = client.post("/v1/chat/completions", json={"messages": "hi"}, headers=_auth(key)).json()
        assert invalid["error"]["message"].startswith("invalid request: body.messages") and invalid["error"]["hint"]
        cli("tenant", "suspend", "acme")
        refused = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]},
                              headers=_auth(key))
        assert refused.status_code == 403 and "suspended" in refused.json()["error"]["message"]
        # The hint, too: the operator's, not a CLI command an API client cannot run (it was `tenantctl tenant resume`).
        assert refused.json()["error"]["message"].endswith("(contact the operator to resume the tenant)")
        # The rest of the API keeps its shape, `{error, hint}` (and `detail`, as it was).
        assert client.post("/v1/search", json={"query": "x"}, headers=_auth("tk_nope_nope")).json() == {
            "error": "invalid or revoked API key", "detail": "invalid or revoked API key",
            "hint": "check the key sent; the server's operator issues each tenant's keys"}
        assert isinstance(client.post("/v1/query", json={"question": "x"}, headers=_auth(key)).json()["error"], str)


def test_an_upload_without_file_parts_names_the_multipart_field(cli, home):
    """`curl -F file=@x` or `-F files=text` got "body.files.0: Value error, Expected UploadFile, received:
    <class 'str'>" and "see the API documentation"."""
    with _serving_acme(cli, home) as (client, key):
        for kwargs in ({"data": {"files": "hello"}}, {"files": [("file", ("a.md", b"# A\n\nx\n"))]}, {"json": {}}):
            r = client.post("/v1/documents", headers=_auth(key), **kwargs)
            assert r.status_code == 422, r.text
            assert r.json()["error"] == ("invalid request: no files: send each file as a multipart file part "
                                         "named `files`")
            assert "curl -F files=@" in r.json()["hint"] and "UploadFile" not in r.json()["error"]
        assert (home / "tenants" / "acme" / "uploads").exists() is False or not any(
            (home / "tenants" / "acme" / "uploads").iterdir())


def test_refusals_outside_the_openai_endpoints_name_the_fix(cli, home):
    """401, 403 and 404 outside the OpenAI-compatible endpoints were `{"detail": "..."}` alone: no hint,
    unlike every other error of `serve`."""
    with _serving_acme(cli, home) as (client, key):
        admin = _key(cli, "--admin")
        refusals = [client.post("/v1/search", json={"query": "x"}),
                    client.post("/v1/search", json={"query": "x"}, headers=_auth("tk_nope_nope")),
                    client.post("/v1/search", json={"query": "x"}, headers=_auth(admin)),
                    client.get("/v1/admin/tenants", headers=_auth(key)),
                    client.get("/v1/nothing-here", headers=_auth(key)),
                    client.get("/v1/search", headers=_auth(key))]
        assert [r.status_code for r in refusals] == [401, 401, 403, 403, 404, 405]
        for r in refusals:
            body = r.json()
            assert set(body) == {"error", "hint", "detail"} and body["detail"] == body["error"], r.text
            assert body["hint"] and "\n" not in body["error"] + body["hint"]
        assert refusals[3].json()["hint"] == "use an admin key: the server's operator issues them"  # no CLI command
        assert "/docs" in refusals[4].json()["hint"]


def _names_cli(text: str) -> bool:
    """Whether an API response names a CLI command (`tenantctl ...`) or option (`--wait`)."""
    import re

    return "`tenantctl " in text or re.search(r"(?<![\w-])--[a-z]", text) is not None


def test_no_api_error_names_a_cli_command(cli, home, tmp_path, monkeypatch):
    """Hints over HTTP named `tenantctl key create`, `tenantctl repair TENANT --reembed`, `ingest with
    --prune`, `tenantctl doctor`, `tenantctl logs`...: commands and options an API client cannot run. Each
    error path keeps its status and says what is wrong and who can fix it."""
    import errno
    import sqlite3

    import yaml
    from fastapi.testclient import TestClient

    from tenantctl import paths
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app
    from tenantctl.storage import sessions
    from tenantctl.storage.tenants import open_tenant

    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nThe gate code is 4711.\n")
    with _serving_acme(cli, home) as (client, key):
        admin = _key(cli, "--admin")
        for name in ("mism", "full", "broken", "nomodel", "gone"):
            assert cli("tenant", "create", name).code == 0
        keys = {name: _key(cli, name) for name in ("mism", "full", "broken", "nomodel", "gone")}
        assert cli("ingest", "mism", doc).code == 0
        with open_tenant("mism").open_store() as store, store.transaction():
            store.set_meta("embedder", "another-model")
        for name, settings in (("full", {"quotas": {"documents": 1}}), ("nomodel", {"answer": {"model": "nosuch"}})):
            path = home / "tenants" / name / "tenant.yaml"
            data = yaml.safe_load(path.read_text())
            for part, values in settings.items():
                data.setdefault(part, {}).update(values)
            path.write_text(yaml.safe_dump(data))
        (home / "tenants" / "broken" / "store.db").write_bytes(b"not a database" * 100)
        with sqlite3.connect(paths.registry_file()) as conn:  # a key whose tenant is gone from the registry
            conn.execute("DELETE FROM tenants WHERE id = 'gone'")
        search = {"query": "gate code"}
        two = [("files", ("a.md", b"# A\n\nOne.\n")), ("files", ("b.md", b"# B\n\nTwo.\n"))]
        replies = {
            "no key": (401, client.post("/v1/search", json=search)),
            "wrong key": (401, client.post("/v1/search", json=search, headers=_auth("tk_nope_nope"))),
            "admin key, tenant route": (403, client.post("/v1/search", json=search, headers=_auth(admin))),
            "tenant key, admin route": (403, client.get("/v1/admin/tenants", headers=_auth(key))),
            "deleted tenant": (401, client.post("/v1/search", json=search, headers=_auth(keys["gone"]))),
            "embedder mismatch": (500, client.post("/v1/search", json=search, headers=_auth(keys["mism"]))),
            "storage quota": (429, client.post("/v1/documents", files=two, headers=_auth(keys["full"]))),
            "damaged store": (500, client.post("/v1/search", json=search, headers=_auth(keys["broken"]))),
            "model not configured": (503, client.post("/v1/query", json={"question": "What is the gate code?"},
                                                      headers=_auth(keys["nomodel"]))),
        }
    with TestClient(create_app(load_config()), raise_server_exceptions=False) as client:
        for name, failure in (("unexpected error", RuntimeError("boom")),
                              ("system error", OSError(errno.EIO, "Input/output error"))):
            monkeypatch.setattr(sessions, "listing", lambda store, failure=failure: (_ for _ in ()).throw(failure))
            replies[name] = (500, client.get("/v1/chat/sessions", headers=_auth(key)))
    for name, (status, r) in replies.items():
        assert r.status_code == status, (name, r.text)
        hint = r.json()["hint"]
        assert hint and not _names_cli(r.text), (name, r.text)
    assert "deleted or never created: ask the server's operator" in replies["deleted tenant"][1].json()["hint"]
    assert "contact the server's operator" in replies["embedder mismatch"][1].json()["hint"]
    assert "DELETE /v1/documents/{path}" in replies["storage quota"][1].json()["hint"]
    assert "raise the tenant's quota" in replies["storage quota"][1].json()["hint"]


def test_hints_of_quotas_rate_limits_and_settings_never_send_the_client_to_the_server_s_files(cli, home):
    """A client over its question quota was told to "raise `quotas.questions_per_day` in its tenant.yaml", one
    over its rate limit to "raise `rate_limit` in its tenant.yaml", one whose tenant.yaml or pilot model is
    broken to fix the server's files and restart it: the operator's fixes, none the client can make."""
    import yaml

    with _serving_acme(cli, home) as (client, key):
        settings = home / "tenants" / "acme" / "tenant.yaml"
        good = yaml.safe_load(settings.read_text())
        replies = {}
        for name, change in (("quota", {"quotas": {"questions_per_day": 0}}),
                             ("rate", {"rate_limit": {"requests_per_minute": 1}}),
                             ("model", {"answer": {**good["answer"], "model": "nosuch"}})):
            settings.write_text(yaml.safe_dump({**good, **change}))
            replies[name] = [client.post("/v1/query", headers=_auth(key), json={"question": "What is the gate code?"})
                             for _ in range(2)][-1]
        settings.write_text("answer: [\n")
        replies["yaml"] = client.post("/v1/search", headers=_auth(key), json={"query": "gate code"})
        settings.write_text(yaml.safe_dump(good))
        replies["long"] = client.post("/v1/search", headers=_auth(key), json={"query": "gate " * 500})
        replies["since"] = client.get("/v1/usage?since=yesterday", headers=_auth(key))  # "a fault on the server"
    statuses = [r.status_code for r in replies.values()]
    assert statuses == [429, 429, 503, 503, 400, 400], {n: r.text for n, r in replies.items()}
    assert replies["since"].json()["hint"] == "use YYYY-MM-DD (UTC), e.g. 2026-11-01"
    assert replies["long"].json()["hint"] == "shorten it, or ask the server's operator to raise the limit"
    for name, reply in replies.items():
        hint = reply.json()["hint"]
        assert "tenant.yaml" not in hint and "config.yaml" not in hint, (name, reply.text)
    assert "next UTC day" in replies["quota"].json()["hint"] and "Retry-After" in replies["rate"].json()["hint"]
    assert "contact the server's operator" in replies["model"].json()["hint"]


def test_a_model_is_retrieved_only_by_its_own_key(cli, home):
    """OpenAI clients call `GET /v1/models/{id}` (`client.models.retrieve`): it was 404 for every id. A
    key retrieves its own tenant's model; another tenant's id is not found, as one that never existed."""
    with _serving_acme(cli, home) as (client, key):
        assert cli("tenant", "create", "globex").code == 0
        other = _key(cli, "globex")
        own = client.get("/v1/models/tenantctl:acme", headers=_auth(key))
        assert own.status_code == 200 and own.json()["id"] == "tenantctl:acme" and own.json()["owned_by"] == "acme"
        assert client.get("/v1/models/tenantctl", headers=_auth(key)).json()["id"] == "tenantctl:acme"
        probe = client.get("/v1/models/tenantctl:acme", headers=_auth(other))
        unknown = client.get("/v1/models/tenantctl:nobody", headers=_auth(other))
        assert probe.status_code == unknown.status_code == 404, probe.text
        assert "acme" not in probe.json()["error"]["hint"] and probe.json()["error"]["type"] == "invalid_request_error"
        assert "tenantctl:globex" in probe.json()["error"]["hint"]
        refused = client.get("/v1/models/tenantctl:acme")
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"


def test_a_chat_completion_for_another_tenant_s_model_is_not_found(cli, home):
    """globex's key with `model: tenantctl:acme` was answered from globex's documents, the reply named
    `tenantctl:globex`: a client holding the wrong key read "globex does not hold an answer" as acme's."""
    with _serving_acme(cli, home) as (client, key):
        assert cli("tenant", "create", "globex").code == 0
        other = _key(cli, "globex")
        for model in ("tenantctl:acme", "tenantctl:nobody"):
            r = client.post("/v1/chat/completions", headers=_auth(other),
                            json={"model": model, "messages": [{"role": "user", "content": "Gate code?"}]})
            assert r.status_code == 404, r.text
            error = r.json()["error"]
            assert error["message"].startswith(f"model {model!r} does not exist")
            assert "tenantctl:globex" in error["hint"] and "acme" not in error["hint"]
        for model in ("tenantctl:acme", "tenantctl", "gpt-4o", None):  # its own, or a name that is not one
            r = client.post("/v1/chat/completions", headers=_auth(key),
                            json={"model": model, "messages": [{"role": "user", "content": "Gate code?"}]})
            assert r.status_code == 200 and r.json()["model"] == "tenantctl:acme", r.text


def test_a_chat_message_to_an_unknown_or_foreign_session_names_the_api_s_fix(cli, home):
    """The 404 of a chat message to a session the tenant does not have hinted `tenantctl chat acme --list`,
    a command an API client cannot run; another tenant's session is as unknown as one that never was."""
    with _serving_acme(cli, home) as (client, key):
        assert cli("tenant", "create", "globex").code == 0
        theirs = client.post("/v1/chat/sessions", headers=_auth(_key(cli, "globex"))).json()["session"]
        for session in ("nosuch", theirs):
            for stream in (False, True):
                r = client.post(f"/v1/chat/sessions/{session}/messages", json={"question": "x", "stream": stream},
                                headers=_auth(key))
                assert r.status_code == 404, r.text
                assert r.json()["error"] == f"session {session!r} does not belong to tenant 'acme'"
                hint = r.json()["hint"]
                assert hint.startswith("GET /v1/chat/sessions lists") and "tenantctl" not in hint


def test_a_new_chat_session_is_named_by_id_as_the_listing_names_it(cli, home):
    """`POST /v1/chat/sessions` answered `{"session": ID}` while `GET /v1/chat/sessions` lists `{"id": ...}`:
    a client reading `id` from both got nothing. Both keys now, `session` kept for existing clients."""
    with _serving_acme(cli, home) as (client, key):
        assert cli("tenant", "create", "globex").code == 0
        created = client.post("/v1/chat/sessions", headers=_auth(key))
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["id"] and body["id"] == body["session"], body
        assert [s["id"] for s in client.get("/v1/chat/sessions", headers=_auth(key)).json()] == [body["id"]]
        assert client.get("/v1/chat/sessions", headers=_auth(_key(cli, "globex"))).json() == []


def test_an_upload_none_of_whose_files_can_be_indexed_is_422_with_the_reason(cli, home):
    """An upload of only an .exe, an empty or a binary file got 200 (`"status": "partial"`, 0 added): a
    client checking the status code took it for stored."""
    with _serving_acme(cli, home) as (client, key):
        bad = client.post("/v1/documents", headers=_auth(key),
                          files=[("files", ("tool.exe", b"MZ")), ("files", ("empty.md", b""))])
        assert bad.status_code == 422, bad.text
        body = bad.json()
        assert body["error"].startswith("no file of the upload could be indexed: tool.exe: unsupported file type .exe")
        assert body["hint"] and [f["status"] for f in body["files"]] == ["failed", "failed"]
        assert not any((home / "tenants" / "acme" / "uploads").iterdir())
        ok = ("ok.md", b"# OK\n\nThe gate code is 4711.\n")
        mixed = client.post("/v1/documents", headers=_auth(key), files=[("files", ("tool.exe", b"MZ")), ("files", ok)])
        assert mixed.status_code == 200 and mixed.json()["status"] == "partial" and mixed.json()["added"] == 1


def test_a_key_of_another_tenant_through_the_cli_is_refused_before_any_work(cli, home, monkeypatch):
    """`search globex ... --server URL --key <acme's key>` ran the search in acme (metered to acme; with
    `query`, a question to the model) and only then said the key was another tenant's. The CLI names its
    tenant in `X-Tenantctl-Tenant`, which refuses another tenant's key and never selects a tenant."""
    import httpx

    with _serving_acme(cli, home) as (client, key):
        assert cli("tenant", "create", "globex").code == 0
        monkeypatch.setattr(httpx, "post", lambda url, timeout, **kw: client.post(url.removeprefix("http://x"), **kw))
        result = cli("search", "globex", "leave", "--server", "http://x", "--key", key)
        assert result.code == 2 and "the API key belongs to another tenant than 'globex'" in result.err, result
        assert "Hint: use a key of tenant 'globex'" in result.err
        assert cli("usage", "--tenant", "acme", "--json").json()["usage"] == []  # nothing ran, nothing metered
        probe = client.post("/v1/search", json={"query": "leave"},
                            headers={**_auth(key), "X-Tenantctl-Tenant": "globex"})
        assert probe.status_code == 403 and probe.json()["error"] == "the key is not a key of tenant 'globex'"
        own = client.post("/v1/search", json={"query": "leave"}, headers={**_auth(key), "X-Tenantctl-Tenant": "acme"})
        assert own.status_code == 200 and own.json()["tenant"] == "acme"
        assert cli("search", "acme", "leave", "--server", "http://x", "--key", key).code == 0


def test_the_cli_through_a_server_exits_with_the_code_of_what_was_refused(cli, home, monkeypatch):
    """`query T Q --server URL` over the tenant's quota, or of a suspended tenant, exited 1 (as any fault):
    the README's table gives 5, as the same command without --server exits; a question too long 2."""
    import httpx

    with _serving_acme(cli, home) as (client, key):
        monkeypatch.setattr(httpx, "post", lambda url, timeout, **kw: client.post(url.removeprefix("http://x"), **kw))
        set_tenant_yaml(home, "acme", quotas={"questions_per_day": 0})
        over = cli("query", "acme", "What is the gate code?", "--server", "http://x", "--key", key)
        assert over.code == ExitCode.REFUSED and "questions_per_day=0 (HTTP 429)" in over.err, over
        assert cli("query", "acme", "What is the gate code?").code == ExitCode.REFUSED  # as without --server
        long = cli("search", "acme", "gate " * 500, "--server", "http://x", "--key", key)
        assert long.code == ExitCode.USAGE, long
        assert cli("tenant", "suspend", "acme").code == 0
        suspended = cli("query", "acme", "What is the gate code?", "--server", "http://x", "--key", key)
        assert suspended.code == ExitCode.REFUSED and "suspended" in suspended.err, suspended


GARDEN_CSV = "product,warranty,price\nLawn mower LM-3,2 years,450 EUR\nHedge trimmer HT-7,1 year,120 EUR\n"


def test_a_chat_follow_up_asks_of_its_own_subject_and_never_of_another_tenants(cli, home, tmp_path, monkeypatch):
    """Over /v1/chat/completions and chat sessions a short follow-up's search borrowed the earlier question
    while its own words ranked the sentences: "how much does it cost?" after the FL-9 found nothing."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.models import generation
    from tenantctl.serving.app import create_app

    from .test_answer import FL9, PRICE_CSV, FakeGenerator

    fast_home(cli, home)
    for tenant, text in (("shop", PRICE_CSV), ("garden", GARDEN_CSV)):
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "prices.csv").write_text(text)
        assert cli("tenant", "create", tenant).code == 0 and cli("ingest", tenant, tmp_path / tenant).code == 0
        open_gate(home, tenant)
    shop, garden = _auth(_key(cli, "shop")), _auth(_key(cli, "garden"))
    monkeypatch.setattr(generation, "load_generator", lambda name, cfg: FakeGenerator(" 8200 EUR"))
    asked = [{"role": "user", "content": FL9},
             {"role": "assistant", "content": "product: Forklift FL-9; warranty: 5 years"},
             {"role": "user", "content": "how much does it cost?"}]
    with TestClient(create_app(load_config())) as client:
        reply = client.post("/v1/chat/completions", json={"messages": asked}, headers=shop).json()
        content = reply["choices"][0]["message"]["content"]
        assert content.startswith("product: Forklift FL-9; price: 8200 EUR [1]"), reply
        assert "product: Forklift FL-9;" in reply["citations"][0]["quote"]
        # Another tenant's key with the same messages: its own records alone (the model's "8200 EUR" is not there).
        reply = client.post("/v1/chat/completions", json={"messages": asked}, headers=garden).json()
        assert "8200" not in reply["choices"][0]["message"]["content"] and "FL-9" not in json.dumps(reply)

        session = client.post("/v1/chat/sessions", headers=shop).json()["session"]
        first = client.post(f"/v1/chat/sessions/{session}/messages", json={"question": FL9}, headers=shop)
        assert first.status_code == 200
        follow = client.post(f"/v1/chat/sessions/{session}/messages", json={"question": "and for the FL-12?"},
                             headers=shop).json()
        assert follow["question"] == "What is the warranty of the FL-12?", follow
        assert "product: Forklift FL-12;" in follow["sources"][0]["quote"]
        stolen = client.post(f"/v1/chat/sessions/{session}/messages", json={"question": "how much does it cost?"},
                             headers=garden)
        assert stolen.status_code == 404
        own = client.post("/v1/chat/sessions", headers=garden).json()["session"]
        alone = client.post(f"/v1/chat/sessions/{own}/messages", json={"question": "how much does it cost?"},
                            headers=garden).json()
        assert alone["question"] == "how much does it cost?" and alone["no_answer"], alone  # nothing to borrow


def test_two_different_credentials_are_refused_not_one_picked(cli, home):
    """A request with `Authorization: Bearer <A's key>` and `X-API-Key: <B's key>` ran as B: X-API-Key won
    silently, so a request a gateway let in as one tenant (its token or key in Authorization) was served as
    another. Two different credentials of this server are 401; the same key in both headers is one credential."""
    with _serving_acme(cli, home) as (client, acme):
        assert cli("tenant", "create", "beta").code == 0
        beta, admin = _key(cli, "beta"), _key(cli, "--admin")
        both = {**_auth(acme), "X-API-Key": beta}
        for method, path, body in (("POST", "/v1/search", {"query": "gate"}), ("GET", "/v1/usage", None)):
            refused = client.request(method, path, json=body, headers=both)
            assert refused.status_code == 401, refused.text
            assert "two different credentials" in refused.json()["error"] and beta not in refused.text
        assert client.get("/v1/admin/tenants", headers={**_auth(acme), "X-API-Key": admin}).status_code == 401
        same = client.get("/v1/usage", headers={**_auth(acme), "X-API-Key": acme})
        assert same.status_code == 200 and same.json()["tenant"] == "acme"
        # a gateway's own bearer token, beside the key it adds as X-API-Key, is not ours: the key is used
        gateway = client.get("/v1/usage", headers={"Authorization": "Bearer gw-session-9f8e", "X-API-Key": beta})
        assert gateway.status_code == 200 and gateway.json()["tenant"] == "beta", gateway.text
        assert client.get("/v1/usage", headers={"X-API-Key": beta}).json()["tenant"] == "beta"


def test_a_body_over_the_limit_gets_one_hint_naming_its_own_limit(cli, home):
    """A JSON body over the limit was told to raise `server.max_json_kb` / `server.max_upload_mb` when its
    Content-Length said so, and "see the API documentation at /docs" when a chunked body passed it; an upload
    named the JSON limit too. Both ways now give one error and the hint of the limit that applies."""
    with _serving_acme(cli, home) as (client, key):
        big = b'{"query": "' + b"x" * (300 << 10) + b'"}'

        def chunked():
            for start in range(0, len(big), 8192):
                yield big[start:start + 8192]

        headers = {**_auth(key), "Content-Type": "application/json"}
        told = client.post("/v1/search", content=big, headers=headers)
        counted = client.post("/v1/search", content=chunked(), headers=headers)
        assert told.status_code == counted.status_code == 413, (told.text, counted.text)
        assert told.json() == counted.json(), (told.text, counted.text)
        assert "server.max_json_kb" in told.json()["hint"] and "max_upload_mb" not in told.json()["hint"]
        upload = client.post("/v1/documents", headers={**_auth(key), "Content-Length": str(65 << 20),
                                                       "Content-Type": "multipart/form-data; boundary=x"})
        assert upload.status_code == 413 and "server.max_upload_mb" in upload.json()["hint"], upload.text


def test_a_wrong_method_is_told_the_one_the_endpoint_takes(cli, home):
    """A GET of /v1/search was told "this endpoint takes another method", which the Allow header named."""
    with _serving_acme(cli, home) as (client, key):
        for method, path, allowed in (("GET", "/v1/search", "POST"), ("POST", "/v1/usage", "GET"),
                                      ("PUT", "/v1/chat/sessions", "GET or POST")):
            refused = client.request(method, path, headers=_auth(key))
            assert refused.status_code == 405, refused.text
            assert refused.json()["hint"].startswith(f"this endpoint takes {allowed}:"), refused.json()
            assert refused.headers["allow"] == allowed.replace(" or ", ", ")  # it named the first route's alone


def test_an_unknown_or_revoked_key_is_401_on_the_admin_endpoints_too(cli, home):
    """GET /metrics with an unknown or revoked key was 403 "this endpoint needs an admin key", as for a valid
    key of a tenant; every other endpoint says 401 to a key that is not one."""
    with _serving_acme(cli, home) as (client, key):
        admin = _key(cli, "--admin")
        assert client.get("/v1/admin/tenants", headers=_auth(admin)).status_code == 200
        assert cli("key", "revoke", admin.split("_")[1]).code == 0
        for path in ("/metrics", "/v1/admin/tenants", "/v1/admin/usage"):
            for sent in (admin, "tk_00000000_" + "x" * 32):
                refused = client.get(path, headers=_auth(sent))
                assert refused.status_code == 401 and "invalid or revoked" in refused.json()["error"], refused.text
            assert client.get(path, headers=_auth(key)).status_code == 403  # a tenant's key: not allowed


def test_a_trailing_slash_is_a_404_naming_the_endpoint_not_a_redirect_to_the_servers_address(cli, home):
    """`POST /v1/search/` was a 307 without a body to `http://<the server's own host:port>/v1/search`: behind
    a gateway, an internal address the client cannot reach (and should not learn)."""
    with _serving_acme(cli, home) as (client, key):
        for method, path in (("POST", "/v1/search/"), ("GET", "/v1/usage/"), ("GET", "/v1/chat/sessions/")):
            refused = client.request(method, path, json={"query": "x"}, headers=_auth(key), follow_redirects=False)
            assert refused.status_code == 404 and "location" not in refused.headers, refused
            assert refused.json()["hint"] == f"no such endpoint: drop the trailing slash ({path.rstrip('/')})"
        assert client.get("/v1/nosuch/", headers=_auth(key)).json()["hint"].startswith("no such endpoint: the API")


def test_a_long_session_id_is_echoed_cut_short(cli, home):
    """GET /v1/chat/sessions/<5,000 characters>/messages echoed the whole id in its 404."""
    with _serving_acme(cli, home) as (client, key):
        refused = client.get(f"/v1/chat/sessions/{'a' * 5000}/messages", headers=_auth(key))
        assert refused.status_code == 404 and len(refused.text) < 400, refused.text[:200]
        assert f"session '{'a' * 37}...' does not belong to tenant 'acme'" == refused.json()["error"]
