"""Reference data into the store: admin geographies, crosswalks, and a city's address-point registry.

The address-point registry (the Vmap-like list of verified addresses) and neighbourhood groups come
from the city's own sources; in demos and tests from the synthetic city's `reference/` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.gazetteer import VERSIONS, all_crosswalks, load_gazetteer, unit_id
from geo.geocode import prepare_registry
from geo.groups import fill_group_outlines
from risk.store import Store


@dataclass(frozen=True)
class ReferenceCounts:
    admin_units: int
    crosswalk_rows: int
    address_points: int
    groups: int


def load_geographies(store: Store) -> tuple[int, int]:
    """Every shipped admin geography and crosswalk (replacing what the store held)."""
    units = pd.concat([load_gazetteer(v).to_table() for v in VERSIONS], ignore_index=True)
    units = gpd.GeoDataFrame(units, geometry="geometry", crs="EPSG:4326")
    cw = all_crosswalks()
    store.write_tables({"admin_units": units, "crosswalks": cw}, mode="replace")
    return len(units), len(cw)


def registry_points(city_dir: Path, version: str = "hcmc-2025") -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Address points and groups from a city folder (`reference/*.parquet`), in store layout."""
    ref = Path(city_dir) / "reference"
    pts_path, groups_path = ref / "address_points.parquet", ref / "groups.parquet"
    for p in (pts_path, groups_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: is {city_dir} a city folder made by `riskmap generate`?")
    points = prepare_registry(pd.read_parquet(pts_path))
    g = _read_groups(groups_path)
    members = points["group_id"].value_counts()
    households = g["households"] if "households" in g else g["group_id"].map(members).fillna(0)
    groups = gpd.GeoDataFrame(
        {
            "group_id": g["group_id"],
            "ward_id": [unit_id(version, c) for c in g["ward_code"]],
            "parent_group_id": None,
            "name": g["name"],
            "kind": g["kind"],
            "households": households.astype("int32"),
        },
        geometry=g.geometry.values,
        crs="EPSG:4326",
    )
    # a list of groups without boundaries (the usual case): outlines derived from member address points
    wards = load_gazetteer(version).wards.geometry
    return points, fill_group_outlines(groups, points, wards)


def _read_groups(path: Path) -> gpd.GeoDataFrame:
    """Groups with their boundaries (GeoParquet or WKB), or a plain list of them (no geometry column)."""
    import pyarrow.parquet as pq

    if "geometry" not in pq.read_schema(path).names:
        df = pd.read_parquet(path)
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df)), crs="EPSG:4326")
    return gpd.read_parquet(path) if _is_geoparquet(path) else _groups_from_wkb(path)


def _is_geoparquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    return b"geo" in (pq.read_schema(path).metadata or {})


def _groups_from_wkb(path: Path) -> gpd.GeoDataFrame:
    df = pd.read_parquet(path)
    return gpd.GeoDataFrame(
        df.drop(columns=["geometry"]), geometry=gpd.GeoSeries.from_wkb(df["geometry"]), crs="EPSG:4326"
    )


def load_reference(store: Store, city_dir: Path | None = None) -> ReferenceCounts:
    """Geographies and crosswalks; and, given a city folder, its address points and groups."""
    n_units, n_cw = load_geographies(store)
    n_pts = n_groups = 0
    if city_dir is not None:
        points, groups = registry_points(city_dir)
        store.write_tables({"address_points": points, "groups": groups}, mode="replace")
        n_pts, n_groups = len(points), len(groups)
    return ReferenceCounts(n_units, n_cw, n_pts, n_groups)
