import re

from tenantctl.config import ChunkingConfig
from tenantctl.ingestion.chunking import chunk_text


def test_headings_start_chunks_and_form_a_path():
    text = "# Handbook\n\nIntro paragraph.\n\n## Leave\n\nYou get 23 days.\n\n## Sick leave\n\nTen days."
    chunks = chunk_text(text, ChunkingConfig())
    assert [c.heading for c in chunks] == ["Handbook", "Handbook > Leave", "Handbook > Sick leave"]
    assert [c.text for c in chunks] == ["Intro paragraph.", "You get 23 days.", "Ten days."]
    for c in chunks:
        assert text[c.start : c.end].strip() == c.text


def test_long_text_is_split_with_overlap_and_bounded_size():
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(200)]
    text = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, 200, 5))
    cfg = ChunkingConfig(max_tokens=100, overlap_tokens=20)
    chunks = chunk_text(text, cfg)
    assert len(chunks) > 10
    from tenantctl.textproc import estimate_tokens

    assert all(estimate_tokens(c.text) <= 110 for c in chunks)
    # consecutive chunks share text (the overlap), and together they cover every sentence
    shared = sum(1 for a, b in zip(chunks, chunks[1:], strict=False) if b.start < a.end)
    assert shared >= len(chunks) // 2
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_a_single_huge_paragraph_without_punctuation_is_cut():
    text = "华" * 1000
    chunks = chunk_text(text, ChunkingConfig(max_tokens=100, overlap_tokens=0))
    assert len(chunks) == 10
    assert "".join(c.text for c in chunks) == text


def test_pages_are_tracked_for_paged_text():
    text = "Page one text.\fPage two text.\fPage three text."
    chunks = chunk_text(text, ChunkingConfig(max_tokens=16, overlap_tokens=0), paged=True)
    assert [c.page for c in chunks] == [1, 2, 3]


def test_empty_text_gives_no_chunks():
    assert chunk_text("  \n\n ", ChunkingConfig()) == []


def test_comments_in_fenced_code_are_no_headings():
    code = "```bash\n# fetch it\ncurl -O x.tgz\n\n# unpack it\ntar xzf x.tgz\n```"
    text = f"# Guide\n\n## Install\n\n{code}\n\n## Use\n\nRun it."
    chunks = chunk_text(text, ChunkingConfig())
    assert [c.heading for c in chunks] == ["Guide > Install", "Guide > Use"]
    assert "# unpack it" in chunks[0].text
    in_a_list = "## Install\n\n1. Fetch it:\n\n    ```bash\n# fetch it\n    curl -O x.tgz\n    ```\n\n## Use\n\nRun it."
    assert [c.heading for c in chunk_text(in_a_list, ChunkingConfig())] == ["Install", "Use"]
    drawn = "~~~~~~~~~~~~~~~~\nOPERATING NOTES\n\n# Start-up\n\nPress start.\n\n# Shutdown\n\nPress stop."
    assert [c.heading for c in chunk_text(drawn, ChunkingConfig())] == ["", "Start-up", "Shutdown"]


def test_a_heading_after_a_skipped_level_closes_its_sibling():
    text = "# FAQ\n\n### Reset?\n\nA1.\n\n### Links?\n\nA2.\n\n## Plans\n\nA3.\n\n# Changelog\n\nA4."
    chunks = chunk_text(text, ChunkingConfig())
    assert [c.heading for c in chunks] == ["FAQ > Reset?", "FAQ > Links?", "FAQ > Plans", "Changelog"]


def test_the_overlap_never_carries_the_tail_of_a_record():
    rows = [f"Zone: {n}; Destination: City {n} metro; Service: Standard; Delivery time (business days): {n}-{n + 2}; "
            f"Standard parcel (up to 5 kg): ${n}.95; Heavy parcel (5-30 kg): ${n + 10}.95; Free shipping threshold: $99"
            for n in range(1, 13)]
    chunks = chunk_text("\n\n".join(rows), ChunkingConfig())
    assert len(chunks) > 2
    for c in chunks:  # each paragraph a whole record: "2-4; Standard parcel …" names no zone
        assert all(p.startswith("Zone: ") for p in c.text.split("\n\n")), c.text
    joined = "\n\n".join(c.text for c in chunks)
    assert all(r in joined for r in rows)
    paragraphs = (" ".join(f"Sentence {i}.{j} says something about topic {i}." for j in range(6)) for i in range(9))
    prose = "\n\n".join(paragraphs)
    chunks = chunk_text(prose, ChunkingConfig(max_tokens=100, overlap_tokens=20))
    assert sum(1 for a, b in zip(chunks, chunks[1:], strict=False) if b.start < a.end) >= len(chunks) // 2


def test_a_numbered_item_keeps_its_number():
    step = "安装后面板，连接前后面板的排线，插头要插到底，再用 3 颗 M5 螺丝固定后面板。"
    steps = "\n".join(f"{n}. 第{n}步：{step}" for n in range(1, 8))
    chunks = chunk_text("## 三、安装步骤\n\n" + steps, ChunkingConfig(max_tokens=120, overlap_tokens=30))
    assert len(chunks) > 1
    for c in chunks:  # "6." alone at a chunk's end is no step; its text opens the next chunk without it
        assert re.fullmatch(r"(\d\. 第\d步：[^\n]+\n?)+", c.text), c.text


def test_a_chunk_ends_where_a_sentence_does_not_at_its_colon():
    """A PDF page is one paragraph of lines: its chunks were cut at any ";" or ":", and "fire, storm, flood,
    earthquake and tsunami, theft…" became a chunk of its own, far from "3.1 We cover loss … caused by:"."""
    page = ("3.0 Cover starts on the date shown in your schedule and lasts for twelve months in all.\n"
            "3.1 We cover loss or damage to your home or contents caused by any of the following insured\n"
            "events during the period of insurance: fire, storm, flood, earthquake and\n"
            "tsunami, theft or burglary, malicious damage, impact, escape of liquid, and lightning.\n"
            "3.2 Storm damage within 72 hours of the start is not covered.")
    chunks = chunk_text(page, ChunkingConfig(max_tokens=70, overlap_tokens=0))
    assert [c.text.split()[0] for c in chunks] == ["3.0", "3.1", "3.2"]
    clauses = "\n".join(f"7.{n} loss or damage caused by hazard number {n} of the list;" for n in range(1, 13))
    chunks = chunk_text(clauses, ChunkingConfig(max_tokens=60, overlap_tokens=20))
    assert all(c.text.startswith("7.") for c in chunks) and len(chunks) > 3  # a list's clause opens a chunk
    assert sum(1 for a, b in zip(chunks, chunks[1:], strict=False) if b.start < a.end) >= 2


def test_a_long_run_without_spaces_or_stops_chunks_in_linear_time():
    """Each cut of a run without whitespace or stops (Chinese text without punctuation, a base64 blob) measured
    all the rest of it: 100,000 such characters took 12 to 30 s, a 1 MB one minutes. Cut the same, in ~1 s."""
    import time

    started = time.perf_counter()
    chunks = chunk_text("年假" * 50_000, ChunkingConfig(max_tokens=200, overlap_tokens=30))
    assert time.perf_counter() - started < 6
    assert len(chunks) == 500 and all(len(c.text) <= 200 for c in chunks)
