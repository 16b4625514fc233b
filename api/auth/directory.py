"""Users and API keys: created, changed, rotated and revoked by appending versions to the store.

Every change appends a new version of a user's or key's row (`version` = previous + 1) and an entry to
the audit log; the highest version is the current state. `Directory.load` reads both tables once into
memory (a few thousand rows at most) and answers lookups from there: requests never wait on the store,
and they keep authenticating on the last directory read while the store is down.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from api.auth import apikeys
from api.auth.scopes import EVERYWHERE
from api.security import ROLES
from risk.store import Store
from risk.store.base import utcnow

SEP = ";"


@dataclass(frozen=True)
class User:
    user_id: str
    version: int
    name: str
    roles: tuple[str, ...]
    view_units: tuple[str, ...]  # ("*",) = everywhere; () = nowhere
    capture_units: tuple[str, ...]
    active: bool = True
    changed_at: dt.datetime | None = None
    changed_by: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "roles": list(self.roles),
            "view_units": list(self.view_units),
            "capture_units": list(self.capture_units),
            "active": self.active,
            "version": self.version,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "changed_by": self.changed_by,
        }


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    version: int
    user_id: str
    secret_hash: str
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    replaced_by: str | None = None
    rate_per_s: float | None = None
    changed_at: dt.datetime | None = None
    changed_by: str = ""

    def status(self, now: dt.datetime | None = None) -> str:
        now = now or utcnow()
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self) -> dict[str, Any]:
        """Everything but the hash."""
        return {
            "key_id": self.key_id,
            "user_id": self.user_id,
            "label": self.label,
            "status": self.status(),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "replaced_by": self.replaced_by,
            "rate_per_s": self.rate_per_s,
            "version": self.version,
        }


def _split(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        return ()
    return tuple(v for v in value.split(SEP) if v)


def _ts(value: Any) -> dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame.sort_values([key, "version"]).drop_duplicates(key, keep="last")


@dataclass(frozen=True)
class Directory:
    """The current users and keys, read at one moment."""

    users: Mapping[str, User]
    keys: Mapping[str, ApiKey]
    loaded_at: float

    @classmethod
    def load(cls, store: Store) -> Directory:
        u = _latest(store.read_table("users"), "user_id")
        k = _latest(store.read_table("api_keys"), "key_id")
        users = {
            r["user_id"]: User(
                user_id=r["user_id"],
                version=int(r["version"]),
                name=r["name"] or "",
                roles=_split(r["roles"]),
                view_units=_split(r["view_units"]),
                capture_units=_split(r["capture_units"]),
                active=bool(r["active"]) if not pd.isna(r["active"]) else False,
                changed_at=_ts(r["changed_at"]),
                changed_by=r["changed_by"] or "",
            )
            for r in u.to_dict("records")
        }
        keys = {
            r["key_id"]: ApiKey(
                key_id=r["key_id"],
                version=int(r["version"]),
                user_id=r["user_id"],
                secret_hash=r["secret_hash"] or "",
                label=r["label"] or "",
                created_at=_ts(r["created_at"]) or utcnow(),
                expires_at=_ts(r["expires_at"]),
                revoked_at=_ts(r["revoked_at"]),
                replaced_by=r["replaced_by"] if isinstance(r["replaced_by"], str) else None,
                rate_per_s=None if pd.isna(r["rate_per_s"]) else float(r["rate_per_s"]),
                changed_at=_ts(r["changed_at"]),
                changed_by=r["changed_by"] or "",
            )
            for r in k.to_dict("records")
        }
        return cls(users, keys, time.time())


# ---------------------------------------------------------------------------------------------------------
# changes (each one appended atomically with its audit entry's intent recorded by the caller)


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    roles = tuple(dict.fromkeys(r.strip() for r in roles if r.strip()))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; known: {', '.join(ROLES)}")
    return roles


def _user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "version": user.version,
        "name": user.name,
        "roles": SEP.join(user.roles),
        "view_units": SEP.join(user.view_units),
        "capture_units": SEP.join(user.capture_units),
        "active": user.active,
        "changed_at": user.changed_at,
        "changed_by": user.changed_by,
    }


def _key_row(key: ApiKey) -> dict[str, Any]:
    return dict(key.__dict__)


def save_user(store: Store, user: User, actor: str) -> User:
    """Append a new version of a user."""
    if not user.user_id or SEP in user.user_id or len(user.user_id) > 200:
        raise ValueError(f"user id {user.user_id!r}: 1–200 characters, no {SEP!r}")
    check_roles(user.roles)
    for units in (user.view_units, user.capture_units):
        if any(SEP in u for u in units):
            raise ValueError(f"unit ids may not contain {SEP!r}")
    current = Directory.load(store).users.get(user.user_id)
    new = replace(
        user,
        version=(current.version + 1) if current else 1,
        changed_at=utcnow(),
        changed_by=actor,
    )
    store.write_tables({"users": pd.DataFrame([_user_row(new)])})
    return new


def issue_key(
    store: Store,
    user_id: str,
    actor: str,
    *,
    label: str = "",
    days: int = 365,
    rate_per_s: float | None = None,
    n: int = 1 << 14,
) -> tuple[ApiKey, str]:
    """A new key for a user; returns the stored key and the token (shown once, never stored)."""
    d = Directory.load(store)
    if user_id not in d.users:
        raise ValueError(f"no user {user_id!r}; create it first (riskmap users create)")
    if days < 1:
        raise ValueError("a key must live at least one day")
    fresh = apikeys.new_key()
    now = utcnow()
    key = ApiKey(
        key_id=fresh.key_id,
        version=1,
        user_id=user_id,
        secret_hash=apikeys.hash_secret(fresh.secret, n),
        label=label,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
        rate_per_s=rate_per_s,
        changed_at=now,
        changed_by=actor,
    )
    store.write_tables({"api_keys": pd.DataFrame([_key_row(key)])})
    return key, fresh.token


def _get_key(store: Store, key_id: str) -> ApiKey:
    key = Directory.load(store).keys.get(key_id)
    if key is None:
        raise ValueError(f"no API key {key_id!r}")
    return key


def revoke_key(store: Store, key_id: str, actor: str, *, at: dt.datetime | None = None) -> ApiKey:
    key = _get_key(store, key_id)
    now = utcnow()
    new = replace(key, version=key.version + 1, revoked_at=at or now, changed_at=now, changed_by=actor)
    store.write_tables({"api_keys": pd.DataFrame([_key_row(new)])})
    return new


def rotate_key(
    store: Store, key_id: str, actor: str, *, grace_s: float = 0.0, days: int | None = None, n: int = 1 << 14
) -> tuple[ApiKey, str]:
    """A new key for the same user, label and rate; the old one is revoked (after `grace_s` seconds,
    so callers can switch over), both in one atomic write."""
    old = _get_key(store, key_id)
    if old.status() != "active":
        raise ValueError(f"API key {key_id} is {old.status()}: issue a new one instead")
    fresh = apikeys.new_key()
    now = utcnow()
    life = dt.timedelta(days=days) if days else (old.expires_at - old.created_at if old.expires_at else None)
    new = ApiKey(
        key_id=fresh.key_id,
        version=1,
        user_id=old.user_id,
        secret_hash=apikeys.hash_secret(fresh.secret, n),
        label=old.label,
        created_at=now,
        expires_at=now + life if life else None,
        rate_per_s=old.rate_per_s,
        changed_at=now,
        changed_by=actor,
    )
    retired = replace(
        old,
        version=old.version + 1,
        revoked_at=now + dt.timedelta(seconds=grace_s),
        replaced_by=new.key_id,
        changed_at=now,
        changed_by=actor,
    )
    store.write_tables({"api_keys": pd.DataFrame([_key_row(retired), _key_row(new)])})
    return new, fresh.token


def units_of(values: Iterable[str], everywhere: bool) -> tuple[str, ...]:
    units = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
    return (EVERYWHERE,) if everywhere or EVERYWHERE in units else units
