"""The embedded store after crashes and beside other processes: nothing half-written shows, leftovers go.

A crashed writer leaves staged Parquet files nobody names and, mid-snapshot, a catalog row in state
'writing'. Neither is ever visible; both are collected once older than the grace period, and never while
another process may still be writing them.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from storedata import sample_frame
from storehelp import Location, Pause, crash_writer, info, levels, on_write

from risk.store import embedded
from risk.store.base import StoreError
from risk.store.embedded import EmbeddedStore
from risk.store.tables import TABLES


def files(root: Path, sub: str) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / sub).rglob("*") if p.is_file()}


def catalogued(root: Path) -> set[str]:
    with sqlite3.connect(root / "catalog.sqlite") as con:
        return {r[0] for r in con.execute("SELECT file FROM segments")}


def writing(root: Path) -> list[int]:
    with sqlite3.connect(root / "catalog.sqlite") as con:
        return [r[0] for r in con.execute("SELECT snapshot_id FROM snapshots WHERE status='writing'")]


@pytest.fixture
def place(tmp_path: Path) -> Location:
    return Location("embedded", path=tmp_path / "store")


def test_a_crashed_write_leaves_orphans_that_are_collected_later(place: Location, monkeypatch: Any) -> None:
    root = place.path
    assert root is not None
    EmbeddedStore(root).write_tables({"persons": sample_frame(TABLES["persons"], 2)})
    crash_writer(
        place,
        "store.write_tables({'persons': sample_frame(TABLES['persons'], 9), "
        "'records': sample_frame(TABLES['records'], 4)}, mode='replace')",
        call=2,
    )
    orphans = files(root, "tables") - catalogued(root)
    assert len(orphans) == 1  # the first table's staged file, never committed
    reopened = EmbeddedStore(root)  # young orphans are spared: a writer may be about to commit them
    assert files(root, "tables") - catalogued(root) == orphans
    assert reopened.count("persons") == 2 and reopened.count("records") == 0
    monkeypatch.setattr(embedded, "GRACE_SECONDS", -1.0)
    EmbeddedStore(root)
    assert files(root, "tables") == catalogued(root)
    assert EmbeddedStore(root).count("persons") == 2


def test_a_snapshot_crashed_midway_never_shows_and_is_collected(place: Location, monkeypatch: Any) -> None:
    root = place.path
    assert root is not None
    EmbeddedStore(root)
    crash_writer(
        place,
        "store.write_snapshot(SnapshotInfo(dt.datetime(2021, 8, 1), 'p', '1', 0), "
        "{'levels': sample_frame(TABLES['levels'], 3)})",
        call=1,
    )
    (sid,) = writing(root)
    store = EmbeddedStore(root)
    assert store.list_snapshots() == [] and writing(root) == [sid]  # young: perhaps still being written
    with pytest.raises(StoreError):
        store.publish_snapshot(sid)
    with pytest.raises(StoreError):
        store.read_snapshot(sid, "levels")
    monkeypatch.setattr(embedded, "GRACE_SECONDS", -1.0)
    store = EmbeddedStore(root)
    assert writing(root) == [] and not (root / "snapshots" / f"{sid:08d}").exists()
    fresh = store.write_snapshot(info(), {"levels": levels(2)})
    assert fresh.snapshot_id != sid and store.list_snapshots() == [fresh]


def test_opening_the_store_spares_a_snapshot_another_process_is_writing(
    place: Location, monkeypatch: Any
) -> None:
    root = place.path
    assert root is not None
    writer_store = EmbeddedStore(root)
    pause = Pause()
    on_write(writer_store, monkeypatch, 1, pause)
    done: list[Any] = []
    writer = threading.Thread(
        target=lambda: done.append(writer_store.write_snapshot(info(), {"levels": levels(4)}))
    )
    writer.start()
    try:
        assert pause.reached.wait(60)
        EmbeddedStore(root)  # another process starting up: migrates and collects garbage
    finally:
        pause.release.set()
        writer.join(60)
    assert done, "the snapshot write failed"
    assert len(writer_store.read_snapshot(done[0].snapshot_id, "levels")) == 4


def test_a_writer_whose_staged_files_were_collected_fails_instead_of_committing_them(
    place: Location, monkeypatch: Any
) -> None:
    root = place.path
    assert root is not None
    store = EmbeddedStore(root)
    pause = Pause()
    on_write(store, monkeypatch, 2, pause)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            store.write_tables(
                {"persons": sample_frame(TABLES["persons"], 3), "records": sample_frame(TABLES["records"], 2)}
            )
        except BaseException as exc:  # checked below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert pause.reached.wait(60)
        monkeypatch.setattr(embedded, "GRACE_SECONDS", -1.0)  # as if the write had been slow
        EmbeddedStore(root)
    finally:
        pause.release.set()
        writer.join(60)
    assert len(errors) == 1 and "collected before commit" in str(errors[0])
    assert store.count("persons") == 0 and store.count("records") == 0
    assert catalogued(root) == set()
