"""Vietnamese phone numbers to their 10-digit (mobile) or 11-digit (landline) national form.

`+84`/`84` replaces the leading 0; pre-2018 11-digit mobile numbers (`016x…`, `012x…`, `018x`, `0199`)
map to their new 10-digit prefixes; punctuation is dropped. Invalid numbers are dropped with a flag (a
wrong phone must not link two people).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


_PUNCT = re.compile(r"[\s.\-()/]")
_MOBILE_RX = re.compile(MOBILE + "|" + LANDLINE)
_NATIONAL_ASCII = r"^(?:0[35789][0-9]{8}|02[0-9]{9})$"  # `clean_one` returns these unchanged, no code


@lru_cache(maxsize=1 << 20)
def clean_one(text: str) -> tuple[str, str]:
    """(national number or '', ';'-joined codes) of one phone text."""
    raw = text.strip()
    digits = _PUNCT.sub("", raw)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not digits:
        return ("", "")
    national = "0" + digits[2:] if re.fullmatch(r"84\d{9,10}", digits) else digits
    if re.fullmatch(r"[35789]\d{8}", national):
        national = "0" + national
    converted = False
    if re.fullmatch(r"01\d{9}", national) and national[:4] in OLD_MOBILE_PREFIXES:
        national = OLD_MOBILE_PREFIXES[national[:4]] + national[4:]
        converted = True
    if not _MOBILE_RX.fullmatch(national):
        return ("", "phone_invalid")
    if converted:
        return (national, "phone_old_prefix")
    if national != raw or plus:
        return (national, "phone_reformatted")
    return (national, "")


def phone_table(uniq: np.ndarray) -> dict[str, np.ndarray]:
    """Per distinct phone text (an object array of str): `phone` and `corrections`, aligned with `uniq`."""
    phone = np.array(uniq, dtype=object)
    corrections = np.full(len(uniq), "", dtype=object)
    if len(uniq):
        # Numbers already in national form (most of them) stay as they are; the rest one by one.
        ok = pc.match_substring_regex(pa.array(uniq, type=pa.string()), _NATIONAL_ASCII)
        rest = np.flatnonzero(~ok.to_numpy(zero_copy_only=False).astype(bool))
        out = [clean_one(u) for u in uniq[rest].tolist()]
        phone[rest] = [o[0] for o in out]
        corrections[rest] = [o[1] for o in out]
    return {"phone": phone, "corrections": corrections}


def clean_phones(raw: pd.Series) -> pd.DataFrame:
    """Returns `phone` ('' when missing or invalid), `corrections` and `bad` (always empty); each
    distinct value is cleaned once (cached across files)."""
    arr = raw.to_numpy(dtype=object, na_value="")
    codes, uniq = pd.factorize(arr, use_na_sentinel=False)
    t = phone_table(np.array([str(u) for u in uniq], dtype=object))
    return pd.DataFrame(
        {
            "phone": t["phone"][codes],
            "corrections": t["corrections"][codes],
            "bad": np.full(len(raw), "", dtype=object),
        },
        index=raw.index,
    )
