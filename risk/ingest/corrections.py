"""The corrections workflow: export the open quarantine of a source (or a ward) with the original headers
plus where each row came from and why it was kept aside; a site fixes the values and sends the file back
through `riskmap ingest` (or the HTTP batch endpoint) under the same source; the corrected rows land as a
new batch, and the quarantine rows they correct are marked resolved, pointing at that batch.

Layout of an export (CSV UTF-8 with BOM so Excel opens it right, or XLSX): the source's own columns in
the original order (values as the site wrote them), then `Mã lô gốc` (batch id), `Dòng gốc` (row
number), `Tệp gốc` (file), `Lý do cách ly` (reasons, Vietnamese) and `Reasons` (codes). A row that could
not be parsed at all has its raw line in the first column. The pipeline recognises the `Mã lô gốc` and
`Dòng gốc` columns; the source mapping ignores the others.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pandas as pd

from risk.clean.reasons import REASONS
from risk.ingest.errors import IngestError
from risk.ingest.quality import open_quarantine
from risk.store import Store

ORIGIN_COLUMNS = ("Mã lô gốc", "Dòng gốc", "Tệp gốc", "Lý do cách ly", "Reasons")


def _vi(codes: str) -> str:
    return "; ".join(REASONS[c].vi if c in REASONS else c for c in str(codes).split(";") if c)


def quarantine_frame(store: Store, source: str, *, ward: str | None = None) -> pd.DataFrame:
    """Open quarantine rows of a source as a table in the source's own layout plus origin columns."""
    q = open_quarantine(store, source=source, ward=ward)
    rows: list[dict] = []
    header: list[str] = []
    for raw in q["raw"]:
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError
        except (orjson.JSONDecodeError, ValueError):
            obj = None
        if obj is None:
            rows.append({"__raw__": raw})
            continue
        for k in obj:
            if k not in header:
                header.append(k)
        rows.append(obj)
    if not header:  # only unparseable lines: use the source's last known header
        batches = store.list_batches(source=source)
        cols = batches[-1].report.get("columns", {}) if batches else {}
        header = list(dict.fromkeys(cols.values())) or ["raw"]
    out = pd.DataFrame([{h: r.get(h, "") for h in header} for r in rows], columns=header).fillna("")
    unparsed = [i for i, r in enumerate(rows) if "__raw__" in r]
    for i in unparsed:
        out.iloc[i, 0] = rows[i]["__raw__"]
    out["Mã lô gốc"] = q["batch_id"].astype("int64").to_numpy()
    out["Dòng gốc"] = q["row_number"].astype("int64").to_numpy()
    out["Tệp gốc"] = q["file_name"].to_numpy()
    out["Lý do cách ly"] = [_vi(c) for c in q["reasons"]]
    out["Reasons"] = q["reasons"].to_numpy()
    return out


def export_quarantine(store: Store, source: str, path: str | Path, *, ward: str | None = None) -> int:
    """Write the open quarantine of a source (optionally one ward) to CSV or XLSX; returns the rows."""
    path = Path(path)
    frame = quarantine_frame(store, source, ward=ward)
    fmt = path.suffix.lower()
    if fmt == ".csv":
        buf = io.StringIO()
        frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    elif fmt == ".xlsx":
        write_xlsx(frame, path, sheet="Cần sửa")
    else:
        raise IngestError("export to .csv or .xlsx", file=path)
    return len(frame)


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str, widths: dict[str, int] | None = None) -> None:
    """A table as XLSX with text cells (IDs keep their zeros), a bold header and frozen first row."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    ws = wb.add_worksheet(sheet[:31])
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    text = wb.add_format({"num_format": "@"})
    for j, h in enumerate(frame.columns):
        ws.write_string(0, j, str(h), bold)
        ws.set_column(j, j, (widths or {}).get(str(h), max(10, min(40, len(str(h)) + 4))))
    ws.freeze_panes(1, 0)
    values = frame.astype(object).where(frame.notna(), "").to_numpy()
    for i, row in enumerate(values, start=1):
        for j, v in enumerate(row):
            ws.write_string(i, j, str(v), text)
    wb.close()
