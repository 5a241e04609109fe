"""The LLM on an OpenAI-compatible server: the stream parsing against a mock transport, and end to end
against `python -m llama_cpp.server` on localhost serving the packaged Gemma 3 270M."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tenantctl.config import ModelConfig
from tenantctl.errors import ExitCode, ModelUnavailable
from tenantctl.models.generation import Request
from tenantctl.models.remote import OpenAICompatGenerator, iter_sse

from .conftest import copy_samples, set_tenant_yaml

QUESTION = "How many days of paid annual leave do employees accrue per year?"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the client against a mock transport ----------------------------------------------------------


def _sse(*chunks: dict | str) -> bytes:
    lines = [": ping"]  # a comment line, as sse-starlette sends to keep the connection open
    for chunk in chunks:
        lines.append(f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}")
        lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode()


def _generator(handler, **cfg) -> OpenAICompatGenerator:
    cfg.setdefault("base_url", "http://llm.test:8000/v1/")
    return OpenAICompatGenerator("shared", ModelConfig(**cfg), transport=httpx.MockTransport(handler))


def test_completion_stream_is_parsed_and_counted_without_usage(monkeypatch):
    monkeypatch.setenv("TENANTCTL_LLM_API_KEY", "s3cret")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/extras/tokenize":
            return httpx.Response(200, json={"tokens": list(range(len(json.loads(request.content)["input"])))})
        body = _sse(
            {"choices": [{"text": " 40", "finish_reason": None}]},
            {"choices": [{"text": " euros", "finish_reason": None}]},
            {"choices": [{"text": "", "finish_reason": "stop"}]},
            "[DONE]",
            {"choices": [{"text": " never read"}]},
        )
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    gen = _generator(handler, api_model="gemma-270m", n_ctx=4096)
    assert (gen.name, gen.n_ctx, gen.has_chat_template, gen.base_url) == (
        "gemma-270m", 4096, False, "http://llm.test:8000"
    )
    pieces: list[str] = []
    result = gen.generate(Request(prompt="twelve chars", max_tokens=7, stop=["\n"]), pieces.append)
    assert pieces == [" 40", " euros"] and result.text == " 40 euros"
    assert result.completion_tokens == 2 and result.prompt_tokens == 12  # from /extras/tokenize
    assert result.finish_reason == "stop" and result.first_token_ms is not None and result.generation_ms > 0

    completion = next(r for r in seen if r.url.path == "/v1/completions")
    sent = json.loads(completion.content)
    assert sent["model"] == "gemma-270m" and sent["prompt"] == "twelve chars" and sent["stream"] is True
    assert sent["max_tokens"] == 7 and sent["stop"] == ["\n"] and "messages" not in sent
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in seen)


def test_chat_stream_uses_the_servers_usage_and_no_key_sends_no_header(monkeypatch):
    monkeypatch.delenv("TENANTCTL_LLM_API_KEY", raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/v1/chat/completions"
        body = _sse(
            {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": " there"}, "finish_reason": "length"}]},
            {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 9}},
            "[DONE]",
        )
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    gen = _generator(handler, prompt_style="chat")
    assert gen.has_chat_template and gen.name == "shared"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    result = gen.generate(Request(messages=messages))
    assert result.text == "Hi there" and result.finish_reason == "length"
    assert (result.prompt_tokens, result.completion_tokens) == (31, 9)
    sent = json.loads(seen[0].content)
    assert sent["messages"] == messages and "prompt" not in sent and "stop" not in sent
    assert "authorization" not in seen[0].headers


def test_missing_tokenize_endpoint_is_tried_once_then_estimated():
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(404, json={"detail": "Not Found"})

    gen = _generator(handler)
    assert gen.count_tokens("x" * 40) == 13  # estimate_tokens (10) * 1.3, rounded up
    assert gen.count_tokens("y" * 8) == 3
    assert calls == ["/extras/tokenize"]


def test_http_errors_timeouts_and_broken_streams_are_model_unavailable():
    def server_error(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "Requested tokens (5000) exceed context window"}})

    with pytest.raises(ModelUnavailable) as info:
        _generator(server_error).generate(Request(prompt="hi"))
    assert "http://llm.test:8000" in info.value.message and "HTTP 400" in info.value.message
    assert "exceed context window" in info.value.message and "\n" not in info.value.message

    def unauthorized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "Invalid API key"})

    with pytest.raises(ModelUnavailable) as info:
        _generator(unauthorized).count_tokens("hi")
    assert "HTTP 401" in info.value.message and "TENANTCTL_LLM_API_KEY" in info.value.hint

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ModelUnavailable) as info:
        _generator(slow).generate(Request(prompt="hi"))
    assert "did not answer within 300 s" in info.value.message
    assert "models.shared.base_url" in info.value.hint

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"data: {not json\n\n", headers={"content-type": "text/event-stream"})

    with pytest.raises(ModelUnavailable, match="unreadable answer"):
        _generator(garbage).generate(Request(prompt="hi"))


def test_iter_sse_skips_comments_and_raises_stream_errors():
    lines = [": ping", "event: message", 'data: {"a": 1}', "", "data:{\"b\": 2}", "data: [DONE]", 'data: {"c": 3}']
    assert list(iter_sse(lines)) == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="model crashed"):
        list(iter_sse(['data: {"error": {"message": "model crashed"}}']))


def test_api_key_is_read_per_request(monkeypatch):
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"tokens": [1]})

    gen = _generator(handler)
    monkeypatch.setenv("TENANTCTL_LLM_API_KEY", "one")
    gen.count_tokens("a")
    monkeypatch.setenv("TENANTCTL_LLM_API_KEY", "two")
    gen.count_tokens("b")
    assert seen == ["Bearer one", "Bearer two"]


def test_base_url_must_be_http():
    from tenantctl.errors import ConfigError

    with pytest.raises(ConfigError, match="not an http"):
        OpenAICompatGenerator("m", ModelConfig(base_url="127.0.0.1:8000"))


# -- end to end against llama_cpp.server on localhost ---------------------------------------------


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    """`python -m llama_cpp.server` on a free localhost port, serving the packaged GGUF."""
    from tenantctl.models.generation import packaged_gguf

    port = _free_port()
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf()), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def acme_home(tmp_path_factory) -> Path:
    """A home with the acme-hr sample tenant ingested (the real embedding model)."""
    from tenantctl.cli import main

    home = tmp_path_factory.mktemp("remote-home")
    docs = copy_samples(tmp_path_factory.mktemp("remote-docs") / "samples")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TENANTCTL_HOME", str(home))
        mp.setenv("TENANTCTL_NO_PROGRESS", "1")
        for args in (["tenant", "create", "acme-hr"], ["ingest", "acme-hr", str(docs / "acme-hr")]):
            try:
                main(args)
            except SystemExit as exc:
                assert exc.code in (0, None), f"{args} exited {exc.code}"
    return home


def _use_model(acme_home: Path, tmp_path: Path, monkeypatch, models: dict) -> Path:
    """A copy of the acme home whose config.yaml holds `models` and whose acme-hr answers with `remote`."""
    home = tmp_path / "remote-home"
    shutil.copytree(acme_home, home)
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    (home / "config.yaml").write_text(yaml.safe_dump({"models": models}))
    set_tenant_yaml(home, "acme-hr", answer={"model": "remote"})
    return home


def _llama_keys() -> set[tuple]:
    from tenantctl.models import generation

    return {k for k in generation._LOADED if k[0] == "llama"}


@pytest.mark.slow
def test_query_answers_through_the_remote_server(cli, llm_server, acme_home, tmp_path, monkeypatch):
    _use_model(acme_home, tmp_path, monkeypatch, {"default": {}, "remote": {"base_url": llm_server, "n_ctx": 2048}})
    before = _llama_keys()
    result = cli("query", "acme-hr", QUESTION, "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["model"] == "remote" and not data["no_answer"]
    assert any(s["path"].endswith("/employee_handbook.docx") for s in data["sources"]), data
    t = data["timings"]
    assert t["prompt_tokens"] > 50 and t["completion_tokens"] > 0 and t["generation_ms"] > 0
    assert _llama_keys() == before  # nothing was loaded in-process


@pytest.mark.slow
def test_generator_streams_completions_and_chat_from_the_server(llm_server):
    gen = OpenAICompatGenerator("remote", ModelConfig(base_url=llm_server + "/v1", n_ctx=2048))
    try:
        assert gen.count_tokens("Hello world") > 0 and gen._server_tokenizes is True
        pieces: list[str] = []
        prompt = ("Passages:\n[1] Parking permits cost 40 euros a month.\n\nQuestion: What does a permit cost?\n"
                  "Answer: A permit costs")
        result = gen.generate(Request(prompt=prompt, max_tokens=24, stop=["\n"]), pieces.append)
        assert "40" in result.text and result.text == "".join(pieces)
        assert result.completion_tokens == len(pieces) > 0 and result.prompt_tokens == gen.count_tokens(prompt)
        assert result.finish_reason in ("stop", "length") and 0 < result.first_token_ms <= result.generation_ms

        chat = gen.generate(Request(messages=[{"role": "user", "content": "Say hello."}], max_tokens=8))
        assert chat.finish_reason in ("stop", "length") and chat.prompt_tokens > 0
    finally:
        gen.close()


@pytest.mark.slow
def test_unreachable_server_is_a_one_line_error_and_loads_nothing(cli, acme_home, tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    _use_model(acme_home, tmp_path, monkeypatch, {"default": {}, "remote": {"base_url": url}})
    before = _llama_keys()
    started = time.monotonic()
    result = cli("query", "acme-hr", QUESTION, "--json")
    assert result.code == ExitCode.ERROR, result
    assert "Error:" in result.err and url in result.err and "base_url" in result.err
    said = result.json()  # with --json, stdout holds the error as JSON and nothing else
    assert url in said["error"] and "base_url" in said["hint"] and said["exit_code"] == ExitCode.ERROR
    assert _llama_keys() == before
    assert time.monotonic() - started < 30

