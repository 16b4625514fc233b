"""Fixtures of the serving tests: the small serving city on the embedded store, an app whose caller the
test chooses (public, command centre, a ward leader), a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import PUBLIC, Principal, authenticate
from api.settings import ApiSettings
from risk.store.embedded import EmbeddedStore
from tests.api import servecity

COMMAND_CENTRE = Principal("cc", frozenset({"command_centre"}))
PERSONAL = Principal("ward-chief", frozenset({"ward_leader"}))  # no scope: every area, personal details


def ward_leader(ward: str) -> Principal:
    return Principal(f"leader-{ward}", frozenset({"ward_leader"}), view_units=frozenset({ward}))


class Caller:
    """Who the app thinks is calling (tests switch it)."""

    def __init__(self) -> None:
        self.principal: Principal = PUBLIC

    async def __call__(self) -> Principal:
        return self.principal


@pytest.fixture(scope="module")
def city_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[EmbeddedStore, servecity.ServeCity]:
    root: Path = tmp_path_factory.mktemp("servecity")
    store = EmbeddedStore(root / "store")
    city = servecity.build(store)
    servecity.write_snapshots(store, city)
    return store, city


@pytest.fixture(scope="module")
def served(
    city_store: tuple[EmbeddedStore, servecity.ServeCity],
) -> Iterator[tuple[TestClient, Caller, servecity.ServeCity]]:
    store, city = city_store
    app = create_app(store=store, settings=ApiSettings(snapshot_poll_seconds=0.05))
    caller = Caller()
    app.dependency_overrides[authenticate] = caller
    with TestClient(app) as client:
        yield client, caller, city


@pytest.fixture
def client(served: tuple[TestClient, Caller, servecity.ServeCity]) -> Iterator[TestClient]:
    c, caller, _ = served
    caller.principal = PUBLIC
    yield c
    caller.principal = PUBLIC
