"""A numpy forward pass for small BERT sentence-transformers models (all-MiniLM-L6-v2 and its kin),
used to embed queries without importing torch and sentence-transformers.

Importing those takes seconds; a one-off `tenantctl search` spends most of its wall time there. This
module reads the same folder (safetensors weights, tokenizer.json, the pooling config) and computes the
same vectors: mean pooling over the last hidden state, L2-normalised. Only folders whose modules are
exactly Transformer (BERT) -> mean Pooling -> Normalize qualify; anything else uses sentence-transformers.
tests/test_bert_numpy.py checks the vectors against sentence-transformers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def supports(folder: Path) -> bool:
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
        config = json.loads((folder / "config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    return (
        modules == ["Transformer", "Pooling", "Normalize"]
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and pooling.get("pooling_mode_mean_tokens") is True
        and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                              "pooling_mode_mean_sqrt_len_tokens"))
        and (folder / "model.safetensors").exists()
        and (folder / "tokenizer.json").exists()
    )


class NumpyBert:
    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.config = json.loads((folder / "config.json").read_text())
        sbert = json.loads((folder / "sentence_bert_config.json").read_text())
        self.max_len = int(sbert.get("max_seq_length", 256))
        # Dense weights are stored [out, in]; keep them transposed and contiguous for x @ W.
        self.w = {k: np.ascontiguousarray(v.T) if k.endswith("dense.weight") or ".self." in k and
                  k.endswith(".weight") else v for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()
        self.heads = int(self.config["num_attention_heads"])
        self.eps = float(self.config.get("layer_norm_eps", 1e-12))
        self.dim = int(self.config["hidden_size"])

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def embed_one(self, text: str) -> np.ndarray:
        from scipy.special import erf

        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: len(ids)]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        head_dim = self.dim // self.heads
        for i in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{i}"
            q, k, v = (self._dense(x, f"{p}.attention.self.{n}").reshape(len(ids), self.heads, head_dim)
                       .transpose(1, 0, 2) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)  # Python floats keep float32
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(1, 0, 2).reshape(len(ids), self.dim)
            x = self._ln(x + self._dense(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
            hidden = self._dense(x, f"{p}.intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + erf(hidden / math.sqrt(2.0)))
            x = self._ln(x + self._dense(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
