"""Turn a file into text: headings as Markdown `#` lines, paragraphs separated by blank lines, PDF pages
separated by form feeds. Each reader raises `ExtractError` with a reason a person can act on."""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tenantctl.textproc import fenced_blocks

if TYPE_CHECKING:
    import docx.table
    from bs4 import PageElement, Tag
    from pypdf import PageObject


class ExtractError(Exception):
    """A file that cannot be read; the message is the reason."""


# Limits against files built to exhaust the machine (documented in the README, "Limits and safety").
MAX_DOCX_XML_BYTES = 8 << 20  # decompressed XML parts of one DOCX
MAX_DOCX_RATIO = 100  # decompressed / compressed size of its XML parts
MAX_HTML_DEPTH = 256  # nesting of HTML elements


@dataclass(frozen=True)
class Extracted:
    text: str
    format: str
    paged: bool = False


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM, or UTF-16 with BOM), else the detected encoding."""
    if not data.strip():
        raise ExtractError("empty file")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # UTF-32's mark starts as UTF-16's does
        with contextlib.suppress(UnicodeDecodeError):
            text = data.decode("utf-32")
            if "\x00" not in text and _control_ratio(text) <= 0.05:
                return text
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:  # junk that happens to start like a BOM: said as such, not as a codec's error
            raise ExtractError("binary data, not text (it starts with a UTF-16 mark but is no UTF-16 text)") from None
        if "\x00" in text or _control_ratio(text) > 0.05:  # junk read as UTF-16 was indexed as mock Chinese
            raise ExtractError("binary data, not text (it starts with a UTF-16 mark but is no UTF-16 text)")
        return text
    if b"\x00" in data[:4096] and (text := _utf16_without_mark(data)) is not None:
        return text
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        if b"\x00" in data:
            raise ExtractError("binary data, not text") from None
        matches = from_bytes(data)
        best = matches.best()
        if best is None:
            raise ExtractError("binary data or unknown text encoding") from None
        # On short texts the detector cannot tell Western European single-byte encodings from their
        # Central/Baltic cousins; Windows-1252 (a superset of Latin-1's letters) is by far the likelier.
        western = next((m for m in matches if m.encoding == "cp1252"), None)
        if western is not None and best.encoding != "cp1252" and western.chaos <= best.chaos + 0.05 \
                and best.encoding in ("cp1250", "cp1257", "iso8859_2", "iso8859_4", "iso8859_10", "iso8859_13"):
            best = western
        text = str(best)
        if best.encoding in _LATIN_COUSINS:  # German Latin-1 came out as DOS Baltic: "M³ller" for "Müller"
            text = _western_if_fewer_strays(data, text)
    if "\x00" in text or _control_ratio(text) > 0.05:
        raise ExtractError("binary data, not text")
    return text


# Latin-script single-byte code pages the detector may pick for a short Western European text.
_LATIN_COUSINS = {"cp1250", "cp1257", "cp775", "cp850", "cp852", "cp437", "cp858", "iso8859_2", "iso8859_4",
                  "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_16", "mac_latin2", "mac_roman"}
_TYPOGRAPHY = set("–—‘’‚“”„…•€£°§«»·©®™")


def _stray_symbols(text: str) -> int:
    """Non-ASCII characters that are neither letters nor ordinary typography: what a wrong code page
    makes of a text's accented letters ("³" for "ü")."""
    return sum(1 for ch in text if ord(ch) > 127 and not ch.isalpha() and ch not in _TYPOGRAPHY)


def _western_if_fewer_strays(data: bytes, text: str) -> str:
    """`data` as Windows-1252 when that makes fewer stray symbols than `text`, the detector's reading in
    another Latin-script code page (a Polish text keeps Windows-1250: "ł" would be "³")."""
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        return text
    return western if _stray_symbols(western) < _stray_symbols(text) else text


def _utf16_without_mark(data: bytes) -> str | None:
    """Text in UTF-16 without a byte-order mark (some Windows exports write one, some not), told by its Latin
    text's zero bytes: every second byte, at odd offsets in little-endian, even ones in big-endian. It was
    "binary data, not text". None for anything else."""
    head = data[:4096]
    if len(data) % 2 or len(head) < 8:
        return None
    pairs = len(head) // 2
    even, odd = head[0::2].count(0) / pairs, head[1::2].count(0) / pairs
    codec = "utf-16-le" if odd > 0.3 and even < 0.02 else "utf-16-be" if even > 0.3 and odd < 0.02 else None
    if codec is None:
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text or _control_ratio(text) > 0.05 else text


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bad / max(1, len(sample))


def _plain(data: bytes) -> str:
    return decode(data).replace("\r\n", "\n").replace("\r", "\n")


def read_txt(data: bytes) -> str:
    return _text_tables(_text_headings(_plain(data)))


# A table typed in plain text: two or more lines whose cells, apart by runs of two or more spaces (or a tab),
# start in the same columns on every line. Over a rule ("-----   ----") its first line names the columns
# and each row is a record, as a CSV row is ("Monthly Uptime Percentage: 95.0% to < 99.0%; Service Credit:
# 25%"); without one, each row is an "a | b" line of its own. Joined as hard-wrapped prose, a table's rows
# ran together into one sentence and the rows after it were lost to the answer. Cells apart by single tabs
# (pasted from a spreadsheet) are a table too, its first line the names when they hold no digit. Columns are
# counted as a fixed-width font draws them: a Chinese character two (a Chinese table was never aligned).
_CELL_GAP = re.compile(r"\S(?:.*?\S)?(?=\s{2,}|\t|$)")
_RULE = re.compile(r"[ \t]*[-=+|]{3,}(?:[ \t]+[-=+|]{3,})*[ \t]*")
_STOPS = (".", "!", "?", "。", "！", "？")


def _columns(text: str) -> int:
    """How many columns `text` takes in a fixed-width font: a Chinese, Japanese or Korean character and a
    full-width space or sign two, as editors draw them, so a table aligned on screen is aligned here."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cells(line: str) -> list[tuple[int, str]]:
    """Each cell of a line with the screen column it starts at (not its character offset: "境外ATM" takes
    seven columns, "Ascent" six)."""
    line = line.expandtabs(8)
    return [(_columns(line[:m.start()]), m.group()) for m in _CELL_GAP.finditer(line)]


def _aligned(rows: list[list[tuple[int, str]]]) -> bool:
    """Every row has the same two or more cells, each starting within a column of the first row's."""
    width = len(rows[0])
    return width >= 2 and all(len(row) == width for row in rows) and all(
        abs(row[k][0] - rows[0][k][0]) <= 1 for row in rows for k in range(1, width))


def _tab_table(lines: list[str]) -> list[str] | None:
    """The records of lines of tab-separated cells (a table pasted from a spreadsheet): three lines or more,
    each of the same two or more cells, the first naming the columns — no digit in it, one in every row
    ("Name  Extension  Room" over "Bob Lee  2602  B-14"); None for any other block."""
    if any(line.lstrip(" ").startswith("\t") for line in lines):
        return None  # indented lines, not cells
    rows = [[cell.strip() for cell in line.strip(" \r").split("\t")] for line in lines]
    if len(rows) < 3 or len(rows[0]) < 2 or any(len(row) != len(rows[0]) for row in rows):
        return None
    if any(re.search(r"\d", name) for name in rows[0]) or not all(re.search(r"\d", "".join(row)) for row in rows[1:]):
        return None
    values = [[cell or None for cell in row] for row in rows[1:]]
    return table_records(rows[0], values, sum(map(len, lines))) or None


def _names_line(rows: list[list[tuple[int, str]]]) -> bool:
    """Whether the first of a plain-text table's rows, typed without a rule below it, names its columns: no
    digit in it, one in every row below ("Usual day   Collection day" over "Friday 25 Dec   Saturday 26 Dec"),
    as a pasted spreadsheet's names line (`_tab_table`)."""
    return (not any(re.search(r"\d", cell) for _, cell in rows[0])
            and all(re.search(r"\d", "".join(cell for _, cell in row)) for row in rows[1:]))


def _pipe_table(lines: list[str]) -> list[str] | None:
    """The records of a table typed with "|" between its cells and a rule of dashes under its names line
    ("Date | Hours | Work done" over "-----|-----|-----", as a log or an e-mail writes one, with or without the
    outer "|"): a row whose first cell and another are empty goes on the row above, a
    line of text wrapped in its cell ("… Minimum pressure valve" over "| | | kit replaced (8,000 h)."). Read
    as aligned columns, its cells held the "|" and the wrapped rows broke the alignment: the rows stayed lines
    of words. None when it is no such table."""
    if "|" not in lines[0] or "|" not in lines[1] or "-" not in lines[1]:
        return None
    outer = lines[0].strip().startswith("|")  # "| a | b |": else a row's leading "|" is after an empty cell

    def cells_of(line: str) -> list[str]:
        line = line.strip()
        if outer:
            line = line.removeprefix("|").removesuffix("|")
        return [cell.strip() for cell in line.split("|")]

    names = cells_of(lines[0])
    if len(names) < 2 or len(cells_of(lines[1])) != len(names) or not all(names):
        return None
    rows: list[list[str]] = []
    for line in lines[2:]:
        if "|" not in line:
            return None
        cells = (cells_of(line) + [""] * len(names))[:len(names)]
        if rows and not cells[0] and sum(not cell for cell in cells) >= min(2, len(cells) - 1):
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    values = [[cell if cell and cell != "-" else None for cell in row] for row in rows]
    return table_records(names, values, sum(map(len, lines))) or None


# A line of two or more "Name: value" fields apart by runs of spaces (a log's or a form's heading: "Serial no:
# HV45-22871   Model: HV-45 (10 bar)   Installed: 14 June 2023") is a record, as a table's row is: as words, its
# fields ran together ("HV45-22871 Model: HV-45") and the name stood apart from its value.
_FIELD_CELL = re.compile(r"([^\W\d_][^:：;|]{0,29}?)[:：][ \t]*(\S.*)")


def _fields_line(line: str) -> str:
    cells = [m.group().strip() for m in re.finditer(r"\S(?:.*?\S)?(?=[ \t]{3,}|\t|$)", line.strip())]
    fields = [_FIELD_CELL.fullmatch(cell) for cell in cells]
    if len(cells) < 2 or not all(fields):
        return line
    return "; ".join(f"{m.group(1).strip()}: {m.group(2).strip()}" for m in fields if m)


def _text_tables(text: str) -> str:
    text = "\n".join(_fields_line(line) if re.search(r"[:：].*?\S[ \t]{3,}\S", line) else line
                     for line in text.split("\n"))
    blocks = re.split(r"(\n[ \t]*\n)", text)
    for b, block in enumerate(blocks):
        lines = block.strip("\n").split("\n")  # the file's last block ends with its final newline: no row
        filled = [line for line in lines if line.strip()]
        tabbed = _tab_table(filled) if all("\t" in line.strip() for line in filled) else None
        if tabbed:
            blocks[b] = "\n\n".join(tabbed)
            continue
        ruled = len(lines) >= 3 and bool(_RULE.fullmatch(lines[1])) and not _RULE.fullmatch(lines[0])
        if ruled and (piped := _pipe_table(lines)):
            blocks[b] = "\n\n".join(piped)
            continue
        body = [_cells(line) for line in (lines[2:] if ruled else lines)]
        if len(body) < 2 or any(line.lstrip().startswith(("#", "|")) for line in lines) or not _aligned(body):
            continue
        if not ruled and any(cell.endswith(_STOPS) for row in body for _, cell in row[:-1]):
            continue  # sentences typed with two spaces after their stops, which happen to line up
        names = _cells(lines[0]) if ruled else []
        if not ruled and len(body) >= 3 and _names_line(body):  # "Usual day   Collection day" over dated rows
            names, body = body[0], body[1:]
            ruled = True
        if ruled and len(names) == len(body[0]):
            records = table_records([name for _, name in names], [[cell for _, cell in row] for row in body],
                                    len(block))
            if records:
                blocks[b] = "\n\n".join(records)
                continue
        blocks[b] = "\n\n".join(" | ".join(cell for _, cell in row) for row in
                                  ([names] if names else []) + body)
    return "".join(blocks)


# A plain-text file's headings, as people type them: an underlined line ("Blood tests" over "-----------"),
# a numbered title in capitals ("2. UPTIME COMMITMENT", "2.1 SCOPE") and a line in capitals standing alone
# ("PURPOSE", the file's first line "ACME ROBOTICS - TRAVEL POLICY"). A line of prose, a table's row (runs
# of spaces, "|") or a list's item is none. Chinese numbered titles ("三、差旅费") are left as lines: as
# headings their sections' smaller chunks crowded the passages of a question (70% → 62.5% correct on a
# Chinese handbook).
_UNDERLINE = re.compile(r"[ \t]*(=+|-+)[ \t]*")
_NUMBERED_CAPS = re.compile(r"[ \t]*(\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+(\S.*?)[ \t]*")
_PROSE_END = re.compile(r"[.:;,!?。，；：！？、]$")


def _caps(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return (len(letters) >= 4 and all(ch.isupper() for ch in letters) and len(text.split()) <= 12
            and not _PROSE_END.search(text) and "|" not in text and "  " not in text.strip() and "\t" not in text)


def _text_heading(lines: list[str], i: int) -> tuple[int, str] | None:
    """(level, title) when line i of a plain-text file is a heading; None for any other line."""
    line = lines[i].strip()
    # islice, not lines[:i]: a copy of every line before each line made a 17 MB text file take minutes
    first = not any(x.strip() for x in itertools.islice(lines, i))
    before = i == 0 or not lines[i - 1].strip()
    after = i + 1 >= len(lines) or not lines[i + 1].strip()
    if not line or line.startswith(("#", "-", "*", "•", "[")):
        return None
    numbered = _NUMBERED_CAPS.fullmatch(line)
    if numbered and before and after and _caps(numbered.group(2)):
        return 2 + numbered.group(1).count("."), line
    if _caps(line) and before and (after or first):
        return (1 if first else 2), line
    return None


def _text_headings(text: str) -> str:
    """A plain-text file with its headings (see above) as Markdown `#` lines the chunker knows, an
    underline dropped; every other line as it was. A `#` line of the file itself stays what it was."""
    lines, out = text.split("\n"), []
    i = 0
    while i < len(lines):
        line = lines[i]
        under = _UNDERLINE.fullmatch(lines[i + 1]) if i + 1 < len(lines) else None
        if (under and len(under.group(1)) >= 3 and line.strip() and len(line.strip()) <= 80
                and (i == 0 or not lines[i - 1].strip()) and not line.lstrip().startswith(("#", "-", "*", "|"))
                and not _PROSE_END.search(line.strip()) and "  " not in line.strip()):
            out.append(f"{'#' if under.group(1)[0] == '=' else '##'} {line.strip()}")
            i += 2
            continue
        heading = _text_heading(lines, i)
        out.append(f"{'#' * heading[0]} {heading[1]}" if heading else line)
        i += 1
    return "\n".join(out)


def read_md(data: bytes) -> str:
    # Drop YAML front matter first: its closing `---` would otherwise read as a setext heading underline.
    text = re.sub(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", "", _plain(data), flags=re.S)
    # Setext headings ("Title\n=====") become ATX headings the chunker knows; not in a fenced code block,
    # where "kind: Service\n---" is YAML.
    pieces, start = [], 0
    for fence_start, fence_end in fenced_blocks(text):
        pieces += [_setext(text[start:fence_start]), text[fence_start:fence_end]]
        start = fence_end
    return _md_tables(_md_html("".join([*pieces, _setext(text[start:])])))


_MD_DETAILS = re.compile(r"[ \t]*</?details\b[^>]*>[ \t]*")
_MD_SUMMARY = re.compile(r"[ \t]*<summary\b[^>]*>(.*?)</summary>[ \t]*", re.I)
_MD_BREAK = re.compile(r"<br\s*/?>", re.I)


_MD_QUOTE = re.compile(r" {0,3}(?:> ?)+")  # a blockquote's "> " (nested: "> > "); four spaces in: code
_MD_ALERT = re.compile(r"\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*", re.I)  # GitHub's "> [!NOTE]"
_MD_INLINE = re.compile(r"</?(?:kbd|b|strong|i|em|u|sup|sub|span|small|mark|abbr|samp|var|ins|del|s)\b[^<>]*>", re.I)
_MD_ANCHOR = re.compile(r"<a\b[^<>]*?href=[\"']([^\"']+)[\"'][^<>]*>(.*?)</a>", re.I)
_MD_CODE_SPAN = re.compile(r"(`+).+?\1")


def _md_inline(line: str) -> str:
    """A Markdown line without its blockquote marks and its inline HTML: `<kbd>Ctrl</kbd>` is "Ctrl",
    `<a href="URL">guide</a>` "guide (URL)", as a Markdown link is shown; a code span keeps its text."""
    quote = _MD_QUOTE.match(line)
    if quote and quote.group().strip():
        line = _MD_ALERT.sub("", line[quote.end():], count=1)
    pieces, last = [], 0
    for span in _MD_CODE_SPAN.finditer(line):
        pieces += [_MD_INLINE.sub("", _MD_ANCHOR.sub(r"\2 (\1)", line[last:span.start()])), span.group()]
        last = span.end()
    return "".join([*pieces, _MD_INLINE.sub("", _MD_ANCHOR.sub(r"\2 (\1)", line[last:]))])


def _md_html(text: str) -> str:
    """A Markdown file's HTML for a FAQ's foldable answers — `<details>`, `<summary>question</summary>` — as
    Markdown: the question a heading one level below the heading before it, the `<details>` lines gone;
    and `<br>` a line break (in a table's row, a space). Their tags were the text: "<summary>How do I…".
    Blockquote marks and inline HTML go too (`_md_inline`): answers read "> Never embed…", "<kbd>K</kbd>"."""
    fences = fenced_blocks(text)
    out, level, pos = [], 1, 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        if any(s <= start < e for s, e in fences):
            out.append(line)
            continue
        line = _md_inline(line)
        heading = re.match(r"(#{1,6})[ \t]", line)
        level = len(heading.group(1)) if heading else level
        summary = _MD_SUMMARY.fullmatch(line)
        if summary:
            out += ["", f"{'#' * min(level + 1, 6)} {' '.join(summary.group(1).split())}", ""]
        elif not _MD_DETAILS.fullmatch(line):
            out.append(_MD_BREAK.sub(" " if line.lstrip().startswith("|") else "\n", line))
        elif out and out[-1].strip():
            out.append("")
        while len(out) > 2 and not out[-1].strip() and not out[-2].strip() and out[-2] == "":
            out.pop()  # one blank line between blocks, as the file had
    return "\n".join(out)


def _setext(text: str) -> str:
    text = re.sub(r"^(\S[^\n]*)\n=+[ \t]*$", r"# \1", text, flags=re.M)
    return re.sub(r"^(\S[^\n]*)\n-+[ \t]*$", r"## \1", text, flags=re.M)


_MD_RULE = re.compile(r"\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*")  # | --- | :-: |


def _md_cells(line: str) -> list[str]:
    line = line.strip().removeprefix("|")
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _md_tables(text: str) -> str:
    """A Markdown (GFM) table's rows become records (`table_records`), as a CSV file's do: read as one
    line each ("| Seattle | 62 USD | 210 USD |"), a row kept none of its column names. A table without
    values keeps its names, one refused for its size its cells, as "a | b" lines."""
    lines, out, i = text.split("\n"), [], 0
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    fences = fenced_blocks(text)
    while i < len(lines):
        line = lines[i]
        if ("|" in line and i + 1 < len(lines) and "-" in lines[i + 1] and _MD_RULE.fullmatch(lines[i + 1])
                and len(_md_cells(lines[i + 1])) == len(_md_cells(line))
                and not any(s <= starts[i] < e for s, e in fences)):  # a table, not in a fenced code block
            header = [h or f"column {n}" for n, h in enumerate(_md_cells(line), 1)]
            first, i = i, i + 2
            rows = []
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_md_cells(lines[i])[: len(header)])  # GFM: cells past the header's are ignored
                i += 1
            records = table_records(header, rows, len("\n".join(lines[first:i])))
            kept = [header, *(row for row in rows if any(row))]  # no values, or too many records: its lines
            out += ["", "\n\n".join(records) or "\n".join(" | ".join(row) for row in kept), ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


_BLOCK_TAGS = (
    "p", "div", "li", "tr", "br", "pre", "blockquote", "section", "article", "table", "ul", "ol",
    "dt", "dd", "figcaption", "header", "footer", "main", "aside", "details", "button",
)


_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Elements a browser closes when a sibling of the same kind opens (`<p>a<p>b`, `<li>`...).
_SELF_CLOSING_SIBLINGS = frozenset("p li dt dd tr td th option".split())
_KIN = {"td": ("td", "th"), "th": ("td", "th"), "dt": ("dt", "dd"), "dd": ("dt", "dd")}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")


def html_depth(text: str, limit: int) -> int:
    """How deeply the elements of `text` nest, counted in one linear pass; stops past `limit`."""
    stack: list[str] = []
    deepest = 0
    for match in _TAG.finditer(text):
        closing, name, empty = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or empty:
            continue
        if closing:
            if name in stack:
                while stack and stack.pop() != name:
                    pass
            continue
        if name in _SELF_CLOSING_SIBLINGS:  # `<td>a<td>b`, `<tr><td>a<tr>`: close the open sibling
            kin = _KIN.get(name, (name,))
            for back in range(1, min(4, len(stack)) + 1):
                if stack[-back] in kin:
                    del stack[-back:]
                    break
        stack.append(name)
        deepest = max(deepest, len(stack))
        if deepest > limit:
            break
    return deepest


def read_html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    text = _plain(data)
    if html_depth(text, MAX_HTML_DEPTH) > MAX_HTML_DEPTH:
        raise ExtractError(f"HTML nested deeper than {MAX_HTML_DEPTH} elements; flatten the page first")
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav"]):
        tag.decompose()
    _html_banners(soup)
    # A definition list in a table's cell keeps its "term: definition" pairs, a table in a definition its records.
    lists = soup.find_all("dl")
    holding = {id(dl) for dl in lists if dl.find("table") is not None}
    _html_definitions([dl for dl in lists if id(dl) not in holding])
    _html_tables(soup)
    _html_definitions([dl for dl in lists if id(dl) in holding])
    _html_summaries(soup)
    _html_footers(soup)
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            title = " ".join(tag.get_text(" ").split())
            tag.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for tag in soup.find_all(["td", "th"]):
        tag.append(" | ")
    counted: dict[int, dict[int, int]] = {}
    for tag in soup.find_all("li"):
        if tag.find_parent(["td", "th"]) is None:  # a table's cell keeps its line
            tag.insert(0, f"\n\n{_html_mark(tag, counted)} ")  # a list's item reads as one, as in Markdown
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.append("\n\n")
    root = soup.body or soup
    lines = [" ".join(line.split()) for line in root.get_text().split("\n")]
    text = "\n".join(line.rstrip(" |") for line in lines)
    title = soup.title.get_text(" ").strip() if soup.title else ""
    if title and not re.search(r"^# ", text, flags=re.M):
        text = f"# {title}\n\n{text}"
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _html_banners(soup: Tag) -> None:
    """A page's own `<header>` that holds links and buttons alone (the logo, "Book now", "Log in") is
    navigation, dropped as `<nav>` is: it was a passage of its own, "Larchmont Hotels Book now". A header
    with a heading or any text of its own, or an article's or section's header, stays."""
    for header in soup.find_all("header"):
        if header.find_parent(["article", "section", "aside", "main", "footer"]) is not None:
            continue
        if header.find(re.compile(r"^h[1-6]$")) is not None:
            continue
        texts = [t for t in header.find_all(string=True) if t.strip()]
        if texts and all(t.find_parent(["a", "button"]) is not None for t in texts):
            header.decompose()


def _html_footers(soup: Tag) -> None:
    """A page's own `<footer>` (none of an article's or section's) goes under the page's first heading
    again: the company's address and copyright are the page's, not its last section's ("Price match")."""
    first = soup.find(re.compile(r"^h[1-6]$"))
    title = " ".join(first.get_text(" ").split()) if first is not None else ""
    for footer in soup.find_all("footer") if title else []:
        own = footer.find_parent(["article", "section", "aside", "footer"]) is None and footer not in first.parents
        if own and footer.get_text(strip=True):
            footer.insert(0, f"\n\n{'#' * int(first.name[1])} {title}\n\n")


def _html_summaries(soup: Tag) -> None:
    """Each `<summary>` of a `<details>` (a help centre's FAQ accordion: the question, its answer inside)
    becomes a heading one level below the heading before it, so the answer's section names its question;
    it ran on into the answer: "Can I cancel my order?Yes, within 1 hour"."""
    for tag in soup.find_all("summary"):
        title = " ".join(tag.get_text(" ").split())
        above = tag.find_previous(re.compile(r"^h[1-6]$"))
        level = min(int(above.name[1]) + 1, 6) if above is not None else 2
        tag.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")


def _html_mark(item: Tag, counted: dict[int, dict[int, int]]) -> str:
    """An item's mark: "- ", or its number in an ordered list ("3.", "c.", "iv."; `start`, `type`,
    `value` and `reversed` as a browser counts them), so "step 3" names the third step. Each list is
    counted once, into `counted`: counted again for each of its items, a list of 5,000 steps took 20 s."""
    parent = item.parent
    if parent is None or parent.name != "ol":
        return "-"
    if id(parent) not in counted:
        items = parent.find_all("li", recursive=False)
        step = -1 if parent.has_attr("reversed") else 1
        number, numbers = _html_int(parent.get("start"), len(items) if step < 0 else 1), {}
        for li in items:
            number = _html_int(li.get("value"), number)
            numbers[id(li)] = number
            number += step
        counted[id(parent)] = numbers
    number = counted[id(parent)].get(id(item), 1)
    kind = str(item.get("type") or parent.get("type") or "1")
    return f"{list_number(number, _HTML_LIST_TYPES.get(kind, 'decimal'))}."


_HTML_LIST_TYPES = {"1": "decimal", "a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman"}


def _html_int(value: object, default: int) -> int:
    try:
        return int(str(value).strip()) if value is not None else default
    except ValueError:
        return default


def list_number(n: int, fmt: str) -> str:
    """A list item's number as its list writes it: 3 as "3", "c", "C", "iii" or "III"."""
    if fmt in ("lowerLetter", "upperLetter") and n > 0:
        letters = ""
        while n > 0:
            n, rest = divmod(n - 1, 26)
            letters = chr(ord("a") + rest) + letters
        return letters if fmt == "lowerLetter" else letters.upper()
    if fmt in ("lowerRoman", "upperRoman") and 0 < n < 4000:
        roman = ""
        for value, numeral in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                               (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
            count, n = divmod(n, value)
            roman += numeral * count
        return roman if fmt == "lowerRoman" else roman.upper()
    return str(n)


TABLE_GROWTH = 16  # a table's records may be this many times its text (names repeat in every row)


def table_records(names: list[str], rows: list[list[str | None]], source: int) -> list[str]:
    """Each row as one paragraph of "name: value" fields joined by "; " — the one writer of records, for CSV
    files and Markdown, HTML, DOCX and PDF tables: an empty name (or a cell past the names) is "column N",
    N its place in the row, an empty value (or None, the rest of a cell spanning columns) is left out, a
    row without values is dropped. No records (the caller keeps the table's "a | b" lines) when they would
    pass TABLE_GROWTH times `source`, the length of the table's text, and 1 MB: a long header over many
    short rows."""
    records, budget = [], max(1 << 20, TABLE_GROWTH * source)
    for row in rows:
        pairs = [f"{names[i] if i < len(names) and names[i] else f'column {i + 1}'}: {value}"
                 for i, value in enumerate(row) if value]
        budget -= sum(len(pair) + 2 for pair in pairs)
        if budget < 0:
            return []
        if pairs:
            records.append("; ".join(pairs))
    return records


_CELLS = ("td", "th")
MAX_COLSPAN = 64  # a cell's colspan past this counts as this many columns
MAX_COLUMNS = 256  # a table wider than this (spans pushing cells right) keeps its "a | b" lines


def _own(tag: Tag, stop: tuple[str, ...]) -> Iterator[PageElement]:
    """The nodes inside `tag`, not descending into elements named in `stop` (those are yielded). Walked
    with a stack: html.parser nests unclosed cells and rows (`<td>a<td>b`) as deep as a table is long."""
    stack = list(reversed(tag.contents))
    while stack:
        node = stack.pop()
        yield node
        if getattr(node, "name", None) and node.name not in stop:
            stack.extend(reversed(node.contents))


def _own_text(tag: Tag, stop: tuple[str, ...]) -> str:
    from bs4 import CData, NavigableString

    return " ".join(" ".join(str(n) for n in _own(tag, stop) if type(n) in (NavigableString, CData)).split())


def _span(cell: Tag, name: str, limit: int) -> int:
    try:
        return max(1, min(limit, int(str(cell.get(name, 1)))))
    except ValueError:
        return 1


def _html_grid(rows: list[list[Tag]]) -> list[list[tuple[str, bool]]] | None:
    """The table's cells by row and column: a cell spanning rows repeats in the rows below, a cell spanning
    columns fills them, marked False after its first column (a header names them all, a value is given
    once). None past MAX_COLUMNS columns."""
    grid: list[list[tuple[str, bool]]] = []
    below: dict[int, tuple[str, bool, int]] = {}  # column -> (text, first, rows left) of a cell spanning rows
    for cells in rows:
        line: list[tuple[str, bool]] = []
        queue = list(reversed(cells))
        while queue or any(col >= len(line) for col in below):
            col = len(line)
            if col in below:
                text, first, left = below.pop(col)
                if left > 1:
                    below[col] = (text, first, left - 1)
                line.append((text, first))
            elif not queue:
                line.append(("", False))
            else:
                cell = queue.pop()
                text, wide, high = _own_text(cell, _CELLS), _span(cell, "colspan", MAX_COLSPAN), \
                    _span(cell, "rowspan", len(rows))
                for n in range(wide):
                    line.append((text, n == 0))
                    if high > 1:
                        below[col + n] = (text, n == 0, high - 1)
            if len(line) > MAX_COLUMNS:
                return None
        grid.append(line)
    return grid


_BOLD = ("b", "strong")


def _bold(cell: Tag) -> bool:
    """A <td> all of whose text is inside <b> or <strong>: a name written as a bold cell."""
    from bs4 import NavigableString

    texts = [n for n in _own(cell, _CELLS) if type(n) is NavigableString and n.strip()]
    return bool(texts) and all(any(p.name in _BOLD for p in _up_to(n, cell)) for n in texts)


def _up_to(node: PageElement, cell: Tag) -> Iterator[Tag]:
    parent = node.parent
    while parent is not None and parent is not cell:
        yield parent
        parent = parent.parent


def _heading_row(tr: Tag, cells: list[Tag], bold: bool = True) -> bool:
    """A row naming the columns: in <thead>, all <th> cells, or (when `bold`: no row of names above it)
    <th> and bold <td> cells (empty ones aside) of which at least two hold text."""
    if not cells:
        return False
    if tr.parent.name == "thead" or all(c.name == "th" for c in cells):
        return True
    if not bold:  # a bold first body row under the names (a highlighted item) is a row, not more names
        return False
    named = [c for c in cells if c.name == "th" or _bold(c)]
    return any(c.name == "td" for c in named) and len(named) >= 2 and \
        all(c in named or not _own_text(c, _CELLS) for c in cells)


def _key_value(table: Tag, cells: list[list[Tag]]) -> list[str] | None:
    """A table whose names run down its first column (each row "<th>Price</th><td>40 EUR</td>", or a bold
    <td> first) as records by column: one for a key/value table ("Price: 40 EUR; Seats: 5"). None when a
    row is not a name then values."""
    rows = [row for row in cells if row]
    if not rows or any(len(row) < 2 or not (row[0].name == "th" or _bold(row[0]))
                       or any(c.name != "td" for c in row[1:]) for row in rows):
        return None
    grid = _html_grid(rows)
    if grid is None:
        return None
    names = [line[0][0] for line in grid]
    if not any(names):  # empty name cells would read "column 1", "column 2": rows, not columns
        return None
    columns = [[line[col][0] if col < len(line) else None for line in grid]
               for col in range(1, max(map(len, grid)))]
    return table_records(names, columns, len(table.get_text()))


def _html_table_text(table: Tag) -> str | None:
    """A table as records, one paragraph a body row ("Benefit: Commuter benefit; Details: Pre-tax ..."),
    after its caption; a table whose names run down its first column one paragraph a value column, after
    its caption and title rows (one cell each), as a table with names above its columns puts its title rows
    before its records, not into every column's name. None for a table with neither a header row (see
    `_heading_row`) nor a name column, or with no body row: it keeps its "a | b" lines."""
    rows = table.find_all("tr")
    cells = [[n for n in _own(tr, ("tr",)) if getattr(n, "name", None) in _CELLS] for tr in rows]
    heads = 0
    single = True  # no header, or titles (rows of one cell) over a key/value table
    while heads < len(rows) and _heading_row(rows[heads], cells[heads], bold=single):
        single = single and len(cells[heads]) == 1
        heads += 1
    records = _key_value(table, cells[heads:]) if single else None
    titles = [_own_text(row[0], _CELLS) for row in cells[:heads]] if records else []
    if not records and heads:
        lead = next((i for i in range(heads) if len(cells[i]) > 1), 0)  # title rows above the names
        titles = [_own_text(row[0], _CELLS) for row in cells[:lead]]
        grid = _html_grid(cells[lead:])
        if grid is None:
            return None
        heads -= lead
        names = [" ".join(dict.fromkeys(line[col][0] for line in grid[:heads] if col < len(line) and line[col][0]))
                 for col in range(max(map(len, grid[:heads]), default=0))]
        body = [[text if first else None for text, first in line] for line in grid[heads:]]
        records = table_records(names, body, len(table.get_text())) if any(names) else None
    if not records:
        return None
    caption = _own_text(table, _CELLS)  # <caption> and any text outside the cells
    return "\n\n".join(part for part in [caption, *titles, *records] if part)


def _html_tables(soup: Tag) -> None:
    """Replace each table holding a header row with its records. A table holding another table is layout
    (a page's columns): it is read as before, its cells "a | b", while the tables inside it become records."""
    from bs4 import NavigableString

    for table in soup.find_all("table"):
        if table.find("table") is None:
            text = _html_table_text(table)
            if text is not None:
                table.replace_with(NavigableString(f"\n\n{text}\n\n"))


def _html_definitions(lists: list[Tag]) -> None:
    """Replace each definition list with one "term: definition" line per definition, as a record's field
    reads ("Extended warranty: Available for 29 EUR per year"): read as blocks, a term and its
    definition were two paragraphs, and the definition lost what it defines. Terms given together share
    their definitions ("A, B: both"), and each of a term's definitions is said of it; a list holding
    no <dt> or <dd> (HTML allows them inside <div>s) is left as it is. `lists` in document order."""
    from bs4 import NavigableString

    for dl in reversed(lists):  # inner lists first: an outer list finds only its own items
        items = dl.find_all(["dt", "dd"])
        if not items:
            continue
        lines: list[str] = []
        terms: list[str] = []
        defined = False  # whether `terms` has a definition yet
        for item in items:
            said = " ".join(item.get_text(" ").split())
            if item.name == "dt":
                if defined:
                    terms, defined = [], False
                terms += [said] if said else []
            elif said:
                lines.append(f"{', '.join(terms)}: {said}" if terms else said)
                defined = True
        lines += [", ".join(terms)] if terms and not defined else []  # a term without a definition
        dl.replace_with(NavigableString("\n\n" + "\n\n".join(lines) + "\n\n"))


def read_pdf(data: bytes) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings would repeat our one-line reason
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractError("encrypted PDF; decrypt it first")
        pages = [_pdf_page_text(page).strip() for page in reader.pages]
    except ExtractError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ExtractError(f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(pages):
        raise ExtractError("PDF holds no extractable text (scanned images need OCR first)")
    # Pages are separated by form feeds, so a chunk stays on one page; a page's lines stay as pypdf
    # extracted them, but for running headers and footers and words hyphenated at a line's end.
    pages = _drop_running_lines(pages)
    compounds = {word.casefold() for page in pages for word in _COMPOUND.findall(page)}
    return "\f".join(_dehyphenate(page, compounds) for page in pages)


def _pdf_page_text(page: PageObject) -> str:
    """The page's text as pypdf extracts it, with each table (lines of cells starting under the cells
    of a first line of names) written as records of those names, as a DOCX table's rows are, each
    heading (a short line set larger than the page's text, or in bold) as a Markdown heading, and a blank
    line where the lines leave a wider gap than they do within a paragraph."""
    lines: list[list[tuple[float, str]]] = [[]]  # each line's pieces of text and where they start
    styles: list[list[tuple[float, bool, int]]] = [[]]  # and their size, boldness and length
    tops: list[float | None] = [None]  # and how high on the page it stands

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        bold = bool(_BOLD_FONT.search(str(font.get("/BaseFont", "")))) if isinstance(font, dict) else False
        scale = abs(tm[3] * cm[3]) or 1.0  # "1 Tf" and a matrix scaling it to 12 points is 12 points
        for n, part in enumerate(text.split("\n")):
            if n:
                lines.append([])
                styles.append([])
                tops.append(None)
            if part:
                lines[-1].append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4], part))
            if part.strip():
                styles[-1].append((round(size * scale, 1), bold, len(part.strip())))
                tops[-1] = tm[4] * cm[1] + tm[5] * cm[3] + cm[5] if tops[-1] is None else tops[-1]

    text = page.extract_text(visitor_text=visit) or ""
    raw = ["".join(part for _, part in line) for line in lines]
    if "\n".join(raw) != text:  # the pieces are not the text: leave it as it is
        return text
    tables = _pdf_tables([[(x, part.strip()) for x, part in line if part.strip()] for line in lines])
    in_tables = {n for first, end, _ in tables for n in range(first, end)}
    raw = _pdf_paragraphs(_pdf_headings(raw, styles, in_tables), tops)
    out, done = [], 0
    for first, end, records in tables:
        out += [*raw[done:first], "", "\n\n".join(records), ""]
        done = end
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out + raw[done:]))


def _pdf_paragraphs(raw: list[str], tops: list[float | None]) -> list[str]:
    """The lines with a blank line before each that stands further below the one before than lines of a
    paragraph do (a fifth more than the page's commonest gap, 2 points at least): paragraphs, which a PDF
    does not mark, so a sentence ending one does not run on into the next ("…by itself. Home means …")."""
    placed = [(n, top) for n, top in enumerate(tops) if top is not None and raw[n].strip()]
    gaps = [(n, above - top) for (_, above), (n, top) in zip(placed, placed[1:], strict=False)]
    common = collections.Counter(round(gap) for _, gap in gaps if gap > 0).most_common(1)
    if not common:
        return raw
    line_gap = common[0][0]
    wide = {n for n, gap in gaps if gap > max(line_gap * 1.2, line_gap + 2)}
    return [f"\n{line}" if n in wide else line for n, line in enumerate(raw)]


_BOLD_FONT = re.compile(r"bold|black|heavy|demi|semibold", re.I)
_HEADING_WORDS = 12  # a heading is a short line; a longer one in bold is an emphasised sentence


def _pdf_headings(raw: list[str], styles: list[list[tuple[float, bool, int]]], skip: set[int]) -> list[str]:
    """The page's lines with each heading written as Markdown's: a line of one style, of a dozen words at
    most, not ending as a sentence or clause does, set 1.4 times the page's commonest size or more ("#"),
    1.12 times ("##"), or in bold at that size ("###"); a heading wrapped over lines is one heading."""
    sizes: collections.Counter[float] = collections.Counter()
    for line in styles:
        for size, _, chars in line:
            sizes[size] += chars
    if not sizes:
        return raw
    body = sizes.most_common(1)[0][0]
    out: list[str] = []  # as many lines as `raw`: the tables' lines are counted in it
    last, heading = "", -1
    for n, line in enumerate(raw):
        words = line.split()
        kinds = {(size, bold) for size, bold, _ in styles[n]}
        level = ""
        if n not in skip and len(kinds) == 1 and 0 < len(words) <= _HEADING_WORDS and \
                re.search(r"[^\W\d_]", line) and not re.search(r"[.,;:]$", line.strip()):
            (size, bold), = kinds
            ratio = size / body
            level = "#" if ratio >= 1.4 else "##" if ratio >= 1.12 else "###" if bold and ratio >= 1 else ""
        if level and last == level:
            out[heading] += " " + " ".join(words)  # the heading's second line
            out.append("")
        else:
            out.append(f"{level} {' '.join(words)}" if level else line)
            heading = n if level else heading
        last = level
    return out


_CELL_ALIGN_PT = 2.0  # how far apart the starts of one column's cells may be
# A clause's or list item's number, hanging in the margin: "7.2", "4.2.1", "3.", "(a)", "iv)", "•".
_LIST_MARK = re.compile(r"(\d+\.)+\d*|\d+\)|\(?(\d+|[a-z]|[ivx]+)\)|[•·▪◦–-]", re.I)
_TABLE_NAME_WORDS = 5  # a column name is short: two columns of prose side by side are no table


def _pdf_cells(names: list[tuple[float, str]], line: list[tuple[float, str]]) -> list[str | None] | None:
    """The line's cells under the names' columns (None: an empty cell), or None when a piece starts under
    no column."""
    cells: list[str | None] = [None] * len(names)
    last = -1
    for x, piece in line:
        column = next((k for k, (start, _) in enumerate(names) if abs(start - x) <= _CELL_ALIGN_PT), -1)
        if column <= last:
            return None
        cells[column], last = piece, column
    return cells


def _pdf_row(names: list[tuple[float, str]], line: list[tuple[float, str]]) -> list[str | None] | None:
    """The line's cells, or None when it is no row: fewer than two cells, or a piece under no column."""
    cells = _pdf_cells(names, line)
    return cells if cells and len(line) >= 2 else None


def _pdf_wrapped(names: list[tuple[float, str]], line: list[tuple[float, str]]) -> list[str | None] | None:
    """The line's cells when it holds the rest of the row above's cells, wrapped: the first column empty,
    one cell filled or fewer than half ("", "building sum insured", "", ""); else None."""
    cells = _pdf_cells(names, line)
    filled = sum(cell is not None for cell in cells or [])
    return cells if cells and cells[0] is None and (filled == 1 or 2 * filled < len(cells)) else None


def _pdf_tables(lines: list[list[tuple[float, str]]]) -> list[tuple[int, int, list[str]]]:
    """(first, end, records) of the tables among a page's lines: a line of two or more short names
    and two rows or more below it, each of two or more cells starting where the names do (a line of
    cells wrapped from the row above goes on with that row's cells)."""
    tables, i = [], 0
    while i < len(lines):
        names, end = lines[i], i + 1
        if len(names) >= 2 and all(len(name.split()) <= _TABLE_NAME_WORDS for _, name in names):
            while end < len(lines) and (_pdf_row(names, lines[end]) is not None
                                        or end > i + 1 and _pdf_wrapped(names, lines[end]) is not None):
                end += 1
        rows: list[list[str | None]] = []
        for line in lines[i + 1 : end]:
            wrapped = _pdf_wrapped(names, line) if rows else None
            if wrapped is None:
                rows.append(_pdf_row(names, line) or [])
            else:
                rows[-1] = [a if b is None else b if a is None else f"{a} {b}" for a, b in zip(rows[-1], wrapped,
                                                                                               strict=True)]
        if all(row and row[0] and _LIST_MARK.fullmatch(row[0]) for row in [[names[0][1]], *rows]):
            rows = []  # numbered clauses, each number hanging in the margin: no names over rows
        source = sum(len(piece) for line in lines[i:end] for _, piece in line)
        records = table_records([name for _, name in names], rows, source) if rows and end - i >= 3 else []
        if records:
            tables.append((i, end, records))
        i = end if records else i + 1
    return tables


_EDGE_LINES = 3  # where a running header or footer sits: a page's first and last lines
_RUNNING_PAGES = 3  # a running line repeats on this many pages at least


def _running_key(line: str) -> str:
    """A line as it repeats from page to page: its numbers ("Page 3 of 12") and spacing aside."""
    return re.sub(r"\d+", "#", " ".join(line.split()).casefold())


def _edge_lines(lines: list[str]) -> set[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:])


def _numbered_alike(found: list[tuple[int, list[str]]]) -> bool:
    """Whether the numbers of a line repeated on these pages are a running line's: each the same on every
    page or going up with the pages ("Page 3 of 12" on the third page), not a table's figures ("Total:
    120 EUR", "Total: 75 EUR") that differ as they will."""
    pages = [page for page, _ in found]
    for column in zip(*(numbers for _, numbers in found), strict=True):
        if len(set(column)) == 1:
            continue
        if any(len(value) > 9 for value in column) or \
                len({int(value) - page for page, value in zip(pages, column, strict=True)}) > 1:
            return False
    return True


def _drop_running_lines(pages: list[str]) -> list[str]:
    """Pages without the header and footer lines they repeat (on half the pages, three at least: on
    two, "Part 1" and "Part 2" may be headings, a short "Yes" a table's last cell; their numbers alike,
    `_numbered_alike`), each kept once, on
    the first page that has it: repeated, they outweighed a page's own text in its chunks."""
    split = [page.split("\n") for page in pages]
    edges = [_edge_lines(lines) for lines in split]
    found: dict[str, list[tuple[int, list[str]]]] = collections.defaultdict(list)  # key: (page, its numbers)
    for page, (lines, edge) in enumerate(zip(split, edges, strict=True)):
        for i in sorted(edge):
            key = _running_key(lines[i])
            if not found[key] or found[key][-1][0] != page:  # a page counts once, with its first such line
                found[key].append((page, re.findall(r"\d+", lines[i])))
    running = {key for key, pages_found in found.items()
               if len(pages_found) * 2 >= len(pages) and len(pages_found) >= _RUNNING_PAGES
               and _numbered_alike(pages_found)}
    seen: set[str] = set()
    out = []
    for lines, edge in zip(split, edges, strict=True):
        kept = []
        for i, line in enumerate(lines):
            key = _running_key(line) if i in edge else None
            if key in running:
                if key in seen:
                    continue
                seen.add(key)
            kept.append(line)
        out.append("\n".join(kept).strip())
    return out


_COMPOUND = re.compile(r"[^\W\d_]+-[^\W\d_]+")  # "well-known" within a line
_BROKEN = re.compile(r"([^\W\d_]+)-[ \t]*\n[ \t]*([a-z][^\W\d_]*)")  # "car-\nried", "well-\nknown"


def _dehyphenate(page: str, compounds: set[str]) -> str:
    """A word hyphenated across lines is whole again ("car-\nried" is "carried"), but for a compound the
    document writes with its hyphen within a line too (`compounds`, lower case: "well-\nknown" is
    "well-known" where "well-known" is written elsewhere); a hyphen before a capital or a digit ("Wi-\nFi",
    "COVID-\n19") stays, the line break dropped."""
    page = _BROKEN.sub(lambda m: "-".join(m.groups()) if "-".join(m.groups()).casefold() in compounds
                       else "".join(m.groups()), page)
    return re.sub(r"(?<=\w)-[ \t]*\n[ \t]*(?=[A-Z0-9])", "-", page)


def read_docx(data: bytes) -> str:
    import zipfile

    import docx

    _check_docx_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractError(f"unreadable DOCX ({exc})") from exc
    parts: list[str] = []
    marks = _DocxLists(document)
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(child, document)
            text = paragraph.text.strip()
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            level = re.fullmatch(r"Heading (\d)", style)
            if style == "Title" or level:
                marks.restart()  # numbered steps under a new heading count from 1 again
                parts.append(f"{'#' * (min(6, int(level.group(1))) if level else 1)} {text}")
            elif (mark := marks.mark(paragraph)) or style.startswith("List"):
                parts.append(f"{mark or '-'} {text}")  # a list's item reads as one, a numbered one with its number
            else:
                parts.append(text)
        elif tag == "tbl":
            parts += _docx_tables(docx.table.Table(child, document))
    return "\n\n".join(parts)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class _DocxLists:
    """The marks Word shows before list paragraphs: "-" for a bullet, the item's number for a numbered
    list ("4.", "b)", "2.1."), from the paragraph's or its style's numbering and the document's
    numbering definitions. Counters run per list as in Word, but restart at each heading: a generated
    document (python-docx's "List Number") puts every numbered list of the file in one list."""

    def __init__(self, document: object) -> None:
        self.formats: dict[str, dict[int, tuple[str, int, str]]] = {}  # numId -> level -> (format, start, text)
        self.counters: dict[str, list[int | None]] = {}
        try:
            root = document.part.numbering_part.element  # type: ignore[attr-defined]
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract = {a.get(f"{_W}abstractNumId"): self._levels(a) for a in root.iter(f"{_W}abstractNum")}
        for num in root.iter(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            levels = dict(abstract.get(ref.get(f"{_W}val") if ref is not None else None, {}))
            for override in num.iter(f"{_W}lvlOverride"):
                start = override.find(f"{_W}startOverride")
                level = _int(override.get(f"{_W}ilvl"), 0)
                if start is not None and level in levels:
                    fmt, _, text = levels[level]
                    levels[level] = (fmt, _int(start.get(f"{_W}val"), 1), text)
            self.formats[num.get(f"{_W}numId")] = levels

    @staticmethod
    def _levels(element: object) -> dict[int, tuple[str, int, str]]:
        levels = {}
        for lvl in element.iter(f"{_W}lvl"):  # type: ignore[attr-defined]
            fmt, start, text = (lvl.find(f"{_W}{name}") for name in ("numFmt", "start", "lvlText"))
            levels[_int(lvl.get(f"{_W}ilvl"), 0)] = (
                fmt.get(f"{_W}val") if fmt is not None else "decimal",
                _int(start.get(f"{_W}val"), 1) if start is not None else 1,
                text.get(f"{_W}val") if text is not None else "")
        return levels

    def restart(self) -> None:
        self.counters.clear()

    def mark(self, paragraph: object) -> str:
        """The paragraph's list mark, "" when it is no list item."""
        num_id, level = self._numbering(paragraph)
        if num_id is None or num_id == "0":
            return ""
        levels = self.formats.get(num_id, {})
        fmt, start, text = levels.get(level, ("bullet", 1, ""))
        if fmt in ("bullet", "none") or not text:
            return "-" if fmt != "none" else ""
        counters = self.counters.setdefault(num_id, [None] * 9)
        level = min(max(level, 0), 8)
        counters[level] = start if counters[level] is None else counters[level] + 1  # type: ignore[operator]
        counters[level + 1:] = [None] * (8 - level)

        def shown(match: re.Match) -> str:
            k = int(match.group(1)) - 1
            k_fmt, k_start, _ = levels.get(k, ("decimal", 1, ""))
            value = counters[k] if 0 <= k < 9 and counters[k] is not None else k_start
            return list_number(value, k_fmt)  # type: ignore[arg-type]

        return re.sub(r"%([1-9])", shown, text).strip() or "-"

    @staticmethod
    def _numbering(paragraph: object) -> tuple[str | None, int]:
        """(numId, level) of the paragraph's own numbering, else of its style's (and the styles it is based on)."""
        sources = [paragraph._p.pPr]  # type: ignore[attr-defined]
        style = paragraph.style  # type: ignore[attr-defined]
        while style is not None and len(sources) < 10:
            sources.append(style.element.pPr)
            style = style.base_style
        num_id, level = None, None
        for ppr in sources:
            numpr = ppr.numPr if ppr is not None else None
            if numpr is None:
                continue
            if num_id is None and numpr.numId is not None:
                num_id = str(numpr.numId.val)
            if level is None and numpr.ilvl is not None:
                level = int(numpr.ilvl.val)
        return num_id, level or 0


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _docx_tables(table: docx.table.Table) -> list[str]:
    """A table's text, then that of the tables inside its cells (python-docx's cell text leaves them out).
    The first row names the columns: each further row is a record ("Tool: Dropbox; Allowed: no, use ...").
    A table of one row, or whose first row is empty, keeps its "a | b" lines."""
    parts, todo = [], [table]
    while todo:
        table = todo.pop(0)
        rows = [row.cells for row in table.rows]
        lines, records = "\n".join(" | ".join(c.text.strip() for c in row) for row in rows), []
        if len(rows) > 1 and any(cell.text.strip() for cell in rows[0]):
            records = table_records([" ".join(cell.text.split()) for cell in rows[0]],
                                    [_docx_values(row, rows[0]) for row in rows[1:]], len(lines))
        parts.append("\n\n".join(records) or lines)
        cells = {cell._tc: cell for row in rows for cell in row}.values()  # a merged cell once
        todo += [inner for cell in cells for inner in cell.tables]
    return parts


def _docx_values(row: list, header: list) -> list[str | None]:
    """A row's values by column. python-docx gives a merged cell once per column it spans and again in
    the rows it spans: the value is given once in its row (under its first column's name) and repeats in
    the rows below, except a header cell merged down, which is no value."""
    values: list[str | None] = []
    for col, cell in enumerate(row):
        spanned = col > 0 and cell._tc is row[col - 1]._tc
        heading = col < len(header) and cell._tc is header[col]._tc
        values.append(None if spanned or heading else " ".join(cell.text.split()))
    return values


def _check_docx_size(data: bytes) -> None:
    """Refuse a DOCX whose XML unpacks to more than MAX_DOCX_XML_BYTES (a "zip bomb"), before parsing.
    zipfile never inflates a member past its declared size, so the declared sizes are the bound."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = [i for i in archive.infolist() if i.filename.lower().endswith((".xml", ".rels"))]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractError(f"unreadable DOCX ({exc})") from exc
    unpacked = sum(i.file_size for i in parts)
    packed = sum(i.compress_size for i in parts)
    if unpacked > MAX_DOCX_XML_BYTES:
        raise ExtractError(f"DOCX unpacks to {unpacked >> 20} MB of XML, more than the "
                           f"{MAX_DOCX_XML_BYTES >> 20} MB limit; split the document")
    if unpacked > (1 << 20) and unpacked > MAX_DOCX_RATIO * max(1, packed):
        raise ExtractError(f"DOCX XML is compressed {unpacked // max(1, packed)}:1 (more than "
                           f"{MAX_DOCX_RATIO}:1): refusing a likely zip bomb")


def read_csv(data: bytes) -> str:
    text = _plain(data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise ExtractError("CSV holds no rows")
    # Each row becomes a record of "column: value" fields, so a chunk keeps its column names; a file of
    # names only, or whose records would be too large, keeps its rows as "a | b" lines.
    names, body = [name.strip() for name in rows[0]], [[cell.strip() for cell in row] for row in rows[1:]]
    return "\n\n".join(table_records(names, body, len(text))) or "\n".join(" | ".join(row) for row in rows)


def read_json(data: bytes) -> str:
    try:
        value = json.loads(_plain(data))
    except json.JSONDecodeError as exc:
        # JSON Lines: one value per line.
        value, lines = [], _plain(data).splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value.append(json.loads(line))
            except json.JSONDecodeError as bad:  # a JSON Lines file's bad line, not what the whole file's parse says
                where, why = (number, bad.msg) if value else (exc.lineno, exc.msg)  # ("line 2: Extra data")
                raise ExtractError(f"invalid JSON (line {where}: {why})") from exc
    paragraphs: list[str] = []
    _flatten_json(value, [], paragraphs)
    return "\n\n".join(paragraphs)


def _flatten_json(value: object, path: list[str], out: list[str]) -> None:
    """Objects of scalars become one paragraph of `key: value` lines; nesting becomes key paths."""
    if isinstance(value, dict):
        scalars = [(k, v) for k, v in value.items() if not isinstance(v, dict | list)]
        if scalars:
            prefix = ".".join(path)
            lines = [f"{k}: {v}" for k, v in scalars if v not in (None, "")]
            out.append((f"{prefix}\n" if prefix else "") + "\n".join(lines))
        for k, v in value.items():
            if isinstance(v, dict | list):
                _flatten_json(v, [*path, str(k)], out)
    elif isinstance(value, list):
        if value and all(not isinstance(v, dict | list) for v in value):
            out.append((".".join(path) + ": " if path else "") + ", ".join(str(v) for v in value))
        else:
            for item in value:
                _flatten_json(item, path, out)
    elif value not in (None, ""):
        out.append((".".join(path) + ": " if path else "") + str(value))


READERS: dict[str, tuple[str, Callable[[bytes], str]]] = {
    ".txt": ("txt", read_txt),
    ".text": ("txt", read_txt),
    ".md": ("md", read_md),
    ".markdown": ("md", read_md),
    ".html": ("html", read_html),
    ".htm": ("html", read_html),
    ".pdf": ("pdf", read_pdf),
    ".docx": ("docx", read_docx),
    ".csv": ("csv", read_csv),
    ".json": ("json", read_json),
    ".jsonl": ("json", read_json),
}

SUPPORTED = tuple(sorted(READERS))

# A reader whose text changed says so here, by a number raised with each change: a file ingested by an
# older reader is read again by the next ingest or reindex although the file did not change, and a file
# of another type is not (its chunks would come out the same, and embedding them again costs time).
# 2: HTML tables write records of their column names (a <th> row, a first row of bold cells, or names
# down the first column), as DOCX tables do: both were "a | b" lines.
# 2 (.md): a `# comment` in a fenced code block is no heading, and "### Q2" after "### Q1" is no subsection
# of it when a level was skipped; 3: nor is a line of YAML above a "---" in one. Not raised for a FAQ's
# <summary> read as a heading (<details> lines dropped, <br> a line break): few files hold them, and every
# Markdown file of every tenant would be embedded again; such a file is read so when it changes.
# Nor for blockquote marks ("> ", GitHub's "[!NOTE]") and inline HTML (<kbd>, <b>, <a href>) dropped from
# Markdown, for the same reason.
# 2 (.pdf): running headers and footers kept once, hyphenated words whole; 3: tables are records; 4: but
# not clauses whose numbers hang in the margin ("7.2  vermin, insects or termites;": no column names); 5:
# headings (lines set larger than the text, or in bold) are Markdown headings, so chunks name their section;
# 6: a wider gap between lines is a paragraph break, and a heading over two lines no longer shifts a table.
# 7: a table's cell wrapped onto a line of its own stays in its row (it ended the table).
# 6 (.html): a <details>'s <summary> is a heading (a FAQ's question), a <button> a line of its own.
# 7 (.html): the page's <footer> goes under its first heading again, not in its last section.
# Not raised for a page's <header> of links alone, now dropped as <nav> is: one short passage of a page's
# banner does little harm, and every HTML file of every tenant would be embedded again; a page is read so
# when it changes.
# 3 (.docx): a list's paragraphs are "- " items (they read as plain paragraphs); 4 (.html): so are <li>.
# 4 (.docx), 5 (.html): a numbered list's items keep their numbers ("4. Set the NameID format"), not "- ".
# 2 (.txt): headings typed as plain text ("2. UPTIME COMMITMENT", an underlined line) are headings, a table
# typed with aligned columns is records (under a rule line) or "a | b" rows; 3: so are cells apart by tabs
# (a table pasted from a spreadsheet), under their names line; 4: and aligned rows under a names line without
# digits, with no rule; 5: a table with "|" between its cells over a rule of dashes (a cell wrapped onto the
# next line kept in its row), and a line of "Name: value" fields apart by runs of spaces, are records.
# Not raised for a table of Chinese (Japanese, Korean) text aligned by screen columns, now a table: few files
# hold one, and every text file of every tenant would be embedded again; a file is read so when it changes.
# 2 (.csv): records by `table_records`: an empty value is left out ("phone: " was written), a cell past the
# names is "column N: value" (was the bare value). Markdown is not raised: its records are the same but for
# a table passing TABLE_GROWTH and 1 MB, now its "a | b" lines, and re-reading every Markdown file of every
# tenant to find one would re-embed them all for nothing.
READER_VERSIONS: dict[str, int] = {
    ".html": 7, ".htm": 7, ".docx": 4, ".txt": 5, ".md": 3, ".markdown": 3, ".pdf": 7, ".csv": 2,
}


def reader_version(path: Path) -> str:
    """What a document's chunking signature adds for its reader: "" for a reader never changed."""
    version = READER_VERSIONS.get(path.suffix.lower())
    return f":reader={version}" if version else ""


def unsupported_reason(path: Path) -> str:
    return f"unsupported file type {path.suffix.lower() or '(none)'}; supported: {', '.join(SUPPORTED)}"


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def extract(path: Path, data: bytes) -> Extracted:
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise ExtractError(unsupported_reason(path))
    fmt, reader = READERS[suffix]
    if not data:
        raise ExtractError("empty file")
    text = reader(data)
    if not text.strip():
        raise ExtractError("no text found in the file")
    return Extracted(text=text, format=fmt, paged=fmt == "pdf")
