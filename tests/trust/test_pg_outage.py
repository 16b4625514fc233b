"""PostgreSQL goes away while the API is under load: answers keep coming from the last snapshot, marked
stale, and the API recovers by itself within 10 s of PostgreSQL's return.

The cluster is a throw-away one (scripts/pg.sh with its own directory and port), never the shared or the
test cluster; the load is a few loopback client threads, bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.trust.ratelimit import RateLimiter
from risk.store.postgis import PostgisStore
from risk.store.settings import StoreSettings
from tests.conftest import missing
from tests.trust.test_faults import copy_into
from tests.trust.trustcity import TrustCity

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="riskmap-outage-", dir="/var/tmp"))
        self.dir.chmod(0o755)  # the postgres user runs the server
        self.env = {**os.environ, "RISKMAP_PG_DIR": str(self.dir), "RISKMAP_PG_PORT": str(free_port())}

    def pg(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "pg.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg.sh {args}: {done.stderr[-1500:]}")
        return done.stdout.strip()


@pytest.fixture
def cluster():
    if not Path("/usr/lib/postgresql/15/bin/initdb").exists():
        missing("postgis", "PostgreSQL 15 is not installed")
    c = Cluster()
    try:
        c.pg("start")
        yield c
    finally:
        with contextlib.suppress(RuntimeError):
            c.pg("stop")
        shutil.rmtree(c.dir, ignore_errors=True)


def test_the_api_serves_stale_while_postgres_is_down_and_recovers(
    cluster: Cluster, trust_city: TrustCity, live_server
) -> None:
    dsn = cluster.pg("dsn")
    store = PostgisStore(
        dsn, schema="outage", settings=StoreSettings(connect_timeout_s=1, pool_min=1, pool_max=4)
    )
    store.migrate()
    copy_into(trust_city.store, store)
    sid = store.current_snapshot().snapshot_id
    app = create_app(store=store)
    app.state.limiter = RateLimiter(1e6, 1e6)
    log: list[tuple[float, int, bool, int | None]] = []
    stop = threading.Event()

    def client(headers: dict[str, str]) -> None:
        with httpx.Client(base_url=srv.url, timeout=5, headers=headers) as http:
            while not stop.is_set():
                r = http.get("/v1/risk", params={"lat": 10.776, "lon": 106.70})
                body = r.json() if r.status_code == 200 else {}
                log.append(
                    (
                        time.monotonic(),
                        r.status_code,
                        r.headers.get("x-riskmap-stale") == "true",
                        body.get("snapshot_id"),
                    )
                )
                time.sleep(0.01)

    with live_server(app) as srv:
        threads = [
            threading.Thread(target=client, args=(h,)) for h in ({}, {}, trust_city.callers["app"].headers)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            t_down = time.monotonic()
            cluster.pg("stop")
            deadline = t_down + 15
            while time.monotonic() < deadline and not any(stale for t, _, stale, _ in log if t > t_down):
                time.sleep(0.1)
            time.sleep(3)  # a while of outage under load
            t_back = time.monotonic()  # from the start command on: includes PostgreSQL's own start-up
            cluster.pg("start")
            deadline = t_back + 15
            recovered = None
            while time.monotonic() < deadline:
                fresh = [t for t, _, stale, _ in log if t > t_back and not stale]
                if fresh:
                    recovered = fresh[0]
                    break
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    store.close()
    during = [e for e in log if t_down < e[0] < t_back]
    first_stale = min(t for t, _, stale, _ in during if stale) if any(e[2] for e in during) else t_back
    marked = [stale for t, _, stale, _ in during if t >= first_stale + 1.5]  # one poll + connect timeout
    assert len(log) > 100 and during
    assert all(code == 200 for _, code, _, _ in log), {code for _, code, _, _ in log}
    assert all(s == sid for _, _, _, s in log)  # always the last good snapshot
    assert any(stale for _, _, stale, _ in during), "answers during the outage were not marked stale"
    assert marked and all(marked), "once noticed, the outage stays marked until PostgreSQL returns"
    assert recovered is not None, "the API did not recover within 15 s of PostgreSQL's return"
    took = recovered - t_back
    assert took <= 10, f"recovered {took:.1f} s after PostgreSQL returned"
    assert not any(stale for t, _, stale, _ in log if t > recovered + 2)
    print(
        f"outage: {len(during)} answers while down, all 200, marked stale {first_stale - t_down:.1f} s after "
        f"the stop; fresh again {took:.1f} s after PostgreSQL was started"
    )
