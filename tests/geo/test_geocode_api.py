"""The geocoding endpoints over a registry written into a temporary embedded store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routers import ROUTERS
from api.routers import geocode as geocode_router
from api.security import Principal, authenticate


def _app(store: object) -> FastAPI:
    """The geocode router on a bare app holding the store as `create_app` does (the full app also needs
    the map page's front-end assets, which these tests do not)."""
    assert geocode_router.router in ROUTERS  # the real app includes it
    app = FastAPI()
    app.state.store = store
    app.include_router(geocode_router.router)
    # geocoding is for authenticated callers (permission GEOCODE): call as an app
    app.dependency_overrides[authenticate] = lambda: Principal("test-app", frozenset({"app"}), via="test")
    return app


@pytest.fixture
def client(tmp_path: Path, fake_registry: pd.DataFrame):
    from risk.store import StoreSettings, open_store

    store = open_store(StoreSettings(path=tmp_path / "store"))
    store.migrate()
    store.write_tables({"address_points": fake_registry})
    with TestClient(_app(store)) as c:
        yield c


def test_get_one_address(client: TestClient, fake_points: pd.DataFrame) -> None:
    p = fake_points.iloc[5]
    r = client.get("/v1/geocode", params={"address": p["address"]})
    assert r.status_code == 200
    body = r.json()
    assert body["point_id"] == p["point_id"] and body["tier"] == "exact"
    assert body["ward_id"] == "hcmc-2025:" + p["ward_code"] and body["query"]["address"] == p["address"]
    r = client.get("/v1/geocode", params={"address": "Phường Đa Kao, Quận 1", "date": "2021-03-01"})
    assert r.status_code == 200 and r.json()["ward_id"] is None and "split" in r.json()["flags"]


def test_post_a_batch(client: TestClient, noisy: pd.DataFrame) -> None:
    rows = noisy.head(200)
    r = client.post(
        "/v1/geocode",
        json={"addresses": rows["text"].tolist(), "dates": rows["date"].dt.strftime("%Y-%m-%d").tolist()},
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 200
    hits = sum(res["point_id"] == pid for res, pid in zip(results, rows["point_id"], strict=True))
    assert hits / 200 > 0.95
    assert client.post("/v1/geocode", json={"addresses": ["x"], "dates": []}).status_code == 422


def test_no_registry_is_503(tmp_path: Path) -> None:
    from risk.store import StoreSettings, open_store

    store = open_store(StoreSettings(path=tmp_path / "empty"))
    store.migrate()
    with TestClient(_app(store)) as c:
        assert c.get("/v1/geocode", params={"address": "12 Lê Lợi"}).status_code == 503
