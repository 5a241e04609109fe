"""The relevance gate: do the retrieved passages hold an answer at all?

Two signals, because neither works alone. The dense similarity of the default embedder
(all-MiniLM-L6-v2, an English model) separates related from unrelated English text, but for Chinese
the similarity of unrelated text is as high as of related text. Lexical coverage — the share of the
question's content terms (words, or CJK character bigrams) found in one passage, its heading and its
file name — works in every script: a passage about another subject lacks the question's names.
A question not written in CJK passes when its best similarity reaches `answer.min_score` and
similarity plus coverage reach `answer.min_relevance`, or when one passage holds all its (two or more)
terms; a CJK question passes on coverage alone (`answer.min_cjk_coverage`). A question naming a code
no passage holds, or an item (a capitalised word) the best passage's table lacks, is of something
else. Calibrated on SQuAD v1.1 (300 questions) and CMRC 2018 (145) asked in
their own tenant and in another one: English 98% of answerable questions pass, 8% of unanswerable
ones; Chinese 99% and 6% (the README's "Answers" section; bench/bench_answers.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from tenantctl.answering.numbers import MONTH, MONTHS
from tenantctl.answering.records import STANDING
from tenantctl.answering.sentences import (
    STEM,
    cjk_share,
    record_fields,
    sentences_by_paragraph,
    terms,
    zh_owner,
)

CJK_QUESTION_SHARE = 0.3  # a question with more CJK characters than this is gated lexically only
# Before the gate, the keyword search alone can already say an answer is likely: then the model starts
# loading at once, beside the embedder and the dense search. Calibrated like the gate (SQuAD, CMRC; best of
# the 3 best keyword chunks): an English question covered to 0.5 is one whose answer is in its tenant for
# 93% of answerable questions and 9% of unanswerable ones; CJK questions use the gate's own coverage.
LIKELY_COVERAGE = 0.5
# A question of at least this many content terms that one passage holds all of passes below `min_score`:
# a long chunk about several things ("## Installing" with the release notes' link in it) has a low
# similarity to a question about one of them. Of all SQuAD questions, 3 of 1,482 asked in their own
# tenant and 2 asked in another one fall under this rule (bench/bench_answers.py --gate: unchanged).
FULL_COVERAGE_TERMS = 2


@dataclass
class GateResult:
    passed: bool
    similarity: float  # best dense similarity among the passages
    coverage: float  # best share of the question's terms one passage holds
    lexical_only: bool  # the question is CJK: the dense similarity was not used


def _stem_of(path: str) -> str:
    name = re.split(r"[\\/]", path)[-1]
    return name.rsplit(".", 1)[0].replace("_", " ").replace("-", " ")


def coverage(question: str, text: str) -> float:
    """Share of the question's content terms that occur in `text`, a misspelt word ("numbr", "leaev")
    counting for the word one edit away and the words asking for a phone number, an e-mail address or
    a web address for one the text holds ("Reception: (02) 9555 0100" holds "phone number"); a question
    without content terms ("🙂") has nothing to find."""
    wanted = terms(question)
    if not wanted:
        return 0.0
    found = terms(text)
    held = wanted & found
    held |= {w for w in wanted - held if _misspelt(w, found)}
    for contact in _CONTACTS:
        if wanted & contact.asking and contact.pattern.search(text):
            held |= wanted & contact.standing
    return len(held) / len(wanted)


# (words asking for it, words it stands for, what it looks like): a phone number of 6 digits or more in
# groups ("(02) 9555 0100", "+49 30 5557 0199", "131 450"; not a date "2025-10-21"), an e-mail or web address.
# A Chinese word may touch it ("拨打客服热线400-820-6688"): only Latin letters and digits join it to a word.
_PHONE = re.compile(r"(?<![A-Za-z0-9_-])(?!\d{4}-\d{2}-\d{2})(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)\s?)?"
                    r"(?=(?:[\s.-]?\d){6})\d{2,5}(?:[\s.-]\d{2,5}){1,4}(?![A-Za-z0-9_-])")
class _Contact(NamedTuple):
    asking: frozenset[str]  # English words asking for it
    standing: frozenset[str]  # the words it stands for
    chinese: tuple[str, ...]  # Chinese words asking for it
    pattern: re.Pattern  # what it looks like


_CONTACTS = [
    _Contact(frozenset({"phone", "telephone", "tel", "call", "hotline"}),
             frozenset({"phone", "telephone", "tel", "call", "hotline", "number"}), ("电话", "热线", "手机", "座机"),
             _PHONE),
    _Contact(frozenset({"email", "mail"}), frozenset({"email", "mail", "e", "address"}),
             ("邮箱", "电子邮件", "邮件地址"), re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    _Contact(frozenset({"website", "url", "web", "site", "link"}),
             frozenset({"website", "url", "web", "site", "link", "address"}), ("网址", "网站", "链接"),
             re.compile(r"https?://\S+|\bwww\.\S+")),
]


def asked_contact(question: str) -> re.Pattern | None:
    """What a phone number, an e-mail or a web address looks like, when the question asks for one ("What is
    the support hotline?", "客服热线是多少？")."""
    wanted = terms(question)
    for contact in _CONTACTS:
        if wanted & contact.asking or any(word in question for word in contact.chinese):
            return contact.pattern
    return None


# A question asking for a phone number, an e-mail or a web address and nothing else: "What is the …", "…电话是多少？"
# ("call", "site", "link" and "address" also ask for other things: "What is the element called?"; a question
# only naming one asks something else: "How do I change my phone number?", "电子发票多久发送到邮箱？").
_CONTACT_WORDS = r"(?:(?:phone|telephone|fax) numbers?|hotlines?|e-?mail(?: address)?|website|url|web address)"
_ASKS_CONTACT_PLAINLY = re.compile(rf"^\s*(?:what|which)(?:'s|\s+is|\s+are)?\b[^?]*\b{_CONTACT_WORDS}\b"
                                   r"|(?:电话|热线|邮箱|电子邮件|网址)(?:号码|地址)?(?:是|为)?(?:多少|什么)", re.I)


def lacks_contact(question: str, sentence: str) -> bool:
    """Whether the question asks in so many words for a phone number, an e-mail or a web address that the
    answer's sentence does not hold: "What is the phone number for Customer Relations?" of a sentence giving
    its e-mail and postal address is not answered."""
    contact = asked_contact(question)
    return bool(contact and _ASKS_CONTACT_PLAINLY.search(question) and not contact.search(sentence))


TYPO_MIN = 5  # letters a word needs before one edit away counts as the same word ("cost" is not "most")


def _misspelt(word: str, found: set[str]) -> bool:
    """Whether `word` is one of `found` with one letter left out, added, changed or two swapped."""
    from rapidfuzz.distance import OSA

    if len(word) < TYPO_MIN or not word.isascii() or not word.isalpha():
        return False
    return any(t[0] == word[0] and abs(len(t) - len(word)) <= 1 and OSA.distance(word, t, score_cutoff=1) <= 1
               for t in found)


def _labelled(passages) -> list[str]:
    """Each passage's text under its file's name: both count for what a passage holds."""
    return [f"{_stem_of(source)}\n{text}" for text, source, *_ in passages]


def _best_coverage(question: str, texts: list[str]) -> float:
    return max((coverage(question, text) for text in texts), default=0.0)


# A code names one thing: letters and digits in one word ("X9", "FL-12", "AS-205", "5G"), not an ordinal,
# a decade or a plural ("5th", "1990s"); so does a version of three or more numbers ("5.0.0").
_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z\d]+(?:-[A-Za-z\d]+)*(?![\w-])")
_NO_CODE = re.compile(r"\d+(?:st|nd|rd|th|s)", re.I)
_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)")


def named_codes(question: str) -> list[str]:
    """The codes a question names ("FL-12", "P3", "AS-205")."""
    return [c for c in _CODE.findall(question) if not _NO_CODE.fullmatch(c)]


def holds_code(text: str, code: str) -> bool:
    """Whether `text` holds `code` as a word of its own, spelt with or without spaces and hyphens ("FL-12",
    "FL 12", "fl12"; "P5" is not in "HTTP 5xx")."""
    spelt = r"[\s_-]?".join(re.escape(ch) for ch in re.sub(r"[\W_]", "", code))
    return re.search(rf"(?<![A-Za-z0-9]){spelt}(?![A-Za-z0-9])", text, re.I) is not None


def unheld_codes(question: str, texts: list[str]) -> list[str]:
    """The codes of the question that none of `texts` holds as a word of its own, spelt with or without
    spaces and hyphens ("FL-12", "FL 12", "fl12"; "P5" is not in "HTTP 5xx"), and the versions ("5.0.0"),
    numbered clauses ("clause 11.2") and ISO dates ("2025-11-10", held as "10 November" too) none holds.
    Of all SQuAD questions, no answerable one names a code its passages lack; two asked in another tenant
    do ("AS-205", "K-12")."""
    text = " ".join(texts)

    def numbered(number: str) -> bool:  # "5.0.0", "11.2" as a number of its own, not inside "11.2.3"
        return re.search(rf"(?<![\w.]){re.escape(number)}(?![\w]|\.\d)", text) is not None

    def held(code: str) -> bool:
        return numbered(code) if _VERSION.fullmatch(code) else holds_code(text, code)

    codes = named_codes(question) + _VERSION.findall(question)
    clauses = [m.group(1) for m in _CLAUSE.finditer(question) if m.group(1).count(".") == 1]  # 3: a version
    dates = [m.group() for m in _ISO_DATE.finditer(question) if not _dates_held(m, text)]
    return [code for code in codes if not held(code)] + [c for c in clauses if not numbered(c)] + dates


# A clause or section the question names by its number ("clause 11.2", "section 4.2.1", "§ 7.3"), and a date
# written as ISO ("2025-11-10"): each names one thing, as a code does ("the week starting 2025-11-10" of a
# rota whose weeks start on other days).
_CLAUSE = re.compile(r"\b(?:clause|section|article|paragraph|§)\s*(\d+(?:\.\d+)*)(?![\w.]|\.\d)", re.I)
_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w-])")


def _dates_held(iso: re.Match, text: str) -> bool:
    """Whether `text` holds the ISO date as written, or its day and month in words ("10 November",
    "Nov 10, 2025"), as D/M or M/D ("10/11/2025"), or in CJK ("11月10日")."""
    year, month, day = (int(g) for g in iso.groups())
    name = MONTHS[month - 1][:3].lower() if 1 <= month <= 12 else "-"
    words = rf"(?<!\d){day}(?:st|nd|rd|th)?\s+(?:of\s+)?{name}[a-z]*\.?|\b{name}[a-z]*\.?\s+{day}(?!\d)"
    years = rf"(?:{year}|{year % 100:02d})(?!\d)"
    numbers = (rf"(?<![\d/]){year}-0?{month}-0?{day}(?!\d)|(?<![\d/])0?{day}[/.]0?{month}[/.]{years}"
               rf"|(?<![\d/])0?{month}/0?{day}/{years}|(?<!\d){month}月{day}[日号]")
    return re.search(f"{words}|{numbers}", text, re.I) is not None


def unheld_names(question: str, texts: list[str], *, any_case: bool = False) -> list[str]:
    """The names of the question (a capitalised word past its first: "the Enterprise plan") that none of
    `texts` holds, by their first STEM letters ("British" is held by "Britain") or misspelt by one letter;
    codes (`unheld_codes`), months and weekdays aside, and acronyms and CamelCase ("DVDs", "HomeKit") too
    unless `any_case` (then held by their letters, a plural's s aside)."""
    held, found = " ".join(texts).lower(), {t for text in texts for t in terms(text)}
    words = [re.sub(r"'s$", "", w) for w in re.findall(r"[^\W_][\w'-]*", question)[1:]]

    def plain(w: str) -> bool:
        return not w.isupper() and w[1:].lower() == w[1:]

    def unheld(w: str) -> bool:
        if not plain(w):
            return re.search(r"\b" + re.escape(re.sub(r"(?<=[A-Z])s$", "", w).lower()), held) is None
        return (re.search(r"\b" + re.escape(w.lower()[:STEM]), held) is None
                and not any(_misspelt(t, found) for t in terms(w)))

    return [w for w in words if w[:1].isupper() and (any_case or plain(w)) and not re.search(r"\d", w)
            and terms(w) and not _CALENDAR.fullmatch(w) and unheld(w)]


# Months and weekdays are no names of things: "the week of 27 October" is the rota's "2025-10-27".
_CALENDAR = re.compile(rf"{MONTH}|(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
                       r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)s?\.?", re.I)


def unmentioned(question: str, passages: list[tuple[str, str, float]]) -> list[str]:
    """The names the question uses ("Brisbane", "HomeKit", "AWS"; not its first word) that no passage
    holds: the answer is then likely of something else, which its note says. Of all SQuAD questions,
    14 of 1,482 name something their article's passages call otherwise ("British" of "the UK")."""
    unheld = set(unheld_names(question, _labelled(passages), any_case=True))
    names = []
    for run in re.finditer(r"[A-Z][\w'-]*(?: [A-Z][\w'-]*)*", question):  # "United States" is one name
        words = run.group().split()
        if unheld & {re.sub(r"'s$", "", w) for w in words}:
            names.append(" ".join(words if run.start() else words[1:]))  # its first word: the question's
    return list(dict.fromkeys(names))


# Words asking how much or how long, which name no thing: no passage needs to hold them.
_ASKING = frozenset("much many long often far soon old big large tall high wide deep".split())


def unheld_words(question: str, passages: list[tuple[str, str, float]]) -> list[str]:
    """The words of the question naming something no passage (its text, heading and file name) holds, by its
    first STEM letters or misspelt by one letter ("roof" and "box" of "How much does a roof box cost per day?"
    asked of a fee table that has no roof box) — not a word asking how much or long, nor one standing for a
    field or a phone number; of a Chinese question, its subject when one of its character pairs is in none
    ("深圳服务中心" of "深圳服务中心的地址在哪里？" asked of the other centres' rows). A record answers only of
    what it is, and these say the question is of something the passages do not hold."""
    texts = _labelled(passages)
    held = "\n".join(texts).lower()
    if cjk_share(question) > CJK_QUESTION_SHARE:
        subject = zh_owner(question)  # one before its 的: "运输破损要在多长时间内申请？" names none ("运输破损要")
        return [subject] if subject and any(pair not in held for pair in terms(subject)) else []
    found = {t for text in texts for t in terms(text)}
    return [w for w in sorted(terms(question))
            if w not in _ASKING and not any(w in contact.standing for contact in _CONTACTS)
            and w[:STEM] not in STANDING and w.isalpha() and re.search(r"\b" + re.escape(w[:STEM]), held) is None
            and not _misspelt(w, found)]


TABLE_MIN_ROWS = 2  # a passage holding this many records (rows: "Plan: Team; Price: 99 USD") is a table


def rows(text: str, *, items: bool = False) -> list[str]:
    """A passage's records (a table's rows: "Plan: Team; Price: 99 USD"), with `items` its lists' items too."""
    return [s for paragraph in sentences_by_paragraph(text) for s in paragraph.sentences
            if (items and paragraph.item) or len(record_fields(s) or ()) > 1]


def _table(text: str) -> bool:
    return len(rows(text)) >= TABLE_MIN_ROWS


def likely(question: str, passages: list[tuple[str, str]], min_cjk_coverage: float) -> bool:
    """Whether the best keyword chunks, (text, source label) each, make an answer likely enough to start
    loading the model before the gate has decided (a turned-away question then never waits for it)."""
    needed = min_cjk_coverage if cjk_share(question) > CJK_QUESTION_SHARE else LIKELY_COVERAGE
    return bool(passages) and _best_coverage(question, _labelled(passages)) >= needed


def check(question: str, passages: list[tuple[str, str, float]], min_score: float, min_relevance: float,
          min_cjk_coverage: float) -> GateResult:
    """`passages`: (text, source label, dense similarity) of each retrieved passage."""
    if not passages or not terms(question):  # "🙂" or "what is it?": nothing to look for
        return GateResult(False, 0.0, 0.0, False)
    lexical_only = cjk_share(question) > CJK_QUESTION_SHARE
    labelled = _labelled(passages)
    best_cov = _best_coverage(question, labelled)
    best_sim = max(sim for _, _, sim in passages)
    if unheld_codes(question, labelled):
        passed = False  # "CloudSail X9 什么时候发布？" of passages about the X5 and X7: of another product
    elif _table(passages[0][0]) and unheld_names(question, labelled):
        passed = False  # "How much is the Enterprise plan?" of a price list's Starter, Team and Business rows
    elif lexical_only:
        passed = best_cov >= min_cjk_coverage
    elif best_cov == 1.0 and len(terms(question)) >= FULL_COVERAGE_TERMS:
        passed = best_sim >= 0.0  # one passage holds every term: a long chunk's similarity is diluted
    else:
        passed = best_sim >= min_score and best_sim + best_cov >= min_relevance
    return GateResult(passed, round(best_sim, 4), round(best_cov, 4), lexical_only)
