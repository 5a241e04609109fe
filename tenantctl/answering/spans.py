"""Which sentence answers the question, and which short span of it is the answer.

Sentences are ranked by the share of the question's content terms they hold (English words by their
first letters, so "surrendered" counts for "surrender"; each term weighted by how rare it is among the
candidate sentences; in CJK a term most of them hold, the topic, weighs less; a sentence opening with a
pronoun holds the names of the sentence before it too), the share of the question's adjacent word pairs
they hold in order ("chair of the IPCC"), their dense similarity to the question for non-CJK questions,
and a bonus when they hold what the question asks for (a number for "how many", a year or date for
"when", a time of day for "what time"); a sentence that says nothing beyond the question's words drops.
A span proposed by the model is accepted only when it (or a reading of it without a leading preposition
or the question's own words) occurs in a candidate sentence after SQuAD-style normalisation, says more
than the question's own words and sits next to the question's terms in that sentence (`beside`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from tenantctl.answering.scoring import is_punct, normalize
from tenantctl.answering.sentences import CJK_QUESTION, cjk_share, cut_loops, is_name, record_fields, terms
from tenantctl.textproc import has_cjk

MAX_SPAN_WORDS = 30
MAX_SPAN_CHARS = 80

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_SPELLED = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
            r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
            r"hundred|thousand|dozen|million|billion|half|thirds|quarters)")
_ORDINAL = (r"(?:(?:twenty|thirty)-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|"
            r"twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth)")
# "1.6-million-year-old", "21-minute"
_SCALE = (r"(?:\s?%|\s?°\s?[CF]\b|[\s-]?(?:percent|per cent|million|billion|trillion|thousand|hundred)\b)?"
          r"(?:-(?:year|month|day|week|hour|minute|second|mile|metre|meter|foot|inch|old|long|strong)\b)*")
_ZH_NUM = r"[\d零〇一二三四五六七八九十百千万亿两.．]+"
# "70公分", "10英寸", "3亿加元", "两个小时" (not "两个")
_ZH_UNIT = (r"(?:公[里分斤顷尺]|平方(?:公里|米)|[千厘毫]米|英[寸尺里亩镑]|海里|光年|[美欧港日加澳新台]元|人民币|英镑"
            r"|个(?:多)?(?:小时|钟头|月|星期|礼拜|工作日)|小时|分钟|钟头"
            r"|(?![至到])[\u4e00-\u9fff])")  # "7 至 10 个工作日" is a range, 至 no unit
# After a lone 一 only a measure word or unit makes an amount: "一个", "一年", but not "一线", "一般".
_ZH_MEASURE = (r"[个位名人只条件张本次回遍届期批种类套份支把根头匹棵株朵片块颗粒层座所家项部台辆架艘场年月日天周岁"
               r"元角分秒倍米里斤吨升克亩户间栋章节首篇页幅成公平千厘毫号级石斗口环轮班组队册卷集版季代世段步寸尺丈晚等"
               r"两钱杯瓶包箱例笔站拨阵声刻针车船盘局对双副群堆排列滴串束扇幢辈胎窝锅]")
_LONE_ONE = rf"(?!一(?![\d零〇一二三四五六七八九十百千万亿两.．]|\s?{_ZH_MEASURE}))"
# A bare 3- or 4-digit number followed by a currency or a unit is an amount, not a year: "600 GBP".
_NO_YEAR = (r"(?!\s?(?:%|°|(?:GBP|EUR|USD|CHF|JPY|CNY|RMB|AUD|CAD|INR|HKD|SGD|SEK|NOK|DKK|PLN|euros?|dollars?|pounds?|"
            r"yuan|percent|per cent|km|kg|mb|gb|tb|kb|ms|mm|cm|miles?|metres?|meters?|feet|ft|lbs?|tonnes?|"
            r"hours?|minutes?|seconds?|days|weeks|months|people|employees|staff|users|pages|words)\b))")
# The word naming what a number counts ("3 men", "fourteen"), in lower case: "Vice" of "fourteen Vice
# Presidents" is a name's.
_UNIT_WORD = (r"(?:\s(?!(?:of|in|and|the|to|a|on|at|for|by)\b)(?-i:[a-z]+)"
              r"(?:\s(?-i:(?:minute|hour|day|week|month|year)s?)\b)?"  # "10 working days"
              r"(?:\s(?-i:ago|old|later)\b)?)?")  # "20 million years ago"
PATTERNS = {
    "date": re.compile(
        rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{3,4}}|{_MONTH}\s+\d{{3,4}}"
        rf"|(?:\d{{1,2}}(?:st|nd|rd|th)|{_ORDINAL})[\s-](?:century|millennium)(?:\s(?:AD|BC|BCE|CE)\b)?|(?<![\d,.])\d{{3,4}}s?(?![,.]\d){_NO_YEAR})\b"
        rf"|{_ZH_NUM}(?:年代|世纪|年(?:{_ZH_NUM}月)?(?:{_ZH_NUM}[日号])?|月(?:{_ZH_NUM}[日号])?)",
        re.I,
    ),
    # A time of day: "8:00 am", "17:30", "9 pm", "下午3点半"; a range of them is one token ("10:00–16:00").
    "time": re.compile(
        r"(?<![\d:.])\d{1,2}[:：]\d{2}(?::\d{2})?(?:\s?[ap]\.?m\b\.?)?|\b\d{1,2}\s?(?:[ap]\.?m\b\.?|o'clock\b)"
        r"|(?:上午|中午|下午|晚上|早上|凌晨)?\d{1,2}点(?:半|\d{1,2}分)?",
        re.I,
    ),
    "number": re.compile(
        rf"(?:第|{_LONE_ONE}){_ZH_NUM}(?:\s?[零〇一二三四五六七八九十百千万亿两]+)?(?:余|多)?(?![的是在和与及了至到般些样切直起定])\s?{_ZH_UNIT}"
        rf"|(?:\$|£|€|US\$)?(?<![A-Za-z])\d(?:[\d,]*\d)?(?:\.\d+)?(?!\d|(?:st|nd|rd|th)\b){_SCALE}{_UNIT_WORD}"
        rf"|\b{_SPELLED}(?:[\s-]{_SPELLED})*\b{_UNIT_WORD}",
        re.I,
    ),
}
_EXPECTS = [
    ("time", re.compile(r"\b(?:what|which) time\b|\bhow (?:late|early)\b|\bopening hours\b"
                        r"|\bwhen (?:does|do|is|are|will)\b[^?]*?\b(?:open|close|start|begin|finish)(?:s|es)?\b"
                        r"|几点|什么时间", re.I)),
    ("date", re.compile(r"\b(when|what (year|decade|century|date|month)|which (year|decade|century|date|month)|"
                        r"in what year)\b|哪一?年|何时|什么时候|哪个(年|月)|几月|哪一天|哪天|年份|日期", re.I)),
    ("number", re.compile(r"\b(how (many|much|long|old|far|often|large|big|tall|high|wide|deep)|what (percentage|"
                          r"percent|number|proportion|amount|fraction|share)|how many)\b|多少|(?<!哪)几(?!乎)|"
                          r"多大|多长|多高|多重|多久|百分之|比例", re.I)),
]


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


def expected_type(question: str) -> str | None:
    """What the question asks for: "time" (of day), "date", "number", or None (哪几种 asks which kinds, not
    how many).
    An English question asks for what its question word names, the first one past a leading "When ...,"
    clause: "How high did it reach when launched?" wants a number, "Who opened it when?" a name."""
    found = [(m.start(), kind) for kind, pattern in _EXPECTS if (m := pattern.search(question))]
    if not found:
        return None
    if cjk_share(question) > 0.3:
        return found[0][1]
    asks = _asking_word(question)
    if asks is None:
        return min(found)[1]
    # The phrase that holds the question word: "Who presented it when it opened?" wants a name.
    return next((kind for kind, pattern in _EXPECTS for m in pattern.finditer(question)
                 if m.start() <= asks < m.end()), None)


_WH = re.compile(r"\b(?:who|whom|whose|what|which|where|why|how|when)\b", re.I)
# "When the vote ended, what ...", "Since nobody knew how many ..., what ...": a clause, not the question.
_LEADING_CLAUSE = re.compile(r"^\s*(?:when|since|if|while|after|before|although|though|because|once)\b[^,?]*,", re.I)


def _asking_word(question: str) -> int | None:
    """Where an English question's own question word is: its first, past a leading "When ..., " clause."""
    lead = _LEADING_CLAUSE.match(question)
    m = _WH.search(question, lead.end() if lead and _WH.search(question, lead.end()) else 0)
    return m.start() if m else None


_RANGE = re.compile(r"\s*(?:至|到|~|～|-|–|—|to|until)\s*", re.I)


def typed_tokens(kind: str, text: str) -> list[str]:
    """The numbers (or dates) in `text`; a range ("475年至477年", "1914 to 1918") is one token."""
    found: list[str] = []
    pattern = PATTERNS[kind]
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        end = m.end()
        joint = _RANGE.match(text, end)
        if joint and (second := pattern.match(text, joint.end())) and second.group().strip(" .,"):
            end = second.end()
        token = text[m.start():end].strip(" .,")
        if token:
            found.append(token)
        pos = max(end, m.start() + 1)
    return found


# Ranking weights (tuned on the dev half of bench/bench_answers.py's articles, checked on the other half).
W_DENSE = 1.0  # dense similarity to the question (non-CJK questions)
W_PAIRS = 0.3  # share of the question's adjacent content-word pairs the sentence holds in the same order
W_TYPED = 0.2  # the sentence holds what the question asks for (a number, a date)
W_NOTHING_NEW = 0.3  # taken off a sentence that says nothing beyond the question's own words
W_PASSAGE = 0.02  # taken off per passage rank
W_STEP = 1.0  # the list item numbered as the step the question asks for ("What is step 4 of …?")
# CJK: a question term held by more than TOPIC_SHARE of the candidate sentences names the passages' topic
# ("环氧氯丙烷"), which a sentence may leave out ("它是一个无色液体"); it weighs W_TOPIC of its rarity, so
# the terms that say what is asked about ("用途", "雇员") decide.
TOPIC_SHARE = 0.3
W_TOPIC = 0.3
STEM = 4  # words compared by their first letters: "surrendered" is "surrender", "elected" "election"


def rank(question: str, candidates: list[Candidate],
         embed: Callable[[list[str]], list[list[float]]] | None = None) -> list[Candidate]:
    """The candidates, best first, each with its score; the same sentence twice (overlapping passages)
    counts once, from its best-ranked passage."""
    candidates = list({c.text: c for c in reversed(candidates)}.values())[::-1]
    cjk = cjk_share(question) > 0.3
    features = _cjk_features if cjk else _stems
    asks_place = _ASKS_PLACE.search(question) if cjk else None
    # "在什么地方" asks for a place; the answer need not hold 在 or 地方
    wanted = features(_ASKS_PLACE.sub(" ", question) if asks_place else question)
    # A section's heading counts for its sentences ("What changed in 3.1.0?" under "3.1.0"), a record's
    # field names for the words that stand for them ("X5 多少钱？" of "型号: X5; 价格: 899元").
    said = [features(c.text) for c in candidates]
    headings = {c.heading: features(c.heading) for c in candidates}  # one per passage, not per sentence
    sets = [own | headings[c.heading] | _standing_for(c.text, features) | _antecedents(c, features)
            for c, own in zip(candidates, said, strict=True)]
    total = len(candidates)
    held = {t: sum(t in s for s in sets) for t in wanted}
    weight = {t: math.log(1 + total / (1 + held[t])) * (W_TOPIC if cjk and held[t] > TOPIC_SHARE * total else 1.0)
              for t in wanted}
    norm = sum(weight.values()) or 1.0
    dense = _dense(question, [c.text for c in candidates], embed) if embed and not cjk else [0.0] * total
    kind = expected_type(question)
    asked = normalize(question)
    pairs = _pairs(question)
    place = wanted - _cjk_features("位于 地处 坐落") if asks_place else set()  # a term beyond these words
    step = asked_step(question)
    for c, own, found, sim in zip(candidates, said, sets, dense, strict=True):
        lexical = sum(weight[t] for t in wanted & found) / norm
        typed = (kind and any(normalize(t) not in asked for t in typed_tokens(kind, c.text))
                 or bool(place and found & place and _PLACE.search(c.text)))
        paired = len(pairs & _pairs(c.text)) / len(pairs) if pairs else 0.0
        new = own - wanted
        c.score = ((1.5 * lexical if cjk else lexical + W_DENSE * sim + W_PAIRS * paired)
                   + (W_TYPED if typed else 0.0) - (0.0 if new else W_NOTHING_NEW)
                   + (W_STEP if step is not None and c.step == step else 0.0)
                   - W_PASSAGE * (c.n - 1) + c.boost)
        c.score = round(c.score, 6)  # sums over sets differ in the last bits: equal scores keep text order
        if c.title and not typed:
            c.score = -math.inf  # a title answers only with the number or date asked for
    return sorted((c for c in candidates if not c.title or c.score > -math.inf), key=lambda c: -c.score)


# A CJK question for a place ("在哪里", "什么地方", not "在哪一战") is answered by a sentence that places
# something: "位于", or a place name ("广州市", "荔湾区", "黄埔村").
_ASKS_PLACE = re.compile(r"在哪[里儿]?(?![一个些])|在?(?:哪里|哪儿|什么地方|哪个地方|何处|何地|(?:哪些|什么)地区|"
                         r"哪个(?:省|市|国家|城市|地区))|位于(?:什么|哪)")
_PLACE = re.compile(r"位于|地处|坐落|[\u4e00-\u9fff][省市县区州镇村岛]")


# A sentence opening with a pronoun speaks of a name of the sentence before it: "He fled from Gallifrey
# in a stolen TARDIS" answers "What did Doctor Who use to escape from Gallifrey?".
_PRONOUN_LED = re.compile(r"(?:He|She|It|They|His|Her|Its|Their|This|These)\b")


def _antecedents(candidate: Candidate, features: Callable[[str], set[str]]) -> set[str]:
    """The names of the sentence before a pronoun-led `candidate` in its paragraph (by `features`)."""
    if not candidate.before or not _PRONOUN_LED.match(candidate.text):
        return set()
    words = re.findall(r"[^\W_][\w'-]*", candidate.before)
    return features(" ".join(w for i, w in enumerate(words) if is_name(w, first=i == 0)))


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


def _stems(text: str) -> set[str]:
    return {t[:STEM] for t in terms(text)}


def says_nothing_new(sentence: str, question: str) -> bool:
    """Whether every word of an English sentence is one of the question's (by its first letters)."""
    return not has_cjk(sentence) and not _stems(sentence) - _stems(question)


def holds_all_and_more(sentence: str, question: str) -> bool:
    """Whether an English sentence holds every word of the question (by its first letters) and more."""
    asked, said = _stems(question), _stems(sentence)
    return not has_cjk(sentence) and bool(asked) and asked < said


def _cjk_features(text: str) -> set[str]:
    """CJK bigrams and single characters: a name's characters count even where the bigrams differ."""
    return terms(text) | {ch for ch in CJK_QUESTION.sub(" ", text) if has_cjk(ch)}


def _dense(question: str, texts: list[str], embed) -> list[float]:
    vectors = embed([question, *texts])
    q = vectors[0]
    return [float(sum(a * b for a, b in zip(q, v, strict=True))) for v in vectors[1:]]


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
        asked = _stems(question)
        words = span.split()
        start = 0
        while start < len(words) and (_stems(words[start]) <= asked or words[start].lower() in _LINKING):
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
        holder = next((c for c in candidates if occurs(wanted, normalize(c.text))), None)
        if holder:
            return reading, holder
    return None


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


_UNITS = [(re.compile(r"\b(century|millennium)\b|世纪", re.I), re.compile(r"century|millennium|世纪", re.I)),
          (re.compile(r"\bdecade\b|年代", re.I), re.compile(r"\d0s$|年代")),
          (re.compile(r"\b(?:what|which) month\b", re.I), re.compile(_MONTH, re.I)),
          # "How much does it cost?", "停车证每月多少钱？": an amount of money, not "15 spaces"
          (re.compile(r"\bhow much\b.*\b(?:cost|costs|pay|paid|price|charge|charged|spend|spent|worth|fee)\b|"
                      r"多少钱|价格|价钱|费用|造价|售价|票价|花费|多少元", re.I),
           re.compile(r"[$£€¥]|\b(?:dollars?|euros?|pounds?|pence|cents?|yuan|yen|EUR|USD|GBP|CHF|JPY|CNY|RMB)\b|"
                      r"[元镑币]", re.I))]
_NUMERAL = re.compile(r"\d+(?:[.,]\d+)*")


def typed_choices(question: str, sentence: str) -> list[str]:
    """For a question asking for a number or date: those in `sentence` that may answer it, i.e. not in
    the question itself (neither whole nor by its leading number: "2100" of "from 1990 to 2100" is not
    "2100 sea levels"), and of the unit asked for ("in what century" wants a century, not a year)."""
    kind = expected_type(question)
    if not kind:
        return []
    asked = normalize(question)
    given = set(_NUMERAL.findall(question))
    found = [t for t in typed_tokens(kind, sentence)
             if normalize(t) not in asked and not set(_NUMERAL.findall(t)[:1]) & given]
    for asked_for, unit in _UNITS:
        if asked_for.search(question):
            found = [t for t in found if unit.search(t)] or found
    if kind == "number":  # a bare year seldom answers "how many/much": "less than $1.25 a day", not "2005"
        found = [t for t in found if not _year(t)] or found
    if (measure := _ZH_ASKED_UNIT.search(question)) and measure.group(1) not in "个种":
        found = [t for t in found if measure.group(1) in t] or found  # 几天 wants 10天, not 十年
    return found


# The measure word a CJK question counts in: 几天, 多少人, 几个小时 (个 alone names no unit).
_ZH_ASKED_UNIT = re.compile(r"(?:几|多少)(?:个(?=[\u4e00-\u9fff]))?([\u4e00-\u9fff])")


def _year(token: str) -> bool:
    return re.fullmatch(r"1\d{3}|20\d{2}", token.split()[0]) is not None


def typed_span(question: str, sentence: str) -> str | None:
    """Of `typed_choices`, the one nearest to the question's terms in `sentence` (in CJK, first the one in
    the clause holding most of them), else None."""
    return nearest_choice(question, sentence, typed_choices(question, sentence))


def nearest_choice(question: str, sentence: str, found: list[str]) -> str | None:
    """`typed_span` of the choices `found` (`typed_choices` of the same question and sentence)."""
    if not found:
        return None
    wanted = terms(question)
    anchors = [m.start() for m in re.finditer(r"[^\W_]+", sentence) if terms(m.group()) & wanted]
    if has_cjk(sentence):
        anchors = [i for i in range(len(sentence) - 1) if terms(sentence[i:i + 2]) & wanted]
    if not anchors:
        anchors = [0]

    def article(token: str) -> bool:  # "一条道路" is "a road": a lone 一 is the last resort
        return re.fullmatch(rf"一\s?{_ZH_MEASURE}", token) is not None

    def clause(token: str) -> int:  # CJK: the clause holding more of the question's terms holds the answer
        if not has_cjk(sentence):
            return 0
        at = sentence.find(token)
        start = max(sentence.rfind(p, 0, at) for p in _CLAUSE_ENDS) + 1
        ends = [e for p in _CLAUSE_ENDS if (e := sentence.find(p, at + len(token))) >= 0]
        return -sum(start <= a < min(ends, default=len(sentence)) for a in anchors)

    best = min(found, key=lambda t: (article(t), clause(t), min(abs(sentence.find(t) - a) for a in anchors)))
    return with_qualifier(best, sentence)


_CLAUSE_ENDS = "，,；;。：:！？"


_QUALIFIER = re.compile(r"(?:\b(?:up to|over|under|about|around|approximately|nearly|almost|more than|less than|"
                        r"fewer than|at least|at most|some|several|roughly|circa|only|just|mid-?))\s?$", re.I)


def with_qualifier(token: str, sentence: str) -> str:
    """An English number or date with the word before it that qualifies it ("up to four minutes",
    "over 400", "mid-2000s"): without it the answer says more than its sentence."""
    at = sentence.find(token)
    if at < 0 or has_cjk(token):
        return token
    m = _QUALIFIER.search(sentence[max(0, at - 14):at])
    return sentence[at - len(m.group()):at] + token if m else token


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


def window(sentence: str, question: str) -> str:
    """A sentence longer than a concise answer cut to the stretch around the question's terms (the
    answer is usually next to them: the stretch holding most of them, with a few words to spare after
    them), marked with "…" where it was cut; at most MAX_SPAN_WORDS words (CJK: MAX_SPAN_CHARS
    characters), the marks included."""
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
    counts = [sum(start <= m < start + limit - tail for m in marks) for start in range(len(units) - limit + 1)]
    best = counts.index(max(counts))
    first = next((m for m in marks if m >= best), best)
    start = max(0, min(first - (4 if cjk else 5), len(units) - limit))
    text = ("" if cjk else " ").join(units[start:start + limit])
    return ("…" if start else "") + text + ("…" if start + limit < len(units) else "")


def _record_window(fields: list[tuple[str, str]], question: str, limit: int, size: Callable[[str], int]) -> str:
    """A record too long for an answer cut to whole fields: those holding the question's terms (else
    the first ones), as many as fit — or, when the first of them alone is too long, that one field."""
    wanted = terms(question)
    holding = [i for i, field in enumerate(fields) if terms(" ".join(field)) & wanted] or range(len(fields))
    kept: list[int] = []
    for i in holding:
        if size(_joined(fields, [*kept, i])) <= limit:
            kept.append(i)
    longest = max(holding, key=lambda i: len(terms(" ".join(fields[i])) & wanted))
    if longest not in kept:  # the field that holds most of the question, too long whole: cut below
        kept = [longest]
    return _joined(fields, kept)


def _joined(fields: list[tuple[str, str]], chosen) -> str:
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


# A question names a field by another word as often as by the field's own: "cost" asks for the price,
# "where" for the address. Words of a group stand for each other (compared by their first STEM letters).
FIELD_WORDS = [
    ("cost", "price", "fee", "charge", "rate", "much"),  # "How much is the Team plan?" asks its price
    ("where", "address", "location", "city", "place", "site"),
    ("when", "date", "time", "year", "opened", "founded"),
    ("who", "head", "manager", "owner", "contact", "lead"),
    ("fix", "action", "solution", "remedy", "resolution"),
    ("mean", "meaning", "description", "definition"),
    ("钱", "价格", "售价", "价钱", "费用"),  # "X5 多少钱？" asks for the 价格
]
_FIELD_STEMS = [frozenset(w[:STEM] for w in group) for group in FIELD_WORDS]
_STANDING = frozenset().union(*_FIELD_STEMS)  # every word that stands for a field


def _field_words(question: str) -> tuple[set[str], set[str]]:
    """The question's terms by their first STEM letters with the words they stand for in records
    (`FIELD_WORDS`: "cost" for "price"), and apart the words its question words stand for ("where" for
    "address"): weaker, as a question word names a field only of the record the question is about."""
    own = _stems(question) - {"much"}  # "how much" asks, as "where" does
    asking = {w.lower()[:STEM] for w in re.findall(r"[^\W_]+", question)} - own
    strong, weak = set(own), set()
    for stems in _FIELD_STEMS:
        if stems & own:
            strong |= stems
        elif stems & asking:
            weak |= stems
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


def _standing_for(text: str, features: Callable[[str], set[str]]) -> set[str]:
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
    return bool(_stems(question) - {t[:STEM] for t in held} - _STANDING)


def field_answer(question: str, sentence: str) -> str | None:
    """For a record ("product: Forklift FL-9; warranty: 5 years; price: 12000"): the fields the question
    names ("What is the warranty of the FL-9?" → "product: Forklift FL-9; warranty: 5 years") — those naming
    most of it, by their own name or one it stands for ("monthly_price_eur" for "cost per month") — with the
    fields whose value the question gives, which say which record it is; None when it names no field."""
    fields = record_fields(sentence)
    if not fields or len(fields) < 2:
        return None
    wanted = terms(question)
    strong, weak = _field_words(question)
    giving = _given(fields, wanted)  # the fields that say which record it is: "error code E-417", "Austin"

    def naming(words: set[str]) -> dict[int, int]:
        return {i: len(_stems(name) & words) for i, (name, _) in enumerate(fields) if _stems(name) & words}

    named, words_asked = naming(strong), strong
    if giving and all(i in giving for i in named):  # a question word names a field when no word of its own does
        named, words_asked = naming(strong | weak), strong | weak
    asked = [i for i in named if i not in giving]
    if not asked or len(asked) == len(fields):
        return None
    # the field the question names most of, of those the fewest words of their own: "per month" asks the
    # "monthly_price_usd", not the "annual_price_usd_per_month"
    fit = {i: (named[i] - len(_stems(fields[i][0]) - words_asked), -len(_stems(fields[i][0]))) for i in asked}
    asked = [i for i in asked if fit[i] == max(fit.values())]
    which = [i for i in named if i in giving]
    if not which:  # else the field whose value the question gives most of: "product: Forklift FL-9"
        given = {i: len(terms(value) & wanted) / len(terms(value) or {""})
                 for i, (_, value) in enumerate(fields) if i not in asked}
        which = [best] if given and given[best := max(given, key=given.get)] else []
    if not which and _names_elsewhere(question, fields):
        return None  # "Which warranty has the Zephyr?" of another product's record: not its warranty
    shown = _joined(fields, {*asked, *which})
    if len(shown.split()) > MAX_SPAN_WORDS:
        shown = window(_joined(fields, asked), question)
    return shown


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
    asked = _stems(question)
    marks = [i for i, w in enumerate(words) if (i < at or i >= end) and _stems(w) & asked]
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


def trim_lead(text: str, question: str) -> str:
    """An English window without the run of the question's own words (and stopwords) it starts with,
    when that run is long, but for its last word: the question already says those ("The annual animal
    migration occurs between June and September" answers "When does the annual animal migration
    occur?" as "…occurs between June and September"). CJK text is left as it is."""
    if has_cjk(text) or record_fields(text.lstrip("…")) or text.endswith(":"):
        return text  # a record keeps its fields whole; a line introducing a list is the list's context
    asked = _stems(question)
    words = text.split()

    def restated(word: str) -> bool:
        return _stems(word) <= asked  # stopwords and punctuation have no terms: they count as restated

    skip = 0
    while skip < len(words) - 1 and restated(words[skip]):
        skip += 1
    skip = max(0, skip - 1)  # the last of them stays, as the answer's context
    if skip < TRIM_LEAD:
        return text
    return "…" + " ".join(words[skip:]).lstrip("…")


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
