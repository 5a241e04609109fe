"""Hardening of `tenantctl serve` (issue 8), on a real uvicorn server on localhost: body and upload
limits, cleanup of refused uploads, a real full disk (tmpfs), fair-queue bounds and disconnected clients,
clean errors for malformed requests, paths that never leave the server."""

import json
import os
import threading
import time

import httpx
import pytest

from .conftest import fast_home, set_tenant_yaml
from .test_hardening import tmpfs
from .test_server import _auth, _key, _serve

pytestmark = pytest.mark.slow  # each test runs a real server for a few seconds


def _setup(cli, home, tmp_path, extra="", tenants=("a", "b")):
    fast_home(cli, home, extra)
    for name in tenants:
        assert cli("tenant", "create", name).code == 0
        folder = tmp_path / f"docs-{name}"
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.md").write_text(f"# {name}\n\nThe gate code of {name} is 47{len(name)}1.\n")
        assert cli("ingest", name, folder).code == 0
    return {name: _key(cli, name) for name in tenants}


@pytest.fixture
def server(cli, home, tmp_path):
    """A factory: a real server over a fresh hashing-embedder home with tenants a and b."""
    stack = []

    def start(extra="", home_dir=None, tenants=("a", "b")):
        from tenantctl.config import load_config
        from tenantctl.serving.app import create_app

        keys = _setup(cli, home_dir or home, tmp_path, extra, tenants)
        app = create_app(load_config())
        ctx = _serve(app)
        url = ctx.__enter__()
        stack.append(ctx)
        return url, keys, app

    yield start
    for ctx in stack:
        ctx.__exit__(None, None, None)


def _uploads(home, tenant):
    folder = home / "tenants" / tenant / "uploads"
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def _no_paths(response):
    text = response.text
    assert "/tmp/" not in text and "/tenants/" not in text and str(os.sep + "home") not in text, text


ENDPOINTS = [("POST", "/v1/search"), ("POST", "/v1/query"), ("POST", "/v1/chat/completions"),
             ("POST", "/v1/chat/sessions"), ("POST", "/v1/chat/sessions/x/messages"), ("POST", "/v1/documents")]


def test_every_endpoint_has_a_body_limit(server, home):
    url, keys, _ = server("server:\n  max_json_kb: 64\n  max_upload_mb: 1\n")
    big = json.dumps({"query": "x", "pad": "y" * (2 << 20)})
    headers = {**_auth(keys["a"]), "Content-Type": "application/json"}
    for method, path in ENDPOINTS:
        r = httpx.request(method, url + path, content=big, headers=headers)
        assert r.status_code == 413 and "limit" in str(r.json()["error"]), (path, r.status_code, r.text[:200])
        if path == "/v1/chat/completions":  # OpenAI's shape, which an OpenAI client shows
            assert "larger than the limit" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 4096
    r = httpx.post(url + "/v1/search", content=chunks(), headers=headers)
    assert r.status_code == 413
    assert httpx.post(url + "/v1/search", json={"query": "gate code"}, headers=_auth(keys["a"])).status_code == 200


def test_uploads_refused_leave_nothing_behind(server, home, tmp_path, cli, monkeypatch):
    monkeypatch.setattr("tenantctl.serving.routes.documents.LOCK_WAIT_S", 0.2)  # busy: 409 after 0.2 s, not 10
    url, keys, _ = server("server:\n  max_file_mb: 0.5\n  max_upload_mb: 2\n")
    post = lambda files, key="a": httpx.post(url + "/v1/documents", files=files, headers=_auth(keys[key]), timeout=60)  # noqa: E731

    r = post([("files", ("big.md", b"# Big\n\n" + b"word " * 200_000))])  # 1 MB > 0.5 MB per file
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = post([("files", (f"f{i}.md", b"# F\n\n" + b"w " * 200_000)) for i in range(6)])  # 2.4 MB in all
    assert r.status_code == 413
    r = post([("files", ("same.md", b"# One\n\nfirst\n")), ("files", ("same.md", b"# Two\n\nsecond\n"))])
    assert r.status_code == 400 and "two files named" in r.json()["error"]
    assert _uploads(home, "a") == []

    set_tenant_yaml(home, "a", quotas={"documents": 1})  # a.md is already there
    r = post([("files", ("q.md", b"# Q\n\nover quota\n"))])
    assert r.status_code == 429 and "quota" in r.json()["error"]
    _no_paths(r)
    assert _uploads(home, "a") == []
    set_tenant_yaml(home, "a", quotas={})

    assert cli("tenant", "suspend", "b").code == 0
    r = post([("files", ("s.md", b"# S\n\nsuspended\n"))], key="b")
    assert r.status_code == 403 and _uploads(home, "b") == []
    assert cli("tenant", "resume", "b").code == 0

    # A long CJK name (450 bytes of UTF-8) is shortened, keeping its suffix.
    name = "报告" * 75 + ".md"
    r = post([("files", (name, "# 报告\n\n年度报告的内容。\n".encode()))])
    assert r.status_code == 200, r.text
    stored = r.json()["files"][0]["path"]
    assert stored.endswith(".md") and len(stored.encode()) <= 200 and stored.startswith("报告")

    # A second upload while the tenant is busy is refused (409) and the first file's bytes stay.
    from tenantctl.storage.tenants import open_tenant

    first = [p for p in _uploads(home, "a")][0]
    before = (home / "tenants" / "a" / "uploads" / first).read_bytes()
    with open_tenant("a").write_lock():
        r = post([("files", (first, b"# Replaced\n\nnew bytes\n"))])
    assert r.status_code == 409 and "--wait" not in r.json()["hint"], r.json()  # a CLI option, not the API's
    assert (home / "tenants" / "a" / "uploads" / first).read_bytes() == before
    assert _uploads(home, "a") == [first]  # no staging folder, no .part file


def test_full_disk_upload_is_507_and_nothing_breaks(server, cli, tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    with tmpfs(disk, "4m"):
        small = disk / "home"
        monkeypatch.setenv("TENANTCTL_HOME", str(small))
        url, keys, _ = server(home_dir=small)
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        # Bigger than the free space: refused before a byte is written.
        r = httpx.post(url + "/v1/documents", files=[("files", ("huge.txt", b"x " * (free // 2 + 1000)))],
                       headers=_auth(keys["a"]), timeout=60)
        assert r.status_code == 507 and "disk space" in r.json()["error"]
        # Fits on disk, but its index does not: a real ENOSPC inside SQLite during the ingest.
        words = " ".join(f"w{i}" for i in range(400_000)).encode()[: free - (1 << 20) - 200_000]
        r = httpx.post(url + "/v1/documents", files=[("files", ("fits.txt", words))], headers=_auth(keys["a"]),
                       timeout=120)
        assert r.status_code == 507, r.text
        _no_paths(r)
        assert _uploads(small, "a") == []  # cleaned up: the disk has room again
        for tenant in ("a", "b"):  # the registry and every tenant still work
            found = httpx.post(url + "/v1/search", json={"query": "gate code"}, headers=_auth(keys[tenant]))
            assert found.status_code == 200 and found.json()["hits"], found.text
        ok = httpx.post(url + "/v1/documents", files=[("files", ("ok.md", b"# OK\n\nsmall file\n"))],
                        headers=_auth(keys["b"]), timeout=60)
        assert ok.status_code == 200


@pytest.mark.parametrize("body, status", [
    (b'{"query": "gate", "k": 1e400}', 422),
    (b'{"query": "gate", "k": "many"}', 422),
    (b'{"query": "\\ud800 gate"}', 422),
    (b'{"query": "' + "门".encode() * 3000 + b'"}', 400),
    (b'{"query": ""}', 422),
    (b'{"query": ', 422),
    (b'[1, 2, 3]', 422),
    (b'{"query": "gate", "mode": "sql"}', 422),
])
def test_malformed_search_requests(server, body, status):
    url, keys, _ = server()
    r = httpx.post(url + "/v1/search", content=body, headers={**_auth(keys["a"]), "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert "error" in r.json()
    assert httpx.post(url + "/v1/search", json={"query": "gate code"}, headers=_auth(keys["a"])).status_code == 200


def test_a_body_that_is_not_json_is_named_so(server):
    """It was "invalid request: body.9: JSON decode error" (9: the character where the parser stopped)."""
    url, keys, _ = server()
    r = httpx.post(url + "/v1/search", content=b'{"query": ',
                   headers={**_auth(keys["a"]), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid request: the body is not valid JSON", r.text
    assert "JSON object" in r.json()["hint"]


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    [{"role": "user", "content": [1, 2]}],
    [{"role": "user", "content": {"text": "hi"}}],
    '[{"role": "user", "content": "\\ud800"}]',
    [{"role": "assistant", "content": "hello"}],
    [],
])
def test_malformed_chat_completions(server, messages):
    url, keys, _ = server("answer:\n  min_score: 1.0\n")
    body = ('{"model": "x", "messages": %s}' % (messages if isinstance(messages, str) else json.dumps(messages)))
    r = httpx.post(url + "/v1/chat/completions", content=body.encode(),
                   headers={**_auth(keys["a"]), "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text


def test_invalid_tenant_yaml_over_http_shows_no_server_paths(server, home):
    url, keys, _ = server()
    path = home / "tenants" / "a" / "tenant.yaml"
    path.write_text(path.read_text() + "answer:\n  prompt_template: '{0}'\n")
    r = httpx.post(url + "/v1/search", json={"query": "gate"}, headers=_auth(keys["a"]))
    assert r.status_code == 503 and "tenant.yaml" in r.json()["error"]
    _no_paths(r)
    assert httpx.post(url + "/v1/search", json={"query": "gate"}, headers=_auth(keys["b"])).status_code == 200


def test_sessions_and_usage_are_rate_limited(server, home):
    url, keys, _ = server()
    set_tenant_yaml(home, "a", rate_limit={"requests_per_minute": 2})
    replies = [httpx.get(url + "/v1/chat/sessions", headers=_auth(keys["a"])) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    # When to come back (2 a minute: a request every 30 s), which OpenAI's clients wait before retrying;
    # there was no Retry-After, so a client retried at once and was refused again.
    assert 1 <= int(replies[2].headers["Retry-After"]) <= 30, replies[2].headers
    assert "Retry-After" not in replies[0].headers
    completion = httpx.post(url + "/v1/chat/completions", headers=_auth(keys["a"]),
                            json={"messages": [{"role": "user", "content": "gate?"}]})
    assert completion.status_code == 429 and completion.json()["error"]["type"] == "rate_limit_error"
    assert int(completion.headers["Retry-After"]) >= 1
    assert httpx.get(url + "/v1/usage", headers=_auth(keys["a"])).status_code == 429
    assert httpx.post(url + "/v1/chat/sessions", headers=_auth(keys["a"])).status_code == 429
    assert httpx.get(url + "/v1/usage", headers=_auth(keys["b"])).status_code == 200


def test_fair_queue_bounds_each_tenant_and_drops_gone_clients(server, home):
    url, keys, app = server("server:\n  max_queue: 2\n  max_queue_per_tenant: 2\nanswer:\n  min_score: 1.0\n")
    scheduler = app.state.scheduler
    gate = threading.Event()
    scheduler.submit("hold", gate.wait)  # the worker is busy: questions wait
    ask = lambda key, timeout=30: httpx.post(url + "/v1/query", json={"question": "What is the gate code?"},  # noqa: E731
                                             headers=_auth(key), timeout=timeout)
    results: dict[str, httpx.Response] = {}

    def waiting(name, key):
        results[name] = ask(key)

    threads = [threading.Thread(target=waiting, args=(f"a{i}", keys["a"])) for i in range(2)]
    for t in threads:
        t.start()
    deadline = time.time() + 10
    while scheduler.queued().get("a", 0) < 2 and time.time() < deadline:
        time.sleep(0.05)
    third = ask(keys["a"])
    assert third.status_code == 503 and "already has 2 questions waiting" in third.json()["error"]
    # The queue is full (2), yet another tenant's first question is admitted.
    threads.append(threading.Thread(target=waiting, args=("b0", keys["b"])))
    threads[-1].start()
    while scheduler.queued().get("b", 0) < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert scheduler.queued() == {"a": 2, "b": 1}
    assert ask(keys["b"]).status_code == 503  # b's second question waits for room
    gate.set()
    for t in threads:
        t.join(30)
    assert all(r.status_code == 200 for r in results.values()), {k: r.text for k, r in results.items()}


def test_a_disconnected_question_leaves_the_queue(server):
    url, keys, app = server("answer:\n  min_score: 1.0\n")
    scheduler = app.state.scheduler
    gate = threading.Event()
    scheduler.submit("hold", gate.wait)
    for _ in range(3):
        with pytest.raises(httpx.TimeoutException):
            httpx.post(url + "/v1/query", json={"question": "What is the gate code?"}, headers=_auth(keys["a"]),
                       timeout=0.5)
    deadline = time.time() + 10
    while scheduler.queued().get("a") and time.time() < deadline:
        time.sleep(0.1)
    assert scheduler.queued().get("a") is None and scheduler.withdrawn == 3
    gate.set()
    served = list(scheduler.served)
    r = httpx.post(url + "/v1/query", json={"question": "What is the gate code?"}, headers=_auth(keys["a"]), timeout=30)
    assert r.status_code == 200 and scheduler.served[len(served):].count("a") == 1  # the dropped ones never ran


def test_server_logs_carry_the_tenant(server, home):
    url, keys, _ = server("answer:\n  min_score: 1.0\n")
    assert httpx.post(url + "/v1/query", json={"question": "What is the gate code?"}, headers=_auth(keys["a"]),
                      timeout=30).status_code == 200
    assert httpx.post(url + "/v1/search", json={"query": "gate"}, headers=_auth(keys["b"])).status_code == 200
    lines = [json.loads(line) for line in (home / "logs" / "tenantctl.jsonl").read_text().splitlines()]
    served = [(ln["event"], ln["tenant"]) for ln in lines if ln["event"] in ("question", "search")]
    assert ("question", "a") in served and ("search", "b") in served
    assert all(tenant for _, tenant in served)


@pytest.mark.slow
def test_question_longer_than_the_context_window(server, home):
    """The real model with a small context window: a clean 400, with `stream: true` too (the error comes
    before the first token, so it is the response's status, not an event after 200)."""
    url, keys, _ = server("models:\n  default:\n    n_ctx: 256\nanswer:\n  min_score: -1.0\n")
    question = "Explain the gate code policy in detail. " * 40  # ~1600 characters, ~400 tokens
    r = httpx.post(url + "/v1/query", json={"question": question}, headers=_auth(keys["a"]), timeout=120)
    assert r.status_code == 400 and "context window" in r.json()["error"], r.text
    streamed = httpx.post(url + "/v1/query", json={"question": question, "stream": True},
                          headers=_auth(keys["a"]), timeout=120)
    assert streamed.status_code == 400 and "context window" in streamed.json()["error"], streamed.text


class _SlowGenerator:
    """Stands in for the shared model: 300 tokens, 20 ms each, counting what it emitted."""

    n_ctx, has_chat_template = 2048, False

    def __init__(self):
        self.emitted = 0
        self.finished = threading.Event()

    def count_tokens(self, text):
        return len(text) // 4

    def generate(self, request, on_token=None):
        from tenantctl.models.base import Generation

        try:
            for _ in range(300):
                time.sleep(0.02)
                if on_token:
                    on_token("tok ")
                self.emitted += 1
        finally:
            self.finished.set()
        return Generation(text="tok " * 300, completion_tokens=300)


@pytest.mark.parametrize("stream", [False, True])
def test_a_disconnected_question_stops_generating(server, monkeypatch, stream):
    fake = _SlowGenerator()
    monkeypatch.setattr("tenantctl.models.generation.get_generator", lambda name, cfg: fake)
    url, keys, app = server("answer:\n  min_score: -1.0\n")
    body = {"question": "What is the gate code?", "stream": stream}
    if stream:
        with httpx.stream("POST", url + "/v1/query", json=body, headers=_auth(keys["a"]), timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break  # the client reads one token and goes away
    else:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(url + "/v1/query", json=body, headers=_auth(keys["a"]), timeout=1.0)
    assert fake.finished.wait(10)
    assert fake.emitted < 150, fake.emitted  # stopped well before its 300 tokens (6 s)
    fake.finished.clear()
    answered = httpx.post(url + "/v1/query", json={"question": "What is the gate code?"}, headers=_auth(keys["b"]),
                          timeout=30)
    assert answered.status_code == 200  # the shared model is free for the next question
