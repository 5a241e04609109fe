"""Pseudo-relevance feedback in hybrid search (`search.feedback`): the query vector moved towards the best
chunks of a first fusion finds a chunk that shares their words but none of the query's."""

from __future__ import annotations

import numpy as np
import pytest

# Each file one chunk. "beam" holds every query word; "pier" none of them, but its other words are the
# beam's; "noise" shares nothing with either.
DOCS = {
    "beam.md": "Corrosion of the steel girder was checked. Rivets, welds and bolts of the bridge deck hold.",
    "pier.md": "Rivets, welds and bolts of the bridge deck hold the concrete pier in place after repairs.",
    "noise.md": "The cafeteria serves lunch from noon; vegetarian dishes are marked in green on the menu.",
}
QUERY = "corrosion steel girder"


def _ingested(tmp_path, home, tenant: str, docs: dict[str, str]):
    """A home with the hashing embedder and `tenant` holding `docs`, each file one chunk; its folder."""
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.storage.tenants import create_tenant

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("embedder:\n  name: hashing-256\n")
    folder = tmp_path / tenant
    folder.mkdir()
    for name, text in docs.items():
        (folder / name).write_text(text)
    ingest(create_tenant(tenant), [folder], load_config())
    return folder


@pytest.fixture
def bridge(tmp_path, home):
    return _ingested(tmp_path, home, "bridge", DOCS)


def _search(feedback: int, mode: str = "hybrid"):
    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    cfg = load_config()
    cfg.search.feedback = feedback
    cfg.search.feedback_weight = 1.0
    opened = TenantSession(open_tenant("bridge"), cfg)
    try:
        return opened.search(QUERY, k=3, mode=mode)
    finally:
        opened.close()


def test_feedback_vector_moves_the_query_towards_the_best_chunks_and_stays_unit_length():
    from tenantctl.retrieval.search import feedback_vector

    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    best = [np.array(v, dtype=np.float32).tobytes() for v in ([0.0, 1.0, 0.0], [0.0, 0.6, 0.8])]
    moved = feedback_vector(query, best, 0.5)
    assert moved == pytest.approx(np.array([1.0, 0.4, 0.2]) / np.linalg.norm([1.0, 0.4, 0.2]))
    assert moved.dtype == np.float32
    assert feedback_vector(query, best, 0.0) is query and feedback_vector(query, [], 0.5) is query


def test_feedback_ranks_the_chunk_that_shares_the_best_chunks_words(bridge):
    plain = {h.path.rsplit("/", 1)[-1]: h for h in _search(0)}
    assert plain["beam.md"].rank == 1 and plain["pier.md"].score == plain["noise.md"].score == 0.0
    hits = _search(1)
    assert [h.path.rsplit("/", 1)[-1] for h in hits] == ["beam.md", "pier.md", "noise.md"]
    pier = hits[1]
    assert pier.score > 0.1 and hits[2].score == 0.0
    # Its dense rank comes from the moved query, but `similarity` (the answer gate's signal) stays the
    # cosine with the question itself, as without feedback.
    assert pier.dense_rank == 2 and pier.keyword_rank is None
    assert pier.similarity == plain["pier.md"].similarity


def test_feedback_applies_to_hybrid_search_only(bridge):
    for mode in ("dense", "bm25"):
        assert [(h.chunk_id, h.score) for h in _search(1, mode)] == [(h.chunk_id, h.score) for h in _search(0, mode)]



def test_feedback_never_reaches_another_tenants_chunks(bridge, tmp_path):
    """Cross-tenant probe: the chunk that feedback would find lives only in another tenant, whose
    chunk ids overlap this one's; the moved query still searches this tenant's own chunks alone."""
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.storage.tenants import create_tenant

    other = tmp_path / "yard"
    other.mkdir()
    (other / "yard-pier.md").write_text(DOCS["pier.md"])
    (other / "yard-beam.md").write_text(DOCS["beam.md"])
    (bridge / "pier.md").unlink()
    ingest(create_tenant("yard"), [other], load_config())
    ingest(create_tenant("bridge2"), [bridge], load_config())
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    cfg = load_config()
    cfg.search.feedback, cfg.search.feedback_weight = 1, 1.0
    opened = TenantSession(open_tenant("bridge2"), cfg)
    try:
        hits = opened.search(QUERY, k=10)
    finally:
        opened.close()
    assert sorted(h.path.rsplit("/", 1)[-1] for h in hits) == ["beam.md", "noise.md"]


ZH_DOCS = {
    "beam.md": "钢梁腐蚀已经检查。桥面的铆钉焊缝和螺栓都很牢固。",
    "pier.md": "桥面的铆钉焊缝和螺栓都很牢固，混凝土桥墩修复后稳定。",
    "noise.md": "食堂中午供应午餐，素食菜品在菜单上用绿色标注。",
}


@pytest.mark.parametrize("cjk_dense_weight, moved", [(0.25, False), (1.0, True)])
def test_a_cjk_query_gets_feedback_only_when_its_dense_hits_weigh_fully(tmp_path, home, cjk_dense_weight, moved):
    """With the English embedder a CJK query's dense hits weigh 0.25 (`search.cjk_dense_weight`) and its
    vector is not moved; with a multilingual one (weight 1.0) it is, as an English query's."""
    from tenantctl.config import load_config
    from tenantctl.retrieval.session import TenantSession
    from tenantctl.storage.tenants import open_tenant

    _ingested(tmp_path, home, "qiao", ZH_DOCS)
    found = {}
    for feedback in (0, 3):
        cfg = load_config()
        cfg.search.feedback, cfg.search.feedback_weight, cfg.search.cjk_dense_weight = feedback, 1.0, cjk_dense_weight
        opened = TenantSession(open_tenant("qiao"), cfg)
        try:
            found[feedback] = [(h.chunk_id, h.score) for h in opened.search("钢梁腐蚀", k=3)]
        finally:
            opened.close()
    assert (found[3] != found[0]) is moved


def test_a_hybrid_search_reads_each_chunk_vector_once_with_the_same_results(bridge, monkeypatch):
    """Feedback read the best chunks' vectors, then the hits' similarities read most of them again."""
    from tenantctl.storage.store import Store

    expected = _search(feedback=2)
    read: list[int] = []
    chunk_vectors = Store.chunk_vectors

    def counted(self, ids):
        read.extend(ids)
        return chunk_vectors(self, ids)

    monkeypatch.setattr(Store, "chunk_vectors", counted)
    hits = _search(feedback=2)
    assert sorted(read) == sorted(set(read)) and len(set(read)) == 3, read  # 2 best + the third hit
    assert [h.to_dict() for h in hits] == [h.to_dict() for h in expected]
    assert _search(feedback=0) and len(read) == 3 + 3  # without feedback: the hits' vectors alone
