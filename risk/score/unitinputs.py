"""Unit inputs the feeds do not carry: treatment capacity (C3 of Decision 4800), response capacity and
patients needing oxygen and deaths (Decision 218), clusters in hard-to-control settings (Decision 2686).

A health department supplies them as a CSV (RISKMAP_SCORE_INPUTS or `riskmap score --inputs`):

    unit_id,metric,value,valid_from,valid_to,source
    hcmc-2025:26740,response_capacity,high,2022-01-27,,Sở Y tế 2022-01-30
    hcmc-2025:79,treatment_capacity_ok,1,2021-10-12,2021-12-31,HCDC

Rows apply on the days between `valid_from` and `valid_to` (inclusive; empty = open). When two rows give
the same unit and metric on one day, the later `valid_from` wins. riskmap never invents these values: a
profile step that needs one which was not supplied is skipped (and says so) or, for a matrix with
`assume`, uses the stated assumption and says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("unit_id", "metric", "value", "valid_from", "valid_to", "source")
CATEGORICAL = {"response_capacity": ("high", "medium", "low")}


@dataclass(frozen=True)
class UnitInputs:
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(COLUMNS)))
    origin: str = ""
    sha256: str = ""

    def __bool__(self) -> bool:
        return len(self.rows) > 0

    def on(self, day: dt.date) -> pd.DataFrame:
        """unit × metric values in force on `day` (numbers as floats, categories as text)."""
        if not len(self.rows):
            return pd.DataFrame()
        r = self.rows
        ts = pd.Timestamp(day)
        live = (r["valid_from"].isna() | (r["valid_from"] <= ts)) & (
            r["valid_to"].isna() | (r["valid_to"] >= ts)
        )
        r = (
            r[live]
            .sort_values("valid_from", na_position="first")
            .drop_duplicates(["unit_id", "metric"], keep="last")
        )
        if not len(r):
            return pd.DataFrame()
        wide = r.pivot(index="unit_id", columns="metric", values="value")
        for col in wide.columns:
            if col not in CATEGORICAL:
                wide[col] = pd.to_numeric(wide[col], errors="coerce")
        return wide

    def summary(self, day: dt.date) -> dict[str, object]:
        wide = self.on(day)
        return {
            "origin": self.origin,
            "sha256": self.sha256,
            "units": len(wide),
            "metrics": sorted(map(str, wide.columns)),
        }


def parse_unit_inputs(frame: pd.DataFrame, origin: str = "") -> UnitInputs:
    """Check and normalise an inputs table; errors name the row (1-based, as in the file) and the problem."""
    missing = [c for c in ("unit_id", "metric", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"unit inputs {origin}: missing columns {missing} (need {', '.join(COLUMNS)})")
    df = frame.copy()
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[list(COLUMNS)]
    df["unit_id"] = df["unit_id"].astype(str).str.strip()
    df["metric"] = df["metric"].astype(str).str.strip()
    df["value"] = df["value"].astype(str).str.strip()
    for c in ("valid_from", "valid_to"):
        text = df[c].astype("string").str.strip().replace("", pd.NA)
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        bad = text.notna() & parsed.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"unit inputs {origin}, row {i + 2}: {c} {text.iloc[i]!r} is not a date (YYYY-MM-DD)"
            )
        df[c] = parsed
    for i, (metric, value) in enumerate(zip(df["metric"], df["value"], strict=True)):
        if metric in CATEGORICAL:
            if value.lower() not in CATEGORICAL[metric]:
                raise ValueError(
                    f"unit inputs {origin}, row {i + 2}: {metric} must be one of {', '.join(CATEGORICAL[metric])}, "
                    f"not {value!r}"
                )
        else:
            try:
                float(value)
            except ValueError:
                raise ValueError(
                    f"unit inputs {origin}, row {i + 2}: {metric} value {value!r} is not a number"
                ) from None
    df.loc[df["metric"].isin(list(CATEGORICAL)), "value"] = df["value"].str.lower()
    return UnitInputs(df.reset_index(drop=True), origin=origin)


def read_unit_inputs(path: Path | str | None) -> UnitInputs:
    """The inputs CSV at `path` (UTF-8), or none."""
    if path is None or str(path) == "":
        return UnitInputs()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"unit inputs file {p} not found")
    raw = p.read_bytes()
    frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
    out = parse_unit_inputs(frame, str(p))
    return UnitInputs(out.rows, origin=str(p), sha256=hashlib.sha256(raw).hexdigest())
