"""The KV state of a prompt's fixed opening (instructions and worked examples) kept on disk, so that a
fresh process reads only the rest of its prompt.

One file per model file, llama.cpp build, CPU, context settings and cached tokens (hashed into its name
and checked again inside it), in the user cache folder (`tenantctl paths`): `<cache>/llm-prefix/<key>.kv`.
The cached tokens are a multiple of ALIGN: llama.cpp's CPU kernels take a batch's rows in groups, and a
prompt read as prefix + rest gives the logits of the prompt read whole, bit for bit, only when the split
falls on a group boundary (bench/README.md). A missing, stale or damaged file is ignored and rewritten;
the cache only ever saves time.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tenantctl import paths

MAGIC = b"tenantctl-kv 1\n"
ALIGN = 32  # tokens; groups of 4 rows sufficed here (a split at 130 of 201 tokens changed the logits)
SEQ = 0  # llama-cpp-python's Llama keeps its one sequence as 0


def aligned(tokens: list[int]) -> list[int]:
    return tokens[: len(tokens) // ALIGN * ALIGN]


def cache_key(llm: Any, tokens: list[int]) -> str:
    """What the cached state depends on: the model file, the llama.cpp build and the CPU features its
    kernels use, the context's settings, and the tokens."""
    import llama_cpp

    model = Path(llm.model_path)
    stat = model.stat()
    params = llm.context_params
    settings = [getattr(params, name, None) for name in (
        "n_ctx", "n_batch", "n_ubatch", "type_k", "type_v", "flash_attn_type", "swa_full", "kv_unified",
        "rope_freq_base", "rope_freq_scale",
    )]
    described = json.dumps([
        str(model.resolve()), stat.st_size, stat.st_mtime_ns, llama_cpp.__version__,
        llama_cpp.llama_print_system_info().decode(errors="replace"), settings, tokens,
    ])
    return hashlib.sha256(described.encode()).hexdigest()


def cache_file(key: str) -> Path:
    return paths.cache_dir() / "llm-prefix" / f"{key[:32]}.kv"


def load(llm: Any, key: str, tokens: list[int]) -> bool:
    """Put the cached state of `tokens` into the model's context; False (and an empty context) when there
    is no usable file."""
    import llama_cpp

    try:
        data = bytearray(cache_file(key).read_bytes())
    except OSError:
        return False
    blob_at = _check(data, key, tokens)
    if blob_at is None:
        return False
    size = len(data) - blob_at
    blob = (ctypes.c_uint8 * size).from_buffer(data, blob_at)
    _clear(llm)
    if llama_cpp.llama_state_seq_set_data(llm.ctx, blob, size, SEQ) != size:
        _clear(llm)
        return False
    llm.input_ids[: len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    return True


def save(llm: Any, key: str, tokens: list[int]) -> None:
    """Write the state of the context, which holds exactly `tokens`; a cache folder that cannot be
    written is no error."""
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm.ctx, SEQ)
    blob = (ctypes.c_uint8 * size)()
    if llama_cpp.llama_state_seq_get_data(llm.ctx, blob, size, SEQ) != size:
        return
    payload = json.dumps({"key": key, "tokens": tokens}).encode() + b"\n" + bytes(blob)
    target = cache_file(key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        paths.private_dir(target.parent)
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)


def _check(data: bytearray, key: str, tokens: list[int]) -> int | None:
    """Where the state begins in a cache file's bytes, or None unless the file is whole (its checksum)
    and is the one for `key` and `tokens`."""
    digest_end = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) <= digest_end:
        return None
    payload = memoryview(data)[digest_end:]
    if hashlib.sha256(payload).hexdigest().encode() != bytes(data[len(MAGIC) : digest_end - 1]):
        return None
    header_end = data.find(b"\n", digest_end)
    if header_end < 0:
        return None
    try:
        header = json.loads(bytes(data[digest_end:header_end]))
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("key") != key or header.get("tokens") != tokens:
        return None
    return header_end + 1


def _clear(llm: Any) -> None:
    import llama_cpp

    llm.reset()
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, 0, -1)
