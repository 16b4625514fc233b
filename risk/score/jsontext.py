"""JSON text for many rows at once, built column by column with Arrow (no Python per row).

The `metrics` and `reasons` columns of the `levels` table are JSON per unit; at 300,000 cells a dict and
`json.dumps` per row would cost seconds, column-wise concatenation costs milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk.profiles import json_numbers


def _text(values: np.ndarray | pd.Series) -> pa.Array:
    s = pd.Series(values, dtype=object)
    uniq = pd.unique(s.dropna())
    lookup = {v: json.dumps(str(v), ensure_ascii=False) for v in uniq}
    return pa.array([lookup.get(v, "null") if v is not None and v == v else "null" for v in s], pa.string())


def column_json(values: object) -> pa.Array:
    """One column as JSON values: numbers (NaN → null), booleans, or strings."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return pc.if_else(pa.array(arr), "true", "false")
    if arr.dtype.kind in "iuf":
        return json_numbers(arr.astype(float))
    if isinstance(values, pd.Series) and pd.api.types.is_numeric_dtype(values.dtype):
        return json_numbers(values.to_numpy(dtype=float, na_value=np.nan))
    return _text(arr)


def json_objects(columns: Mapping[str, object], n: int) -> list[str]:
    """Per row, a JSON object of the given columns (in order)."""
    if n == 0:
        return []
    parts: list[pa.Array | pa.Scalar] = []
    for i, (name, values) in enumerate(columns.items()):
        # json.dumps's default separators, so the text reads like any other JSON riskmap writes
        parts.append(pa.scalar(("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": "))
        parts.append(column_json(values))
    if not parts:
        return ["{}"] * n
    parts.append(pa.scalar("}"))
    return pc.binary_join_element_wise(*parts, "").to_pylist()


def append_json_items(arrays: list[str], items: list[str | None]) -> list[str]:
    """Add one JSON item per row to JSON arrays (`None` adds nothing)."""
    out = []
    for a, item in zip(arrays, items, strict=True):
        if item is None:
            out.append(a)
        elif a == "[]":
            out.append("[" + item + "]")
        else:
            out.append(a[:-1] + "," + item + "]")
    return out
