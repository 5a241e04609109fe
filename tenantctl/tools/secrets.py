"""${VAR} secrets in a tool's settings: from <secrets_dir>/<tenant>/VAR (config.yaml `tools.secrets_dir`),
else from the environment when config.yaml's `tools.env_secrets` lists VAR for the tenant (any other
variable, another tenant's token or the database password, stays out of reach). Never from the tenant's
folder (it is exported and may be edited by whoever manages the tenant), never written to logs, usage,
exports or answers: every value resolved for a call is remembered so the call's result and errors can be
scrubbed of it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tenantctl import paths
from tenantctl.config import ToolsConfig
from tenantctl.errors import ConfigError, ToolFailed

SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
REDACTED = "[redacted]"


def secrets_folder(cfg: ToolsConfig, tenant_id: str) -> Path | None:
    if not cfg.secrets_dir:
        return None
    root = Path(cfg.secrets_dir).expanduser().resolve()
    tenants = paths.tenants_dir().resolve()
    if root == tenants or root.is_relative_to(tenants) or tenants.is_relative_to(root):
        raise ConfigError(
            f"tools.secrets_dir {root} overlaps the tenants folder {tenants}",
            f"keep secrets outside the tenants' folders: set tools.secrets_dir in {paths.config_file()}",
        )
    return root / tenant_id


class Secrets:
    """Resolves ${VAR} for one tenant's tool and remembers the values it handed out."""

    def __init__(self, cfg: ToolsConfig, tenant_id: str, tool: str) -> None:
        self.folder = secrets_folder(cfg, tenant_id)
        self.environment = set(cfg.env_secrets.get(tenant_id, ()))
        self.tenant = tenant_id
        self.tool = tool
        self.values: set[str] = set()

    def lookup(self, var: str) -> str:
        value = None
        if self.folder is not None and (self.folder / var).is_file():
            value = (self.folder / var).read_text(encoding="utf-8").strip()
        if value is None and var in self.environment:
            value = os.environ.get(var)
        if not value:
            where = f"put it in {self.folder / var}, or " if self.folder is not None else ""
            raise ToolFailed(self.tool, f"secret ${{{var}}} is not set",
                             f"{where}export {var}=... to tenantctl and let the tenant read it: "
                             f"`tools: {{env_secrets: {{{self.tenant}: [{var}]}}}}` in config.yaml")
        if len(value) >= 4:  # scrubbing a 1-3 character "secret" would mangle every result
            self.values.add(value)
        return value

    def missing(self, value: Any) -> list[str]:
        """The names of the ${VAR} secrets in `value` that are not set (never their values)."""
        text = repr(value) if not isinstance(value, str) else value
        absent = []
        for var in dict.fromkeys(SECRET.findall(text)):
            try:
                self.lookup(var)
            except ToolFailed:
                absent.append(var)
        self.values.clear()
        return absent

    def fill(self, text: str) -> str:
        return SECRET.sub(lambda m: self.lookup(m.group(1)), text)

    def fill_any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, dict):
            return {k: self.fill_any(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill_any(v) for v in value]
        return value

    def scrub(self, text: str | None) -> str | None:
        if not text:
            return text
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text
