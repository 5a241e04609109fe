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
    assert EmbedderConfig(precision="fp32").identity == "all-MiniLM-L6-v2"
    assert EmbedderConfig(precision="int8").identity == "all-MiniLM-L6-v2-int8"
    with pytest.raises(ConfigError):
        get_embedder(EmbedderConfig(runtime="torch", precision="int8"))
    assert get_embedder(EmbedderConfig(precision="int8")).name == "all-MiniLM-L6-v2-int8"


def test_each_index_keeps_its_precision_unless_the_config_sets_one():
    """The one rule (EmbedderConfig.for_index): int8 for a new index, fp32 for an index built with fp32
    (every index from before int8 became the default), and an explicit precision for every index."""
    default = EmbedderConfig()
    assert default.precision is None and default.identity == "all-MiniLM-L6-v2-int8"
    assert default.for_index(None).identity == "all-MiniLM-L6-v2-int8"
    assert default.for_index("all-MiniLM-L6-v2").identity == "all-MiniLM-L6-v2"
    assert default.for_index("all-MiniLM-L6-v2-int8").identity == "all-MiniLM-L6-v2-int8"
    assert default.for_index("some-other-model").identity == "all-MiniLM-L6-v2-int8"  # then refused
    for precision in ("fp32", "int8"):
        explicit = EmbedderConfig(precision=precision)
        assert {explicit.for_index(r).precision for r in (None, "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8")} == {
            precision}
    # No int8 where precision means nothing: the torch runtime, the model-free test embedder.
    assert EmbedderConfig(runtime="torch").for_index(None).precision == "fp32"
    assert EmbedderConfig(name="hashing-64").identity == get_embedder(EmbedderConfig(name="hashing-64")).name


class _FakeStore:
    def __init__(self, recorded: str | None, chunks: int) -> None:
        self.meta = {"embedder": recorded} if recorded else {}
        self.chunks = chunks

    def get_meta(self, key):
        return self.meta.get(key)

    def chunk_count(self):
        return self.chunks


def test_embedder_for_store_follows_what_the_store_records_and_refuses_another_embedder():
    from tenantctl.errors import IndexMismatch
    from tenantctl.models.embedding import embedder_for_store

    default, fp32 = EmbedderConfig(), EmbedderConfig(precision="fp32")
    assert embedder_for_store(default, _FakeStore("all-MiniLM-L6-v2", 5)).name == "all-MiniLM-L6-v2"
    assert embedder_for_store(default, _FakeStore("all-MiniLM-L6-v2-int8", 5)).name == "all-MiniLM-L6-v2-int8"
    assert embedder_for_store(default, _FakeStore(None, 0)).name == "all-MiniLM-L6-v2-int8"
    # An emptied store is a new index: whatever it recorded, it gets a new index's embedder.
    assert embedder_for_store(default, _FakeStore("all-MiniLM-L6-v2", 0)).name == "all-MiniLM-L6-v2-int8"
    assert embedder_for_store(fp32, _FakeStore("all-MiniLM-L6-v2", 5)).name == "all-MiniLM-L6-v2"
    with pytest.raises(IndexMismatch) as err:
        embedder_for_store(fp32, _FakeStore("all-MiniLM-L6-v2-int8", 5))
    assert "all-MiniLM-L6-v2-int8" in err.value.message and "--reembed" in err.value.hint
    with pytest.raises(IndexMismatch):
        embedder_for_store(default, _FakeStore("hashing-256", 5))
    # `make` receives settings of a definite precision (the server's batching embedders are keyed so).
    seen = []
    embedder_for_store(default, _FakeStore("all-MiniLM-L6-v2", 5), lambda c: seen.append(c) or get_embedder(c))
    assert [c.precision for c in seen] == ["fp32"]


def test_the_server_pool_keeps_one_batching_embedder_per_precision():
    from tenantctl.config import Config
    from tenantctl.serving.pool import TenantPool

    cfg = Config()
    pool = TenantPool(cfg, 1 << 20)
    assert pool.embedder.name == "all-MiniLM-L6-v2-int8"  # a new index's, nothing loaded yet
    fp32 = pool.embedder_for(cfg.embedder.for_index("all-MiniLM-L6-v2"))
    assert fp32.name == "all-MiniLM-L6-v2" and fp32 is pool.embedder_for(cfg.embedder.for_index("all-MiniLM-L6-v2"))
    assert pool.embedder_for(cfg.embedder.for_index(None)) is pool.embedder
    assert set(pool.embedders) == {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8"}


def test_precision_null_in_config_yaml_is_the_default(home):
    from tenantctl.config import load_config

    home.mkdir(parents=True)
    (home / "config.yaml").write_text("embedder:\n  precision: null\n")
    assert load_config().embedder.precision is None
    (home / "config.yaml").write_text("embedder:\n  precision: fp32\n")
    assert load_config().embedder.for_index("all-MiniLM-L6-v2-int8").precision == "fp32"


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
    fp32 = get_embedder(EmbedderConfig(precision="fp32")).encode(TEXTS)
    int8 = get_embedder(EmbedderConfig(precision="int8")).encode(TEXTS)
    assert fp32.shape == int8.shape == reference.shape == (len(TEXTS), 384) and fp32.dtype == np.float32
    assert np.allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    assert (fp32 * reference).sum(1).min() >= 0.999
    cos8 = (int8 * reference).sum(1)
    assert cos8.min() >= 0.97 and cos8.mean() >= 0.98  # stated tolerance of the int8 variant
    # Order and batching do not change a text's vector.
    single = get_embedder(EmbedderConfig(precision="fp32")).encode_query([TEXTS[2]])
    assert float(single[0] @ fp32[2]) >= 0.9999


@pytest.mark.slow
def test_fresh_search_and_query_processes_never_import_torch(samples):
    """Nor llama-cpp-python, unless a question passed the relevance gate."""
    probe = textwrap.dedent("""
        import sys
        from tenantctl.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
        print("HEAVY", heavy, "onnxruntime" in sys.modules, "llama_cpp" in sys.modules, file=sys.stderr)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, llm in ((["search", "acme-hr", "annual leave", "--json"], False),
                      (["query", "acme-hr", "How many days of annual leave?", "--json"], True),
                      (["query", "acme-hr", "Which planet has the most moons?", "--json"], False)):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"HEAVY [] True {llm}" in done.stderr, done.stderr[-2000:]
        assert json.loads(done.stdout)


def _manifest_embedder(tenant_id: str) -> str:
    from tenantctl.storage.tenants import open_tenant

    return json.loads((open_tenant(tenant_id).dir / "manifest.json").read_text())["embedder"]["name"]


def _stored_vector(tenant_id: str, name: str):
    """The first chunk of document `name` of the tenant, with its stored vector."""
    from tenantctl.storage.tenants import open_tenant

    with open_tenant(tenant_id).open_store() as store:
        doc = next(d for d in store.documents().values() if d.path.endswith(name))
        return store.document_chunks(doc.id)[0]


def _held(cli, tenant_id: str):
    shown = cli("tenant", "show", tenant_id, "--json").json()
    return shown["documents"], shown["chunks"], shown["index"]


def _one_pool_serves_both(folders: dict[str, Path], before: dict) -> None:
    """The server's pool: an embedder per precision, each tenant's hits from its own documents only, the
    fp32 tenant's top-10 as before."""
    from tenantctl.config import load_config
    from tenantctl.serving.pool import TenantPool

    pool = TenantPool(load_config(), 1 << 30)
    try:
        for tenant_id, folder in folders.items():
            for query in ("paid annual leave", "hydraulic press inspection interval"):
                with pool.use(tenant_id) as session:
                    hits = session.search(query, k=10)
                assert hits and all(h.path.startswith(str(folder.resolve())) for h in hits), tenant_id
        assert set(pool.embedders) == {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8"}
        with pool.use("old") as session:
            for query, top in before.items():
                assert [(h.path, h.ord) for h in session.search(query, k=10)] == top
    finally:
        pool.close()


def _carried_by_export_and_checked_by_doctor(cli, tmp_path: Path, before: dict) -> None:
    """An exported fp32 tenant imported into the home keeps fp32 and its results; doctor verifies the
    exports of both precisions in use."""
    from .conftest import top10

    archive = tmp_path / "old.tar.gz"
    assert cli("tenant", "export", "old", archive).code == 0
    assert cli("tenant", "import", archive, "--as", "old-copy").code == 0
    assert _manifest_embedder("old-copy") == "all-MiniLM-L6-v2" and top10(cli, "old-copy") == before
    assert cli("tenant", "delete", "old-copy", "--yes").code == 0
    export = {c["name"]: c for c in cli("doctor", "--json").json()["checks"]}["onnx export"]
    assert export["status"] == "ok" and "fp32, int8, checksum verified" in export["detail"]


@pytest.mark.slow
def test_an_fp32_tenant_from_before_int8_became_the_default_keeps_working(cli, home, samples, tmp_path, monkeypatch):
    """A home upgraded to the int8 default: its fp32 tenant searches as before and takes new documents
    in fp32, a new tenant gets int8, an explicit precision refuses the other one until `repair
    --reembed` converts it, and the server's pool holds one embedder of each precision."""
    import numpy as np

    from tenantctl.textproc import embed_input

    from .conftest import top10

    own = home.parent / "own-home"
    monkeypatch.setenv("TENANTCTL_HOME", str(own))
    docs = tmp_path / "acme"
    docs.mkdir()
    for f in (samples / "acme-hr").iterdir():
        (docs / f.name).write_bytes(f.read_bytes())
    assert cli("init").code == 0
    config = (own / "config.yaml").read_text()
    assert "\n  precision: null\n" in config
    (own / "config.yaml").write_text(config.replace("precision: null", "precision: fp32"))  # before the switch
    assert cli("tenant", "create", "old").code == 0 and cli("ingest", "old", docs).code == 0
    before = top10(cli, "old")
    assert _manifest_embedder("old") == "all-MiniLM-L6-v2"

    (own / "config.yaml").write_text(config)  # the new default
    assert top10(cli, "old") == before
    assert cli("tenant", "create", "new").code == 0
    assert cli("ingest", "new", samples / "nordwerk-maint").code == 0
    assert _manifest_embedder("new") == "all-MiniLM-L6-v2-int8"
    assert cli("verify", "--all").code == 0

    _one_pool_serves_both({"old": docs, "new": samples / "nordwerk-maint"}, before)
    _carried_by_export_and_checked_by_doctor(cli, tmp_path, before)

    (docs / "sabbatical.md").write_text("# Sabbatical\n\nAfter seven years of service, staff may take a paid "
                                        "sabbatical of three months to study or travel.\n")
    assert cli("ingest", "old", docs).code == 0
    assert _manifest_embedder("old") == "all-MiniLM-L6-v2"
    chunk, blob = _stored_vector("old", "sabbatical.md")
    text = [embed_input(chunk.heading, chunk.text)]
    stored = np.frombuffer(blob, dtype=np.float32)
    fp32 = get_embedder(EmbedderConfig(precision="fp32")).encode(text)[0]
    int8 = get_embedder(EmbedderConfig(precision="int8")).encode(text)[0]
    assert float(stored @ fp32) >= 0.9999 and float(stored @ fp32) > float(stored @ int8)
    assert cli("search", "old", "paid sabbatical after seven years", "--json").json()[0]["path"].endswith(
        "sabbatical.md")

    # An explicit precision applies to every index: the int8 one is refused (nothing lost) until converted.
    (own / "config.yaml").write_text("embedder:\n  precision: fp32\n")
    kept = _held(cli, "new")
    refused = cli("search", "new", "hydraulic press")
    assert refused.code == ExitCode.ERROR and refused.out == ""
    error = refused.err.strip().splitlines()
    assert error[0].startswith("Error: ") and "all-MiniLM-L6-v2-int8" in error[0], error
    assert any("--reembed" in line for line in error[1:]), error
    assert cli("ingest", "new", samples / "nordwerk-maint", "--prune").code == ExitCode.ERROR
    assert _held(cli, "new") == kept and kept[1] > 0
    assert cli("search", "old", "paid annual leave").code == 0
    assert cli("repair", "new", "--reembed").code == 0
    assert _manifest_embedder("new") == "all-MiniLM-L6-v2"
    assert cli("search", "new", "hydraulic press").code == 0

    # Unset again: `repair --reembed` converts the fp32 tenant to the default, int8.
    (own / "config.yaml").write_text(config)
    assert cli("repair", "old", "--reembed").code == 0
    assert _manifest_embedder("old") == "all-MiniLM-L6-v2-int8"
    after = top10(cli, "old")
    assert sum(after[q][0][0] == before[q][0][0] for q in before) >= 4, (before, after)  # the same top file


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


class _BatchDependentEmbedder(_SlowEmbedder):
    """Like int8 ONNX: each text's vector depends on the texts embedded in the same call."""

    batch_dependent = True

    def encode_query(self, texts):
        vectors = super().encode_query(texts)
        return vectors + 1000.0 * len(texts)


def test_a_batch_dependent_embedder_gives_each_caller_the_vector_it_gets_alone():
    """Another tenant's concurrent query must not change this one's vector (int8 scales the whole call)."""
    from concurrent.futures import ThreadPoolExecutor

    from tenantctl.models.embedding import BatchingEmbedder

    inner = _BatchDependentEmbedder()
    batching = BatchingEmbedder(inner, max_texts=64)
    texts = [f"tenant-{i} question {i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: batching.encode_query([t]), texts))
    for text, vector in zip(texts, results, strict=True):
        assert vector[0, 0] == sum(map(ord, text)) + 1000.0, text  # as alone: a call of one text
    assert set(inner.calls) == {1} and batching.batches < 24  # one caller ran several callers' calls
    pair = batching.encode_query(["a", "b"])  # a caller's own texts still go in one call
    assert pair[:, 0].tolist() == [ord("a") + 2000.0, ord("b") + 2000.0]


@pytest.mark.slow
def test_int8_query_vectors_in_a_server_do_not_depend_on_the_queries_beside_them():
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from tenantctl.config import EmbedderConfig
    from tenantctl.models.embedding import BatchingEmbedder, get_embedder

    inner = get_embedder(EmbedderConfig(precision="int8"))
    assert inner.batch_dependent and not get_embedder(EmbedderConfig(precision="fp32")).batch_dependent
    texts = [f"machine model M-{i} weight and speed" for i in range(12)] + [
        "a much longer question about the annual leave policy of the company and its public holidays"] * 4
    alone = [inner.encode_query([t]) for t in texts]
    assert not np.array_equal(inner.encode_query(texts[:2])[0], alone[0][0])  # what int8 batches do
    batching = BatchingEmbedder(inner)
    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(lambda t: batching.encode_query([t]), texts * 3))
    for text, vector in zip(texts * 3, served, strict=True):
        assert np.array_equal(vector, alone[texts.index(text)]), text


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


def test_onnx_cache_is_per_user_not_per_home(cli, home, monkeypatch, tmp_path):
    """A new home reuses the user's export instead of exporting again (about 1 GB of memory with torch)."""
    monkeypatch.delenv("TENANTCTL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = cli("paths", "--json").json()["cache"]
    assert cache == str(tmp_path / "xdg" / "tenantctl") and not cache.startswith(str(home))
    monkeypatch.setenv("TENANTCTL_CACHE", str(tmp_path / "elsewhere"))
    assert cli("paths", "--json").json()["cache"] == str(tmp_path / "elsewhere")


def test_an_export_that_fails_at_its_last_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    spec = onnx_export.ModelSpec(tmp_path / "src", 256, 384)
    target = tmp_path / "export"
    target.mkdir()
    renames = []

    def replace(src, dst):
        renames.append(dst)
        if Path(dst).name == "meta.json":
            raise OSError(28, "No space left on device")
        os.rename(src, dst)

    monkeypatch.setattr(onnx_export.os, "replace", replace)
    with pytest.raises(OSError):
        onnx_export._write(target, spec, "fp32", lambda tmp: tmp.write_bytes(b"graph"))
    assert len(renames) == 2
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx"]  # no .meta.json.tmp<pid> left


def test_threads_that_need_the_embedder_at_once_load_it_once(monkeypatch, tmp_path):
    """A server's first upload and first search each loaded an ONNX session of their own (memory twice)."""
    import threading
    import time

    from tenantctl.models import embedding

    loads = []

    def slow_session(model_file):
        loads.append(model_file)
        time.sleep(0.05)
        return object(), None

    spec = onnx_export.ModelSpec(tmp_path, 256, 384)
    monkeypatch.setattr(onnx_export, "read_spec", lambda folder: spec)
    monkeypatch.setattr(onnx_export, "ensure_export", lambda spec, cache, precision: tmp_path / "model.onnx")
    monkeypatch.setattr(embedding, "_tokenizer", lambda spec: object())
    monkeypatch.setattr(embedding, "_onnx_session", slow_session)
    model = embedding.OnnxEmbedder("m", str(tmp_path), 8)
    dims = []
    threads = [threading.Thread(target=lambda: dims.append(model.dim)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dims == [384] * 4 and len(loads) == 1
