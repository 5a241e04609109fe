"""The ONNX Runtime embedder: its export cache, its vectors against sentence-transformers', the int8
variant, and fresh processes that never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tenantctl.config import EmbedderConfig
from tenantctl.errors import ConfigError, ExitCode, ModelUnavailable
from tenantctl.models import onnx_export
from tenantctl.models.embedding import _buckets, get_embedder

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "How many days of paid annual leave do employees accrue per year?",
    "Employees accrue 25 days of paid annual leave per calendar year, prorated in the first year.",
    "The hydraulic press must be inspected every 500 operating hours.",
    "Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion tensor"
    " magnetic resonance imaging. " * 8,  # longer than the model's 256 tokens: truncated alike
    "x",
    "客户可以在网上银行办理转账业务。",
]


def _model_folder(tmp_path: Path, pooling: dict | None = None) -> Path:
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    modules = [{"type": f"sentence_transformers.models.{k}"} for k in ("Transformer", "Pooling", "Normalize")]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling or {"pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "tokenizer.json").write_text("{}")
    return folder


def test_read_spec_refuses_models_the_onnx_runtime_does_not_pool_like_sentence_transformers(tmp_path):
    spec = onnx_export.read_spec(_model_folder(tmp_path))
    assert (spec.max_seq_length, spec.dim) == (128, 8)
    cls = _model_folder(tmp_path / "cls", {"pooling_mode_cls_token": True})
    with pytest.raises(ModelUnavailable) as err:
        onnx_export.read_spec(cls)
    assert "embedder.runtime: torch" in err.value.hint
    with pytest.raises(ModelUnavailable):
        onnx_export.read_spec(tmp_path / "missing")


def test_int8_needs_the_onnx_runtime_and_is_recorded_under_its_own_name():
    assert EmbedderConfig().identity == "all-MiniLM-L6-v2"
    assert EmbedderConfig(precision="int8").identity == "all-MiniLM-L6-v2-int8"
    with pytest.raises(ConfigError):
        get_embedder(EmbedderConfig(runtime="torch", precision="int8"))
    assert get_embedder(EmbedderConfig(precision="int8")).name == "all-MiniLM-L6-v2-int8"


def test_buckets_bound_batch_size_and_padded_tokens():
    lengths = [3, 200, 5, 256, 256, 40, 7]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets = list(_buckets(order, lengths, batch_size=3))
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    for bucket in buckets:
        assert len(bucket) <= 3 and len(bucket) * max(lengths[i] for i in bucket) <= 4096


_RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tenantctl.models import onnx_export

    def slow_export(spec, dest):
        with open(sys.argv[3], "a") as log:
            log.write("export\\n")
        with open(dest, "wb") as fh:
            for _ in range(20):
                fh.write(b"o" * 50_000)
                fh.flush()
                time.sleep(0.01)

    onnx_export._export_fp32 = slow_export
    spec = onnx_export.read_spec(Path(sys.argv[1]))
    print(onnx_export.ensure_export(spec, Path(sys.argv[2]), "fp32"))
""")


def test_two_processes_exporting_at_once_export_once_and_never_tear_the_file(tmp_path):
    folder, cache, log = _model_folder(tmp_path), tmp_path / "cache", tmp_path / "exports.log"
    script = tmp_path / "race.py"
    script.write_text(_RACE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), str(folder), str(cache), str(log)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert log.read_text().count("export") == 1
    (path,) = paths
    assert Path(path).read_bytes() == b"o" * 1_000_000
    target = Path(path).parent
    assert onnx_export.verify_cached(target, "fp32")
    assert not [p for p in target.iterdir() if ".tmp" in p.name]


def test_a_damaged_cached_export_is_made_again(tmp_path, monkeypatch):
    folder, cache = _model_folder(tmp_path), tmp_path / "cache"
    made = []

    def fake_export(spec, dest):
        made.append(dest)
        dest.write_bytes(b"graph" * 100)

    monkeypatch.setattr(onnx_export, "_export_fp32", fake_export)
    spec = onnx_export.read_spec(folder)
    path = onnx_export.ensure_export(spec, cache, "fp32")
    assert onnx_export.ensure_export(spec, cache, "fp32") == path and len(made) == 1
    path.write_bytes(b"trunc")  # a torn or damaged file: wrong size
    assert onnx_export.ensure_export(spec, cache, "fp32") == path and len(made) == 2
    assert onnx_export.verify_cached(path.parent, "fp32")
    path.write_bytes(b"graph" * 99 + b"GRAPH")  # same size, other bytes: only the checksum sees it
    assert not onnx_export.verify_cached(path.parent, "fp32")


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers():
    import numpy as np

    from tenantctl.models.embedding import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder("st", None, 16).encode(TEXTS)
    fp32 = get_embedder(EmbedderConfig()).encode(TEXTS)
    int8 = get_embedder(EmbedderConfig(precision="int8")).encode(TEXTS)
    assert fp32.shape == int8.shape == reference.shape == (len(TEXTS), 384) and fp32.dtype == np.float32
    assert np.allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    assert (fp32 * reference).sum(1).min() >= 0.999
    cos8 = (int8 * reference).sum(1)
    assert cos8.min() >= 0.97 and cos8.mean() >= 0.98  # stated tolerance of the int8 variant
    # Order and batching do not change a text's vector.
    single = get_embedder(EmbedderConfig()).encode_query([TEXTS[2]])
    assert float(single[0] @ fp32[2]) >= 0.9999


@pytest.mark.slow
def test_fresh_search_and_query_processes_never_import_torch(samples):
    probe = textwrap.dedent("""
        import sys
        from tenantctl.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
        print("HEAVY", heavy, "onnxruntime" in sys.modules, file=sys.stderr)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["search", "acme-hr", "annual leave", "--json"],
                 ["query", "acme-hr", "How many days of annual leave?", "--json"]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert "HEAVY [] True" in done.stderr, done.stderr[-2000:]
        assert json.loads(done.stdout)


@pytest.mark.slow
def test_an_index_of_one_embedder_is_refused_by_the_other_until_reembedded(cli, home, samples, monkeypatch):
    from tenantctl.storage.tenants import open_tenant

    docs = samples / "acme-hr"
    own = home.parent / "own-home"
    monkeypatch.setenv("TENANTCTL_HOME", str(own))
    assert cli("tenant", "create", "acme").code == 0
    assert cli("ingest", "acme", str(docs)).code == 0
    fp32_hits = cli("search", "acme", "paid annual leave", "--json").json()

    (own / "config.yaml").write_text("embedder:\n  precision: int8\n")
    refused = cli("search", "acme", "paid annual leave")
    assert refused.code == ExitCode.ERROR and "--reembed" in refused.err and "all-MiniLM-L6-v2-int8" in refused.err
    assert cli("ingest", "acme", str(docs), "--prune").code == ExitCode.ERROR
    assert cli("repair", "acme", "--reembed").code == 0
    manifest = json.loads((open_tenant("acme").dir / "manifest.json").read_text())
    assert manifest["embedder"]["name"] == "all-MiniLM-L6-v2-int8"
    int8_hits = cli("search", "acme", "paid annual leave", "--json").json()
    assert int8_hits[0]["path"] == fp32_hits[0]["path"]

    (own / "config.yaml").write_text("embedder:\n  precision: fp32\n")
    assert cli("search", "acme", "paid annual leave").code == ExitCode.ERROR


class _SlowEmbedder:
    """Vector i of a call is [hash of text i]; each call takes 30 ms and is counted."""

    name = "slow"
    dim = 1

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode_query(self, texts):
        import time

        import numpy as np

        self.calls.append(len(texts))
        time.sleep(0.03)
        if "boom" in texts:
            raise RuntimeError("model failed")
        return np.array([[float(sum(map(ord, t)))] for t in texts], dtype=np.float32)


def test_concurrent_queries_are_embedded_together_and_each_caller_gets_its_own_vector():
    """Queries of different tenants share a model call: none may receive another's vector."""
    from concurrent.futures import ThreadPoolExecutor

    from tenantctl.models.embedding import BatchingEmbedder

    inner = _SlowEmbedder()
    batching = BatchingEmbedder(inner, max_texts=64)
    single = batching.encode_query(["alone"])
    assert inner.calls == [1] and single[0, 0] == sum(map(ord, "alone"))

    texts = [f"tenant-{i} secret question {i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: batching.encode_query([t]), texts))
    for text, vector in zip(texts, results, strict=True):
        assert vector.shape == (1, 1) and vector[0, 0] == sum(map(ord, text))
    assert sum(inner.calls) == 25 and len(inner.calls) < 25  # batched
    assert batching.queries == 25 and batching.batches == len(inner.calls)


def test_a_failing_batch_fails_its_callers_and_the_next_batch_works():
    from concurrent.futures import ThreadPoolExecutor

    from tenantctl.models.embedding import BatchingEmbedder

    batching = BatchingEmbedder(_SlowEmbedder())
    with pytest.raises(RuntimeError):
        batching.encode_query(["boom"])
    with ThreadPoolExecutor(4) as pool:
        assert all(v.shape == (1, 1) for v in pool.map(lambda t: batching.encode_query([t]), ["a", "b", "c", "d"]))


def _tiny_onnx(path: Path) -> None:
    """A real ONNX graph (x @ W + x, W of 64 x 64) for ONNX Runtime to optimise and cache."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 4096, "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Add", ["y", "x"], ["out"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 64])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_the_optimised_graph_is_cached_once_and_loaded_as_it_is_afterwards(tmp_path, monkeypatch):
    import numpy as np
    import onnxruntime as ort

    from tenantctl.models import embedding

    model = tmp_path / "model.onnx"
    _tiny_onnx(model)
    opened = []
    real_session = embedding._session
    monkeypatch.setattr(embedding, "_session", lambda *a, **kw: opened.append(Path(a[1])) or real_session(*a, **kw))
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    first, options = embedding._onnx_session(model)
    cached = onnx_export.optimized_dir(model, ort.__version__)
    assert sorted(p.name for p in cached.iterdir()) == ["model.onnx", "weights.bin"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert options.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    second, _ = embedding._onnx_session(model)
    assert opened == [model, cached / "model.onnx"]
    assert np.allclose(first.run(None, {"x": x})[0], second.run(None, {"x": x})[0])
    (cached / "model.onnx").write_bytes(b"torn")  # damaged: dropped and made again from the model file
    third, _ = embedding._onnx_session(model)
    assert opened[2:] == [cached / "model.onnx", model] and (cached / "weights.bin").exists()
    assert (cached / "model.onnx").stat().st_size > 4
    assert np.allclose(third.run(None, {"x": x})[0], x @ (np.arange(4096, dtype=np.float32).reshape(64, 64) / 4096) + x,
                       atol=1e-4)
