"""A record's fields ("product: Forklift FL-9; warranty: 5 years; price: 12000"): which the question names.

A question names a field by its own name or by a word that stands for it (`FIELD_WORDS`: "cost" for the
price); the fields whose value the question gives say which record it is. The answer to a question about a
record is the fields it names with those that say which record (`field_answer`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from tenantctl.answering.sentences import STEM, is_name, record_fields, stems, terms
from tenantctl.answering.windows import MAX_SPAN_WORDS, joined, window

# A question names a field by another word as often as by the field's own: "cost" asks for the price,
# "where" for the address. Words of a group stand for each other (compared by their first STEM letters).
FIELD_WORDS = [
    ("cost", "price", "fee", "charge", "rate", "much"),  # "How much is the Team plan?" asks its price
    ("where", "address", "location", "city", "place", "site", "哪里", "哪儿", "在哪", "地址", "位置", "地点"),
    ("when", "date", "time", "year", "opened", "founded"),
    ("who", "head", "manager", "owner", "contact", "lead"),
    ("fix", "action", "solution", "remedy", "resolution"),
    ("mean", "meaning", "description", "definition"),
    ("钱", "价格", "售价", "价钱", "费用"),  # "X5 多少钱？" asks for the 价格
]
_FIELD_STEMS = [frozenset(w[:STEM] for w in group) for group in FIELD_WORDS]
STANDING = frozenset().union(*_FIELD_STEMS)  # every word that stands for a field
_ZH_STANDING = frozenset(w for group in FIELD_WORDS for w in group if len(w) > 1 and not w.isascii())


def _field_words(question: str) -> tuple[set[str], set[str]]:
    """The question's terms by their first STEM letters with the words they stand for in records
    (`FIELD_WORDS`: "cost" for "price"), and apart the words its question words stand for ("where" for
    "address"): weaker, as a question word names a field only of the record the question is about."""
    own = stems(question) - {"much"}  # "how much" asks, as "where" does
    own |= {ch for ch in question if ch in STANDING}  # "多少钱一壶": its 钱 is inside the bigrams "钱一", "一壶"
    own |= {w for w in _ZH_STANDING if w in question}  # "在哪里" asks the 地址: a question word, not a term
    asking = {w.lower()[:STEM] for w in re.findall(r"[^\W_]+", question)} - own
    strong, weak = set(own), set()
    for group in _FIELD_STEMS:
        if group & own:
            strong |= group
        elif group & asking:
            weak |= group
    return strong, weak


def _given(fields: list[tuple[str, str]], wanted: set[str]) -> set[int]:
    """The fields most of whose value the question's terms `wanted` give ("error code E-417", "Austin"), the
    best given first, each term giving one field: the "2" of "FL-2" is the product's, not "2 years"."""
    values = [terms(value) - terms(name) for name, value in fields]  # "floor: third floor" gives no floor
    given: set[int] = set()
    left = set(wanted)
    for i in sorted(range(len(fields)), key=lambda i: -len(values[i] & wanted) / (len(values[i]) or 1)):
        if values[i] and len(values[i] & left) / len(values[i]) >= 0.5:
            given.add(i)
            left -= values[i]
    return given


def standing_for(text: str, features: Callable[[str], set[str]]) -> set[str]:
    """The features of the words that stand for a record's field names (`FIELD_WORDS`): "价格" holds "钱"."""
    fields = record_fields(text)
    if not fields:
        return set()
    names = set().union(*(features(name) for name, _ in fields))
    found: set[str] = set()
    for said in _field_features(features):
        if any(f and f <= names for f in said):
            found |= set().union(*said)
    return found


@functools.cache
def _field_features(features: Callable[[str], set[str]]) -> list[list[frozenset[str]]]:
    """The features of each word of each group of `FIELD_WORDS`, derived once per kind of features."""
    return [[frozenset(features(word)) for word in group] for group in FIELD_WORDS]


def _names_elsewhere(question: str, fields: list[tuple[str, str]]) -> bool:
    """Whether the question names something the record does not hold (a code, a capitalised word past its
    first, or any other word of it): its fields would answer of another subject."""
    held = set().union(*(terms(f"{name} {value}") for name, value in fields))
    words = re.findall(r"[^\W_](?:[\w-]*[^\W_])?", question)
    names = [w for i, w in enumerate(words) if is_name(w, first=not i)]
    if any(terms(name) - held for name in names):
        return True
    # In lower case: a word the record holds nowhere, nor one a field stands for ("Which warranty has the
    # order picker?" of a pallet jack's record).
    return bool(stems(question) - {t[:STEM] for t in held} - STANDING)


_BRACKETED = re.compile(r"\([^()]*\)|（[^（）]*）")


def field_answer(question: str, sentence: str, contact: re.Pattern | None = None) -> str | None:
    """For a record ("product: Forklift FL-9; warranty: 5 years; price: 12000"): the fields the question
    names ("What is the warranty of the FL-9?" → "product: Forklift FL-9; warranty: 5 years") — those naming
    most of it, by their own name or one it stands for ("monthly_price_eur" for "cost per month") — with the
    fields whose value the question gives, which say which record it is; None when it names no field. A
    question asking for a phone number, e-mail or web address (`contact`, what one looks like) names the
    fields holding one: "What is the out-of-hours on-call number?" asks the "Contact", not the "Hours"."""
    fields = record_fields(sentence)
    if not fields or len(fields) < 2:
        return None
    wanted = terms(question)
    strong, weak = _field_words(question)
    giving = _given(fields, wanted)  # the fields that say which record it is: "error code E-417", "Austin"

    def naming(words: set[str]) -> dict[int, int]:
        return {i: len(stems(name) & words) for i, (name, _) in enumerate(fields) if stems(name) & words}

    named, words_asked = naming(strong), strong
    if giving and all(i in giving for i in named):  # a question word names a field when no word of its own does
        named, words_asked = naming(strong | weak), strong | weak
    asked = [i for i in named if i not in giving]
    if contact and (holding := [i for i, (_, value) in enumerate(fields) if i not in giving and contact.search(value)]):
        named.update({i: named.get(i, 0) + 1 for i in holding})
        asked = holding
    if not asked or len(asked) == len(fields):
        return None
    # the field the question names most of, of those the fewest words of their own: "per month" asks the
    # "monthly_price_usd", not the "annual_price_usd_per_month"; a name's bracketed qualifier is no word of
    # its own ("Standard parcel (up to 5 kg)" is the "standard parcel", not the "Free shipping threshold")
    own = {i: stems(_BRACKETED.sub(" ", fields[i][0])) for i in asked}
    fit = {i: (named[i] - len(own[i] - words_asked), -len(own[i])) for i in asked}
    asked = [i for i in asked if fit[i] == max(fit.values())]
    which = [i for i in named if i in giving]
    if not which:  # else the field whose value the question gives most of: "product: Forklift FL-9"
        given = {i: len(terms(value) & wanted) / len(terms(value) or {""})
                 for i, (_, value) in enumerate(fields) if i not in asked}
        which = [best] if given and given[best := max(given, key=given.get)] else []
    if not which and _names_elsewhere(question, fields):
        return None  # "Which warranty has the Zephyr?" of another product's record: not its warranty
    shown = joined(fields, {*asked, *which})
    if len(shown.split()) > MAX_SPAN_WORDS:
        shown = window(joined(fields, asked), question)
    return shown
