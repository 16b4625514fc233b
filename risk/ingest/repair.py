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


def repair_unparseable(
    raw: RawRows, mapping: SourceMapping, columns: dict[str, str], latest: dt.date
) -> tuple[RawRows, np.ndarray]:
    """`raw` with rebuilt rows moved from `unparseable` into `data` (in row order), and a mask over the
    new `data` of the rebuilt rows."""
    from risk.ingest.clean import clean_rows

    none = np.zeros(len(raw.data), dtype=bool)
    if raw.format == "xlsx":
        return _unshift(raw, mapping, columns, latest)
    if raw.format != "csv" or not len(raw.unparseable):
        return raw, none
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
        return raw, none
    cand = pd.DataFrame(cand_rows, columns=raw.header, dtype=object)
    cleaned = clean_rows(map_fields(cand, mapping, columns), mapping.kind, latest=latest)
    ok = (cleaned["bad"].astype(str) == "").to_numpy()
    owner = np.asarray(cand_of, dtype=np.int64)
    n_ok = np.bincount(owner[ok], minlength=len(raw.unparseable))
    pick = ok & (n_ok[owner] == 1)
    if not pick.any():
        return raw, none
    fixed_rows = owner[pick]
    numbers = raw.unparseable["row_number"].to_numpy(dtype=np.int64)[fixed_rows]
    data = pd.concat([raw.data, cand[pick]], ignore_index=True)
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
    return out, repaired[order]


def _unshift(
    raw: RawRows, mapping: SourceMapping, columns: dict[str, str], latest: dt.date
) -> tuple[RawRows, np.ndarray]:
    """Spreadsheet rows shifted one cell right, read back in place (see the module docstring)."""
    from risk.ingest.clean import clean_rows

    repaired = np.zeros(len(raw.data), dtype=bool)
    if len(raw.header) < 3 or not len(raw.data):
        return raw, repaired
    first, last = raw.header[0], raw.header[-1]
    suspect = np.flatnonzero(
        (raw.data[first].astype(str) == "").to_numpy() & (raw.data[last].astype(str) != "").to_numpy()
    )
    if not len(suspect):
        return raw, repaired
    as_is = raw.data.iloc[suspect].reset_index(drop=True)
    vals = as_is.to_numpy(dtype=object)
    shifted = pd.DataFrame(
        np.column_stack([vals[:, 1:], np.full(len(vals), "", dtype=object)]), columns=raw.header
    )
    both = pd.concat([as_is, shifted], ignore_index=True)
    cleaned = clean_rows(map_fields(both, mapping, columns), mapping.kind, latest=latest)
    ok = (cleaned["bad"].astype(str) == "").to_numpy()
    fix = ~ok[: len(suspect)] & ok[len(suspect) :]
    if not fix.any():
        return raw, repaired
    data = raw.data.copy()
    data.iloc[suspect[fix]] = shifted[fix].to_numpy(dtype=object)
    repaired[suspect[fix]] = True
    return (
        RawRows(raw.path, raw.format, raw.encoding, raw.header, data, raw.row_numbers, raw.unparseable),
        repaired,
    )
