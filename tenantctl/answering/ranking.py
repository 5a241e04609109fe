"""Which sentence answers the question: the candidate sentences ranked for it.

Sentences are ranked by the share of the question's content terms they hold (English words by their
first letters, so "surrendered" counts for "surrender"; each term weighted by how rare it is among the
candidate sentences; in CJK a term most of them hold, the topic, weighs less; a sentence opening with a
pronoun holds the names of the sentence before it too), the share of the question's adjacent word pairs
they hold in order ("chair of the IPCC"), their dense similarity to the question for non-CJK questions,
and a bonus when they hold what the question asks for (a number for "how many", a year or date for
"when", a time of day for "what time"); a sentence that says nothing beyond the question's words drops.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from tenantctl.answering.gate import asked_contact, holds_code, named_codes
from tenantctl.answering.numbers import expected_type, typed_tokens
from tenantctl.answering.records import standing_for
from tenantctl.answering.scoring import normalize
from tenantctl.answering.sentences import CJK_QUESTION, STEM, cjk_share, is_name, record_fields, stems, terms
from tenantctl.textproc import has_cjk


@dataclass
class Candidate:
    text: str  # a whole sentence
    n: int  # the number of the passage it comes from (1-based)
    score: float = 0.0
    boost: float = 0.0  # added to the score (a tool's result)
    after: str = ""  # the sentence that follows it in its passage
    heading: str = ""  # the heading path of its passage's section: its words count for the sentence
    title: bool = False  # the section's title itself: a candidate only for the number or date it holds
    before: str = ""  # the sentence before it in its paragraph
    step: int | None = None  # the number of the list item it opens ("4. Set the NameID format")

    @property
    def section(self) -> str:
        return section_title(self.heading)


def section_title(heading: str) -> str:
    """A section's title: the last part of its heading path ("Manual > Changelog > 3.2.0 (2026-03-14)")."""
    return heading.rsplit(" > ", 1)[-1].strip()  # ingestion/chunking.py joins the path so


def numbered_titles(heading: str) -> list[str]:
    """The parts of a heading path holding a number, innermost first: a release's "5.2.0 (2025-09-02)"
    above its "New" and "Fixed" subsections."""
    return [part.strip() for part in reversed(heading.split(" > ")) if re.search(r"\d", part)]


# Ranking weights (tuned on the dev half of bench/bench_answers.py's articles, checked on the other half).
W_DENSE = 1.0  # dense similarity to the question (non-CJK questions)
W_PAIRS = 0.3  # share of the question's adjacent content-word pairs the sentence holds in the same order
W_TYPED = 0.2  # the sentence holds what the question asks for (a number, a date)
W_NOTHING_NEW = 0.3  # taken off a sentence that says nothing beyond the question's own words
W_PASSAGE = 0.02  # taken off per passage rank
W_HEADING_ONLY = 0.5  # a term only the sentence's heading holds counts for half
W_STEP = 1.0  # the list item numbered as the step the question asks for ("What is step 4 of …?")
# A code the question names ("P3", "FL-12") that few sentences hold picks them out: "P3 (minor issue) | 1 business
# day" answers "What is the first-response target for a P3 ticket?", not "First-response targets (…):"; a table's
# row holding it as its first field's, the row of another thing holding it further on (`_code_weight`). A code
# more than TOPIC_SHARE of the sentences hold names the passages' topic ("S7" of the S7 lock's manual).
W_CODE = 1.0
# CJK: a question term held by more than TOPIC_SHARE of the candidate sentences names the passages' topic
# ("环氧氯丙烷"), which a sentence may leave out ("它是一个无色液体"); it weighs W_TOPIC of its rarity, so
# the terms that say what is asked about ("用途", "雇员") decide.
TOPIC_SHARE = 0.3
W_TOPIC = 0.3


# A date to the day: "2026-03-14", "14 March 2026", "March 14, 2026", "2026年3月14日".
_DAY = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)?\s+[A-Z][a-z]+\.?,?\s+\d{4}\b"
                  r"|\b[A-Z][a-z]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b|\d{4}年\d{1,2}月\d{1,2}[日号]")


def rank(question: str, candidates: list[Candidate],
         embed: Callable[[list[str]], list[list[float]]] | None = None, *, earlier: str = "") -> list[Candidate]:
    """The candidates, best first, each with its score; the same sentence twice (overlapping passages)
    counts once, from its best-ranked passage. `earlier`: the question a follow-up without a subject of its
    own leans on ("on which days?" after "Which doctor performs colonoscopies?"): its terms count as the
    follow-up's do (a pronoun-led sentence holds those of the sentence before it) and it joins the dense
    probe; what is asked for (a number, a date) stays the follow-up's."""
    candidates = list({c.text: c for c in reversed(candidates)}.values())[::-1]
    cjk = cjk_share(question) > 0.3
    features = _cjk_features if cjk else stems
    asks_place = _ASKS_PLACE.search(question) if cjk else None
    # "在什么地方" asks for a place; the answer need not hold 在 or 地方
    wanted = features(_ASKS_PLACE.sub(" ", question) if asks_place else question)
    borrowed = features(earlier) - wanted if earlier else set()
    sought = wanted | borrowed
    # A section's heading counts for its sentences ("What changed in 3.1.0?" under "3.1.0"), a record's
    # field names for the words that stand for them ("X5 多少钱？" of "型号: X5; 价格: 899元").
    # A term only its heading holds weighs W_HEADING_ONLY: of "2.3 婚假与产假", the 产假 line answers "产假多少天？".
    said = [features(c.text) for c in candidates]
    held_by = [own | standing_for(c.text, features) | _antecedents(c, features, borrowed)
               for c, own in zip(candidates, said, strict=True)]  # all but its heading
    headings = {c.heading: features(c.heading) for c in candidates}  # one per passage, not per sentence
    sets = [mine | headings[c.heading] for c, mine in zip(candidates, held_by, strict=True)]
    total = len(candidates)
    held = {t: sum(t in s for s in sets) for t in sought}
    weight = {t: math.log(1 + total / (1 + held[t])) * (W_TOPIC if cjk and held[t] > TOPIC_SHARE * total else 1.0)
              for t in sought}
    norm = sum(weight.values()) or 1.0
    probe = f"{earlier} {question}" if earlier else question
    dense = _dense(probe, [c.text for c in candidates], embed) if embed and not cjk else [0.0] * total
    kind = expected_type(question)
    asked = normalize(question)
    pairs = _pairs(question)
    place = wanted - _cjk_features("位于 地处 坐落") if asks_place else set()  # a term beyond these words
    step = asked_step(question)
    contact = asked_contact(question)  # "What is the base URL?": a sentence holding one is of the kind asked
    codes = named_codes(question)
    coded = [_code_weight(c.text, codes) for c in candidates]
    picks_out = 0 < sum(coded) <= TOPIC_SHARE * total  # a row naming it past its key counts half
    for c, own, mine, found, sim, code in zip(candidates, said, held_by, sets, dense, coded, strict=True):
        lexical = sum(weight[t] * (1.0 if t in mine else W_HEADING_ONLY) for t in sought & found) / norm
        typed = (kind and any(normalize(t) not in asked for t in typed_tokens(kind, c.text))
                 or bool(place and found & place and _PLACE.search(c.text))
                 or bool(contact and contact.search(c.text)))
        paired = len(pairs & _pairs(c.text)) / len(pairs) if pairs else 0.0
        new = own - wanted
        c.score = ((1.5 * lexical if cjk else lexical + W_DENSE * sim + W_PAIRS * paired)
                   + (W_TYPED if typed else 0.0) - (0.0 if new else W_NOTHING_NEW)
                   + (W_STEP if step is not None and c.step == step else 0.0)
                   + (W_CODE * code if picks_out else 0.0)
                   - W_PASSAGE * (c.n - 1) + c.boost)
        c.score = round(c.score, 6)  # sums over sets differ in the last bits: equal scores keep text order
        if c.title and not (typed and kind in ("date", "time") and _DAY.search(c.text)):
            c.score = -math.inf  # a title answers only with the day asked for ("3.2.0 (2026-03-14)"), not
            # with the number of "Tidewater Sync 4 User Manual" or the year of "On-call rota (Q4 2025)"
    return sorted((c for c in candidates if not c.title or c.score > -math.inf), key=lambda c: -c.score)


def _code_weight(text: str, codes: list[str]) -> float:
    """How much holding one of the question's `codes` picks `text` out: wholly, or for a table's row holding
    it past the first field, half ("Prerequisites: COMP2030" is the row of another course than
    "Course code: COMP2030")."""
    if not codes or not any(holds_code(text, code) for code in codes):
        return 0.0
    fields = record_fields(text)
    if fields and len(fields) > 1 and not any(holds_code(" ".join(fields[0]), code) for code in codes):
        return 0.5
    return 1.0


# A CJK question for a place ("在哪里", "什么地方", not "在哪一战") is answered by a sentence that places
# something: "位于", or a place name ("广州市", "荔湾区", "黄埔村").
_ASKS_PLACE = re.compile(r"在哪[里儿]?(?![一个些])|在?(?:哪里|哪儿|什么地方|哪个地方|何处|何地|(?:哪些|什么)地区|"
                         r"哪个(?:省|市|国家|城市|地区))|位于(?:什么|哪)")
_PLACE = re.compile(r"位于|地处|坐落|[\u4e00-\u9fff][省市县区州镇村岛]")


# A sentence opening with a pronoun speaks of a name of the sentence before it: "He fled from Gallifrey
# in a stolen TARDIS" answers "What did Doctor Who use to escape from Gallifrey?".
_PRONOUN_LED = re.compile(r"(?:He|She|It|They|His|Her|Its|Their|This|These)\b")


def _antecedents(candidate: Candidate, features: Callable[[str], set[str]], borrowed: set[str]) -> set[str]:
    """What a pronoun-led `candidate` holds of the sentence before it in its paragraph (by `features`): that
    sentence's names, and the `borrowed` terms of a follow-up's earlier question it holds — after "Which doctor
    performs colonoscopies?", "Her list runs on Tuesdays" follows "Dr. Ross performs colonoscopies."."""
    if not candidate.before or not _PRONOUN_LED.match(candidate.text):
        return set()
    words = re.findall(r"[^\W_][\w'-]*", candidate.before)
    names = features(" ".join(w for i, w in enumerate(words) if is_name(w, first=i == 0)))
    return names | (features(candidate.before) & borrowed if borrowed else set())


_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()
_ASKS_STEP = re.compile(rf"\bstep (\d{{1,3}})\b|\b(?:(\d{{1,3}})(?:st|nd|rd|th)|({'|'.join(_ORDINALS)})) step\b"
                        r"|第\s*(\d{1,3})\s*步", re.I)


def asked_step(question: str) -> int | None:
    """The step a question asks for: "step 4", "the 4th step", "the fourth step", "第4步"."""
    if not (m := _ASKS_STEP.search(question)):
        return None
    number, nth, word, zh = m.groups()
    return _ORDINALS.index(word.lower()) + 1 if word else int(number or nth or zh)


def _pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent content words (stopwords skipped), or adjacent CJK bigrams: the question's phrases."""
    if has_cjk(text):
        run = [ch for ch in CJK_QUESTION.sub(" ", text) if has_cjk(ch)]
        return {(a + b, b + c) for a, b, c in zip(run, run[1:], run[2:], strict=False)}
    words = [w[:STEM] for m in re.finditer(r"[^\W_]+", text.lower()) for w in terms(m.group())]
    return set(zip(words, words[1:], strict=False))


def says_nothing_new(sentence: str, question: str) -> bool:
    """Whether every word of an English sentence is one of the question's (by its first letters)."""
    return not has_cjk(sentence) and not stems(sentence) - stems(question)


def holds_all_and_more(sentence: str, question: str) -> bool:
    """Whether an English sentence holds every word of the question (by its first letters) and more."""
    asked, said = stems(question), stems(sentence)
    return not has_cjk(sentence) and bool(asked) and asked < said


def _cjk_features(text: str) -> set[str]:
    """CJK bigrams and single characters: a name's characters count even where the bigrams differ."""
    return terms(text) | {ch for ch in CJK_QUESTION.sub(" ", text) if has_cjk(ch)}


def _dense(question: str, texts: list[str], embed) -> list[float]:
    vectors = embed([question, *texts])
    q = vectors[0]
    return [float(sum(a * b for a, b in zip(q, v, strict=True))) for v in vectors[1:]]
