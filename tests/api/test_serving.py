"""The serving API on the embedded store: risk answers, privacy, GeoJSON, history, bulk files, tiles."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.privacy import household_tokens
from api.security import PUBLIC
from api.tiles.layers import LAYERS
from geo import h3cells
from geo.tiles import decode, tile_of
from tests.api import servecity
from tests.api.conftest import COMMAND_CENTRE, PERSONAL, Caller, ward_leader

LON, LAT = servecity.POINT


def _as(served: tuple[TestClient, Caller, servecity.ServeCity], principal) -> TestClient:  # type: ignore[no-untyped-def]
    client, caller, _ = served
    caller.principal = principal
    return client


# --- the risk endpoint -----------------------------------------------------------------------------------


def test_point_answers_with_its_ward_level_label_colour_and_reasons(client: TestClient, served) -> None:
    city: servecity.ServeCity = served[2]
    current = city.snapshots[-1]
    r = client.get("/v1/risk", params={"lat": LAT, "lon": LON})
    assert r.status_code == 200
    a = r.json()
    assert a["unit"] == {
        "type": "ward",
        "id": servecity.SAI_GON,
        "code": "26740",
        "name": "Phường Sài Gòn",
        "parent_id": "hcmc-2025:79",
    }
    assert a["level"] == city.level(current, "ward", servecity.SAI_GON) and a["known"] is True
    assert (
        a["label"]["vi"].startswith("Cấp")
        and a["label"]["en"].startswith("Level")
        and a["colour"].startswith("#")
    )
    assert a["snapshot_id"] == current and a["as_of"].startswith("2021-10-24")
    assert a["profile"]["id"] == "moh-4800" and a["reasons"]["vi"] and a["reasons"]["en"]
    assert a["query"] == {"lat": LAT, "lon": LON} and r.headers["etag"] == f'"s{current}"'
    assert "community_cases_per_100k_7d" in a["metrics"]


def test_point_lookup_on_ward_boundaries_matches_the_exact_geometry(served) -> None:
    """Points in the grid's boundary cells are tested against the wards reaching into the cell: the answer
    must be the one an exact query over all wards gives (the least ward index on a shared edge)."""
    import shapely

    client = served[0]
    mapdata = client.app.state.snapshots.view.map  # type: ignore[attr-defined]
    wards = mapdata.gazetteer.wards
    geoms = np.asarray(wards.geometry.values, dtype=object)
    ids = wards["unit_id"].astype(str).to_numpy(dtype=object)
    rng = np.random.default_rng(7)
    edge = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geoms), 0.0002))
    pick = edge[rng.choice(len(edge), 4000, replace=False)]
    pts = np.vstack([pick, pick + rng.normal(0, 0.0002, pick.shape), pick + rng.normal(0, 1e-7, pick.shape)])
    tree = shapely.STRtree(geoms)
    where, hit = tree.query(shapely.points(pts), predicate="intersects")
    exact = np.full(len(pts), None, dtype=object)
    order = np.lexsort((hit, where))
    first = np.unique(where[order], return_index=True)[1]
    exact[where[order][first]] = ids[hit[order][first]]
    got = np.array([mapdata.ward_at(float(x), float(y)) for x, y in pts], dtype=object)
    assert (got == exact).all(), f"{int((got != exact).sum())} of {len(pts)} points differ"
    assert (exact != None).sum() > len(pts) // 2  # noqa: E711 - most points lie in some ward


@pytest.mark.parametrize("unit", ["city", "group", "h3_8", "h3_9", "h3_10"])
def test_point_answers_from_the_unit_asked_for(client: TestClient, served, unit: str) -> None:
    city: servecity.ServeCity = served[2]
    a = client.get("/v1/risk", params={"lat": LAT, "lon": LON, "unit": unit}).json()
    assert a["unit"]["type"] == unit
    if unit.startswith("h3_"):
        assert a["unit"]["id"] == format(h3cells.cell_of(LAT, LON, int(unit[3:])), "x")
    if not a["suppressed"]:
        assert a["level"] == city.level(city.snapshots[-1], unit, a["unit"]["id"])


def test_outside_the_city_and_bad_queries(client: TestClient) -> None:
    assert client.get("/v1/risk", params={"lat": 21.03, "lon": 105.85}).status_code == 404  # Hà Nội
    assert client.get("/v1/risk", params={"lat": 100, "lon": 106.7}).status_code == 422
    assert client.get("/v1/risk", params={"lat": 10.7}).status_code == 422
    assert client.get("/v1/risk").status_code == 422
    assert client.get("/v1/risk", params={"lat": LAT, "lon": LON, "h3": "8965b56628fffff"}).status_code == 422
    assert client.get("/v1/risk", params={"h3": "nothex"}).status_code == 422
    assert client.get("/v1/risk", params={"h3": format(h3cells.cell_of(LAT, LON, 7), "x")}).status_code == 404


def test_by_h3_cell_and_finer_cells_answer_from_their_parent(client: TestClient) -> None:
    cell9 = format(h3cells.cell_of(LAT, LON, 9), "x")
    a = client.get("/v1/risk", params={"h3": cell9}).json()
    assert a["unit"] == {"type": "h3_9", "id": cell9, "code": None, "name": None, "parent_id": None}
    cell12 = format(h3cells.cell_of(LAT, LON, 11), "x")
    b = client.get("/v1/risk", params={"h3": cell12}).json()
    assert b["unit"]["id"] == format(h3cells.cell_of(LAT, LON, 10), "x")


def test_small_cells_are_suppressed_for_the_public_only(served) -> None:
    city = served[2]
    hh = city.households
    counts = hh["h3_10"].value_counts()
    small = int(counts[counts < 10].index[0])
    big = int(counts[counts >= 10].index[0])
    public = _as(served, PUBLIC)
    a = public.get("/v1/risk", params={"h3": format(small, "x")}).json()
    assert (
        a["suppressed"] is True
        and a["level"] is None
        and a["metrics"] == {}
        and a["reason_codes"] == [{"step": "privacy", "k": 10}]
    )
    assert public.get("/v1/risk", params={"h3": format(big, "x")}).json()["suppressed"] is False
    cc = _as(served, COMMAND_CENTRE)
    b = cc.get("/v1/risk", params={"h3": format(small, "x")}).json()
    assert b["suppressed"] is False and b["level"] == city.level(
        city.snapshots[-1], "h3_10", format(small, "x")
    )


def test_households_need_a_role_a_scope_and_an_opaque_token(served) -> None:
    city = served[2]
    hl = city.household_levels[city.snapshots[-1]]
    row = hl[hl["ward_id"] == servecity.SAI_GON].iloc[0]
    token = household_tokens().token(int(row["household_id"]))
    assert str(row["household_id"]) not in token
    public = _as(served, PUBLIC)
    assert public.get("/v1/risk", params={"household": token}).status_code == 401
    cc = _as(served, COMMAND_CENTRE)
    a = cc.get("/v1/risk", params={"household": token}).json()
    assert a["unit"]["type"] == "household" and a["unit"]["id"] == token and a["level"] == int(row["level"])
    assert "address" not in a["unit"]  # the command centre has no personal-data permission
    assert cc.get("/v1/risk", params={"household": "0" * 16}).status_code == 404
    assert cc.get("/v1/risk", params={"household": "zz"}).status_code == 404
    other = next(w for w in city.wards if w != servecity.SAI_GON)
    assert _as(served, ward_leader(other)).get("/v1/risk", params={"household": token}).status_code == 403
    mine = _as(served, ward_leader(servecity.SAI_GON)).get("/v1/risk", params={"household": token}).json()
    assert mine["unit"]["address"].endswith(servecity.SAI_GON)
    near = cc.get(
        "/v1/households/near",
        params={
            "lat": float(city.households.set_index("household_id").at[row["household_id"], "lat"]),
            "lon": float(city.households.set_index("household_id").at[row["household_id"], "lon"]),
            "radius": 5,
        },
    ).json()
    assert token in {h["household"] for h in near["households"]}
    assert _as(served, PUBLIC).get("/v1/households/near", params={"lat": LAT, "lon": LON}).status_code == 401


def test_address_is_geocoded_on_the_registry(client: TestClient) -> None:
    r = client.get("/v1/risk", params={"address": "12 Lê Lợi, Phường Sài Gòn"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["unit"]["id"] == servecity.SAI_GON and a["query"]["geocode"]["ward_id"] == servecity.SAI_GON


def test_batch_of_points_in_order_with_errors_in_place(client: TestClient, served) -> None:
    points = [
        {"lat": LAT, "lon": LON, "ref": "a"},
        {"lat": 21.03, "lon": 105.85},
        {"lat": LAT, "lon": LON + 0.001},
    ]
    r = client.post("/v1/risk", json={"points": points, "unit": "group"})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3 and body["snapshot_id"] == served[2].snapshots[-1]
    first, second, third = body["results"]
    assert first["query"]["ref"] == "a" and first["unit"]["type"] == "group"
    assert second["error"].startswith("outside") and second["query"]["lat"] == 21.03
    assert third["unit"]["type"] == "group"
    single = client.get("/v1/risk", params={"lat": LAT, "lon": LON, "unit": "group"}).json()
    assert {k: v for k, v in first.items() if k != "query"} == {
        k: v for k, v in single.items() if k != "query"
    }
    assert client.post("/v1/risk", json={"points": [{"lat": 1, "lon": 1}] * 10_001}).status_code == 422


def test_as_of_answers_from_a_past_snapshot(client: TestClient, served) -> None:
    city: servecity.ServeCity = served[2]
    a = client.get("/v1/risk", params={"lat": LAT, "lon": LON, "as_of": "2021-10-18"}).json()
    assert a["snapshot_id"] == city.snapshots[1] and a["level"] == city.level(
        city.snapshots[1], "ward", servecity.SAI_GON
    )
    assert client.get("/v1/risk", params={"lat": LAT, "lon": LON, "as_of": "2020-01-01"}).status_code == 404


# --- GeoJSON, history, bulk -----------------------------------------------------------------------------


def test_ward_geojson_is_rfc7946_with_etag(client: TestClient) -> None:
    r = client.get("/v1/geojson/wards")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 168
    f = next(f for f in fc["features"] if f["id"] == servecity.SAI_GON)
    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon") and f["properties"]["colour"].startswith("#")
    assert client.get("/v1/geojson/wards", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_groups_pages_cover_the_filtered_set_once(client: TestClient, served) -> None:
    city: servecity.ServeCity = served[2]
    seen: list[str] = []
    url, params = "/v1/geojson/groups", {"limit": 7, "bbox": "106.60,10.70,106.80,10.85"}
    while True:
        fc = (client.get(url, params=params) if params else client.get(url)).json()
        seen += [f["id"] for f in fc["features"]]
        nxt = [link["href"] for link in fc["links"] if link["rel"] == "next"]
        if not nxt:
            break
        url, params = nxt[0], {}
    assert len(seen) == len(set(seen)) and seen == sorted(seen)
    assert set(seen) == set(city.groups["group_id"])
    levels = client.get("/v1/geojson/groups", params={"level": "3,4", "limit": 1000}).json()
    assert levels["features"] and all(f["properties"]["level"] in (3, 4) for f in levels["features"])
    assert client.get("/v1/geojson/groups", params={"bbox": "1,2,3"}).status_code == 400
    assert client.get("/v1/geojson/groups", params={"level": "x"}).status_code == 400


def test_cells_and_hotspots(client: TestClient) -> None:
    cells = client.get("/v1/geojson/cells", params={"res": 10, "limit": 10000}).json()
    props = [f["properties"] for f in cells["features"]]
    assert props and {p["unit_type"] for p in props} == {"h3_10"}
    assert any(p["suppressed"] for p in props) and all(p["level"] is None for p in props if p["suppressed"])
    hot = client.get("/v1/geojson/hotspots", params={"res": 9, "limit": 10000}).json()["features"]
    assert hot and all(f["properties"]["hotspot"] for f in hot)


def test_unit_history_and_bulk_files(client: TestClient, served) -> None:
    city: servecity.ServeCity = served[2]
    h = client.get(f"/v1/units/ward/{servecity.SAI_GON}/history").json()
    assert [p["snapshot_id"] for p in h["series"]] == city.snapshots
    assert [p["level"] for p in h["series"]] == [
        city.level(s, "ward", servecity.SAI_GON) for s in city.snapshots
    ]
    assert (
        len(
            client.get(f"/v1/units/ward/{servecity.SAI_GON}/history", params={"from": "2021-10-15"}).json()[
                "series"
            ]
        )
        == 2
    )
    assert client.get("/v1/units/ward/hcmc-2025:nope/history").status_code == 404
    csv = client.get("/v1/bulk/wards.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    header = csv.text.splitlines()[0].split(",")
    assert {"unit_id", "level", "label_vi", "metrics.community_cases_per_100k_7d"} <= set(header)
    assert len(csv.text.strip().splitlines()) == len(city.wards) + 1
    groups = client.get("/v1/bulk/groups.json").json()
    hidden = [g for g in groups if g["suppressed"]]
    assert hidden and all(g["level"] is None and g["metrics"] == {} for g in hidden)
    series = client.get("/v1/bulk/wards.timeseries.json").json()
    assert len(series) == len(city.wards) and all(len(s["levelsTimeseries"]) == 3 for s in series)
    ts_csv = client.get("/v1/bulk/wards.timeseries.csv").text.strip().splitlines()
    assert len(ts_csv) == 3 * len(city.wards) + 1
    assert client.get("/v1/bulk/nothing.csv").status_code == 404


# --- tiles ----------------------------------------------------------------------------------------------


def _tile(client: TestClient, layer: str, z: int, ext: str = "mvt", **kw):  # type: ignore[no-untyped-def]
    x, y = tile_of(LON, LAT, z)
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.{ext}", **kw)


def test_vector_tiles_carry_levels_gzip_etag_and_304(client: TestClient, served) -> None:
    city: servecity.ServeCity = served[2]
    r = _tile(client, "wards", 14)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["content-encoding"] == "gzip" and "max-age" in r.headers["cache-control"]
    feats = {f.properties["unit_id"]: f.properties for f in decode(r.content)["wards"]}
    assert feats[servecity.SAI_GON]["level"] == city.level(city.snapshots[-1], "ward", servecity.SAI_GON)
    again = _tile(client, "wards", 14, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    x, y = tile_of(LON, LAT, 14)
    ogc = client.get(f"/collections/wards/tiles/WebMercatorQuad/14/{x}/{y}")
    assert ogc.status_code == 200 and decode(ogc.content) == decode(r.content)


def test_impossible_and_empty_tiles(client: TestClient) -> None:
    assert client.get("/tiles/wards/30/0/0.mvt").status_code == 400
    assert client.get("/tiles/wards/3/8/0.mvt").status_code == 400
    assert client.get("/tiles/wards/3/0/-1.mvt").status_code == 400
    assert client.get("/tiles/wards/3/0/0.gif").status_code == 400
    assert client.get("/tiles/nothing/3/0/0.mvt").status_code == 404
    assert client.get("/tiles/wards/10/0/0.mvt").status_code == 204  # the Arctic has no wards


def test_h3_resolution_follows_zoom_and_small_cells_hide_their_level(client: TestClient) -> None:
    for z, res in ((10, 8), (12, 9), (14, 10)):
        feats = decode(_tile(client, "h3", z).content)["h3"]
        assert {h3cells.resolution(int(f.properties["unit_id"], 16)) for f in feats} == {res}
    feats = decode(_tile(client, "h3", 14).content)["h3"]
    hidden = [f.properties for f in feats if f.properties.get("suppressed")]
    assert hidden and all("level" not in p and "hotspot" not in p for p in hidden)


def test_household_points_only_for_roles_in_scope_from_zoom_15(served) -> None:
    city = served[2]
    public = _as(served, PUBLIC)
    assert _tile(public, "households", 16).status_code == 401
    cc = _as(served, COMMAND_CENTRE)
    assert _tile(cc, "households", 14).status_code == 204
    r = _tile(cc, "households", 15)
    assert r.status_code == 200 and "private" in r.headers["cache-control"]
    feats = decode(r.content)["households"]
    assert len(feats) > 50 and set(feats[0].properties) <= {"level", "flags"}  # no identifiers
    far_ward = next(w for w in city.wards if w not in (servecity.SAI_GON,))
    leader = _as(served, ward_leader(far_ward))
    x, y = tile_of(LON, LAT, 17)
    assert leader.get(f"/tiles/households/17/{x}/{y}.mvt").status_code in (403, 204)
    mine = _as(served, ward_leader(servecity.SAI_GON))
    assert len(decode(_tile(mine, "households", 15).content)["households"]) <= len(feats)
    assert _as(served, PERSONAL).get("/tiles/households.json").status_code == 200


def test_raster_tiles_256_and_512_transparent_in_level_colours(client: TestClient) -> None:
    for ext, size in (("png", 256), ("png", 512)):
        x, y = tile_of(LON, LAT, 13)
        name = f"{y}@2x.png" if size == 512 else f"{y}.png"
        r = client.get(f"/tiles/wards/13/{x}/{name}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        img = Image.open(io.BytesIO(r.content))
        assert img.size == (size, size) and img.mode == "RGBA"
        assert ext == "png"
    empty = Image.open(io.BytesIO(client.get("/tiles/wards/10/0/0.png").content))
    assert empty.getextrema()[3] == (0, 0)
    colours = client.get("/styles/riskmap.json").json()["metadata"]["riskmap:legend"]
    rgb = {tuple(int(c["colour"][i : i + 2], 16) for i in (1, 3, 5)) for c in colours}
    x, y = tile_of(LON, LAT, 13)
    img = np.asarray(Image.open(io.BytesIO(client.get(f"/tiles/wards/13/{x}/{y}.png").content)))
    opaque = img[img[..., 3] > 100][:, :3]
    # fills are drawn at 60 % opacity: un-premultiplied pixels keep the level colour exactly
    assert any((opaque == np.array(c)).all(axis=1).any() for c in rgb)


def test_tilejson_and_style(served) -> None:
    client = _as(served, PUBLIC)
    tj = client.get("/tiles/h3.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/h3/{z}/{x}/{y}.mvt")
    assert tj["vector_layers"][0]["id"] == "h3" and "level" in tj["vector_layers"][0]["fields"]
    assert (
        client.get("/collections/h3/tiles/WebMercatorQuad/tilejson.json")
        .json()["tiles"][0]
        .endswith("/WebMercatorQuad/{z}/{x}/{y}")
    )
    png = client.get("/tiles/wards.json", params={"format": "png"}).json()
    assert png["tiles"][0].endswith(".png") and "vector_layers" not in png
    style = client.get("/styles/riskmap.json").json()
    assert style["version"] == 8 and style["sources"]["wards"]["url"].endswith("/tiles/wards.json")
    assert "households" not in style["sources"]
    cc = _as(served, COMMAND_CENTRE)
    assert "households" in cc.get("/styles/riskmap.json").json()["sources"]
    assert {c["id"] for c in client.get("/collections").json()["collections"]} == {
        "wards",
        "groups",
        "h3",
        "hotspots",
        "households",
    }


def test_each_new_snapshot_has_its_first_map_view_in_the_tile_cache(served) -> None:
    """Served snapshot → the wards at the style's start zoom are drawn ahead, for the public and for roles
    that see small areas; a request for one of them is a cache hit."""
    from api.tiles.service import FIRST_VIEW_AUDIENCES
    from api.tiles.style import bounds_of, start_zoom
    from geo.tiles import tiles_covering

    client = _as(served, PUBLIC)
    service = client.app.state.tiles  # type: ignore[attr-defined]
    assert service.warming is not None and service.warming.result(timeout=60) > 0
    view = client.app.state.snapshots.view  # type: ignore[attr-defined]
    first = list(tiles_covering(bounds_of(view), start_zoom()))
    for _, x, y in first:
        for audience in FIRST_VIEW_AUDIENCES:
            assert service.cache.get(
                (view.snapshot_id, "wards", audience.key(LAYERS["wards"]), start_zoom(), x, y)
            )
    hits = service.cache.hits
    _, x, y = first[0]
    assert client.get(f"/tiles/wards/{start_zoom()}/{x}/{y}.mvt").status_code in (200, 204)
    assert service.cache.hits == hits + 1


def test_map_page_carries_its_style_with_tilejson_inline_and_the_scored_days(served) -> None:
    """/map starts MapLibre without a round trip: the style (each TileJSON inline), the first view's sources,
    the scored days and the current snapshot are in the page; versioned URLs for what it loads."""
    import re

    client = _as(served, PUBLIC)
    page = client.get("/map")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    found = re.search(r'<script id="boot" type="application/json">(.*?)</script>', page.text, re.S)
    assert found and "<" not in found.group(1)
    boot = json.loads(found.group(1))
    style = boot["style"]
    assert style["sources"]["wards"]["tiles"][0].endswith("/tiles/wards/{z}/{x}/{y}.mvt")
    assert "url" not in style["sources"]["wards"] and style["sources"]["wards"]["bounds"]
    assert "households" not in style["sources"] and boot["first"] == ["basemap", "wards"]
    assert (
        style["metadata"]["riskmap:legend"]
        == client.get("/styles/riskmap.json").json()["metadata"]["riskmap:legend"]
    )
    assert boot["snapshots"] == client.get("/v1/snapshots").json()["snapshots"]
    assert boot["current"]["snapshot_id"] == client.get("/v1/snapshots/current").json()["snapshot_id"]
    assert re.search(r"maplibre-gl\.js\?v=\d+\.\d+\.\d+", page.text)
    version = re.search(r"/static/app/map\.js\?v=(\w+)", page.text)
    assert (
        version
        and "immutable" in client.get(f"/static/app/map.js?v={version.group(1)}").headers["cache-control"]
    )
    cc = _as(served, COMMAND_CENTRE).get("/map").text
    assert '"households":{"type":"vector"' in cc


def test_openapi_has_an_example_for_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    missing = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            text = json.dumps(op)
            if path == "/v1/geocode":  # the geo engineer's router
                continue
            if '"example' not in text and path.startswith(
                ("/v1", "/tiles", "/collections", "/styles", "/healthz", "/readyz")
            ):
                missing.append(f"{method.upper()} {path}")
    assert not missing, missing


def test_gzip_and_identity_bodies_agree(client: TestClient) -> None:
    r = _tile(client, "groups", 13)
    plain = _tile(client, "groups", 13, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content
    assert decode(plain.content) == decode(r.content)


def test_cli_tiles_prepare_knows_when_map_units_are_current(city_store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from api.cli import app as cli

    store, _ = city_store
    monkeypatch.setenv("RISKMAP_STORE_BACKEND", "embedded")
    monkeypatch.setenv("RISKMAP_STORE_PATH", str(store.path))
    result = CliRunner().invoke(cli, ["tiles", "prepare"])
    assert result.exit_code == 0 and "up to date" in result.output, result.output
