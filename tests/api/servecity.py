"""A small city for the serving tests: five real wards around Phường Sài Gòn, households, neighbourhood
groups, a few registry addresses, and snapshots with every unit type the API serves.

Built in about a second, the same on both backends. Levels are drawn from a seeded generator (serving
does not care how they were scored); three full snapshots a week apart give history, and `write_delta`
makes an incremental update as the scoring engineer's code will (`parent_id` + `stats["delta"]`, only
the changed rows).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.tiles.prepare import prepare_map_units
from geo.gazetteer import load_gazetteer
from geo.geocode import prepare_registry
from geo.h3wards import WardLocator, point_cells
from risk.store import SnapshotInfo, Store

SAI_GON = "hcmc-2025:26740"
POINT = (106.70, 10.776)  # lon, lat in Phường Sài Gòn
DAYS = (dt.date(2021, 10, 10), dt.date(2021, 10, 17), dt.date(2021, 10, 24))
H3_TYPES = ("h3_8", "h3_9", "h3_10")


@dataclass
class ServeCity:
    wards: list[str]
    households: pd.DataFrame
    groups: gpd.GeoDataFrame
    snapshots: list[int] = field(default_factory=list)
    levels: dict[int, pd.DataFrame] = field(default_factory=dict)
    household_levels: dict[int, pd.DataFrame] = field(default_factory=dict)
    dense: tuple[float, float] = (0.0, 0.0)  # lon, lat of a dense block (cells above k)

    def level(self, snapshot_id: int, unit_type: str, unit_id: str) -> int:
        lv = self.levels[snapshot_id]
        row = lv[(lv["unit_type"] == unit_type) & (lv["unit_id"] == unit_id)]
        return int(row["level"].iloc[0])


def _wards() -> list[str]:
    gaz = load_gazetteer()
    wards = gaz.wards
    home = wards.loc[SAI_GON].geometry
    near = wards[wards.geometry.intersects(home.buffer(0.001))].index.tolist()
    return [SAI_GON, *sorted(u for u in near if u != SAI_GON)[:4]]


def _points_in(geoms: list, n: int, rng: np.random.Generator) -> np.ndarray:
    union = shapely.union_all(geoms)
    minx, miny, maxx, maxy = union.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = np.column_stack([rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)])
        out = np.vstack([out, xy[shapely.contains_xy(union, xy[:, 0], xy[:, 1])]])
    return out[:n]


def build(store: Store, n: int = 2500, seed: int = 7) -> ServeCity:
    """Write households, groups, address points and map units; no snapshot yet (see `write_snapshots`)."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    ward_ids = _wards()
    wards = gaz.wards.loc[ward_ids]
    xy = _points_in(list(wards.geometry), n, rng)
    dense = np.array(POINT) + rng.normal(0, 0.0006, size=(400, 2))  # a dense block in Sài Gòn
    xy = np.vstack([xy, dense])
    loc = WardLocator(wards.reset_index(drop=True))
    k = loc.assign(xy[:, 0], xy[:, 1])
    xy, k = xy[k >= 0], k[k >= 0]
    ward_of = np.asarray(ward_ids, dtype=object)[k]
    # groups: each ward cut into a 3 × 3 grid (clipped); tiles the ward like the generator's groups
    groups = []
    for uid, geom in zip(wards.index, wards.geometry, strict=True):
        minx, miny, maxx, maxy = geom.bounds
        xs, ys = np.linspace(minx, maxx, 4), np.linspace(miny, maxy, 4)
        for i in range(3):
            for j in range(3):
                part = geom.intersection(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
                if part.area > 0:
                    code = uid.split(":")[1]
                    groups.append(
                        {
                            "group_id": f"{code}-T{i * 3 + j + 1:02d}",
                            "ward_id": uid,
                            "name": f"Tổ {i * 3 + j + 1}",
                            "geometry": part,
                        }
                    )
    gdf = gpd.GeoDataFrame(groups, geometry="geometry", crs="EPSG:4326")
    gdf["parent_group_id"] = None
    gdf["kind"] = "to_dan_pho"
    hits = gdf.sindex.query(shapely.points(xy[:, 0], xy[:, 1]), predicate="intersects")
    first = np.unique(hits[0], return_index=True)[1]
    group_of = np.full(len(xy), None, dtype=object)
    group_of[hits[0][first]] = gdf["group_id"].to_numpy()[hits[1][first]]
    counts = pd.Series(group_of).value_counts()
    gdf["households"] = gdf["group_id"].map(counts).fillna(0).astype("int32")
    cells = point_cells(xy[:, 0], xy[:, 1])
    hh = pd.DataFrame(
        {
            "household_id": np.arange(1, len(xy) + 1, dtype=np.int64) * 7 + 1000,
            "household_ref": [f"HK-{i:06d}" for i in range(len(xy))],
            "point_id": np.arange(len(xy), dtype=np.int64),
            "ward_id": ward_of,
            "group_id": group_of,
            "address": [f"{i} Đường Thử, {w}" for i, w in enumerate(ward_of)],
            "head_person_id": np.arange(len(xy), dtype=np.int64),
            "size": rng.integers(1, 7, len(xy)).astype(np.int16),
            "lon": xy[:, 0],
            "lat": xy[:, 1],
        }
    )
    hh = pd.concat([hh, cells], axis=1)
    registry = prepare_registry(
        pd.DataFrame(
            {
                "point_id": [900001, 900002],
                "ward_code": ["26740", "26740"],
                "group_id": ["26740-T05", "26740-T05"],
                "khu_pho": ["Khu phố 1", "Khu phố 1"],
                "house_number": ["12", "14"],
                "alley": ["", ""],
                "street": ["Đường Lê Lợi", "Đường Lê Lợi"],
                "address": ["12 Đường Lê Lợi, Phường Sài Gòn", "14 Đường Lê Lợi, Phường Sài Gòn"],
                "lon": [POINT[0], POINT[0] + 0.0002],
                "lat": [POINT[1], POINT[1]],
                "old_ward_code": ["26740", "26740"],
            }
        )
    )
    store.write_tables({"households": hh, "groups": gdf, "address_points": registry}, mode="replace")
    prepare_map_units(store)
    return ServeCity(ward_ids, hh, gdf, dense=POINT)


def _levels(city: ServeCity, rng: np.random.Generator) -> pd.DataFrame:
    gaz = load_gazetteer()
    rows = []
    units: list[tuple[str, list[str], list[str | None], list[str | None]]] = [
        ("city", [gaz.city["unit_id"]], [None], [gaz.city["full_name"]]),
        (
            "ward",
            city.wards,
            ["hcmc-2025:79"] * len(city.wards),
            [gaz.units.at[w, "full_name"] for w in city.wards],
        ),
        (
            "group",
            city.groups["group_id"].tolist(),
            city.groups["ward_id"].tolist(),
            city.groups["name"].tolist(),
        ),
    ]
    for t in H3_TYPES:
        ids = sorted({format(int(c), "x") for c in city.households[t]})
        units.append((t, ids, [None] * len(ids), [None] * len(ids)))
    for unit_type, ids, parents, names in units:
        level = rng.integers(0, 5, len(ids)).astype(np.int8)
        if unit_type in ("city", "ward"):
            level = rng.integers(1, 5, len(ids)).astype(np.int8)
        hot = rng.random(len(ids)) < 0.3 if unit_type.startswith("h3_") else np.zeros(len(ids), bool)
        pending = np.where(rng.random(len(ids)) < 0.2, np.minimum(level + 1, 4), -1)
        rows.append(
            pd.DataFrame(
                {
                    "unit_type": unit_type,
                    "unit_id": ids,
                    "parent_id": parents,
                    "name": names,
                    "level": level,
                    "profile": "moh-4800",
                    "profile_version": "2021-10-12.1",
                    "population": rng.integers(0, 50000, len(ids)),
                    "metrics": [
                        json.dumps(
                            {
                                "community_cases_per_100k_7d": round(float(v), 1),
                                **({"hotspot": True} if h else {}),
                            }
                        )
                        for v, h in zip(rng.uniform(0, 300, len(ids)), hot, strict=True)
                    ],
                    "reasons": [
                        json.dumps(
                            [
                                {
                                    "step": "C1",
                                    "metric": "community_cases_per_100k_7d",
                                    "value": 60.0,
                                    "effect": int(lv),
                                    "applied": True,
                                }
                            ]
                        )
                        for lv in level
                    ],
                    "pending_level": pd.Series(np.where(pending > 0, pending, 0), dtype="Int8").where(
                        pending > 0
                    ),
                    "pending_effective_at": pd.Timestamp("2021-10-27", tz="UTC"),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _household_levels(city: ServeCity, rng: np.random.Generator) -> pd.DataFrame:
    hh = city.households
    level = rng.integers(1, 5, len(hh)).astype(np.int8)
    return pd.DataFrame(
        {
            "household_id": hh["household_id"],
            "ward_id": hh["ward_id"],
            "group_id": hh["group_id"],
            "level": level,
            "members": np.full(len(hh), 3, dtype=np.int16),
            "flag_f0": level == 4,
            "flag_elderly_unvaccinated": level == 4,
            "reasons": np.where(level == 4, 1, 0),
        }
    )


def write_snapshots(store: Store, city: ServeCity, seed: int = 11) -> ServeCity:
    """Three full snapshots a week apart; the last is published."""
    rng = np.random.default_rng(seed)
    parent = None
    for day in DAYS:
        levels, households = _levels(city, rng), _household_levels(city, rng)
        info = store.write_snapshot(
            SnapshotInfo(
                as_of=dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC),
                profile="moh-4800",
                profile_version="2021-10-12.1",
                input_watermark=0,
                parent_id=parent,
            ),
            {"levels": levels, "household_levels": households},
        )
        sid = int(info.snapshot_id)  # type: ignore[arg-type]
        city.snapshots.append(sid)
        city.levels[sid] = levels
        city.household_levels[sid] = households
        parent = sid
    store.publish_snapshot(city.snapshots[-1])
    return city


def write_delta(
    store: Store,
    city: ServeCity,
    parent: int,
    units: dict[tuple[str, str], int],
    households: dict[int, int] | None = None,
    publish: bool = True,
) -> int:
    """An incremental update: only the given units' (and households') levels change."""
    base = city.levels[parent]
    rows = []
    for (unit_type, unit_id), level in units.items():
        row = base[(base["unit_type"] == unit_type) & (base["unit_id"] == unit_id)].copy()
        row["level"] = np.int8(level)
        rows.append(row)
    levels = pd.concat(rows, ignore_index=True)
    tables: dict[str, pd.DataFrame] = {"levels": levels}
    hl_base = city.household_levels[parent]
    if households:
        hl = hl_base[hl_base["household_id"].isin(list(households))].copy()
        hl["level"] = hl["household_id"].map(households).astype(np.int8)
        tables["household_levels"] = hl
    parent_info = store.get_snapshot(parent)
    info = store.write_snapshot(
        SnapshotInfo(
            as_of=parent_info.as_of + dt.timedelta(hours=1),
            profile="moh-4800",
            profile_version="2021-10-12.1",
            input_watermark=0,
            parent_id=parent,
            stats={"delta": True},
        ),
        tables,
    )
    sid = int(info.snapshot_id)  # type: ignore[arg-type]
    merged = pd.concat(
        [base[~base.set_index(["unit_type", "unit_id"]).index.isin(list(units))], levels], ignore_index=True
    )
    city.levels[sid] = merged
    new_hl = hl_base.copy()
    if households:
        new_hl.loc[new_hl["household_id"].isin(list(households)), "level"] = new_hl["household_id"].map(
            households
        )
    city.household_levels[sid] = new_hl
    if publish:
        store.publish_snapshot(sid)
    return sid
