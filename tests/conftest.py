"""Shared fixtures. Real parts only: PostGIS from RISKMAP_TEST_PG_DSN, Debian's Chromium.

A test that needs PostGIS or Chromium skips when it is missing, unless RISKMAP_TEST_REQUIRE names it
(the test command sets RISKMAP_TEST_REQUIRE=postgis,chromium), in which case it fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

REQUIRED = {s.strip() for s in os.environ.get("RISKMAP_TEST_REQUIRE", "").split(",") if s.strip()}


def missing(part: str, why: str) -> None:
    """Skip on a laptop without the part; fail where the test run requires it."""
    if part in REQUIRED:
        pytest.fail(f"{part} is required (RISKMAP_TEST_REQUIRE) but unavailable: {why}")
    pytest.skip(f"{part} unavailable: {why}")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """A PostgreSQL (with PostGIS) database the tests may create schemas in."""
    dsn = os.environ.get("RISKMAP_TEST_PG_DSN", "")
    if not dsn:
        missing("postgis", "RISKMAP_TEST_PG_DSN is not set")
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception as exc:  # any failure to reach it is "unavailable"
        missing("postgis", f"cannot use {dsn!r}: {exc}")
    return dsn


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh, empty schema name for one test, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("RISKMAP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        missing("chromium", "no chromium on PATH (apt-get install chromium)")
    return path


class LiveServer:
    """A real uvicorn server on a free loopback port, in a background thread."""

    def __init__(self, app: object) -> None:
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server():
    """Factory: `with live_server(app) as srv: httpx.get(srv.url + ...)`."""
    return LiveServer
