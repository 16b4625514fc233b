"""Helpers of the trust tests: a scored mini city, users and keys of every role, a JWT identity provider.

Everything is real: the embedded store, scrypt-hashed keys, RSA-signed tokens checked against a JWKS
file, the app built by `create_app` (with `api.trust.install`). Only the scrypt cost is lowered.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pandas as pd
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from api.app import create_app
from api.auth.authenticator import Authenticator
from api.auth.directory import User, issue_key, revoke_key, save_user
from api.auth.settings import AuthSettings
from api.trust.ratelimit import RateLimiter
from risk.ingest.pipeline import ingest_file
from risk.ingest.place import RegistryPlacer
from risk.link import relink
from risk.reference import load_reference
from risk.score import score
from risk.store.embedded import EmbeddedStore
from tests import minicity

SAI_GON = "hcmc-2025:26740"
TAN_DINH = "hcmc-2025:26737"
CITY = "hcmc-2025:79"
GROUP_TAN_DINH = "26737-KP01-T01"
ISSUER = "https://id.example.test/realms/hcmc"
AUDIENCE = "riskmap"
SCRYPT_N = 1 << 10  # cheap for tests; production uses RISKMAP_AUTH_SCRYPT_N (default 2^14)


@dataclass
class Caller:
    """One identity of the matrix: how it authenticates and what it should see."""

    name: str
    headers: dict[str, str]
    roles: tuple[str, ...]
    view: set[str] | None  # wards/groups whose households it may see (None: all); roles decide if at all
    key_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrustCity:
    root: Path
    store: EmbeddedStore
    city: minicity.MiniCity
    callers: dict[str, Caller]
    bad_keys: dict[str, str]
    private_key: Any
    jwks_file: Path

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "jwt-user", "iat": now, "exp": now + 600, **claims}
        return jwt.encode(body, self.private_key, algorithm="RS256", headers={"kid": "test-key"})

    def auth_settings(self, **changes: Any) -> AuthSettings:
        base = dict(
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            jwt_jwks_file=self.jwks_file,
            directory_refresh_s=0.5,
            scrypt_n=SCRYPT_N,
        )
        return AuthSettings(**{**base, **changes})


def _user(store: EmbeddedStore, uid: str, roles: tuple[str, ...], view: tuple[str, ...], capture=()) -> None:
    save_user(store, User(uid, 0, uid.title(), roles, view, tuple(capture)), "test")


def build_trust_city(root: Path) -> TrustCity:
    city = minicity.build(root / "city")
    store = EmbeddedStore(root / "store")
    load_reference(store, city.dir)
    placer = RegistryPlacer.from_store(store)
    for sid in ("mini-registry", "mini-doses", "mini-cases"):
        ingest_file(store, city.feeds[sid], city.mappings[sid], placer=placer, latest=dt.date(2021, 10, 24))
    relink(store)
    score(store, dt.date(2021, 10, 24))

    identities = {
        "app": (("app",), ()),
        "leader_saigon": (("ward_leader",), (SAI_GON,)),
        "leader_group_tandinh": (("ward_leader",), (GROUP_TAN_DINH,)),
        "command": (("command_centre",), ("*",)),
        "steward": (("data_steward",), ()),
        "monitor": (("monitor",), ()),
        "admin": (("admin",), ("*",)),
    }
    callers = {"public": Caller("public", {}, ("public",), set())}
    for uid, (roles, view) in identities.items():
        _user(store, uid, roles, view, capture=(SAI_GON,) if uid == "steward" else ())
        key, token = issue_key(store, uid, "test", label=uid, n=SCRYPT_N)
        scope = None if "*" in view else _expand_oracle(store, view)
        callers[uid] = Caller(uid, {"Authorization": f"Bearer {token}"}, roles, scope, key.key_id)

    # keys that must be refused
    _user(store, "gone", ("admin",), ("*",))
    revoked, revoked_token = issue_key(store, "gone", "test", n=SCRYPT_N)
    revoke_key(store, revoked.key_id, "test")
    expired, expired_token = issue_key(store, "gone", "test", n=SCRYPT_N)
    frame = store.read_table("api_keys")
    row = frame[frame["key_id"] == expired.key_id].iloc[[-1]].copy()
    row["version"] += 1
    row["expires_at"] = pd.Timestamp("2021-01-01", tz="UTC")
    store.write_tables({"api_keys": row})
    _user(store, "disabled", ("admin",), ("*",))
    _, disabled_token = issue_key(store, "disabled", "test", n=SCRYPT_N)
    save_user(store, User("disabled", 0, "Disabled", ("admin",), ("*",), (), active=False), "test")
    good = callers["admin"].headers["Authorization"].split()[1]
    bad_keys = {
        "revoked": revoked_token,
        "expired": expired_token,
        "disabled user": disabled_token,
        "wrong secret": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "unknown id": "rk_000000000000_" + "x" * 43,
        "malformed": "rk_nothex_short",
    }

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwks_file = root / "jwks.json"
    jwks_file.write_text(
        json.dumps({"keys": [{**public_jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]})
    )
    tc = TrustCity(root, store, city, callers, bad_keys, private_key, jwks_file)
    tok = tc.token(sub="jwt-leader", roles=["ward_leader"], view_units=[SAI_GON])
    callers["jwt_leader"] = Caller(
        "jwt_leader", {"Authorization": f"Bearer {tok}"}, ("ward_leader",), _expand_oracle(store, (SAI_GON,))
    )
    return tc


def _expand_oracle(store: EmbeddedStore, units: tuple[str, ...]) -> set[str]:
    """The test's own idea of a scope: the units, plus every group of a given ward (independent of
    api.auth.scopes)."""
    groups = store.read_table("groups", columns=["group_id", "ward_id"])
    out = set(units)
    out |= set(groups.loc[groups["ward_id"].isin(units), "group_id"])
    return out


def make_app(tc: TrustCity, *, rate: float = 1e6, **auth: Any) -> FastAPI:
    app = create_app(store=tc.store)
    app.state.auth = Authenticator(tc.store, tc.auth_settings(**auth), app.state.audit)
    app.state.limiter = RateLimiter(rate, rate)
    return app
