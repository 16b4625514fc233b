"""CSV rows the reader could not split, rebuilt where exactly one reading of them is a valid row.

Real exports break in a few ways (`risk.synth.feeds._serialise` makes the same): a free-text value that
holds the delimiter written without quotes (an address "12 Lê Lợi, Phường Bến Thành, …" becomes several
fields), or a quote opened at the start of the line and never closed. The values are all there; only
where the free text ends is unknown. A row with `e` fields too many is read every way the `e` extra
fields can belong to the free-text columns (address, site); each reading is cleaned like any row, and a
row is rebuilt only when exactly one reading is clean (no `bad` code: the coded columns, dates and
identity fields between the free texts all read as valid values). Otherwise it stays unparseable, in
quarantine. A rebuilt row carries the reason code `row_repaired`.

A spreadsheet row shifted one cell to the right (an empty first cell, every value one column late, the
last one lost) is read shifted back when that reading is clean and the row as written is not.

Rows cut short, garbage lines and anything else stay quarantined: nothing is guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import pandas as pd

from risk.ingest.readers import RawRows, sniff_delimiter
from risk.ingest.sources import SourceMapping, map_fields

# Fields whose values may hold the delimiter (free text).
FREE_TEXT = ("address", "site", "head_name")
MAX_EXTRA = 8  # more extra fields than this is not a split value but a different layout
MAX_READINGS = 64  # readings tried per row


def _delimiter(raw: RawRows) -> str:
    """The file's delimiter, sniffed from its header line (read from the file's first bytes)."""
    with open(raw.path, "rb") as fh:
        head = fh.read(1 << 16)
    enc = "utf-16" if raw.encoding.lower().startswith("utf-16") else "utf-8-sig"
    lines = head.decode(enc, errors="ignore").splitlines()
    return sniff_delimiter(lines[0]) if lines else ","


def _splits(extra: int, slots: int) -> list[tuple[int, ...]]:
    """Every way to give `extra` more fields to `slots` free-text columns (counts per column)."""
    out = []
    for combo in combinations_with_replacement(range(slots), extra):
        counts = [0] * slots
        for c in combo:
            counts[c] += 1
        out.append(tuple(counts))
    return out


def _readings(fields: list[str], width: int, free: list[int], delimiter: str) -> list[list[str]]:
    extra = len(fields) - width
    if extra == 0:
        return [fields]
    if extra < 0 or extra > MAX_EXTRA or not free:
        return []
    out = []
    for counts in _splits(extra, len(free))[:MAX_READINGS]:
        take = dict(zip(free, counts, strict=True))
        row, i = [], 0
        for col in range(width):
            k = take.get(col, 0)
            row.append(delimiter.join(fields[i : i + k + 1]).strip() if k else fields[i])
            i += k + 1
        out.append(row)
    return out


@dataclass
class Candidates:
    """Readings of a file's broken rows, to be cleaned together with the file's own rows (one cleaning
    pass per file instead of two: a pass has a fixed cost far above that of a few rows).

    `frame` holds the readings in the file's raw layout; `owner` says which broken row each reading is
    of: an index into `raw.unparseable` (CSV), or into `raw.data` (XLSX, where `frame` holds the suspect
    rows as written and then shifted back, `owner` once per suspect)."""

    frame: pd.DataFrame
    owner: np.ndarray
    shifted: bool


def repair_candidates(raw: RawRows, mapping: SourceMapping, columns: dict[str, str]) -> Candidates | None:
    """The readings to try for the file's broken rows (None: nothing to repair)."""
    if raw.format == "xlsx":
        return _shift_candidates(raw)
    if raw.format != "csv" or not len(raw.unparseable):
        return None
    delimiter = _delimiter(raw)
    width = len(raw.header)
    free = [raw.header.index(columns[f]) for f in FREE_TEXT if f in columns and columns[f] in raw.header]
    free.sort()
    cand_rows: list[list[str]] = []
    cand_of: list[int] = []
    for i, text in enumerate(raw.unparseable["raw"].astype(str).tolist()):  # the few broken rows only
        quotes = text.count('"')
        if quotes % 2:
            if quotes != 1 or not text.startswith('"'):
                continue
            text = text[1:]  # a quote opened at the start and never closed
        try:
            fields = next(csv.reader([text], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        for reading in _readings(fields, width, free, delimiter):
            cand_rows.append(reading)
            cand_of.append(i)
    if not cand_rows:
        return None
    frame = pd.DataFrame(cand_rows, columns=raw.header, dtype=object)
    return Candidates(frame, np.asarray(cand_of, dtype=np.int64), shifted=False)


def _shift_candidates(raw: RawRows) -> Candidates | None:
    if len(raw.header) < 3 or not len(raw.data):
        return None
    first, last = raw.header[0], raw.header[-1]
    suspect = np.flatnonzero(
        (raw.data[first].astype(str) == "").to_numpy() & (raw.data[last].astype(str) != "").to_numpy()
    )
    if not len(suspect):
        return None
    as_is = raw.data.iloc[suspect].reset_index(drop=True)
    vals = as_is.to_numpy(dtype=object)
    shifted = pd.DataFrame(
        np.column_stack([vals[:, 1:], np.full(len(vals), "", dtype=object)]), columns=raw.header
    )
    return Candidates(pd.concat([as_is, shifted], ignore_index=True), suspect, shifted=True)


def apply_repairs(
    raw: RawRows, cand: Candidates, cand_bad: np.ndarray
) -> tuple[RawRows, np.ndarray, np.ndarray]:
    """`raw` with the rows whose readings decide it rebuilt, given each reading's `bad` codes; a mask
    over the new `data` of the rebuilt rows; and where each new row is among the file's rows followed
    by the readings (to take their cleaned values from a pass over both)."""
    n = len(raw.data)
    none = np.zeros(n, dtype=bool)
    take = np.arange(n, dtype=np.int64)
    ok = np.asarray(cand_bad, dtype=object) == ""
    if cand.shifted:
        k = len(cand.owner)
        fix = ~ok[:k] & ok[k:]
        if not fix.any():
            return raw, none, take
        suspect = cand.owner
        data = raw.data.copy()
        data.iloc[suspect[fix]] = cand.frame.iloc[k:][fix].to_numpy(dtype=object)
        none[suspect[fix]] = True
        take[suspect[fix]] = n + k + np.flatnonzero(fix)
        return (
            RawRows(raw.path, raw.format, raw.encoding, raw.header, data, raw.row_numbers, raw.unparseable),
            none,
            take,
        )
    owner = cand.owner
    n_ok = np.bincount(owner[ok], minlength=len(raw.unparseable))
    pick = ok & (n_ok[owner] == 1)
    if not pick.any():
        return raw, none, take
    fixed_rows = owner[pick]
    numbers = raw.unparseable["row_number"].to_numpy(dtype=np.int64)[fixed_rows]
    # the readings as text first: the file's columns then stay Arrow text through the concat and take
    data = pd.concat([raw.data, cand.frame[pick].astype(str)], ignore_index=True)
    row_numbers = np.concatenate([raw.row_numbers, numbers])
    repaired = np.concatenate([none, np.ones(len(numbers), dtype=bool)])
    order = np.argsort(row_numbers, kind="stable")
    keep = np.ones(len(raw.unparseable), dtype=bool)
    keep[fixed_rows] = False
    out = RawRows(
        raw.path,
        raw.format,
        raw.encoding,
        raw.header,
        data.iloc[order].reset_index(drop=True).astype(str),
        row_numbers[order],
        raw.unparseable[keep].reset_index(drop=True),
    )
    return out, repaired[order], np.concatenate([take, n + np.flatnonzero(pick)])[order]


def repair_unparseable(
    raw: RawRows, mapping: SourceMapping, columns: dict[str, str], latest: dt.date
) -> tuple[RawRows, np.ndarray]:
    """`raw` with rebuilt rows moved from `unparseable` into `data` (in row order), and a mask over the
    new `data` of the rebuilt rows."""
    from risk.ingest.clean import clean_rows

    cand = repair_candidates(raw, mapping, columns)
    if cand is None:
        return raw, np.zeros(len(raw.data), dtype=bool)
    cleaned = clean_rows(map_fields(cand.frame, mapping, columns), mapping.kind, latest=latest)
    out, repaired, _ = apply_repairs(raw, cand, cleaned["bad"].astype(str).to_numpy(dtype=object))
    return out, repaired
