"""Levels through time: one unit's series, and every unit of a type across the snapshots (bulk files).

History is the snapshots of the served profile, one per as-of day (the last written for that day;
`SnapshotHolder.history`). A delta snapshot's levels are its chain's (`api.snapshot.read_chain`). Reads
of past snapshots are immutable, so they are cached by snapshot id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pandas as pd

from api.snapshot import SnapshotHolder, snapshot_chain
from risk.store import SnapshotInfo, Store

COLUMNS = ["unit_id", "name", "parent_id", "level", "metrics", "pending_level", "pending_effective_at"]


class HistoryCache:
    """Effective level rows per (snapshot, unit type[, unit]) — immutable, so kept until evicted."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._items: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def rows(
        self, store: Store, info: SnapshotInfo, unit_type: str, unit_id: str | None = None
    ) -> pd.DataFrame:
        key = (int(info.snapshot_id), unit_type, unit_id)  # type: ignore[arg-type]
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        filters: list[tuple[str, str, Any]] = [("unit_type", "=", unit_type)]
        if unit_id is not None:
            filters.append(("unit_id", "=", unit_id))
        parts = [
            store.read_snapshot(int(s.snapshot_id), "levels", columns=COLUMNS, filters=filters)  # type: ignore[arg-type]
            for s in snapshot_chain(store, info)
        ]
        parts = [p for p in parts if len(p)]
        frame = (
            pd.concat(parts, ignore_index=True).drop_duplicates("unit_id", keep="last")
            if parts
            else pd.DataFrame(columns=COLUMNS)
        )
        frame = frame.sort_values("unit_id").reset_index(drop=True)
        with self._lock:
            self._items[key] = frame
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return frame


def unit_series(
    holder: SnapshotHolder, cache: HistoryCache, unit_type: str, unit_id: str
) -> list[tuple[SnapshotInfo, dict[str, Any] | None]]:
    """(snapshot, row or None) for every snapshot of the history, oldest first."""
    out = []
    for info in holder.history():
        rows = cache.rows(holder.store, info, unit_type, unit_id)
        out.append((info, rows.iloc[0].to_dict() if len(rows) else None))
    return out


def type_series(
    holder: SnapshotHolder, cache: HistoryCache, unit_type: str
) -> list[tuple[SnapshotInfo, pd.DataFrame]]:
    """(snapshot, rows of every unit of a type) for every snapshot of the history, oldest first."""
    return [(info, cache.rows(holder.store, info, unit_type)) for info in holder.history()]
