"""`serve` accepts bearer JWTs from a gateway: verified with PyJWT against the configured issuer,
audience and keys (a JWKS file or an allowed JWKS URL); the tenant comes from the verified claim alone."""

from __future__ import annotations

import contextlib
import http.server
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from tenantctl.errors import ConfigError
from tests.conftest import http_service

ISSUER, AUDIENCE, CLAIM = "https://idp.example/", "tenantctl", "https://idp.example/tenant"


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*pairs) -> dict:
    keys = []
    for kid, private in pairs:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": keys}


def _token(private, kid="k1", claims=None, headers=None, **overrides) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "sub": "user-1", CLAIM: "acme"}
    payload.update(claims or {})
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid, **(headers or {})}, **overrides)


def _jwt_config(home, **settings) -> None:
    jwt_cfg = {"issuer": ISSUER, "audience": AUDIENCE, "tenant_claim": CLAIM, **settings}
    (home / "config.yaml").write_text(json.dumps({"embedder": {"name": "hashing-64"}, "server": {"jwt": jwt_cfg}}))


@pytest.fixture
def tenants(cli, home, tmp_path):
    """Tenants acme and globex, each with one document that only it holds (hashing embedder)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("embedder: {name: hashing-64}\n")
    for tenant, text in (("acme", "The acme vault code is 1111."), ("globex", "The globex vault code is 2222.")):
        docs = tmp_path / tenant
        docs.mkdir()
        (docs / f"{tenant}.txt").write_text(text)
        assert cli("tenant", "create", tenant).code == 0
        assert cli("ingest", tenant, str(docs)).code == 0


@pytest.fixture
def key():
    return _rsa()


@pytest.fixture
def server(tenants, home, key):
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    (home / "jwks.json").write_text(json.dumps(_jwks(("k1", key))))
    _jwt_config(home, jwks_file=str(home / "jwks.json"))
    with TestClient(create_app(load_config())) as client:
        yield client


def _search(client, token, **body):
    return client.post("/v1/search", json={"query": "vault code", "k": 5, **body},
                       headers={"Authorization": f"Bearer {token}"})


def test_a_verified_token_selects_its_tenant_and_nothing_else(server, key, cli):
    for tenant, own, other in (("acme", "1111", "2222"), ("globex", "2222", "1111")):
        found = _search(server, _token(key, claims={CLAIM: tenant}), tenant="acme" if tenant == "globex" else "globex")
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["tenant"] == tenant
        texts = " ".join(h["text"] for h in body["hits"])
        assert own in texts and other not in texts
    assert server.get("/v1/usage", headers={"Authorization": f"Bearer {_token(key)}"}).json()["tenant"] == "acme"
    api_key = cli("key", "create", "globex", "--json").json()["key"]  # keys keep working beside tokens
    assert _search(server, api_key).json()["tenant"] == "globex"


def test_a_token_with_a_key_of_another_tenant_beside_it_is_refused(server, key, cli):
    """`Authorization: Bearer <acme's token>` with `X-API-Key: <globex's key>` ran as globex: a request the
    gateway let in as acme was served as another tenant. Two credentials of this server are 401."""
    api_key = cli("key", "create", "globex", "--json").json()["key"]
    both = server.post("/v1/search", json={"query": "vault code"},
                       headers={"Authorization": f"Bearer {_token(key)}", "X-API-Key": api_key})
    assert both.status_code == 401 and "two different credentials" in both.json()["error"], both.text


BAD_TOKENS = [
    ("wrong signature", lambda key: _token(_rsa())),
    ("wrong issuer", lambda key: _token(key, claims={"iss": "https://evil.example/"})),
    ("wrong audience", lambda key: _token(key, claims={"aud": "someone-else"})),
    ("expired", lambda key: _token(key, claims={"exp": int(time.time()) - 3600})),
    ("no expiry", lambda key: _token(key, claims={"exp": None})),
    ("unknown tenant", lambda key: _token(key, claims={CLAIM: "initech"})),
    ("invalid tenant id", lambda key: _token(key, claims={CLAIM: "../globex"})),
    ("no tenant claim", lambda key: _token(key, claims={CLAIM: None})),
    ("tenant claim not a string", lambda key: _token(key, claims={CLAIM: ["acme", "globex"]})),
    ("unknown key id", lambda key: _token(key, kid="k9")),
    ("alg none", lambda key: jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60,
                                         CLAIM: "acme"}, None, algorithm="none", headers={"kid": "k1"})),
    ("tampered payload", lambda key: _tamper(_token(key))),
]


def test_bad_tokens_get_401(server, key):
    for case, make in BAD_TOKENS:
        found = _search(server, make(key))
        assert found.status_code == 401, (case, found.text)
        assert found.headers["www-authenticate"] == "Bearer"


def _tamper(token: str) -> str:
    import base64

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims[CLAIM] = "globex"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_hmac_with_the_public_key_is_refused(server, key):
    """Algorithm confusion: an HS256 token 'signed' with the published public key."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, CLAIM: "acme"}
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
    assert _search(server, f"{signing_input}.{signature}").status_code == 401


def test_keys_rotated_in_the_file_are_picked_up(server, key, home):
    new = _rsa()
    (home / "jwks.json").write_text(json.dumps(_jwks(("k1", key), ("k2", new))))
    assert _search(server, _token(new, kid="k2")).status_code == 200
    assert _search(server, _token(key, kid="k1")).status_code == 200


def test_without_jwt_configured_a_token_is_just_an_unknown_key(tenants, home, key):
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    with TestClient(create_app(load_config())) as client:
        assert _search(client, _token(key)).status_code == 401


class _Jwks(http.server.BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_url(key):
    """A JWKS endpoint on localhost serving `key` as k1, and another (an attacker's) serving its own key."""
    with contextlib.ExitStack() as stack:
        urls = []
        for handler_keys in (_jwks(("k1", key)), _jwks(("k1", _attacker))):
            handler = type("Handler", (_Jwks,), {"body": json.dumps(handler_keys).encode(), "hits": 0})
            httpd = stack.enter_context(http_service(handler, threads=False))
            urls.append((f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json", handler))
        yield urls


_attacker = _rsa()


def test_jwks_url_the_operator_allows_and_never_the_tokens_own(tenants, home, key, jwks_url):
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    (allowed, allowed_handler), (evil, evil_handler) = jwks_url
    _jwt_config(home, jwks_url=allowed)
    with TestClient(create_app(load_config())) as client:
        assert _search(client, _token(key)).json()["tenant"] == "acme"
        assert allowed_handler.hits == 1
        forged = _token(_attacker, claims={CLAIM: "globex"}, headers={"jku": evil})
        assert _search(client, forged).status_code == 401
        assert evil_handler.hits == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "exactly one of jwks_file and jwks_url"),
        ({"jwks_file": "a.json", "jwks_url": "https://idp.example/jwks"}, "exactly one"),
        ({"jwks_url": "http://idp.example/jwks"}, "must be https"),
        ({"jwks_file": "a.json", "algorithms": ["HS256"]}, "algorithms"),
        ({"jwks_file": "a.json", "algorithms": ["none"]}, "algorithms"),
    ],
)
def test_jwt_settings_are_checked(home, settings, message):
    from tenantctl.config import load_config

    home.mkdir(parents=True, exist_ok=True)
    _jwt_config(home, **settings)
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_a_missing_jwks_file_stops_the_server_at_startup(tenants, home):
    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    _jwt_config(home, jwks_file=str(home / "missing.json"))
    with pytest.raises(ConfigError, match="cannot read the JWKS file"):
        create_app(load_config())
