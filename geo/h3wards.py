"""H3 cells and wards: cells of points, the share of each cell in each ward, and fast point-in-ward.

* `point_cells`: resolutions 7–11 for points, by riskmap's convention (parents of the res-11 cell).
* `cell_ward_shares`: a table (cell, res, ward_id, share) saying which part of each cell's area lies in
  which ward. Cells inside one ward get one row with share 1; cells that straddle a boundary get one row
  per ward with the intersected share (shares of a cell sum to 1 inside the city, less on its edge, e.g.
  the sea). Shares are computed in lon/lat: the ratio of two areas inside one small cell is what an
  equal-area projection gives, up to the (negligible) change of scale across a cell.
* `WardLocator`: point → ward for millions of points. A lon/lat grid answers points in cells that no ward
  boundary crosses by lookup; only points in boundary cells are tested exactly (`geo.locate`). This beats
  `geopandas.sjoin` many times over and builds no point geometries (see `benchmarks/geocode.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import shapely
from h3ronpy import ContainmentMode
from h3ronpy import vector as h3v

from geo.h3cells import RESOLUTIONS, _np, cells_multi, polygons
from geo.locate import assign_points
from risk.store.tables import H3_COLUMNS

SHARE_COLUMNS = ["cell", "res", "ward_id", "share"]


def point_cells(lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Columns h3_7 … h3_11 (uint64) for points, by riskmap's convention (parents of the res-11 cell)."""
    cells = cells_multi(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), RESOLUTIONS)
    return pd.DataFrame({c: cells[r] for c, r in zip(H3_COLUMNS, RESOLUTIONS, strict=True)})


def _ids_and_geoms(wards: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ids = wards["unit_id"] if "unit_id" in wards.columns else wards.index.to_series()
    return ids.astype(str).to_numpy(dtype=object), np.asarray(wards.geometry.values, dtype=object)


def _cover(geom: object, res: int, mode: ContainmentMode) -> np.ndarray:
    return _np(h3v.geometry_to_cells(geom, res, containment_mode=mode)).astype(np.uint64)


def cell_ward_shares(
    wards: pd.DataFrame, resolutions: Iterable[int] = (7, 8, 9, 10), cells: np.ndarray | None = None
) -> pd.DataFrame:
    """Area share of cells in wards: rows (cell uint64, res int8, ward_id, share float).

    Without `cells`, every cell touching any ward at each resolution (the full cover; at resolution 11 that
    is millions of cells, so pass the cells you need). With `cells` (any mix of resolutions), those cells
    only.
    """
    ids, geoms = _ids_and_geoms(wards)
    if cells is not None:
        return _shares_of_cells(np.unique(np.asarray(cells, dtype=np.uint64)), ids, geoms)
    parts = []
    for res in resolutions:
        for uid, geom in zip(ids, geoms, strict=True):
            if geom is None or geom.is_empty:
                continue
            touching = _cover(geom, res, ContainmentMode.IntersectsBoundary)
            inside = _cover(geom, res, ContainmentMode.ContainsBoundary)
            edge = np.setdiff1d(touching, inside, assume_unique=False)
            share = _intersect_share(edge, geom)
            keep = share > 1e-9
            parts.append(
                pd.DataFrame(
                    {
                        "cell": np.concatenate([inside, edge[keep]]),
                        "res": np.int8(res),
                        "ward_id": uid,
                        "share": np.concatenate([np.ones(len(inside)), share[keep]]),
                    }
                )
            )
    return _finish_shares(parts)


def _intersect_share(cells: np.ndarray, geom: object) -> np.ndarray:
    if not len(cells):
        return np.empty(0)
    polys = polygons(cells)
    shapely.prepare(geom)
    inter = shapely.intersection(polys, geom)
    return shapely.area(inter) / shapely.area(polys)


def _shares_of_cells(cells: np.ndarray, ids: np.ndarray, geoms: np.ndarray) -> pd.DataFrame:
    if not len(cells):
        return _finish_shares([])
    polys = polygons(cells)
    res = np.array([_resolution(c) for c in cells], dtype=np.int8)
    tree = shapely.STRtree(geoms)
    cell_idx, ward_idx = tree.query(polys, predicate="intersects")
    within = shapely.within(polys[cell_idx], geoms[ward_idx])
    share = np.ones(len(cell_idx))
    cut = ~within
    if cut.any():
        inter = shapely.intersection(polys[cell_idx[cut]], geoms[ward_idx[cut]])
        share[cut] = shapely.area(inter) / shapely.area(polys[cell_idx[cut]])
    keep = share > 1e-9
    df = pd.DataFrame(
        {
            "cell": cells[cell_idx[keep]],
            "res": res[cell_idx[keep]],
            "ward_id": ids[ward_idx[keep]],
            "share": share[keep],
        }
    )
    return _finish_shares([df])


def _resolution(cell: np.uint64) -> int:
    return int((int(cell) >> 52) & 0xF)


def _finish_shares(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(SHARE_COLUMNS, ("uint64", "int8", object, float), strict=True)
            }
        )
    df = pd.concat(parts, ignore_index=True)
    df["cell"] = df["cell"].astype(np.uint64)
    df["share"] = df["share"].clip(upper=1.0)
    return df.sort_values(["res", "cell", "share"], ascending=[True, True, False], ignore_index=True)


class WardLocator:
    """Which ward holds each point, for millions of points: a lon/lat grid answers points in cells that no
    ward boundary crosses by lookup; only points in boundary cells are tested exactly (`geo.locate`).

    The grid is the "interior cells" idea with plain arithmetic instead of H3: indexing a point into H3
    costs about as much here as the exact test it would save (measured: 4.5 M points, 3.4 s for the H3
    cells alone vs 3.2 s for `geo.locate` on all of them), a grid index costs a multiplication. Boundary
    cells are the cells every boundary segment passes through (segments cut shorter than a cell, corners
    included); the other cells fall into 4-connected regions that no boundary crosses, so one exact test
    of one cell centre per region labels all of its cells.
    """

    def __init__(self, wards: pd.DataFrame, cell_deg: float = 0.0005) -> None:
        from scipy import ndimage

        self.ward_ids, self.geoms = _ids_and_geoms(wards)
        self.d = float(cell_deg)
        valid = [g for g in self.geoms if g is not None and not g.is_empty]
        minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(valid, dtype=object))
        self.x0, self.y0 = minx - 2 * self.d, miny - 2 * self.d
        self.nx = int(np.ceil((maxx - self.x0) / self.d)) + 2
        self.ny = int(np.ceil((maxy - self.y0) / self.d)) + 2
        boundary = np.zeros((self.ny, self.nx), dtype=bool)
        lines = shapely.segmentize(shapely.boundary(np.asarray(valid, dtype=object)), self.d / 4)
        coords, ring = shapely.get_coordinates(lines, return_index=True)
        ix, iy = self._index(coords[:, 0], coords[:, 1])
        boundary[iy, ix] = True
        # a segment between diagonal cells also crosses one of the two side cells: mark both
        same = ring[1:] == ring[:-1]
        diag = same & (ix[1:] != ix[:-1]) & (iy[1:] != iy[:-1])
        boundary[iy[:-1][diag], ix[1:][diag]] = True
        boundary[iy[1:][diag], ix[:-1][diag]] = True
        labels, n = ndimage.label(~boundary)  # 4-connected regions free of boundaries
        first = ndimage.find_objects(labels)
        cy = np.empty(n)
        cx = np.empty(n)
        for k, sl in enumerate(first):
            ys, xs = np.nonzero(labels[sl] == k + 1)
            cy[k] = sl[0].start + ys[0]
            cx[k] = sl[1].start + xs[0]
        region_ward = assign_points(self.x0 + (cx + 0.5) * self.d, self.y0 + (cy + 0.5) * self.d, self.geoms)
        grid = np.full((self.ny, self.nx), -2, dtype=np.int32)  # -2: boundary cell, exact test needed
        free = labels > 0
        grid[free] = region_ward[labels[free] - 1]  # ward index, or -1 outside every ward
        self.grid = grid
        self.regions = n

    def _index(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid cell of each point; (-1, -1) for points that are not finite numbers."""
        with np.errstate(invalid="ignore"):
            fx = np.floor((lon - self.x0) / self.d)
            fy = np.floor((lat - self.y0) / self.d)
        bad = ~(np.isfinite(fx) & np.isfinite(fy))
        fx[bad] = -1
        fy[bad] = -1
        return fx.astype(np.int64), fy.astype(np.int64)

    @property
    def boundary_share(self) -> float:
        """Share of grid cells that need an exact test (the rest are answered by lookup)."""
        return float((self.grid == -2).mean())

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index (into the wards given) of the ward holding each point, or -1 (outside every ward)."""
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        out = np.full(len(lon), -1, dtype=np.int64)
        if not len(lon):
            return out
        ix, iy = self._index(lon, lat)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)  # NaN indexes fall outside
        idx = np.nonzero(inside)[0]
        code = self.grid[iy[idx], ix[idx]]
        out[idx] = np.where(code >= 0, code, -1)
        rest = idx[code == -2]
        if len(rest):
            out[rest] = assign_points(lon[rest], lat[rest], self.geoms)
        return out

    def ward_of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Ward ids (None outside) of points."""
        k = self.assign(lon, lat)
        out = np.full(len(k), None, dtype=object)
        out[k >= 0] = self.ward_ids[k[k >= 0]]
        return out
