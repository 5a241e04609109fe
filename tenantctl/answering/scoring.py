"""Scoring answers against gold answers, the way SQuAD and CMRC 2018 score them, and reading labelled
question files.

English is compared by words after SQuAD's normalisation (lowercase, no punctuation, no articles);
Chinese by characters (CMRC 2018: punctuation and spaces removed, F1 over the longest common
substring), a Latin gold answer inside Chinese text too ("R-S-R" in "通式为R-S-R"). An answer is
*correct* when it contains a gold answer and is concise: at most 30 words, or 80 characters when it is
mostly Chinese; citation markers are not counted.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from tenantctl.errors import BadInput
from tenantctl.textproc import has_cjk

MAX_WORDS = 30
MAX_CJK_CHARS = 80

_CITATION = re.compile(r"\s*\[(?:\d{1,2}|tool:[^\]]+)\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014"}


@dataclass
class LabelledQuestion:
    question: str
    answers: list[str]
    id: str = ""
    source: str = ""  # the document (title or file name) that holds the answer, when known
    extra: dict = field(default_factory=dict)


def strip_citations(text: str) -> str:
    return " ".join(_CITATION.sub("", text).split())


def is_punct(ch: str) -> bool:
    return ch in _PUNCT or unicodedata.category(ch).startswith("P")


def normalize(text: str) -> str:
    """SQuAD's normalisation; for Chinese text also drop every space (characters are compared)."""
    text = "".join(ch for ch in text.lower() if not is_punct(ch))
    if has_cjk(text):
        return "".join(text.split())
    return " ".join(_ARTICLES.sub(" ", text).split())


def _lcs(a: str, b: str) -> int:
    best = 0
    row = [0] * (len(b) + 1)
    for ca in a:
        prev = 0
        for j, cb in enumerate(b, 1):
            cur = row[j]
            row[j] = prev + 1 if ca == cb else 0
            best = max(best, row[j])
            prev = cur
    return best


def f1(prediction: str, gold: str) -> float:
    """Token F1 (English words) or longest-common-substring F1 (Chinese characters), 0..1."""
    pred, ref = normalize(strip_citations(prediction)), normalize(gold)
    if has_cjk(gold) or has_cjk(pred):
        ref = "".join(ref.split())
        common = _lcs(pred, ref)
        p_len, r_len = len(pred), len(ref)
    else:
        ptoks, rtoks = pred.split(), ref.split()
        common = sum(min(ptoks.count(t), rtoks.count(t)) for t in set(rtoks))
        p_len, r_len = len(ptoks), len(rtoks)
    if not common:
        return 0.0
    precision, recall = common / p_len, common / r_len
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> bool:
    pred, ref = normalize(strip_citations(prediction)), normalize(gold)
    if not ref:
        return False
    if has_cjk(ref) or has_cjk(pred):  # Chinese is compared by characters, Latin words inside it too
        return "".join(ref.split()) in pred
    return f" {ref} " in f" {pred} "


def concise(prediction: str) -> bool:
    text = strip_citations(prediction)
    if has_cjk(text):
        return len("".join(text.split())) <= MAX_CJK_CHARS
    return len(text.split()) <= MAX_WORDS


def score(prediction: str, golds: list[str]) -> dict[str, float | bool]:
    hit = any(contains(prediction, g) for g in golds)
    return {"contains": hit, "concise": concise(prediction), "correct": hit and concise(prediction),
            "f1": max((f1(prediction, g) for g in golds), default=0.0)}


def load_labelled(path: Path) -> list[LabelledQuestion]:
    """Questions with gold answers: JSONL lines {"question", "answers": [...], "source"?, "id"?} (an
    empty `answers` list means the documents do not hold an answer), or a SQuAD-format JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}", "pass a JSONL or SQuAD JSON file") from exc
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "data" in whole:
        return _squad(whole, path)
    questions = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row.get("question"), str) or not isinstance(row.get("answers"), list):
                raise TypeError('it needs a "question" text and an "answers" list')  # "answers": "x" was 1 list
            answers = [a["text"] if isinstance(a, dict) else str(a) for a in row["answers"]]
            questions.append(LabelledQuestion(str(row["question"]), answers, str(row.get("id", n)),
                                              str(row.get("source", ""))))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInput(f"{path}, line {n}: not a labelled question ({exc})",
                           'each line must be {"question": "...", "answers": ["..."]}') from exc
    if not questions:
        raise BadInput(f"{path} holds no questions", 'write one {"question": ..., "answers": [...]} per line')
    return questions


def _squad(data: dict, path: Path) -> list[LabelledQuestion]:
    try:
        return [
            LabelledQuestion(qa["question"], [a["text"] for a in qa["answers"]], str(qa.get("id", "")),
                             article.get("title", ""))
            for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]
        ]
    except (KeyError, TypeError) as exc:
        raise BadInput(f"{path} is not in SQuAD format (missing {exc})",
                       "data[] -> paragraphs[] -> qas[] -> {question, answers[] -> {text}}") from exc
