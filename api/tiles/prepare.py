"""The polygons the map draws (`map_units`): wards, neighbourhood groups, H3 cells 8–10, the city.

Derived from the store's own tables (the 2025 gazetteer's wards, `groups`, the H3 cells of `households`)
with the number of households in each unit, which serving-side privacy needs (`api.privacy`). Both tile
backends and the GeoJSON read these rows, so they draw the same shapes. Rows are written grouped by
unit type and, within a type, along a Hilbert curve over the centroids: neighbours on the map are
neighbours on disk, so a PostGIS tile reads few pages.

The city row's `households` is the number of households the table was built from: when the store's
households (or groups) change, `stale` says so and `ensure_map_units` rebuilds (the API does it by
itself when `RISKMAP_API_AUTO_PREPARE` is on; `riskmap tiles prepare` does it by hand).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import h3cells
from geo.gazetteer import Gazetteer, load_gazetteer
from risk.store import Store

log = logging.getLogger("riskmap.tiles")

H3_TYPES = {8: "h3_8", 9: "h3_9", 10: "h3_10"}
UNIT_TYPES = ("city", "ward", "group", *H3_TYPES.values())
# Generalised outlines of wards and groups: detail d serves zooms up to d, simplified (as a coverage: no
# gaps, no overlaps) by one screen pixel of a 256-px tile at zoom d; zoom 16 on draws the full outline. At
# zoom 12 a neighbourhood group is a few pixels wide: its full outline (a hundred vertices and more, the
# union of its households' Voronoi cells) would only cost time and bytes.
DETAILS = {d: 2 * 20037508.342789244 / (256 << d) for d in (9, 11, 13, 15)}
GENERALISED = ("ward", "group")


@dataclass(frozen=True)
class PrepareCounts:
    wards: int
    groups: int
    cells: dict[str, int]
    households: int

    def summary(self) -> str:
        cells = ", ".join(f"{n} {t}" for t, n in self.cells.items())
        return f"map units: {self.wards} wards, {self.groups} groups, {cells} (from {self.households} households)"


def hilbert_order(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Positions sorting points along a Hilbert curve over their bounding box (vectorised)."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    n = 1 << bits

    def scale(v: np.ndarray) -> np.ndarray:
        lo, hi = np.nanmin(v), np.nanmax(v)
        span = hi - lo if hi > lo else 1.0
        return np.clip(((v - lo) / span * (n - 1)).astype(np.int64), 0, n - 1)

    xi, yi = scale(np.asarray(x, float)), scale(np.asarray(y, float))
    d = np.zeros(len(xi), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = ((xi & s) > 0).astype(np.int64)
        ry = ((yi & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), s - 1 - xi, xi)
        swap_y = np.where(flip & (rx == 1), s - 1 - yi, yi)
        xi, yi = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return np.argsort(d, kind="stable")


def _spatially(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if len(frame) < 2:
        return frame
    c = shapely.centroid(np.asarray(frame.geometry.values, dtype=object))
    order = hilbert_order(shapely.get_x(c), shapely.get_y(c))
    return frame.iloc[order]


def build_map_units(
    store: Store, gazetteer: Gazetteer | None = None
) -> tuple[gpd.GeoDataFrame, PrepareCounts]:
    """Rows of `map_units` from the store's wards, groups and households (nothing written)."""
    gaz = gazetteer or load_gazetteer()
    hh = store.read_table(
        "households", columns=["household_id", "ward_id", "group_id", *(f"h3_{r}" for r in H3_TYPES)]
    )
    parts: list[gpd.GeoDataFrame] = []
    wards = gaz.wards
    per_ward = hh["ward_id"].value_counts()
    city = gaz.city
    city_geom = city.geometry if city.geometry is not None else shapely.union_all(wards.geometry.values)
    parts.append(
        _frame("city", [city["unit_id"]], [None], [None], [city["full_name"]], [len(hh)], [city_geom])
    )
    parts.append(
        _frame(
            "ward",
            wards["unit_id"].to_numpy(),
            wards["parent_id"].to_numpy(),
            wards["unit_id"].to_numpy(),
            wards["full_name"].to_numpy(),
            per_ward.reindex(wards["unit_id"]).fillna(0).to_numpy(dtype=np.int64),
            wards.geometry.values,
        )
    )
    groups = store.read_table("groups", columns=["group_id", "ward_id", "name", "geometry"])
    groups = groups[groups.geometry.notna() & ~groups.geometry.is_empty]
    per_group = hh["group_id"].value_counts()
    parts.append(
        _frame(
            "group",
            groups["group_id"].to_numpy(),
            groups["ward_id"].to_numpy(),
            groups["ward_id"].to_numpy(),
            groups["name"].to_numpy(),
            per_group.reindex(groups["group_id"]).fillna(0).to_numpy(dtype=np.int64),
            groups.geometry.values,
        )
    )
    cells: dict[str, int] = {}
    for res, unit_type in H3_TYPES.items():
        col = hh[f"h3_{res}"]
        known = hh[col.notna()]
        if known.empty:
            cells[unit_type] = 0
            continue
        ids = known[f"h3_{res}"].to_numpy(dtype=np.uint64)
        # the ward most of a cell's households live in (cells straddle ward boundaries)
        pairs = pd.DataFrame({"cell": ids, "ward": known["ward_id"].to_numpy()})
        counts = pairs.groupby(["cell", "ward"], dropna=False).size().rename("n").reset_index()
        main = counts.sort_values(["cell", "n"], ascending=[True, False]).drop_duplicates("cell")
        per_cell = counts.groupby("cell")["n"].sum()
        uniq = main["cell"].to_numpy(dtype=np.uint64)
        parents = h3cells.parents(uniq, res - 1)
        parts.append(
            _frame(
                unit_type,
                h3cells.to_hex(uniq),
                h3cells.to_hex(parents),
                main["ward"].to_numpy(),
                np.full(len(uniq), None, dtype=object),
                per_cell.reindex(uniq).to_numpy(dtype=np.int64),
                h3cells.polygons(uniq),
            )
        )
        cells[unit_type] = len(uniq)
    parts += [g for p in parts if p["unit_type"].iloc[0] in GENERALISED for g in _generalised(p)]
    frame = pd.concat([_spatially(p) for p in parts if len(p)], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return frame, PrepareCounts(len(wards), len(groups), cells, len(hh))


def _generalised(full: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Rows of one unit type simplified for each low-zoom detail (units that vanish are left out)."""
    out = []
    geoms = np.asarray(full.geometry.values, dtype=object)
    for detail, metres in DETAILS.items():
        tol = metres / 111_320  # degrees; at HCMC's latitude a degree of longitude is a little shorter: finer
        try:
            simple = shapely.coverage_simplify(geoms, tol)
        except shapely.errors.GEOSException:  # not a clean coverage: one by one
            simple = shapely.simplify(geoms, tol, preserve_topology=True)
        simple = shapely.make_valid(simple)
        polygonal = np.isin(shapely.get_type_id(simple), (3, 6)) & ~shapely.is_empty(simple)
        part = full[polygonal].copy()
        part["detail"] = np.int8(detail)
        part = part.set_geometry(simple[polygonal])
        out.append(part)
    return out


def _frame(
    unit_type: str,
    ids: object,
    parents: object,
    wards: object,
    names: object,
    households: object,
    geoms: object,
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "unit_type": unit_type,
            "unit_id": np.asarray(ids, dtype=object),
            "parent_id": np.asarray(parents, dtype=object),
            "ward_id": np.asarray(wards, dtype=object),
            "name": np.asarray(names, dtype=object),
            "households": np.asarray(households, dtype=np.int32),
            "detail": np.int8(0),
        },
        geometry=np.asarray(geoms, dtype=object),
        crs="EPSG:4326",
    )


def stale(store: Store) -> str | None:
    """Why `map_units` no longer matches the store (None when it does)."""
    city = store.read_table("map_units", columns=["households"], filters=[("unit_type", "=", "city")])
    if city.empty:
        return "map_units is empty"
    households = store.count("households")
    if int(city["households"].iloc[0]) != households:
        return f"built from {int(city['households'].iloc[0])} households, the store now has {households}"
    groups = store.count("groups")
    drawn = store.count("map_units", filters=[("unit_type", "=", "group"), ("detail", "=", 0)])
    if drawn > groups:
        return f"{drawn} groups drawn, the store now has {groups}"
    return None


def prepare_map_units(store: Store, gazetteer: Gazetteer | None = None) -> PrepareCounts:
    """Build and write `map_units` (replacing what was there)."""
    with store_lock(store, "map_units"):
        frame, counts = build_map_units(store, gazetteer)
        store.write_tables({"map_units": frame}, mode="replace")
    log.info(counts.summary())
    return counts


def ensure_map_units(store: Store, gazetteer: Gazetteer | None = None) -> PrepareCounts | None:
    """Rebuild `map_units` if it is stale; one process at a time (API workers start together)."""
    if stale(store) is None:
        return None
    with store_lock(store, "map_units"):
        why = stale(store)  # another worker may have done it while we waited
        if why is None:
            return None
        log.info("rebuilding the map's polygons: %s", why)
        frame, counts = build_map_units(store, gazetteer)
        store.write_tables({"map_units": frame}, mode="replace")
        log.info(counts.summary())
        return counts


def store_lock(store: Store, name: str):  # type: ignore[no-untyped-def]
    """The store's named lock across processes (both backends offer `lock`)."""
    return store.lock(name)  # type: ignore[attr-defined]
