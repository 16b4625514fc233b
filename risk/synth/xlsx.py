"""A minimal, fast, deterministic XLSX writer: one sheet, inline strings, numbers and date cells.

xlsxwriter writes about 60k cells a second here; the full-scale city has tens of millions of
spreadsheet cells, so sheets are built as whole-column Arrow string operations instead and zipped
with fixed timestamps (same input → same bytes). The result is plain SpreadsheetML that Excel,
LibreOffice, openpyxl and pandas read: a bold header row, text as inline strings, numbers as numbers,
dates as serial numbers with a `dd/mm/yyyy` format.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from risk.synth.render import Cells, join, s

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _col(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def concat_bytes(arr: pa.Array) -> bytes:
    """The concatenation of all strings of an Arrow string array (no copy per element)."""
    arr = pc.fill_null(arr, "")
    if isinstance(arr, pa.ChunkedArray):
        return b"".join(concat_bytes(c) for c in arr.chunks)
    if not len(arr):
        return b""
    offsets = np.frombuffer(
        arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32
    )
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return data.to_pybytes()[int(offsets[0]) : int(offsets[-1])] if data is not None else b""


def _xml_text(arr: pa.Array) -> pa.Array:
    for needle, repl in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(arr, needle)).as_py():
            arr = pc.replace_substring(arr, needle, repl)
    return arr


def _number_text(values: np.ndarray) -> pa.Array:
    whole = np.isfinite(values) & (np.floor(values) == values)
    as_int = s(np.where(whole, values, 0).astype(np.int64))
    as_float = pc.cast(pa.array(np.where(whole, 0.0, values)), pa.string())
    return pc.if_else(pa.array(whole), as_int, as_float)


def sheet_rows(columns: list[Cells], first_row: int) -> pa.Array:
    """`<row>` elements of the data rows (one string per row)."""
    n = len(columns[0].text)
    rnum = s(np.arange(first_row, first_row + n))
    cells = []
    for i, col in enumerate(columns):
        letter = _col(i)
        text = pc.fill_null(col.text, "")
        t_cell = join(
            f'<c r="{letter}',
            rnum,
            '" t="inlineStr"><is><t xml:space="preserve">',
            _xml_text(text),
            "</t></is></c>",
        )
        t_cell = pc.if_else(pc.equal(text, ""), "", t_cell)
        if col.number is not None:
            num = col.number
            has = ~np.isnan(num)
            style = np.where(col.date if col.date is not None else np.zeros(n, bool), ' s="1"', "")
            n_cell = join(
                f'<c r="{letter}',
                rnum,
                '"',
                pa.array(style, type=pa.string()),
                "><v>",
                _number_text(np.where(has, num, 0.0)),
                "</v></c>",
            )
            t_cell = pc.if_else(pa.array(has), n_cell, t_cell)
        cells.append(t_cell)
    return join('<row r="', rnum, '">', *cells, "</row>")


def _text_row(r: int, values: list[str | None], style: str = "") -> str:
    out = [f'<row r="{r}">']
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        out.append(
            f'<c r="{_col(i)}{r}"{style} t="inlineStr"><is><t xml:space="preserve">{escape(v)}</t></is></c>'
        )
    out.append("</row>")
    return "".join(out)


def write_xlsx(
    headers: list[str],
    columns: list[Cells],
    *,
    sheet: str = "Sheet1",
    created: str = "2021-01-01",
    raw_rows: dict[int, list[str | None]] | None = None,
) -> bytes:
    """The bytes of a one-sheet workbook. `raw_rows` replaces whole data rows (0-based) by text cells."""
    rows = sheet_rows(columns, 2) if columns and len(columns[0].text) else pa.array([], type=pa.string())
    if raw_rows:
        where = np.zeros(len(rows), dtype=bool)
        idx = sorted(raw_rows)
        where[idx] = True
        rows = pc.replace_with_mask(
            rows, pa.array(where), pa.array([_text_row(i + 2, raw_rows[i]) for i in idx])
        )
    n = len(rows)
    last = f"{_col(max(len(headers) - 1, 0))}{n + 1}"
    head = (
        _XML + f'<worksheet xmlns="{_NS}" xmlns:r="{_REL}">'
        f'<dimension ref="A1:{last}"/><sheetData>' + _text_row(1, headers, ' s="2"')
    ).encode("utf-8")
    body = concat_bytes(rows)
    tail = b"</sheetData></worksheet>"
    name = escape(sheet[:31], {'"': "&quot;"})
    parts = {
        "[Content_Types].xml": (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Default Extension="rels" '
            b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            b'<Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/xl/workbook.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            b'<Override PartName="/xl/styles.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            b'<Override PartName="/docProps/core.xml" '
            b'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            b'<Override PartName="/docProps/app.xml" '
            b'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>"
        ).encode(),
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>riskmap synth</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}T00:00:00Z</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{created}T00:00:00Z</dcterms:modified>'
            "</cp:coreProperties>"
        ).encode(),
        "docProps/app.xml": (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="http://schemas.'
            b'openxmlformats.org/officeDocument/2006/extended-properties">'
            b"<Application>Microsoft Excel</Application>"
            b"</Properties>"
        ),
        "xl/workbook.xml": (
            _XML + f'<workbook xmlns="{_NS}" xmlns:r="{_REL}">'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
        ).encode(),
        "xl/styles.xml": _STYLES.encode(),
        "xl/worksheets/sheet1.xml": head + body + tail,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for part, data in parts.items():
            info = zipfile.ZipInfo(part, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, data, compresslevel=1)
    return buf.getvalue()
