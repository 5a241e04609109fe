"""The cached KV state of the prompt's fixed opening, on the real default model: the same answers as
reading the whole prompt, and a damaged or stale cache file is ignored and rewritten."""

from pathlib import Path

import pytest

from tenantctl.answering.answer import COMPLETION_STOPS, PromptBuilder
from tenantctl.config import ModelConfig
from tenantctl.models import prefix_cache
from tenantctl.models.base import Request

pytestmark = pytest.mark.slow

# The first one's answer changes when the prompt is split at its opening's 133rd token instead of a
# multiple of prefix_cache.ALIGN (" 16 weeks of fully paid annual leave" -> " 23 days of paid annual leave").
PROMPTS = [
    ("How many days of paid annual leave do employees get?", [
        "Employees accrue 23 days of paid annual leave per calendar year.",
        "Parental leave is 16 weeks of fully paid parental leave for the primary caregiver.",
        "Unused leave of up to 5 days may be carried over to the next year.",
    ]),
    ("Who approves expense reports?", [
        "Expense reports are approved by the employee's line manager within 10 working days.",
        "Receipts must be attached for any amount above 25 euros.",
    ]),
    ("When was the company founded?", [
        "Acme Robotics was founded in 2009 in Grenoble by Jean Martin and Sophie Leroy.",
        "It moved its headquarters to Lyon in 2015.",
    ]),
    ("使用短信验证码时，手机银行单笔转账限额是多少？",
     ["使用短信验证码时，手机银行单笔转账限额为5万元，日累计限额为20万元。"]),
]


def _requests(with_prefix: bool) -> list[Request]:
    requests = []
    for question, texts in PROMPTS:
        builder = PromptBuilder(None, chat=False, language="zh" if "？" in question else "en")
        prompt, _ = builder.render(question, texts, [])
        requests.append(Request(prompt=prompt, max_tokens=24, stop=COMPLETION_STOPS,
                                prefix=builder.prefix() if with_prefix else ""))
    return requests


@pytest.fixture(scope="module")
def generator():
    from tenantctl.models.generation import LlamaCppGenerator

    return LlamaCppGenerator("default", ModelConfig())


def _run(generator, requests: list[Request], forget: bool = False) -> tuple[list[str], list[int]]:
    """Texts and cached tokens of each request, in turn, starting from an empty context (as a fresh
    process does); `forget`: each request from an empty context, whatever the one before left in it."""
    results = []
    for i, request in enumerate(requests):
        if forget or i == 0:
            generator.llm.reset()
        results.append(generator.generate(request))
    return [r.text for r in results], [r.cached_tokens for r in results]


def _files(cache: Path) -> list[Path]:
    return sorted((cache / "llm-prefix").glob("*.kv"))


def test_the_cached_opening_gives_the_same_answers_as_the_whole_prompt(generator, tmp_path, monkeypatch):
    monkeypatch.setenv("TENANTCTL_CACHE", str(tmp_path))
    whole, cached = _run(generator, _requests(with_prefix=False), forget=True)
    assert cached == [0, 0, 0, 0] and not _files(tmp_path)
    assert whole[0].strip() and whole[1].strip()

    # In turn: the first English prompt evaluates the opening and writes it, the next keep it in the
    # context (not more of the prompt before, which would split this one off the alignment).
    first, cached = _run(generator, _requests(with_prefix=True))
    assert first == whole and cached == [0, 0, 0, 0]
    assert len(_files(tmp_path)) == 2  # the English and the Chinese opening
    for request, expected in zip(_requests(with_prefix=True), whole, strict=True):  # each alone, as a fresh process
        (text,), (cached,) = _run(generator, [request])
        assert text == expected and cached > 0 and cached % prefix_cache.ALIGN == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "other key"])
def test_a_damaged_cache_file_is_ignored_and_rewritten(generator, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("TENANTCTL_CACHE", str(tmp_path))
    request = _requests(with_prefix=True)[0]
    (reference,), _ = _run(generator, [request])
    (path,) = _files(tmp_path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not a state\n" * 100)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":  # a bit of the state itself: only the checksum can tell
        path.write_bytes(data[:-1000] + bytes([data[-1000] ^ 0x10]) + data[-999:])
    else:  # a whole file, written for other tokens (a renamed or colliding file)
        payload = data[len(prefix_cache.MAGIC) + 65 :].replace(b'"tokens": [2,', b'"tokens": [3,', 1)
        import hashlib

        path.write_bytes(prefix_cache.MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    (text,), (cached,) = _run(generator, [request])
    assert text == reference and cached == 0
    assert path.read_bytes() == data  # rewritten
    (text,), (cached,) = _run(generator, [request])
    assert text == reference and cached > 0



@pytest.mark.parametrize("messages", [False, True], ids=["prompt", "messages"])
def test_no_prompt_reads_faster_for_beginning_as_the_last_one(generator, monkeypatch, messages):
    """Tenant B's prompt sharing the start of tenant A's last one (a guessed passage) is read whole:
    llama.cpp kept 42 of its 49 tokens from A's and answered in a tenth of the time. (With the answer's
    fixed opening as `prefix`, only that opening is kept: the test above.)"""
    evaluated: list[int] = []
    real = generator.llm.eval
    monkeypatch.setattr(generator.llm, "eval", lambda tokens: (evaluated.append(len(tokens)), real(tokens))[1])
    secret = "Passages: The acme launch code is ZEBRA-4411; the vault is on floor 7 behind the red door. " * 3
    for text in (secret + "Question: the code?\nAnswer:", secret[:120] + "Question: what?\nAnswer:"):  # A, then B
        evaluated.clear()
        generator.generate(Request(messages=[{"role": "user", "content": text}], max_tokens=2) if messages
                           else Request(prompt=text, max_tokens=2))
    assert evaluated and evaluated[0] >= generator.count_tokens(text), evaluated
