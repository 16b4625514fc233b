"""schemathesis against riskmap's OpenAPI document: no server error, no response that breaks its schema.

Every operation (the geo engineer's geocoding included) is called with generated inputs, valid and not,
on the small serving city (embedded store), as the public and as the command centre. Bounded: a few
examples per operation, no shrinking, so the whole run takes well under a minute.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from api.security import PUBLIC, authenticate
from tests.api.conftest import COMMAND_CENTRE, Caller

FUZZ = settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
CHECKS = [not_a_server_error, response_schema_conformance]


def test_every_operation_gives_no_server_error_and_schema_conforming_answers(city_store) -> None:  # type: ignore[no-untyped-def]
    store, _ = city_store
    app = create_app(store=store)
    caller = Caller()
    app.dependency_overrides[authenticate] = caller
    app.state.snapshots.refresh()  # no lifespan under schemathesis' ASGI transport: load the view now
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for principal in (PUBLIC, COMMAND_CENTRE):
        caller.principal = principal
        for operation in operations:

            @given(case=operation.as_strategy())
            @FUZZ
            def call(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(checks=CHECKS)

            call()
