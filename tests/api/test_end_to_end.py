"""The thin path end to end on a mini city: ingest → place → link → score → serve over real HTTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from risk.ingest.pipeline import ingest_file
from risk.ingest.place import RegistryPlacer
from risk.link import relink
from risk.reference import load_reference
from risk.score import score
from risk.store.embedded import EmbeddedStore
from tests import minicity


@pytest.fixture(scope="module")
def scored_store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    root = tmp_path_factory.mktemp("minicity")
    city = minicity.build(root / "city")
    store = EmbeddedStore(root / "store")
    load_reference(store, city.dir)
    placer = RegistryPlacer.from_store(store)
    for sid in ("mini-registry", "mini-doses", "mini-cases"):
        result = ingest_file(
            store, city.feeds[sid], city.mappings[sid], placer=placer, latest=dt.date(2021, 10, 24)
        )
        assert result.batch.quarantined == 0, result.batch.report
    linked = relink(store)
    assert linked.persons == 120 and linked.households == 40
    assert linked.linked == linked.records  # every dose and case has a consistent CCCD
    score(store, dt.date(2021, 10, 24))
    return store


def test_levels_follow_moh_4800(scored_store: EmbeddedStore) -> None:
    snap = scored_store.current_snapshot()
    levels = scored_store.read_snapshot(snap.snapshot_id, "levels").set_index("unit_id")
    sai_gon = levels.loc["hcmc-2025:26740"]
    # 5 community cases (3 found in quarantine do not count) among 60 persons → 8,333 per 100,000:
    # band 4; every adult has a dose (C2 met → 3); elderly all fully vaccinated.
    assert sai_gon["level"] == 3
    assert '"community_cases_7d": 5' in sai_gon["metrics"]
    other = levels.loc["hcmc-2025:26737"]
    assert other["level"] == 1
    # Wards with no population are unknown, never a rate.
    assert (levels[levels["population"] == 0]["level"] == 0).all()


def test_served_over_http(scored_store: EmbeddedStore, live_server) -> None:
    app = create_app(store=scored_store)
    with live_server(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").status_code == 200
        r = http.get("/v1/risk", params={"lat": 10.776, "lon": 106.70})
        assert r.status_code == 200
        a = r.json()
        assert a["unit"]["id"] == "hcmc-2025:26740" and a["unit"]["name"] == "Phường Sài Gòn"
        assert a["level"] == 3 and a["known"] is True
        assert a["snapshot_id"] == scored_store.current_snapshot().snapshot_id
        assert a["reasons"]["vi"] and a["reasons"]["en"] and a["metrics"]["population"] == 60
        assert r.headers["etag"] == f'"s{a["snapshot_id"]}"'
        assert http.get("/v1/risk", params={"lat": 21.03, "lon": 105.85}).status_code == 404  # Hà Nội
        assert http.get("/v1/risk", params={"lat": 100, "lon": 106.7}).status_code == 422
        fc = http.get("/v1/geojson/wards")
        assert fc.status_code == 200 and fc.headers["content-type"].startswith("application/geo+json")
        features = fc.json()["features"]
        assert len(features) == 168
        # wards with no households in the mini city: the explicit unknown (level 0, known false)
        assert {f["properties"]["level"] for f in features} == {0, 1, 3}
        assert all(f["properties"]["known"] is (f["properties"]["level"] != 0) for f in features)
        assert http.get("/v1/geojson/wards", headers={"If-None-Match": fc.headers["etag"]}).status_code == 304
        page = http.get("/map")
        assert page.status_code == 200 and "/static/vendor/maplibre-gl/maplibre-gl.js" in page.text
        assert "cdn" not in page.text.lower()
        assert http.get("/static/vendor/maplibre-gl/maplibre-gl.js").status_code == 200
        assert http.get("/static/app/map.js").status_code == 200


def test_new_snapshot_is_picked_up_atomically(scored_store: EmbeddedStore, live_server) -> None:
    app = create_app(store=scored_store)
    with live_server(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        before = http.get("/v1/risk", params={"lat": 10.776, "lon": 106.70}).json()["snapshot_id"]
        newer = score(scored_store, dt.date(2021, 11, 20))  # a month later: no cases in the window
        import time

        deadline = time.time() + 10
        while time.time() < deadline:
            a = http.get("/v1/risk", params={"lat": 10.776, "lon": 106.70}).json()
            if a["snapshot_id"] != before:
                break
            time.sleep(0.1)
        assert a["snapshot_id"] == newer.snapshot.snapshot_id
        assert a["level"] == 1 and a["as_of"].startswith("2021-11-20")


def test_readme_point_is_in_sai_gon() -> None:
    from geo.gazetteer import load_gazetteer

    gaz = load_gazetteer()
    import shapely

    assert gaz.unit("hcmc-2025:26740").geometry.contains(shapely.Point(106.70, 10.776))


def test_minicity_files(tmp_path: Path) -> None:
    city = minicity.build(tmp_path)
    assert set(city.feeds) == {"mini-registry", "mini-doses", "mini-cases"}
