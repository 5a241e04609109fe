"""Files written whole or not at all, checksummed one way, and times written one way.

A file is written to `.<name>.tmp<pid>` beside its target, flushed to disk and renamed into place, so
a reader (or a crash) sees the old content or the new, never a torn file. Times on disk and in output
are ISO 8601 in UTC with a `Z`.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's content, read 1 MB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.
    With `durable`, the file is fsynced before the rename (the folder is not: see `fsync_dir`)."""
    tmp = temp_name(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:  # owner only
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    """Make the renames in `folder` durable. Best effort: some file systems refuse to sync a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def iso_utc(ts: float | None = None) -> str:
    """`2026-11-26T03:48:00Z` for a Unix time (now when None)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
