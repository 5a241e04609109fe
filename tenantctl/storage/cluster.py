"""Which control plane this home uses: its own files (local mode), or PostgreSQL when config.yaml has a
`postgres:` section (cluster mode). The registry, API keys and writer locks each pick their backend
here, once per call, so local mode never imports a database driver."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tenantctl import paths

if TYPE_CHECKING:
    from tenantctl.config import PostgresConfig

_cache: dict[tuple[str, int, int], PostgresConfig | None] = {}
_lock = threading.Lock()


def postgres() -> PostgresConfig | None:
    """The `postgres:` settings of this home's config.yaml, or None; re-read when the file changes."""
    from tenantctl.config import load_config

    path = paths.config_file()
    try:
        st = path.stat()
        stamp = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (str(path), 0, -1)
    with _lock:
        if stamp in _cache:
            return _cache[stamp]
    found = load_config(path).postgres
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[stamp] = found
    return found
