"""Ingestion and search end to end, on the real embedding model and the sample tenants' real files."""

import os
import shutil
from pathlib import Path

import pytest

from tenantctl.errors import ExitCode

from .conftest import BAD, SAMPLE_IDS, copy_samples, fast_home

# (tenant, query, file holding the answer, text that only that file holds)
FACTS = [
    ("acme-hr", "How many days of paid annual leave per year?", "employee_handbook.docx",
     "Employees accrue 23 days of paid annual leave per calendar year."),
    ("acme-hr", "hotel limit per night in New York City", "travel_expenses.txt",
     "$260 in New York City"),
    ("acme-hr", "learning budget for courses and conferences", "benefits.html",
     "learning budget of $1,800 per year"),
    ("nordwerk-maint", "What does error code E-417 mean?", "error_codes.json",
     "E-417 means the hydraulic pressure sensor"),
    ("nordwerk-maint", "how often to regrease the crankshaft bearings of the NP-1250", "press_maintenance_manual.pdf",
     "regreased every 160 operating hours"),
    ("nordwerk-maint", "main isolator switch for Press Line 3", "lockout_tagout_procedure.md",
     "The main isolator for Press Line 3 is switch Q0 in cabinet +EC3."),
    ("huaxin-bank", "手机银行单笔转账限额是多少", "transfer_limits.html",
     "单笔手机银行转账限额为 5 万元"),
    ("huaxin-bank", "信用卡预借现金手续费", "card_fees.txt",
     "信用卡预借现金手续费为取现金额的 1%"),
    ("huaxin-bank", "活期存款年利率是多少", "deposits_faq.md",
     "个人活期存款年利率为 0.15%"),
]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.parametrize(("owner", "query", "filename", "fact"), FACTS)
def test_each_fact_is_found_in_its_tenant_and_nowhere_else(cli, samples, owner, query, filename, fact):
    for tenant in SAMPLE_IDS:
        result = cli("search", tenant, query, "-k", "5", "--json")
        assert result.code == 0, result
        hits = result.json()
        assert hits, f"no hits in {tenant}"
        for hit in hits:
            assert f"/samples/{tenant}/" in hit["path"], f"{tenant} returned another tenant's file {hit['path']}"
        texts = [_flat(h["text"]) for h in hits]
        if tenant == owner:
            assert any(h["path"].endswith("/" + filename) for h in hits), (query, [h["path"] for h in hits])
            assert any(_flat(fact) in t for t in texts), (fact, texts)
        else:
            assert not any(_flat(fact) in t for t in texts)


@pytest.mark.slow
def test_search_hit_fields_and_human_output(cli, samples):
    hit = cli("search", "nordwerk-maint", "crankshaft bearings grease interval", "-k", "1", "--json").json()[0]
    assert hit["path"].endswith("press_maintenance_manual.pdf") and hit["page"] == 1
    assert set(hit) >= {"path", "position", "score", "similarity", "text", "heading", "start", "end"}
    human = cli("search", "nordwerk-maint", "crankshaft bearings grease interval", "-k", "1")
    assert human.code == 0 and "press_maintenance_manual.pdf" in human.out and "p. 1" in human.out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_retriever_modes(cli, samples, mode):
    hits = cli("search", "huaxin-bank", "手机银行单笔转账限额", "--mode", mode, "--json").json()
    assert hits and hits[0]["path"].endswith(("transfer_limits.html",))
    key = "keyword_rank" if mode == "bm25" else "dense_rank"
    assert all(h[key] is not None for h in hits)


class CountingEmbedder:
    """Wraps the real embedder and counts what it embeds."""

    def __init__(self, inner):
        self.inner, self.name, self.texts = inner, inner.name, []

    @property
    def dim(self):
        return self.inner.dim

    def encode(self, texts):
        self.texts.extend(texts)
        return self.inner.encode(texts)


@pytest.mark.slow
def test_incremental_ingest_skips_unchanged_reembeds_changed_and_prunes(cli, tmp_path):
    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.storage.tenants import open_tenant

    docs = copy_samples(tmp_path / "samples") / "acme-hr"
    assert cli("tenant", "create", "acme").code == 0
    first = cli("ingest", "acme", docs, "--json")
    assert first.code == 0, first
    summary = first.json()
    assert summary["added"] == 5 and summary["chunks"] > 10 and summary["status"] == "ok"

    cfg = load_config()
    spy = CountingEmbedder(get_embedder(cfg.embedder))
    again = ingest(open_tenant("acme"), [docs], cfg, embedder=spy)
    assert (again.added, again.updated, again.skipped, again.chunks) == (0, 0, 5, 0)
    assert spy.texts == []

    policy = docs / "remote_work_policy.md"
    policy.write_text(policy.read_text() + "\n\n## Coworking\n\nThe coworking stipend is 95 dollars a month.\n")
    edited = ingest(open_tenant("acme"), [docs], cfg, embedder=spy)
    assert (edited.added, edited.updated, edited.skipped) == (0, 1, 4)
    assert spy.texts and all("Remote Work" in t or "oworking" in t or "remote" in t.lower() for t in spy.texts)
    assert len(spy.texts) == edited.chunks
    hits = cli("search", "acme", "coworking stipend per month", "-k", "1", "--json").json()
    assert "95 dollars" in hits[0]["text"]

    (docs / "travel_expenses.txt").unlink()
    before = cli("search", "acme", "nightly hotel limit New York", "-k", "5", "--json").json()
    assert any(h["path"].endswith("travel_expenses.txt") for h in before)
    no_prune = cli("ingest", "acme", docs, "--json").json()
    assert no_prune["removed"] == 0
    pruned = cli("ingest", "acme", docs, "--prune", "--json").json()
    assert pruned["removed"] == 1 and pruned["skipped"] == 4
    after = cli("search", "acme", "nightly hotel limit New York", "-k", "5", "--json").json()
    assert after and not any(h["path"].endswith("travel_expenses.txt") for h in after)
    assert cli("tenant", "show", "acme", "--json").json()["documents"] == 4


def test_a_file_read_by_an_older_reader_of_its_type_is_read_again(cli, home, tmp_path, monkeypatch):
    """HTML tables became records of their column names; an unchanged HTML file ingested before kept its
    "a | b" lines at every ingest, as its hash had not changed. Files of other types are not re-embedded."""
    from tenantctl.config import load_config
    from tenantctl.ingestion import extract
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.models.embedding import get_embedder
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    docs = copy_samples(tmp_path / "samples") / "acme-hr"
    assert cli("tenant", "create", "acme").code == 0
    with monkeypatch.context() as older:  # the tenantctl before the HTML and DOCX readers changed (not .txt's)
        older.setattr(extract, "READER_VERSIONS", {".txt": extract.READER_VERSIONS[".txt"]})
        assert cli("ingest", "acme", docs, "--json").json()["added"] == 5
    cfg = load_config()
    spy = CountingEmbedder(get_embedder(cfg.embedder))
    again = ingest(open_tenant("acme"), [docs], cfg, embedder=spy)
    assert {Path(f.path).name for f in again.files if f.status == "updated"} == \
        {"benefits.html", "employee_handbook.docx", "remote_work_policy.md", "holidays_2025.csv"}
    assert (again.updated, again.skipped) == (4, 1) and len(spy.texts) == again.chunks
    assert ingest(open_tenant("acme"), [docs], cfg, embedder=spy).skipped == 5  # read once, then skipped


@pytest.mark.slow
def test_bad_files_are_named_and_the_previous_index_still_answers(cli, tmp_path):
    docs = copy_samples(tmp_path / "samples") / "nordwerk-maint"
    assert cli("tenant", "create", "plant").code == 0
    assert cli("ingest", "plant", docs).code == 0
    def top3() -> list[tuple[str, int, str]]:  # the chunks found (their scores move as the corpus grows)
        hits = cli("search", "plant", "What does error code E-417 mean?", "-k", "3", "--json").json()
        return [(h["path"], h["ord"], h["text"]) for h in hits]

    baseline = top3()

    batch = tmp_path / "batch"
    shutil.copytree(BAD, batch)
    (batch / "notes.md").write_text("# Night shift\n\nThe night shift foreman is Dagmar Oswald.\n")
    # A previously indexed file turning into junk keeps its old chunks.
    (batch / "error_codes.json").write_bytes(b"\x00\x01 not json")
    result = cli("ingest", "plant", batch, "--json")
    assert result.code == ExitCode.PARTIAL
    summary = result.json()
    assert summary["status"] == "partial" and summary["failed"] == 4 and summary["added"] == 1
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in summary["files"] if f["status"] == "failed"}
    assert set(reasons) == {"corrupt.pdf", "binary.txt", "empty.md", "error_codes.json"}
    for name in ("corrupt.pdf", "binary.txt", "empty.md"):
        assert name in result.err
    assert "PDF" in reasons["corrupt.pdf"] and "binary" in reasons["binary.txt"] and "empty" in reasons["empty.md"]

    assert top3() == baseline
    night = cli("search", "plant", "who is the night shift foreman", "-k", "1", "--json").json()
    assert "Dagmar Oswald" in night[0]["text"]


def test_missing_path_and_unsupported_file_are_reported(cli, tmp_path):
    from tenantctl.config import Config

    cli("init")
    (tmp_path / "home" / "config.yaml").write_text("embedder:\n  name: hashing-64\n")
    assert Config.model_validate({"embedder": {"name": "hashing-64"}})
    cli("tenant", "create", "t")
    (tmp_path / "prog.exe").write_bytes(b"MZ")
    result = cli("ingest", "t", tmp_path / "nope", tmp_path / "prog.exe", "--json")
    assert result.code == ExitCode.PARTIAL
    reasons = sorted(f["reason"] for f in result.json()["files"])
    assert reasons[0] == "no such file or folder" and reasons[1].startswith("unsupported file type .exe")
    os.mkfifo(tmp_path / "pipe.md")  # named, it was "no such file or folder"
    piped = cli("ingest", "t", tmp_path / "pipe.md", "--json")
    assert piped.json()["files"][0]["reason"] == "not a regular file (a pipe, socket or device)", piped


def test_fusion_weights_and_cjk_queries():
    from tenantctl.config import SearchConfig
    from tenantctl.retrieval.search import dense_weight, rrf

    fused = rrf([[1, 2], [2, 3]], 60, [0.25, 1.0])
    assert fused[2] == pytest.approx(0.25 / 62 + 1 / 61) and fused[1] == pytest.approx(0.25 / 61)
    cfg = SearchConfig()
    assert dense_weight("手机银行单笔转账限额是多少？", cfg) == cfg.cjk_dense_weight
    assert dense_weight("What does E-417 mean?", cfg) == 1.0
    assert dense_weight("NP-1250 的润滑周期", cfg) == cfg.cjk_dense_weight


def test_convex_fusion_scales_each_retriever_and_weighs_them():
    from tenantctl.config import SearchConfig
    from tenantctl.retrieval.search import convex, fuse

    dense, keyword = [(1, 0.9), (2, 0.7), (3, 0.5)], [(3, 12.0), (4, 4.0)]
    fused = convex([dense, keyword], [1.0, 1.0])
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0})
    # A CJK query's dense weight (0.25) makes keyword scores count four times as much.
    assert convex([dense, keyword], [0.25, 1.0])[3] == pytest.approx(0.8)
    assert convex([[(7, 3.0), (8, 3.0)], []], [1.0, 1.0]) == {7: 0.5, 8: 0.5}  # equal scores: all best
    # Chunk 2 scores near the best in both retrievers, chunk 1 best in one and worst in the other: the
    # convex combination sees how close the scores are, RRF only their ranks.
    dense, keyword = [(1, 0.80), (2, 0.79), (5, 0.30)], [(6, 20.0), (2, 19.9), (1, 2.0)]
    by = {f: fuse("q", dense, keyword, "hybrid", 2, SearchConfig(fusion=f)).top for f in ("convex", "rrf")}
    assert by["convex"] == [2, 1] and by["rrf"] == [1, 2]


def test_progress_reaches_the_total_when_a_file_cannot_be_read(cli, home, tmp_path, monkeypatch):
    """A file that could not be read was never counted done: the bar stopped short of the total."""
    from pathlib import Path

    from tenantctl.config import load_config
    from tenantctl.ingestion.ingest import ingest
    from tenantctl.storage.tenants import open_tenant

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (docs / name).write_text(f"# {name}\n\nThe gate code of {name} is 4711.\n")
    real_read = Path.read_bytes

    def read_bytes(path):
        if path.name == "b.md":
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    seen: list[tuple[int, int]] = []
    summary = ingest(open_tenant("acme"), [docs], load_config(), progress=lambda *at: seen.append(at))
    assert (summary.added, summary.failed) == (2, 1) and seen[0] == (1, 3) and seen[-1] == (3, 3), seen


def test_a_file_whose_content_is_another_type_than_its_name_names_the_fix(cli, home, tmp_path):
    """A DOCX saved as .pdf failed "unreadable PDF (PdfStreamError: Stream has ended unexpectedly)", a Word 97
    file renamed .docx "unreadable DOCX (File is not a zip file)": nothing said what the file was or what to do."""
    import docx

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    folder = tmp_path / "docs"
    folder.mkdir()
    document = docx.Document()
    document.add_paragraph("Annual leave is 25 days.")
    document.save(folder / "policy.pdf")
    (folder / "scan.docx").write_bytes(b"%PDF-1.4\n1 0 obj garbage\n")
    word97 = "; it is an old binary Office file (.doc, .xls, .ppt): save it as .docx or .pdf"
    (folder / "memo.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    (folder / "notes.docx").write_text("# Notes\n\nThe gate code is 4711.\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage\n")
    result = cli("ingest", "acme", folder, "--json")
    assert result.code == ExitCode.PARTIAL
    reasons = {Path(f["path"]).name: f["reason"] for f in result.json()["files"]}
    assert reasons["policy.pdf"].endswith("; it is a DOCX: rename it to .docx")
    assert reasons["scan.docx"].endswith("; it is a PDF: rename it to .pdf")
    assert reasons["memo.docx"].endswith(word97)
    assert reasons["notes.docx"].endswith("; it is text: rename it to .txt, .md or .html")
    assert "; it is" not in reasons["broken.pdf"]  # a damaged PDF is a PDF, and the fix is another copy of it
    assert reasons["broken.pdf"].endswith("; the file is damaged or cut short: save or download it again")
    assert "damaged" not in reasons["policy.pdf"]
    assert "policy.pdf: unreadable PDF" in result.err and "rename it to .docx" in result.err


def test_a_file_name_that_is_not_utf8_fails_alone(cli, home, tmp_path):
    """A Latin-1 file name ("laté.txt" off an old share) ended the whole ingest in a UnicodeEncodeError
    traceback (the store holds UTF-8 text): no file of the batch was indexed."""
    import os

    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "gate.md").write_text("# Gate\n\nThe gate code is 4711.\n")
    with open(os.path.join(os.fsencode(folder), b"lat\xe9.txt"), "w") as f:
        f.write("The vault code is 9911.\n")
    result = cli("ingest", "acme", folder, "--json")
    assert result.code == ExitCode.PARTIAL, result
    files = {f["path"]: f for f in result.json()["files"]}
    assert files[str(folder / "gate.md")]["status"] == "added"
    failed = files[str(folder) + "/lat\\xe9.txt"]
    assert failed["status"] == "failed" and failed["reason"] == "its name is not UTF-8 text: rename the file"
    assert "lat\\xe9.txt: its name is not UTF-8 text" in result.err and "Traceback" not in result.err


def test_files_of_types_no_reader_takes_are_counted_not_silently_passed_over(cli, home, tmp_path):
    """A folder of .doc files ingested as "0 added, 0 updated, 0 skipped, 0 removed, 0 failed", exit 0:
    nothing said that no file of it was even read."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    folder = tmp_path / "share"
    (folder / "old").mkdir(parents=True)
    (folder / "gate.md").write_text("# Gate\n\nThe gate code is 4711.\n")
    for name in ("old/policy.doc", "old/leave.doc", "rates.xlsx", "README", ".hidden.doc"):
        (folder / name).write_bytes(b"\xd0\xcf\x11\xe0 binary")
    result = cli("ingest", "acme", folder, "--json")
    assert result.code == 0 and result.json()["added"] == 1, result
    assert result.json()["unsupported"] == {".doc": 2, ".xlsx": 1, "no extension": 1}
    assert "not read: 4 files of types tenantctl does not read (.doc ×2, .xlsx, no extension); it reads .csv" \
        in result.err
    assert cli("source", "add", "acme", folder, "--include", "*.md").code == 0
    quiet = cli("reindex", "acme", "--json")  # what the source's globs leave out is not counted
    assert quiet.code == 0 and quiet.json()["tenants"][0]["summary"]["unsupported"] == {}


def test_an_empty_path_is_refused_not_read_as_the_working_directory(cli, home, tmp_path, monkeypatch):
    """`tenantctl ingest acme "$DOCS"` with DOCS unset ingested the working directory whole (an operator's
    notes went into the tenant's index), and `source add acme ""` made it a source."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    here = tmp_path / "operator"
    here.mkdir()
    (here / "notes.txt").write_text("Private notes of the operator.\n")
    monkeypatch.chdir(here)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe gate code is 4711.\n")
    for args in (("ingest", "acme", ""), ("ingest", "acme", docs, " "), ("source", "add", "acme", "")):
        result = cli(*args)
        assert result.code == 2 and "an empty path was given" in result.err, (args, result)
    assert cli("search", "acme", "notes of the operator", "--json").json() == []
    assert cli("source", "list", "acme", "--json").json() == []
    assert cli("ingest", "acme", ".", "--json").json()["added"] == 1  # "." still names it


def test_office_lock_files_beside_open_documents_are_passed_over(cli, home, tmp_path):
    """A share where someone has report.docx open holds Word's 162-byte lock file "~$report.docx": every
    nightly reindex failed it ("unreadable DOCX", exit 4, an alert) until Word was closed."""
    fast_home(cli, home)
    assert cli("tenant", "create", "acme").code == 0
    share = tmp_path / "share"
    (share / "team").mkdir(parents=True)
    (share / "team" / "leave.md").write_text("# Leave\n\nAnnual leave is 25 days.\n")
    (share / "team" / "~$leave_plan.docx").write_bytes(b"\x05alice" + bytes(156))
    result = cli("ingest", "acme", share, "--json")
    assert result.code == 0 and [f["status"] for f in result.json()["files"]] == ["added"], result
