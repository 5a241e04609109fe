"""Grounded answers: retrieve a tenant's passages, ask the shared model, keep only what the passages
support, and cite them.

The default model (Gemma 3 270M, a base model) is small: it follows a one-shot completion prompt well
enough, but it also invents numbers and runs on into the next passage. So its output is checked: a
sentence is kept only when a passage supports it (every number in it appears in that passage, and most
of its words do), citations that name no passage are dropped, and when nothing usable remains the
answer falls back to the passage sentence that best matches the question.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tenantctl.config import AnswerConfig, Config
from tenantctl.retrieval.search import Hit, Searcher
from tenantctl.textproc import estimate_tokens, segment_cjk, split_sentences

INSTRUCTIONS = (
    "Answer the question using only the numbered passages. Use the passages' own words, keep the answer "
    "to one or two sentences, and cite the passage number in brackets, like [2]."
)

# A worked example shows a base model the format better than any instruction.
EXAMPLE = """Passages:
[1] The staff canteen opens at 7:30 and closes at 15:00 on weekdays.
[2] Parking permits cost 40 euros per month and are sold at the front desk.

Question: How much does a parking permit cost?
Answer: Parking permits cost 40 euros per month [2].

"""

DEFAULT_TEMPLATE = "Passages:\n{passages}\n\nQuestion: {question}\nAnswer:"
# The answer is one line: a base model that goes on writes the next passage or question.
COMPLETION_STOPS = ["\n", "Question:", "Passages:"]
RELEVANCE_MARGIN = 0.15  # how much less relevant than the best passage sentence a model answer may be

_CITATION = re.compile(r"\s*\[(\d{1,2})\]")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[^\W_]+")
_REFUSAL = re.compile(
    r"\b(not (mentioned|stated|specified|provided|given)|do(es)? not (say|contain|mention|answer|provide)|"
    r"cannot (be )?answer|no information)\b|未提及|没有提到|无法回答",
    re.I,
)
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or the their there this "
    "to was what when where which who why will with you your".split()
)


@dataclass
class Source:
    n: int
    path: str
    position: str
    page: int | None
    heading: str
    chunk_id: int


@dataclass
class Answer:
    tenant: str
    question: str
    answer: str
    citations: list[int]
    sources: list[Source]
    grounded: bool  # the model's own words, checked against the passages
    fallback: bool  # the model's output was unusable: the best passage sentence instead
    no_answer: bool  # nothing relevant retrieved: the model was not called
    model: str | None
    passages: list[Hit] = field(default_factory=list)
    raw: str = ""  # what the model printed, before checking
    timings: dict[str, float] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)  # the tenant's tool calls: status, ms, error
    notes: list[str] = field(default_factory=list)  # e.g. a tool failed: answered from the documents alone

    def to_dict(self, include_passages: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["passages"] = [h.to_dict() for h in self.passages] if include_passages else len(self.passages)
        return data


def effective_settings(cfg: Config, tenant_answer: AnswerConfig) -> AnswerConfig:
    """The global `answer` settings with the tenant's explicitly set ones on top."""
    return cfg.answer.model_copy(update=tenant_answer.model_dump(exclude_unset=True))


def _terms(text: str) -> set[str]:
    return {t for t in _WORD.findall(segment_cjk(text.lower())) if t not in _STOPWORDS}


def _passage_block(texts: list[str]) -> str:
    return "\n".join(f"[{i}] {text}" for i, text in enumerate(texts, 1))


def _flat(text: str) -> str:
    return " ".join(text.split())


class PromptBuilder:
    def __init__(self, template: str | None, chat: bool) -> None:
        self.template = template or DEFAULT_TEMPLATE
        self.chat = chat

    def render(self, question: str, texts: list[str], history: list[tuple[str, str]]) -> tuple[str, list | None]:
        body = self.template.format(passages=_passage_block(texts), question=question)
        if self.chat:
            earlier = "".join(f"Earlier question: {q}\nEarlier answer: {a}\n\n" for q, a in history)
            return "", [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": earlier + body}]
        # A base model given earlier answers copies them; a follow-up's context reaches it through
        # retrieval instead (the query borrows the last question).
        return f"{INSTRUCTIONS}\n\n{EXAMPLE}{body}", None


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


_ANSWER_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")


def _sentences(text: str) -> list[str]:
    return [p.strip() for p in _ANSWER_SENTENCE.split(text) if p and p.strip()]


def _cite(sentence: str, n: int) -> str:
    """Put the citation before the sentence's final stop: "... per year [1]."."""
    sentence = sentence.rstrip()
    if sentence.endswith((".", "。", "!", "?", "！", "？")):
        return f"{sentence[:-1].rstrip()} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def check_answer(raw: str, passages: list[str]) -> tuple[str, list[int]]:
    """Keep the sentences of `raw` that a passage supports; cite that passage. Returns ("", []) when
    nothing is usable."""
    text = _flat(raw)
    if not text or _REFUSAL.search(text):
        return "", []
    windows = [_windows(p) for p in passages]
    kept: list[str] = []
    cited: list[int] = []
    for i, sentence in enumerate(_sentences(text)[:2]):
        claimed = [int(n) for n in _CITATION.findall(sentence)]
        bare = _flat(_CITATION.sub("", sentence))
        if len(_terms(bare)) < (1 if i == 0 else 3):
            continue  # a fragment ("action:") after the answer carries nothing
        order = [n for n in claimed if 1 <= n <= len(passages)]
        order += [n for n in range(1, len(passages) + 1) if n not in order]
        support = next((n for n in order if any(_supports(w, bare) for w in windows[n - 1])), None)
        if support is None:
            break  # a sentence no passage supports ends the answer: what follows is usually worse
        kept.append(_cite(bare, support))
        if support not in cited:
            cited.append(support)
    return " ".join(kept), cited


def _windows(passage: str) -> list[str]:
    """A passage's sentences, alone and with their neighbour: the spans an answer sentence may restate."""
    parts = [s for line in passage.split("\n") for s in split_sentences(line)] or [passage]
    return parts + [f"{a} {b}" for a, b in zip(parts, parts[1:], strict=False)]


def _supports(span: str, sentence: str) -> bool:
    """True when `span` holds every number of `sentence` and three quarters of its other words."""
    flat = _flat(span)
    digits = re.sub(r"\D", "", flat)
    for number in _NUMBER.findall(sentence):
        if number not in flat and re.sub(r"\D", "", number) not in digits:
            return False
    words = {w for w in _terms(sentence) if not w.isdigit()}
    if not words:
        return bool(_NUMBER.search(sentence))
    return len(words & _terms(flat)) / len(words) >= 0.75


_QUANTITY = re.compile(
    r"\b(how (many|much|long|often|far|old)|what (is|are) the (limit|fee|rate|price|cost))\b|多少|几|多久|多长", re.I
)
_LEAD = re.compile(r"^(?:[-*•]\s+|\d{1,2}[.)]\s+|(?:答|a)[:：]\s*)", re.I)
_QUESTION_LIKE = re.compile(r"[?？]$|^(问|q)[:：]", re.I)


def _candidates(passages: list[Hit]) -> list[tuple[str, int]]:
    """Each passage's sentences, numbered by passage; statements only, when there are any (FAQ
    passages repeat the question, which must never come back as the answer)."""
    candidates: list[tuple[str, int]] = []
    for n, hit in enumerate(passages, 1):
        for line in hit.text.split("\n"):
            # Whole sentences only: a table row ("office: Lisbon; headcount: 85") stays one candidate.
            for sentence in _sentences(line):
                sentence = _LEAD.sub("", _flat(sentence.replace("**", "")))
                if len(_terms(sentence)) >= 2:
                    candidates.append((sentence, n))
    statements = [c for c in candidates if not _QUESTION_LIKE.search(c[0])]
    return statements or candidates


def relevance(question: str, texts: list[str], embedder) -> list[float]:
    """How well each text answers the question: cosine similarity plus half the share of the
    question's terms it holds, plus a bonus for a number when the question asks for a quantity."""

    vectors = embedder.encode_query([question, *texts])
    cosine = vectors[1:] @ vectors[0]
    qterms = _terms(question)
    wants_number = bool(_QUANTITY.search(question))
    return [
        float(c) + 0.5 * len(qterms & _terms(t)) / max(1, len(qterms))
        + (0.15 if wants_number and _NUMBER.search(t) else 0.0)
        for c, t in zip(cosine, texts, strict=True)
    ]


def best_sentence(question: str, passages: list[Hit], embedder) -> tuple[str, int, float]:
    """The passage sentence that best answers the question, its passage number and its relevance."""
    candidates = _candidates(passages)
    if not candidates:
        return _flat(passages[0].text)[:300], 1, 0.0
    scores = relevance(question, [c[0] for c in candidates], embedder)
    # Ties go to the higher-ranked passage.
    best = max(range(len(candidates)), key=lambda i: scores[i] - 0.01 * candidates[i][1])
    return candidates[best][0], candidates[best][1], scores[best]


def answer_question(
    searcher: Searcher,
    question: str,
    cfg: Config,
    *,
    history: list[tuple[str, str]] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Answer from the searcher's tenant alone; metered as one `question` usage event."""
    from tenantctl.retrieval.search import check_query
    from tenantctl.storage import metering

    check_query(question, cfg, "question")
    with metering.track(searcher.store, "question") as usage:
        searcher.tenant.require_active("questions")  # inside: a refusal is metered too
        metering.check_question_quota(searcher.tenant, searcher.store)
        result = _answer(searcher, question, cfg, history, on_token)
        usage.prompt_tokens = int(result.timings.get("prompt_tokens", 0))
        usage.completion_tokens = int(result.timings.get("completion_tokens", 0))
        usage.details = {"no_answer": result.no_answer, "fallback": result.fallback, "model": result.model}
    return result


def with_tools(
    searcher: Searcher, question: str, cfg: Config, hits: list[Hit], min_score: float
) -> tuple[list[Hit], list[dict], list[str]]:
    """The passages of an answer: the results of the tenant's tools the question selects, then the hits
    at least `min_score` similar. A tool that matched is relevant by construction: its passage skips the
    documents' relevance gate.
    Returns the passages, the calls (for --json: status, ms, error) and a note for each failed call."""
    from tenantctl.tools.run import tool_passages

    results = tool_passages(searcher.tenant, question, cfg, searcher.store)
    found = [
        Hit(rank=0, chunk_id=0, path=f"tool:{r.name}", ord=0, start=0, end=len(r.text), page=None, heading="",
            text=r.text, score=1.0, similarity=1.0, dense_rank=None, keyword_rank=None)
        for r in results if r.ok
    ]
    notes = [f"{r.error} — answered from the documents alone" for r in results if not r.ok]
    passages = found + [h for h in hits if h.similarity >= min_score]
    return passages, [{k: v for k, v in r.to_dict().items() if k != "text"} for r in results], notes


def _ms(tools: list[dict]) -> float:
    return round(sum(t["ms"] for t in tools), 1)


def _answer(
    searcher: Searcher,
    question: str,
    cfg: Config,
    history: list[tuple[str, str]] | None,
    on_token: Callable[[str], None] | None,
) -> Answer:
    from tenantctl.models.generation import Request, get_generator

    started = time.perf_counter()
    tenant = searcher.tenant
    settings = effective_settings(cfg, tenant.config.answer)
    history = (history or [])[-2:]
    query = question
    if history and estimate_tokens(question) < 12:  # a short follow-up borrows the last question's context
        query = f"{history[-1][0]} {question}"
    hits = searcher.search(query, k=settings.passages, meter=False)
    embedder_load_ms = searcher.timings.get("embedder_load_ms", 0.0)
    retrieval_ms = (time.perf_counter() - started) * 1000 - embedder_load_ms
    passages, tools, notes = with_tools(searcher, question, cfg, hits, settings.min_score)
    base = dict(tenant=tenant.id, question=question, grounded=False, tools=tools, notes=notes)
    if not passages:
        return Answer(
            **base, answer=f"The documents of tenant {tenant.id} do not hold an answer to this question.",
            citations=[], sources=[], fallback=False, no_answer=True, model=None, passages=hits,
            timings={"embedder_load_ms": embedder_load_ms, "retrieval_ms": round(retrieval_ms, 1),
                     "tools_ms": _ms(tools), "total_ms": round((time.perf_counter() - started) * 1000, 1)},
        )

    model_name, mcfg = cfg.model(settings.model)
    load_started = time.perf_counter()
    generator = get_generator(model_name, mcfg)
    load_ms = (time.perf_counter() - load_started) * 1000
    chat = mcfg.prompt_style == "chat" or (mcfg.prompt_style == "auto" and generator.has_chat_template)
    builder = PromptBuilder(settings.prompt_template, chat)
    max_tokens = settings.max_tokens or mcfg.max_tokens

    def build(texts: list[str]) -> str:
        prompt, messages = builder.render(question, texts, history)
        return prompt if messages is None else "\n".join(m["content"] for m in messages)

    budget = generator.n_ctx - max_tokens - 32
    texts = fit_passages(build, [_flat(h.text) for h in passages], budget, generator.count_tokens)
    passages = passages[: len(texts)]
    prompt, messages = builder.render(question, texts, history)
    request = Request(
        prompt=None if messages else prompt, messages=messages, max_tokens=max_tokens,
        temperature=settings.temperature if settings.temperature is not None else mcfg.temperature,
        top_p=mcfg.top_p, repeat_penalty=mcfg.repeat_penalty, seed=mcfg.seed,
        stop=[*([] if chat else COMPLETION_STOPS), *mcfg.stop],
    )
    result = generator.generate(request, on_token=on_token)
    text, cited = check_answer(result.text, texts)
    # A supported answer can still miss the question (a small model may restate a nearby sentence):
    # it must answer about as well as the best sentence the passages offer.
    sentence, n, best_score = best_sentence(question, passages, searcher.embedder)
    if text:
        plain = _CITATION.sub("", text)
        if relevance(question, [plain], searcher.embedder)[0] < best_score - RELEVANCE_MARGIN:
            text, cited = "", []
    fallback = not text
    if fallback:
        text, cited = _cite(sentence, n), [n]
    sources = [
        Source(n=n, path=passages[n - 1].path, position=passages[n - 1].position, page=passages[n - 1].page,
               heading=passages[n - 1].heading, chunk_id=passages[n - 1].chunk_id)
        for n in sorted(cited)
    ]
    return Answer(
        **{**base, "grounded": not fallback}, answer=text, citations=sorted(cited), sources=sources,
        fallback=fallback, no_answer=False, model=model_name, passages=passages, raw=result.text,
        timings={
            "embedder_load_ms": embedder_load_ms, "retrieval_ms": round(retrieval_ms, 1),
            "tools_ms": _ms(tools), "model_load_ms": round(load_ms, 1),
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "first_token_ms": round(result.first_token_ms or 0.0, 1),
            "generation_ms": round(result.generation_ms, 1),
            "total_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
