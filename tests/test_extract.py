import io
from pathlib import Path

import pytest

from tenantctl.config import ChunkingConfig
from tenantctl.ingestion.chunking import chunk_text
from tenantctl.ingestion.extract import ExtractError, decode, extract

from .conftest import BAD, SAMPLES


def test_gb18030_text_is_detected_and_decoded():
    path = SAMPLES / "huaxin-bank" / "card_fees.txt"
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = extract(path, data).text
    assert "信用卡预借现金手续费为取现金额的 1%，每笔最低 10 元。" in text


def test_utf16_with_bom_and_utf8_bom():
    assert decode("héllo wörld".encode("utf-16")) == "héllo wörld"
    assert decode(b"\xef\xbb\xbfhello") == "hello"


def test_utf16_without_a_mark_and_utf32():
    """UTF-16 without a byte-order mark (a Windows export) failed as "binary data, not text", and UTF-32 (whose
    mark starts as UTF-16's does) as "binary data ... starts with a UTF-16 mark but is no UTF-16 text"."""
    text = "Die Kantine öffnet um 11:30 Uhr. Das Menü kostet 4,50 Euro.\n"
    for codec in ("utf-16-le", "utf-16-be", "utf-32", "utf-32-be"):
        data = text.encode(codec) if codec != "utf-32-be" else b"\x00\x00\xfe\xff" + text.encode(codec)
        assert extract(Path("kantine.txt"), data).text.strip() == text.strip(), codec
    with pytest.raises(ExtractError, match="binary"):  # zero bytes in no such pattern stay binary
        decode(bytes(range(256)) * 8)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("corrupt.pdf", "unreadable PDF"), ("binary.txt", "binary"), ("empty.md", "empty file")],
)
def test_bad_files_raise_a_reason(name, reason):
    path = BAD / name
    with pytest.raises(ExtractError, match=reason):
        extract(path, path.read_bytes())


def test_junk_starting_with_a_utf16_mark_is_named_binary(tmp_path):
    """It failed as "unreadable (UnicodeDecodeError: 'utf-16-le' codec can't decode byte 0x01 in position
    12: truncated data)"."""
    path = tmp_path / "junk.txt"
    path.write_bytes(b"\xff\xfe\x00garbage\x00\x00\x01")
    with pytest.raises(ExtractError, match=r"^binary data, not text \(it starts with a UTF-16 mark"):
        extract(path, path.read_bytes())
    path.write_bytes(b"\xff\xfe\x00\x00garbage\x00\x01\x02")  # an even length decodes: '\x00慧扲条eȁ' was indexed
    with pytest.raises(ExtractError, match=r"^binary data, not text \(it starts with a UTF-16 mark"):
        extract(path, path.read_bytes())


def test_unsupported_type_names_the_supported_ones(tmp_path):
    path = tmp_path / "x.exe"
    path.write_bytes(b"MZ")
    with pytest.raises(ExtractError, match=r"unsupported file type \.exe; supported: .*\.pdf"):
        extract(path, b"MZ")


def test_html_drops_scripts_and_keeps_headings():
    path = SAMPLES / "acme-hr" / "benefits.html"
    text = extract(path, path.read_bytes()).text
    assert "<script" not in text and "function" not in text
    assert "# Employee Benefits Overview 2025" in text
    assert "learning budget of $1,800 per year" in " ".join(text.split())


def test_html_faq_accordions_keep_question_and_answer_apart(tmp_path):
    """A help centre's `<details><summary>` question ran on into its answer ("Can I cancel my order?Yes, within
    1 hour"), one sentence; so did an accordion's `<button>`. A summary is now a heading below the one before."""
    page = (b"<h1>Help</h1><h2>Orders</h2><details><summary>Can I cancel my order?</summary><p>Yes, within 1 hour."
            b"</p></details><details><summary>Do you ship abroad?</summary>Only to New Zealand.</details>"
            b"<div><button>Is there a warranty?</button><div>Two years.</div></div>")
    text = extract(tmp_path / "faq.html", page).text
    assert text.split("\n\n") == ["# Help", "## Orders", "### Can I cancel my order?", "Yes, within 1 hour.",
                                    "### Do you ship abroad?", "Only to New Zealand.", "Is there a warranty?",
                                    "Two years."]
    chunks = chunk_text(text, ChunkingConfig())
    assert chunks[0].heading == "Help > Orders > Can I cancel my order?" and chunks[0].text == "Yes, within 1 hour."


def test_docx_headings_become_markdown():
    path = SAMPLES / "acme-hr" / "employee_handbook.docx"
    text = extract(path, path.read_bytes()).text
    assert "## Paid annual leave" in text or "# Paid annual leave" in text
    assert "Employees accrue 23 days of paid annual leave per calendar year." in text


def test_pdf_pages_are_separated():
    path = SAMPLES / "nordwerk-maint" / "press_maintenance_manual.pdf"
    extracted = extract(path, path.read_bytes())
    assert extracted.paged and extracted.text.count("\f") == 1
    assert "every 160 operating hours" in " ".join(extracted.text.split())


def _pdf(pages: list[list[str | tuple[str, ...]]]) -> bytes:
    """A PDF of text lines, one Helvetica line every 14 points from the top of each page; a tuple's
    texts are a table row's cells, 150 points apart."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        stream = DecodedStreamObject()
        ops = [f"BT /F1 10 Tf {50 + 150 * k} {800 - 14 * n} Td ({cell}) Tj ET"
               for n, line in enumerate(lines) for k, cell in enumerate((line,) if isinstance(line, str) else line)]
        stream.set_data("\n".join(ops).encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
        fonts = DictionaryObject({NameObject("/F1"): font})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_running_headers_and_footers_are_kept_once(tmp_path):
    header = "Lindqvist Clinic - Staff Handbook"
    body = ["Staff get 27 days of leave.", "Sick notes after 7 days.", "Meals: 35 GBP."]
    pages = [[header, f"Page {n} of 3", text, "Internal use only"] for n, text in enumerate(body, 1)]
    pages[1].insert(2, "A second line of text.")  # the pages need not be alike
    text = extract(tmp_path / "h.pdf", _pdf(pages)).text
    assert text.split("\f") == [
        f"{header}\nPage 1 of 3\nStaff get 27 days of leave.\nInternal use only",
        "A second line of text.\nSick notes after 7 days.",
        "Meals: 35 GBP.",
    ]


def test_pdf_figures_at_the_foot_of_every_page_are_no_running_footer(tmp_path):
    """A line differing only in its numbers was a running line ("Page 2 of 9"): a statement's "Total:
    75 EUR" at the foot of every page was kept on the first page alone. Now its numbers must be the
    same on every page or go up with the pages."""
    pages = [["Statement", f"{item} fee paid.", f"Page {n} of 3", f"Total: {total} EUR"]
             for n, (item, total) in enumerate([("Hotel", 120), ("Train", 75), ("Meals", 310)], 1)]
    assert extract(tmp_path / "s.pdf", _pdf(pages)).text.split("\f") == [
        "Statement\nHotel fee paid.\nPage 1 of 3\nTotal: 120 EUR", "Train fee paid.\nTotal: 75 EUR",
        "Meals fee paid.\nTotal: 310 EUR"]


def test_pdf_lines_repeated_on_two_pages_are_no_running_header(tmp_path):
    """On two pages a repeated line may be a heading or a table's last cell, not a running line."""
    pages = [["Part 1", "Leave is 27 days."], ["Part 2", "Sick notes after 7 days."]]
    text = extract(tmp_path / "h.pdf", _pdf(pages)).text
    assert text.split("\f") == ["Part 1\nLeave is 27 days.", "Part 2\nSick notes after 7 days."]
    pages = [["Benefits", "Pension 5%."], ["Eligibility", "All staff."], ["Benefits", "Dental too."],
             ["Eligibility", "After 3 months."]]
    assert extract(tmp_path / "h.pdf", _pdf(pages)).text.split("\f") == ["\n".join(page) for page in pages]


def test_pdf_words_hyphenated_at_a_line_end_are_whole(tmp_path):
    data = _pdf([["Up to 5 days may be car-", "ried over. A fit note is re-", "quired. Use the Wi-", "Fi network."]])
    text = " ".join(extract(tmp_path / "h.pdf", data).text.split())
    assert text == "Up to 5 days may be carried over. A fit note is required. Use the Wi-Fi network."


def test_pdf_a_compound_written_with_its_hyphen_elsewhere_keeps_it_at_a_line_end(tmp_path):
    """A hyphen at a line's end was always dropped: "well-\nknown" read "wellknown", which neither search
    nor an answer finds. A compound the document writes whole elsewhere keeps its hyphen."""
    data = _pdf([["The rule is well-known to staff: up to 5 days may be car-", "ried over.",
                  "This well-", "known rule has a form."]])
    text = " ".join(extract(tmp_path / "h.pdf", data).text.split())
    assert text == "The rule is well-known to staff: up to 5 days may be carried over. This well-known rule has a form."


def test_pdf_table_rows_keep_column_names(tmp_path):
    """pypdf read a table's row as one line of words ("Hotel 140 GBP Line manager"): which cell was
    which was lost. Two columns of prose, written side by side, stay lines."""
    table = [("Category", "Daily limit", "Approval"), ("Hotel", "140 GBP", "Line manager"), ("Meals", "35 GBP", "")]
    prose = [("Full-time staff receive 27 days of paid", "Clinical staff are issued three sets of"),
             ("leave a year, plus the public holidays.", "scrubs a year, and wear no jewellery."),
             ("Unused days may be carried over.", "Badges are worn at all times.")]
    text = extract(tmp_path / "h.pdf", _pdf([["Expenses are paid up to:", *table, "Claims within 60 days."],
                                              prose])).text
    page, second = text.split("\f")
    assert page.split("\n\n") == [
        "Expenses are paid up to:", "Category: Hotel; Daily limit: 140 GBP; Approval: Line manager",
        "Category: Meals; Daily limit: 35 GBP", "Claims within 60 days."]
    assert second.startswith("Full-time staff receive 27 days of paid") and ";" not in second


def test_pdf_clauses_numbered_in_a_margin_are_no_table(tmp_path):
    """A policy's clauses, their numbers hanging in the margin ("7.2   vermin, insects or termites;"), were
    read as a table whose names were the first short clause: "7.2: 7.3; vermin, insects or termites;: a
    deliberate act by you…". A table's rows numbered down its first column under names stay records."""
    clauses = [("7.1", "wear and tear, rust, corrosion, mould, rot or gradual deterioration;"),
               ("7.2", "vermin, insects or termites;"), ("7.3", "a deliberate act by you or someone living with you;"),
               ("7.4", "the action of the sea, high tide or coastal erosion;"), ("(a)", "war or terrorism;"),
               ("(b)", "cyber events.")]
    text = extract(tmp_path / "p.pdf", _pdf([["We will not pay for loss caused by:", *clauses]])).text
    assert "7.2 vermin, insects or termites;\n7.3 a deliberate act" in text and ": 7.3" not in text
    steps = [("No.", "Step"), ("1.", "Unplug the press"), ("2.", "Lock the guard")]
    text = extract(tmp_path / "s.pdf", _pdf([["Before cleaning:", *steps]])).text
    assert "No.: 1.; Step: Unplug the press" in text


def _styled_pdf(lines: list[tuple[str, str, int]], gaps: list[int] | None = None) -> bytes:
    """A one-page PDF of (text, font, size) lines, 18 points apart (or `gaps` apart), "a | b" a table's
    cells 150 points apart: font "R" is Helvetica, "B" Helvetica-Bold."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    fonts = DictionaryObject({NameObject(f"/{key}"): DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject(name)}) for key, name in [("R", "/Helvetica"), ("B", "/Helvetica-Bold")]})
    stream = DecodedStreamObject()
    tops = [800 - sum((gaps or [18] * len(lines))[:n]) for n in range(len(lines))]
    stream.set_data("\n".join(f"BT /{font} {size} Tf {50 + 150 * k} {top} Td ({cell}) Tj ET"
                              for top, (text, font, size) in zip(tops, lines, strict=True)
                              for k, cell in enumerate(text.split(" | "))).encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_headings_set_larger_or_in_bold_are_headings(tmp_path):
    """A PDF's text had no headings: its chunks named no section ("4.3 How we settle a claim"), so a question
    about the section found its lines by their own words alone. A heading wrapped over two lines is one."""
    lines = [("Harbourline Home Insurance", "B", 18), ("Policy wording, effective 1 March 2025.", "R", 10),
             ("4. Property cover", "B", 12), ("4.3 How we settle a", "B", 10), ("claim", "B", 10),
             ("We may repair or replace the damaged item.", "R", 10), ("Read this before you claim.", "B", 10),
             ("For carpets we pay only for the room where the damage happened.", "R", 10),
             ("Cover | Limit", "B", 10), ("Cash | 500 AUD", "R", 10), ("Locks | 1,500 AUD", "R", 10)]
    text = extract(tmp_path / "p.pdf", _styled_pdf(lines)).text
    assert [line for line in text.split("\n") if line] == [
        "# Harbourline Home Insurance", "Policy wording, effective 1 March 2025.", "## 4. Property cover",
        "### 4.3 How we settle a claim", "We may repair or replace the damaged item.", "Read this before you claim.",
        "For carpets we pay only for the room where the damage happened.", "Cover: Cash; Limit: 500 AUD",
        "Cover: Locks; Limit: 1,500 AUD"]
    chunks = chunk_text(text, ChunkingConfig(), paged=True)
    assert chunks[-1].heading == "Harbourline Home Insurance > 4. Property cover > 4.3 How we settle a claim"


def test_pdf_paragraphs_are_told_apart_by_the_gaps_between_lines(tmp_path):
    """A PDF page was one paragraph of lines: "…persistent rain by itself." ran on into the next definition
    ("Home means …") in an answer's window. A gap a fifth wider than the lines' is a paragraph break."""
    lines = [("Storm means a violent wind, which may bring hail.", "R", 10),
             ("A storm does not include persistent rain by itself.", "R", 10),
             ("Home means the residential building at the situation shown,", "R", 10),
             ("including garages and fences.", "R", 10), ("Unoccupied means not lived in for 60 days.", "R", 10)]
    text = extract(tmp_path / "p.pdf", _styled_pdf(lines, gaps=[13, 18, 13, 18])).text
    assert text.split("\n\n") == [
        "Storm means a violent wind, which may bring hail.\nA storm does not include persistent rain by itself.",
        "Home means the residential building at the situation shown,\nincluding garages and fences.",
        "Unoccupied means not lived in for 60 days."]
    assert "\n\n" not in extract(tmp_path / "p.pdf", _styled_pdf(lines, gaps=[13] * 4)).text


def test_pdf_table_cells_wrapped_onto_a_second_line_stay_in_their_row(tmp_path):
    """A cell wrapped onto a line of its own ("building sum insured") ended the table, and the next row was
    read as the names of another: "Legal liability: Contents; $20,000,000: $120,000…"."""
    table = [("Cover", "Sum insured", "Excess"), ("Building", "$850,000", "$500"),
             ("Temporary accommodation", "12 months, up to 10% of", "Nil"), ("", "building sum insured", ""),
             ("Legal liability", "$20,000,000", "Nil"), ("Contents", "$120,000", "$500"),
             ("Hotel", "London", "200"), ("", "Paris", "180")]
    text = extract(tmp_path / "t.pdf", _pdf([table])).text
    assert text.split("\n\n") == [
        "Cover: Building; Sum insured: $850,000; Excess: $500",
        "Cover: Temporary accommodation; Sum insured: 12 months, up to 10% of building sum insured; Excess: Nil",
        "Cover: Legal liability; Sum insured: $20,000,000; Excess: Nil",
        "Cover: Contents; Sum insured: $120,000; Excess: $500",
        "Cover: Hotel; Sum insured: London; Excess: 200", "Sum insured: Paris; Excess: 180"]  # a row of its own


def test_markdown_setext_underlines_in_fenced_code_stay_code(tmp_path):
    md = "Deploy\n======\n\n```yaml\nkind: Service\n---\nkind: Deployment\n```\n\nThen\n----\n\nApply it.\n"
    text = extract(tmp_path / "d.md", md.encode()).text
    assert text == "# Deploy\n\n```yaml\nkind: Service\n---\nkind: Deployment\n```\n\n## Then\n\nApply it.\n"


def test_markdown_tables_after_a_tilde_line_in_code_or_a_drawn_line_are_records(tmp_path):
    """The table reader toggled "in code" at every line opening with ``` or ~~~: a "~~~" line inside a
    ``` block, or a line drawn with tildes, left every later table as its "| a | b |" lines."""
    table = "| plan | price |\n|---|---|\n| Basic | 10 EUR |\n"
    for before in ["```\nsed s~a~b~ <<~~~\n~~~\n```\n\n", "~~~~~~~~~~~~\n\n"]:
        text = extract(tmp_path / "p.md", (before + table).encode()).text
        assert text.startswith(before) and "plan: Basic; price: 10 EUR" in text, text
    fenced = "```\n" + table + "```\n"
    assert extract(tmp_path / "p.md", fenced.encode()).text == fenced


def test_csv_rows_keep_column_names(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("part;price\nA-1;12.50\nB-2;7\n", encoding="utf-8")
    assert extract(path, path.read_bytes()).text == "part: A-1; price: 12.50\n\npart: B-2; price: 7"


def test_csv_records_leave_empty_values_out_and_name_cells_past_the_header(tmp_path):
    """read_csv wrote its own records: "phone: " for an empty value, and a cell past the names bare ("EU")."""
    path = tmp_path / "staff.csv"
    path.write_text("name,phone,\nAda, ,Lab 2\nBo,555,,EU\n", encoding="utf-8")
    assert extract(path, path.read_bytes()).text == \
        "name: Ada; column 3: Lab 2\n\nname: Bo; phone: 555; column 4: EU"


def _wide_table(rows: int) -> tuple[list[str], list[str]]:
    """Names of 200 characters over one-character values: records about 100 times the table's text."""
    return [f"{'n' * 200}{col}" for col in range(64)], [",".join("x" * 64) for _ in range(rows)]


def test_csv_and_markdown_tables_too_large_as_records_keep_their_lines(tmp_path):
    """CSV and Markdown wrote records without the size cap HTML, DOCX and PDF tables had (TABLE_GROWTH)."""
    names, rows = _wide_table(200)
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([",".join(names), *rows]), encoding="utf-8")
    lines = [" | ".join(names), *(" | ".join("x" * 64) for _ in range(200))]
    assert extract(path, path.read_bytes()).text == "\n".join(lines)
    md = tmp_path / "wide.md"
    table = [f"| {' | '.join(row.split(','))} |" for row in [",".join(names), ",".join("-" * 64), *rows]]
    md.write_text("\n".join(["Before.", "", *table, "", "After."]), encoding="utf-8")
    assert extract(md, md.read_bytes()).text == "\n".join(["Before.", "", "", *lines, "", "", "After."])
    names, rows = _wide_table(2)  # small: records
    path.write_text("\n".join([",".join(names), *rows]), encoding="utf-8")
    assert extract(path, path.read_bytes()).text.startswith(f"{names[0]}: x; {names[1]}: x;")


def test_markdown_table_without_values_keeps_its_names_and_ignores_cells_past_them(tmp_path):
    md = tmp_path / "t.md"
    md.write_text("| a | |\n|---|---|\n| | |\n\n| k | v |\n|---|---|\n| 1 | 2 | 3 |\n", encoding="utf-8")
    assert extract(md, md.read_bytes()).text == "\na | column 2\n\n\n\nk: 1; v: 2\n\n"


def test_json_objects_become_key_value_paragraphs(tmp_path):
    path = tmp_path / "faq.json"
    path.write_text('{"faq": [{"q": "Fee?", "a": "10 EUR"}, {"q": "Hours?", "a": "9-5"}]}', encoding="utf-8")
    assert extract(path, path.read_bytes()).text == "faq\nq: Fee?\na: 10 EUR\n\nfaq\nq: Hours?\na: 9-5"


def test_invalid_json_is_reported(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"a": ', encoding="utf-8")
    with pytest.raises(ExtractError, match="invalid JSON"):
        extract(path, path.read_bytes())


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Le café de la société est fermé le samedi. Les employés reçoivent une prime de fin d'année. " * 5,
         "latin-1"),
        ("Die Mitarbeiter erhalten eine Prämie für außergewöhnliche Leistungen – „gut“ gemacht. " * 5, "cp1252"),
        ("社員は年間二十日の有給休暇を取得できます。申請は二週間前までに行ってください。" * 5, "shift_jis"),
        ("직원은 연간 20일의 유급 휴가를 받을 수 있습니다. 신청은 2주 전까지 해야 합니다. " * 5, "euc-kr"),
        ("員工每年可享有二十天帶薪年假，請於兩週前提出申請。" * 5, "big5"),
    ],
)
def test_legacy_encodings_are_detected(text, encoding):
    assert extract(Path("notes.txt"), text.encode(encoding)).text == text


def test_short_latin1_text_is_not_taken_for_central_european():
    text = ("Le menu de la cantine: Café crème brûlée, à la carte. La fenêtre est fermée le samedi à midi. "
            "Élève déjà reçu.\n")
    assert extract(Path("menu.txt"), text.encode("latin-1")).text == text


def test_markdown_table_rows_keep_column_names(tmp_path):
    """A table row was one line "| Seattle | 62 USD | 210 USD |": no sentence held "Seattle" and "Hotel cap"."""
    path = tmp_path / "travel.md"
    path.write_text(
        "# Travel\n\nPer-diem rates:\n\n| City | Meals per day | Hotel cap \\| night |\n|:-----|---:|:-:|\n"
        "| Portland | 55 USD | 180 USD |\n|Seattle|62 USD||\n\nMileage is 0.58 USD.\n\n"
        "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n\nA | B is not a table.\n", encoding="utf-8")
    text = extract(path, path.read_bytes()).text
    assert "\n\nCity: Portland; Meals per day: 55 USD; Hotel cap | night: 180 USD\n\n" in text, text
    assert "\n\nCity: Seattle; Meals per day: 62 USD\n\n" in text and "Per-diem rates:" in text
    assert "Mileage is 0.58 USD." in text and "| a | b |\n|---|---|\n| 1 | 2 |" in text  # fenced: as written
    assert "A | B is not a table." in text and "|:-----|" not in text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café Müller liefert das Frühstück für die Besprechung am Montag. Die Rechnung geht an Frau Öztürk.",
         "latin-1"),
        ("Zażółć gęślą jaźń: pracownik ma prawo do urlopu w wymiarze dwudziestu sześciu dni.", "cp1250"),
    ],
)
def test_a_short_western_text_is_not_read_in_a_baltic_code_page(text, encoding):
    """A German Latin-1 sentence was read as DOS Baltic (cp775): "Cafķ M³ller ... Fr³hst³ck", Windows-1252
    not being among the detector's candidates; a Polish Windows-1250 one stays Polish."""
    assert extract(Path("note.txt"), text.encode(encoding)).text == text


TABLE_PAGE = (
    "<h2>Tools</h2><p>Which tools may hold company data.</p>"
    "<table><caption>Cloud tools</caption>"
    "<thead><tr><th>Tool</th><th></th><th>Note</th></tr></thead>"
    "<tbody><tr><td>Dropbox</td><td>no, use SharePoint</td><td></td></tr>"
    "<tr><td>Slack <b>Enterprise</b></td><td>yes</td><td>EU region</td></tr></tbody></table>"
    "<table><tr><td>Left</td><td>Right</td></tr><tr><td>1</td><td>2</td></tr></table>"  # no <th> row
    "<table><tr><th>Only</th><th>header</th></tr></table>"  # no body row
    "<p>After.</p>"
)


def test_html_table_rows_keep_column_names():
    """A table row was one line "Dropbox | no, use SharePoint": no sentence held "Dropbox" and its column."""
    text = extract(Path("tools.html"), TABLE_PAGE.encode()).text
    assert text == (
        "## Tools\n\nWhich tools may hold company data.\n\nCloud tools\n\n"
        "Tool: Dropbox; column 2: no, use SharePoint\n\nTool: Slack Enterprise; column 2: yes; Note: EU region\n\n"
        "Left | Right\n\n1 | 2\n\nOnly | header\n\nAfter."), text


def test_html_definition_lists_read_term_colon_definition():
    page = ("<h2>Warranty</h2><dl><dt>Standard warranty</dt><dd>2 years.</dd><dt>Extended</dt>"
            "<dd>29 EUR per year.</dd><dd>Up to 5 years.</dd><dt>Lone term</dt></dl><p>After.</p>")
    assert extract(Path("help.html"), page.encode()).text == (
        "## Warranty\n\nStandard warranty: 2 years.\n\nExtended: 29 EUR per year.\n\nExtended: Up to 5 years.\n\n"
        "Lone term\n\nAfter.")


def test_html_definition_lists_in_divs_and_terms_sharing_a_definition():
    """A <dl> whose groups were wrapped in <div>s (as HTML allows) lost all its text, and a second <dd>
    or terms given together lost what they define."""
    page = ("<dl><div><dt>Price</dt><dd>20 EUR</dd><dd>200 EUR a year</dd></div>"
            "<div><dt>Seats</dt><dt>Users</dt><dd>5</dd></div></dl>")
    assert extract(Path("plan.html"), page.encode()).text == \
        "Price: 20 EUR\n\nPrice: 200 EUR a year\n\nSeats, Users: 5"


def test_html_definition_list_in_a_table_cell_keeps_its_pairs():
    """Tables were read before definition lists: a <dl> in a cell was "Price 20 EUR Seats 5"."""
    page = ("<table><tr><th>Plan</th><th>Terms</th></tr><tr><td>Pro</td><td><dl><dt>Price</dt><dd>20 EUR</dd>"
            "<dt>Seats</dt><dd>5</dd></dl></td></tr></table><dl><dt>Basic</dt><dd><table><tr><th>Price</th>"
            "<th>Seats</th></tr><tr><td>9 EUR</td><td>1</td></tr></table></dd></dl>")
    assert extract(Path("plans.html"), page.encode()).text == \
        "Plan: Pro; Terms: Price: 20 EUR Seats: 5\n\nBasic: Price: 9 EUR; Seats: 1"


def test_html_table_spans_and_nesting():
    page = (
        "<table><tr><th rowspan=2>Channel<th colspan=2>Limit</tr><tr><th>single<th>daily</tr>"
        "<tr><td rowspan=2>Mobile<td>5<td>20<tr><td colspan=2>50<tr><td>ATM<td><td>3<td>extra</table>"
        "<table><tr><td><table><tr><th>Plan<th>Price<tr><td>Basic<td>5 EUR</table><td>side</table>")
    text = extract(Path("limits.html"), page.encode()).text
    assert text.split("\n\n") == [
        "Channel: Mobile; Limit single: 5; Limit daily: 20",  # header rows' names joined, spanned ones named
        "Channel: Mobile; Limit single: 50",  # a row-spanning cell repeats; a column-spanning one is given once
        "Channel: ATM; Limit daily: 3; column 4: extra",
        "Plan: Basic; Price: 5 EUR",  # a table inside a layout table becomes records, the layout one does not
        "side"], text


def test_html_bold_header_rows_and_name_columns_make_records():
    """A header of bold <td> cells, and a table naming its rows in its first column, came out as "a | b"
    lines, so no paragraph held "Price" beside "40 EUR"."""
    page = (
        "<table><tr><td><b>Plan</b></td><td><strong>Price</strong></td></tr><tr><td>Basic</td><td>5 EUR</td>"
        "<tr><td>Pro</td><td><b>9 EUR</b></td></table>"
        "<table><caption>Seats</caption><tr><th>Price</th><td>40 EUR</td></tr><tr><th>Seats</th><td>5</td></tr>"
        "</table>"
        "<table><tr><td><b>Model</b><td>FL-9<td>FL-12<tr><td><b>Warranty</b><td colspan=2>5 years</table>"
        "<table><tr><th colspan=2>Room Aurora<tr><th>Seats<td>14<tr><th>Floor<td>third</table>"
        "<table><tr><td><b>Plan</b> for teams</td><td><b>Price</b></td></tr><tr><td>Team</td><td>7</td></table>"
        "<table><tr><td colspan=2><b>Prices 2025</b></td></tr><tr><td>Basic</td><td>5 EUR</td></tr></table>")
    text = extract(Path("plans.html"), page.encode()).text
    assert text.split("\n\n") == [
        "Plan: Basic; Price: 5 EUR", "Plan: Pro; Price: 9 EUR",  # bold <td> (or <strong>) names the columns
        "Seats", "Price: 40 EUR; Seats: 5",  # a key/value table is one record
        "Model: FL-9; Warranty: 5 years", "Model: FL-12; Warranty: 5 years",  # one record a value column
        "Room Aurora", "Seats: 14; Floor: third",  # a title row over a key/value table names no column
        "Plan for teams | Price", "Team | 7",  # a cell only partly bold names nothing
        "Prices 2025", "Basic | 5 EUR"], text  # one bold cell over the table is a title, not names


@pytest.mark.parametrize("page,paragraphs", [
    pytest.param(  # a bold first body row (a highlighted item) was taken for more column names: "Room Aurora: B"
        "<table><tr><th>Room</th><th>Price</th></tr><tr><td><b>Aurora</b></td><td><b>40</b></td></tr>"
        "<tr><td>Borealis</td><td>55</td></tr></table>"
        "<table><tr><th colspan=2>Rooms</th></tr><tr><td><b>Room</b></td><td><b>Price</b></td></tr>"
        "<tr><td>Aurora</td><td>40</td></tr></table>",
        ["Room: Aurora; Price: 40", "Room: Borealis; Price: 55",
         "Rooms", "Room: Aurora; Price: 40"],  # bold names under a title row of one cell are names
        id="a bold row under the names is a row"),
    pytest.param(  # a title row of one cell over a table's names went into every name: "Meeting rooms Room: Aurora"
        "<table><tr><th colspan=2>Meeting rooms</th></tr><tr><th>Room</th><th>Price</th></tr>"
        "<tr><td>Aurora</td><td>40</td></tr></table>"
        "<table><tr><th colspan=2>Plan</th><th>Price</th></tr><tr><th>Name</th><th>Seats</th><th>EUR</th></tr>"
        "<tr><td>Team</td><td>10</td><td>99</td></tr></table>",
        ["Meeting rooms", "Room: Aurora; Price: 40",
         "Plan Name: Team; Plan Seats: 10; Price EUR: 99"],  # a row of groups still names its columns
        id="title rows above the names are said once"),
])
def test_html_title_and_bold_rows_around_the_column_names(page, paragraphs):
    assert extract(Path("rooms.html"), page.encode()).text.split("\n\n") == paragraphs


def test_html_a_name_column_of_empty_cells_names_nothing():
    """Empty <th> cells down the first column made "column 1: 40 EUR; column 2: 5", rows called columns."""
    page = "<table><tr><th></th><td>40 EUR</td></tr><tr><th></th><td>5</td></tr></table>"
    assert extract(Path("rooms.html"), page.encode()).text == "| 40 EUR\n\n| 5"  # its "a | b" lines


def test_html_without_tables_is_unchanged():
    page = (b"<html><head><title>T</title></head><body><h2>Leave</h2><p>Annual leave is <b>25 days</b>.</p>"
            b"<ul><li>one</li><li>two</li></ul><div>a<br>b</div><dl><dt>Term</dt><dd>Meaning</dd></dl></body></html>")
    assert extract(Path("p.html"), page).text == \
        "# T\n\n## Leave\n\nAnnual leave is 25 days.\n\n- one\n\n- two\n\na\n\nb\n\nTerm: Meaning"  # <li>, <dl>


def docx_with_tables() -> bytes:
    import io

    import docx

    document = docx.Document()
    document.add_paragraph("Which tools may hold company data.")
    table = document.add_table(rows=4, cols=3)
    rows = [["Tool", "Allowed", ""], ["Dropbox", "no, use SharePoint", ""], ["Slack", "yes", "EU region"],
            ["Zoom", "yes", ""]]
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    table.cell(3, 1).merge(table.cell(3, 2))
    inner = table.cell(2, 2).add_table(rows=2, cols=2)
    for row, values in zip(inner.rows, [["Region", "Since"], ["EU", "2024"]], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    one = document.add_table(rows=1, cols=2)
    one.cell(0, 0).text, one.cell(0, 1).text = "only", "row"
    document.add_paragraph("After.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_list_paragraphs_are_items():
    import docx

    document = docx.Document()
    document.add_paragraph("To get a laptop:")
    document.add_paragraph("Open a ticket.", style="List Number")
    document.add_paragraph("Collect it at desk B2.", style="List Bullet")
    document.add_paragraph("Laptops are replaced every 4 years.")
    data = io.BytesIO()
    document.save(data)
    assert extract(Path("guide.docx"), data.getvalue()).text == (
        "To get a laptop:\n\n1. Open a ticket.\n\n- Collect it at desk B2.\n\nLaptops are replaced every 4 years.")


def test_docx_numbered_steps_keep_their_numbers():
    """"What is step 3?" needs the 3: Word shows numbers, the text keeps them; under a new heading the
    steps count from 1 again (python-docx's "List Number" puts every numbered list in one list), a
    nested level ("List Number 2") counts on its own, a bullet stays "-"."""
    import docx

    document = docx.Document()
    document.add_heading("Set up SSO", 1)
    for step in ("Open Settings.", "Copy the ACS URL.", "Set the NameID format."):
        document.add_paragraph(step, style="List Number")
    document.add_paragraph("Pick the IdP.", style="List Number 2")
    document.add_paragraph("Upload the metadata.", style="List Number 2")
    document.add_paragraph("Test it.", style="List Number")
    document.add_heading("Remove a user", 1)
    document.add_paragraph("Go to Users.", style="List Number")
    document.add_paragraph("Choose Deactivate.", style="List Number")
    document.add_paragraph("A note.", style="List Bullet")
    data = io.BytesIO()
    document.save(data)
    assert extract(Path("guide.docx"), data.getvalue()).text.split("\n\n") == [
        "# Set up SSO", "1. Open Settings.", "2. Copy the ACS URL.", "3. Set the NameID format.",
        "1. Pick the IdP.", "2. Upload the metadata.", "4. Test it.",
        "# Remove a user", "1. Go to Users.", "2. Choose Deactivate.", "- A note."]


def test_html_ordered_list_items_keep_their_numbers():
    page = (b"<html><body><h2>Steps</h2><ol><li>Open Settings.</li><li>Copy the URL.<ol type='a'><li>Paste it."
            b"</li><li>Save.</li></ol></li><li value='7'>Test.</li><li>Done.</li></ol>"
            b"<ol start='3' reversed><li>three</li><li>two</li></ol><ul><li>bullet</li></ul></body></html>")
    assert extract(Path("steps.html"), page).text.split("\n\n") == [
        "## Steps", "1. Open Settings.", "2. Copy the URL.", "a. Paste it.", "b. Save.", "7. Test.", "8. Done.",
        "3. three", "2. two", "- bullet"]


def test_docx_table_rows_keep_column_names():
    text = extract(Path("tools.docx"), docx_with_tables()).text
    assert text.split("\n\n") == [
        "Which tools may hold company data.",
        "Tool: Dropbox; Allowed: no, use SharePoint",  # empty cells left out
        "Tool: Slack; Allowed: yes; column 3: EU region",  # an empty header is "column N"
        "Tool: Zoom; Allowed: yes",  # merged cells: the value once
        "Region: EU; Since: 2024",  # a table inside a cell, which python-docx's cell text leaves out
        "only | row",  # one row: as before
        "After."], text


def test_plain_text_headings_become_headings():
    """Headings typed in a .txt file head their sections (the gate and the ranking read a section's
    headings): an underlined line, a numbered title in capitals, a Chinese numbered title, a line in
    capitals on its own. Prose, a table's row, a list's item and a numbered sentence stay as they were."""
    text = (
        "ACME SERVICE LEVEL AGREEMENT\nVersion 2.4\n\n1. SCOPE\n\nThis applies to Business plans.\n\n"
        "2.1 Acme will make the Service available at least 99.9% of the\ntime in each month.\n\n"
        "   P1 (SERVICE DOWN)      1 HOUR\n   P2 (MAJOR)             4 HOURS\n\n"
        "Blood tests\n-----------\nFast for 10 to 12 hours.\n\nNOTE\n\nBring your card.\n\n"
        "一、总则\n1. 员工因公发生的费用，凭发票报销。\n\n第二章 假期\n病假须提供证明。\n\nSee you SOON.\n")
    lines = extract(Path("sla.txt"), text.encode()).text.split("\n")
    headings = [line for line in lines if line.startswith("#")]
    assert headings == ["# ACME SERVICE LEVEL AGREEMENT", "## 1. SCOPE", "## Blood tests", "## NOTE"], headings
    assert "-----------" not in lines and "2.1 Acme will make the Service available at least 99.9% of the" in lines
    assert "P1 (SERVICE DOWN) | 1 HOUR" in lines and "1. 员工因公发生的费用，凭发票报销。" in lines
    assert "一、总则" in lines and "第二章 假期" in lines


def test_a_long_plain_text_file_reads_in_linear_time():
    """Each line's heading check copied every line before it: a 17 MB log-like .txt file spent minutes in
    `extract` before anything was embedded (100,000 lines: 28 s; now 2 s on a busy 2-core machine)."""
    import time

    data = "".join(f"Line {i} of a long log.\n" for i in range(100_000)).encode()
    started = time.perf_counter()
    extract(Path("log.txt"), data)
    assert time.perf_counter() - started < 10


def test_plain_text_aligned_tables_are_rows():
    """A table typed with aligned columns: under a rule line its rows are records, as a CSV's are; without
    one each row is an "a | b" line of its own — joined as wrapped prose, the rows ran into one sentence.
    Prose with two spaces after a stop, not aligned, stays prose."""
    text = ("Credits:\n\n   Monthly Uptime        Service Credit\n   -------------------   --------------\n"
            "   99.0% to < 99.9%      10%\n   below 95.0%           50%\n\nTargets:\n\n"
            "   P1 (down)      1 hour\n   P2 (major)     4 hours\n\n"
            "We retry 3 times.  Then we stop the\nservice for all.  Paying restores it.\n")
    assert extract(Path("sla.txt"), text.encode()).text.split("\n\n") == [
        "Credits:", "Monthly Uptime: 99.0% to < 99.9%; Service Credit: 10%",
        "Monthly Uptime: below 95.0%; Service Credit: 50%", "Targets:", "P1 (down) | 1 hour", "P2 (major) | 4 hours",
        "We retry 3 times.  Then we stop the\nservice for all.  Paying restores it.\n"]


def test_plain_text_table_ending_the_file_and_chinese_tables_aligned_on_screen():
    """A table that ended the file (its last line followed by the file's final newline) stayed lines of
    words: the empty line after it was read as a row that did not align. A Chinese table aligned as an editor
    draws it (a Chinese character two columns wide) was never aligned when counted in characters."""
    english = ("Channel        Fee       Minimum\n-------------  --------  -------\nOwn ATM        1%        2 CNY\n"
               "Foreign ATM    3%        30 CNY\n")
    assert extract(Path("fees.txt"), english.encode()).text.split("\n\n") == [
        "Channel: Own ATM; Fee: 1%; Minimum: 2 CNY", "Channel: Foreign ATM; Fee: 3%; Minimum: 30 CNY"]
    chinese = ("交易渠道        手续费标准        最低收费\n--------------  ----------------  --------\n"
               "境内本行ATM     取现金额的1%      人民币2元\n境外ATM         取现金额的3%      人民币30元\n\n"
               "渠道　　　　手续费\n境内ATM　　　1%\n柜台　　　　1%\n")
    assert extract(Path("费率.txt"), chinese.encode()).text.split("\n\n") == [
        "交易渠道: 境内本行ATM; 手续费标准: 取现金额的1%; 最低收费: 人民币2元",
        "交易渠道: 境外ATM; 手续费标准: 取现金额的3%; 最低收费: 人民币30元",
        "渠道: 境内ATM; 手续费: 1%", "渠道: 柜台; 手续费: 1%"]  # full-width spaces align too; names without digits
    prose = "Retries:\n\nWe retry 3 times.  Then we stop the\nservice for all.  Paying restores it.\n\nEnd.\n"
    assert extract(Path("sla.txt"), prose.encode()).text == prose  # lined up by chance after stops: no table


def test_plain_text_pipe_tables_and_field_lines_are_records():
    """A maintenance log typed in plain text: "Name: value" fields apart by runs of spaces, and a table with "|"
    between its cells, a rule of dashes under its names and a cell wrapped onto the next line. Both stayed lines
    of words (the cells' "|" broke the alignment): "What is the serial number?" and "How often was the filter
    replaced?" found no record."""
    text = ("MAINTENANCE LOG\nSerial no: HV45-22871   Model: HV-45 (10 bar)   Installed: 14 June 2023\n\n"
            "Date        | Hours  | Work done                    | Parts used\n"
            "------------|--------|------------------------------|-----------\n"
            "2024-01-11  | 2,010  | Air filter element replaced. | HV-AF-220\n"
            "2025-05-30  | 7,980  | Annual service. Minimum      | HV-OF-115,\n"
            "            |        | pressure valve kit replaced. | HV-MPV-08\n"
            "2026-01-08  | 11,300 | Topped up 2 L.               | -\n\n"
            "| Step | Action |\n|------|--------|\n| 1 | Stop |\n| 2 | Vent |\n\n"
            "Note: the log is kept by the site engineer. Keep it   dry.\n")
    assert extract(Path("log.txt"), text.encode()).text.split("\n\n") == [
        "# MAINTENANCE LOG\nSerial no: HV45-22871; Model: HV-45 (10 bar); Installed: 14 June 2023",
        "Date: 2024-01-11; Hours: 2,010; Work done: Air filter element replaced.; Parts used: HV-AF-220",
        "Date: 2025-05-30; Hours: 7,980; Work done: Annual service. Minimum pressure valve kit replaced.; "
        "Parts used: HV-OF-115, HV-MPV-08",
        "Date: 2026-01-08; Hours: 11,300; Work done: Topped up 2 L.",  # "-" is no value
        "Step: 1; Action: Stop", "Step: 2; Action: Vent",
        "Note: the log is kept by the site engineer. Keep it   dry.\n"]  # one field and prose: no record


def test_plain_text_tab_separated_tables_are_records():
    """A table pasted from a spreadsheet into a text file — cells apart by single tabs — stayed lines of
    words ("Bob Lee 2602 B-14"); its names line, with no digit over rows with one, now names each record's
    fields. Lines indented by a tab, or a names line with digits, stay as they were."""
    text = ("Phone list\n\nNAME\tEXTENSION\tROOM\nAlice Wong\t2601\tB-12\nBob Lee\t2602\t\n\n"
            "Run:\n\n\tstep 1\n\tstep 2\n\tstep 3\n\n2024\t2025\n10\t12\n11\t13\n")
    assert extract(Path("phones.txt"), text.encode()).text.split("\n\n") == [
        "Phone list", "NAME: Alice Wong; EXTENSION: 2601; ROOM: B-12", "NAME: Bob Lee; EXTENSION: 2602", "Run:",
        "\tstep 1\n\tstep 2\n\tstep 3", "2024 | 2025", "10 | 12", "11 | 13"]  # aligned rows, no records


def test_markdown_blockquotes_and_inline_html_read_as_text(tmp_path):
    """A developer portal's Markdown: answers quoted "> Never embed a secret key…", "Press <kbd>Ctrl</kbd>+…"
    and "[!NOTE]". Blockquote marks, GitHub's alert marker and inline HTML go; a link's address stays, as a
    Markdown link's does; code spans, fenced and indented code keep every character."""
    md = ("# Keys\n\n> [!NOTE]\n> Keys expire after 90 days.\n\n> > Never embed a <b>secret</b> key.\n\n"
          "Press <kbd>Ctrl</kbd>+<kbd>K</kbd>; see the <a href=\"https://x.io/keys\">key guide</a>.\n\n"
          "Type `<b>x</b>` or `> y`.\n\n```html\n> <kbd>kept</kbd>\n```\n\n    > indented code\n")
    text = extract(tmp_path / "keys.md", md.encode()).text
    assert text.split("\n\n") == [
        "# Keys", "Keys expire after 90 days.", "Never embed a secret key.",
        "Press Ctrl+K; see the key guide (https://x.io/keys).", "Type `<b>x</b>` or `> y`.",
        "```html\n> <kbd>kept</kbd>\n```", "    > indented code\n"], text


def test_markdown_faq_details_read_as_headings_and_br_as_line_breaks(tmp_path):
    """GitHub-style foldable answers in a Markdown FAQ kept their tags as text ("<summary>How do I restart
    the worker?</summary>") and a "<br>" joined lines; in a fenced block they stay code."""
    md = ("# Runbook\n\n## Workers\n\n<details>\n<summary>How do I restart the worker?</summary>\n\nRun it again."
          "\n\n</details>\n\n| Host | Notes |\n|---|---|\n| wk-01 | primary<br>rack 4 |\n\nCall<br>ops\n\n"
          "```html\n<details><summary>kept</summary></details>\n```\n")
    text = extract(tmp_path / "faq.md", md.encode()).text
    assert "### How do I restart the worker?\n\nRun it again." in text and "details>" not in text.split("```")[0]
    assert "Host: wk-01; Notes: primary rack 4" in text and "Call\nops" in text
    assert "```html\n<details><summary>kept</summary></details>\n```" in text


def test_html_page_banner_of_links_is_no_passage(tmp_path):
    """A site's <header> of links and buttons ("Larchmont Hotels", "Book now") was indexed as a passage of its
    own; a header with a heading or text of its own, and an article's header, stay."""
    page = (b"<header><a href='/'>Larchmont Hotels</a> <a href='/book'><span>Book now</span></a>"
            b"<button>Menu</button></header><main><h1>FAQ</h1><p>Check-in is at 3 pm.</p>"
            b"<article><header><a href='/news'>News</a></header><p>New pool.</p></article></main>")
    text = extract(tmp_path / "faq.html", page).text
    assert "Book now" not in text and "Larchmont Hotels" not in text and "Menu" not in text
    assert text.startswith("# FAQ") and "Check-in is at 3 pm." in text and "News" in text
    kept = (b"<header><h1>Help</h1><a href='/'>Home</a></header><p>Text.</p>"
            b"<header>Open 24 hours <a href='/map'>map</a></header>")
    text = extract(tmp_path / "help.html", kept).text
    assert "Home" in text and "Open 24 hours map" in text


def test_html_page_footer_is_no_part_of_the_last_section(tmp_path):
    """The page's footer (company, address, copyright) was read into its last section: a question about the
    company cited "Price match". An article's own footer stays in its article."""
    page = (b"<header><h1>Help</h1></header><main><h2>Price match</h2><p>Within 14 days.</p>"
            b"<article><h3>News</h3><p>New store.</p><footer>Posted by Ann</footer></article></main>"
            b"<footer><p>Larkspur Pty Ltd, 12 Dohertys Road</p></footer>")
    text = extract(tmp_path / "help.html", page).text
    assert text.split("\n\n") == ["# Help", "## Price match", "Within 14 days.", "### News", "New store.",
                                  "Posted by Ann", "# Help", "Larkspur Pty Ltd, 12 Dohertys Road"]
    assert chunk_text(text, ChunkingConfig())[-1].heading == "Help"


def test_a_plain_text_table_without_a_rule_is_records_under_a_names_line_without_digits():
    """A table typed in aligned columns under a names line but no "----" rule stayed "a | b" lines, so
    "When will Friday 25 December's collection be made?" found no row saying what "Saturday 26 Dec" is."""
    text = ("Usual day          Collection day\nThursday 24 Dec    Thursday 24 Dec\n"
            "Friday 25 Dec      Saturday 26 Dec\n\nMonday     Tuesday\nMon 1      Tue 2\n\n"
            "Q1 2025    Q2 2025\n10         12\n11         13\n")
    assert extract(Path("calendar.txt"), text.encode()).text.split("\n\n") == [
        "Usual day: Thursday 24 Dec; Collection day: Thursday 24 Dec",
        "Usual day: Friday 25 Dec; Collection day: Saturday 26 Dec",
        "Monday | Tuesday", "Mon 1 | Tue 2",  # two lines: no table of records
        "Q1 2025 | Q2 2025", "10 | 12", "11 | 13"]  # names with digits


def test_a_bad_json_lines_line_is_named_by_its_own_error():
    """A JSON Lines file with a bad second line failed "invalid JSON (line 2: Extra data)", the whole-file
    parse's complaint; a pretty-printed JSON file keeps the whole file's line."""
    with pytest.raises(ExtractError, match=r"^invalid JSON \(line 3: Expecting value\)$"):
        extract(Path("faq.jsonl"), b'{"q": "a"}\n{"q": "b"}\nnot json\n')
    with pytest.raises(ExtractError, match=r"^invalid JSON \(line 4: Expecting ',' delimiter\)$"):
        extract(Path("faq.json"), b'{\n  "a": 1,\n  "b": [1, 2\n}\n')


def test_a_long_html_ordered_list_reads_in_linear_time():
    """Each item of an ordered list was numbered by counting its list again: 5,000 steps took 20 s, 20,000
    nearly 5 minutes. Numbered the same ("4. Step 4"), once per list."""
    import time

    data = ("<ol start='2'>" + "".join(f"<li>Step {i}</li>" for i in range(2, 6002)) + "</ol>").encode()
    started = time.perf_counter()
    text = extract(Path("steps.html"), data).text
    assert time.perf_counter() - started < 10
    assert "4. Step 4" in text.split("\n\n") and "6001. Step 6001" in text.split("\n\n")
