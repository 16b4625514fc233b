"""Households partitioned by province in PostGIS: a partition per province made on first write, the
provinces' boxes kept in the same transaction, a household tile that reads only the partitions it needs
(checked in the executed plan), bulk loads and CLUSTER on the partitioned table."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest

from risk.store import postgis
from risk.store.base import SnapshotInfo
from risk.store.postgis import PostgisStore
from risk.store.tilesql import TileQuery

# (province, lon, lat): Ho Chi Minh City, Hà Nội, Đà Nẵng; None: a household without a province
PLACES = [("79", 106.700, 10.776), ("01", 105.834, 21.028), ("48", 108.220, 16.068), (None, 106.701, 10.777)]
Z = 14


def tile_of(lon: float, lat: float, z: int = Z) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture
def pg(pg_dsn: str, pg_schema: str) -> Iterator[PostgisStore]:
    s = PostgisStore(pg_dsn, schema=pg_schema)
    s.migrate()
    yield s
    s.close()


def households(n_per: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i, (prov, lon, lat) in enumerate(PLACES):
        frames.append(
            pd.DataFrame(
                {
                    "household_id": np.arange(n_per, dtype=np.int64) + i * 1_000_000,
                    "ward_id": f"w{i}",
                    "lon": lon + rng.uniform(-0.002, 0.002, n_per),
                    "lat": lat + rng.uniform(-0.002, 0.002, n_per),
                    "province": prov,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def partitions(pg: PostgisStore) -> dict[str, int]:
    with pg.connection() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass",
                [f"{pg.schema}.households"],
            )
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{pg.schema}"."{n}"').fetchone()[0] for n in names}


def executed_scans(pg: PostgisStore, q: TileQuery) -> dict[str, int]:
    """Relations scanned by the tile statement when it runs, with their executed loops."""
    query, params = pg.tile_statement(q)
    with pg.connection() as conn:
        for name, value in postgis.TILE_SETTINGS.items():
            conn.execute(f"SET LOCAL {name} = '{value}'")
        text = conn.execute(postgis.sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + query, params).fetchone()[0]
    plan = text if isinstance(text, list) else json.loads(text)
    out: dict[str, int] = {}

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            out[node["Relation Name"]] = out.get(node["Relation Name"], 0) + int(node.get("Actual Loops", 0))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return out


def test_a_partition_per_province_and_a_tile_reads_only_its_own(pg: PostgisStore) -> None:
    hh = households(50)
    pg.write_tables({"households": hh})
    parts = partitions(pg)
    assert parts == {
        "households_default": 50,
        "households_p79": 50,
        "households_p01": 50,
        "households_p48": 50,
    }
    with pg.connection() as conn:
        boxes = dict(conn.execute("SELECT province, ST_AsText(ST_Envelope(extent)) FROM province_extents"))
    assert set(boxes) == {"79", "01", "48"}

    info = SnapshotInfo(as_of=dt.date(2021, 8, 1), profile="p", profile_version="1", input_watermark=0)
    levels = pd.DataFrame({"household_id": hh["household_id"], "level": np.int8(3)})
    sid = pg.write_snapshot(info, {"household_levels": levels}).snapshot_id

    x, y = tile_of(106.700, 10.776)
    q = TileQuery("households", "households", Z, x, y, (sid,))
    scans = executed_scans(pg, q)
    assert scans.get("households_p79", 0) >= 1
    assert scans.get("households_p01", 0) == 0 and scans.get("households_p48", 0) == 0, scans
    tile = mapbox_vector_tile.decode(pg.tile(q))
    # every household the tile meets, whatever its partition (those without a province sit beside HCMC's)
    with pg.connection() as conn:
        want = conn.execute(
            "SELECT count(*) FROM households WHERE geom_3857 && ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096)",
            [Z, x, y],
        ).fetchone()[0]
    assert len(tile["households"]["features"]) == want > 60
    assert {f["properties"]["level"] for f in tile["households"]["features"]} == {3}

    x, y = tile_of(105.834, 21.028)  # Hà Nội: its own partition only
    scans = executed_scans(pg, TileQuery("households", "households", Z, x, y, (sid,)))
    assert scans.get("households_p01", 0) >= 1
    assert scans.get("households_p79", 0) == 0 and scans.get("households_p48", 0) == 0, scans

    x, y = tile_of(0.0, 0.0)  # the sea: no province partition is read
    scans = executed_scans(pg, TileQuery("households", "households", Z, x, y, (sid,)))
    assert not any(scans.get(p, 0) for p in ("households_p79", "households_p01", "households_p48")), scans
    # the statement itself names the partitions: pruned when planned, not only skipped when run
    with pg.connection() as conn:
        query, params = pg.tile_statement(
            TileQuery("households", "households", Z, *tile_of(108.22, 16.068), (sid,))
        )
        plan = "\n".join(r[0] for r in conn.execute(postgis.sql.SQL("EXPLAIN ") + query, params))
    assert "households_p48" in plan and "households_default" in plan
    assert "households_p79" not in plan and "households_p01" not in plan

    # a province's new households: its box follows in the same write; CLUSTER goes partition by partition
    more = households(5, seed=2).iloc[:5].assign(household_id=lambda d: d["household_id"] + 500, lon=106.9)
    pg.write_tables({"households": more})
    with pg.connection() as conn:
        east = conn.execute("SELECT ST_XMax(extent) FROM province_extents WHERE province = '79'").fetchone()[
            0
        ]
    assert east == pytest.approx(106.9 * 20037508.342789244 / 180)
    pg.cluster_points("households")
    assert partitions(pg)["households_p79"] == 55


def test_bulk_load_and_replace_keep_every_partition_indexed(pg: PostgisStore, monkeypatch) -> None:
    monkeypatch.setattr(postgis, "BULK_ROWS", 10)  # the bulk path: indexes dropped, loaded, built again
    pg.write_tables({"households": households(20)})
    with pg.connection() as conn:
        leaf_indexes = conn.execute(
            "SELECT count(*) FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relispartition"
            " AND c.relname LIKE 'households_%%' AND ix.indisvalid",
            [pg.schema],
        ).fetchone()[0]
    assert leaf_indexes == 4 * 5  # four partitions, five indexes each (4 btree + GiST)
    pg.write_tables({"households": households(3).query("province == '48'")}, mode="replace")
    assert sum(partitions(pg).values()) == 3
    with pg.connection() as conn:
        assert [r[0] for r in conn.execute("SELECT province FROM province_extents")] == ["48"]
    got = pg.read_table("households", columns=["household_id", "province"])
    assert set(got["province"]) == {"48"}
