"""Grounded answers: retrieve a tenant's passages, let the shared model point at the answer, keep only
what the passages say, and cite them.

The default model (Gemma 3 270M, a base model) is small: asked for a sentence it restates nearby text,
invents numbers and loops. What it does reliably is copy a short span out of a short text. So:
1. a relevance gate (answering/gate.py) decides, without the model, whether the passages can hold
   an answer at all (a passage holding a table as similar as the row the question names:
   `_rows_alike`); when not, the answer says so and the model is neither loaded nor called;
2. the passages' whole sentences are ranked for the question (answering/ranking.py) and the best few
   are the model's whole context, with the request to copy the answer from them;
3. the model's span is accepted only when it occurs in a ranked sentence (after normalisation), says
   more than the question's own words and sits next to the question's terms in that sentence; for a
   question asking for a number or a date, the span must be one (in English, of the best sentence, and
   not one of several there that fit: which is meant, the model guesses too), else the one in the best
   sentence is taken — when that sentence holds several that fit (English), the stretch holding them all;
   and the model must have been sure of it (`answer.min_span_confidence`: the mean log-probability of
   its tokens, when the generator reports one);
4. otherwise the answer is the best whole sentence (`fallback`), after its section's title when it
   only restates the question. A heading that holds a date ("3.2.0 (2026-03-14)") is a candidate too,
   for a question asking when.
5. an answer from a table's row (a record) is withdrawn when the question names what the row is not
   (`of_another_record`), a Chinese one when its sentence is about a sibling of the question's subject
   (`of_a_sibling`), and any answer when the question asks for a phone number, e-mail or web address its
   sentence does not hold (`gate.lacks_contact`): the documents do not hold it.
The answer cites the passage of its supporting sentence, which `--json` gives as `supporting`.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tenantctl.answering import gate, numbers, ranking, records, spans, windows
from tenantctl.answering.scoring import normalize
from tenantctl.answering.sentences import (
    Said,
    cjk_share,
    is_name,
    record_fields,
    sentences_by_paragraph,
    terms,
    zh_owner,
)
from tenantctl.config import AnswerConfig, Config, ModelConfig
from tenantctl.models.base import Generation, Generator, Request, partial
from tenantctl.retrieval.search import Hit, Searcher
from tenantctl.retrieval.session import TenantSession
from tenantctl.textproc import CJK_QUESTION, estimate_tokens, has_cjk

INSTRUCTIONS = (
    "Answer the question with a short phrase copied word for word from the text: a name, a number, a "
    "date or a few words. Write only the phrase."
)
# Worked examples show a base model the format better than any instruction.
EXAMPLES = {
    "en": (
        "Text: Parking permits cost 40 euros per month and are sold at the front desk. The staff canteen "
        "opens at 7:30 on weekdays.\nQuestion: How much does a parking permit cost?\nAnswer: 40 euros per month\n\n"
        "Text: The plant in Lyon was opened in 1998 by its founder, Marie Duval. It employs 340 people.\n"
        "Question: Who opened the plant in Lyon?\nAnswer: Marie Duval\n\n"
    ),
    "zh": (
        "文本：停车证每月40欧元，在前台出售。员工食堂工作日7:30开门。\n问题：停车证多少钱？\n答案：每月40欧元\n\n"
        "文本：里昂工厂由创始人玛丽·杜瓦尔于1998年创办，现有员工340人。\n问题：里昂工厂是谁创办的？\n答案：玛丽·杜瓦尔\n\n"
    ),
}
TEMPLATES = {
    "en": "Text: {passages}\nQuestion: {question}\nAnswer:",
    "zh": "文本：{passages}\n问题：{question}\n答案：",
}
COMPLETION_STOPS = ["\n", "Question:", "Text:", "问题：", "文本："]
SPAN_TOKENS = 48  # a span needs few tokens; a looping model is cut off early
MAX_SENTENCE_CHARS = 600
TOOL_BOOST = 0.5  # a tool the question matched answers it before the documents do
ACCEPT_FROM = 2  # a span is taken from the two best sentences only (the model reads more, for context)
RELEVANCE_MARGIN = 0.3  # how much less relevant than the best sentence a span's sentence may be
FOLLOW_UP_TOKENS = 12  # a question shorter than this after earlier ones may lean on them (its search borrows)
CJK_RELEVANCE_MARGIN = 1.0  # CJK scores are lexical x 1.5, with the topic's terms weighing little


@dataclass
class Passage:
    """One numbered passage an answer may cite: a retrieved chunk, or any other text (a tool's result)
    with the label a citation shows for it."""

    text: str
    source: str  # what a citation names: a document path, or e.g. "tool:NAME"
    hit: Hit | None = None  # the retrieved chunk behind it, if any
    similarity: float = 0.0  # dense similarity to the question (retrieved chunks)

    @classmethod
    def from_hit(cls, hit: Hit) -> Passage:
        return cls(text=hit.text, source=hit.path, hit=hit, similarity=hit.similarity)

    @property
    def gate_input(self) -> tuple[str, str, float]:
        """What the relevance gate reads of it: its text under its section's heading path, its source,
        its similarity ("What is the mileage rate?" of a "## Mileage" section's lines)."""
        heading = self.hit.heading if self.hit else ""
        return (f"{heading}\n{self.text}" if heading else self.text), self.source, self.similarity


@dataclass
class Source:
    n: int
    path: str
    position: str
    page: int | None
    heading: str
    chunk_id: int | None
    quote: str = ""  # the sentence of this passage that supports the answer


@dataclass
class Reply:
    """What the answer step made of the passages and the model's output."""

    answer: str  # the short answer (or whole sentence), without its citation
    supporting: str  # the whole sentence it comes from
    n: int  # the passage that holds it
    grounded: bool  # the model's span, checked
    fallback: bool  # no usable span: the best sentence
    raw: str = ""
    generation: Generation = field(default_factory=Generation)


@dataclass
class Answer:
    tenant: str
    question: str
    answer: str
    citations: list[int]
    sources: list[Source]
    grounded: bool  # the model's own span, checked against the passages
    fallback: bool  # the model's output was unusable: the best passage sentence instead
    no_answer: bool  # nothing relevant retrieved: the model was not called
    model: str | None
    short_answer: str = ""  # the answer without its citation
    supporting: str = ""  # the passage sentence that holds the answer
    passages: list[Hit] = field(default_factory=list)
    raw: str = ""  # what the model printed, before checking
    confidence: float | None = None  # the model's mean token log-probability of `raw`, when it tells
    timings: dict[str, float] = field(default_factory=dict)
    gate: dict[str, float] = field(default_factory=dict)  # the relevance gate's similarity and coverage
    tools: list[dict[str, Any]] = field(default_factory=list)  # the tenant's tool calls: status, ms, error
    notes: list[str] = field(default_factory=list)  # e.g. a tool failed: answered from the documents alone

    def to_dict(self, include_passages: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["passages"] = [h.to_dict() for h in self.passages] if include_passages else len(self.passages)
        return data


def effective_settings(cfg: Config, tenant_answer: AnswerConfig) -> AnswerConfig:
    """The global `answer` settings with the tenant's explicitly set ones on top."""
    return cfg.answer.model_copy(update=tenant_answer.model_dump(exclude_unset=True))


# What an abstention says, in the question's language.
NO_ANSWER = {"en": "The documents of tenant {tenant} do not hold an answer to this question.",
             "zh": "租户 {tenant} 的文档中没有这个问题的答案。"}


def _language(question: str) -> str:
    return "zh" if cjk_share(question) > gate.CJK_QUESTION_SHARE else "en"


class PromptBuilder:
    def __init__(self, template: str | None, chat: bool, language: str = "en") -> None:
        self.custom = template
        self.template = template or TEMPLATES[language]
        self.language = language
        self.chat = chat

    def render(self, question: str, texts: list[str], history: list[tuple[str, str]]) -> tuple[str, list | None]:
        block = " ".join(texts) if not self.custom else "\n".join(f"[{i}] {t}" for i, t in enumerate(texts, 1))
        body = self.template.format(passages=block, question=question)
        if self.chat:
            earlier = "".join(f"Earlier question: {q}\nEarlier answer: {a}\n\n" for q, a in history)
            return "", [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": earlier + body}]
        # A base model given earlier answers copies them; a follow-up's context reaches it through
        # retrieval instead (the query borrows the last question).
        return f"{self.prefix()}{body}", None

    def prefix(self) -> str:
        """The completion prompt's fixed opening, the same for every question (its state is cached)."""
        return "" if self.chat else f"{INSTRUCTIONS}\n\n{EXAMPLES[self.language]}"


def fit_passages(
    build: Callable[[list[str]], str], texts: list[str], budget: int, count: Callable[[str], int]
) -> list[str]:
    """Drop the lowest-ranked passages, then shorten the last one, until the prompt fits `budget` tokens."""
    texts = list(texts)
    while len(texts) > 1 and count(build(texts)) > budget:
        texts.pop()
    while texts and count(build(texts)) > budget and len(texts[-1]) > 40:
        texts[-1] = texts[-1][: int(len(texts[-1]) * 0.8)].rsplit(" ", 1)[0] + " …"
    return texts


def _cite(sentence: str, n: int | str) -> str:
    """Put the citation before the sentence's final stop: "... per year [1]."."""
    sentence = sentence.rstrip()
    if sentence.endswith((".", "。", "!", "?", "！", "？")):
        return f"{sentence[:-1].rstrip()} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def candidates(passages: list[Passage]) -> list[ranking.Candidate]:
    """Each passage's whole sentences, numbered by passage; statements only when there are any (FAQ
    passages repeat the question, which must never come back as the answer)."""
    found = []
    for n, p in enumerate(passages, 1):
        boost = TOOL_BOOST if p.source.startswith("tool:") else 0.0
        heading = p.hit.heading if p.hit else ""
        by_paragraph = sentences_by_paragraph(p.text)
        for k, paragraph in enumerate(by_paragraph):
            said = [s for s in paragraph.sentences if len(s) > 1]
            found += [ranking.Candidate(s[:MAX_SENTENCE_CHARS], n, boost=boost, heading=heading,
                                        after=_after(said, i, by_paragraph[k + 1:]),
                                        before=said[i - 1][:MAX_SENTENCE_CHARS] if i else "",
                                        step=None if i else paragraph.step)
                      for i, s in enumerate(said)]
        for title in ranking.numbered_titles(heading):  # "3.2.0 (2026-03-14)" says when, also above "### New"
            if all(c.text != title for c in found):
                found.append(ranking.Candidate(title, n, heading=heading, title=True))
    statements = [c for c in found if not c.text.rstrip().endswith(("?", "？")) and not c.text.startswith(("问", "Q:"))]
    return statements or found


def _after(said: list[str], i: int, below: list[Said]) -> str:
    """What a shown sentence may go on into: the next sentence of its paragraph; after a line that
    introduces what follows ("To install it on Linux:"), the list's items or the code lines below it."""
    if i + 1 < len(said):
        return said[i + 1][:MAX_SENTENCE_CHARS]
    if said[i].endswith((":", "：")):
        items = itertools.takewhile(lambda paragraph: paragraph.item, below)
        return " ".join(s for paragraph in items for s in paragraph.sentences)[:MAX_SENTENCE_CHARS]
    return ""


def _kept(span: str, holder: ranking.Candidate, question: str, ranked: list[ranking.Candidate],
          contact: re.Pattern | None) -> bool:
    """Whether the model's span, found in `holder`, is the answer (see the module docstring); `contact`: what
    the phone number, e-mail or web address the question asks for looks like (`gate.asked_contact`)."""
    kind = numbers.expected_type(question)
    english = _language(question) == "en"
    if kind == "number" and not numbers.typed_tokens(kind, span) and not (contact and contact.search(span)):
        return False  # "how many" answered without a number: not an answer ("when" may be "at Easter"); the
        # digits of a phone number asked for are no number, but its answer
    if holder.score < ranked[0].score - (RELEVANCE_MARGIN if english else CJK_RELEVANCE_MARGIN):
        return False  # copied from a sentence about something else
    if not spans.beside(span, holder.text, question):
        return False  # copied from another part of the sentence than the question asks about
    if english and kind and holder is not ranked[0]:
        return False  # a number or date from the second sentence: the best one's is taken instead
    choices = numbers.typed_choices(question, holder.text) if kind else []
    if not english and numbers.said_without_number(question, holder.text, choices):
        return False  # another clause, the question's own, answers without a number: "乐享余额即时到账"
    # One of several numbers or dates of its sentence that fit: which one is meant, the model guesses too.
    return not (english and len(choices) > 1)


def choose(question: str, raw: str, ranked: list[ranking.Candidate], context: int, *, sure: bool = True) -> Reply:
    """The answer from the model's output and the ranked sentences (see the module docstring); `sure`:
    the model was sure enough of its output (`answer.min_span_confidence`)."""
    accepted = spans.accept(spans.clean_span(raw), question, ranked[:min(context, ACCEPT_FROM)])
    contact = gate.asked_contact(question)  # "客服热线是多少？": the hotline's whole number, or its sentence
    field = records.field_answer(question, ranked[0].text, contact)  # the record's fields the question names
    if (accepted and sure and _kept(*accepted, question, ranked, contact)
            and (field is None or spans.occurs(normalize(accepted[0]), normalize(field)))):
        span, holder = accepted
        span = spans.whole_name(spans.widen(spans.verbatim(span, holder.text), holder.text), holder.text)
        if re.match(r"[$£€]?\d", span):  # "over 400", not "400"; "9,500 m³/h", not "9,500 m"
            span = numbers.with_qualifier(numbers.whole(span, holder.text), holder.text)
        if contact:  # "0571-8765-4321", not the "0571-8765" of it
            span = next((m.group() for m in contact.finditer(holder.text) if span in m.group()), span)
        return Reply(span, holder.text, holder.n, grounded=True, fallback=False, raw=raw)
    if field:
        return Reply(field, ranked[0].text, ranked[0].n, grounded=False, fallback=False, raw=raw)
    # "When is the maintenance window?" of "…weekly window, Tuesdays 22:00–23:30.": the best sentence says when
    # in its own way, no date of the next one does
    said_when = numbers.expected_type(question) == "date" and _SAYS_WHEN.search(ranked[0].text)
    # "How long did plague last in the Ottoman empire?" of "…remained a major event … until the second quarter of
    # the 19th century.": the best sentence says how long by when it ended, no number of the next one does
    said_when = said_when or _ASKS_HOW_LONG.search(question) and _SAYS_UNTIL.search(ranked[0].text)
    for c in [] if contact and contact.search(ranked[0].text) else ranked[:1] if said_when else ranked[:2]:
        choices = numbers.typed_choices(question, c.text)
        if _language(question) == "en" and len(choices) > 1:  # which one is meant would be a guess
            if c is not ranked[0]:
                break
            shown = windows.span_window(c.text, choices, question)
            return Reply(shown, c.text, c.n, grounded=False, fallback=True, raw=raw)
        typed = numbers.nearest_choice(question, c.text, choices)
        if typed:  # "乐享余额即时到账", not another clause's "3至7个工作日"
            said = numbers.said_without_number(question, c.text, choices)
            return Reply(said or typed, c.text, c.n, grounded=False, fallback=False, raw=raw)
    best = ranked[0]
    # A sentence holding all of the question's words needs no scene set, unless the question asks how to do
    # something: "Household batteries can be recycled at kerbside." is what, the next sentence how.
    done = ranking.holds_all_and_more(best.text, question) and not _ASKS_HOW_TO.search(question)
    after = "" if done else best.after
    shown = windows.continued(windows.trim_lead(
        windows.window(best.text, question, hint=spans.clean_span(raw)), question), after)
    release = ranking.numbered_titles(best.heading)[:1] if _ASKS_RELEASE.search(question) else []
    if release and release[0] not in shown:
        shown = f"{release[0]}: {shown}"  # "In which release was SMS sign-in added?" → "5.2.0 (…): Signers …"
    elif best.section and ranking.says_nothing_new(shown, question):
        shown = f"{best.section}: {shown}"  # "Which version added incremental restore?" → "3.2.0 (…): Added …"
    return Reply(shown, best.text, best.n, grounded=False, fallback=True, raw=raw)


_SAYS_WHEN = re.compile(r"\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)days?|weekdays|weekends?|daily|nightly|weekly)\b"
                        r"|\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?[ap]\.?m\b"
                        # "Unused licences are reclaimed after 60 days without a sign-in.": not the "365" of the
                        # next sentence's "Microsoft 365"; "Next filter change due at 13,870 hours.": in running hours
                        r"|\b(?:after|within|before|every|at)\s(?:\d[\d,]*|one|two|three|four|five|six|seven|eight|nine|"
                        r"ten|twelve)\s(?:(?:business|working|calendar|running|operating)\s)?"
                        r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b"
                        r"|每[天日周月年]|工作日|周[一二三四五六日末]|星期", re.I)
_ASKS_HOW_TO = re.compile(r"^\s*(?:how (?:do|can|should|would|could) (?:i|we|you)|how to)\b", re.I)
_ASKS_HOW_LONG = re.compile(r"\bhow long\b", re.I)
_SAYS_UNTIL = re.compile(r"\b(?:until|till|through(?:out)?)\b", re.I)
_ASKS_RELEASE = re.compile(r"\b(?:which|what|in which|in what|since which|since what) (?:version|release)\b"
                           r"|哪个版本|哪一版|哪一个版本", re.I)


def respond(
    question: str,
    passages: list[Passage],
    generator: Generator,
    settings: AnswerConfig,
    mcfg: ModelConfig,
    *,
    embed: Callable[[list[str]], Any] | None = None,
    history: list[tuple[str, str]] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Reply:
    """One model call over the best sentences of `passages`, checked; see the module docstring."""
    earlier = history[-1][0] if history and is_short(question) else ""  # its search borrowed that question too
    ranked = ranking.rank(question, candidates(passages), embed, earlier=earlier)
    if not ranked:
        return Reply("", "", 1, grounded=False, fallback=True)
    chat = mcfg.prompt_style == "chat" or (mcfg.prompt_style == "auto" and generator.has_chat_template)
    builder = PromptBuilder(settings.prompt_template, chat, _language(question))
    max_tokens = settings.max_tokens or min(mcfg.max_tokens, SPAN_TOKENS)

    def build(texts: list[str]) -> str:
        prompt, messages = builder.render(question, texts, history or [])
        return prompt if messages is None else "\n".join(m["content"] for m in messages)

    budget = generator.n_ctx - max_tokens - 32
    context = fit_passages(build, [c.text for c in ranked[: settings.sentences]], budget, generator.count_tokens)
    prompt, messages = builder.render(question, context, history or [])
    request = Request(
        prompt=None if messages else prompt, messages=messages, max_tokens=max_tokens,
        temperature=settings.temperature if settings.temperature is not None else mcfg.temperature,
        top_p=mcfg.top_p, repeat_penalty=mcfg.repeat_penalty, seed=mcfg.seed,
        stop=[*([] if chat else COMPLETION_STOPS), *mcfg.stop], prefix=builder.prefix(),
    )
    result = generator.generate(request, on_token=on_token)
    sure = result.confidence is None or result.confidence >= settings.min_span_confidence
    reply = choose(question, result.text, ranked, len(context), sure=sure)
    reply.generation = result
    return reply


def answer_question(
    session: TenantSession,
    question: str,
    cfg: Config,
    *,
    history: list[tuple[str, str]] | None = None,
    on_token: Callable[[str], None] | None = None,
    generator: Generator | None = None,
    extra_passages: list[Passage] | None = None,
    model: str | None = None,
    operation: str = "question",
) -> Answer:
    """Answer from the session's tenant alone (plus `extra_passages`, e.g. tool results); metered as
    one `question` usage event. `model` names a model entry instead of the tenant's; `generator`
    replaces the loaded model altogether (tests inject a fake one). An operator's evaluation passes
    `operation="eval"`: metered as its own kind, it is not the tenant's traffic, so its daily question
    and token quotas neither refuse nor count it."""
    from tenantctl.retrieval.search import check_query
    from tenantctl.storage import metering

    check_query(question, cfg, "question")
    with metering.track(session.store, operation) as usage:
        if operation == "question":
            usage.claim = session.admit_question()  # inside: a refusal is metered too
        else:
            session.tenant.require_active("questions")
        try:
            result = _answer(session, question, cfg, history, on_token, generator, extra_passages or [], model)
        except Exception as exc:  # stopped mid-answer (a client gone): the model's work so far is metered
            stopped = partial(exc)
            if stopped is not None:
                usage.prompt_tokens, usage.completion_tokens = stopped.prompt_tokens, stopped.completion_tokens
            raise
        usage.prompt_tokens = int(result.timings.get("prompt_tokens", 0))
        usage.completion_tokens = int(result.timings.get("completion_tokens", 0))
        usage.details = {"no_answer": result.no_answer, "fallback": result.fallback, "model": result.model}
    return result


def is_short(question: str) -> bool:
    """Whether a question after earlier ones is short enough to lean on them (`FOLLOW_UP_TOKENS`)."""
    return estimate_tokens(question) < FOLLOW_UP_TOKENS


def _retrieve(searcher: Searcher, question: str, settings: AnswerConfig, history) -> tuple[list[Hit], dict]:
    started = time.perf_counter()
    query = question
    if history and is_short(question):  # borrows the last question's context
        query = f"{history[-1][0]} {question}"
    hits = searcher.search(query, k=settings.passages)
    load_ms = searcher.timings.get("embedder_load_ms", 0.0)
    return hits, {"embedder_load_ms": load_ms,
                  "retrieval_ms": round((time.perf_counter() - started) * 1000 - load_ms, 1)}


def with_tools(session: TenantSession, question: str, cfg: Config) -> tuple[list[Passage], list[dict], list[str]]:
    """The results of the tenant's tools the question selects, as passages (cited `tool:NAME`; a tool
    that matched is relevant by construction, so they pass the relevance gate), the calls (for --json:
    status, ms, error) and a note for each failed call."""
    from tenantctl.tools.base import heading_and_body
    from tenantctl.tools.run import tool_passages

    results = tool_passages(session.tenant, question, cfg, session.store)
    found = []
    for r in results:
        if r.ok:
            heading, body = heading_and_body(r.text)
            found.append(Passage.from_hit(Hit(
                rank=0, chunk_id=0, path=f"tool:{r.name}", ord=0, start=0, end=len(r.text), page=None,
                heading=heading, text=body, score=1.0, similarity=1.0, dense_rank=None, keyword_rank=None)))
    notes = [f"{r.error} — answered from the documents alone" for r in results if not r.ok]
    return found, [{k: v for k, v in r.to_dict().items() if k != "text"} for r in results], notes


def _answer(
    session: TenantSession,
    question: str,
    cfg: Config,
    history: list[tuple[str, str]] | None,
    on_token: Callable[[str], None] | None,
    generator: Generator | None,
    extra: list[Passage],
    model: str | None,
) -> Answer:
    started = time.perf_counter()
    tenant, searcher = session.tenant, session.searcher
    settings = effective_settings(cfg, tenant.config.answer)
    history = (history or [])[-2:]
    model_name, mcfg = cfg.model(model or settings.model)
    if generator is None and _worth_loading_early(searcher, question, settings, mcfg):
        generator = _load(model_name, mcfg)  # loads beside the embedder and the dense search
    hits, timings = _retrieve(searcher, question, settings, history)
    tool_found, tools, notes = with_tools(session, question, cfg)
    timings["tools_ms"] = round(sum(t["ms"] for t in tools), 1)
    extra = tool_found + extra
    documents = [Passage.from_hit(h) for h in hits]
    embed = None if cjk_share(question) > gate.CJK_QUESTION_SHARE else searcher.embedder.encode_query
    verdict = _gate(question, documents, settings)
    if not verdict.passed and embed is not None and (rows := _rows_alike(question, documents, embed)):
        documents = rows
        verdict = _gate(question, documents, settings)
    # Tool results and other extra passages come first and are relevant by construction; the documents
    # join them only when they pass the gate.
    passages = extra + (documents if verdict.passed else [])
    names = gate.unmentioned(question, [p.gate_input for p in passages]) if passages else []
    if names:
        listed = ", ".join(f"'{name}'" for name in names)
        notes = [*notes, f"the passages found do not mention {listed}: the answer may be about something else"]
    base = dict(tenant=tenant.id, question=question, passages=[p.hit for p in passages if p.hit] or hits,
                gate={"similarity": verdict.similarity, "coverage": verdict.coverage}, tools=tools, notes=notes)
    if not passages:
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return Answer(**base, answer=NO_ANSWER[_language(question)].format(tenant=tenant.id),
                      citations=[], sources=[], grounded=False, fallback=False, no_answer=True, model=None,
                      timings=timings)
    if generator is None:
        generator = _load(model_name, mcfg)  # a model not loaded yet loads while sentences rank
    reply = respond(question, passages, generator, settings, mcfg, embed=embed, history=history,
                    on_token=on_token)
    timings["model_load_ms"] = round(getattr(generator, "waited_ms", 0.0), 1)  # what the answer waited for it
    g = reply.generation
    timings.update(prompt_tokens=g.prompt_tokens, cached_prompt_tokens=g.cached_tokens,
                   completion_tokens=g.completion_tokens, first_token_ms=round(g.first_token_ms or 0.0, 1),
                   generation_ms=round(g.generation_ms, 1), total_ms=round((time.perf_counter() - started) * 1000, 1))
    if (of_another_record(question, passages, reply, names) or of_a_sibling(question, passages, reply)
            or gate.lacks_contact(question, reply.supporting)):
        return Answer(**base, answer=NO_ANSWER[_language(question)].format(tenant=tenant.id), citations=[],
                      sources=[], grounded=False, fallback=False, no_answer=True, model=model_name, raw=reply.raw,
                      timings=timings)
    return Answer(
        **base, answer=_cite(reply.answer, reply.n), citations=[reply.n], sources=[_source(passages, reply)],
        grounded=reply.grounded, fallback=reply.fallback, no_answer=False, model=model_name,
        short_answer=reply.answer, supporting=reply.supporting, raw=reply.raw, timings=timings,
        confidence=None if g.confidence is None else round(g.confidence, 3),
    )


def of_another_record(question: str, passages: list[Passage], reply: Reply, unmentioned: list[str]) -> bool:
    """Whether the record the answer comes from ("property: Larchmont Melbourne; parking_per_night: AUD 45") is
    of another thing than the question asks about: the question names something no passage mentions
    (`unmentioned`: "Larchmont Adelaide"; `gate.unheld_words`: "a roof box" of a fee table's rows), or a code
    that neither the record nor its heading holds while another record does ("the COMP2110 final exam" of the
    COMP2030 assessment table, when COMP2110 is a row of the courses table). A record's fields answer only of
    what the record is; a sentence may speak of a thing by another name, so this is for records alone."""
    if len(record_fields(reply.supporting) or ()) < 2:
        return False
    if unmentioned:
        return True
    # a word naming a thing no passage holds ("a roof box" of a fee table's "Fee: Snow chains" row), unless the
    # question names the record: its first field's value ("What size is the air outlet connection?" of "Parameter:
    # Air outlet connection; …", though no passage says "size"), or its names ("What is the phone number of
    # Hartwell library?" of a table that never says "library")
    names = [w for i, w in enumerate(re.findall(r"[^\W_](?:[\w-]*[^\W_])?", question)) if is_name(w, first=not i)]
    fields = record_fields(reply.supporting) or []
    if (gate.unheld_words(question, [p.gate_input for p in passages])
            and (has_cjk(question) or not terms(fields[0][1]) & terms(question))  # 深圳's centre is no 成都's
            and not any(gate.holds_code(reply.supporting, name) for name in names)):
        return True
    own = _under_heading(passages, reply)
    others = [row for p in passages for row in gate.rows(p.text) if row != reply.supporting]
    return any(gate.holds_code(row, code) for code in gate.unheld_codes(question, [own]) for row in others)


_ZH_NAME = re.compile(r"[^\W\d_]{3,8}")  # a subject that has siblings: a name of 3 to 8 letters


def of_a_sibling(question: str, passages: list[Passage], reply: Reply) -> bool:
    """Whether a Chinese answer comes from a sentence about a sibling of the question's subject: the subject
    (its words before "的": "星耀金卡" of "星耀金卡的信用额度最高是多少？") is not in the sentence nor its heading,
    which name another of its family instead — the same first two characters and last one
    ("星耀青春卡的信用额度最高为人民币2万元"), and not the subject itself with a 的 in it ("保修期外的维修" of
    "保修期外维修")."""
    subject = zh_owner(question)
    if not _ZH_NAME.fullmatch(subject) or not all(has_cjk(ch) for ch in subject) or CJK_QUESTION.search(subject):
        return False  # a name: not "12期账单分期", "工作12年", nor what a question word asks ("挂失前多少小时内")
    if subject in _under_heading(passages, reply):
        return False
    family = re.compile(rf"{re.escape(subject[:2])}[^\W_]{{0,{len(subject)}}}?{re.escape(subject[-1])}")
    # "保修期外的维修" is the subject "保修期外维修" said with a 的 (or 之) in it: no sibling
    return any(_ZH_LINKS.sub("", found) != subject and len(found) >= len(subject) - 1
               for found in family.findall(reply.supporting))


_ZH_LINKS = re.compile("[的之]")


def _under_heading(passages: list[Passage], reply: Reply) -> str:
    """The reply's sentence under its passage's heading path: both say what it is of."""
    passage = passages[reply.n - 1]
    return f"{passage.hit.heading if passage.hit else ''}\n{reply.supporting}"


def _gate(question: str, documents: list[Passage], settings: AnswerConfig) -> gate.GateResult:
    return gate.check(question, [p.gate_input for p in documents],
                      settings.min_score, settings.min_relevance, settings.min_cjk_coverage)


TABLE_ROWS = 64  # at most this many of the passages' records are embedded one by one


def _rows_alike(question: str, documents: list[Passage], embed: Callable[[list[str]], Any]) -> list[Passage]:
    """The passages again, a table's or a list's passage as similar to the question as the most similar of
    the rows or items the question names (a row: "Category: Mileage; Daily limit: 0.45 GBP per mile", an
    item: "Photo ID - driver licence or passport"), when that is more: a passage of many rows is like no
    question about one of them ("What is the mileage rate?": 0.18 the passage, 0.63 its row). A question
    names a row with a word that most of them lack ("mileage", not "limit"). Empty when it names none.
    Asked only of a question the gate turned away."""
    asked = terms(question)
    rows = []
    for i, p in enumerate(documents):
        table = gate.rows(p.text, items=True)
        held = [terms(s) & asked for s in table]
        rows += [(i, s) for s, words in zip(table, held, strict=True)
                 if any(2 * sum(w in other for other in held) <= len(table) for w in words)]
    if not rows:
        return []
    rows = rows[:TABLE_ROWS]
    vectors = embed([question, *(s for _, s in rows)])
    best: dict[int, float] = {}
    for (i, _), v in zip(rows, vectors[1:], strict=True):
        best[i] = max(best.get(i, -1.0), float(vectors[0] @ v))
    return [replace(p, similarity=max(p.similarity, best.get(i, p.similarity))) for i, p in enumerate(documents)]


def _worth_loading_early(searcher: Searcher, question: str, settings: AnswerConfig, mcfg: ModelConfig) -> bool:
    """A model not loaded yet starts loading before the gate when the keyword search alone makes an answer
    likely (`gate.likely`): in a fresh process that hides most of its load behind the retrieval, and a
    question the gate then turns away does not wait for it."""
    from tenantctl.models.generation import is_loaded

    if is_loaded(mcfg):
        return False
    return gate.likely(question, searcher.keyword_preview(question, 3), settings.min_cjk_coverage)


def _load(name: str, mcfg: ModelConfig) -> Generator:
    from tenantctl.models.generation import load_generator

    return load_generator(name, mcfg)


def _source(passages: list[Passage], reply: Reply) -> Source:
    p = passages[reply.n - 1]
    h = p.hit
    if h is None:
        return Source(n=reply.n, path=p.source, position="", page=None, heading="", chunk_id=None,
                      quote=reply.supporting)
    return Source(n=reply.n, path=h.path, position=h.position, page=h.page, heading=h.heading, chunk_id=h.chunk_id,
                  quote=reply.supporting)
