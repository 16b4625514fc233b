"""What the API says about one unit: its level, label (vi/en), colour, reasons, metrics and pending raise.

One shape for every unit type (city, ward, group, H3 cell, household), built from a row of the
snapshot's `levels` (or `household_levels`) and the rule profile that produced it. Level 0 is the
explicit unknown ("not enough data"); a suppressed unit (`api.privacy`) has no level at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from risk.profiles import UNKNOWN, Profile, load_profile
from risk.store import SnapshotInfo

log = logging.getLogger("riskmap.answers")

UNKNOWN_COLOUR = "#9e9e9e"
UNIT_LABELS = {
    "city": ("Thành phố", "city"),
    "ward": ("Phường/xã", "ward"),
    "group": ("Tổ dân phố/khu phố", "neighbourhood group"),
    "h3_8": ("Ô lưới H3 cấp 8", "H3 cell, resolution 8"),
    "h3_9": ("Ô lưới H3 cấp 9", "H3 cell, resolution 9"),
    "h3_10": ("Ô lưới H3 cấp 10", "H3 cell, resolution 10"),
    "household": ("Hộ gia đình", "household"),
}


@lru_cache(maxsize=32)
def profile_or_none(profile_id: str | None) -> Profile | None:
    """A rule profile by id, or None when this installation does not ship it (labels fall back)."""
    if not profile_id:
        return None
    try:
        return load_profile(profile_id)
    except (KeyError, ValueError) as exc:
        log.warning("profile %r unavailable (%s): generic labels", profile_id, exc)
        return None


def level_label(profile: Profile | None, level: int, lang: str) -> str:
    if profile is not None and (level == UNKNOWN or level in profile.labels):
        return profile.label(level, lang)
    if level == UNKNOWN:
        return "Chưa đủ dữ liệu" if lang == "vi" else "Unknown (not enough data)"
    return f"Cấp {level}" if lang == "vi" else f"Level {level}"


def level_colour(profile: Profile | None, level: int) -> str:
    if profile is None or level == UNKNOWN:
        return UNKNOWN_COLOUR
    return profile.colour(level)


def _json(text: Any, default: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _int(v: Any) -> int | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return int(v)


def _time(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).isoformat()
    return str(v)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def answer(
    row: dict[str, Any],
    info: SnapshotInfo,
    fallback: Profile | None,
    *,
    unit_id: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The answer for one row of `levels` / `household_levels` (unit_id overrides the row's, e.g. a token)."""
    profile = profile_or_none(row.get("profile")) or fallback
    level = _int(row.get("level"))
    level = UNKNOWN if level is None else level
    reasons = _json(row.get("reasons"), [])
    pending_level = _int(row.get("pending_level"))
    pending = None
    if pending_level is not None:
        pending = {
            "level": pending_level,
            "label": {
                "vi": level_label(profile, pending_level, "vi"),
                "en": level_label(profile, pending_level, "en"),
            },
            "colour": level_colour(profile, pending_level),
            "effective_at": _time(row.get("pending_effective_at")),
        }
    unit_type = str(row.get("unit_type") or "household")
    out = {
        "level": level,
        "known": level != UNKNOWN,
        "suppressed": False,
        "label": {"vi": level_label(profile, level, "vi"), "en": level_label(profile, level, "en")},
        "colour": level_colour(profile, level),
        "unit": {
            "type": unit_type,
            "id": unit_id or row.get("unit_id"),
            "code": code,
            "name": _plain(row.get("name")) if isinstance(row.get("name"), str) else None,
            "parent_id": row.get("parent_id") if isinstance(row.get("parent_id"), str) else None,
        },
        "profile": {
            "id": row.get("profile") or info.profile,
            "version": row.get("profile_version") or info.profile_version,
            "title": profile.title if profile else None,
        },
        "as_of": info.as_of.isoformat(),
        "snapshot_id": info.snapshot_id,
        "reasons": {
            "vi": profile.explain(reasons, "vi") if profile else [],
            "en": profile.explain(reasons, "en") if profile else [],
        },
        "reason_codes": reasons,
        "metrics": _json(row.get("metrics"), {}),
        "pending": pending,
    }
    if isinstance(row.get("flags"), str):
        out["flags"] = [f for f in row["flags"].split(";") if f]
    return out


def splice(body: bytes, key: bytes, value: bytes) -> bytes:
    """Add `"key": value` to a serialised JSON object without parsing it again (hot path)."""
    return body[:-1] + b',"' + key + b'":' + value + b"}"
