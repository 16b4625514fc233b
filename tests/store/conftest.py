"""Fixtures of the store tests: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storehelp import Location

from risk.store.base import Store


@pytest.fixture(params=["embedded", "postgis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "embedded":
        return Location("embedded", path=tmp_path / "store")
    dsn = request.getfixturevalue("pg_dsn")
    return Location("postgis", dsn=dsn, schema=request.getfixturevalue("pg_schema"))


@pytest.fixture
def open_store(location: Location) -> Iterator[Callable[[], Store]]:
    """Opens stores on the test's data (each one like another process), closed at the end."""
    opened: list[Store] = []

    def factory() -> Store:
        s = location.open()
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    s = open_store()
    s.migrate()
    return s
