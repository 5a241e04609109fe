"""The built-in `sql` kind: one read-only, parameterised query over a SQLite database or a CSV file in the
tenant's own folder.

The file must resolve inside the tenant's folder (no `..`, no absolute path, no symlink out of it, no
hard link: its other names may be another tenant's store). A
database is opened read-only, and an authorizer allows reading and nothing else — no ATTACH (which could
reach another tenant's files), no PRAGMA, no writes. A CSV file is loaded into an in-memory table `data`
first (numbers become numbers). The `when` pattern's named groups are bound as :name parameters, never
pasted into the SQL. A progress handler stops a query at the tool's `timeout_s`.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from pathlib import Path
from typing import Any

from tenantctl.config import ToolConfig, ToolsConfig
from tenantctl.errors import ToolFailed

MAX_CSV_BYTES = 50_000_000
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def inside_folder(tool: ToolConfig, folder: Path) -> Path | None:
    """The tool's file when it is named relative to the tenant's folder and resolves inside it (links
    followed), else None: the file is refused, whether it exists or not."""
    root = folder.resolve()
    path = (root / (tool.file or "")).resolve()
    if Path(tool.file or "").is_absolute() or not path.is_relative_to(root) or path == root:
        return None
    return path


def hard_linked(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_nlink > 1
    except OSError:
        return False


def resolve_file(tool: ToolConfig, folder: Path) -> Path:
    root = folder.resolve()
    path = inside_folder(tool, folder)
    if path is None:
        raise ToolFailed(tool.name, f"file {tool.file!r} is outside the tenant's folder",
                         f"put the file in {root} and name it relative to that folder")
    if not path.is_file():
        raise ToolFailed(tool.name, f"file {tool.file!r} does not exist in the tenant's folder",
                         f"copy it into {root}")
    if hard_linked(path):  # its other names may be anywhere: another tenant's store.db
        raise ToolFailed(tool.name, f"file {tool.file!r} is a hard link, which may be another folder's file",
                         f"copy it into {root} (cp, not ln)")
    return path


def _authorizer(action: int, arg1, arg2, db, trigger) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in ("load_extension", "readfile", "writefile"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _load_csv(tool: ToolConfig, path: Path) -> sqlite3.Connection:
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ToolFailed(tool.name, f"file {tool.file!r} is over {MAX_CSV_BYTES} bytes",
                         "use a SQLite database for large tables")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0]:
        raise ToolFailed(tool.name, f"file {tool.file!r} has no header row", "add a header row of column names")
    header = [h.strip() or f"column{i + 1}" for i, h in enumerate(rows[0])]
    conn = sqlite3.connect(":memory:")
    columns = ", ".join('"' + h.replace('"', '""') + '"' for h in header)
    width = len(header)
    try:
        conn.execute(f"CREATE TABLE data ({columns})")  # fails on a column named twice
        conn.executemany(f"INSERT INTO data VALUES ({', '.join('?' * width)})",
                         [[_number(v.strip()) for v in (row + [""] * width)[:width]] for row in rows[1:] if row])
    except BaseException:
        conn.close()
        raise
    return conn


def call(tool: ToolConfig, params: dict[str, str], folder: Path, cfg: ToolsConfig) -> list[dict[str, Any]]:
    """Run the tool's query; returns at most `max_rows` rows as dicts."""
    path = resolve_file(tool, folder)
    try:
        if path.suffix.lower() == ".csv":
            conn = _load_csv(tool, path)
        else:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=tool.timeout_s)
    except sqlite3.Error as exc:
        raise ToolFailed(tool.name, f"cannot open {tool.file!r}: {exc}", "check the file") from None
    deadline = time.monotonic() + tool.timeout_s
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
    conn.set_authorizer(_authorizer)
    try:
        cursor = conn.execute(tool.query or "", params)
        names = [d[0] for d in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(tool.max_rows)]
    except sqlite3.ProgrammingError as exc:
        raise ToolFailed(tool.name, f"the query cannot run: {exc}",
                         "bind only the `when` pattern's named groups, as :name") from None
    except sqlite3.DatabaseError as exc:
        if "interrupted" in str(exc):
            raise ToolFailed(tool.name, f"timed out after {tool.timeout_s:g} s", "simplify the query") from None
        raise ToolFailed(tool.name, f"the query was refused or failed: {exc}",
                         "a sql tool runs one read-only SELECT over its own file") from None
    finally:
        conn.close()
    if len(repr(rows).encode()) > cfg.max_response_bytes:
        raise ToolFailed(tool.name, f"the result exceeds the limit of {cfg.max_response_bytes} bytes",
                         "select fewer columns or rows (max_rows)")
    return rows
