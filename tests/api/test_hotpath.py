"""The hot path (api.hotpath), the gzip shortcut (api.gzip) and the batched log handler answer exactly as
the regular path does: same status, body and headers, errors included."""

from __future__ import annotations

import io
import logging
from typing import Any

from fastapi.testclient import TestClient

from api.hotpath import HotRoutes
from api.security import PUBLIC
from api.trust.logs import BufferedHandler, JsonFormatter
from tests.api.conftest import COMMAND_CENTRE


def _hot(app: Any) -> HotRoutes:
    layer = app.middleware_stack
    while not isinstance(layer, HotRoutes):
        layer = layer.app
    return layer


def _same(a: Any, b: Any) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content)
    skip = {"x-request-id"}
    assert {k: v for k, v in a.headers.items() if k not in skip} == {
        k: v for k, v in b.headers.items() if k not in skip
    }


QUERIES = [
    "/v1/risk?lat=10.776&lon=106.70",
    "/v1/risk?lat=10.776&lon=106.70&unit=group",
    "/v1/risk?lat=91&lon=106.70",  # 422
    "/v1/risk?lat=10.776",  # 422: lon missing
    "/v1/risk?lat=1.0&lon=1.0",  # 404: outside the city
    "/v1/risk?household=h_00",  # 401 for the public
    "/healthz",
]


def test_hot_routes_answer_as_the_router_does(served) -> None:
    client, caller, _ = served
    app = client.app
    assert client.get("/healthz").status_code == 200
    hot = _hot(app)
    assert set(hot.routes(app)) == {"/v1/risk", "/healthz"}
    for principal in (PUBLIC, COMMAND_CENTRE):
        caller.principal = principal
        for q in QUERIES:
            fast = client.get(q, headers={"Accept-Encoding": "gzip"})
            saved, hot._routes = hot._routes, {}  # everything through the router
            try:
                slow = client.get(q, headers={"Accept-Encoding": "gzip"})
            finally:
                hot._routes = saved
            _same(fast, slow)
    caller.principal = PUBLIC


def test_coordinates_read_from_the_raw_query_answer_as_the_general_reading(client: TestClient) -> None:
    """`lat=…&lon=…` (either order) is read straight from the query's bytes; with any other parameter, a
    percent-escape or a number in another form, the general reading answers: both must agree."""
    general = client.get("/v1/risk?lat=10.776&lon=106.70&unit=ward")
    assert general.status_code == 200 and general.json()["query"] == {"lat": 10.776, "lon": 106.7}
    for q in (
        "lat=10.776&lon=106.70",
        "lon=106.7&lat=10.7760",
        "lat=10.776&lon=106.7%30",
        "lat=1.0776e1&lon=106.7",
    ):
        _same(client.get(f"/v1/risk?{q}"), general)
    for q in ("lat=91&lon=106.7", "lon=106.7&lat=-90.5", "lat=10.7&lon=181"):
        fast = client.get(f"/v1/risk?{q}")
        assert fast.status_code == 422
        _same(fast, client.get(f"/v1/risk?{q}&unit=ward"))


def test_app_state_reads_as_attributes_and_forgets_deleted_values() -> None:
    from api.app import AppState

    state = AppState()
    state.snapshots = 1
    state.limiter = 2
    del state.limiter
    assert state.snapshots == 1 and getattr(state, "limiter", None) is None
    assert vars(state)["snapshots"] == 1 and state._state == {"snapshots": 1}


def test_only_plain_get_routes_marked_hot_qualify(served) -> None:
    client, _, _ = served
    hot = _hot(client.app)
    for path, route in hot.routes(client.app).items():
        assert getattr(route.endpoint, "riskmap_hot", False) and "GET" in route.methods and "{" not in path
        assert not route.dependant.dependencies and not route.dependant.query_params
    # POST /v1/risk (batch) and HEAD are the router's
    assert client.post("/v1/risk", json={"points": [{"lat": 10.776, "lon": 106.70}]}).status_code == 200
    assert client.head("/healthz").status_code in (200, 405)


def test_small_answers_pass_gzip_unchanged_large_ones_are_compressed(client: TestClient) -> None:
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers and small.content == b'{"status":"ok"}'
    raw = client.get("/v1/geojson/wards", headers={"Accept-Encoding": "gzip"})
    assert raw.status_code == 200 and raw.headers.get("content-encoding") == "gzip"
    assert "Accept-Encoding" in raw.headers.get("vary", "")
    plain = client.get("/v1/geojson/wards", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == raw.json()


def test_buffered_log_lines_are_written_together_warnings_at_once() -> None:
    out = io.StringIO()
    handler = BufferedHandler(out, flush_s=3600)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("riskmap.test-buffered")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.info("one", extra={"request_id": "a"})
        log.info("two")
        assert out.getvalue() == ""  # waiting for the flush
        log.warning("three")  # a warning writes what waits, itself included
        lines = out.getvalue().splitlines()
        assert [line.split('"message":"')[1].split('"')[0] for line in lines] == ["one", "two", "three"]
        log.info("four")
        handler.close()  # at exit, logging's shutdown flushes
        assert out.getvalue().splitlines()[-1].count('"four"') == 1
    finally:
        log.removeHandler(handler)
