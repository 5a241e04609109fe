"""Split extracted text into overlapping chunks that follow headings, paragraphs and sentences.

Input text marks headings as Markdown (`# Title`), paragraphs by blank lines and PDF page breaks by
form feeds. A heading always starts a new chunk and becomes the chunk's heading path ("Leave > Sick
leave"). Paragraphs are packed whole while they fit; a paragraph that does not fit starts a new chunk,
and one larger than a chunk is split at sentences (then words). Consecutive chunks of one section share
`overlap_tokens` of trailing sentences — whole ones: never the last fields of a table's record
("…; Heavy parcel: $24.95; Free shipping: $99", which names no row) or a clause cut off at ";" or ":".
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from tenantctl.config import ChunkingConfig
from tenantctl.storage.store import NewChunk
from tenantctl.textproc import estimate_tokens, fenced_blocks, split_sentences

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_BLOCK_SEP = re.compile(r"\n[ \t]*\n+|\f")
_LIST_NUMBER = re.compile(r"\s*\d{1,3}[.)]")  # "6." alone: the start of a numbered item, no sentence
_FULL_STOP = re.compile(r"[.!?。！？][\"'”’)）」』]*\s*$")


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    opens: bool = True  # starts a paragraph or follows a full stop: an overlap may begin here


def _blocks(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_heading) of paragraphs and heading lines, in order."""
    fences = fenced_blocks(text)  # a `# comment` inside one is no heading

    def heading_at(start: int, line: str) -> bool:
        return bool(_HEADING.match(line)) and not any(s <= start < e for s, e in fences)

    spans: list[tuple[int, int, bool]] = []
    pos = 0
    for sep in _BLOCK_SEP.finditer(text + "\n\n"):
        block_start, block_end = pos, sep.start()
        pos = sep.end()
        # A heading line inside a block (no blank line after it) is split off as its own block.
        line_start = block_start
        for line in text[block_start:block_end].split("\n"):
            line_end = line_start + len(line)
            if heading_at(line_start, line) and line_start > block_start:
                spans.append((block_start, line_start - 1, False))
                block_start = line_start
            if heading_at(line_start, line) and line_end < block_end:
                spans.append((block_start, line_end, True))
                block_start = line_end + 1
            line_start = line_end + 1
        if text[block_start:block_end].strip():
            spans.append((block_start, block_end, heading_at(block_start, text[block_start:block_end].strip())))
    return spans


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; a sentence over ~limit tokens is cut at words."""
    spans: list[tuple[int, int]] = []
    pos = start
    for sentence in split_sentences(text[start:end]):
        s = text.index(sentence, pos)
        e = s + len(sentence)
        pos = e
        if estimate_tokens(sentence) <= limit:
            spans.append((s, e))
            continue
        # No sentence boundary helps: cut at whitespace, or every `limit` characters for CJK runs.
        # Every character is a quarter of a token at least, so what lies past 4 * (limit + 1) characters of the
        # piece never decides a cut: measuring the whole rest each time made a 1 MB run without spaces (CJK
        # text without stops, a base64 blob) take minutes.
        reach = 4 * (limit + 1)
        piece_start = s
        for m in re.finditer(r"\S+\s*", sentence):
            word_end = s + m.end()
            while estimate_tokens(text[piece_start:min(word_end, piece_start + reach)]) > limit:
                cut = piece_start + max(1, _chars_for_tokens(text[piece_start:min(word_end, piece_start + reach)],
                                                              limit))
                if cut >= word_end:
                    break
                cut = cut if text[piece_start:cut].strip() else word_end
                if s + m.start() > piece_start and s + m.start() < cut:
                    cut = s + m.start()
                spans.append((piece_start, cut))
                piece_start = cut
        if piece_start < e:
            spans.append((piece_start, e))
    merged: list[tuple[int, int]] = []
    for s, e in spans:  # a numbered item's "6." stays with its text, never ends a chunk alone
        if merged and _LIST_NUMBER.fullmatch(text[merged[-1][0]:merged[-1][1]]):
            s = merged.pop()[0]
        merged.append((s, e))
    return merged


def _units(text: str, start: int, end: int, limit: int) -> list[_Unit]:
    """A paragraph's sentences as units; each says whether a chunk or its overlap may begin there: at
    the paragraph's start, after a full stop, or on a line after one ending in ";" (a list's clause) —
    not inside a table's record ("Zone: 2; Service: Express; …") or after "… caused by:"."""
    spans = _split_long(text, start, end, limit)
    units = []
    for n, (s, e) in enumerate(spans):
        before = text[spans[n - 1][0]:spans[n - 1][1]] if n else ""
        opens = not n or bool(_FULL_STOP.search(before)) or (
            before.rstrip().endswith(";") and "\n" in text[spans[n - 1][1]:s])
        units.append(_Unit(s, e, estimate_tokens(text[s:e]), opens))
    return units


def _held(current: list[_Unit], carried: int, unit: _Unit, limit: int) -> int:
    """How many of the chunk's last units to move on to the next chunk when `unit`, which does not fit,
    goes on their sentence: back to where it begins, so a chunk ends at a whole sentence ("3.1 We cover
    loss … caused by:" stays with "fire, storm, flood …"); none when that sentence would not fit either."""
    if unit.opens:
        return 0
    begin = next((i for i in range(len(current) - 1, carried, -1) if current[i].opens), None)
    if begin is None or sum(u.tokens for u in current[begin:]) + unit.tokens > limit:
        return 0
    return len(current) - begin


def _chars_for_tokens(text: str, limit: int) -> int:
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def chunk_text(text: str, settings: ChunkingConfig, *, paged: bool = False) -> list[NewChunk]:
    limit = settings.max_tokens
    overlap = min(settings.overlap_tokens, limit // 2)
    chunks: list[NewChunk] = []
    headings: list[tuple[int, str]] = []  # (level, title) of the sections the text is in
    current: list[_Unit] = []
    carried = 0  # how many units at the head of `current` repeat the previous chunk's tail

    breaks = [m.start() for m in re.finditer("\f", text)] if paged else []

    def page_at(offset: int) -> int | None:
        return bisect.bisect_left(breaks, offset) + 1 if paged else None

    def flush(keep_overlap: bool, hold: int = 0) -> None:
        """Write the chunk; the next one starts with the overlap, and the `hold` last units held back."""
        nonlocal current, carried
        held = current[len(current) - hold:] if hold else []
        current = current[: len(current) - hold]
        if len(current) > carried:
            start, end = current[0].start, current[-1].end
            body = re.sub(r"[ \t]*\f[ \t]*", "\n", text[start:end])
            body = re.sub(r"\n{3,}", "\n\n", body).strip()
            chunks.append(
                NewChunk(
                    ord=len(chunks), start=start, end=end, page=page_at(start),
                    heading=" > ".join(title for _, title in headings), text=body,
                )
            )
        tail: list[_Unit] = []
        if keep_overlap and overlap and len(current) > carried:
            total = 0
            for unit in reversed(current[1:]):  # never carry a whole chunk
                if total + unit.tokens > overlap:
                    break
                tail.insert(0, unit)
                total += unit.tokens
            while tail and not tail[0].opens:  # whole sentences and records only
                tail.pop(0)
        current, carried = tail + held, len(tail)

    for start, end, is_heading in _blocks(text):
        if paged and current and page_at(start) != page_at(current[-1].start):
            flush(keep_overlap=False)  # chunks stay on one page, so a citation names a page
        heading = _HEADING.match(text[start:end].strip()) if is_heading else None
        if heading:
            flush(keep_overlap=False)
            # A heading closes the sections of its level and deeper, also after a skipped level
            # ("# FAQ" then "### Q1", "### Q2": Q2 follows Q1, it is not inside it).
            level = len(heading.group(1))
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, heading.group(2).strip()))
            continue
        units = _units(text, start, end, limit)
        para_tokens = sum(u.tokens for u in units)
        if len(current) > carried and sum(u.tokens for u in current) + para_tokens > limit >= para_tokens:
            flush(keep_overlap=True)  # the paragraph fits a chunk of its own: break before it
        for unit in units:
            if sum(u.tokens for u in current) + unit.tokens > limit:
                flush(keep_overlap=True, hold=_held(current, carried, unit, limit))
                if sum(u.tokens for u in current) + unit.tokens > limit:
                    current, carried = current[carried:], 0  # no room for the overlap
            current.append(unit)
    flush(keep_overlap=False)
    return chunks
