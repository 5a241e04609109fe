"""Typed errors raised by the core; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations

import contextlib
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented process exit codes (see README, "Exit codes")."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    PARTIAL = 4  # a batch where some items (files, tenants) failed
    REFUSED = 5  # quota exceeded, tenant suspended
    BUSY = 75  # another writer holds the tenant's lock: retry later (EX_TEMPFAIL)
    INTERRUPTED = 130


class TenantctlError(Exception):
    """Base error: a message naming the thing, a hint naming the fix."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidTenantId(TenantctlError):
    exit_code = ExitCode.USAGE


class TenantNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND

    def __init__(self, tenant_id: str) -> None:
        super().__init__(
            f"tenant {tenant_id!r} does not exist",
            "list tenants with `tenantctl tenant list`, or create it with "
            f"`tenantctl create {tenant_id}`",
        )
        self.tenant_id = tenant_id


class TenantExists(TenantctlError):
    exit_code = ExitCode.USAGE


class ConfigError(TenantctlError):
    pass


class BadInput(TenantctlError):
    exit_code = ExitCode.USAGE


class IndexMismatch(TenantctlError):
    """The tenant's index was built with other embedder or chunking settings."""


class IndexCorrupt(TenantctlError):
    pass


class StoreTooNew(IndexCorrupt):
    """A store written by a newer tenantctl (its format version is higher than this one knows)."""

    version: int = 0


class Busy(TenantctlError):
    exit_code = ExitCode.BUSY


def busy(tenant_id: str, wait: float, where: str = "") -> Busy:
    """Another writer holds the tenant; after `--wait`, the message says how long was waited and the
    hint asks for a longer one (it said "pass --wait SECONDS" to an operator who had)."""
    waited = f" (waited {wait:g} s)" if wait else ""
    hint = "retry later, or pass a longer --wait" if wait else "retry later, or pass --wait SECONDS to wait for it"
    return Busy(f"tenant {tenant_id!r} is busy: another ingest, reindex or repair is writing to it{where}{waited}",
                hint)


class ModelUnavailable(TenantctlError):
    pass


class Refused(TenantctlError):
    """An operation refused by policy: a quota, a suspended tenant."""

    exit_code = ExitCode.REFUSED


class Suspended(Refused):
    """The tenant is suspended."""


class RateLimited(Refused):
    """Over the tenant's `rate_limit`: another request is allowed in `retry_after` seconds."""

    def __init__(self, message: str, hint: str | None, retry_after: float) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class SessionNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class KeyNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class DocumentNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class SourceNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class ToolNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class ToolFailed(TenantctlError):
    """A tenant's tool could not give a result (disallowed host, time-out, size limit, missing secret,
    an error from the service). The answer path degrades to documents alone; `tool test` exits 1."""

    def __init__(self, tool: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"tool {tool!r}: {message}", hint)
        self.tool = tool


class TooLarge(BadInput):
    """An input larger than a configured limit (the server answers 413)."""


class DiskFull(TenantctlError):
    """No space left where tenantctl writes (the server answers 507)."""


class StorageError(TenantctlError):
    """A file or database tenantctl needs cannot be read or written: read-only, damaged, no permission."""


def from_system_error(exc: BaseException, home: Path | None = None, tenant: str | None = None) -> TenantctlError:
    """A typed error, with a hint, for an OSError or sqlite3 error that reached an entry point. With
    `home`, a failure to open or write a database on a read-only home says so; with `tenant` (the one a
    command was working on), a damaged database names it and the command that checks it."""
    import errno
    import os
    import sqlite3

    text = str(exc).strip() or type(exc).__name__
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    code = getattr(exc, "errno", None)
    lowered = text.lower()
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in lowered or "no space" in lowered:
        return DiskFull(f"no space left on the device{where}", "free some disk space, then retry")
    if home is not None and code in (errno.EEXIST, errno.ENOTDIR, errno.ENOENT) and not home.is_dir():
        what = "is not a folder" if home.exists() else "does not exist and cannot be created"
        return StorageError(f"the tenantctl home {home} {what}",
                            "set TENANTCTL_HOME to a folder you can write (`tenantctl paths` shows it)")
    read_only = False
    if home is not None and ("unable to open database" in lowered or "readonly" in lowered):
        with contextlib.suppress(OSError):
            read_only = bool(os.statvfs(home if home.exists() else home.parent).f_flag & os.ST_RDONLY)
    if code == errno.EROFS or "readonly" in lowered or "read-only" in lowered or read_only:
        return StorageError(f"cannot write: read-only file system or database{where}",
                            "make the tenantctl home writable (check the mount and `tenantctl doctor`)")
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"permission denied{where}", "check the owner and modes of the tenantctl home")
    if code == errno.ENAMETOOLONG:
        return BadInput(f"file name too long{where}", "use a shorter file name")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or \
            "malformed" in lowered or "not a database" in lowered:
        if tenant is not None:  # "check the tenant with `tenantctl verify TENANT`" named no tenant
            return StorageError(f"a database is damaged ({text}) while working on tenant {tenant!r}",
                                f"check it with `tenantctl verify {tenant}`; restore it from an export")
        return StorageError(f"a database is damaged ({text})",
                            "check the tenant with `tenantctl verify TENANT`; restore it from an export")
    if "disk i/o error" in lowered:
        return StorageError(f"disk I/O error{where}", "check the disk and its free space, then retry")
    return StorageError(f"{type(exc).__name__}: {text}{where}", "run `tenantctl doctor`; retry the command")
