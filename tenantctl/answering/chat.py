"""A conversation with one tenant's documents: the chat turn, written once for the CLI and the server.

A session lives in the tenant's own store (`tenantctl.storage.sessions`), so a session id of another
tenant is simply not found. Each turn answers with the earlier exchanges as history and records the
exchange in the session.

A short follow-up ("and for the FL-12?", "how much does it cost?") is made a question of its own before
it is answered (`follow_up`), here for chat sessions and the OpenAI-compatible endpoint alike: one that
names its own subject is asked of that subject, with what the earlier question asked when it asks
nothing else ("What is the warranty of the FL-12?"); one without a subject of its own asks about the
earlier question's ("how much does the forklift FL-9 cost?"). Which words of a question are its subject
and which name what is asked for is told by the tenant's own records: a word of a field name ("warranty",
"max load") asks for something, a word of their values ("forklift", "pallet jack") or a name or code
("FL-12", "Aurora") is a subject. A follow-up this cannot settle goes on as before: its search borrows
the earlier question (`answer._retrieve`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenantctl.answering.answer import is_short
from tenantctl.answering.numbers import MONTHS
from tenantctl.answering.sentences import (
    CJK_QUESTION,
    ZH_LEAD,
    ZH_STOP,
    is_name,
    paragraphs,
    record_fields,
    terms,
    zh_subject,
)
from tenantctl.storage import sessions
from tenantctl.textproc import has_cjk

if TYPE_CHECKING:
    from tenantctl.answering.answer import Answer
    from tenantctl.config import Config
    from tenantctl.retrieval.session import TenantSession


@dataclass
class ChatSession:
    id: str
    tenant_id: str
    history: list[tuple[str, str]] = field(default_factory=list)
    stored: bool = True  # False: a new session not written until its first exchange

    @classmethod
    def open(cls, tenant_session: TenantSession, session_id: str | None = None, *, lazy: bool = False) -> ChatSession:
        """Resume `session_id` of the open tenant's (SessionNotFound when it is not this tenant's),
        or start a new session when it is None — with `lazy`, stored only once a question is asked."""
        store, tenant_id = tenant_session.store, tenant_session.tenant.id
        if session_id is None:
            return cls(sessions.new_id(), tenant_id, stored=False) if lazy else cls(sessions.create(store), tenant_id)
        sessions.require(store, tenant_id, session_id)
        return cls(session_id, tenant_id, sessions.history(store, session_id))

    def turn(
        self, tenant_session: TenantSession, question: str, cfg: Config, *,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer `question` in this session and record the exchange (the question as asked)."""
        if tenant_session.tenant.id != self.tenant_id:  # a session never crosses tenants
            raise ValueError(f"session {self.id!r} belongs to tenant {self.tenant_id!r}")
        result = ask(tenant_session, question, cfg, list(self.history), on_token=on_token)
        if not self.stored:
            sessions.create(tenant_session.store, session_id=self.id)
            self.stored = True
        sessions.add(tenant_session.store, self.id, question, result)
        self.history.append((question, result.answer))
        return result


def ask(
    tenant_session: TenantSession, question: str, cfg: Config, history: list[tuple[str, str]] | None, *,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Answer `question` after the earlier exchanges `history` (a chat session's, or an OpenAI client's
    messages): a short follow-up is first made a question of its own (`follow_up`)."""
    from tenantctl.answering.answer import answer_question

    history = list(history or [])
    if history and is_short(question):
        asked = " ".join([*(q for q, _ in history[-FOLLOW_UP_TURNS:]), question])
        words = record_words(tenant_session, asked[-cfg.search.max_query_chars:])  # a client's history is long
        alone, borrowed = follow_up(question, history, words)
        if len(alone) <= cfg.search.max_query_chars:  # not a follow-up refused as too long for its earlier one
            question, history = alone, borrowed
    return answer_question(tenant_session, question, cfg, history=history, on_token=on_token)


FOLLOW_UP_TURNS = 3  # earlier questions a follow-up's subject is traced back through
_TOKEN = re.compile(r"[^\W_](?:[\w.'/-]*[^\W_])?")  # a word or a code ("FL-12", "v2.1", "what's")
_BACK = frozenset("it they them this that these those there".split())  # stand for the earlier subject
# "there" refers back only closing the question ("what time is check-out there?"), never in "is there a pool?"
_THERE_BACK = re.compile(r"(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\W*$", re.I)
_BACK_OWNER = frozenset("its their".split())
# Words asking for a value, not naming a subject ("how much does it cost?"), and words saying nothing.
_ASKING = frozenset("much many cost price long old big large heavy often far soon tall wide".split())
_FILLER = frozenset("also else more other one same then too tell ask asking know please ok okay thank thanks".split())
# Days and months say when, not what about: "the clinic" is the subject of "… open on Saturdays?".
_DAYS = frozenset(f"{day}{s}" for day in "monday tuesday wednesday thursday friday saturday sunday weekend".split()
                  for s in ("", "s"))
_WHEN = _DAYS | {month.lower() for month in MONTHS}


def _says_when(word: str) -> bool:
    """Whether a word is a day or a month: "Saturdays", "May" — not the "may" of "may I pay by card?"."""
    return word.lower() in _DAYS or word in MONTHS


@dataclass(frozen=True)
class RecordWords:
    """The words of a tenant's records: of their field names ("product", "warranty", "max", "load") and
    of their values ("forklift", "pallet", "jack")."""

    fields: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()
    text: str = ""  # the passages they were read from, lower case, single-spaced: where a phrase is looked up


def record_words(tenant_session: TenantSession, text: str, n: int = 5) -> RecordWords:
    """The words of the open tenant's records among the chunks keyword search finds for `text`; none
    for a tenant without records (CSV or table rows, JSON objects)."""
    fields: set[str] = set()
    values: set[str] = set()
    found = tenant_session.searcher.keyword_preview(text, n)
    for chunk, _ in found:
        for paragraph in paragraphs(chunk):
            record = record_fields(paragraph) or []
            for name, value in record if len(record) > 1 else []:
                fields |= terms(name)
                values |= terms(value)
    seen = "\n".join(" ".join(chunk.lower().split()) for chunk, _ in found)
    return RecordWords(frozenset(fields), frozenset(values - fields), seen)


def follow_up(question: str, history: list[tuple[str, str]], words: RecordWords) -> tuple[str, list]:
    """The question to answer for `question` after `history` and the history its search may borrow: a
    question of its own and no history when it can be made one, else both unchanged. `words`: those of
    the tenant's records (`record_words`)."""
    if not history or not is_short(question):
        return question, history
    earlier = history[-FOLLOW_UP_TURNS:][0][0]
    for asked, _ in history[-FOLLOW_UP_TURNS:][1:]:  # an earlier follow-up, as it was understood
        earlier = (_alone(asked, earlier, words) or asked) if is_short(asked) else asked
    alone = _alone(question, earlier, words)
    if alone is None:  # its search borrows the earlier question; the day it asked about stays asked
        return _when_kept(question, earlier), history
    return _when_kept(alone, earlier), []


def _when_kept(question: str, earlier: str) -> str:
    """The follow-up made a question of its own with the day or month the earlier question asked about,
    when it names none: "and when does it close?" after "… open on Saturdays?" is "… close on Saturdays?"."""
    when = re.search(r"\b(?:on|in|during) (\w+)\b", earlier)
    if when is None or not _says_when(when.group(1)) or any(_says_when(w) for w in _TOKEN.findall(question)):
        return question
    body = question.rstrip(" ?.!")
    return f"{body} {when.group()}{question[len(body):]}"


def _alone(question: str, earlier: str, words: RecordWords) -> str | None:
    """`question` after `earlier` as a question of its own, or None when it cannot tell how (also for one
    language after the other: a CJK clause would read as one subject)."""
    if has_cjk(question) or has_cjk(earlier):
        return _alone_cjk(question, earlier, words) if has_cjk(question) and has_cjk(earlier) else None
    mine = _subject(question, words)
    before = [w.lower() for w in _TOKEN.findall(question[:mine[0]])][-1:] if mine else []
    theirs = _subject(earlier, words, after=before[0] if before else None)
    tokens = list(_TOKEN.finditer(question))
    day = next((w for w in tokens if _says_when(w.group())), None)
    their_day = next((w for w in _TOKEN.finditer(earlier) if _says_when(w.group())), None)
    if mine is None and day and their_day and not _asks(question) - _asks(day.group()) - _asks(earlier):
        return f"{earlier[:their_day.start()]}{day.group()}{earlier[their_day.end():]}"  # "and on Sundays?"
    back = next((w for w in tokens if w.group().lower() in _BACK
                 and (w.group().lower() != "there" or _THERE_BACK.match(question, w.start()))), None)
    if mine is not None and back is not None and not mine[0] <= back.start() < mine[1]:
        # "what is the Medicare rebate for it?": its own words, and "it" is the earlier subject
        theirs = _subject(earlier, words)
        return question if theirs is None else f"{question[:back.start()]}{_for(back)} {earlier[slice(*theirs)]}" \
            f"{question[back.end():]}"
    if mine is not None:  # names its own subject: asks what it says, or else what the earlier question did
        start, end = mine
        # "and the Business plan?" after "How much storage does the Team plan have?" asks nothing new
        if _asks(question) - _asks(question[start:end]) - _asks(earlier) or theirs is None:
            return question
        if not _fits(question[start:end], earlier, theirs, words):
            return None  # "What about Bob?" after "Who manages the Paris office?": not "the Bob office"
        return f"{earlier[:theirs[0]]}{question[start:end]}{earlier[theirs[1]:]}"
    if theirs is None or not _asks(question):
        return None  # nothing to carry over, or nothing asked ("why?"): its search borrows as before
    subject = earlier[theirs[0]:theirs[1]]
    if back is not None:  # "how much does it cost?" -> "how much does the forklift FL-9 cost?"
        return f"{question[:back.start()]}{_for(back)} {subject}{question[back.end():]}"
    owner = next((w for w in tokens if w.group().lower() in _BACK_OWNER), None)
    if owner is None and _asks(question) - words.fields - _ASKING:
        return None  # no word refers back and not all ask for a field: a subject it names in lower case?
    if owner is not None:  # "and its max load?" -> "and the max load of the forklift FL-9?"
        question = f"{question[:owner.start()]}the{question[owner.end():]}"
    body = question.rstrip(" ?.!")
    return f"{body} of the {subject}{question[len(body):]}"


def _for(back: re.Match) -> str:
    """What stands before the earlier subject in place of the word referring back to it: "there" is "at" it."""
    return "at the" if back.group().lower() == "there" else "the"


def _fits(name: str, earlier: str, theirs: tuple[int, int], words: RecordWords) -> bool:
    """Whether the name can stand where the earlier subject stood. A name before a word it makes a phrase
    with in the tenant's passages ("Paris office") stands for one of a kind: another name takes its place
    only when the passages hold that phrase of it too ("Berlin office", not "Bob office", nor "FL-12 office").
    A code's place ("the FL-9 covered by") takes any name."""
    subject, nxt = earlier[slice(*theirs)], re.match(r" +([^\W\d_][\w'-]*)", earlier[theirs[1]:])
    if nxt is None or any(c.isdigit() for c in subject):
        return True

    def held(phrase: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(' '.join(phrase.lower().split()))}(?!\w)", words.text) is not None
    return not held(f"{subject} {nxt.group(1)}") or held(f"{name} {nxt.group(1)}")


def _asks(text: str) -> set[str]:
    return {t for t in terms(text) if len(t) > 1} - _FILLER


def _subject(question: str, words: RecordWords, after: str | None = None) -> tuple[int, int] | None:
    """Where the question's subject is: the first run of subject words holding a name or code (the first
    after the word `after`, when one is: "in" takes "France", not "FL-9", for "and in Germany?"), up to its
    last name ("forklift FL-9", not the "covered" of "FL-9 covered"), else the longest run. Subject words
    are names and codes ("FL-12", "Aurora", "2025") and words of the tenant's record values that are no
    field name and ask for nothing ("pallet jack"; not "fix" or "happens"). Punctuation ends a run, and
    a sentence's capitalised first word is no name ("FL-9? Please be brief" is no subject "FL-9? Please")."""
    runs: list[list[tuple[re.Match, bool]]] = [[]]
    follows: list[str | None] = [None]  # the word before each run
    skip = words.fields | _ASKING | _FILLER | _WHEN
    end, prev = 0, None
    for word in _TOKEN.finditer(question):
        text, gap = word.group(), question[end:word.start()].strip()
        first, end = end == 0 or gap.endswith((".", "?", "!")), word.end()
        if gap and runs[-1]:
            runs.append([])
            follows.append(None)
        # a first word is a name when more than its initial is capitalised ("FL", "NASA"); "OK" is none
        named = is_name(text, first=first and text[1:].islower()) and text.lower() not in _FILLER | _WHEN
        found = {t for t in terms(text) if len(t) > 1}  # not the "s" of "what's"
        if named or (found and found <= words.values and not found & skip):
            if not runs[-1]:
                follows[-1] = prev
            runs[-1].append((word, named))
        elif runs[-1]:
            runs.append([])
            follows.append(None)
        prev = text.lower()
    found_runs = [(w, run) for w, run in zip(follows, runs, strict=True) if run]
    if not found_runs:
        return None
    with_names = [(w, run) for w, run in found_runs if any(named for _, named in run)]
    run = next((r for w, r in with_names if after is not None and w == after), None) or \
        next((r for _, r in with_names), None) or max((r for _, r in found_runs), key=len)
    last = [word for word, named in run if named][-1:] or [run[-1][0]]
    return run[0][0].start(), last[0].end()


# Chinese follow-ups: no spaces between words, so the subject is told by the words around it (`zh_subject`). A
# follow-up may open with "那", "那么", "还有"… and end with "呢" (asking nothing but its subject: "那FL-12呢？"); a
# pronoun stands for the earlier subject ("它多少钱？").
_ZH_TAIL = re.compile(r"(?:的)?(?P<topic>呢)?[吗啊呀吧]?[\s？?。！!]*$")
# A pronoun, not a character of a word: 其 only opening a clause (尤其, 其次, 极其 are words), 他 not in 他人,
# 吉他, 其他.
_ZH_BACK = re.compile(r"它们|他们|她们|(?<![其吉利排])[它他她](?![人乡国处日者])"
                      r"|(?:^|(?<=[\s，,那么还有另外至于]))其(?![他它中余实次间后])|这个|那个|这些|那些")


def _alone_cjk(question: str, earlier: str, words: RecordWords) -> str | None:
    """A Chinese follow-up after a Chinese question as a question of its own, or None when it cannot tell
    how: "那FL-12呢？" after "FL-9的保修期是多久？" is "FL-12的保修期是多久？", "它多少钱？" is "FL-9多少钱？"."""
    stripped = question.strip()
    lead, tail = ZH_LEAD.match(stripped), _ZH_TAIL.search(stripped)
    body = stripped[lead.end():tail.start()] if tail.start() > lead.end() else ""
    theirs = zh_subject(earlier)
    back = _ZH_BACK.search(question)
    if back is not None:  # "它多少钱？" -> "FL-9多少钱？"
        return None if theirs is None else question[:back.start()] + earlier[slice(*theirs)] + question[back.end():]
    if tail.group("topic") and body and not ZH_STOP.search(body):  # only a subject: asks what the earlier did
        if theirs is None:
            return None
        start, end = _stood_for(body, earlier, theirs, words)
        return f"{earlier[:start]}{body}{earlier[end:]}"
    if any(is_name(w) for w in _TOKEN.findall(body)) or (tail.group("topic") and "的" in body):
        return question  # its own subject, and what it asks of it: "FL-12多少钱？", "北京办公室的电话呢？"
    asked, rest = {t for t in terms(body) if len(t) > 1}, CJK_QUESTION.sub("", body).strip()
    if theirs is not None and rest and CJK_QUESTION.match(body):  # "什么时候发放？": a subject comes before
        return f"{earlier[slice(*theirs)]}{question.strip()}"  # its question word, and this one has none
    if theirs is None or not CJK_QUESTION.search(body) or not rest or asked - words.fields:
        return None  # a subject of its own, maybe ("北京办公室在哪里？"), or nothing asked ("为什么？")
    return f"{earlier[slice(*theirs)]}{question.strip()}"  # "多少钱？" -> "FL-9多少钱？"


def _stood_for(body: str, earlier: str, theirs: tuple[int, int], words: RecordWords) -> tuple[int, int]:
    """The part of the earlier subject (`theirs`) a follow-up's own subject stands for: another column of
    the tenant's tables when it names one ("经理" of "经理（元/晚）" for the "员工" of "普通员工去北京出差住宿标准"),
    else the part up to the longest end of two or more characters they share ("境外ATM" for the "境内ATM" of
    "境内ATM取现手续费", which stays asked), else the whole earlier subject."""
    start, end = theirs
    if body in words.fields:
        subject = earlier[start:end]
        column = next((f for f in sorted(words.fields, key=len, reverse=True)
                       if len(f) > 1 and has_cjk(f) and f != body and f in subject), None)
        if column is not None:
            at = earlier.find(column, start)
            return at, at + len(column)
    for size in range(len(body), 1, -1):
        at = earlier.find(body[-size:], start, end)
        if at >= 0:
            return start, at + size
    return start, end
