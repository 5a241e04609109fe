"""Typed errors raised by the core; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations

from enum import IntEnum


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
            f"`tenantctl tenant create {tenant_id}`",
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


class ModelUnavailable(TenantctlError):
    pass


class Refused(TenantctlError):
    """An operation refused by policy: a quota, a suspended tenant."""

    exit_code = ExitCode.REFUSED


class Suspended(Refused):
    """The tenant is suspended."""


class SessionNotFound(TenantctlError):
    exit_code = ExitCode.NOT_FOUND


class ToolFailed(TenantctlError):
    """A tenant's tool could not give a result (disallowed host, time-out, size limit, missing secret,
    an error from the service). The answer path degrades to documents alone; `tool test` exits 1."""

    def __init__(self, tool: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"tool {tool!r}: {message}", hint)
        self.tool = tool
