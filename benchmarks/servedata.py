"""Load a generated city into a store for the serving benchmark: households, groups, a snapshot, map units.

The serving benchmark measures serving, not scoring: its snapshot is made here from the generator's truth
(cases of the last 7 days per household, neighbourhood group, ward and H3 cell; household levels from
cases in the household and its group), with every unit type the API serves. Households are written in
Hilbert order of their coordinates (as `riskmap tiles prepare --cluster` leaves them), so tiles read few
pages. Also creates the views tipg serves (the same rows and levels) in schema `tipg_bench`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from api.tiles.prepare import hilbert_order, prepare_map_units
from geo.gazetteer import load_gazetteer, unit_id
from geo.h3wards import point_cells
from risk.store import SnapshotInfo, Store

AS_OF = dt.date(2021, 8, 20)
H3_TYPES = {"h3_8": "h3_8", "h3_9": "h3_9", "h3_10": "h3_10"}


def households_frame(city: Path, version: str = "hcmc-2025") -> pd.DataFrame:
    hh = pd.read_parquet(
        city / "truth" / "households.parquet",
        columns=[
            "household_id",
            "household_ref",
            "point_id",
            "ward_code",
            "group_id",
            "head_person_id",
            "size",
        ],
    )
    pts = pd.read_parquet(
        city / "reference" / "address_points.parquet", columns=["point_id", "lon", "lat", "address"]
    )
    hh = hh.merge(pts, on="point_id", how="left")
    cells = point_cells(hh["lon"].to_numpy(), hh["lat"].to_numpy())
    out = pd.DataFrame(
        {
            "household_id": hh["household_id"].astype(np.int64),
            "household_ref": hh["household_ref"],
            "point_id": hh["point_id"].astype(np.int64),
            "ward_id": [unit_id(version, c) for c in hh["ward_code"]],
            "group_id": hh["group_id"],
            "address": hh["address"],
            "head_person_id": hh["head_person_id"].astype(np.int64),
            "size": hh["size"].astype(np.int16),
            "lon": hh["lon"],
            "lat": hh["lat"],
        }
    )
    out = pd.concat([out, cells], axis=1)
    return out.iloc[hilbert_order(out["lon"].to_numpy(), out["lat"].to_numpy())].reset_index(drop=True)


def groups_frame(city: Path, version: str = "hcmc-2025") -> gpd.GeoDataFrame:
    g = pd.read_parquet(city / "reference" / "groups.parquet")
    geoms = gpd.GeoSeries.from_wkb(g["geometry"]) if not isinstance(g, gpd.GeoDataFrame) else g.geometry
    return gpd.GeoDataFrame(
        {
            "group_id": g["group_id"],
            "ward_id": [unit_id(version, c) for c in g["ward_code"]],
            "parent_group_id": None,
            "name": g["name"],
            "kind": g["kind"],
            "households": g["households"].astype("int32"),
        },
        geometry=geoms.values,
        crs="EPSG:4326",
    )


def _level(rate: np.ndarray) -> np.ndarray:
    """Cases per 1,000 households in 7 days → level 1–4 (a benchmark's stand-in for a profile)."""
    return (np.searchsorted([0.5, 2.0, 5.0], rate, side="right") + 1).astype(np.int8)


def snapshot_tables(
    city: Path, hh: pd.DataFrame, groups: pd.DataFrame, as_of: dt.date = AS_OF
) -> dict[str, pd.DataFrame]:
    cases = pd.read_parquet(
        city / "truth" / "cases.parquet", columns=["person_id", "report_date", "found_in"]
    )
    day = pd.Timestamp(as_of)
    cases["report_date"] = pd.to_datetime(cases["report_date"])
    recent = cases[(cases["report_date"] > day - pd.Timedelta(days=14)) & (cases["report_date"] <= day)]
    persons = pd.read_parquet(city / "truth" / "persons.parquet", columns=["person_id", "household_id"])
    recent = recent.merge(persons, on="person_id", how="inner")
    week = recent[recent["report_date"] > day - pd.Timedelta(days=7)]
    per_hh_week = week.groupby("household_id").size()
    per_hh_14 = recent.groupby("household_id").size()
    hh = hh.assign(cases=hh["household_id"].map(per_hh_week).fillna(0).astype(np.int64))
    gaz = load_gazetteer()
    rows = []
    names = {**gaz.units["full_name"].to_dict(), **dict(zip(groups["group_id"], groups["name"], strict=True))}
    for unit_type, col in (
        ("city", None),
        ("ward", "ward_id"),
        ("group", "group_id"),
        *((t, t) for t in H3_TYPES),
    ):
        if col is None:
            agg = pd.DataFrame(
                {"households": [len(hh)], "cases": [int(hh["cases"].sum())]}, index=[gaz.city["unit_id"]]
            )
        else:
            agg = hh.groupby(col).agg(households=("household_id", "size"), cases=("cases", "sum"))
        ids = agg.index.to_numpy()
        if unit_type.startswith("h3_"):
            ids = np.array([format(int(c), "x") for c in ids], dtype=object)
        rate = agg["cases"].to_numpy() / np.maximum(agg["households"].to_numpy(), 1) * 1000
        level = _level(rate)
        hot = unit_type.startswith("h3_") & (level == 4)
        metrics = [
            json.dumps(
                {
                    "households": int(n),
                    "community_cases_7d": int(c),
                    "cases_per_1000_households_7d": round(float(r), 3),
                    **({"hotspot": True} if h else {}),
                }
            )
            for n, c, r, h in zip(
                agg["households"], agg["cases"], rate, np.broadcast_to(hot, len(rate)), strict=True
            )
        ]
        reasons = [
            json.dumps(
                [
                    {
                        "step": "C1",
                        "metric": "community_cases_per_100k_7d",
                        "value": round(float(r) * 100 / 3.46, 3),
                        "effect": int(lv),
                        "applied": True,
                    }
                ]
            )
            for r, lv in zip(rate, level, strict=True)
        ]
        parents = {"ward": gaz.units["parent_id"].to_dict()}.get(unit_type, {})
        rows.append(
            pd.DataFrame(
                {
                    "unit_type": unit_type,
                    "unit_id": ids,
                    "parent_id": [parents.get(u) for u in ids],
                    "name": [names.get(u) for u in ids],
                    "level": level,
                    "profile": "moh-4800",
                    "profile_version": "benchmark",
                    "population": (agg["households"].to_numpy() * 3.46).astype(np.int64),
                    "metrics": metrics,
                    "reasons": reasons,
                }
            )
        )
    levels = pd.concat(rows, ignore_index=True)
    group_level = levels[levels["unit_type"] == "group"].set_index("unit_id")["level"]
    f0 = hh["household_id"].isin(per_hh_14.index).to_numpy()
    hl = np.where(
        f0, 4, np.clip(hh["group_id"].map(group_level).fillna(1).astype(np.int64).to_numpy() - 1, 1, 4)
    ).astype(np.int8)
    household_levels = pd.DataFrame(
        {
            "household_id": hh["household_id"],
            "ward_id": hh["ward_id"],
            "group_id": hh["group_id"],
            "level": hl,
            "reasons": np.zeros(len(hh), dtype=np.int64),  # a bit mask of the household profile's steps
            "flag_f0": f0,
        }
    )
    return {"levels": levels, "household_levels": household_levels}


TIPG_VIEWS = {
    "wards": "ward",
    "groups": "group",
    "h3_8": "h3_8",
    "h3_9": "h3_9",
    "h3_10": "h3_10",
}


def tipg_views(store: Store, snapshot_id: int, schema: str = "tipg_bench") -> None:
    """Views tipg serves: the same rows and levels riskmap's layers draw (what a team using tipg would serve)."""
    with store.connection() as conn:  # type: ignore[attr-defined]
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        src = store.schema  # type: ignore[attr-defined]
        for view, unit_type in TIPG_VIEWS.items():
            conn.execute(
                f"CREATE VIEW {schema}.{view} AS SELECT u.unit_id, u.name, l.level, l.pending_level, u.households, u.geom_3857"
                f" FROM {src}.map_units u LEFT JOIN {src}.levels l ON l.snapshot_id = {snapshot_id}"
                f" AND l.unit_type = '{unit_type}' AND l.unit_id = u.unit_id WHERE u.unit_type = '{unit_type}' AND u.detail = 0"
            )
        conn.execute(
            f"CREATE VIEW {schema}.households AS SELECT h.household_id, l.level,"
            " CASE WHEN l.flag_f0 THEN 'f0' END AS flags, h.geom_3857"
            f" FROM {src}.households h LEFT JOIN {src}.household_levels l ON l.snapshot_id = {snapshot_id}"
            " AND l.household_id = h.household_id"
        )


def load(store: Store, city: Path, log=print) -> int:  # type: ignore[no-untyped-def]
    """Load the city into the store; return the published snapshot's id."""
    t = time.perf_counter()
    store.migrate()
    hh = households_frame(city)
    groups = groups_frame(city)
    log(f"frames: {len(hh)} households, {len(groups)} groups ({time.perf_counter() - t:.0f} s)")
    store.write_tables({"households": hh, "groups": groups}, mode="replace")
    log(f"written ({time.perf_counter() - t:.0f} s)")
    counts = prepare_map_units(store)
    log(f"{counts.summary()} ({time.perf_counter() - t:.0f} s)")
    tables = snapshot_tables(city, hh, groups)
    info = store.write_snapshot(
        SnapshotInfo(
            as_of=dt.datetime.combine(AS_OF, dt.time(23, 59, 59), tzinfo=dt.UTC),
            profile="moh-4800",
            profile_version="benchmark",
            input_watermark=0,
            stats={"benchmark": True},
        ),
        tables,
    )
    store.publish_snapshot(int(info.snapshot_id))  # type: ignore[arg-type]
    log(
        f"snapshot {info.snapshot_id}: {len(tables['levels'])} unit levels, {len(tables['household_levels'])} households ({time.perf_counter() - t:.0f} s)"
    )
    with store.connection() as conn:  # type: ignore[attr-defined]
        for table in ("households", "map_units", "groups"):
            conn.execute(f"ANALYZE {store.schema}.{table}")  # type: ignore[attr-defined]
        conn.execute(f"ANALYZE {store.schema}.levels")  # type: ignore[attr-defined]
        conn.execute(f"ANALYZE {store.schema}.household_levels")  # type: ignore[attr-defined]
    tipg_views(store, int(info.snapshot_id))  # type: ignore[arg-type]
    return int(info.snapshot_id)  # type: ignore[arg-type]
