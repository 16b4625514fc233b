"""Dates as Vietnamese feeds write them: day-first, partial birth dates, Excel serials, placeholders.

Birth dates are kept as a date plus a precision (`day`, `month`, `year`): forms often collect only the
year, and `01/01/yyyy` usually stands for "year only". Event dates (dose, sample, report) need a day.
`dd/mm/yyyy` is the expected form; anything else read with certainty is counted as reformatted.

Feeds hold few distinct dates (a file of 50,000 doses has a few hundred), so each distinct text is
parsed once by a small function whose results are cached across files; a column costs a factorise and
a take.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["birth", "event"]
EXCEL_EPOCH = dt.date(1899, 12, 30)
_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_MY = re.compile(r"^(\d{1,2})[/.\-](\d{4})$")
_YEAR = re.compile(r"^(\d{4})(?:\.0+)?$")
_SERIAL = re.compile(r"^(\d{5})(?:\.0+)?$")


@lru_cache(maxsize=1 << 18)
def parse_one(
    text: str, kind: Kind, latest: dt.date, earliest: dt.date | None
) -> tuple[dt.date | None, str, int | None, str, str]:
    """(date, precision, year, corrections, bad) of one date text; codes are ';'-joined."""
    s = text.strip()
    if not s:
        return (None, "", None, "", "")
    prefix = "dob" if kind == "birth" else "date"
    y = m = d = None
    reformatted = False
    if mt := _DMY.match(s):
        d, m, y = int(mt.group(1)), int(mt.group(2)), int(mt.group(3))
        if len(mt.group(3)) == 2:
            pivot = (dt.date.today().year % 100) if kind == "birth" else 99
            y = 1900 + y if y > pivot else 2000 + y
            reformatted = True
        elif not (len(mt.group(1)) == 2 and len(mt.group(2)) == 2 and s[2] == "/" and s[5] == "/"):
            reformatted = s.count("/") != 2  # d/m/yyyy is a habit, not a reformat; 05-07-1980 is
    elif mt := _ISO.match(s):
        y, m, d = int(mt.group(1)), int(mt.group(2)), int(mt.group(3))
        reformatted = True
    elif mt := _SERIAL.match(s):
        serial = int(mt.group(1))
        if 10_000 <= serial <= 80_000:
            when = EXCEL_EPOCH + dt.timedelta(days=serial)
            y, m, d = when.year, when.month, when.day
            reformatted = True
    partial = ""
    if y is None:
        if mt := _MY.match(s):
            m, y = int(mt.group(1)), int(mt.group(2))
            partial = "month"
        elif mt := _YEAR.match(s):
            y = int(mt.group(1))
            partial = "year"
    if y is None:
        return (None, "", None, "", "dob_unreadable" if kind == "birth" else "date_impossible")
    if partial and kind == "event":  # events need a day
        return (None, "", None, "", "date_impossible")
    try:
        if partial:
            if not 1 <= (m or 1) <= 12 or not 1000 <= y <= 2999:
                raise ValueError
            date = dt.date(y, m or 1, 1)
        else:
            date = dt.date(y, m, d)  # type: ignore[arg-type]
    except ValueError:
        return (None, "", None, "", f"{prefix}_impossible")
    lo = earliest if (kind == "event" and earliest) else dt.date(1900, 1, 1)
    if date < lo:
        return (None, "", None, "", "dob_impossible" if kind == "birth" else "date_too_early")
    if date > latest:
        return (None, "", None, "", f"{prefix}_future")
    codes = []
    precision = partial or "day"
    if reformatted:
        codes.append(f"{prefix}_reformatted")
    if kind == "birth":
        if partial == "year":
            codes.append("dob_year_only")
        elif partial == "month":
            codes.append("dob_month_year")
        elif d == 1 and m == 1:
            codes.append("dob_placeholder")
            precision = "year"
    return (date, precision, y, ";".join(codes), "")


def date_table(
    uniq: np.ndarray, kind: Kind, latest: dt.date, earliest: dt.date | None = None
) -> dict[str, np.ndarray]:
    """Per distinct date text (an object array of str): `date` (datetime64[D], NaT when unusable),
    `precision`, `year` (int64, -1 when unknown), `corrections` and `bad`, aligned with `uniq`."""
    fast = _plain_dmy(uniq)
    if fast.any():
        rest = np.flatnonzero(~fast)
        t = {k: v.copy() for k, v in _dmy_table(uniq[fast], kind, latest, earliest).items()}
        out = {k: np.empty(len(uniq), dtype=v.dtype) for k, v in t.items()}
        for k, v in date_table(uniq[rest], kind, latest, earliest).items():
            out[k][rest] = v
            out[k][fast] = t[k]
        return out
    parsed = [parse_one(u, kind, latest, earliest) for u in uniq.tolist()]
    if not parsed:
        empty = np.array([], dtype=object)
        return {
            "date": np.zeros(0, "datetime64[D]"),
            "precision": empty,
            "year": np.zeros(0, np.int64),
            "corrections": empty,
            "bad": empty,
        }
    return {
        "date": np.array([p[0] or np.datetime64("NaT") for p in parsed], dtype="datetime64[D]"),
        "precision": np.array([p[1] for p in parsed], dtype=object),
        "year": np.array([p[2] if p[2] is not None else -1 for p in parsed], dtype=np.int64),
        "corrections": np.array([p[3] for p in parsed], dtype=object),
        "bad": np.array([p[4] for p in parsed], dtype=object),
    }


def _plain_dmy(uniq: np.ndarray) -> np.ndarray:
    """True for values written exactly dd/mm/yyyy in ASCII digits (the expected form)."""
    if not len(uniq):
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(pa.array(uniq, type=pa.string()), r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$")
    return hit.to_numpy(zero_copy_only=False).astype(bool)


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _dmy_table(
    plain: np.ndarray, kind: Kind, latest: dt.date, earliest: dt.date | None
) -> dict[str, np.ndarray]:
    """`parse_one` of dd/mm/yyyy values, in bulk: the same answers, none cached."""
    b = np.array(plain.tolist(), dtype="S10").view(np.uint8).reshape(-1, 10).astype(np.int64) - 48
    d, m = b[:, 0] * 10 + b[:, 1], b[:, 3] * 10 + b[:, 4]
    y = b[:, 6] * 1000 + b[:, 7] * 100 + b[:, 8] * 10 + b[:, 9]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    exists = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1)
    exists &= d <= _DAYS[np.clip(m, 0, 12)] + (leap & (m == 2))
    yy, mm, dd = np.where(exists, y, 1970), np.where(exists, m, 1), np.where(exists, d, 1)
    date = (yy - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (mm - 1).astype("timedelta64[M]")
    date = date.astype("datetime64[D]") + (dd - 1).astype("timedelta64[D]")
    prefix = "dob" if kind == "birth" else "date"
    lo = np.datetime64(earliest if (kind == "event" and earliest) else dt.date(1900, 1, 1), "D")
    early = exists & (date < lo)
    future = exists & ~early & (date > np.datetime64(latest, "D"))
    ok = exists & ~early & ~future
    bad = np.where(exists, "", f"{prefix}_impossible").astype(object)
    bad[early] = "dob_impossible" if kind == "birth" else "date_too_early"
    bad[future] = f"{prefix}_future"
    placeholder = ok & (d == 1) & (m == 1) & (kind == "birth")
    return {
        "date": np.where(ok, date, np.datetime64("NaT")).astype("datetime64[D]"),
        "precision": np.where(ok, np.where(placeholder, "year", "day"), "").astype(object),
        "year": np.where(ok, y, -1).astype(np.int64),
        "corrections": np.where(placeholder, "dob_placeholder", "").astype(object),
        "bad": bad,
    }


def year_array(years: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Years (-1 for unknown) as pandas' nullable Int16."""
    return pd.arrays.IntegerArray(years.astype(np.int16), years < 0)


def parse_dates(
    raw: pd.Series,
    *,
    kind: Kind = "event",
    latest: dt.date | None = None,
    earliest: dt.date | None = None,
) -> pd.DataFrame:
    """Parse a column of dates.

    Returns columns `date` (datetime64, NaT when unusable), `precision` (`day`/`month`/`year`/''),
    `year` (Int16), `corrections` and `bad` (';'-joined reason codes). Empty input gives an empty date
    and no code: whether a date is required is the caller's rule.
    """
    hi = latest or dt.date.today()
    arr = (
        raw.to_numpy(dtype=object, na_value="") if hasattr(raw, "to_numpy") else np.asarray(raw, dtype=object)
    )
    codes, uniq = pd.factorize(arr, use_na_sentinel=False)
    t = date_table(np.array([str(u) for u in uniq], dtype=object), kind, hi, earliest)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(t["date"][codes])
            if len(uniq)
            else pd.to_datetime(pd.Series([], dtype="datetime64[ns]")),
            "precision": t["precision"][codes],
            "year": year_array(t["year"][codes]),
            "corrections": t["corrections"][codes],
            "bad": t["bad"][codes],
        },
        index=raw.index,
    )
