"""What a tool call gets and gives: `ToolCall` (also the interface of plugin kinds) and `ToolResult`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenantctl.ingestion.extract import table_records

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


def _value(value: Any) -> str:
    """A field's value on one line, without the "; " that separates a record's fields."""
    text = "" if value is None else ", ".join(map(_value, value)) if isinstance(value, list) else str(value)
    return " ".join(text.replace("; ", ", ").split())


def _fields(value: dict, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON object's (name, value) fields, nested objects' names joined: "address city"."""
    found: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}{_label(str(key))}"
        found += _fields(item, f"{name} ") if isinstance(item, dict) else [(name, _value(item))]
    return found


def render(data: Any, params: dict[str, str] | None = None) -> str:
    """A tool's data as passage text: each record a paragraph of `field: value` pairs joined by "; " —
    the records ingestion makes of a table's rows, so an answer names the field asked for ("annual leave
    days left: 14.5"), not the whole row. Each record opens with the call's `params` it lacks ("employee:
    E-1042; name: Dana; …"): they say which record it is, as a table row's key does."""
    if data is None or data == [] or data == {}:
        return ""
    if isinstance(data, str):
        return " ".join(data.split())
    if not isinstance(data, dict | list) or isinstance(data, list) and not all(isinstance(r, dict) for r in data):
        return json.dumps(data, ensure_ascii=False, default=str)
    given = [(_label(k), _value(v)) for k, v in (params or {}).items()]
    records = []
    for row in data if isinstance(data, list) else [data]:
        fields = _fields(row)
        fields = [*[(k, v) for k, v in given if v and v not in dict(fields).values()], *fields]
        records += table_records([name for name, _ in fields], [[value for _, value in fields]], 0)
    return "\n\n".join(records)


def passage(description: str, name: str, params: dict[str, str], body: str) -> str:
    """The tool's passage: what it is and which call on one line, then the result's records."""
    head = description or f"Result of tool {name}"
    if params:
        head += " (" + ", ".join(f"{_label(k)} {v}" for k, v in params.items()) + ")"
    text = f"{head}:\n\n{body or 'no matching record.'}"  # its own paragraph: the records stay whole
    return text if len(text) <= MAX_PASSAGE_CHARS else text[: MAX_PASSAGE_CHARS - 2].rsplit(" ", 1)[0] + " …"


def heading_and_body(text: str) -> tuple[str, str]:
    """A `passage` apart again: what the tool is and which call (the heading of its records, never an
    answer of its own), and the records."""
    head, _, body = text.partition("\n\n")
    return (head.rstrip(":"), body) if body else ("", text)
