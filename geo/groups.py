"""Neighbourhood group outlines (khu phố / ấp, tổ dân phố / tổ): taken when given, derived when not.

A city rarely has boundaries of its ~24,000 tổ dân phố; it does have lists (which household or address
belongs to which tổ). Given members, a group's outline is the union of the Voronoi cells of its address
points, clipped to the ward: the groups of a ward tile it with no overlaps and no gaps. Groups that come
with their own boundary keep it (`fill_group_outlines`).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

log = logging.getLogger("riskmap.geo.groups")


def group_polygons(
    lon: np.ndarray, lat: np.ndarray, group: np.ndarray, n_groups: int, ward: shapely.Geometry
) -> np.ndarray:
    """MultiPolygons (one per group 0..n_groups-1) tiling the ward: Voronoi cells of members, dissolved
    and clipped. Points must be distinct; every group needs at least one point."""
    if n_groups == 1 or len(lon) < 2:
        return _as_multi(np.array([ward] * max(n_groups, 1), dtype=object)[:n_groups])
    minx, miny, maxx, maxy = ward.bounds
    pad = max(maxx - minx, maxy - miny)
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.column_stack([lon, lat])), extend_to=env, ordered=True
        )
    )
    if len(cells) != len(lon):
        raise ValueError("Voronoi lost points: the points of a ward must be distinct")
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    slot = np.empty(len(lon), dtype=np.int64)
    slot[order] = _within(counts)
    grid = np.full((n_groups, int(counts.max())), None, dtype=object)
    grid[group, slot] = cells
    merged = shapely.coverage_union_all(grid, axis=1)
    shapely.prepare(ward)
    inside = shapely.contains_properly(ward, merged)
    clipped = merged.copy()
    if (~inside).any():
        clipped[~inside] = shapely.intersection(merged[~inside], ward)
    return _as_multi(clipped)


def derive_group_outlines(points: pd.DataFrame, wards: gpd.GeoSeries) -> gpd.GeoSeries:
    """Outlines of the groups that `points` (columns lon, lat, ward_id, group_id) belong to, ward by ward.

    `wards` is indexed by ward id. Points sharing a coordinate (flats of one building) count once, for
    the group most of them belong to; a group left with no point of its own gets no outline (None) and
    a warning, since the list alone cannot say where it lies.
    """
    pts = points.dropna(subset=["group_id", "ward_id", "lon", "lat"])
    missing = sorted(set(pts["ward_id"]) - set(wards.index))
    if missing:
        raise ValueError(f"group members in wards without a boundary: {missing[:5]}")
    out: dict[str, shapely.Geometry | None] = {}
    for ward_id, w in pts.groupby("ward_id", sort=True):  # per ward (hundreds), not per point
        distinct = (
            w.groupby(["lon", "lat", "group_id"], sort=False)
            .size()
            .rename("n")
            .reset_index()
            .sort_values("n", ascending=False, kind="stable")
            .drop_duplicates(["lon", "lat"])
        )
        codes, names = pd.factorize(distinct["group_id"], sort=True)
        polys = group_polygons(
            distinct["lon"].to_numpy(float),
            distinct["lat"].to_numpy(float),
            codes,
            len(names),
            wards.loc[ward_id],
        )
        out.update(zip(names, polys, strict=True))
        lost = sorted(set(w["group_id"]) - set(names))
        if lost:
            log.warning("ward %s: groups %s share every point with other groups: no outline", ward_id, lost)
            out.update(dict.fromkeys(lost))
    return gpd.GeoSeries(pd.Series(out, dtype=object), crs="EPSG:4326")


def fill_group_outlines(
    groups: gpd.GeoDataFrame, points: pd.DataFrame, wards: gpd.GeoSeries
) -> gpd.GeoDataFrame:
    """Groups as given, with the outlines of those that came without one derived from their members."""
    need = groups.geometry.isna() | groups.geometry.is_empty
    if not need.any():
        return groups
    members = points[points["group_id"].isin(groups.loc[need, "group_id"])]
    derived = derive_group_outlines(members, wards)
    out = groups.copy()
    out.loc[need, out.geometry.name] = derived.reindex(out.loc[need, "group_id"]).to_numpy()
    log.info("derived the outlines of %d of %d groups from their members", int(need.sum()), len(groups))
    return out


def _within(counts: np.ndarray) -> np.ndarray:
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _as_multi(geoms: np.ndarray) -> np.ndarray:
    """Polygonal parts only (clipping can leave touching lines or points), one MultiPolygon each."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    if len(np.unique(owner[keep])) != len(geoms):
        raise ValueError("a neighbourhood group lost all its area when clipped to the ward")
    return shapely.multipolygons(parts[keep], indices=owner[keep])
