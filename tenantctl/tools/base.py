"""What a tool call gets and gives: `ToolCall` (also the interface of plugin kinds) and `ToolResult`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_PASSAGE_CHARS = 2000  # a tool's passage, trimmed: the model's context is small


@dataclass
class ToolCall:
    """One call of a tool, as a kind (built-in or plugin) receives it.

    `params` are the named groups of the tool's `when` pattern; `options` its settings from tenant.yaml
    with ${VAR} secrets resolved; `folder` the tenant's own folder (the only files a tool may read).
    """

    tenant: str
    name: str
    params: dict[str, str]
    options: dict[str, Any]
    folder: Path
    timeout_s: float
    max_bytes: int


@dataclass
class ToolResult:
    name: str
    kind: str
    status: str  # ok | error
    ms: float
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""  # the passage: what the answer sees and cites as tool:NAME
    error: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(key: str) -> str:
    return key.replace("_", " ").strip()


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """`field value` pairs: "status in transit". No colons or semicolons, which would cut a record into
    pieces too small for an answer's sentence to be checked against."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _flatten(item, f"{prefix}{_label(str(key))} ")]
    if isinstance(value, list):
        return [p for item in value for p in _flatten(item, prefix)]
    return [f"{prefix}{'' if value is None else value}".strip()]


def render(data: Any) -> str:
    """A tool's data as passage text: one record per line, `field value` pairs joined by commas."""
    if data is None or data == [] or data == {}:
        return ""
    if isinstance(data, str):
        return " ".join(data.split())
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return "\n".join(", ".join(_flatten(row)) + "." for row in data)
    if isinstance(data, dict):
        return ", ".join(_flatten(data)) + "."
    return json.dumps(data, ensure_ascii=False, default=str)


def passage(description: str, name: str, params: dict[str, str], body: str) -> str:
    """The tool's passage: what it is, which call, then the result."""
    head = description or f"Result of tool {name}"
    if params:
        head += " (" + ", ".join(f"{_label(k)} {v}" for k, v in params.items()) + ")"
    # One record stays on the head's line: the whole line is then one sentence an answer can quote.
    text = f"{head}:{chr(10) if chr(10) in body else ' '}{body or 'no matching record.'}"
    return text if len(text) <= MAX_PASSAGE_CHARS else text[: MAX_PASSAGE_CHARS - 2].rsplit(" ", 1)[0] + " …"
