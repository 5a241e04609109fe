"""Where a tenant's documents may come from: the operator's allow-list for sources, and the links policy.

A source (`source add`, `reindex`, `ingest`) must not lie inside the tenantctl home — another tenant's
folder, the registry, the home itself — except below the tenant's own folder, and must not contain the
home. When `ingest.source_roots` lists folders, a source must lie under one of them. A symbolic link met
while reading a source folder is followed only when its target stays inside that folder (or, with
`ingest.follow_links`, anywhere a source may lie); never into the home. Skipped links are named in the
ingest report.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tenantctl import paths
from tenantctl.config import Config
from tenantctl.errors import BadInput


class SourceRefused(BadInput):
    """A source outside what the operator allows."""


def source_refusal(path: Path, tenant_dir: Path, cfg: Config) -> str | None:
    """Why `path` may not be a source of the tenant in `tenant_dir`; None when it may."""
    target = path.expanduser().resolve()
    home = paths.home().resolve()
    own = tenant_dir.resolve()
    if target == home or home.is_relative_to(target):
        return f"{target} holds the tenantctl home"
    if target.is_relative_to(home) and not (target.is_relative_to(own) and target != own):
        return f"{target} is inside the tenantctl home (another tenant's folder or tenantctl's own files)"
    roots = [Path(r).expanduser().resolve() for r in cfg.ingest.source_roots]
    if roots and not target.is_relative_to(own) and not any(target.is_relative_to(r) for r in roots):
        return f"{target} is outside the allowed `ingest.source_roots` ({', '.join(map(str, roots))})"
    return None


def check_source(path: Path, tenant_dir: Path, cfg: Config) -> Path:
    """The resolved source path; raises SourceRefused naming the rule and the fix."""
    reason = source_refusal(path, tenant_dir, cfg)
    if reason and "ingest.source_roots" in reason:
        raise SourceRefused(f"source refused: {reason}",
                            "use a folder under one of them, or add its folder to `ingest.source_roots` in config.yaml")
    if reason:
        raise SourceRefused(f"source refused: {reason}",
                            "use a folder outside the tenantctl home (and under `ingest.source_roots` when set)")
    return path.expanduser().resolve()


def link_checker(tenant_dir: Path, cfg: Config) -> Callable[[Path, Path], str | None]:
    """A check for a symbolic link met under a source folder `root`: None to follow it, else why not."""

    def check(link: Path, root: Path) -> str | None:
        target = link.resolve()
        if target.is_relative_to(paths.home().resolve()):
            return f"symbolic link to {target} leads into the tenantctl home"
        if target.is_relative_to(root.resolve()):
            return None
        if not cfg.ingest.follow_links:
            return f"symbolic link to {target} leaves the source folder (links are followed only inside it; " \
                   "set `ingest.follow_links` to allow)"
        reason = source_refusal(target, tenant_dir, cfg)
        return f"symbolic link not followed: {reason}" if reason else None

    return check


def hard_link_checker(tenant_dir: Path) -> Callable[[Path], str | None]:
    """A check for a file met under a source: None to read it, else why not. A hard link has no target
    to look at: a file with other names is refused when one of them is another tenant's file (or any of
    the home's but the tenant's own), which is looked for once, at the first such file."""
    home_files: set[tuple[int, int]] | None = None

    def check(path: Path) -> str | None:
        nonlocal home_files
        try:
            st = path.stat()
        except OSError:
            return None  # reported where it is read
        if st.st_nlink < 2:
            return None
        if home_files is None:
            home_files = _home_files(tenant_dir)
        if (st.st_dev, st.st_ino) in home_files:
            return "hard link to a file in the tenantctl home (another tenant's folder or tenantctl's own files)"
        return None

    return check


def _home_files(tenant_dir: Path) -> set[tuple[int, int]]:
    home, own = paths.home().resolve(), tenant_dir.resolve()
    found = set()
    for folder, dirs, names in os.walk(home):
        if Path(folder).resolve() == own:
            dirs.clear()
            continue
        for name in names:
            try:
                st = os.stat(os.path.join(folder, name), follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                found.add((st.st_dev, st.st_ino))
    return found
