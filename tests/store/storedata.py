"""Sample rows for any table of `tables.py`, built from its Arrow schema, with the awkward values.

Every column cycles through values chosen to break a careless backend: nulls, empty strings, text that
looks like CSV syntax or a NULL marker, Vietnamese diacritics, integer extremes, uint64 cells at and
above 2^63, dates at the ends of the calendar, microsecond times before 1970, polygons with holes.
A table added to `tables.py` is covered without touching this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from risk.store.base import to_arrow, to_frame
from risk.store.tables import TableSpec

TEXT = [
    "Nguyễn Thị Minh Khai",
    "",
    None,
    "Phường Sài Gòn, Quận 1",
    'say "hi", then\nleave\r\n',
    "\\N",
    "NULL",
    "  spaced  ",
    "Đường số 7 / hẻm 123/45/6",
    "😷 ca bệnh F0",
    "back\\slash\ttab",
    "ắằẳẵặ ỨỪỬỮỰ",
]
U64 = [0, 617_700_169_958_293_503, None, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 5, (1 << 63) + 12345]
I64 = [0, -(1 << 63), (1 << 63) - 1, None, -1, 42]
I32 = [0, -(1 << 31), (1 << 31) - 1, None, 7]
I16 = [0, -(1 << 15), (1 << 15) - 1, None, 1990]
I8 = [0, -128, 127, None, 3]
F64 = [0.1 + 0.2, None, -0.0, 1e300, -1e-300, 2.5]
F32 = [0.7, None, 3.4e38, 1e-30, -1.5]
BOOLS = [True, False, None]
BYTES = [b"", None, b"\x00\xff\\x", bytes(range(256)), b'\n\r,"']
DATES = [dt.date(2021, 8, 1), None, dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31)]
TIMES = [
    dt.datetime(2021, 8, 1, 7, 30, 1, 123456, tzinfo=dt.UTC),
    None,
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2262, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2021, 8, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))),
]
_SQUARE = shapely.box(106.60, 10.70, 106.75, 10.85)
_HOLED = shapely.Polygon(_SQUARE.exterior.coords, [shapely.box(106.65, 10.75, 106.70, 10.80).exterior.coords])
GEOMETRIES = {
    "MultiPolygon": [
        shapely.MultiPolygon([_HOLED, shapely.box(106.8, 10.9, 106.9, 11.0)]),
        _SQUARE,  # a Polygon: stored as a MultiPolygon
        None,
        shapely.MultiPolygon([shapely.box(106.7001234567891, 10.7, 106.71, 10.71)]),
    ],
    "Point": [shapely.Point(106.70, 10.776), None, shapely.Point(-0.0, 0.0)],
    "Geometry": [
        shapely.Point(106.7, 10.7),
        _SQUARE,
        None,
        shapely.LineString([(106.6, 10.7), (106.7, 10.8)]),
    ],
}


def _cycle(values: list[Any], n: int, shift: int) -> list[Any]:
    return [values[(i + shift) % len(values)] for i in range(n)]


def _column(t: TableSpec, f: pa.Field, n: int, shift: int) -> Any:
    typ = f.type
    if f.name == t.geometry:
        return _cycle(GEOMETRIES[t.geometry_type or "Geometry"], n, shift)
    if pa.types.is_string(typ):
        return pd.array(_cycle(TEXT, n, shift), dtype=object)
    table = {
        pa.uint64(): (U64, "UInt64"),
        pa.int64(): (I64, "Int64"),
        pa.int32(): (I32, "Int32"),
        pa.int16(): (I16, "Int16"),
        pa.int8(): (I8, "Int8"),
        pa.float64(): (F64, "float64"),
        pa.float32(): (F32, "float32"),
        pa.bool_(): (BOOLS, "boolean"),
    }
    if typ in table:
        values, dtype = table[typ]
        cycled = _cycle(values, n, shift)
        if dtype.startswith("float"):
            cycled = [np.nan if v is None else v for v in cycled]
        return pd.array(cycled, dtype=dtype)
    if pa.types.is_date32(typ):
        return pd.array(_cycle(DATES, n, shift), dtype=object)
    if pa.types.is_timestamp(typ):
        return pd.array(_cycle(TIMES, n, shift), dtype=object)
    if pa.types.is_binary(typ):
        return pd.array(_cycle(BYTES, n, shift), dtype=object)
    raise AssertionError(f"no sample values for {typ} (column {t.name}.{f.name}); add some here")


def sample_frame(t: TableSpec, n: int = 24, *, first_key: int = 1) -> pd.DataFrame:
    """n rows of table t; key columns are unique (integers count up, text gets a row number)."""
    data: dict[str, Any] = {}
    for shift, f in enumerate(t.schema):
        if f.name in t.key and f.name != "snapshot_id":
            keys = np.arange(first_key, first_key + n)
            data[f.name] = keys.astype(str) if pa.types.is_string(f.type) else keys
            if pa.types.is_string(f.type):
                data[f.name] = [f"k{k:05d}-ý" for k in keys]
            continue
        data[f.name] = _column(t, f, n, shift)
    return pd.DataFrame(data)


def expected(t: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """What a backend must give back for df: the contract's own conversion, both ways."""
    return to_frame(t, to_arrow(t, df))


def comparable(t: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Sorted by key, index reset, geometry as WKB bytes: ready for assert_frame_equal."""
    out = pd.DataFrame(df.copy())
    if t.geometry and t.geometry in out.columns:
        wkb = shapely.to_wkb(np.asarray(df[t.geometry].array, dtype=object))
        out[t.geometry] = pd.array(wkb, dtype=object)
    keys = [k for k in t.key if k in out.columns]
    return out.sort_values(keys).reset_index(drop=True) if keys else out.reset_index(drop=True)


def rows(t: TableSpec, df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (None for null), for a reference evaluation of filters."""
    return to_arrow(t, df).to_pylist()
