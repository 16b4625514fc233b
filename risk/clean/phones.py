"""Vietnamese phone numbers to their 10-digit (mobile) or 11-digit (landline) national form.

`+84`/`84` replaces the leading 0; pre-2018 11-digit mobile numbers (`016x…`, `012x…`, `018x`, `0199`)
map to their new 10-digit prefixes; punctuation is dropped. Invalid numbers are dropped with a flag (a
wrong phone must not link two people).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.clean.reasons import codes_where, join_codes
from risk.clean.text import by_distinct

# 2018 conversion of 11-digit mobile prefixes (old 4-digit prefix → new 3-digit prefix).
OLD_MOBILE_PREFIXES: dict[str, str] = {
    **{f"016{d}": f"03{d}" for d in "23456789"},
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    "0186": "056",
    "0188": "058",
    "0199": "059",
}
MOBILE = r"0[35789]\d{8}"
LANDLINE = r"02\d{9}"


def clean_phones(raw: pd.Series) -> pd.DataFrame:
    """Returns `phone` ('' when missing or invalid), `corrections` and `bad` (always empty); the work is
    done once per distinct value."""
    return by_distinct(raw, _clean)


def _clean(raw: pd.Series) -> pd.DataFrame:
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    digits = text.str.replace(r"[\s.\-()/]", "", regex=True)
    plus = digits.str.startswith("+").to_numpy(dtype=bool)
    digits = digits.str.lstrip("+")
    empty = (digits == "").to_numpy()
    intl = digits.str.fullmatch(r"84\d{9,10}").to_numpy(dtype=bool)
    national = digits.where(~intl, "0" + digits.str[2:])
    lost_zero = national.str.fullmatch(r"[35789]\d{8}").to_numpy(dtype=bool)
    national = national.where(~lost_zero, "0" + national)

    old = national.str.fullmatch(r"01\d{9}").to_numpy(dtype=bool)
    head = national.str[:4]
    new_head = head.map(OLD_MOBILE_PREFIXES)
    converted = old & new_head.notna().to_numpy()
    national = national.where(~converted, new_head.fillna("") + national.str[4:])

    valid = national.str.fullmatch(f"{MOBILE}|{LANDLINE}").to_numpy(dtype=bool)
    changed = ((national != text).to_numpy() | plus) & valid & ~converted
    return pd.DataFrame(
        {
            "phone": np.where(valid, national.to_numpy(dtype=object), ""),
            "corrections": join_codes(
                codes_where(changed, "phone_reformatted"),
                codes_where(converted & valid, "phone_old_prefix"),
                codes_where(~empty & ~valid, "phone_invalid"),
            ),
            "bad": np.full(len(raw), "", dtype=object),
        },
        index=raw.index,
    )
