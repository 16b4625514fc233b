"""Identity numbers: CCCD (12 digits), the old CMND (9), passports; checked against the record.

A CCCD is `PPP S YY NNNNNN`: PPP the province of birth registration (0 + GSO code), S the century and
sex (1900s: 0 male / 1 female; 2000s: 2 / 3; 2100s: 4 / 5), YY the last two digits of the birth year.
There is no check digit, so consistency with the record's birth year and sex is the only check; an
inconsistent CCCD is kept but flagged, and linkage does not trust it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.provinces import CCCD_PROVINCE_PREFIXES
from risk.clean.reasons import codes_where, join_codes, reopen_codes
from risk.clean.text import factorize_text

_PROVINCES = np.array(sorted(CCCD_PROVINCE_PREFIXES), dtype=object)


def expected_century_sex_digit(year: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """The CCCD's fourth digit for a birth year and sex ('M'/'F'); -1 where unknown."""
    year = np.asarray(year, dtype=float)
    century = np.floor((year - 1900) / 100)
    base = century * 2
    female = np.asarray(sex, dtype=object) == "F"
    male = np.asarray(sex, dtype=object) == "M"
    out = np.where(female, base + 1, np.where(male, base, -1))
    return np.where(np.isnan(year) | (century < 0) | (century > 2), -1, out).astype(int)


_PUNCT = re.compile(r"[\s.\-_/]")
_PASSPORT = re.compile(r"[A-Z]{1,2}\d{6,8}|[A-Z0-9]{6,9}")
_PROVINCE_SET = frozenset(CCCD_PROVINCE_PREFIXES)


@lru_cache(maxsize=1 << 20)
def _one(raw: str) -> tuple[str, str, bool, bool, bool, bool, bool, float, float]:
    """(number, kind, empty, invalid, punctuated, lost_zero, province_ok, digit4, yy) of one ID text."""
    text = raw.strip().upper()
    compact = _PUNCT.sub("", text)
    if not compact:
        return ("", "", True, False, False, False, False, np.nan, np.nan)
    digits = compact.isdigit() and compact.isascii()
    n = len(compact)
    lost_cccd = digits and n == 11 and ("0" + compact[:2]) in _PROVINCE_SET
    lost_cmnd = digits and n == 8
    number = "0" + compact if (lost_cccd or lost_cmnd) else compact
    cccd = digits and (n == 12 or lost_cccd)
    cmnd = digits and (n == 9 or lost_cmnd)
    passport = not digits and bool(_PASSPORT.fullmatch(compact))
    invalid = not (cccd or cmnd or passport)
    kind = "cccd" if cccd else "cmnd" if cmnd else "passport" if passport else ""
    prov = number[:3] in _PROVINCE_SET
    d4 = float(number[3]) if cccd else np.nan
    yy = float(number[4:6]) if cccd else np.nan
    return (
        "" if invalid else number,
        kind,
        False,
        invalid,
        compact != text and not invalid,
        lost_cccd or lost_cmnd,
        prov,
        d4,
        yy,
    )


_PROVINCE_CODES = np.zeros(1000, dtype=bool)
_PROVINCE_CODES[[int(p) for p in _PROVINCE_SET if len(p) == 3 and p.isascii() and p.isdigit()]] = True


def _plain_digits(uniq: np.ndarray) -> np.ndarray:
    """True for values of exactly 12 or 9 ASCII digits (nothing to strip, nothing to restore)."""
    if not len(uniq):
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(pa.array(uniq, type=pa.string()), r"^(?:[0-9]{12}|[0-9]{9})$")
    return hit.to_numpy(zero_copy_only=False).astype(bool)


_FORM = ("number", "kind", "empty", "invalid", "punctuated", "lost_zero", "prov_ok", "digit4", "yy")


def id_table(uniq: np.ndarray) -> dict[str, np.ndarray]:
    """Per distinct ID text (an object array of str): the number, its kind, the digits consistency needs,
    form flags, and the form's `corrections` codes (';'-joined), aligned with `uniq`."""
    # Plain 12- or 9-digit numbers (almost all of them) are read in bulk; the rest one by one.
    fast = _plain_digits(uniq)
    rest = np.flatnonzero(~fast)
    rows = [_one(v) for v in uniq[rest].tolist()]
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    t: dict[str, np.ndarray] = {}
    for k, v in zip(_FORM, cols, strict=True):
        dtype = object if k in ("number", "kind") else (float if k in ("digit4", "yy") else bool)
        t[k] = np.zeros(len(uniq), dtype=dtype)
        t[k][rest] = np.array(v, dtype=dtype)
    if fast.any():
        at = np.flatnonzero(fast)
        plain = uniq[at]
        digits = np.array(plain.tolist(), dtype="S12").view(np.uint8).reshape(-1, 12).astype(np.int64) - 48
        cccd = digits[:, 9] >= 0  # a 9-digit number is padded with NUL bytes
        t["number"][at] = plain
        t["kind"][at] = np.where(cccd, "cccd", "cmnd")
        t["prov_ok"][at] = _PROVINCE_CODES[digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]]
        t["digit4"][at] = np.where(cccd, digits[:, 3], np.nan)
        t["yy"][at] = np.where(cccd, digits[:, 4] * 10 + digits[:, 5], np.nan)
    t["corrections"] = join_codes(
        codes_where(t["punctuated"], "id_reformatted"),
        codes_where(t["lost_zero"], "id_leading_zero"),
        codes_where(t["kind"] == "cmnd", "id_cmnd"),
        codes_where(t["kind"] == "passport", "id_passport"),
        codes_where(t["empty"], "id_missing"),
        codes_where(t["invalid"], "id_invalid"),
    )
    return t


def id_consistent(
    t: dict[str, np.ndarray], codes: np.ndarray, birth_year: np.ndarray, sex: np.ndarray
) -> np.ndarray:
    """Per row: a CCCD whose province, century/sex and year digits agree with the record's birth year
    (float, NaN unknown) and sex ('M'/'F'/other)."""
    year = np.asarray(birth_year, dtype=float)
    cccd = (t["kind"] == "cccd")[codes]
    digit4 = t["digit4"][codes]
    want = expected_century_sex_digit(year, sex)
    # Sex unknown: the digit must still say the right century.
    century_ok = np.where(np.isnan(year), True, np.floor(digit4 / 2) == np.floor((year - 1900) / 100))
    sex_ok = (want < 0) | (digit4 == want)
    year_ok = np.isnan(year) | (t["yy"][codes] == (year % 100))
    return cccd & t["prov_ok"][codes] & century_ok & sex_ok & year_ok


def clean_ids(raw: pd.Series, birth_year: pd.Series, sex: pd.Series) -> pd.DataFrame:
    """Normalise and classify a column of identity numbers.

    Returns `id_number`, `id_kind` (`cccd` / `cmnd` / `passport` / ''), `id_consistent` (bool: a CCCD
    whose digits agree with birth year and sex, the only kind deterministic linkage trusts),
    `corrections` and `bad` (always empty: a bad ID does not make a row unusable, it only loses the ID).
    The text work is done once per distinct value; the checks against the record are vectorised.
    """
    codes, uniq = factorize_text(raw)
    t = id_table(uniq)
    year = pd.to_numeric(birth_year, errors="coerce").to_numpy(dtype=float)
    consistent = id_consistent(t, codes, year, sex.astype(object).to_numpy())
    cccd = (t["kind"] == "cccd")[codes]
    return pd.DataFrame(
        {
            "id_number": t["number"][codes],
            "id_kind": t["kind"][codes],
            "id_consistent": consistent,
            "corrections": join_codes(
                reopen_codes(t["corrections"])[codes],
                codes_where(cccd & ~consistent, "id_inconsistent"),
            ),
            "bad": np.full(len(raw), "", dtype=object),
        },
        index=raw.index,
    )
