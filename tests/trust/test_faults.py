"""Fault tests: kill -9 during ingest and during scoring (real `riskmap` processes), on both backends.

The killed process is held inside a table write (a class-level hook that sleeps on the N-th write and
drops a marker file), so SIGKILL lands mid-commit every time, not by luck. Then the work is run again;
the store must equal one clean run: every batch once, every row once, no partial batch or snapshot.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from risk.ingest.pipeline import ingest_file
from risk.ingest.place import RegistryPlacer
from risk.reference import load_reference
from risk.score import score
from risk.store.base import Store
from risk.store.embedded import EmbeddedStore
from risk.store.postgis import PostgisStore
from risk.store.tables import TABLES
from tests import minicity
from tests.trust.trustcity import TrustCity

HOLD = """
import os, sys, time
from pathlib import Path
from risk.store.embedded import EmbeddedStore
from risk.store.postgis import PostgisStore
backend, call, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
cls, name = (EmbeddedStore, "_write_parquet") if backend == "embedded" else (PostgisStore, "_copy_in")
original = getattr(cls, name)
calls = [0]
def hooked(*args, **kwargs):
    calls[0] += 1
    if calls[0] == call:
        marker.write_text(str(os.getpid()))
        time.sleep(600)  # held here until the test kills us
    return original(*args, **kwargs)
setattr(cls, name, staticmethod(hooked) if backend == "embedded" else hooked)
sys.argv = ["riskmap", *sys.argv[4:]]
from api.cli import main
main()
"""


def env_for(store: Store, sources: Path) -> dict[str, str]:
    env = {**os.environ, "RISKMAP_INGEST_SOURCES_DIR": str(sources)}
    if isinstance(store, EmbeddedStore):
        env |= {"RISKMAP_STORE_BACKEND": "embedded", "RISKMAP_STORE_PATH": str(store.path)}
    else:
        dsn = os.environ["RISKMAP_TEST_PG_DSN"]
        env |= {
            "RISKMAP_STORE_BACKEND": "postgis",
            "RISKMAP_STORE_DSN": dsn,
            "RISKMAP_STORE_SCHEMA": store.schema,
        }
    return env


def kill_mid_write(store: Store, sources: Path, tmp: Path, call: int, *args: str) -> None:
    """Run `riskmap ARGS` held on its `call`-th table write, and SIGKILL it there."""
    marker = tmp / f"held-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, store.backend, str(call), str(marker), *args],
        env=env_for(store, sources),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"riskmap {args} ended before its write {call}: {proc.stderr.read()[-2000:]}"
            )
        assert time.monotonic() < deadline, "the process never reached the write"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    proc.stderr.close()


@pytest.fixture(params=["embedded", "postgis"])
def blank_store(request, tmp_path: Path):
    if request.param == "embedded":
        store: Store = EmbeddedStore(tmp_path / "store")
    else:
        store = PostgisStore(request.getfixturevalue("pg_dsn"), schema=request.getfixturevalue("pg_schema"))
        store.migrate()
    yield store
    store.close()


def mini_sources(root: Path) -> tuple[minicity.MiniCity, Path]:
    city = minicity.build(root / "city")
    sources = root / "sources"
    sources.mkdir()
    for name, text in (("registry", minicity.REGISTRY), ("doses", minicity.DOSES), ("cases", minicity.CASES)):
        (sources / f"mini-{name}.toml").write_text(text, encoding="utf-8")
    return city, sources


def ingest_all(store: Store, city: minicity.MiniCity, latest: dt.date) -> None:
    """What `riskmap ingest FOLDER` does, in this process (the restart and the clean run)."""
    placer = RegistryPlacer.from_store(store)
    files = sorted(city.feeds.items(), key=lambda kv: (city.mappings[kv[0]].kind != "registry", str(kv[1])))
    for sid, f in files:  # the registry first, as `riskmap ingest` orders them
        ingest_file(store, f, city.mappings[sid], placer=placer, latest=latest)


def data_state(store: Store) -> dict[str, object]:
    """What must match a clean run: batch accounts by content, records and quarantine by origin."""
    batches = sorted(
        (b.content_sha256, b.source, b.rows_in, b.accepted, b.corrected, b.quarantined, b.duplicates)
        for b in store.list_batches()
    )
    rec = store.read_table("records").drop(columns=["record_id", "batch_id"])
    rec = rec.sort_values(["source", "row_number"]).reset_index(drop=True)
    q = store.read_table("quarantine").drop(columns=["batch_id"]).sort_values(["source", "row_number"])
    return {"batches": batches, "records": rec, "quarantine": q.reset_index(drop=True)}


@pytest.fixture(scope="module")
def clean_ingest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One clean run of the same feeds (the city is built the same way every time: seeded)."""
    root = tmp_path_factory.mktemp("clean")
    city, _ = mini_sources(root)
    clean = EmbeddedStore(root / "store")
    load_reference(clean, city.dir)
    ingest_all(clean, city, dt.date(2021, 10, 24))
    return data_state(clean)


def test_kill_9_during_ingest_then_restart_equals_one_clean_run(
    blank_store: Store, clean_ingest: dict[str, object], tmp_path: Path
) -> None:
    city, sources = mini_sources(tmp_path)
    latest = dt.date(2021, 10, 24)
    load_reference(blank_store, city.dir)
    # batch 1 (registry) commits; the kill lands inside batch 2's commit
    kill_mid_write(
        blank_store, sources, tmp_path, 3, "ingest", str(city.dir / "feeds"), "--latest", "2021-10-24"
    )
    survived = blank_store.list_batches()
    assert 1 <= len(survived) < 3
    for b in survived:  # no batch is visible without all of its rows
        assert (
            blank_store.count("records", filters=[("batch_id", "=", b.batch_id)]) == b.accepted + b.corrected
        )
    committed = {b.batch_id for b in survived}
    assert set(blank_store.read_table("records", columns=["batch_id"])["batch_id"]) <= committed

    ingest_all(blank_store, city, latest)  # the restart (files done before the kill add nothing)
    got, want = data_state(blank_store), clean_ingest

    assert got["batches"] == want["batches"] and len(got["batches"]) == 3
    pd.testing.assert_frame_equal(got["records"], want["records"], check_dtype=False)
    pd.testing.assert_frame_equal(got["quarantine"], want["quarantine"], check_dtype=False)
    assert blank_store.read_table("records")["record_id"].is_unique


def copy_into(src: Store, dst: Store) -> None:
    tables = {n: src.read_table(n) for n, t in TABLES.items() if not t.snapshot and src.count(n)}
    dst.write_tables(tables, mode="replace")
    cur = src.current_snapshot()
    snap = dst.write_snapshot(cur, {"levels": src.read_snapshot(cur.snapshot_id, "levels")})
    dst.publish_snapshot(snap.snapshot_id)


def test_kill_9_during_scoring_then_restart_equals_one_clean_run(
    blank_store: Store, trust_city: TrustCity, tmp_path: Path
) -> None:
    if isinstance(blank_store, EmbeddedStore):
        blank_store.close()
        shutil.rmtree(blank_store.path)
        shutil.copytree(trust_city.store.path, blank_store.path)
        store: Store = EmbeddedStore(blank_store.path)
    else:
        store = blank_store
        copy_into(trust_city.store, store)
    before = store.current_snapshot()
    n_before = len(store.list_snapshots())
    clean_levels = store.read_snapshot(before.snapshot_id, "levels")

    kill_mid_write(store, tmp_path, tmp_path, 1, "score", "--as-of", "2021-10-24")
    assert store.current_snapshot().snapshot_id == before.snapshot_id  # readers never saw the killed one
    assert len(store.list_snapshots()) == n_before  # nor does anyone else

    again = score(store, dt.date(2021, 10, 24))  # the restart
    assert store.current_snapshot().snapshot_id == again.snapshot.snapshot_id
    assert len(store.list_snapshots()) == n_before + 1
    got = store.read_snapshot(again.snapshot.snapshot_id, "levels")
    key = ["unit_type", "unit_id"]
    cols = [c for c in clean_levels.columns if c != "snapshot_id"]
    pd.testing.assert_frame_equal(
        got[cols].sort_values(key).reset_index(drop=True),
        clean_levels[cols].sort_values(key).reset_index(drop=True),
    )
