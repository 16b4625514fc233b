"""Fixtures of the trust tests (helpers in trustcity.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.trust.trustcity import TrustCity, build_trust_city, make_app


@pytest.fixture(scope="session")
def trust_city(tmp_path_factory: pytest.TempPathFactory) -> TrustCity:
    return build_trust_city(tmp_path_factory.mktemp("trust"))


@pytest.fixture(scope="module")
def client(trust_city: TrustCity) -> Iterator[TestClient]:
    with TestClient(make_app(trust_city), raise_server_exceptions=False) as c:
        yield c
