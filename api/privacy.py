"""Serving-side privacy: small-area suppression and opaque household ids.

* **k-anonymity of small areas.** A neighbourhood group or H3 cell with fewer than `k` households
  (`RISKMAP_PRIVACY_K`, default 10) is shown to callers without `VIEW_HOUSEHOLDS` as *suppressed*: no
  level, no metrics, no reasons, only the fact that it is too small to show. A level over three
  households says something about those households. Wards and the city are never suppressed.
* **Opaque household ids.** Household ids never appear in URLs or answers; a token stands for them.
  The token is a keyed 64-bit permutation of the id (a four-round Feistel network whose round function
  is HMAC-SHA256 under `RISKMAP_PRIVACY_TOKEN_SECRET`): unguessable without the secret, the same in every
  worker, and turned back into the id without any lookup table (millions of households).

Public and app answers carry no personal data at all: they only ever hold area and cell levels.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.security import VIEW_HOUSEHOLDS, Principal

log = logging.getLogger("riskmap.privacy")

SECRET_ENV = "RISKMAP_PRIVACY_TOKEN_SECRET"
SMALL_AREA_TYPES = frozenset({"group", "h3_8", "h3_9", "h3_10"})
SUPPRESSED_COLOUR = "#bdbdbd"


class PrivacySettings(BaseSettings):
    """Environment variables prefixed RISKMAP_PRIVACY_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_PRIVACY_", extra="ignore")

    k: int = Field(
        default=10, ge=1, description="groups and cells with fewer households are suppressed for the public"
    )
    token_secret: SecretStr = Field(
        default=SecretStr(""),
        description="key of the household tokens; set it in production (unset: a random key per start, so "
        "tokens change when the server restarts)",
    )


@lru_cache(maxsize=1)
def privacy_settings() -> PrivacySettings:
    return PrivacySettings()


def ensure_token_secret() -> None:
    """Give this process (and the workers it starts) one token key when none is configured."""
    if not os.environ.get(SECRET_ENV):
        os.environ[SECRET_ENV] = secrets.token_hex(32)
        privacy_settings.cache_clear()
        log.warning("%s is not set: household tokens change at every restart", SECRET_ENV)


def sees_small_areas(principal: Principal) -> bool:
    """Callers who may see household-level data also see the levels of units below k households."""
    return principal.can(VIEW_HOUSEHOLDS)


def is_small(unit_type: str, households: int | None, k: int) -> bool:
    """True for a group or cell that holds fewer than k households (unknown counts are small)."""
    return unit_type in SMALL_AREA_TYPES and (households is None or households < k)


def small_mask(unit_type: str, households: np.ndarray, k: int) -> np.ndarray:
    """Vectorised `is_small` for one unit type (negative counts mean unknown)."""
    if unit_type not in SMALL_AREA_TYPES:
        return np.zeros(len(households), dtype=bool)
    return np.asarray(households) < k


def suppressed_answer(answer: dict[str, Any], k: int) -> dict[str, Any]:
    """An answer with everything that describes the unit's people taken out."""
    return {
        **answer,
        "level": None,
        "known": False,
        "suppressed": True,
        "label": {
            "vi": f"Không hiển thị (dưới {k} hộ gia đình)",
            "en": f"Suppressed (fewer than {k} households)",
        },
        "colour": SUPPRESSED_COLOUR,
        "reasons": {
            "vi": [f"Đơn vị có dưới {k} hộ gia đình: cấp độ không được công bố để bảo vệ dữ liệu cá nhân"],
            "en": [f"Fewer than {k} households live here: the level is not published to protect them"],
        },
        "reason_codes": [{"step": "privacy", "k": k}],
        "metrics": {},
        "pending": None,
    }


class TokenError(ValueError):
    """A household token that is not one this server could have issued."""


class HouseholdTokens:
    """Household id ⇄ opaque token (16 hex digits), keyed by a secret."""

    ROUNDS = 4

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ValueError(f"household tokens need a secret ({SECRET_ENV})")
        key = secret.encode() if isinstance(secret, str) else secret
        self._keys = [
            hmac.digest(key, b"riskmap-household-round-%d" % i, "sha256") for i in range(self.ROUNDS)
        ]

    def _f(self, i: int, half: int) -> int:
        return int.from_bytes(hmac.digest(self._keys[i], half.to_bytes(4, "big"), "sha256")[:4], "big")

    def token(self, household_id: int) -> str:
        hid = int(household_id)
        if not 0 <= hid < 1 << 64:
            raise ValueError(f"household id {hid} is out of range")
        left, right = hid >> 32, hid & 0xFFFFFFFF
        for i in range(self.ROUNDS):
            left, right = right, left ^ self._f(i, right)
        return f"{(left << 32) | right:016x}"

    def household_id(self, token: str) -> int:
        if len(token) != 16:
            raise TokenError("a household token is 16 hexadecimal digits")
        try:
            value = int(token, 16)
        except ValueError:
            raise TokenError("a household token is 16 hexadecimal digits") from None
        left, right = value >> 32, value & 0xFFFFFFFF
        for i in reversed(range(self.ROUNDS)):
            left, right = right ^ self._f(i, left), left
        hid = (left << 32) | right
        if hid >= 1 << 63:  # ids are int64: this token was not issued here
            raise TokenError("not a household token of this server")
        return hid

    def tokens(self, household_ids: np.ndarray) -> np.ndarray:
        return np.array([self.token(int(h)) for h in household_ids], dtype=object)


@lru_cache(maxsize=4)
def _tokens_for(secret: str) -> HouseholdTokens:
    return HouseholdTokens(secret)


def household_tokens() -> HouseholdTokens:
    """Tokens under the configured secret (a random one per process start when none is set)."""
    secret = privacy_settings().token_secret.get_secret_value()
    if not secret:
        ensure_token_secret()
        secret = privacy_settings().token_secret.get_secret_value()
    return _tokens_for(secret)


def digest(*parts: object) -> str:
    """A short stable hash of a caller's scope, for cache keys and ETags (never shown as data)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
