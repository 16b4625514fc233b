"""Dates as Vietnamese feeds write them: day-first, partial birth dates, Excel serials, placeholders.

Birth dates are kept as a date plus a precision (`day`, `month`, `year`): forms often collect only the
year, and `01/01/yyyy` usually stands for "year only". Event dates (dose, sample, report) need a day.
All parsing is vectorised over the column with regular expressions; `dd/mm/yyyy` is the expected form
and anything else that is read with certainty is counted as reformatted.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

from risk.clean.reasons import codes_where, join_codes
from risk.clean.text import by_distinct

Kind = Literal["birth", "event"]
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_DMY = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})$"
_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_MY = r"^(\d{1,2})[/.\-](\d{4})$"
_YEAR = r"^(\d{4})$"
_SERIAL = r"^(\d{5})(?:\.0+)?$"


def parse_dates(
    raw: pd.Series,
    *,
    kind: Kind = "event",
    latest: dt.date | None = None,
    earliest: dt.date | None = None,
) -> pd.DataFrame:
    """Parse a column of dates, once per distinct value (see `_parse`)."""
    out = by_distinct(raw, lambda u: _parse(u, kind=kind, latest=latest, earliest=earliest))
    out["year"] = pd.array(out["year"].to_numpy(), dtype="Int16")
    out["date"] = pd.to_datetime(out["date"])
    return out


def _parse(
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
    s = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    empty = (s == "").to_numpy()
    n = len(s)
    year = np.full(n, np.nan)
    month = np.full(n, np.nan)
    day = np.full(n, np.nan)
    reformatted = np.zeros(n, dtype=bool)

    dmy = s.str.extract(_DMY).astype(float)
    ok = dmy[0].notna().to_numpy()
    y = dmy[2].to_numpy()
    two_digit = ok & (y < 100)
    if two_digit.any():
        pivot = (dt.date.today().year % 100) if kind == "birth" else 99
        y = np.where(two_digit, np.where(y > pivot, 1900 + y, 2000 + y), y)
    day[ok], month[ok], year[ok] = dmy[0].to_numpy()[ok], dmy[1].to_numpy()[ok], y[ok]
    reformatted |= two_digit

    iso = s.str.extract(_ISO).astype(float)
    ok = iso[0].notna().to_numpy()
    year[ok], month[ok], day[ok] = iso[0].to_numpy()[ok], iso[1].to_numpy()[ok], iso[2].to_numpy()[ok]
    reformatted |= ok

    serial = s.str.extract(_SERIAL).astype(float)[0].to_numpy()
    ok = ~np.isnan(serial) & (serial >= 10_000) & (serial <= 80_000)
    if ok.any():
        when = EXCEL_EPOCH + pd.to_timedelta(np.where(ok, serial, 0), unit="D")
        year[ok], month[ok], day[ok] = when.year[ok], when.month[ok], when.day[ok]
        reformatted |= ok

    my = s.str.extract(_MY).astype(float)
    month_only = my[0].notna().to_numpy()
    month[month_only], year[month_only] = my[0].to_numpy()[month_only], my[1].to_numpy()[month_only]
    year_only = s.str.fullmatch(_YEAR).to_numpy(dtype=bool)
    year[year_only] = s[year_only].astype(float).to_numpy()

    partial = month_only | year_only
    full = ~np.isnan(day)
    parsed = full | partial
    unreadable = ~empty & ~parsed

    # Build dates; partial births use the first day of their month/year, with the precision saying so.
    yy = np.where(np.isnan(year), 2000, year).astype(int)
    mm = np.where(np.isnan(month), 1, month).astype(int)
    dd = np.where(np.isnan(day), 1, day).astype(int)
    in_range = (mm >= 1) & (mm <= 12) & (dd >= 1) & (dd <= 31) & (yy >= 1000) & (yy <= 2999)
    frame = pd.DataFrame(
        {
            "year": np.where(in_range, yy, 2000),
            "month": np.where(in_range, mm, 1),
            "day": np.where(in_range, dd, 1),
        }
    )
    dates = pd.to_datetime(frame, errors="coerce")
    impossible = parsed & ~partial & (~in_range | dates.isna().to_numpy())
    impossible |= partial & ~in_range
    dates = dates.where(parsed & ~impossible)

    if kind == "event":  # events need a day: a year or month alone is not a usable event date
        unreadable |= partial
        parsed &= ~partial
    lo = pd.Timestamp(earliest) if earliest else pd.Timestamp("1900-01-01")
    hi = pd.Timestamp(latest) if latest else pd.Timestamp(dt.date.today())
    too_early = (dates < lo).to_numpy().copy() if kind == "birth" else np.zeros(n, dtype=bool)
    impossible |= too_early
    future = (dates > hi).to_numpy().copy()
    early_event = (dates < lo).to_numpy().copy() if kind == "event" and earliest else np.zeros(n, dtype=bool)

    placeholder = full & (day == 1) & (month == 1) & (kind == "birth")
    precision = np.where(full, "day", np.where(month_only, "month", np.where(year_only, "year", "")))
    precision = np.where(placeholder, "year", precision).astype(object)
    future &= parsed
    early_event &= parsed
    usable = parsed & ~impossible & ~future & ~early_event
    dates = dates.where(usable)

    prefix = "dob" if kind == "birth" else "date"
    bad_unreadable = unreadable & ~impossible
    corrections = join_codes(
        codes_where(usable & reformatted, f"{prefix}_reformatted"),
        codes_where(usable & year_only & (kind == "birth"), "dob_year_only"),
        codes_where(usable & month_only & (kind == "birth"), "dob_month_year"),
        codes_where(usable & placeholder, "dob_placeholder"),
    )
    bad = join_codes(
        codes_where(impossible, f"{prefix}_impossible"),
        codes_where(future & ~impossible, f"{prefix}_future"),
        codes_where(early_event & ~impossible, "date_too_early"),
        codes_where(bad_unreadable, "dob_unreadable" if kind == "birth" else "date_impossible"),
    )
    years = pd.array(np.where(usable, yy, 0), dtype="Int16")
    years[~usable] = pd.NA
    return pd.DataFrame(
        {
            "date": dates.to_numpy(),
            "precision": np.where(usable, precision, ""),
            "year": years,
            "corrections": corrections,
            "bad": bad,
        },
        index=raw.index,
    )
