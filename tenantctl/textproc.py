"""Text helpers shared by extraction, chunking and keyword search: CJK handling, token estimates, FTS5
queries, Markdown's fenced code blocks.

SQLite's unicode61 tokenizer does not segment Chinese, Japanese or Korean: a run of CJK characters
becomes one token, so a question never matches a passage. Both the indexed text and the query are
therefore rewritten so that each CJK run becomes its overlapping character bigrams (the approach of
Lucene's CJKAnalyzer), which unicode61 then sees as separate tokens.
"""

from __future__ import annotations

import re

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
)
CJK_RUN = re.compile(f"[{_CJK}]+")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[^\W_]+")

# Words too common to help a keyword query; dropping them keeps OR-queries fast and focused.
_STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in into is it
    its me my no not of on or our she should so than that the their them then there these they this
    to was we were what when where which who whom why will with would you your""".split()
)


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 chunk", "2 chunks", "0 chunks" (`many` for a word whose plural is not word + "s")."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1))


def segment_cjk(text: str) -> str:
    """Replace each CJK run by its character bigrams separated by spaces."""
    return CJK_RUN.sub(lambda m: f" {_bigrams(m.group())} ", text)


def embed_input(heading: str, text: str) -> str:
    """What a chunk's vector is computed from, at ingest and at `repair --reembed` alike."""
    return f"{heading}\n{text}" if heading else text


def fts_body(heading: str, text: str) -> str:
    body = f"{heading}\n{text}" if heading else text
    return segment_cjk(body) if has_cjk(body) else body


# Question words a Chinese question holds but its answer's passage need not: a CJK query's stopwords.
CJK_QUESTION = re.compile(r"什么|多少|哪些|哪个|哪一|哪里|哪儿|哪|为什么|怎么|怎样|如何|是否|几(?!乎)|谁|吗|呢|何")


def query_terms(query: str) -> list[str]:
    """The query's distinct keyword terms (word characters only), CJK runs as bigrams, without the
    question words ("多少" of "X5 多少钱？" found every FAQ heading asking "…是多少？")."""
    asked = CJK_QUESTION.sub(" ", query) if has_cjk(query) else query
    words = _WORD.findall(segment_cjk(asked).lower()) or _WORD.findall(segment_cjk(query).lower())
    # dict.fromkeys keeps the first occurrence of each term in order, in linear time.
    terms = list(dict.fromkeys(t for t in words if t not in _STOPWORDS))
    if not terms:  # a query made only of stopwords still deserves an answer
        terms = list(dict.fromkeys(words))
    return terms


def fts_query(query: str) -> str:
    """An FTS5 MATCH expression: the query's distinct terms, each quoted, joined by OR."""
    return " OR ".join(f'"{t}"' for t in query_terms(query))


def estimate_tokens(text: str) -> int:
    """Approximate subword tokens: one per CJK character, one per ~4 other characters."""
    cjk = len(_CJK_CHAR.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|(?<=[。！？；])")


def split_sentences(text: str) -> list[str]:
    parts = [p for p in _SENTENCE_END.split(text) if p and p.strip()]
    return parts or [text]


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$", re.M)  # indented too: a fence in a list item


def fenced_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of Markdown's fenced code blocks, fences included: a fence of three or more
    backticks or tildes, closed by one of the same character at least as long with nothing after it. An
    unclosed "fence" is no fence: in a text file, "~~~~~~" may be a line drawn."""
    spans: list[tuple[int, int]] = []
    opening: re.Match[str] | None = None
    for fence in _FENCE.finditer(text):
        if opening is None:
            opening = fence
        elif (fence.group(1)[0] == opening.group(1)[0] and len(fence.group(1)) >= len(opening.group(1))
              and not fence.group(2).strip()):
            spans.append((opening.start(), fence.end()))
            opening = None
    return spans
