"""Authentication: API keys (hashed, expiring, revocable, rotatable) and bearer JWTs; rate limits."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.auth import apikeys
from api.auth.directory import Directory, issue_key, rotate_key
from api.security import app_routes
from tests.trust.trustcity import SAI_GON, SCRYPT_N, TrustCity, make_app


def test_keys_are_stored_hashed_never_in_clear(trust_city: TrustCity) -> None:
    token = trust_city.callers["admin"].headers["Authorization"].split()[1]
    key_id, secret = apikeys.parse(token)
    stored = trust_city.store.read_table("api_keys")
    assert secret not in stored.to_csv()
    row = Directory.load(trust_city.store).keys[key_id]
    assert row.secret_hash.startswith("scrypt$") and apikeys.check_secret(secret, row.secret_hash)
    assert not apikeys.check_secret(secret + "x", row.secret_hash)
    assert not apikeys.check_secret(secret, "md5$whatever")


def test_each_caller_is_who_its_credential_says(client: TestClient, trust_city: TrustCity) -> None:
    for name in ("admin", "monitor"):
        r = client.get("/metrics", headers=trust_city.callers[name].headers)
        assert r.status_code == 200, (name, r.text)
    for name in ("app", "leader_saigon", "command", "steward", "jwt_leader"):
        assert client.get("/metrics", headers=trust_city.callers[name].headers).status_code == 403
    assert client.get("/metrics").status_code == 401
    r = client.get(
        "/metrics", headers={"X-API-Key": trust_city.callers["admin"].headers["Authorization"][7:]}
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "why", ["revoked", "expired", "disabled user", "wrong secret", "unknown id", "malformed"]
)
def test_refused_keys_get_401_not_the_public(client: TestClient, trust_city: TrustCity, why: str) -> None:
    r = client.get("/healthz", headers={"Authorization": f"Bearer {trust_city.bad_keys[why]}"})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Traceback" not in r.text and trust_city.bad_keys[why] not in r.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "a" * 9000},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},  # alg none
        {"X-API-Key": "", "Authorization": "Bearer x"},
        {"X-API-Key": "rk_\u00e9"},
    ],
)
def test_malformed_credentials_are_401(client: TestClient, headers: dict[str, str]) -> None:
    enc = {k: v.encode("utf-8") for k, v in headers.items()}
    r = client.get("/healthz", headers=enc)
    assert r.status_code == 401 and "Traceback" not in r.text


def test_jwt_claims_give_roles_and_units(client: TestClient, trust_city: TrustCity) -> None:
    tc = trust_city
    ok = tc.token(sub="cc-1", roles=["admin"], view_units="*")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {ok}"}).status_code == 200
    auth = client.app.state.auth
    p = auth.verify(tc.token(sub="wl", roles=["ward_leader", "nonsense"], view_units=[SAI_GON]))
    assert p.roles == frozenset({"ward_leader", "nonsense"}) and p.view_units == frozenset({SAI_GON})
    assert "hcmc-2025:26740" in p.view_scope() and p.can("view:households") and not p.can("admin")
    no_roles = auth.verify(tc.token(sub="nobody"))
    assert no_roles.roles == frozenset({"public"}) and no_roles.via == "jwt"
    assert client.get("/metrics", headers={"Authorization": f"Bearer {tc.token(sub='n')}"}).status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "someone-else"},
        {"iss": "https://evil.example.test"},
        {"sub": ""},
    ],
)
def test_bad_tokens_are_401(client: TestClient, trust_city: TrustCity, claims: dict) -> None:
    tok = trust_city.token(roles=["admin"], **claims)
    r = client.get("/healthz", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401, r.text


def test_a_token_signed_by_another_key_or_hmac_with_the_public_key_is_refused(
    client: TestClient, trust_city: TrustCity
) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    body = {"iss": "https://id.example.test/realms/hcmc", "aud": "riskmap", "sub": "x", "exp": now + 60}
    forged = jwt.encode({**body, "roles": ["admin"]}, other, algorithm="RS256", headers={"kid": "test-key"})
    assert client.get("/healthz", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    pem = (
        trust_city.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    import base64
    import hashlib
    import hmac
    import json

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(b'{"alg":"HS256","typ":"JWT","kid":"test-key"}')
    payload = b64(json.dumps({**body, "roles": ["admin"]}).encode())
    sig = b64(hmac.new(pem.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest())
    confused = f"{head}.{payload}.{sig}"
    assert client.get("/healthz", headers={"Authorization": f"Bearer {confused}"}).status_code == 401


def test_revocation_and_rotation_take_effect_within_the_refresh(trust_city: TrustCity) -> None:
    store = trust_city.store
    key, token = issue_key(store, "app", "test", n=SCRYPT_N)
    with TestClient(make_app(trust_city), raise_server_exceptions=False) as c:
        h = {"Authorization": f"Bearer {token}"}
        assert c.get("/v1/snapshots/current", headers=h).status_code == 200
        new, new_token = rotate_key(store, key.key_id, "test", grace_s=0, n=SCRYPT_N)
        deadline = time.time() + 5
        while time.time() < deadline and c.get("/healthz", headers=h).status_code == 200:
            time.sleep(0.1)
        assert c.get("/healthz", headers=h).status_code == 401
        assert c.get("/healthz", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200
        stored = Directory.load(store).keys
        assert stored[key.key_id].replaced_by == new.key_id and stored[key.key_id].status() == "revoked"


def test_rate_limits_per_key_and_per_ip(trust_city: TrustCity) -> None:
    with TestClient(make_app(trust_city, rate=5), raise_server_exceptions=False) as c:
        codes = [c.get("/healthz").status_code for _ in range(30)]
        assert codes[:10] == [200] * 10 and 429 in codes  # burst of 2 s at 5/s, then refused
        r = next(c.get("/healthz") for _ in range(3))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # another caller (a key) has its own bucket
        h = trust_city.callers["app"].headers
        assert c.get("/healthz", headers=h).status_code == 200
        time.sleep(1.2)
        assert c.get("/healthz").status_code == 200  # refilled


def test_every_route_declares_a_permission(client: TestClient) -> None:
    """A route that returns data without declaring who may see it cannot be added unnoticed."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    routes = app_routes(client.app.routes)
    assert {"/v1/risk", "/metrics", "/v1/audit", "/healthz"} <= {r.path for r in routes}
    missing = []
    for r in routes:
        if isinstance(r.route, APIRoute):
            if not r.permissions:
                missing.append(f"{sorted(r.methods)} {r.path}")
        elif isinstance(r.route, Mount):
            assert isinstance(r.route.app, StaticFiles), f"mount {r.path} is not static files"
        elif r.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            missing.append(f"{type(r.route).__name__} {r.path}")
    assert not missing, f"routes without a declared permission (use api.security.require): {missing}"


def test_keys_from_the_identity_providers_jwks_url(trust_city: TrustCity) -> None:
    """The JWKS is fetched over HTTP (a loopback server standing in for the provider) and cached."""
    import http.server
    import threading

    from api.auth.authenticator import Authenticator

    jwks = trust_city.jwks_file.read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/realms/hcmc/certs"
        auth = Authenticator(trust_city.store, trust_city.auth_settings(jwt_jwks_file=None, jwt_jwks_url=url))
        for sub in ("a", "b"):
            p = auth.verify(trust_city.token(sub=sub, roles=["command_centre"], view_units=["*"]))
            assert p.subject == sub and p.view_scope() is None and p.can("view:households")
        assert hits == ["/realms/hcmc/certs"]  # fetched once, then cached
    finally:
        server.shutdown()
