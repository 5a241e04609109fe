"""The ONNX export of a sentence-transformers model, made once and cached.

A model folder of the form Transformer -> mean Pooling -> Normalize (all-MiniLM-L6-v2 and its kin) is
exported with `torch.onnx.export`, pooling and normalisation included in the graph, so the runtime only
tokenizes and calls ONNX Runtime. The int8 variant is ONNX Runtime's dynamic quantisation of that graph
(per-channel int8 weights of the matrix multiplications; activations quantised per batch at run time).

Layout: `<cache>/onnx/<model>-<key>/` holding `model.onnx`, `model-int8.onnx` and `meta.json` (the
SHA-256 and size of each file, the source folder, the exporter's versions), and for each file loaded so
far a folder `<file>-ort<version>/` with the graph as ONNX Runtime optimised it (fused layer norms,
GELU, matrix products) and its weights in a separate file: a process loads that one without optimising
the graph again and maps the weights instead of parsing them (a fresh `search` starts faster).
`<key>` is derived from the source folder's path and the size and mtime of its files, so an upgraded
model package gets a new export. Files are written under a temporary name and renamed into place under
a file lock: two processes exporting at once wait for each other and never leave a torn file. Exporting
needs torch (a few seconds, once); loading the cached file needs only onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tenantctl.errors import ModelUnavailable
from tenantctl.fileio import sha256_file

EXPORT_VERSION = 1
OPSET = 17
FILES = {"fp32": "model.onnx", "int8": "model-int8.onnx"}
# Inputs in the order the exported graph takes them.
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class ModelSpec:
    """What the ONNX runtime needs to know about a source model folder."""

    folder: Path
    max_seq_length: int
    dim: int


def read_spec(folder: Path) -> ModelSpec:
    """Check that `folder` is a BERT-like Transformer -> mean Pooling -> Normalize model; raise
    ModelUnavailable naming the fix (`embedder.runtime: torch`) otherwise."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(
            f"{folder} is not a sentence-transformers model folder ({exc})",
            "point `embedder.path` at a sentence-transformers folder, or set `embedder.runtime: torch`",
        ) from None
    mean_only = pooling.get("pooling_mode_mean_tokens") is True and not any(
        pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                 "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                 "pooling_mode_lasttoken")
    )
    if kinds != ["Transformer", "Pooling", "Normalize"] or not mean_only or not (folder / "tokenizer.json").exists():
        raise ModelUnavailable(
            f"the ONNX runtime supports Transformer -> mean Pooling -> Normalize models; {folder} has {kinds}",
            "set `embedder.runtime: torch` in config.yaml to run this model with sentence-transformers",
        )
    return ModelSpec(folder, int(sbert.get("max_seq_length") or 256), int(config["hidden_size"]))


def cache_key(folder: Path) -> str:
    """Changes when the model folder is replaced or its files change (size or mtime)."""
    digest = hashlib.sha256(f"v{EXPORT_VERSION}:{folder.resolve()}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def export_dir(cache: Path, folder: Path) -> Path:
    return cache / "onnx" / f"{folder.name if folder.name != 'model' else folder.parent.name}-{cache_key(folder)}"


def read_meta(target: Path) -> dict:
    try:
        return json.loads((target / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def cached_file(target: Path, precision: str) -> Path | None:
    """The cached export when present and of the recorded size (the full SHA-256 is checked by
    `verify_cached` — `tenantctl doctor` — and after every export)."""
    entry = read_meta(target).get("files", {}).get(FILES[precision])
    path = target / FILES[precision]
    try:
        if entry and path.stat().st_size == entry["bytes"]:
            return path
    except (OSError, KeyError, TypeError):
        pass
    return None


def verify_cached(target: Path, precision: str) -> bool:
    path = cached_file(target, precision)
    return path is not None and sha256_file(path) == read_meta(target)["files"][path.name]["sha256"]


def ensure_export(spec: ModelSpec, cache: Path, precision: str) -> Path:
    """The path of the ONNX file for `spec` at `precision` ("fp32" or "int8"), exporting it first
    when the cache lacks it (needs torch)."""
    target = export_dir(cache, spec.folder)
    found = cached_file(target, precision)
    if found:
        return found
    from filelock import FileLock

    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target / ".lock"), timeout=600):
        found = cached_file(target, precision)  # another process may have exported it meanwhile
        if found:
            return found
        started = time.perf_counter()
        fp32 = cached_file(target, "fp32") if precision == "int8" else None
        if fp32 is None or not verify_cached(target, "fp32"):
            fp32 = _write(target, spec, "fp32", lambda tmp: _export_fp32(spec, tmp))
        path = fp32
        if precision == "int8":
            path = _write(target, spec, "int8", lambda tmp: _quantize(fp32, tmp))
        from tenantctl import logs

        logs.event("onnx-export", folder=str(spec.folder), precision=precision,
                   ms=round((time.perf_counter() - started) * 1000))
        return path


def _write(target: Path, spec: ModelSpec, precision: str, make) -> Path:
    """Make one file under a temporary name, record its checksum in meta.json, rename both into place."""
    name = FILES[precision]
    tmp = target / f".{name}.tmp{os.getpid()}"
    meta_tmp = target / f".meta.json.tmp{os.getpid()}"
    try:
        make(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        entry = {"sha256": sha256_file(tmp), "bytes": tmp.stat().st_size}
        meta = read_meta(target) or {"export_version": EXPORT_VERSION, "files": {}}
        meta["files"][name] = entry
        meta["source"] = str(spec.folder)
        meta["versions"] = _versions()
        os.replace(tmp, target / name)
        meta_tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(meta_tmp, target / "meta.json")
    finally:
        tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)
    return target / name


OPTIMIZED_GRAPH, OPTIMIZED_WEIGHTS = "model.onnx", "weights.bin"


def optimized_dir(model_file: Path, runtime_version: str) -> Path:
    """Where ONNX Runtime `runtime_version`'s optimised graph of `model_file` is cached."""
    return model_file.parent / f"{model_file.stem}-ort{runtime_version}"


def save_optimized(model_file: Path, runtime_version: str, make) -> None:
    """`make(graph_path, weights_name)` writes the optimised graph into a private folder, renamed into
    place whole: concurrent processes never see half of one (the first rename wins)."""
    import shutil
    import tempfile

    final = optimized_dir(model_file, runtime_version)
    tmp = model_file.parent / f".{final.name}.tmp{os.getpid()}"
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=model_file.parent))
        make(tmp / OPTIMIZED_GRAPH, OPTIMIZED_WEIGHTS)
        if (tmp / OPTIMIZED_GRAPH).exists() and (tmp / OPTIMIZED_WEIGHTS).exists():
            os.rename(tmp, final)
    except OSError:
        pass  # another process renamed its copy first, or the cache is read-only: only a speed-up lost
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "onnx", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _export_fp32(spec: ModelSpec, dest: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelUnavailable(
            f"exporting the embedding model to ONNX needs torch and transformers ({exc})",
            "pip install torch transformers once (the export is cached), or set `embedder.runtime: torch`",
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(spec.folder), attn_implementation="eager", local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        """The transformer followed by mean pooling over the attention mask and L2 normalisation."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dummy = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(), (dummy, torch.ones_like(dummy), torch.zeros_like(dummy)), str(dest),
            input_names=list(INPUTS), output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )


def _quantize(fp32: Path, dest: Path) -> None:
    """Dynamic int8 quantisation with per-channel weights (per-tensor weights drift too far: cosine to
    fp32 0.94 on SciFact, against 0.995 per channel). Layer norms, softmax and pooling stay fp32."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process the graph goes to the root logger
    try:
        quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=QUANTIZED_OPS)
    finally:
        logging.disable(logging.NOTSET)


QUANTIZED_OPS = None  # ONNX Runtime's default set: MatMul, Gather (the embedding tables), Attention
