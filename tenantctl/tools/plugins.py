"""Tool kinds: the built-in `http` and `sql`, and third-party kinds from installed packages.

A package adds a kind by declaring an entry point in the `tenantctl.tools` group, named after the kind,
pointing at a function that takes a `tenantctl.tools.base.ToolCall` and returns text, a dict or a list of
dicts (rendered as the passage). For example, in the plugin's pyproject.toml:

    [project.entry-points."tenantctl.tools"]
    weather = "tenantctl_weather:lookup"

Entry points are read with importlib.metadata; a plugin is imported only when a tenant's tool uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tenantctl.errors import ToolFailed

GROUP = "tenantctl.tools"
BUILTIN = {"http": "GET a JSON or text endpoint on an allowed host",
           "sql": "a read-only query over a SQLite database or CSV file in the tenant's folder"}


@dataclass
class Kind:
    name: str
    source: str  # "built-in" or the distribution that provides it, with its version
    target: str  # module:function, or a description of a built-in


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in BUILTIN and ep.name not in found:  # a plugin never replaces a built-in kind
            found[ep.name] = ep
    return found


def refresh() -> None:
    """Forget the entry points read so far (after installing a plugin in a running process)."""
    _entry_points.cache_clear()


def kinds() -> list[Kind]:
    listed = [Kind(name, "built-in", text) for name, text in BUILTIN.items()]
    for name, ep in sorted(_entry_points().items()):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "(unknown package)"
        listed.append(Kind(name, dist, ep.value))
    return listed


def available(kind: str) -> bool:
    return kind in BUILTIN or kind in _entry_points()


def load(tool: str, kind: str) -> Callable[..., Any]:
    ep = _entry_points().get(kind)
    if ep is None:
        raise ToolFailed(tool, f"no installed plugin provides kind {kind!r}",
                         f"install the package that provides it (entry-point group {GROUP}); "
                         "`tenantctl tool kinds` lists the installed kinds")
    try:
        return ep.load()
    except Exception as exc:  # a broken plugin fails its tool, never the answer
        raise ToolFailed(tool, f"the plugin for kind {kind!r} failed to load ({type(exc).__name__}: {exc})",
                         f"reinstall or fix the package providing {ep.value}") from None
