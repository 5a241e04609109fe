"""The built-in `http` kind: GET a JSON or text endpoint on a host the operator allowed.

The URL's {group} placeholders are filled with the `when` pattern's named groups, percent-encoded (so a
question can never change the host or the path's shape, nor smuggle a ${VAR} in). Redirects are followed
by hand, at most a few, and each target must be an allowed host too. The body is read in pieces and the
call gives up past `tools.max_response_bytes` or the tool's `timeout_s`, whichever comes first.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from tenantctl.config import ToolConfig, ToolsConfig
from tenantctl.errors import ToolFailed
from tenantctl.tools.secrets import Secrets

MAX_REDIRECTS = 3
_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def host_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_url(tool: ToolConfig, params: dict[str, str], secrets: Secrets) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in params:
            raise ToolFailed(tool.name, f"url needs {{{name}}}, which the `when` pattern did not capture",
                             f"add a named group (?P<{name}>...) to the tool's `when` pattern")
        return quote(params[name], safe="")

    return secrets.fill(_PLACEHOLDER.sub(fill, tool.url or ""))


def check_host(tool: ToolConfig, url: str, allowed: list[str], redirect: bool = False) -> None:
    target = host_port(url)
    if not target or target not in allowed:
        what = "redirects to" if redirect else "calls"
        shown = target or "a URL that is not http(s)"
        raise ToolFailed(tool.name, f"{what} {shown}, which is not in tools.allowed_hosts",
                         f"an operator may allow it in config.yaml: tools: {{allowed_hosts: [\"{target}\"]}}"
                         if target else "use an http:// or https:// URL")


def _read(tool: ToolConfig, response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ToolFailed(tool.name, f"the response is {int(declared)} bytes, over the limit of {max_bytes}",
                         "raise tools.max_response_bytes in config.yaml, or return less")
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > max_bytes:
            raise ToolFailed(tool.name, f"the response exceeds the limit of {max_bytes} bytes",
                             "raise tools.max_response_bytes in config.yaml, or return less")
        if time.monotonic() > deadline:
            raise ToolFailed(tool.name, f"timed out after {tool.timeout_s:g} s", "raise timeout_s of the tool")
    return bytes(body)


def _decode(response, body: bytes) -> Any:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = body.decode(response.charset_encoding or "utf-8", errors="replace")
    if kind.endswith("json") or kind.endswith("+json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def call(tool: ToolConfig, params: dict[str, str], secrets: Secrets, cfg: ToolsConfig, tenant_id: str) -> Any:
    """GET the tool's URL; returns parsed JSON or text. Raises ToolFailed with a message naming the tool
    and never the URL (it may hold a secret)."""
    import httpx

    url = build_url(tool, params, secrets)
    headers = {k: secrets.fill(v) for k, v in tool.headers.items()}
    allowed = cfg.hosts_for(tenant_id)
    check_host(tool, url, allowed)
    deadline = time.monotonic() + tool.timeout_s
    # trust_env=False: no proxy from the environment may carry a call around allowed_hosts.
    with httpx.Client(timeout=tool.timeout_s, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target = host_port(url)
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        check_host(tool, url, allowed, redirect=True)
                        if host_port(url) != target:
                            headers = {}  # credentials never travel to another host, even an allowed one
                        continue
                    if response.status_code >= 400:
                        raise ToolFailed(tool.name, f"{target} answered HTTP {response.status_code}",
                                         "check the service, or the tool's url in tenant.yaml")
                    return _decode(response, _read(tool, response, cfg.max_response_bytes, deadline))
            except httpx.TimeoutException:
                raise ToolFailed(tool.name, f"timed out after {tool.timeout_s:g} s calling {target}",
                                 "check the service, or raise timeout_s of the tool") from None
            except httpx.HTTPError as exc:
                raise ToolFailed(tool.name, f"could not call {target} ({type(exc).__name__})",
                                 "check that the service runs and the host is reachable") from None
    raise ToolFailed(tool.name, f"more than {MAX_REDIRECTS} redirects", "point the tool's url at the final address")
