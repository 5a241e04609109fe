"""Whole sentences out of passages, and the text rules an answer is checked with.

A passage's lines are joined back into paragraphs where the source hard-wrapped them (a Markdown or
text file wrapped at 72 columns must not lose the end of a sentence), while structural lines — headings,
list items, table rows, `key: value` records — stay lines of their own. Sentences end at . ! ? and
。！？ but never inside quotes or brackets (「…。」, “…”, (…)) nor after an abbreviation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from tenantctl.textproc import CJK_QUESTION, CJK_RUN, fenced_blocks, has_cjk, segment_cjk

_MARKER = r"(?:[-*•+]|\d{1,3}[.)])\s"  # a list item's: "- ", "* ", "• ", "2. ", "3) "
_HEADING = r"#{1,6}\s"
_ITEM = re.compile(rf"^\s*{_MARKER}")
# Lines that start a unit of their own: headings, list items, table rows.
_STRUCTURAL = re.compile(rf"^\s*(?:{_HEADING}|{_MARKER}|\|)")
WRAP_WIDTH = 40  # a line at least this wide (CJK characters count double) that goes on was hard-wrapped
_BLANK = re.compile(r"\n[ \t]*\n+|\f")
_QUOTED = re.compile(
    r"「[^「」]{0,300}」|『[^『』]{0,300}』|“[^“”]{0,300}”|‘[^‘’]{0,300}’|\"[^\"\n]{0,300}\"|"
    r"（[^（）]{0,200}）|\([^()]{0,200}\)|《[^《》]{0,100}》"
)
_CLOSERS = "」』”’\"）)》"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr vs v etc e.g i.e no inc ltd co corp dept fig gen gov sen rep prof approx est mt ft lt col"
    " capt sgt".split()
)
# What a sentence shows without: a list item's marker, a heading's, a section's number ("2.3 Scheduled …").
_LEAD = re.compile(rf"^(?:{_MARKER}|{_HEADING}|(?:答|a)[:：]|\d{{1,2}}(?:\.\d{{1,2}})+\s(?=(?-i:[A-Z])))\s*", re.I)
# A wiki's reference marks: "….[12] Next", "…,[note 6]", "Woman[citation needed]". They hide a sentence's
# end from the splitter and read like an answer's own citations. A bare number from 1 only after
# punctuation and before a space or another mark ("values[0]", "f(x)[0]", "[[0],[1],[2]]" are code).
_REFERENCE = re.compile(
    r"(?<=[.,;:!?\"”’)])\[[1-9]\d{0,2}\](?=[\s\[]|$)"
    r"|(?<=\S)\[(?:(?:note|nb|lower-alpha) ?\d{1,3}|[a-z ]{3,30} needed|(?:who|when|which|where|why|by whom)\?)\]"
)


def paragraphs(text: str) -> list[str]:
    """The passage's paragraphs and structural lines, with hard-wrapped lines joined: a line joins the
    one before it when that one was wide (wrapped), or ran on into it (no stop at its end, this one in
    lower case: a narrow column's "Core hours are 10:00" / "to 15:00."), and this one starts no heading,
    item or row. A fenced code block's lines stay lines of their own, its fences left out."""
    return [paragraph for paragraph, _ in _blocks(_unfenced(text))]


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """`paragraphs` of a text whose code lines are marked (`_unfenced`), each with whether it is an item:
    a list's item or a line of code."""
    for block in _BLANK.split(text):
        current, last, item = "", "", False
        for line in block.split("\n"):
            code = line.startswith(_CODE)
            line = line.removeprefix(_CODE).strip()
            if not line:
                continue
            if code or last.startswith(_CODE):
                pass  # a code line joins nothing, nothing joins it
            elif current and record_fields(current) is not None and FIELD.fullmatch(line):
                current = f"{current}; {line}"  # a JSON object's lines are one record, as a CSV row is
                last = line
                continue
            elif current and not _STRUCTURAL.match(line) and (_width(last) >= WRAP_WIDTH or _runs_on(last, line)):
                current = _join(current, line)
                last = line
                continue
            if current:
                yield current, item
            current, last, item = line, (_CODE + line if code else line), code or bool(_ITEM.match(line))
        if current:
            yield current, item


_CODE = "\x00"  # marks a line of a fenced code block for `_blocks`


def _unfenced(text: str) -> str:
    """The text with each line of its fenced code blocks marked (`_CODE`) and the fences dropped."""
    out, done = [], 0
    for start, end in fenced_blocks(text):
        out += [text[done:start], _code_lines(text[start:end])]
        done = end
    return "".join([*out, text[done:]])


def _code_lines(block: str) -> str:
    """A fenced code block's lines, each marked (`_CODE`), without its fences."""
    return "\n".join(_CODE + line for line in block.split("\n")[1:-1])


def _runs_on(last: str, line: str) -> bool:
    """Whether `line` goes on with the sentence `last` left open: `last` is half as wide as a wrapped
    line at least ("short line" / "another short" are two), no stop or colon ends it (a heading's "#"
    starts none), and `line` starts in lower case and is no record's field ("id: 5")."""
    return (_width(last) >= WRAP_WIDTH // 2 and line[:1].isascii() and line[:1].islower()
            and not last.startswith("#") and not FIELD.fullmatch(line)
            and not last.rstrip("\"')»”’").endswith((".", "!", "?", ":", ";", "。", "！", "？", "：", "；")))


# A record's field: "warranty: 5 years", "Notice needed: 2 weeks" (a CSV or table row's cells, a JSON
# object's keys, which ingestion writes so); a record is its fields joined by "; ".
FIELD = re.compile(r"([^\W\d_][\w .()（）/／%&'-]{1,40}):\s+(\S.*)")  # not "Q: ..." / "A: ..."


def record_fields(text: str) -> list[tuple[str, str]] | None:
    """The (name, value) fields of a record, or None when `text` is not one (known at its first part
    that is no field: `paragraphs` asks this of every line's paragraph so far)."""
    fields = []
    for part in text.split("; "):
        if not (m := FIELD.fullmatch(part.strip())):
            return None
        fields.append((m.group(1), m.group(2)))
    return fields


def _width(line: str) -> int:
    return len(line) + sum(len(run) for run in CJK_RUN.findall(line))


def _join(left: str, right: str) -> str:
    if left and right and has_cjk(left[-1]) and has_cjk(right[0]):
        return left + right  # CJK text wraps without a space
    if left.endswith("-") and not left.endswith(" -"):
        return left + right  # a hyphenated word or code wrapped at its hyphen
    return f"{left} {right}"


def _protected(text: str) -> list[tuple[int, int]]:
    return [(m.start() + 1, m.end() - 1) for m in _QUOTED.finditer(text)]


def split_sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences; quotes, brackets, abbreviations and decimals never end one."""
    spans = _protected(paragraph)
    cuts: list[int] = []
    for m in re.finditer(r"[.!?](?=[\s\"”’)]|$)|[。！？!?](?![。！？])", paragraph):
        end = m.end()
        if any(a <= m.start() < b and m.end() < b for a, b in spans):
            continue  # inside quotes or brackets, unless it ends the quote: 「…。」 is a sentence
        while end < len(paragraph) and paragraph[end] in _CLOSERS:
            end += 1
        if m.group() == "." and not _ends_sentence(paragraph, m.start(), end):
            continue
        cuts.append(end)
    sentences, start = [], 0
    for cut in cuts:
        piece = paragraph[start:cut].strip()
        if piece:
            sentences.append(piece)
        start = cut
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _ends_sentence(text: str, dot: int, end: int) -> bool:
    if re.fullmatch(r"\s*\d{1,3}", text[:dot]):
        return False  # a numbered item's "1." ends nothing
    word = re.search(r"([\w.]+)$", text[:dot])
    if word and (word.group(1).lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", word.group(1))):
        return False
    if word and re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word.group(1)):
        return False  # U.S. and e.g. inside a sentence
    rest = text[end:].lstrip()
    return not rest or not rest[0].islower()


# Markdown's links and its <autolinks>: an answer reads "the release notes (https://example.com/notes)",
# not the markup; an image is left out.
_MD_LINK = re.compile(r"(!?)\[([^\[\]\n]*)\]\((\S+?)(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)>")


def _link_text(m: re.Match) -> str:
    image, text, target = m.groups()
    if image:
        return ""  # a picture answers nothing
    return target if not text or text == target else f"{text} ({target})"


_INLINE_CODE = re.compile(r"(`[^`\n]*`)")


def _without_markup(text: str) -> str:
    """`_unfenced` text with its Markdown links shown as "text (URL)" and a wiki's reference marks dropped,
    but for code: in a fenced block or between backticks, "f(x)[1]" and "handlers[name](event)" are code."""
    out, done = [], 0
    for start, end in [*fenced_blocks(text), (len(text), len(text))]:
        for n, piece in enumerate(_INLINE_CODE.split(text[done:start])):
            out.append(piece if n % 2 else _MD_LINK.sub(_link_text, _AUTOLINK.sub(r"\1", _REFERENCE.sub("", piece))))
        out.append(_code_lines(text[start:end]) if end > start else "")
        done = end
    return "".join(out)


def sentences(text: str) -> list[str]:
    """Every sentence of a passage, markup and list markers removed, whitespace collapsed."""
    return [sentence for said in sentences_by_paragraph(text) for sentence in said.sentences]


class Said(NamedTuple):
    sentences: list[str]  # a paragraph's, as `sentences` gives them
    item: bool  # the paragraph is a list's item or a line of code
    step: int | None = None  # a numbered item's number: "4. Set the NameID format" is step 4


_STEP = re.compile(r"\s*(\d{1,3})[.)]\s")


def sentences_by_paragraph(text: str) -> list[Said]:
    """The sentences of each paragraph of a passage (`paragraphs`), as `sentences` gives them."""
    found = []
    for paragraph, item in _blocks(_without_markup(text)):
        cleaned = (_LEAD.sub("", " ".join(s.replace("**", "").split())) for s in split_sentences(paragraph))
        step = int(m.group(1)) if item and (m := _STEP.match(paragraph)) else None
        found.append(Said([sentence for sentence in cleaned if sentence], item, step))
    return found


_LOOP = re.compile(r"(.{2,80}?)(?:[\s、，,;；]*\1){2,}", re.S)


def cut_loops(text: str) -> str:
    """Cut a repetition loop ("西街、西街、西街…", "the city the city the city") after its first round."""
    for m in _LOOP.finditer(text):
        unit = m.group(1)
        if re.fullmatch(r"[\d\s.,]*", unit):
            continue  # 1000000 is a number, not a loop
        return (text[: m.start()] + unit).rstrip(" 、，,;；")
    return text


_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    """a about an and are as at be been being but by can could did do does during for from had has have
    how i if in into is it its me my name named not of on or our she should so than that the their them
    then there these they this those to was we were what when where which while who whom whose why will
    with would you your""".split()
)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> set[str]:
    """Content terms: lowercased words without stopwords (plural s dropped), CJK character bigrams."""
    text = CJK_QUESTION.sub(" ", text) if has_cjk(text) else text
    words = _WORD.findall(segment_cjk(text.lower()))
    return {_stem(w) for w in words if w not in _STOPWORDS}


STEM = 4  # words compared by their first letters: "surrendered" is "surrender", "elected" "election"


def stems(text: str) -> set[str]:
    return {t[:STEM] for t in terms(text)}


def is_name(word: str, *, first: bool = False) -> bool:
    """Whether a word names something: a code ("FL-12", "2025": it holds a digit) or a capitalised word
    ("Chicago") that is not "I" ("I'm") and not `first`, a word capitalised only for starting a sentence."""
    return any(c.isdigit() for c in word) or (not first and word[0].isupper() and word.split("'")[0] != "I")


# A Chinese question's opening words, which are no part of its subject: a follow-up's ("那", "那么", "还有"…) and
# any question's ("请问", "我想知道"). Not "和": it opens names as often as it joins them ("和平路办公室" is no
# "平路办公室").
ZH_LEAD = re.compile(r"(?:那么|那(?![个些])|还有|另外|至于|以及|请问|我想知道|再问一下)*")
# Where a Chinese question's subject ends: its first "的", else its first question word, "是" or "在".
ZH_STOP = re.compile(f"的|是|在|{CJK_QUESTION.pattern}")


def zh_subject(question: str) -> tuple[int, int] | None:
    """Where a Chinese question's subject is: after its opening words (`ZH_LEAD`), up to its first "的"
    ("上海办公室的地址是什么？"), else its first question word, "是" or "在" ("上海办公室在哪里？"); None when that
    leaves nothing."""
    start = ZH_LEAD.match(question).end()
    start += len(question[start:]) - len(question[start:].lstrip())
    stop = question.find("的", start)
    if stop < 0:
        found = ZH_STOP.search(question, start)
        stop = found.start() if found else -1
    return (start, stop) if stop > start else None


def zh_owner(question: str) -> str:
    """A Chinese question's subject when a "的" ends it ("星耀金卡" of "星耀金卡的年费是多少？"), else "": a
    subject ended by a question word, "是" or "在" may run into what is asked ("运输破损要在多长时间内申请？")."""
    question = question.strip()
    span = zh_subject(question)
    return question[slice(*span)] if span is not None and question.startswith("的", span[1]) else ""


def cjk_share(text: str) -> float:
    letters = sum(1 for ch in text if ch.isalnum())
    return sum(len(r) for r in CJK_RUN.findall(text)) / letters if letters else 0.0
