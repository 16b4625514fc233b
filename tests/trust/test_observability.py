"""Prometheus metrics, structured JSON logs, request ids and the stale marking."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from api.trust.logs import JsonFormatter
from risk.store import StoreUnavailable
from tests.trust.trustcity import TrustCity, make_app


def test_metrics_count_requests_latency_snapshot_and_ingest(trust_city: TrustCity) -> None:
    app = make_app(trust_city)
    h = trust_city.callers["monitor"].headers
    with TestClient(app, raise_server_exceptions=False) as c:
        for _ in range(3):
            assert c.get("/v1/risk", params={"lat": 10.776, "lon": 106.70}).status_code == 200
        c.get("/v1/units/ward/nope")
        app.state.metrics._read_batches()
        text = c.get("/metrics", headers=h).text
    lines = {
        ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines() if ln and not ln.startswith("#")
    }
    assert lines['riskmap_http_requests_total{method="GET",route="/v1/risk",status="200"}'] == 3
    assert (
        lines[
            'riskmap_http_requests_total{method="GET",route="/v1/units/{unit_type}/{unit_id}",status="404"}'
        ]
        == 1
    )
    assert lines['riskmap_http_request_duration_seconds_count{method="GET",route="/v1/risk"}'] == 3
    sid = trust_city.store.current_snapshot().snapshot_id
    assert lines["riskmap_snapshot_id"] == sid and lines["riskmap_snapshot_stale"] == 0
    assert lines["riskmap_snapshot_age_seconds"] > 0
    batches = trust_city.store.list_batches()
    assert lines["riskmap_ingest_batches_total"] == len(batches)
    assert lines['riskmap_ingest_rows_total{outcome="rows_in"}'] == sum(b.rows_in for b in batches)


def test_json_logs_and_request_ids(trust_city: TrustCity, caplog) -> None:
    app = make_app(trust_city)
    with TestClient(app) as c, caplog.at_level(logging.INFO, logger="riskmap.access"):
        r = c.get("/healthz", headers={"X-Request-ID": "req-42"})
        assert r.headers["x-request-id"] == "req-42"
        assert len(c.get("/healthz", headers={"X-Request-ID": 'bad id "x"'}).headers["x-request-id"]) == 16
    record = next(r for r in caplog.records if getattr(r, "request_id", None) == "req-42")
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "riskmap.access" and line["status"] == 200 and line["route"] == "/healthz"
    assert line["method"] == "GET" and line["ms"] >= 0 and line["time"].endswith("+00:00")


class FlakyStore:
    """The real store, until `down` is set: then every call fails as an unreachable server would."""

    def __init__(self, store) -> None:
        self._store, self.down = store, False

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*a, **kw):
            if self.down:
                raise StoreUnavailable("lost PostgreSQL (test)")
            return attr(*a, **kw)

        return call


def test_stale_marking_while_the_store_is_down(trust_city: TrustCity) -> None:
    from api.app import create_app

    flaky = FlakyStore(trust_city.store)
    app = create_app(store=flaky)
    with TestClient(app) as c:
        assert "x-riskmap-stale" not in c.get("/v1/risk", params={"lat": 10.776, "lon": 106.70}).headers
        flaky.down = True
        app.state.snapshots.refresh()
        r = c.get("/v1/risk", params={"lat": 10.776, "lon": 106.70})
        assert (
            r.status_code == 200 and r.headers["x-riskmap-stale"] == "true" and "110" in r.headers["warning"]
        )
        assert c.get("/readyz").json()["stale"] is True
        key = trust_city.callers["admin"].headers
        assert c.get("/v1/snapshots/current", headers=key).status_code == 200  # keys checked from memory
        flaky.down = False
        app.state.snapshots.refresh()
        assert "x-riskmap-stale" not in c.get("/v1/risk", params={"lat": 10.776, "lon": 106.70}).headers


def test_credentials_never_read_and_store_down_is_503_not_500(trust_city: TrustCity) -> None:
    from api.auth.authenticator import Authenticator

    flaky = FlakyStore(trust_city.store)
    app = make_app(trust_city)
    app.state.auth = Authenticator(flaky, trust_city.auth_settings(), None)
    flaky.down = True
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/snapshots/current", headers=trust_city.callers["admin"].headers)
        assert r.status_code == 503 and r.headers["retry-after"] == "5" and "Traceback" not in r.text
        assert c.get("/v1/snapshots/current").status_code == 200  # the public is still served
        flaky.down = False
        assert c.get("/v1/snapshots/current", headers=trust_city.callers["admin"].headers).status_code == 200
