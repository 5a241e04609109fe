"""Which short span of a ranked sentence is the answer the model proposed.

A span proposed by the model is accepted only when it (or a reading of it without a leading preposition
or the question's own words) occurs in a candidate sentence after SQuAD-style normalisation, says more
than the question's own words and sits next to the question's terms in that sentence (`beside`). An
accepted span is then given in its sentence's own words (`verbatim`), as all of the date or number it is
part of (`widen`) and of the name it starts (`whole_name`).
"""

from __future__ import annotations

import re

from tenantctl.answering.numbers import typed_tokens
from tenantctl.answering.ranking import Candidate
from tenantctl.answering.scoring import is_punct, normalize
from tenantctl.answering.sentences import cut_loops, stems, terms
from tenantctl.answering.windows import MAX_SPAN_CHARS, MAX_SPAN_WORDS
from tenantctl.textproc import has_cjk

_ANSWER_LEAD = re.compile(r"^\s*(?:answer|a|答案?|回答)\s*[:：]\s*", re.I)
_CITATION = re.compile(r"\s*\[(?:\d{1,2}|tool:[^\]]+)\]")
_REFUSAL = re.compile(
    r"\b(not (in|mentioned|stated|specified|provided|given)|do(es)? not (say|contain|mention|answer|provide)|"
    r"cannot (be )?answer|no information|unknown)\b|未提及|没有提到|无法回答|不知道|文中没有",
    re.I,
)


def clean_span(raw: str) -> str:
    """The model's answer as a span: its first line, without citations, labels, loops or end stop."""
    line = next((ln for ln in raw.strip().splitlines() if ln.strip()), "")
    span = cut_loops(_CITATION.sub("", _ANSWER_LEAD.sub("", line))).strip()
    return span.strip(" \"'“”‘’「」『』").rstrip("。．.;；,，、:：").strip()


def _restates(span: str, question: str) -> bool:
    """True when the span adds nothing to the question's own words."""
    if has_cjk(span):
        chars = {ch for ch in normalize(span) if not ch.isspace()}
        return chars <= set(normalize(question))
    own = {t[:5] for t in terms(span)}  # a five-letter prefix: "captured" restates "capture"
    return not own or own <= {t[:5] for t in terms(question)}


def occurs(span: str, sentence: str) -> bool:
    """Whether `span` occurs in `sentence`, both normalised (`scoring.normalize`), as whole words."""
    if has_cjk(span) or has_cjk(sentence):  # normalised CJK text has no spaces: "Mozilla Firefox在2004年"
        return "".join(span.split()) in sentence
    return re.search(rf"(?<!\S){re.escape(span)}s?(?!\S)", sentence) is not None  # "Fred Singer" in "Fred Singer's"


_LEADING = re.compile(r"^(?:in|at|on|from|by|to|during|since|for|of|about|around|near|with)\s+", re.I)
_LINKING = frozenset("is are was were be been being has have had it its their called known as about".split())


def readings(span: str, question: str) -> list[str]:
    """The span, then shorter readings of it that a sentence may hold: without a leading preposition
    ("in the South" -> "the South"), and without the question's own words it starts with ("The paper
    was about the role of X" -> "the role of X", "穴蝰最长记录是70公分" -> "70公分")."""
    found = [span]
    if (trimmed := _LEADING.sub("", span)) != span:
        found.append(trimmed)
    if has_cjk(span):
        asked, start = set(question), 0
        while start < len(span) and span[start] in asked:
            start += 1
        rest = span[start:]
    else:
        asked = stems(question)
        words = span.split()
        start = 0
        while start < len(words) and (stems(words[start]) <= asked or words[start].lower() in _LINKING):
            start += 1
        rest = " ".join(words[start:])
    rest = rest.lstrip(" :：;；,，、")  # "北京办公室的电话: 010-…" less the question's words is "010-…"
    if rest and rest != span and len(rest) < len(span):
        found.append(rest)
    return found


def accept(span: str, question: str, candidates: list[Candidate]) -> tuple[str, Candidate] | None:
    """The span (or its first reading, see `readings`) and the best-ranked candidate sentence that holds
    it, or None when the span is unusable: empty, a refusal, too long, only the question's words, or found
    in no candidate; a CJK span with a bracket it does not both open and close ("昭乌达盟，今赤峰市）") was cut
    out of an aside."""
    if not span or _REFUSAL.search(span) or span.count("（") != span.count("）"):
        return None
    if (len(span) > MAX_SPAN_CHARS) if has_cjk(span) else (len(span.split()) > MAX_SPAN_WORDS):
        return None
    for reading in readings(span, question):
        wanted = normalize(reading)
        if not wanted or _restates(reading, question):
            continue
        holder = next((c for c in candidates if occurs(wanted, normalize(c.text))
                       or "-" in c.text and occurs(wanted, normalize(_unhyphenated(c.text)))), None)
        if holder:
            return reading, holder
    return None


# The hyphen of a compound of words: "English" is found in "English-medium schools" (normalised one word), but
# no part of a code: "7731" is not the answer "NW-TRV-7731" is.
_COMPOUND = re.compile(r"(?<![\w-])[^\W\d_]+(?:-[^\W\d_]+)+(?![\w-])")


def _unhyphenated(text: str) -> str:
    return _COMPOUND.sub(lambda m: m.group().replace("-", " "), text)


_ARTICLE = frozenset(("a", "an", "the"))
_PAIRS = ("()", "[]", "“”", "‘’", "「」", "『』", "（）")


def verbatim(span: str, sentence: str) -> str:
    """The sentence's own words for a span `accept` found in it after normalisation: the model may change
    case or punctuation or add an article ("a 7741-ORCHID" for "… is 7741-ORCHID."), and an answer quotes
    its document. The span itself when the sentence holds it as it is, or it cannot be placed."""
    if span in sentence:
        return _trimmed(span) or span
    if has_cjk(span) or has_cjk(sentence):
        return _verbatim_cjk(span, sentence)
    tokens = list(re.finditer(r"\S+", sentence))
    placed = _place([normalize(t.group()) for t in tokens], normalize(span).split())
    if placed is None:
        return span
    first, last = placed
    said = span.split()[0].lower()  # an article the model's span begins with, when the sentence has it too
    if said in _ARTICLE and first and tokens[first - 1].group().lower() == said:
        first -= 1
    return _trimmed(sentence[tokens[first].start():tokens[last - 1].end()]) or span


def _verbatim_cjk(span: str, sentence: str) -> str:
    # The characters CJK normalisation keeps (no punctuation, no spaces), with their places in `sentence`.
    kept = [(ch, i) for i, ch in enumerate(sentence.lower()) if not ch.isspace() and not is_punct(ch)]
    wanted = "".join(normalize(span).split())
    at = "".join(ch for ch, _ in kept).find(wanted)
    if at < 0 or not wanted:
        return span
    return _trimmed(sentence[kept[at][1]:kept[at + len(wanted) - 1][1] + 1]) or span


def _trimmed(text: str) -> str:
    """`text` without the punctuation that ends its sentence or clause, and without a bracket or quote it
    does not both open and close."""
    text = text.rstrip(",;:!?，；：！？。")
    if text.endswith(".") and text.count(".") == 1:  # an end stop, not "U.S."
        text = text[:-1]
    for opening, closing in _PAIRS + ('""', "``"):
        if text.count(opening) + text.count(closing) == 1 or (opening == closing and text.count(opening) % 2):
            text = text.strip(opening + closing)
    return text.strip()


def widen(span: str, sentence: str) -> str:
    """A span that is part of a date or number of its sentence becomes all of it: "1985" in
    "launched in January 1985" is "January 1985", "八张" after 第 is "第八张"; a span that is a whole year
    stays one ("1349", not the amount "1349 when" of "in 1349 when the ship landed")."""
    for kind in ("time", "date", "number"):
        tokens = typed_tokens(kind, sentence)
        if kind == "date" and span in tokens:
            return span
        for token in tokens:
            if span in token and span != token and len(token) <= len(span) + 16:
                return token
    return span



NEAR_WORDS = 3  # a model's span further than this from every question term of its sentence is no answer


def beside(span: str, sentence: str, question: str) -> bool:
    """Whether the span sits next to the question's terms in `sentence` (at most NEAR_WORDS words from
    one outside it): an answer is next to what the question says about it, while a small model also
    copies the wrong item of a list ("the Lutheran Church" where the question asks who initiated the
    dialogues). True when that cannot be told (CJK text, no term outside the span)."""
    if has_cjk(sentence) or has_cjk(span):
        return True
    words = [normalize(w) for w in sentence.split()]
    placed = _place(words, normalize(span).split())
    if placed is None:
        return True
    at, end = placed
    asked = stems(question)
    marks = [i for i, w in enumerate(words) if (i < at or i >= end) and stems(w) & asked]
    return not marks or min(at - m - 1 if m < at else m - end for m in marks) <= NEAR_WORDS


def _place(words: list[str], target: list[str]) -> tuple[int, int] | None:
    """Where the normalised words `target` first run in the normalised `words`: the first word's index
    and the index past the last; None when they do not (or `target` is empty)."""
    at = next((i for i in range(len(words)) if _starts(words, i, target)), None) if target else None
    if at is None:
        return None
    end, got = at, 0
    while end < len(words) and got < len(target):
        got, end = got + len(words[end].split()), end + 1
    return at, end


def _starts(words: list[str], i: int, target: list[str]) -> bool:
    """Whether the normalised words from position i on (those normalisation empties, like "the", count
    for nothing) begin with `target`."""
    found: list[str] = []
    for w in words[i:]:
        found += w.split()
        if len(found) >= len(target):
            break
    return bool(words[i]) and found[:len(target)] == target



_NAME_BEFORE = re.compile(r"(?:(?<=\s)[A-Z][\w.'-]*\s)+$")


_JOINING = frozenset("and of for the on in to de du la del der und &".split())  # words an abbreviation skips


def _spelt_by(abbreviation: str, before: str) -> int | None:
    """Where the capitalised words at the end of `before` whose initials spell `abbreviation` start, words
    such as "and" or "of" between them ("National Aeronautics and Space Administration" for NASA, also
    opening a sentence); None when they do not spell it."""
    if not abbreviation.isalpha():
        return None
    letters, words = list(abbreviation), list(re.finditer(r"\S+", before))
    while letters and words:
        word = words.pop()
        if word.group()[0] == letters[-1]:
            letters.pop()
            if not letters:
                return word.start()
        elif word.group().lower() not in _JOINING:
            return None
    return None


def whole_name(span: str, sentence: str) -> str:
    """An English span that starts a capitalised word with the capitalised words right before it in
    its sentence (not the sentence's first word): a name is all of it ("Catholic" in "denote Roman
    Catholic schools" is "Roman Catholic"); an abbreviation in brackets, with the name it abbreviates."""
    at = sentence.find(span)
    if at <= 0 or has_cjk(span) or not span[:1].isupper():
        return span
    if span.isupper() and sentence[at - 1] == "(" and sentence[at + len(span):at + len(span) + 1] == ")":
        start = _spelt_by(span, sentence[:at - 1])  # "NASA" of "the National Aeronautics and Space …"
        m = _NAME_BEFORE.search(sentence[:at - 1])  # "ABC" of "the Australian Broadcasting Corporation (ABC)"
        start = m.start() if start is None and m else start
        return sentence[start:at + len(span) + 1] if start is not None else span
    m = _NAME_BEFORE.search(sentence[:at])
    return sentence[m.start():at] + span if m and m.start() > 0 else span
