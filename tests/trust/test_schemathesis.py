"""schemathesis over the whole OpenAPI spec, without credentials and with each kind of caller: no server
error on any generated request, and no answer other than 401 / 403 where the caller lacks the route's
permission (whatever the parameters). Routes added later are covered by the spec itself."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.security import ROLES, app_routes
from tests.trust.trustcity import TrustCity, make_app

CALLERS = ("public", "app", "leader_saigon", "steward", "admin")


@pytest.fixture(scope="module")
def api_app(trust_city: TrustCity):
    app = make_app(trust_city)
    app.state.snapshots.refresh()  # what the lifespan does first
    return app


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


def permissions_needed(app, method: str, path: str) -> frozenset[str]:
    for r in app_routes(app.routes):
        if r.path == path and method.upper() in r.methods:
            return r.permissions
    raise AssertionError(f"{method} {path} is in the spec but not among the app's routes")


def check_operation(op, needed: frozenset[str], trust_city: TrustCity) -> int:
    """Generated requests for one operation, each sent by every kind of caller; returns calls made."""
    calls = 0

    @given(case=op.as_strategy())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case) -> None:
        nonlocal calls
        for name in CALLERS:
            caller = trust_city.callers[name]
            granted = frozenset().union(*(ROLES[r] for r in caller.roles))
            response = case.call(headers=dict(caller.headers))
            calls += 1
            where = f"{name}: {case.method} {case.formatted_path} {case.query} → {response.status_code}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            assert b"Traceback" not in response.content, where  # bytes: XLSX, PNG and tiles are binary
            if not needed <= granted:
                assert response.status_code == (401 if name == "public" else 403), where
            else:
                assert response.status_code not in (401, 403), where

    run()
    return calls


def test_spec_with_and_without_credentials(api_schema, api_app, trust_city: TrustCity) -> None:
    """Every operation of the spec, with hypothesis-generated parameters and bodies (schemathesis's
    strategies; run here rather than through its pytest plugin, which this pytest does not support)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    calls = sum(
        check_operation(op, permissions_needed(api_app, op.method, op.path), trust_city) for op in operations
    )
    assert calls >= 200
