"""Tiles from PostGIS (`ST_AsMVT`) and from the in-memory view are the same tiles; deltas reach both.

The same small city is loaded into both backends; every tile of a list (zooms 10–17, every layer, the
public and the command centre) is decoded from both and compared feature by feature: the same units
with the same properties, the same shapes (area overlap ≥ 90 % for features bigger than a few pixels),
the same household points (within the one unit snapping may differ by).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient
from scipy.spatial import cKDTree

from api.app import create_app
from api.security import PUBLIC, authenticate
from api.settings import ApiSettings
from api.snapshot import SnapshotHolder, SnapshotView
from api.tiles.layers import LAYERS
from api.tiles.render import Audience, embedded_tile, tile_query
from geo.tiles import decode, tile_of
from risk.store.embedded import EmbeddedStore
from risk.store.postgis import PostgisStore
from tests.api import servecity
from tests.api.conftest import COMMAND_CENTRE

LON, LAT = servecity.POINT


@pytest.fixture(scope="module")
def both(
    pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PostgisStore, EmbeddedStore, servecity.ServeCity]]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    pg = PostgisStore(pg_dsn, schema=schema)
    pg.migrate()
    emb = EmbeddedStore(Path(tmp_path_factory.mktemp("emb")) / "store")
    city = servecity.write_snapshots(pg, servecity.build(pg))
    servecity.write_snapshots(emb, servecity.build(emb))
    yield pg, emb, city
    pg.close()
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _views(pg: PostgisStore, emb: EmbeddedStore) -> tuple[SnapshotView, SnapshotView]:
    views = []
    for store in (pg, emb):
        holder = SnapshotHolder(store)
        holder.refresh()
        assert holder.view is not None
        views.append(holder.view)
    assert views[0].chain == views[1].chain
    return views[0], views[1]


TILES = [(z, *tile_of(LON, LAT, z)) for z in (10, 12, 13, 14, 15, 16, 17)] + [
    (15, tile_of(LON, LAT, 15)[0] + 1, tile_of(LON, LAT, 15)[1]),
    (14, tile_of(LON, LAT, 14)[0], tile_of(LON, LAT, 14)[1] - 1),
]


def _compare_units(name: str, a: list, b: list) -> None:
    fa = {f.properties["unit_id"]: f for f in a}
    fb = {f.properties["unit_id"]: f for f in b}
    for uid in set(fa) ^ set(fb):  # only slivers may be drawn by one and collapse in the other
        only = fa.get(uid) or fb.get(uid)
        assert only.geometry.area < 8, f"{name}: {uid} drawn by one backend only (area {only.geometry.area})"
    for uid in set(fa) & set(fb):
        assert fa[uid].properties == fb[uid].properties, f"{name}: {uid}"
        ga, gb = fa[uid].geometry, fb[uid].geometry
        big = max(ga.area, gb.area)
        if big >= 16:  # snapping may move an edge by a pixel: small shapes overlap less
            iou = (
                shapely.intersection(ga.buffer(0), gb.buffer(0)).area
                / shapely.union(ga.buffer(0), gb.buffer(0)).area
            )
            need = 0.95 if big >= 10_000 else 0.9 if big >= 1000 else 0.7
            assert iou > need, f"{name}: {uid} shapes differ (IoU {iou:.3f}, area {big:.0f} px²)"


def _compare_points(name: str, a: list, b: list) -> None:
    assert len(a) == len(b), f"{name}: {len(a)} vs {len(b)} households"
    if not a:
        return
    pa = np.array([[f.geometry.x, f.geometry.y] for f in a])
    pb = np.array([[f.geometry.x, f.geometry.y] for f in b])
    dist, idx = cKDTree(pb).query(pa, k=4, distance_upper_bound=1.5)
    used: set[int] = set()
    for i, f in enumerate(a):
        match = [
            j
            for d, j in zip(dist[i], idx[i], strict=True)
            if np.isfinite(d) and j not in used and b[j].properties == f.properties
        ]
        assert match, f"{name}: household point {pa[i]} {f.properties} has no twin"
        used.add(match[0])


def _compare_all(pg_view: SnapshotView, emb_view: SnapshotView, pg: PostgisStore) -> int:
    compared = 0
    for z, x, y in TILES:
        for spec in LAYERS.values():
            if spec.source == "households" and z < 15:
                continue
            for principal in (PUBLIC, COMMAND_CENTRE):
                if not principal.can(spec.permission):
                    continue
                audience = Audience.of(principal)
                mvt_pg = pg.tile(tile_query(pg_view, spec, z, x, y, audience))
                mvt_emb = embedded_tile(emb_view, spec, z, x, y, audience)
                name = f"{spec.id} {z}/{x}/{y} {audience.key(spec)}"
                a = decode(mvt_pg).get(spec.id, [])
                b = decode(mvt_emb).get(spec.id, [])
                if spec.source == "households":
                    _compare_points(name, a, b)
                else:
                    _compare_units(name, a, b)
                compared += bool(a or b)
    return compared


def test_postgis_and_embedded_tiles_have_the_same_features(both) -> None:
    pg, emb, _ = both
    pg_view, emb_view = _views(pg, emb)
    assert _compare_all(pg_view, emb_view, pg) > 40


def test_a_delta_snapshot_reaches_both_backends_and_the_api_within_a_second(both) -> None:
    pg, emb, city = both
    base = city.snapshots[-1]
    old = city.level(base, "ward", servecity.SAI_GON)
    new = 1 if old != 1 else 4
    hl = city.household_levels[base]
    changed = {int(h): 4 for h in hl[hl["ward_id"] == servecity.SAI_GON]["household_id"].iloc[:50]}
    app = create_app(store=emb, settings=ApiSettings(snapshot_poll_seconds=0.1))
    app.dependency_overrides[authenticate] = lambda: COMMAND_CENTRE
    with TestClient(app) as client:
        x, y = tile_of(LON, LAT, 14)
        before = client.get(f"/tiles/wards/14/{x}/{y}.mvt")
        assert client.get("/v1/risk", params={"lat": LAT, "lon": LON}).json()["level"] == old
        units = {
            ("ward", servecity.SAI_GON): new,
            ("h3_9", format(int(city.households["h3_9"].iloc[0]), "x")): 4,
        }
        sid_pg = servecity.write_delta(pg, city, base, units, changed)
        start = time.perf_counter()
        sid = servecity.write_delta(
            emb,
            servecity.ServeCity(
                city.wards,
                city.households,
                city.groups,
                levels=dict(city.levels),
                household_levels=dict(city.household_levels),
            ),
            base,
            units,
            changed,
        )
        assert sid == sid_pg
        while time.perf_counter() - start < 5:
            a = client.get("/v1/risk", params={"lat": LAT, "lon": LON}).json()
            if a["snapshot_id"] == sid:
                break
            time.sleep(0.02)
        seen_after = time.perf_counter() - start
        assert a["snapshot_id"] == sid and a["level"] == new
        assert seen_after <= 1.0, f"the update took {seen_after:.2f} s to show"
        after = client.get(f"/tiles/wards/14/{x}/{y}.mvt")  # the tile cache was invalidated
        levels = {f.properties["unit_id"]: f.properties.get("level") for f in decode(after.content)["wards"]}
        assert levels[servecity.SAI_GON] == new and after.headers["etag"] != before.headers["etag"]
        current = client.get("/v1/snapshots/current").json()
        assert current["delta"] is True and current["chain"] == [base, sid]
    pg_view, emb_view = _views(pg, emb)
    assert pg_view.chain == (base, sid)
    assert _compare_all(pg_view, emb_view, pg) > 40


def test_tiles_over_http_from_postgis(both) -> None:
    pg, _, _ = both
    app = create_app(store=pg)
    with TestClient(app) as client:
        x, y = tile_of(LON, LAT, 13)
        r = client.get(f"/tiles/h3/13/{x}/{y}.mvt")
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        feats = decode(r.content)["h3"]
        assert feats and any(f.properties.get("suppressed") for f in feats)
        assert client.get("/tiles/groups/9/0/0.mvt").status_code == 204
        assert (
            client.get(f"/tiles/h3/13/{x}/{y}.mvt", headers={"If-None-Match": r.headers["etag"]}).status_code
            == 304
        )
        assert client.get(f"/tiles/households/16/{x * 8}/{y * 8}.mvt").status_code == 401
        assert (
            client.get("/v1/risk", params={"lat": LAT, "lon": LON}).json()["unit"]["id"] == servecity.SAI_GON
        )
        png = client.get(f"/tiles/wards/13/{x}/{y}@2x.png")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
