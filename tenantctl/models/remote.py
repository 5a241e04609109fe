"""A generator on an OpenAI-compatible inference server, so many tenantctl nodes can share one LLM.

A model entry with `base_url` (e.g. `http://10.0.0.5:8000`, as served by `python -m llama_cpp.server`)
sends completion prompts to `{base_url}/v1/completions` and chat messages to
`{base_url}/v1/chat/completions`, streamed as server-sent events. Nothing is loaded in-process. An API
key, when the server wants one, comes from the environment variable TENANTCTL_LLM_API_KEY.

A remote server's chat template cannot be inspected, so the entry uses chat messages only when its
`prompt_style` is "chat"; "auto" means a completion-style prompt. Tokens are counted with the server's
`/extras/tokenize` (llama_cpp.server offers it) or, when the server has no such endpoint, estimated.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from tenantctl.config import ModelConfig
from tenantctl.errors import ConfigError, ModelUnavailable
from tenantctl.models.base import Generation, Request, relay
from tenantctl.textproc import estimate_tokens

API_KEY_ENV = "TENANTCTL_LLM_API_KEY"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0
# Statuses that mean "this server has no /extras/tokenize (in this form)": fall back to an estimate.
_NO_TOKENIZER = frozenset({400, 404, 405, 422, 501})
_COUNT_CACHE = 64  # prompts are counted several times while passages are fitted to the context


def normalize_base_url(url: str) -> str:
    """`http://host:8000`, `http://host:8000/` and `http://host:8000/v1` all name the same server."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


class OpenAICompatGenerator:
    """An LLM behind an OpenAI-compatible HTTP API (completions and chat completions, streamed)."""

    def __init__(self, name: str, cfg: ModelConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        if not cfg.base_url:
            raise ConfigError(f"model {name!r} has no `base_url`", f"set `models.{name}.base_url` in config.yaml")
        self.base_url = normalize_base_url(cfg.base_url)
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"model {name!r}: base_url {cfg.base_url!r} is not an http:// or https:// URL",
                f"fix `models.{name}.base_url` in config.yaml, e.g. http://127.0.0.1:8000",
            )
        self.entry = name
        self.name = cfg.api_model or name  # the model name sent to the server
        self.n_ctx = cfg.n_ctx
        self.has_chat_template = cfg.prompt_style == "chat"
        self.load_ms = 0.0  # nothing loads here; the server holds the model
        self._client = httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S), transport=transport
        )
        self._server_tokenizes: bool | None = None  # None until /extras/tokenize was tried
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._counts_lock = threading.Lock()

    # -- token counting ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        with self._counts_lock:
            if text in self._counts:
                self._counts.move_to_end(text)
                return self._counts[text]
        count = self._server_count(text) if self._server_tokenizes is not False else None
        if count is None:
            count = math.ceil(estimate_tokens(text) * 1.3)
        with self._counts_lock:
            self._counts[text] = count
            while len(self._counts) > _COUNT_CACHE:
                self._counts.popitem(last=False)
        return count

    def _server_count(self, text: str) -> int | None:
        url = f"{self.base_url}/extras/tokenize"
        try:
            response = self._client.post(url, json={"input": text, "model": self.name}, headers=self._headers())
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code in _NO_TOKENIZER:
            self._server_tokenizes = False
            return None
        if response.status_code >= 400:
            raise self._http_error(url, response)
        try:
            tokens = response.json()["tokens"]
            count = len(tokens)
        except (ValueError, KeyError, TypeError):
            self._server_tokenizes = False  # something else answers there: estimate instead
            return None
        self._server_tokenizes = True
        return count

    # -- generation -------------------------------------------------------------------------------

    def generate(self, request: Request, on_token: Callable[[str], None] | None = None) -> Generation:
        chat = request.messages is not None
        url = f"{self.base_url}/v1/chat/completions" if chat else f"{self.base_url}/v1/completions"
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "repeat_penalty": request.repeat_penalty,  # llama.cpp servers honour it; others ignore it
            "seed": request.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if chat:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt or ""
        if request.stop:
            body["stop"] = request.stop

        result = Generation()
        usage: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            with self._client.stream("POST", url, json=body, headers=self._headers()) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._http_error(url, response)
                if "text/event-stream" in response.headers.get("content-type", ""):
                    chunks = iter_sse(response.iter_lines())
                else:  # a server that ignored stream=True sends one JSON answer
                    chunks = iter([_json(response.read().decode("utf-8", "replace"))])
                parts = relay(stream_pieces(chunks, chat, result, usage), result, started, on_token)
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from exc
        except _BadStream as exc:
            raise ModelUnavailable(
                f"model server at {self.base_url} sent an unreadable answer ({exc})",
                f"check that `models.{self.entry}.base_url` points at an OpenAI-compatible server",
            ) from exc
        result.generation_ms = (time.perf_counter() - started) * 1000
        result.text = "".join(parts)
        result.completion_tokens = int(usage.get("completion_tokens") or len(parts))
        result.prompt_tokens = int(usage.get("prompt_tokens") or self._prompt_tokens(request))
        return result

    def _prompt_tokens(self, request: Request) -> int:
        if request.messages is not None:
            # The same text answer.py counts while fitting passages, so this is usually cached.
            return self.count_tokens("\n".join(m["content"] for m in request.messages)) + 4 * len(request.messages)
        return self.count_tokens(request.prompt or "")

    # -- plumbing ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(API_KEY_ENV)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _hint(self) -> str:
        return f"start the server or fix `models.{self.entry}.base_url` in config.yaml"

    def _unavailable(self, exc: httpx.HTTPError) -> ModelUnavailable:
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"did not accept a connection within {CONNECT_TIMEOUT_S:g} s"
        elif isinstance(exc, httpx.TimeoutException):
            what = f"did not answer within {READ_TIMEOUT_S:g} s"
        elif isinstance(exc, httpx.ConnectError):
            what = f"cannot be reached ({_one_line(exc) or 'connection refused'})"
        else:
            what = f"failed ({type(exc).__name__}: {_one_line(exc)})"
        return ModelUnavailable(f"model {self.entry!r}: the model server at {self.base_url} {what}", self._hint())

    def _http_error(self, url: str, response: httpx.Response) -> ModelUnavailable:
        detail = _error_detail(response)
        message = f"model {self.entry!r}: the model server at {self.base_url} answered HTTP {response.status_code}"
        message += f" for {url.removeprefix(self.base_url)}" + (f": {detail}" if detail else "")
        if response.status_code in (401, 403):
            hint = f"set {API_KEY_ENV} to the server's API key"
        elif response.status_code == 404:
            hint = f"check `models.{self.entry}.base_url` and `api_model` in config.yaml"
        else:
            hint = self._hint()
        return ModelUnavailable(message, hint)

    def close(self) -> None:
        self._client.close()


class _BadStream(ValueError):
    pass


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _BadStream(f"not JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict):
        raise _BadStream(f"not a JSON object: {text[:80]!r}")
    return data


def iter_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of an OpenAI-style event stream's `data:` lines, up to `data: [DONE]`.

    Comments (`: ping`), `event:`/`id:` lines and blank separators are skipped. An `error` object
    sent in the stream is raised.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:"):].strip()
        if not data:
            continue
        if data == "[DONE]":
            return
        chunk = _json(data)
        if chunk.get("error"):
            error = chunk["error"]
            raise _BadStream(error.get("message", str(error)) if isinstance(error, dict) else str(error))
        yield chunk


def stream_pieces(
    chunks: Iterable[dict[str, Any]], chat: bool, result: Generation, usage: dict[str, Any]
) -> Iterator[str]:
    """The text pieces of streamed (or whole) completion or chat chunks; records the finish reason in
    `result` and a final `usage` object, when the server sends one, in `usage`."""
    for chunk in chunks:
        if chunk.get("usage"):
            usage.update(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if chat:
                text = (choice.get("delta") or choice.get("message") or {}).get("content")
            else:
                text = choice.get("text")
            if text:
                yield text
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text)[:200]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return _one_line(str(error.get("message", "")))[:200]
    if isinstance(data, dict) and "detail" in data:
        return _one_line(str(data["detail"]))[:200]
    return _one_line(str(error or data))[:200]


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
