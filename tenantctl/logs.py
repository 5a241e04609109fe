"""Structured logs: one JSON object per line in <home>/logs/tenantctl.jsonl, each carrying its tenant
and, for a command or a request, who acted (`actor`: the OS user or `$TENANTCTL_ACTOR`, `key:<id>`).

Lines hold ids, counts, timings and outcomes, never document text or questions, so nothing of one
tenant's documents can appear in a log line, let alone under another tenant. Each line is written with
one O_APPEND write, so concurrent processes (cron, a person, the server) never interleave lines.
"""

from __future__ import annotations

import collections
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tenantctl import paths
from tenantctl.context import current_actor, current_tenant

LOG_FILE = "tenantctl.jsonl"


def log_file() -> Path:
    return paths.log_dir() / LOG_FILE


def event(name: str, level: str = "info", **fields: Any) -> None:
    """Append one log line for the current tenant. Never raises: logging must not break a command."""
    now = time.time()
    record = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
        "level": level,
        "tenant": fields.pop("tenant", None) or current_tenant.get(),
        "event": name,
        "pid": os.getpid(),
        **fields,
    }
    actor = current_actor.get()
    if actor is not None:
        record["actor"] = actor
    try:
        path = log_file()
        paths.private_dir(path.parent)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def read(tenant: str | None = None, since: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """The log's lines, oldest first: those of `tenant`, from `since` (an ISO time), the last `limit`.
    Only `limit` lines are held at a time: the log grows for as long as the home is used."""
    path = log_file()
    if not path.exists():
        return iter(())
    rows: collections.deque[dict] = collections.deque(maxlen=limit or None)
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if tenant is not None and row.get("tenant") != tenant:
                continue
            if since is not None and str(row.get("ts", "")) < since:
                continue
            rows.append(row)
    return iter(rows)
