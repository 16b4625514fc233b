"""Read a feed file (CSV, XLSX, JSON Lines) into rows of strings, keeping every row accounted for.

Every value comes back as text, exactly as the site wrote it (no type guessing: `079…` IDs keep their
zero). Rows that cannot be parsed are returned apart with their row number and raw text, never
dropped. Row numbers are 1-based data rows (the header is row 0), the numbering the quarantine, the
quality report and the generator's ground truth share.

CSV is split into physical lines first: a stray quote then spoils only its own line instead of
swallowing the rest of the file, as a standard CSV parser would.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import python_calamine
from pandas._libs.parsers import STR_NA_VALUES

from risk.ingest.errors import IngestError

FORMATS = ("csv", "xlsx", "jsonl")
MAX_FIELD_CHARS = 4_000
# Bytes typical of text typed in legacy Vietnamese encodings (TCVN3/ABC, VNI) and read as Latin-1/1252.
_LEGACY_HINTS = ("TCVN3 (ABC)", "VNI", "Windows-1258")


@dataclass
class RawRows:
    """One file's rows as strings, with their row numbers, and the rows that could not be parsed."""

    path: Path
    format: str
    encoding: str
    header: list[str]
    data: pd.DataFrame  # one str column per header field; '' for empty
    row_numbers: np.ndarray  # int64, aligned with data
    unparseable: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["row_number", "raw", "message"])
    )

    @property
    def rows_in(self) -> int:
        return len(self.data) + len(self.unparseable)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise IngestError(f"unknown format {declared!r} (known: {', '.join(FORMATS)})", file=path)
        return declared
    ext = path.suffix.lower().lstrip(".")
    fmt = {
        "csv": "csv",
        "txt": "csv",
        "xlsx": "xlsx",
        "xlsm": "xlsx",
        "jsonl": "jsonl",
        "ndjson": "jsonl",
    }.get(ext)
    if fmt is None:
        raise IngestError(
            f"cannot tell the format from the extension {path.suffix!r}; use .csv, .xlsx or .jsonl", file=path
        )
    return fmt


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is rejected with a clear message."""
    if data.startswith(b"\xef\xbb\xbf"):
        data, enc = data[3:], "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise IngestError(f"not valid UTF-16 despite its byte-order mark: {exc}", file=path) from None
    else:
        enc = "utf-8"
    try:
        return data.decode("utf-8"), enc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        sample = data[max(0, exc.start - 20) : exc.start + 20].decode("latin-1", errors="replace")
        raise IngestError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}, near {sample!r}). "
            f"The file looks like a legacy Vietnamese encoding ({', '.join(_LEGACY_HINTS)}); "
            "re-save it as UTF-8 (Excel: 'CSV UTF-8') and submit it again. Nothing from this file was loaded.",
            file=path,
            row=line - 1,
        ) from None


def read_rows(path: str | Path, *, fmt: str | None = None, sheet: str | int | None = None) -> RawRows:
    """Read any supported feed file (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError("no such file", file=path)
    fmt = detect_format(path, fmt)
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "xlsx":
        return _read_xlsx(path, sheet)
    return _read_jsonl(path)


def _clean_header(names: list[str]) -> list[str]:
    out = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = str(raw).strip().lstrip("\ufeff") or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def sniff_delimiter(header_line: str) -> str:
    """The field separator of a CSV file, from its header: the commonest of , ; tab | outside quotes."""
    outside = "".join(part for i, part in enumerate(header_line.split('"')) if i % 2 == 0)
    counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path) -> RawRows:
    text, encoding = decode(path.read_bytes(), path)
    split = text.splitlines()
    if not split:
        raise IngestError("the file is empty (no header row)", file=path)
    lines = pd.Series(split, dtype=object)
    # A line whose quotes do not balance cannot be parsed on its own: keep it apart. (Plain loops over
    # the lines: the pandas string accessor costs several times more per line.)
    quotes = np.fromiter((line.count('"') for line in split), dtype=np.int64, count=len(split))
    blank = np.fromiter((not line.strip() for line in split), dtype=bool, count=len(split))
    header_line = lines.iloc[0]
    body = lines.iloc[1:]
    line_no = np.arange(1, len(lines), dtype=np.int64)  # data-row numbers
    odd = (quotes[1:] % 2) == 1
    keep = ~odd & ~blank[1:]
    if quotes[0] % 2:
        raise IngestError("the header row has unbalanced quotes", file=path, row=0)
    bad_rows = [
        pd.DataFrame(
            {"row_number": line_no[odd], "raw": body[odd].to_numpy(), "message": "unbalanced quotes"}
        )
    ]
    kept_numbers = line_no[keep]
    payload = "\n".join([header_line, *body[keep].tolist()]).encode("utf-8")
    invalid: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(
            (
                row.number or -1,
                row.text,
                f"expected {row.expected_columns} fields, found {row.actual_columns}",
            )
        )
        return "skip"

    delimiter = sniff_delimiter(header_line)
    try:
        header = _clean_header(next(csv.reader([header_line], delimiter=delimiter)))
    except csv.Error as exc:  # e.g. a "header" of megabytes: a clear rejection, not a traceback
        raise IngestError(f"cannot read the header row: {exc}", file=path, row=0) from None
    try:
        table = pacsv.read_csv(
            io.BytesIO(payload),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 26, column_names=header, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False
            ),
            # Every column as text, exactly as written (no type guessing: 0909… keeps its zero).
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                auto_dict_encode=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise IngestError(f"cannot parse as CSV: {exc}", file=path) from None
    if invalid:
        # Invalid rows are reported with their line number in the payload (header = 1).
        payload_line = np.array([n for n, _, _ in invalid], dtype=np.int64)
        idx = payload_line - 2
        ok_idx = (idx >= 0) & (idx < len(kept_numbers))
        numbers = np.where(ok_idx, kept_numbers[np.clip(idx, 0, max(len(kept_numbers) - 1, 0))], -1)
        bad_rows.append(
            pd.DataFrame(
                {
                    "row_number": numbers,
                    "raw": [t for _, t, _ in invalid],
                    "message": [m for _, _, m in invalid],
                }
            )
        )
        valid_mask = np.ones(len(kept_numbers), dtype=bool)
        valid_mask[idx[ok_idx]] = False
        kept_numbers = kept_numbers[valid_mask]
    # Every column is text and none is null (strings_can_be_null=False): straight to pandas' str dtype.
    data = table.to_pandas(
        types_mapper=lambda t: pd.StringDtype(na_value=np.nan) if t == pa.string() else None
    )
    data.columns = header
    if len(data) != len(kept_numbers):
        raise IngestError(f"internal: {len(data)} rows parsed but {len(kept_numbers)} row numbers", file=path)
    unparseable = pd.concat(bad_rows, ignore_index=True).sort_values("row_number", kind="stable")
    if any(data[c].dtype != "str" for c in data.columns):  # not expected; the general conversion
        data = _as_text(data)
    return RawRows(path, "csv", encoding, header, data, kept_numbers, unparseable.reset_index(drop=True))


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), "").astype(str)


def _cell_text(values: pd.Series) -> pd.Series:
    """Excel cells → text: integers without '.0', dates as ISO (the cleaner reads both)."""

    def one(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, pd.Timestamp):
            return v.isoformat(sep=" ")
        return str(v)

    return values.astype(object).map(one)


_NA_TEXT = frozenset(STR_NA_VALUES)  # cells pandas' Excel reader reads as missing (then '')
_PLAIN_CELLS = (str, int, float, bool, dt.datetime, dt.date)


def _read_xlsx(path: Path, sheet: str | int | None) -> RawRows:
    """The sheet's cells as text, read straight from calamine (the engine pandas uses): the same text
    `_read_xlsx_pandas` makes, without pandas' per-cell parser; any sheet with cells other than text,
    numbers, booleans and dates, or of one column, goes through pandas."""
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        ws = book.get_sheet_by_name(sheet) if isinstance(sheet, str) else book.get_sheet_by_index(sheet or 0)
        rows = ws.to_python(skip_empty_area=False)
    except Exception:  # a broken workbook: pandas says what is wrong
        return _read_xlsx_pandas(path, sheet)
    width = len(rows[0]) if rows else 0
    if len(rows) < 2 or width < 2 or any(len(r) != width for r in rows):
        return _read_xlsx_pandas(path, sheet)
    columns = []
    for cells in zip(*rows, strict=True):
        text = _cells_text(cells)
        if text is None:
            return _read_xlsx_pandas(path, sheet)
        columns.append(text)
    header = _clean_header([c[0] for c in columns])
    data = pd.DataFrame({h: np.array(c[1:], dtype=object) for h, c in zip(header, columns, strict=True)})
    numbers = np.arange(1, len(data) + 1, dtype=np.int64)
    blank = np.logical_and.reduce([np.array(c[1:], dtype=object) == "" for c in columns])
    return RawRows(path, "xlsx", "xlsx", header, data[~blank].reset_index(drop=True), numbers[~blank])


def _cells_text(cells: tuple) -> list[str] | None:
    """One column's cells as pandas' Excel reader + `_cell_text` give them (None: a cell of another
    kind, or booleans beside numbers, which pandas' parser merges by equality: True after 1 reads 1)."""
    out: list[str] = []
    flags = numbers = False
    for v in cells:
        if type(v) is str:
            out.append("" if v in _NA_TEXT else v)
            continue
        if not isinstance(v, _PLAIN_CELLS):
            return None
        if isinstance(v, bool):
            flags = True
        elif isinstance(v, int | float):
            numbers = True
            if isinstance(v, float):
                if not math.isfinite(v):
                    return None
                if v.is_integer():
                    v = int(v)
        elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            v = dt.datetime(v.year, v.month, v.day)
        out.append(str(v))
    return None if flags and numbers else out


def _read_xlsx_pandas(path: Path, sheet: str | int | None) -> RawRows:
    try:
        frame = pd.read_excel(
            path, sheet_name=sheet if sheet is not None else 0, dtype=object, header=None, engine="calamine"
        )
    except Exception as exc:  # a broken workbook raises many kinds of errors
        raise IngestError(f"cannot open as XLSX: {exc}", file=path) from None
    if frame.empty:
        raise IngestError("the sheet is empty (no header row)", file=path)
    header = _clean_header(
        [("" if (isinstance(v, float) and np.isnan(v)) else str(v)) for v in frame.iloc[0]]
    )
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = header
    data = pd.DataFrame({c: _cell_text(body[c]) for c in header})
    numbers = np.arange(1, len(data) + 1, dtype=np.int64)
    blank = (data == "").all(axis=1).to_numpy()
    return RawRows(path, "xlsx", "xlsx", header, data[~blank].reset_index(drop=True), numbers[~blank])


def _read_jsonl(path: Path) -> RawRows:
    text, encoding = decode(path.read_bytes(), path)
    lines = text.splitlines()
    numbers = np.arange(1, len(lines) + 1, dtype=np.int64)
    records: list[dict] = []
    kept: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for n, line in zip(
        numbers, lines, strict=True
    ):  # orjson parses ~1 µs/line; bad lines need their own number
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            bad.append((int(n), line, f"invalid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            bad.append((int(n), line, "a line must hold one JSON object"))
            continue
        records.append(obj)
        kept.append(int(n))
    data = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    header = _clean_header(list(data.columns))
    data.columns = header
    data = data.map(
        lambda v: (
            "" if v is None else (json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v))
        )
    )
    unparseable = pd.DataFrame(bad, columns=["row_number", "raw", "message"])
    return RawRows(
        path, "jsonl", encoding, header, _as_text(data), np.array(kept, dtype=np.int64), unparseable
    )
