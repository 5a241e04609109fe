"""Identity from the gateway: bearer JWTs verified with PyJWT against the configured issuer, audience
and signing keys (a JWKS file, or the one JWKS URL the operator configured). The tenant is the value
of the configured claim of a verified token, and nothing else."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl.errors import TenantctlError

if TYPE_CHECKING:
    from tenantctl.config import JwtConfig


class InvalidToken(TenantctlError):
    """A bearer JWT that does not verify; the message says why (never which key would have worked)."""


def looks_like_jwt(secret: str) -> bool:
    return secret.count(".") == 2 and secret.startswith("eyJ")


class JwtVerifier:
    def __init__(self, cfg: JwtConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._file_keys: dict[str | None, Any] = {}
        self._file_mtime: float | None = None
        self._client = None
        if cfg.jwks_url:
            import jwt

            self._client = jwt.PyJWKClient(cfg.jwks_url, cache_keys=True, lifespan=300, timeout=10)
        else:
            self._load_file()  # a missing or malformed file fails at startup, not at the first request

    def _load_file(self) -> None:
        import jwt

        path = Path(self.cfg.jwks_file or "")
        try:
            mtime = os.stat(path).st_mtime
            if mtime == self._file_mtime:
                return
            keys = jwt.PyJWKSet.from_dict(json.loads(path.read_text(encoding="utf-8"))).keys
        except (OSError, ValueError, jwt.PyJWKError, jwt.PyJWKSetError) as exc:
            from tenantctl.errors import ConfigError

            raise ConfigError(f"cannot read the JWKS file {path}: {exc}", "fix server.jwt.jwks_file") from exc
        self._file_keys = {key.key_id: key for key in keys}
        self._file_mtime = mtime

    def _signing_key(self, token: str) -> Any:
        import jwt

        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise InvalidToken(f"cannot fetch the signing keys: {exc}", "check server.jwt.jwks_url") from exc
            except jwt.PyJWKClientError as exc:
                raise InvalidToken(f"no signing key for this token: {exc}") from exc
        kid = jwt.get_unverified_header(token).get("kid")
        with self._lock:
            if kid not in self._file_keys:
                self._load_file()  # keys rotated in the file since the last look
            keys = self._file_keys
        if kid in keys:
            return keys[kid].key
        if kid is None and len(keys) == 1:
            return next(iter(keys.values())).key
        raise InvalidToken("no signing key for this token's key id")

    def tenant_of(self, token: str) -> str:
        """The tenant id in a verified token's tenant claim. Raises InvalidToken."""
        import jwt

        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token, key, algorithms=list(self.cfg.algorithms), audience=self.cfg.audience,
                issuer=self.cfg.issuer, leeway=self.cfg.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        tenant = claims.get(self.cfg.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise InvalidToken(f"the token has no {self.cfg.tenant_claim!r} claim naming a tenant")
        return tenant
