"""What every generator shares: a request, its result, and the small interface generators implement.

Kept apart from the llama.cpp and remote generators so neither imports the other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Generation:
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_ms: float | None = None
    generation_ms: float = 0.0
    finish_reason: str | None = None
    cached_tokens: int = 0  # prompt tokens not read but taken from a cached state
    # The mean log-probability of the generated tokens under the model (0 is certain), when the
    # generator can tell; None when it cannot (a remote model).
    confidence: float | None = None


@dataclass
class Request:
    """A completion prompt, or chat messages for a model with a chat template."""

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    max_tokens: int = 160
    temperature: float = 0.0
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    stop: list[str] = field(default_factory=list)
    seed: int = 0
    # The prompt's fixed opening (instructions, examples), the same for many prompts: a generator may
    # keep its state instead of reading it every time.
    prefix: str = ""


def relay(pieces: Iterable[str], result: Generation, started: float,
          on_token: Callable[[str], None] | None) -> list[str]:
    """A stream's pieces, collected and each passed on to `on_token` as it comes; the first one's time
    (ms since `started`, a `time.perf_counter()`) recorded in `result.first_token_ms`. When `on_token`
    raises (the caller stopped the generation: a client that went away), the error carries what the model
    did until then (`partial`): its tokens are metered."""
    parts: list[str] = []
    for piece in pieces:
        if result.first_token_ms is None:
            result.first_token_ms = (time.perf_counter() - started) * 1000
        parts.append(piece)
        if on_token:
            try:
                on_token(piece)
            except Exception as exc:
                result.text, result.completion_tokens = "".join(parts), len(parts)  # a streamed piece a token
                with contextlib.suppress(AttributeError):  # an error type that takes no attributes
                    exc.partial_generation = result  # type: ignore[attr-defined]
                raise
    return parts


def partial(exc: BaseException) -> Generation | None:
    """What the model did before its caller stopped it with `exc` (see `relay`), if it was stopped so."""
    found = getattr(exc, "partial_generation", None)
    return found if isinstance(found, Generation) else None


class Generator(Protocol):
    name: str
    n_ctx: int
    has_chat_template: bool
    load_ms: float

    def count_tokens(self, text: str) -> int: ...

    def generate(self, request: Request, on_token: Callable[[str], None] | None = None) -> Generation: ...
