"""Turn a file into text: headings as Markdown `#` lines, paragraphs separated by blank lines, PDF pages
separated by form feeds. Each reader raises `ExtractError` with a reason a person can act on."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ExtractError(Exception):
    """A file that cannot be read; the message is the reason."""


@dataclass(frozen=True)
class Extracted:
    text: str
    format: str
    paged: bool = False


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM, or UTF-16 with BOM), else the detected encoding."""
    if not data.strip():
        raise ExtractError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
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
    if "\x00" in text or _control_ratio(text) > 0.05:
        raise ExtractError("binary data, not text")
    return text


def _control_ratio(text: str) -> float:
    sample = text[:20000]
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bad / max(1, len(sample))


def _plain(data: bytes) -> str:
    return decode(data).replace("\r\n", "\n").replace("\r", "\n")


def read_txt(data: bytes) -> str:
    return _plain(data)


def read_md(data: bytes) -> str:
    text = _plain(data)
    # Setext headings ("Title\n=====") become ATX headings the chunker knows.
    text = re.sub(r"^(\S[^\n]*)\n=+[ \t]*$", r"# \1", text, flags=re.M)
    text = re.sub(r"^(\S[^\n]*)\n-+[ \t]*$", r"## \1", text, flags=re.M)
    # Drop YAML front matter.
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)


_BLOCK_TAGS = (
    "p", "div", "li", "tr", "br", "pre", "blockquote", "section", "article", "table", "ul", "ol",
    "dt", "dd", "figcaption", "header", "footer", "main", "aside",
)


def read_html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_plain(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            title = " ".join(tag.get_text(" ").split())
            tag.replace_with(f"\n\n{'#' * level} {title}\n\n" if title else "")
    for tag in soup.find_all(["td", "th"]):
        tag.append(" | ")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.append("\n\n")
    root = soup.body or soup
    lines = [" ".join(line.split()) for line in root.get_text().split("\n")]
    text = "\n".join(line.rstrip(" |") for line in lines)
    title = soup.title.get_text(" ").strip() if soup.title else ""
    if title and not re.search(r"^# ", text, flags=re.M):
        text = f"# {title}\n\n{text}"
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read_pdf(data: bytes) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings would repeat our one-line reason
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractError("encrypted PDF; decrypt it first")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except ExtractError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ExtractError(f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(pages):
        raise ExtractError("PDF holds no extractable text (scanned images need OCR first)")
    # Lines inside a page are joined into paragraphs; blank lines stay paragraph breaks.
    return "\f".join(pages)


def read_docx(data: bytes) -> str:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractError(f"unreadable DOCX ({exc})") from exc
    parts: list[str] = []
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
            if style == "Title":
                parts.append(f"# {text}")
            elif level:
                parts.append(f"{'#' * min(6, int(level.group(1)))} {text}")
            else:
                parts.append(text)
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
            parts.append("\n".join(rows))
    return "\n\n".join(parts)


def read_csv(data: bytes) -> str:
    text = _plain(data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise ExtractError("CSV holds no rows")
    header, body = rows[0], rows[1:]
    if not body:
        return " | ".join(header)
    # Each row becomes a paragraph of "column: value" pairs, so a chunk keeps its column names.
    lines = []
    for row in body:
        cells = enumerate(zip(header, row, strict=False))
        pairs = [f"{h.strip() or f'column {i + 1}'}: {v.strip()}" for i, (h, v) in cells]
        pairs += [v.strip() for v in row[len(header):] if v.strip()]
        lines.append("; ".join(pairs))
    return "\n\n".join(lines)


def read_json(data: bytes) -> str:
    try:
        value = json.loads(_plain(data))
    except json.JSONDecodeError as exc:
        # JSON Lines: one value per line.
        try:
            value = [json.loads(line) for line in _plain(data).splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise ExtractError(f"invalid JSON (line {exc.lineno}: {exc.msg})") from exc
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
