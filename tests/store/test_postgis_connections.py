"""PostGIS connections: session settings, timeouts, a server that is down or goes away, the command line."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from storedata import sample_frame

from risk.store import open_store
from risk.store.base import StoreError, StoreUnavailable
from risk.store.postgis import PostgisStore
from risk.store.settings import StoreSettings
from risk.store.tables import TABLES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proxy:
    """A TCP relay in front of PostgreSQL that a test can cut and restore, as if the server went away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        assert self._listener is not None
        for s in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        with self._lock:
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(pg_dsn: str) -> Iterator[Proxy]:
    params = conninfo_to_dict(pg_dsn)
    p = Proxy(params.get("host") or "127.0.0.1", int(params.get("port") or 5432))
    p.start()
    yield p
    p.stop()


def test_sessions_carry_the_settings(pg_dsn: str, pg_schema: str) -> None:
    settings = StoreSettings(statement_timeout_ms=1500, pool_min=1, pool_max=3)
    s = PostgisStore(pg_dsn, schema=pg_schema, settings=settings)
    try:
        s.migrate()
        with s.connection() as conn:
            show = {
                k: conn.execute(f"SHOW {k}").fetchone()[0]
                for k in ("max_parallel_workers_per_gather", "statement_timeout", "TimeZone")
            }
            path = conn.execute("SHOW search_path").fetchone()[0]
        assert show == {
            "max_parallel_workers_per_gather": "0",
            "statement_timeout": "1500ms",
            "TimeZone": "UTC",
        }
        assert path.startswith(pg_schema)
        assert (s._pool.min_size, s._pool.max_size) == (1, 3)
        started = time.monotonic()
        with pytest.raises(StoreError, match="statement_timeout") as err, s.connection() as conn:
            conn.execute("SELECT pg_sleep(5)")
        assert not isinstance(err.value, StoreUnavailable)
        assert time.monotonic() - started < 4
        assert s.count("records") == 0  # the pool is fine afterwards
    finally:
        s.close()


def test_an_unreachable_server_is_reported_quickly_and_clearly() -> None:
    port = free_port()  # nothing listens there
    s = PostgisStore(
        f"postgresql://riskmap:secret@127.0.0.1:{port}/nowhere", settings=StoreSettings(connect_timeout_s=1)
    )
    try:
        for call in (lambda: s.count("records"), s.migrate, s.current_snapshot):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as err:
                call()
            assert time.monotonic() - started < 5
            assert f"127.0.0.1:{port}/nowhere" in str(err.value) and "secret" not in str(err.value)
            assert "refused" in str(err.value).lower()
    finally:
        s.close()


def test_the_store_survives_the_server_going_away_and_coming_back(
    pg_dsn: str, pg_schema: str, proxy: Proxy
) -> None:
    dsn = make_conninfo(pg_dsn, host="127.0.0.1", port=proxy.port)
    s = PostgisStore(dsn, schema=pg_schema, settings=StoreSettings(connect_timeout_s=1))
    try:
        s.migrate()
        s.write_tables({"records": sample_frame(TABLES["records"], 3)})
        proxy.stop()
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                s.count("records")
            assert time.monotonic() - started < 5
        proxy.start()
        back = time.monotonic()
        while True:
            try:
                assert s.count("records") == 3
                break
            except StoreUnavailable:
                assert time.monotonic() - back < 10, "the store did not recover within 10 s"
                time.sleep(0.2)
    finally:
        s.close()


def test_bad_configuration_is_a_store_error(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match="schema name"):
        PostgisStore(pg_dsn, schema='x"; DROP TABLE y; --')
    with pytest.raises(StoreError, match="connection string"):
        PostgisStore("host=localhost port=5432 = broken")
    with pytest.raises(StoreError, match="RISKMAP_STORE_DSN"):
        open_store(StoreSettings(backend="postgis", dsn=""))


def riskmap(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_migrates_and_inspects_a_postgis_store(pg_dsn: str, pg_schema: str) -> None:
    env = {"RISKMAP_STORE_BACKEND": "postgis", "RISKMAP_STORE_DSN": pg_dsn, "RISKMAP_STORE_SCHEMA": pg_schema}
    for _ in range(2):  # idempotent
        done = riskmap("store", "migrate", env=env)
        assert done.returncode == 0, done.stderr
        assert "store ready" in done.stderr and f"schema='{pg_schema}'" in done.stderr
    info = riskmap("store", "info", "--json", env=env)
    assert info.returncode == 0, info.stderr
    out = json.loads(info.stdout)
    assert out["backend"] == "postgis" and out["current_snapshot"] is None
    assert set(out["tables"]) == {name for name, t in TABLES.items() if not t.snapshot}


def test_the_command_line_reports_an_unreachable_server_without_a_traceback() -> None:
    env = {
        "RISKMAP_STORE_BACKEND": "postgis",
        "RISKMAP_STORE_DSN": f"postgresql://postgres@127.0.0.1:{free_port()}/dev",
        "RISKMAP_STORE_CONNECT_TIMEOUT_S": "1",
    }
    done = riskmap("store", "migrate", env=env)
    assert done.returncode == 2
    assert "unavailable" in done.stderr and "Traceback" not in done.stderr


def test_an_exhausted_pool_is_not_mistaken_for_a_server_outage(pg_dsn: str, pg_schema: str) -> None:
    s = PostgisStore(
        pg_dsn, schema=pg_schema, settings=StoreSettings(pool_min=1, pool_max=1, connect_timeout_s=1)
    )
    try:
        s.migrate()
        errors: list[BaseException] = []

        def count() -> None:
            try:
                s.count("records")
            except StoreError as exc:
                errors.append(exc)

        with s.connection():  # the only connection, held
            other = threading.Thread(target=count)
            other.start()
            other.join(30)
        assert len(errors) == 1 and not isinstance(errors[0], StoreUnavailable)
        assert "stayed busy" in str(errors[0]) and "RISKMAP_STORE_POOL_MAX" in str(errors[0])
        assert s.count("records") == 0
    finally:
        s.close()


def test_opening_touches_no_network_and_a_closed_store_says_so(pg_dsn: str, pg_schema: str) -> None:
    started = time.monotonic()
    nowhere = PostgisStore(f"postgresql://postgres@10.255.255.1:{free_port()}/dev")  # unroutable
    nowhere.close()
    assert time.monotonic() - started < 0.5
    s = PostgisStore(pg_dsn, schema=pg_schema)
    s.migrate()
    assert s.count("records") == 0
    s.close()
    s.close()
    with pytest.raises(StoreError, match="is closed"):
        s.count("records")
