"""What a question asks for (a time of day, a date, a number) and the numbers, dates and times of a
sentence that may answer it.

A question asks for what its question word names ("how many" a number, "when" a date, "what time" a time
of day). A sentence's numbers, dates and times are found by `PATTERNS` (English and Chinese, a range of
them one token); of those, the ones that may answer are not in the question itself and are of the unit
asked for, the nearest to the question's terms first, with the word that qualifies them ("over 400").
"""

from __future__ import annotations

import re

from tenantctl.answering.scoring import normalize
from tenantctl.answering.sentences import cjk_share, record_fields, terms
from tenantctl.textproc import has_cjk

# The months, in order: every place that reads a date names them from here.
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
# A month in full or short ("Jan.", "Sep", "Sept"): the full names first, so that "September" is not read "Sep".
MONTH = rf"(?:{'|'.join(MONTHS)}|{'|'.join(m[:3] for m in MONTHS if len(m) > 3).replace('Sep', 'Sep|Sept')})\.?"
_SPELLED = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
            r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
            r"hundred|thousand|dozen|million|billion|half|thirds|quarters)")
_ORDINAL = (r"(?:(?:twenty|thirty)-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|"
            r"twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth)")
# "1.6-million-year-old", "21-minute"
_SCALE = (r"(?:\s?%|\s?°\s?[CF]\b|\s?[℃℉]|[\s-]?(?:percent|per cent|million|billion|trillion|thousand|hundred)\b"
          r"|\s?(?-i:[KMGTP]B|kB|[KMG]Hz|[MG]bps|px)\b"  # "4 GB", "2.4 GHz": a unit in capitals
          r"|\s?(?-i:[kcdm]?m[²³2-3]|m/s|km/h|l/min|L/min)(?:/(?-i:h|min|s|day))?(?![\w/])"  # "9,500 m³/h"
          r"|(?-i:p)\b)?"  # "50p": pence
          r"(?:-(?:year|month|day|week|hour|minute|second|mile|metre|meter|foot|inch|old|long|strong)\b)*")
# "1,126户", "3,000元": digits grouped by commas are one number in Chinese text too
_ZH_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|[\d零〇一二三四五六七八九十百千万亿两.．])+"
# A year is two digits or more ("1949年", "二〇二五年", "二十年代"); "三年" is how long, not when.
_ZH_YEAR = r"(?<![\d零〇一二三四五六七八九十百千万亿两])(?:\d{2,4}|[零〇一二三四五六七八九十]{2,4})"
# "70公分", "10英寸", "3亿加元", "两个小时" (not "两个"), "90 分贝" (not "90 分"), "10 个人", "-25℃"
_ZH_UNIT = (r"(?:公[里分斤顷尺]|平方(?:公里|米)|[千厘毫]米|英[寸尺里亩镑]|海里|光年|[美欧港日加澳新台]元|人民币|英镑"
            r"|个(?:多)?(?:小时|钟头|月|星期|礼拜|工作日)|小时|分钟|钟头|分贝|像素|个人|毫安时|毫安|千瓦时|千瓦|摄氏度"
            r"|立方米|工作日|积分|周岁|[℃℉]"
            r"|(?![至到])[\u4e00-\u9fff])")  # "7 至 10 个工作日" is a range, 至 no unit
# A rate's unit after an amount: "2.80元/平方米·月", "120元/个·月", "10元/平方米".
_ZH_RATE = r"(?:\s?[/／][\u4e00-\u9fff]{1,3}(?:[·・][\u4e00-\u9fff]{1,2})?)?"
# Within a time: "3个工作日内", "48小时以内" (a time limit, not a point in time; "两国内" is no time).
_ZH_WITHIN = r"(?:(?<=[天日年月周时钟])(?:以内|之内|内))?"
# Half a unit of time: "每半年", "半个月", "半小时" (not 半岛, 半数).
_ZH_HALF = r"半个?(?:小时|钟头|月|年|天|日|周|星期)"
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
_UNIT_WORD = (r"(?:\s(?!(?:of|in|and|the|to|a|on|at|for|by|from|with|or|is|are|was|were)\b)(?-i:[a-z]+)"
              r"(?:\s(?-i:(?:minute|hour|day|week|month|year)s?)\b)?"  # "10 working days"
              r"(?:\s(?-i:ago|old|later)\b)?)?")  # "20 million years ago"
# A time's zone, in capitals: "02:30 UTC", "10:00 AEST", "9 am GMT+1".
_ZONE = r"(?:\s(?-i:UTC|GMT|Z|[A-Z]{1,3}[SD]?T)(?:[+-]\d{1,2}(?::?\d{2})?)?\b)?"
_NTH = rf"(?:\d{{1,2}}(?:st|nd|rd|th)|{_ORDINAL})"  # "14th", "fourth": of a century ("14th to 17th centuries")
PATTERNS = {
    "date": re.compile(
        rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}\s+{MONTH}\s+\d{{3,4}}|{MONTH}\s+\d{{3,4}}"
        rf"|{_NTH}(?:\s*(?:to|and|or|-|–)\s*{_NTH})?[\s-](?:century|centuries|millennium|millennia)(?:\s(?:AD|BC|BCE|CE)\b)?|(?<![\d,.])\d{{3,4}}s?(?![,.]\d){_NO_YEAR})\b"
        rf"|{_ZH_YEAR}(?:年代|年(?:{_ZH_NUM}月)?(?:{_ZH_NUM}[日号])?)|{_ZH_NUM}(?:世纪|月(?:{_ZH_NUM}[日号])?)",
        re.I,
    ),
    # A time of day: "8:00 am", "17:30", "9 pm", "下午3点半"; a range of them is one token ("10:00–16:00").
    "time": re.compile(
        r"(?:(?<![\d:.])\d{1,2}[:：]\d{2}(?::\d{2})?(?:\s?[ap]\.?m\b\.?)?|\b\d{1,2}\s?(?:[ap]\.?m\b\.?|o'clock\b))"
        rf"{_ZONE}|(?:上午|中午|下午|晚上|早上|凌晨)?\d{{1,2}}点(?:半|\d{{1,2}}分)?",
        re.I,
    ),
    "number": re.compile(
        rf"(?:(?<![\w.-])[-−](?=\d))?(?:第|{_LONE_ONE}){_ZH_NUM}(?:\s?[零〇一二三四五六七八九十百千万亿两]+)?(?:余|多)?(?![的是在和与及了至到般些样切直起定])\s?{_ZH_UNIT}"
        rf"{_ZH_RATE}{_ZH_WITHIN}|{_ZH_HALF}"
        rf"|(?:\$|£|€|US\$|(?<![\w.-])[-−](?=\d))?(?<![A-Za-z\d])\d(?:[\d,]*\d)?(?:\.\d+)?(?!\d|(?:st|nd|rd|th)\b)"
        rf"{_SCALE}{_UNIT_WORD}"
        rf"|\b{_SPELLED}(?:[\s-]{_SPELLED})*\b{_UNIT_WORD}",
        re.I,
    ),
}
# "What is the processing fee for a lost item?", "What's the late return charge?": an amount of money, as "How
# much …?" asks (not "What is the fee policy?" nor "What is the cost of living index?": the fee word stands
# last, or before "for", "to", "on", "per", "if" or "when")
_ASKS_FEE = (r"^\s*what(?:'s|\s+is|\s+are|\s+was|\s+were)\s+the\s+(?:[\w-]+\s+){0,3}?"
             r"(?:fee|fees|charge|charges|surcharge|price|cost|deposit)\b"
             r"(?=\s+(?:for|to|on|per|if|when)\b|\s*\??\s*$)")
_EXPECTS = [
    ("time", re.compile(r"\b(?:what|which) time\b|\bhow (?:late|early)\b|\bopening hours\b"
                        r"|\bwhen (?:does|do|is|are|will)\b[^?]*?\b(?:open|close|start|begin|finish)(?:s|es)?\b"
                        r"|几点|什么时间", re.I)),
    ("date", re.compile(r"\b(when|what (year|decade|century|date|month)|which (year|decade|century|date|month)|"
                        r"in what year)\b|哪一?年|何时|什么时候|哪个(年|月)|几月|哪一天|哪天|年份|日期", re.I)),
    ("number", re.compile(rf"{_ASKS_FEE}|"
                          r"\b(how (many|much|long|old|far|often|large|big|tall|high|wide|deep)|what (percentage|"
                          r"percent|number|proportion|amount|fraction|share|(?:minimum |maximum )?temperature)|"
                          r"how many)\b|多少|(?<!哪)几(?!乎)|多大|多长|多高|多重|多久|百分之|比例|年龄|岁数", re.I)),
]


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
# "between 75 °C and 95 °C" is one range too: its "and" joins the two ends only after "between"
_BETWEEN = re.compile(r"\bbetween\s$", re.I)
_BETWEEN_AND = re.compile(r"\s*(?:and|to|-|–)\s*", re.I)


# A phone number: three or more groups of digits ("400-820-1688", "+49 30 5557 0199"), no date; a Chinese word
# may touch it ("热线400-820-1688").
_PHONE = re.compile(r"(?<![A-Za-z0-9_-])(?!\d{4}-\d{2}-\d{2})\+?\d{1,4}(?:[\s-]\d{2,4}){2,4}(?![A-Za-z0-9_-])")
# A code in capitals with its parts joined by hyphens, a digit in it: a contract's "LTY-WY-2026-001", a
# policy's "HLH-5530917", "COVID-19". Its digits are no year, amount or range ("mid-1990s" is in lower case).
_CODE = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?![\w-])")


def typed_tokens(kind: str, text: str) -> list[str]:
    """The numbers (or dates) in `text`, not a phone number's groups (nor, for numbers, a time's); a range
    ("475年至477年", "1914 to 1918") is one token."""
    found: list[str] = []
    pattern = PATTERNS[kind]
    pos = 0
    apart = [p.span() for p in (*_PHONE.finditer(text), *_CODE.finditer(text))]  # "400-820-1688" is no range
    if kind == "number":  # nor are "9:00-21:00"'s "9" and "00-21"
        apart += [t.span() for t in PATTERNS["time"].finditer(text)]
    while (m := pattern.search(text, pos)) is not None:
        if inside := [b for a, b in apart if a <= m.start() < b]:
            pos = max(inside)
            continue
        end = m.end()
        joint = (_BETWEEN_AND if _BETWEEN.search(text, max(0, m.start() - 9), m.start()) else _RANGE).match(text, end)
        if joint and (second := pattern.match(text, joint.end())) and second.group().strip(" .,"):
            end = second.end()
        token = text[m.start():end].strip(" .,")
        if token:
            found.append(token)
        pos = max(end, m.start() + 1)
    return found


# (what the question asks, the unit its answer has, whether a number of another unit may answer at all)
_UNITS = [(re.compile(r"\b(century|millennium)\b|世纪", re.I),
           re.compile(r"centur(?:y|ies)|millenni(?:um|a)|世纪", re.I), False),
          (re.compile(r"\bdecade\b|年代", re.I), re.compile(r"\d0s$|年代"), False),
          (re.compile(r"\b(?:what|which) month\b", re.I), re.compile(MONTH, re.I), False),
          # "How much does it cost?", "停车证每月多少钱？", "装修押金是多少？": an amount of money, never "15 spaces",
          # "99.95%" or the "30日" within which a deposit is refunded
          (re.compile(rf"{_ASKS_FEE}|"
                      r"\bhow much\b.*\b(?:cost|costs|pay|paid|price|charge|charged|spend|spent|worth|fee)\b|"
                      r"多少钱|价格|价钱|费用|造价|售价|票价|花费|多少元|押金|租金|[费价](?:是|为|要)?多少", re.I),
           re.compile(r"[$£€¥]|\b(?:dollars?|euros?|pounds?|pence|cents?|yuan|yen|EUR|USD|GBP|CHF|JPY|CNY|RMB)\b|"
                      r"\b\d+(?:\.\d+)?p\b|"  # "50p per day": pence
                      r"[元镑币]", re.I), True),
          # "适合什么年龄的人申请？": years of age, never the card's "2万元" limit
          (re.compile(r"年龄|岁数|几岁|多少岁"), re.compile(r"岁"), True),
          # "礼品多久能送到？": how long, never "18积分" of a sentence on points
          (re.compile(r"多久|多长时间"), re.compile(r"[天日周月年秒]|小时|分钟|钟头|星期|礼拜|工作日"), True),
          # "冲泡温度是多少？": degrees, never a price beside them (in English "between 1.4 and 5.8 °C" has one)
          (re.compile(r"温度.*(?:多少|几)|(?:多少|几).*温度"), re.compile(r"[°℃℉]|度"), True),
          (re.compile(r"\bwhat (?:minimum |maximum )?temperature\b", re.I), re.compile(r"[°℃℉]|\bdegrees\b"), True)]
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
    fields = record_fields(sentence) or []
    for asked_for, unit, only in _UNITS:
        if asked_for.search(question):  # a record's value may leave its unit to its column: "收费标准（元）: 120"
            found = [t for t in found
                     if unit.search(t) or any(t in value and unit.search(name) for name, value in fields)
                     ] or ([] if only else found)
    if kind == "number":  # a bare year seldom answers "how many/much": "less than $1.25 a day", not "2005"
        found = [t for t in found if not _year(t)] or found
    if kind == "number" and "第" not in question:  # "第一条" names a clause: no amount, unless 第几 is asked
        found = [t for t in found if not t.startswith("第")]
    if (measure := _ZH_ASKED_UNIT.search(question)) and measure.group(1) not in "个种":
        # 几天 wants 10天, not 十年; 多少公斤 a weight or no number, never "90 分(贝)". A unit an answer
        # writes out (_ZH_WRITTEN) is required; 几点 is answered "8:00", 多少钱 "三百元", and of 几个单一管理区
        # the 单 is no unit at all.
        strict = measure.group(1) in _ZH_WRITTEN and ("个" not in measure.group() or measure.group(1) in "小月")
        units = _ZH_SAME_UNIT.get(measure.group(1), measure.group(1))
        found = [t for t in found if any(u in t for u in units)] or ([] if strict else found)
    return found


_ZH_WRITTEN = "天年月周岁人次米克吨斤里亩公千小"  # units an answer of that measure writes out: 3天, 4.5公斤
_ZH_SAME_UNIT = {"天": "天日"}  # 几天 is answered in 日 too: "3个工作日", "7日"
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

    bound = _bound(question)

    def bounded(token: str) -> bool:  # "最高人民币200元" answers "最高多少？", not the "5%" of its sentence
        at = sentence.find(token)
        before = sentence[max(0, at - BOUND_REACH):at] if has_cjk(sentence) else \
            " ".join(sentence[:at].split()[-BOUND_REACH // 2:])  # CJK: characters; else words
        return bound is not None and bound.search(before) is not None

    best = min(found, key=lambda t: (article(t), not bounded(t), clause(t),
                                     min(abs(sentence.find(t) - a) for a in anchors)))
    return with_qualifier(best, sentence)


def said_without_number(question: str, sentence: str, found: list[str]) -> str | None:
    """A Chinese list's item that answers without a number: of a sentence listing three items or more apart by
    "；", two of them or more with a number, the item holding most of the question's terms, when it holds none
    of the numbers `found` and more of the question than every item that holds one ("乐享余额即时到账" answers
    "乐享余额退款多久到账？" of "支付宝1至3个工作日到账；银行卡3至7个工作日到账；乐享余额即时到账", not the bank
    card's "3至7个工作日"); None otherwise, or when that item is long. Only a list's items: a plain sentence's
    subject clause ("售后申请提交后，客服将在24小时内审核") holds more of the question than its number's clause."""
    if not found or not has_cjk(sentence) or record_fields(sentence):
        return None  # a table's row is no list: its fields are apart by "; "
    wanted = terms(question)
    items = [re.split(r"[：:]", item)[-1].strip(" 。.") for item in sentence.split("；")]
    items = [item for item in items if item]
    held = {item: len(terms(item) & wanted) for item in items}
    numbered = [held[item] for item in items if any(t in item for t in found)]
    best = max(items, key=held.get, default="")
    if (len(items) >= 3 and len(numbered) >= 2 and held[best] > max(numbered)
            and not any(t in best for t in found) and len(best) <= SAID_CLAUSE_CHARS):
        return best
    return None


SAID_CLAUSE_CHARS = 24  # a clause longer than this is no concise answer


BOUND_REACH = 6  # characters (CJK) or half as many words before a number its bound may stand: "最高人民币"
# The bound a question asks for: its most ("最高", "at most") or its least ("最低", "minimum"). The number
# right after the same bound in a sentence answers it: "最低人民币10元，最高人民币200元".
_BOUNDS = [re.compile(r"最高|最多|上限|最大|至多|不超过|\b(?:maximum|max|at most|no more than|highest|largest)\b",
                      re.I),
           re.compile(r"最低|最少|下限|最小|至少|不低于|\b(?:minimum|min|at least|no less than|lowest|smallest)\b",
                      re.I)]


def _bound(question: str) -> re.Pattern | None:
    """The words of the bound the question asks for (`_BOUNDS`), or None when it asks for none or both."""
    asked = [bound for bound in _BOUNDS if bound.search(question)]
    return asked[0] if len(asked) == 1 else None


_CLAUSE_ENDS = "，,；;。：:！？"


_QUALIFIER = re.compile(r"(?:\b(?:up to|over|under|about|around|approximately|nearly|almost|more than|less than|"
                        r"between|fewer than|at least|at most|some|several|roughly|circa|only|just|every|each|"
                        r"mid-?))\s?$",
                        re.I)
_DAY = r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)days?)"
# The days a date or a time of day is on: "Tuesday 5 January 2027"; "Tuesday and Thursday, 10:00 to 16:00",
# "10am to 3pm, Friday to Sunday", "8am to 6pm, every day".
_DAYS = rf"(?:{_DAY}(?:\s?(?:to|and|-|–)\s?{_DAY})?|every day|daily|weekdays|weekends)"
_DAYS_BEFORE = re.compile(rf"\b{_DAYS},?\s$")
_DAYS_AFTER = re.compile(rf"^,?\s{_DAYS}\b")
# "每2小时", "每隔2小时", "每半年": how often, not how long
_ZH_EVERY = re.compile(r"每隔?$")


def whole(span: str, sentence: str) -> str:
    """A number the model copied, with the rest of its unit ("9,500 m³/h", not "9,500 m"; no word it left out:
    "400", not "400 clubs") or, after "between", the range's other end ("between 75 °C and 95 °C", not "75 °C");
    a range "from 1914 to 1918" is not widened, as its first year may be what was asked ("When did it start?")."""
    at = sentence.find(span)
    if at < 0:
        return span
    between = _BETWEEN.search(sentence, max(0, at - 9), at) is not None
    for token in typed_tokens("number", sentence):
        if sentence.find(token) == at and token.startswith(span) and len(token) > len(span):
            if between or not re.match(r"\s", token[len(span):]) and not _RANGE.search(token[len(span):]):
                return token  # the unit's own rest ("³/h"), not a word the model left out ("400 clubs")
    return span


def with_qualifier(token: str, sentence: str) -> str:
    """A number or date with the word before it that qualifies it ("up to four minutes", "over 400",
    "mid-2000s", "every 30 minutes", "每2小时"): without it the answer says more than its sentence; a date or
    a time of day with the days it is on ("Tuesday 5 January 2027", "10am to 3pm, Friday to Sunday")."""
    at = sentence.find(token)
    if at < 0:
        return token
    if has_cjk(token):
        m = _ZH_EVERY.search(sentence[max(0, at - 2):at])
        return sentence[at - len(m.group()):at] + token if m else token
    if PATTERNS["time"].match(token) or PATTERNS["date"].match(token):
        before = _DAYS_BEFORE.search(sentence[max(0, at - 40):at])
        after = _DAYS_AFTER.match(sentence[at + len(token):]) if PATTERNS["time"].match(token) else None
        if before or after:
            return (sentence[at - len(before.group()):at] if before else "") + token + (after.group() if after else "")
    m = _QUALIFIER.search(sentence[max(0, at - 14):at])
    return sentence[at - len(m.group()):at] + token if m else token
