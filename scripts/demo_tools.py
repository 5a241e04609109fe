"""Give the sample tenants their tools (sample_tenants/tools/<tenant>/): copy each tool's files into the
tenant's folder, put its entries under `tools:` in the tenant's tenant.yaml, allow the demo service's
host in config.yaml and let each tenant read the ${VAR} secrets its tools name from the environment
(`tools.env_secrets`). What an operator does by hand for a real tenant.

    python scripts/demo_tools.py PORT        (TENANTCTL_HOME names the home)
"""

import re
import shutil
import sys
from pathlib import Path

import yaml

TOOLS = Path(__file__).resolve().parent.parent / "sample_tenants" / "tools"


def install(home: Path, port: int) -> None:
    granted: dict[str, list[str]] = {}
    for source in sorted(p for p in TOOLS.iterdir() if p.is_dir()):
        folder = home / "tenants" / source.name
        if not folder.is_dir():
            continue
        for path in source.iterdir():
            if path.name != "tools.yaml":
                shutil.copyfile(path, folder / path.name)
                (folder / path.name).chmod(0o600)  # a tenant's files are private (`tenantctl doctor`)
        tools = yaml.safe_load((source / "tools.yaml").read_text(encoding="utf-8"))
        for tool in tools:
            if "url" in tool:
                tool["url"] = tool["url"].replace("{port}", str(port))
        settings_file = folder / "tenant.yaml"
        settings = yaml.safe_load(settings_file.read_text(encoding="utf-8")) or {}
        names = {t["name"] for t in tools}
        settings["tools"] = [t for t in settings.get("tools") or [] if t["name"] not in names] + tools
        settings_file.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
        names = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", yaml.safe_dump(tools))))
        if names:
            granted[source.name] = names
    allow(home / "config.yaml", f"127.0.0.1:{port}")
    grant(home / "config.yaml", granted)


def allow(config_file: Path, host: str) -> None:
    """Add `host` to tools.allowed_hosts, keeping config.yaml's comments when it has the default line."""
    text = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    if host in text:
        return
    line = re.compile(r"^(\s+allowed_hosts:\s*)\[\]", re.M)
    if line.search(text):
        config_file.write_text(line.sub(lambda m: f'{m.group(1)}["{host}"]', text, count=1), encoding="utf-8")
        return
    data = yaml.safe_load(text) or {}
    tools = data.setdefault("tools", {})
    tools["allowed_hosts"] = [*tools.get("allowed_hosts", []), host]
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def grant(config_file: Path, granted: dict[str, list[str]]) -> None:
    """Let each tenant read its own tools' secrets from the environment: `tools.env_secrets`."""
    text = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    line = re.compile(r"^(\s+env_secrets:\s*)\{\}", re.M)
    if not granted:
        return
    if line.search(text):
        mapping = "{" + ", ".join(f"{t}: [{', '.join(v)}]" for t, v in granted.items()) + "}"
        config_file.write_text(line.sub(lambda m: m.group(1) + mapping, text, count=1), encoding="utf-8")
        return
    data = yaml.safe_load(text) or {}
    current = data.setdefault("tools", {}).setdefault("env_secrets", {})
    for tenant, names in granted.items():
        current[tenant] = sorted(set(current.get(tenant, [])) | set(names))
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    import os

    install(Path(os.environ["TENANTCTL_HOME"]), int(sys.argv[1]))
