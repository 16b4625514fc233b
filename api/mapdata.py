"""The map's geometry in memory: polygons of every drawn unit, point lookups, household points.

Geometry changes far less often than levels (a new registry, not a new snapshot), so it lives apart
from the snapshot views and is shared by all of them: `MapData` holds the rows of `map_units` per unit
type (WGS84 for GeoJSON and point lookups; Web Mercator and an STRtree, built on first use, for tiles
drawn without PostGIS), and `HouseholdPoints` the households' coordinates and units.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo import h3cells
from geo.gazetteer import Gazetteer
from geo.h3wards import WardLocator
from geo.tiles import BUFFER, EXTENT, mercator_geometries, tile_bounds, to_mercator
from risk.store import Store

POLYGON_TYPES = ("ward", "group", "h3_8", "h3_9", "h3_10")
H3_RES = {"h3_8": 8, "h3_9": 9, "h3_10": 10}
GEOJSON_SIMPLIFY_DEG = {"ward": 0.0002, "group": 0.00005}  # ~20 m and ~5 m; cells are exact
_SUB = 16  # a boundary cell of the ward grid splits into _SUB × _SUB sub-cells for point lookups


@dataclass
class UnitGeometry:
    """The drawn units of one type, sorted by unit id (the keyset order of GeoJSON pages)."""

    unit_type: str
    ids: np.ndarray
    names: np.ndarray
    parent_ids: np.ndarray
    ward_ids: np.ndarray
    households: np.ndarray  # int64
    geoms: np.ndarray  # WGS84
    bounds: np.ndarray  # (n, 4) west, south, east, north
    pos: dict[str, int] = field(default_factory=dict)
    base: np.ndarray | None = None  # generalised outlines: each unit's position in the full-detail list
    _merc: np.ndarray | None = None
    _tree: shapely.STRtree | None = None
    _simple: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_frame(cls, unit_type: str, frame: pd.DataFrame) -> UnitGeometry:
        frame = frame.sort_values("unit_id", kind="stable")
        geoms = np.asarray(frame.geometry.values, dtype=object)
        ids = frame["unit_id"].to_numpy(dtype=object)
        return cls(
            unit_type=unit_type,
            ids=ids,
            names=frame["name"].to_numpy(dtype=object),
            parent_ids=frame["parent_id"].to_numpy(dtype=object),
            ward_ids=frame["ward_id"].to_numpy(dtype=object),
            households=frame["households"].fillna(0).to_numpy(dtype=np.int64),
            geoms=geoms,
            bounds=shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4)),
            pos={u: i for i, u in enumerate(ids)},
        )

    def __len__(self) -> int:
        return len(self.ids)

    def in_bbox(self, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """Positions of units whose bounding box meets a lon/lat box (then tested exactly)."""
        w, s, e, n = bbox
        b = self.bounds
        cand = np.nonzero((b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s))[0]
        if len(cand):
            cand = cand[shapely.intersects(self.geoms[cand], shapely.box(w, s, e, n))]
        return cand

    def _mercator(self) -> tuple[np.ndarray, shapely.STRtree]:
        if self._tree is None:
            with self._lock:
                if self._tree is None:
                    self._merc = mercator_geometries(self.geoms)
                    self._tree = shapely.STRtree(self._merc)
        assert self._merc is not None
        return self._merc, self._tree

    def in_tile(self, z: int, x: int, y: int, buffer: int = BUFFER) -> tuple[np.ndarray, np.ndarray]:
        """(positions, geometries in EPSG:3857) of the units meeting a tile plus its buffer, in order."""
        merc, tree = self._mercator()
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        margin = (maxx - minx) * buffer / EXTENT
        hits = np.sort(tree.query(shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)))
        return hits, merc[hits]

    def simplified(self) -> np.ndarray:
        """Geometries for GeoJSON: wards and groups simplified as a coverage (no gaps appear)."""
        if self._simple is None:
            tol = GEOJSON_SIMPLIFY_DEG.get(self.unit_type)
            geoms = self.geoms
            if tol and len(geoms):
                try:
                    geoms = shapely.coverage_simplify(geoms, tol)
                except shapely.errors.GEOSException:  # not a clean coverage: simplify one by one
                    geoms = shapely.simplify(geoms, tol, preserve_topology=True)
            self._simple = shapely.set_precision(geoms, 1e-6)
        return self._simple


class MapData:
    """Every drawn unit's polygon (from `map_units`) and point → unit lookups."""

    def __init__(self, frame: pd.DataFrame, gazetteer: Gazetteer, fingerprint: tuple[Any, ...]) -> None:
        self.fingerprint = fingerprint
        self.gazetteer = gazetteer
        self.units: dict[str, UnitGeometry] = {}
        self._outlines: dict[tuple[str, int], UnitGeometry] = {}
        detail = (
            frame["detail"].fillna(0).astype(int)
            if "detail" in frame.columns
            else pd.Series(0, index=frame.index)
        )
        for unit_type in POLYGON_TYPES:
            of_type = frame["unit_type"] == unit_type
            full = UnitGeometry.from_frame(unit_type, frame[of_type & (detail == 0)])
            self.units[unit_type] = full
            for d in sorted(set(detail[of_type]) - {0}):
                lod = UnitGeometry.from_frame(unit_type, frame[of_type & (detail == d)])
                lod.base = np.array([full.pos.get(u, -1) for u in lod.ids], dtype=np.int64)
                keep = lod.base >= 0
                if not keep.all():
                    lod = UnitGeometry.from_frame(
                        unit_type, frame[of_type & (detail == d)].iloc[np.nonzero(keep)[0]]
                    )
                    lod.base = np.array([full.pos[u] for u in lod.ids], dtype=np.int64)
                self._outlines[(unit_type, int(d))] = lod
        wards = gazetteer.wards
        self._ward_ids = wards["unit_id"].to_numpy(dtype=object)
        self._ward_geoms = np.asarray(wards.geometry.values, dtype=object)
        shapely.prepare(self._ward_geoms)
        self._ward_tree = shapely.STRtree(self._ward_geoms)
        self._locator = WardLocator(wards)
        # the one-point lookup reads the grid through a memoryview (a Python int per cell, no numpy
        # scalar) and answers ward ids as ready strings: the risk endpoint does this per request
        loc = self._locator
        self._grid_cells = memoryview(np.ascontiguousarray(loc.grid, dtype=np.int32).ravel())
        self._grid_frame = (float(loc.x0), float(loc.y0), float(loc.d), int(loc.nx), int(loc.ny))
        self._grid_ward_ids = [str(u) for u in loc.ward_ids]
        # boundary cell → its sub-grid and the wards reaching into it (`_edge_cell`), made on first use
        self._edge_cells: dict[int, tuple[list[int], tuple[int, ...]]] = {}
        groups = self.units["group"]
        self._group_geoms = groups.geoms
        self._group_tree = shapely.STRtree(groups.geoms) if len(groups) else None
        self.households_total = int(frame.loc[frame["unit_type"] == "city", "households"].sum())
        self._points: HouseholdPoints | None = None
        self._points_lock = threading.Lock()

    def household_points(self, store: Store) -> HouseholdPoints:
        """Households' positions (loaded on first use, with this geometry: both come from the same households)."""
        if self._points is None:
            with self._points_lock:
                if self._points is None:
                    self._points = HouseholdPoints.load(store)
        return self._points

    def outline(self, unit_type: str, detail: int) -> UnitGeometry:
        """The outlines a zoom draws: generalised ones where prepared, else the full geometry."""
        return (
            self._outlines.get((unit_type, detail), self.units[unit_type])
            if detail
            else self.units[unit_type]
        )

    @classmethod
    def load(cls, store: Store, gazetteer: Gazetteer) -> MapData:
        return cls(store.read_table("map_units"), gazetteer, map_fingerprint(store))

    # point lookups (the risk endpoint's hot path: plain arithmetic first, geometry only on boundaries)

    def ward_at(self, lon: float, lat: float) -> str | None:
        x0, y0, d, nx, ny = self._grid_frame
        ix = int((lon - x0) // d)
        iy = int((lat - y0) // d)
        if 0 <= ix < nx and 0 <= iy < ny:
            code = self._grid_cells[iy * nx + ix]
            if code >= 0:
                return self._grid_ward_ids[code]
            if code == -1:
                return None
            # a boundary cell: its own finer grid, made on its first point, answers most points; the rest
            # (in sub-cells a boundary crosses) are tested against the wards reaching into the cell
            k = iy * nx + ix
            edge = self._edge_cells.get(k)
            if edge is None:
                edge = self._edge_cells[k] = self._edge_cell(ix, iy)
            codes, wards = edge
            sx = min(max(int((lon - x0 - ix * d) * _SUB / d), 0), _SUB - 1)
            sy = min(max(int((lat - y0 - iy * d) * _SUB / d), 0), _SUB - 1)
            code = codes[sy * _SUB + sx]
            if code >= 0:
                return self._grid_ward_ids[code]
            if code == -1:
                return None
            for w in wards:  # in index order: the least index wins on a shared edge, as the tree query
                if shapely.intersects_xy(self._ward_geoms[w], lon, lat):
                    return self._grid_ward_ids[w]
            return None
        hits = self._ward_tree.query(shapely.Point(lon, lat), predicate="intersects").tolist()
        return str(self._ward_ids[min(hits)]) if hits else None  # min of a list: no numpy reduction

    def _edge_cell(self, ix: int, iy: int) -> tuple[list[int], tuple[int, ...]]:
        """A boundary cell's sub-grid (`_SUB` × `_SUB` codes, row-major: a ward index where the sub-cell lies
        inside that ward and no ward of lower index touches it, -1 where no ward touches it, -2 where an
        exact test is needed) and the wards reaching into the cell, in index order. Boxes are widened by a
        hair, so a point rounded into a neighbouring sub-cell still gets its exact answer."""
        x0, y0, d, _, _ = self._grid_frame
        e = d * 1e-6
        cell = shapely.box(x0 + ix * d - e, y0 + iy * d - e, x0 + (ix + 1) * d + e, y0 + (iy + 1) * d + e)
        wards = tuple(sorted(self._ward_tree.query(cell, predicate="intersects").tolist()))
        s = d / _SUB
        j, i = np.divmod(np.arange(_SUB * _SUB), _SUB)
        bx, by = x0 + ix * d + i * s, y0 + iy * d + j * s
        boxes = shapely.box(bx - e, by - e, bx + s + e, by + s + e)
        codes = np.full(len(boxes), -1, dtype=np.int64)
        open_ = np.ones(len(boxes), dtype=bool)  # no ward of lower index touches the sub-cell yet
        for w in wards:
            touches = shapely.intersects(self._ward_geoms[w], boxes)
            inside = shapely.contains_properly(self._ward_geoms[w], boxes)
            codes[open_ & inside] = w
            codes[open_ & touches & ~inside] = -2
            open_ &= ~touches
        return codes.tolist(), wards

    def group_at(self, lon: float, lat: float) -> str | None:
        if self._group_tree is None:
            return None
        hits = self._group_tree.query(shapely.Point(lon, lat), predicate="intersects")
        return str(self.units["group"].ids[int(np.min(hits))]) if len(hits) else None

    def unit_at(self, unit_type: str, lon: float, lat: float) -> str | None:
        """The unit of a type holding a point (cells by riskmap's H3 convention)."""
        if unit_type == "ward":
            return self.ward_at(lon, lat)
        if unit_type == "group":
            return self.group_at(lon, lat)
        if unit_type in H3_RES:
            return format(h3cells.cell_of(lat, lon, H3_RES[unit_type]), "x")
        if unit_type == "city":
            return str(self.gazetteer.city["unit_id"]) if self.ward_at(lon, lat) else None
        raise KeyError(unit_type)

    def units_at(self, unit_type: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The unit of a type holding each point (None outside), vectorised for batches."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        out = np.full(len(lon), None, dtype=object)
        if not len(lon):
            return out
        if unit_type in ("ward", "city"):
            k = self._locator.assign(lon, lat)
            if unit_type == "city":
                out[k >= 0] = str(self.gazetteer.city["unit_id"])
            else:
                out[k >= 0] = self._locator.ward_ids[k[k >= 0]]
            return out
        if unit_type == "group":
            if self._group_tree is None:
                return out
            pts, hit = self._group_tree.query(shapely.points(lon, lat), predicate="intersects")
            first = np.unique(pts, return_index=True)[1]
            out[pts[first]] = self.units["group"].ids[hit[first]]
            return out
        if unit_type in H3_RES:
            return h3cells.to_hex(h3cells.cells(lat, lon, H3_RES[unit_type]))
        raise KeyError(unit_type)

    def households_of(self, unit_type: str, unit_id: str) -> int | None:
        u = self.units.get(unit_type)
        if u is None:
            return None
        i = u.pos.get(unit_id)
        return None if i is None else int(u.households[i])


def map_fingerprint(store: Store) -> tuple[Any, ...]:
    """Changes whenever `map_units` is rebuilt (its size and the households it was built from)."""
    city = store.read_table("map_units", columns=["households"], filters=[("unit_type", "=", "city")])
    return (store.count("map_units"), int(city["households"].sum()) if len(city) else -1)


class HouseholdPoints:
    """Households' positions and units, for household tiles and nearest-household lookups.

    Kept sorted by Mercator x: a box query is a binary search on x and a vectorised test on y (no
    per-point geometry objects for millions of households).
    """

    def __init__(self, frame: pd.DataFrame, count: int) -> None:
        frame = frame[frame["lon"].notna() & frame["lat"].notna()]
        self.count = count
        lon = frame["lon"].to_numpy(dtype=np.float64)
        lat = frame["lat"].to_numpy(dtype=np.float64)
        x, y = to_mercator(lon, lat)
        order = np.argsort(x, kind="stable")
        self.ids = frame["household_id"].to_numpy(dtype=np.int64)[order]
        self.lon, self.lat, self.x, self.y = lon[order], lat[order], x[order], y[order]
        self.ward_ids = pd.Categorical(frame["ward_id"].to_numpy(dtype=object)[order])
        self.group_ids = pd.Categorical(frame["group_id"].to_numpy(dtype=object)[order])
        self._by_id = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._by_id]

    @classmethod
    def load(cls, store: Store) -> HouseholdPoints:
        frame = store.read_table("households", columns=["household_id", "ward_id", "group_id", "lon", "lat"])
        return cls(frame, store.count("households"))

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, household_ids: np.ndarray) -> np.ndarray:
        """Positions of ids in this index (-1 where absent)."""
        ids = np.asarray(household_ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        i = np.clip(np.searchsorted(self._sorted_ids, ids), 0, len(self.ids) - 1)
        return np.where(self._sorted_ids[i] == ids, self._by_id[i], -1)

    def in_box(self, minx: float, miny: float, maxx: float, maxy: float) -> np.ndarray:
        """Positions of households inside a Mercator box, sorted."""
        lo = np.searchsorted(self.x, minx, side="left")
        hi = np.searchsorted(self.x, maxx, side="right")
        ys = self.y[lo:hi]
        return np.nonzero((ys >= miny) & (ys <= maxy))[0] + lo

    def in_tile(self, z: int, x: int, y: int, buffer: int = BUFFER) -> np.ndarray:
        """Positions of households in a tile plus its buffer, sorted."""
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        margin = (maxx - minx) * buffer / EXTENT
        return self.in_box(minx - margin, miny - margin, maxx + margin, maxy + margin)

    def near(self, lon: float, lat: float, radius_m: float, limit: int) -> np.ndarray:
        """Positions of the households within radius_m of a point, nearest first (at most limit)."""
        mx, my = (float(v) for v in to_mercator(lon, lat))
        r = radius_m / np.cos(np.radians(lat))  # Mercator metres per ground metre grow with latitude
        hits = self.in_box(mx - r, my - r, mx + r, my + r)
        d = np.hypot(self.x[hits] - mx, self.y[hits] - my)
        keep = d <= r
        hits, d = hits[keep], d[keep]
        return hits[np.argsort(d, kind="stable")[:limit]]

    def in_scope(self, positions: np.ndarray, scope: set[str] | None) -> np.ndarray:
        """Mask of positions whose ward or group is in a caller's view scope (None: everything)."""
        if scope is None:
            return np.ones(len(positions), dtype=bool)
        keys = list(scope)
        wards = pd.Index(np.asarray(self.ward_ids[positions], dtype=object))
        groups = pd.Index(np.asarray(self.group_ids[positions], dtype=object))
        return np.asarray(wards.isin(keys) | groups.isin(keys), dtype=bool)
