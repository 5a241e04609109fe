"""A sentence cut to a concise answer's length.

A long sentence is cut to the stretch around the question's terms, holding the model's answer when that was
not taken but sits next to them (`window`; a record to whole fields, asides in brackets dropped first), several
numbers or dates of it to the stretch holding them all (`span_window`), a window without the run of the
question's own words it opens with (`trim_lead`), and a short sentence goes on into the one after it
(`continued`). At most MAX_SPAN_WORDS words (CJK: MAX_SPAN_CHARS characters).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from tenantctl.answering.sentences import record_fields, stems, terms
from tenantctl.textproc import has_cjk

MAX_SPAN_WORDS = 30
MAX_SPAN_CHARS = 80


_ASIDE = re.compile(r"\s*（[^（）]*）|\s*\([^()]*\)")


def _drop_asides(sentence: str, question: str) -> str:
    """The sentence without its asides in brackets, but for those that hold or directly follow one of
    the question's terms: "enzootic (commonly present)" answers "What does enzootic mean?". A CJK aside
    is kept only when it holds one (after a name it is mostly the name in another script), and one in Latin
    letters ("又译…，英文：…") only when it holds one the rest of the sentence lacks."""
    wanted, cjk = terms(question), has_cjk(sentence)

    def keep(m: re.Match) -> bool:
        held = terms(m.group()) & wanted
        if cjk and re.search(r"[A-Za-z]", m.group()):  # another name ("又译…，英文：…") repeating the sentence's terms
            held -= terms(sentence[:m.start()] + sentence[m.end():])
        if held:
            return True
        before = re.findall(r"[^\W_]+", sentence[max(0, m.start() - 30):m.start()])
        return not cjk and bool(before) and bool(terms(before[-1]) & wanted)  # CJK asides are mostly names

    return _ASIDE.sub(lambda m: m.group() if keep(m) else "", sentence)


WINDOW_TAIL = 3  # words (CJK: three characters each) a window keeps after the question's terms it holds


def window(sentence: str, question: str, hint: str = "") -> str:
    """A sentence longer than a concise answer cut to the stretch around the question's terms (the
    answer is usually next to them: the stretch holding most of them, with a few words to spare after
    them), marked with "…" where it was cut; at most MAX_SPAN_WORDS words (CJK: MAX_SPAN_CHARS
    characters), the marks included. `hint`: what the model answered, not taken as the answer; where it
    runs in the sentence weighs as HINT_WEIGHT of the question's terms, so a window that would end just
    before the answer ("…read from the creation story in the Book of…") holds it ("Genesis 1:26-30")."""
    cjk = has_cjk(sentence)
    limit = MAX_SPAN_CHARS - 2 if cjk else MAX_SPAN_WORDS  # "…" joins a word; in CJK it is a character

    def size(text: str) -> int:
        return len("".join(text.split())) if cjk else len(text.split())

    if size(sentence) <= (MAX_SPAN_CHARS if cjk else MAX_SPAN_WORDS):
        return sentence
    if (fields := record_fields(sentence)) and len(fields) > 1:
        sentence = _record_window(fields, question, limit, size)  # whole fields; a long one is cut below
        if size(sentence) <= limit:
            return sentence
    sentence = " ".join(_drop_asides(sentence, question).split())
    if size(sentence) <= limit:
        return sentence
    units: list[str] = list(sentence) if cjk else sentence.split()
    wanted = terms(question)
    if cjk:
        marks = [i for i in range(len(units) - 1) if terms(sentence[i:i + 2]) & wanted]
    else:
        marks = [i for i, w in enumerate(units) if terms(w) & wanted]
    tail = WINDOW_TAIL * (3 if cjk else 1)  # room after the question's terms, where the answer often is
    run = _hint_run(units, hint, wanted, cjk, marks)
    counts = [sum(start <= m < start + limit - tail for m in marks)
              + (HINT_WEIGHT if run and start <= run[0] and run[1] <= start + limit else 0)
              for start in range(len(units) - limit + 1)]
    best = counts.index(max(counts))
    first = next((m for m in marks if m >= best), best)
    start = max(0, min(first - (4 if cjk else 5), len(units) - limit))
    if run and best <= run[0] and run[1] <= best + limit:  # the hint stays in, with a word to spare after it
        start = min(max(start, run[1] + 1 - limit), run[0])
    text = ("" if cjk else " ").join(units[start:start + limit])
    return ("…" if start else "") + text + ("…" if start + limit < len(units) else "")


HINT_WEIGHT = 2  # the model's answer, where it runs in a sentence, counts as this many of the question's terms
HINT_NEAR = 3  # … when it is this near one of them


def _hint_run(units: list[str], hint: str, wanted: set[str], cjk: bool, marks: list[int]) -> tuple[int, int] | None:
    """Where the longest run of `hint`'s words (CJK: characters) is in `units`, the sentence's: its first
    index and the one past its last; None when the run holds nothing beyond the question's terms or is
    further than HINT_NEAR words (CJK: three times as many characters) from every one of them (`marks`):
    a small model also copies the wrong item of a long list."""
    if not hint:
        return None
    key = (lambda u: u) if cjk else (lambda u: u.lower().strip(".,;:!?\"'()[]“”‘’"))
    theirs = list(hint) if cjk else hint.split()
    match = difflib.SequenceMatcher(None, [key(u) for u in units], [key(u) for u in theirs],
                                    autojunk=False).find_longest_match()
    start, end = match.a, match.a + match.size
    if match.size < (2 if cjk else 1) or not terms(("" if cjk else " ").join(units[start:end])) - wanted:
        return None
    near = HINT_NEAR * (3 if cjk else 1)
    if not any(start - near <= m < end + near for m in marks if not start <= m < end):
        return None
    return start, end


def _record_window(fields: list[tuple[str, str]], question: str, limit: int, size: Callable[[str], int]) -> str:
    """A record too long for an answer cut to whole fields: those holding the question's terms (else
    the first ones), as many as fit — or, when the first of them alone is too long, that one field."""
    wanted = terms(question)
    holding = [i for i, field in enumerate(fields) if terms(" ".join(field)) & wanted] or range(len(fields))
    kept: list[int] = []
    for i in holding:
        if size(joined(fields, [*kept, i])) <= limit:
            kept.append(i)
    longest = max(holding, key=lambda i: len(terms(" ".join(fields[i])) & wanted))
    if longest not in kept:  # the field that holds most of the question, too long whole: cut below
        kept = [longest]
    return joined(fields, kept)


def joined(fields: list[tuple[str, str]], chosen) -> str:
    """The record of the `chosen` fields (their indices), in the record's order."""
    return "; ".join(f"{fields[i][0]}: {fields[i][1]}" for i in sorted(chosen))


CONTINUE_BELOW = 25  # words (CJK: three times as many characters) a shown sentence goes on into the next one below


def continued(shown: str, after: str) -> str:
    """A short sentence shown with the start of the one after it, up to a concise answer's length: the
    sentence most like the question often sets the scene and the next one answers it ("…after the 1954
    decision in Brown v. Board of Education … ." → "The academies' students were white…"). A window cut
    already, a record, a sentence with nothing after it, or one followed by a record (a table's row after
    the text above it) stays as it is."""
    if not after or shown.endswith("…") or record_fields(shown) or record_fields(after):
        return shown
    if has_cjk(shown):
        chars = len("".join(shown.split()))
        if chars > CONTINUE_BELOW * 3:
            return shown
        room = MAX_SPAN_CHARS - chars - 1  # the "…" is a character too
        return shown + after[:room] + ("…" if len(after) > room else "")
    words, more = shown.split(), after.split()
    if len(words) >= CONTINUE_BELOW:
        return shown
    room = MAX_SPAN_WORDS - len(words)
    return " ".join([*words, *more[:room]]) + ("…" if len(more) > room else "")



CHOICES_PAD = 1  # words a window of several numbers or dates keeps either side of them


def span_window(sentence: str, parts: list[str], question: str) -> str:
    """The stretch of `sentence` from the first of `parts` to the last, with CHOICES_PAD words either
    side, marked with "…" where cut; the plain `window` when they are not all found or too far apart,
    or `sentence` is a record (whose fields stay whole)."""
    starts = [sentence.find(p) for p in parts]
    if not parts or min(starts) < 0 or record_fields(sentence):
        return window(sentence, question)
    first = len(sentence[:min(starts)].split())
    last = max(len(sentence[:at + len(p)].split()) for at, p in zip(starts, parts, strict=True))
    words = sentence.split()
    begin, end = max(0, first - CHOICES_PAD), min(len(words), last + CHOICES_PAD)
    if end - begin > MAX_SPAN_WORDS:
        return window(sentence, question)
    return ("…" if begin else "") + " ".join(words[begin:end]) + ("…" if end < len(words) else "")


TRIM_LEAD = 3  # a window drops at least this many leading words that restate the question, or none
_NEGATION = re.compile(r"not|no|never|cannot|can't|won't|don't|doesn't|isn't|aren't|wasn't|weren't|didn't|n't")


def trim_lead(text: str, question: str) -> str:
    """An English window without the run of the question's own words (and stopwords) it starts with,
    when that run is long, but for its last word: the question already says those ("The annual animal
    migration occurs between June and September" answers "When does the annual animal migration
    occur?" as "…occurs between June and September"). The run ends at a negation: "A storm does not
    include persistent rain" answers "Does a storm include persistent rain?" with its "not". CJK text is
    left as it is."""
    if has_cjk(text) or record_fields(text.lstrip("…")) or text.endswith(":"):
        return text  # a record keeps its fields whole; a line introducing a list is the list's context
    asked = stems(question)
    words = text.split()

    def restated(word: str) -> bool:  # stopwords and punctuation have no terms: they count as restated,
        return stems(word) <= asked and not _NEGATION.fullmatch(word.strip(",;:").lower())  # but a "not" never

    skip = 0
    while skip < len(words) - 1 and restated(words[skip]):
        skip += 1
    skip = max(0, skip - 1)  # the last of them stays, as the answer's context
    if skip < TRIM_LEAD:
        return text
    return "…" + " ".join(words[skip:]).lstrip("…")
