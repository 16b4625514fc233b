"""Serving-side privacy: small-area suppression and opaque household ids.

* **k-anonymity of small areas.** A neighbourhood group or H3 cell with fewer than `k` households
  (`RISKMAP_PRIVACY_K`, default 10) is shown to callers without `VIEW_HOUSEHOLDS` as *suppressed*: no
  level, no metrics, no reasons, only the fact that it is too small to show. A level over three
  households says something about those households. Wards and the city are never suppressed.
* **Opaque household ids.** Household ids never appear in URLs or answers; a token stands for them:
  `risk.privacy.opaque_id`, one AES block of the id under `RISKMAP_PRIVACY_ID_KEY`: unguessable
  without the key, the same in every worker, forgery evident, and turned back into the id without any
  lookup table (millions of households).

Public and app answers carry no personal data at all: they only ever hold area and cell levels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from functools import lru_cache
from typing import Any

import numpy as np

from api.security import VIEW_HOUSEHOLDS, Principal
from risk.privacy import PrivacySettings, opaque_id, privacy_settings, resolve_id

log = logging.getLogger("riskmap.privacy")

KEY_ENV = "RISKMAP_PRIVACY_ID_KEY"
SMALL_AREA_TYPES = frozenset({"group", "h3_8", "h3_9", "h3_10"})
SUPPRESSED_COLOUR = "#bdbdbd"


def ensure_id_key() -> None:
    """Give this process (and the workers it starts) one household-token key when none is configured."""
    if not os.environ.get(KEY_ENV):
        os.environ[KEY_ENV] = secrets.token_hex(32)
        privacy_settings.cache_clear()
        log.warning("%s is not set: household tokens change at every restart", KEY_ENV)


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
    """Household id ⇄ opaque token (`risk.privacy.opaque_id`, kind "h"), under one key."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError(f"household tokens need a key ({KEY_ENV})")
        self.key = key

    def token(self, household_id: int) -> str:
        return str(opaque_id(int(household_id), key=self.key))

    def household_id(self, token: str) -> int:
        hid = resolve_id(token, key=self.key)
        if hid is None:
            raise TokenError("not a household token of this server")
        return hid

    def tokens(self, household_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(household_ids, dtype=np.int64)
        return np.array(opaque_id(ids, key=self.key) if len(ids) else [], dtype=object)


@lru_cache(maxsize=4)
def _tokens_for(key: str) -> HouseholdTokens:
    return HouseholdTokens(key)


def household_tokens() -> HouseholdTokens:
    """Tokens under the configured key (a random one per process start when none is set)."""
    if not privacy_settings().id_key:
        ensure_id_key()
    return _tokens_for(privacy_settings().id_key)


__all__ = ["PrivacySettings", "privacy_settings"]  # the one privacy settings class lives in risk.privacy


def digest(*parts: object) -> str:
    """A short stable hash of a caller's scope, for cache keys and ETags (never shown as data)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
