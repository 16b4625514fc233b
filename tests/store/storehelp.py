"""Helpers of the store tests: where a store lives, and hooks that pause, fail or crash a writer."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from storedata import sample_frame

from risk.store.base import SnapshotInfo, Store
from risk.store.settings import StoreSettings
from risk.store.tables import TABLES

# The method each backend calls once per table it writes: where the tests inject faults and crashes.
WRITE_HOOK = {"embedded": "_write_parquet", "postgis": "_copy_in"}


@dataclass(frozen=True)
class Location:
    """Where a test's store lives, so that other stores (threads, processes) can open the same one."""

    backend: str
    path: Path | None = None
    dsn: str | None = None
    schema: str | None = None

    def open(self) -> Store:
        if self.backend == "embedded":
            from risk.store.embedded import EmbeddedStore

            assert self.path is not None
            return EmbeddedStore(self.path)
        from risk.store.postgis import PostgisStore

        assert self.dsn is not None and self.schema is not None
        return PostgisStore(self.dsn, schema=self.schema, settings=StoreSettings(connect_timeout_s=5))

    def python(self) -> str:
        """Python source that opens this store as `store` (for tests that run a separate process)."""
        if self.backend == "embedded":
            return (
                f"from risk.store.embedded import EmbeddedStore\nstore = EmbeddedStore({str(self.path)!r})\n"
            )
        return (
            "from risk.store.postgis import PostgisStore\n"
            f"store = PostgisStore({self.dsn!r}, schema={self.schema!r})\n"
        )


def on_write(
    store: Store, monkeypatch: pytest.MonkeyPatch, call: int, action: Callable[[], Any]
) -> list[int]:
    """Run `action` when the backend is about to write its `call`-th table (1-based), then go on."""
    name = WRITE_HOOK[store.backend]
    original = getattr(store, name)
    calls: list[int] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == call:
            action()
        return original(*args, **kwargs)

    monkeypatch.setattr(store, name, hooked)
    return calls


def fail_on_write(store: Store, monkeypatch: pytest.MonkeyPatch, call: int) -> list[int]:
    """Make the `call`-th table write fail after the earlier ones have gone through."""

    def boom() -> None:
        raise RuntimeError("injected fault")

    return on_write(store, monkeypatch, call, boom)


class Pause:
    """Holds a writer inside its write until the test has looked around."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        assert self.release.wait(60), "the test never released the paused writer"


def info(**changes: Any) -> SnapshotInfo:
    base = SnapshotInfo(
        as_of=dt.datetime(2021, 8, 1, 17, 0, tzinfo=dt.UTC),
        profile="moh-4800",
        profile_version="2021-10",
        input_watermark=7,
        stats={"wards": 168, "tên": "Thành phố Hồ Chí Minh", "rate": 0.25, "nested": {"a": [1, 2]}},
    )
    return SnapshotInfo(**{**base.__dict__, **changes})


def levels(n: int = 5, level: int = 2) -> pd.DataFrame:
    df = sample_frame(TABLES["levels"], n)
    df["level"] = pd.array([level] * n, dtype="Int8")
    return df


CRASHING_WRITER = """
import os, sys
sys.path.insert(0, {tests!r})
import datetime as dt
from storedata import sample_frame
from risk.store.base import SnapshotInfo
from risk.store.tables import TABLES
{open}
original = getattr(store, {hook!r})
calls = []
def hooked(*args, **kwargs):
    calls.append(1)
    if len(calls) == {call}:
        os._exit(17)  # like kill -9: no cleanup, no rollback from this side
    return original(*args, **kwargs)
setattr(store, {hook!r}, hooked)
{action}
raise SystemExit("the writer should have crashed")
"""


def crash_writer(location: Location, action: str, call: int) -> None:
    code = CRASHING_WRITER.format(
        tests=str(Path(__file__).parent),
        open=location.python(),
        hook=WRITE_HOOK[location.backend],
        call=call,
        action=action,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 17, done.stderr
