"""Where everything lives. One env var, TENANTCTL_HOME, moves it all.

Layout of a home (README, "Storage layout"; a tenant's folder: `tenantctl.storage.layout`):

    <home>/config.yaml            global settings (models, embedder, chunking, search)
    <home>/registry.db            SQLite registry of tenants (id, status, created)
    <home>/logs/tenantctl.jsonl   structured log lines, each carrying its tenant id
    <home>/tenants/<id>/          one self-contained folder per tenant

Derived files (the embedder's ONNX export, the model's prompt-prefix state) live apart from any home,
in the user's cache folder: `cache_dir()`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from tenantctl.errors import InvalidTenantId

HOME_ENV = "TENANTCTL_HOME"
TENANT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        # A relative home is relative to the working directory of the moment.
        return _resolved(env, "" if os.path.isabs(os.path.expanduser(env)) else os.getcwd())
    import platformdirs

    return Path(platformdirs.user_data_dir("tenantctl", appauthor=False))


@functools.lru_cache(maxsize=64)
def _resolved(env: str, cwd: str) -> Path:
    """`$TENANTCTL_HOME` as an absolute path, resolved once per value (a server asks on every request)."""
    return Path(env).expanduser().resolve()


def config_file() -> Path:
    return home() / "config.yaml"


def registry_file() -> Path:
    return home() / "registry.db"


def tenants_dir() -> Path:
    return home() / "tenants"


def log_dir() -> Path:
    return home() / "logs"


CACHE_ENV = "TENANTCTL_CACHE"


def cache_dir() -> Path:
    """Derived files that any process may rebuild (the embedder's ONNX export), no tenant's data: one
    per user, in the platform's cache folder, shared by every home (a new home does not export the model
    again), or `$TENANTCTL_CACHE`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser().resolve() if env else user_cache_dir()


def user_cache_dir() -> Path:
    """The platform's cache folder for tenantctl, this user's: `cache_dir` unless `$TENANTCTL_CACHE` is set."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("tenantctl", appauthor=False))


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed; a folder created here is 0700 whatever the umask."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def validate_tenant_id(tenant_id: str) -> str:
    """Refuse anything but 1-63 of [a-z0-9_-], starting with a letter or digit, before touching disk."""
    if not isinstance(tenant_id, str) or not TENANT_ID_RE.fullmatch(tenant_id):
        raise InvalidTenantId(
            f"invalid tenant id {tenant_id!r}",
            "use 1-63 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit",
        )
    return tenant_id


def tenant_dir(tenant_id: str) -> Path:
    return tenants_dir() / validate_tenant_id(tenant_id)
