"""H3 cells for points, vectorised (h3ronpy), with one nesting convention for all of riskmap.

H3 is not exactly nested: the resolution-9 cell of a point is not always the parent of its
resolution-11 cell (6–7 % of points differ). riskmap therefore defines a point's cell at resolution r as
the parent of its resolution-11 cell. Aggregates then add up exactly from households to cells to parent
cells, and a lookup by coordinates (`cell_of`) agrees with the stored columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import h3
import h3ronpy
import numpy as np
import shapely
from h3ronpy import vector

FINEST = 11
RESOLUTIONS = tuple(range(7, FINEST + 1))


def _np(arr: object) -> np.ndarray:
    return np.asarray(arr.to_numpy() if hasattr(arr, "to_numpy") else arr)


def cells(lat: np.ndarray, lon: np.ndarray, res: int = FINEST) -> np.ndarray:
    """Cells (uint64) of points at `res`, as parents of their resolution-11 cells."""
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    if not len(lat):
        return np.empty(0, dtype=np.uint64)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ValueError("H3 cells need finite coordinates (found NaN or inf)")
    fine = _np(vector.coordinates_to_cells(lat, lon, FINEST)).astype(np.uint64)
    return fine if res == FINEST else parents(fine, res)


def cells_multi(
    lat: np.ndarray, lon: np.ndarray, resolutions: Iterable[int] = RESOLUTIONS
) -> dict[int, np.ndarray]:
    """Cells at several resolutions at once (one resolution-11 pass, then parents)."""
    fine = cells(lat, lon, FINEST)
    return {r: (fine if r == FINEST else parents(fine, r)) for r in resolutions}


def parents(cells_: np.ndarray, res: int) -> np.ndarray:
    """Parent cells at `res` (vectorised)."""
    cells_ = np.ascontiguousarray(cells_, dtype=np.uint64)
    if not len(cells_):
        return cells_
    return _np(h3ronpy.change_resolution(cells_, res)).astype(np.uint64)


def cell_of(lat: float, lon: float, res: int) -> int:
    """One point's cell at `res` by the riskmap convention (for request handlers)."""
    fine = h3.latlng_to_cell(lat, lon, FINEST)
    return h3.str_to_int(fine if res == FINEST else h3.cell_to_parent(fine, res))


def to_hex(cells_: np.ndarray) -> np.ndarray:
    """uint64 cells → hex strings (as APIs show them)."""
    return np.array([format(int(c), "x") for c in cells_], dtype=object)


def from_hex(text: str) -> int:
    """A hex cell id from an API caller → uint64 int; ValueError if it is not a valid cell."""
    try:
        value = int(text, 16)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an H3 cell id (hexadecimal)") from None
    if not h3.is_valid_cell(h3.int_to_str(value)):
        raise ValueError(f"{text!r} is not a valid H3 cell")
    return value


def resolution(cell: int) -> int:
    return h3.get_resolution(h3.int_to_str(int(cell)))


def polygons(cells_: np.ndarray) -> np.ndarray:
    """Cell boundaries as shapely polygons (WGS84)."""
    cells_ = np.ascontiguousarray(cells_, dtype=np.uint64)
    if not len(cells_):
        return np.empty(0, dtype=object)
    wkb = vector.cells_to_wkb_polygons(cells_)
    return shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
