"""Turning a credential into a Principal: API keys against the directory, JWTs against the provider.

Successful checks are remembered (by the credential's SHA-256, never the credential) until the key or
user changes, the token expires, or `cache_s` passes, so the slow scrypt check runs once per key per
refresh, not per request. Failures are remembered briefly too, so guessing costs the guesser, not us.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from api.auth import apikeys
from api.auth.directory import Directory
from api.auth.scopes import EVERYWHERE, ScopeResolver
from api.auth.settings import AuthSettings
from api.auth.tokens import JwtVerifier, TokenError
from api.security import Principal
from risk.store import Store, StoreError
from risk.store.base import utcnow

log = logging.getLogger("riskmap.auth")
CACHE_SIZE = 10_000
RESOLVER_REFRESH_S = 300.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """One per app (on `app.state.auth`); thread-safe."""

    def __init__(self, store: Store, settings: AuthSettings, audit: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.audit = audit  # api.audit.AuditWriter or None
        self.jwt = JwtVerifier(settings) if settings.jwt_issuer else None
        self._directory: Directory | None = None
        self._resolver: ScopeResolver | None = None
        self._resolver_at = 0.0
        self._lock = threading.Lock()
        self._refreshing = False
        self._ok: OrderedDict[str, tuple[Principal, float, tuple[Any, ...]]] = OrderedDict()
        self._bad: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._seen: set[str] = set()  # credentials whose first use this process recorded

    # -- directory and scopes, refreshed in the background -------------------------------------------

    def directory(self) -> Directory:
        d = self._directory
        if d is None:
            with self._lock:
                if self._directory is None:
                    self._directory = Directory.load(self.store)  # first use: must wait
                d = self._directory
        elif time.time() - d.loaded_at > self.settings.directory_refresh_s and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, name="riskmap-auth-refresh", daemon=True).start()
        return d

    def _refresh(self) -> None:
        try:
            self._directory = Directory.load(self.store)
            if time.time() - self._resolver_at > RESOLVER_REFRESH_S:
                self._resolver = ScopeResolver.from_store(self.store)
                self._resolver_at = time.time()
        except StoreError as exc:  # store down: keep authenticating on what we read last
            log.warning("users and keys not refreshed (%s); using those read %.0f s ago", exc, self._age())
        except Exception:
            log.exception("users and keys not refreshed")
        finally:
            self._refreshing = False

    def _age(self) -> float:
        return time.time() - self._directory.loaded_at if self._directory else float("nan")

    def reload(self) -> None:
        """Read users and keys now (after a change made in this process)."""
        self._directory = Directory.load(self.store)
        self._ok.clear()

    def resolver(self) -> ScopeResolver:
        if self._resolver is None:
            with self._lock:
                if self._resolver is None:
                    self._resolver = ScopeResolver.from_store(self.store)
                    self._resolver_at = time.time()
        return self._resolver

    # -- checking credentials -------------------------------------------------------------------------

    def cached(self, token: str) -> Principal | None:
        """A principal for a credential checked recently and still valid (fast path, no I/O)."""
        hit = self._ok.get(_digest(token))
        if hit is None:
            return None
        principal, until, stamp = hit
        if time.time() >= until or stamp != self._stamp(principal):
            self._ok.pop(_digest(token), None)
            return None
        return principal

    def _stamp(self, principal: Principal) -> tuple[Any, ...]:
        """What a cached key principal depends on: the key's and the user's current versions."""
        if not principal.via.startswith("key:"):
            return ()
        d = self.directory()
        key = d.keys.get(principal.via[4:])
        user = d.users.get(principal.subject)
        return (key.version if key else None, user.version if user else None)

    def verify(self, token: str, ip: str = "") -> Principal:
        """Check a credential (may take tens of ms: scrypt); PermissionError says why it is refused."""
        digest = _digest(token)
        bad = self._bad.get(digest)
        if bad is not None and time.time() < bad[1]:
            raise PermissionError(bad[0])
        try:
            if apikeys.looks_like_key(token):
                principal, until = self._from_key(token)
            else:
                principal, until = self._from_jwt(token)
        except PermissionError as exc:
            self._remember(self._bad, digest, (str(exc), time.time() + 10))
            self._record("auth.failed", "anonymous", "-", "denied", ip, {"reason": str(exc)})
            raise
        self._remember(self._ok, digest, (principal, until, self._stamp(principal)))
        if digest not in self._seen:
            self._seen.add(digest)
            self._record("auth.login", principal.subject, principal.via, "ok", ip, {"via": principal.via})
        return principal

    @staticmethod
    def _remember(cache: OrderedDict, key: str, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)

    def _record(
        self, action: str, actor: str, target: str, outcome: str, ip: str, detail: dict[str, Any]
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                actor=actor, action=action, target=target, outcome=outcome, ip=ip, detail=detail
            )

    def _expand(self, unit: str) -> frozenset[str]:
        return self.resolver().expand(unit)

    def _units(self, units: tuple[str, ...]) -> frozenset[str] | None:
        return None if EVERYWHERE in units else frozenset(units)

    def _from_key(self, token: str) -> tuple[Principal, float]:
        parsed = apikeys.parse(token)
        if parsed is None:
            raise PermissionError("malformed API key")
        key_id, secret = parsed
        d = self.directory()
        key = d.keys.get(key_id)
        if key is None or not apikeys.check_secret(secret, key.secret_hash):
            raise PermissionError("unknown API key")
        now = utcnow()
        status = key.status(now)
        if status != "active":
            raise PermissionError(f"API key {key_id} is {status}")
        user = d.users.get(key.user_id)
        if user is None or not user.active:
            raise PermissionError(f"the user of API key {key_id} is disabled")
        principal = Principal(
            subject=user.user_id,
            roles=frozenset(user.roles),
            view_units=self._units(user.view_units),
            capture_units=self._units(user.capture_units),
            expand=self._expand,
            via=f"key:{key_id}",
            rate_per_s=key.rate_per_s,
        )
        ends = [t.timestamp() for t in (key.expires_at, key.revoked_at) if t is not None]
        return principal, min([time.time() + self.settings.directory_refresh_s * 12, *ends])

    def _from_jwt(self, token: str) -> tuple[Principal, float]:
        if self.jwt is None:
            raise PermissionError("bearer tokens are not accepted here (no identity provider configured)")
        try:
            claims = self.jwt.verify(token)
        except TokenError as exc:
            raise PermissionError(str(exc)) from None
        subject = self.jwt.claim(claims, self.settings.jwt_subject_claim)
        if not isinstance(subject, str) or not subject:
            raise PermissionError(f"token has no {self.settings.jwt_subject_claim!r} claim")
        principal = Principal(
            subject=subject,
            roles=frozenset(r for r in self.jwt.roles(claims) if r != "public") or frozenset({"public"}),
            view_units=self._units(self.jwt.strings(claims, self.settings.jwt_view_units_claim)),
            capture_units=self._units(self.jwt.strings(claims, self.settings.jwt_capture_units_claim)),
            expand=self._expand,
            via="jwt",
        )
        return principal, min(float(claims["exp"]), time.time() + 3600)
