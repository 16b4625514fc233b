"""The current snapshot, held in memory for serving, and swapped atomically when a new one is published.

A `SnapshotView` is built once per snapshot: the levels of every area unit (city, wards, groups, H3
cells) indexed for lookups, per drawn unit type the arrays tiles are drawn from, and a cache of the
answers already serialised. Requests take one reference to the current view and use only it, so no
response mixes two snapshots. If the store becomes unreachable the last view keeps serving, marked stale.

**Delta snapshots.** An incremental update is a snapshot with `parent_id` = the snapshot it amends and
`stats["delta"] = true`, holding only the rows that changed. Its view is the parent's view with those
rows replaced: `apply_delta` copies the parent's level table, swaps in the changed rows and recomputes
only the touched unit types, in milliseconds, so an update shows through the API within the poll
interval. A view's `chain` lists the full snapshot and the deltas applied to it, in order; PostGIS tiles
read the same chain.

Geometry (`api.mapdata.MapData`) is shared by all views and reloaded only when `map_units` changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd

from api.answers import answer, level_colour, level_label
from api.mapdata import POLYGON_TYPES, HouseholdPoints, MapData, map_fingerprint
from api.privacy import SMALL_AREA_TYPES, is_small, privacy_settings, suppressed_answer
from api.tiles.prepare import ensure_map_units
from geo.gazetteer import Gazetteer, load_gazetteer
from risk.profiles import Profile, load_profile
from risk.store import SnapshotInfo, Store, StoreError
from risk.store.tables import HOUSEHOLD_FLAGS

log = logging.getLogger("riskmap.snapshot")

LEVEL_COLUMNS = [
    "unit_type",
    "unit_id",
    "parent_id",
    "name",
    "level",
    "profile",
    "profile_version",
    "population",
    "metrics",
    "reasons",
    "pending_level",
    "pending_effective_at",
]
HOUSEHOLD_TILE_COLUMNS = ["household_id", "level", *HOUSEHOLD_FLAGS]
HOTSPOT_RE = r'"hotspot":\s*(?:true|1(?:\.0)?)\b'  # the scoring writes 1 / -1 / 0
ANSWER_CACHE = 200_000


def is_delta(info: SnapshotInfo) -> bool:
    return bool(info.stats.get("delta")) and info.parent_id is not None


def snapshot_chain(store: Store, info: SnapshotInfo) -> list[SnapshotInfo]:
    """The full snapshot a (delta) snapshot builds on, then every delta up to it, in order."""
    chain = [info]
    seen = {info.snapshot_id}
    while is_delta(chain[0]):
        parent = store.get_snapshot(int(chain[0].parent_id))  # type: ignore[arg-type]
        if parent.snapshot_id in seen:
            raise StoreError(f"snapshot {info.snapshot_id}: its chain of parents loops")
        seen.add(parent.snapshot_id)
        chain.insert(0, parent)
    return chain


def read_chain(
    store: Store, chain: list[int], table: str, key: list[str], columns: list[str] | None = None
) -> pd.DataFrame:
    """Rows of a snapshot table as a chain sees them: later snapshots replace earlier rows by key."""
    parts = [store.read_snapshot(sid, table, columns=columns) for sid in chain]
    parts = [p for p in parts if len(p)]
    if not parts:
        return store.read_snapshot(chain[-1], table, columns=columns)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        frame = frame.drop_duplicates(key, keep="last")
    return frame.reset_index(drop=True)


@dataclass
class TileLevels:
    """Per drawn unit type, what its tile features carry, aligned with `MapData.units[type]`."""

    level: np.ndarray  # int16, -1 where the snapshot has no row
    pending: np.ndarray  # int16, -1 where no raise is pending
    hotspot: np.ndarray  # bool


def household_flags_text(frame: pd.DataFrame) -> np.ndarray:
    """Per row, the set flags of `household_levels` as "f0;support" (None when none), vectorised."""
    text = np.full(len(frame), "", dtype=object)
    for column, code in HOUSEHOLD_FLAGS.items():
        if column in frame.columns:
            on = frame[column].fillna(False).to_numpy(dtype=bool)
            text = np.where(on, np.where(text == "", code, text + ";" + code), text)
    return np.where(text == "", None, text)


def household_flag_codes(frame: pd.DataFrame) -> np.ndarray:
    """Per row, the set flags of `household_levels` as a bit mask (bit i: the i-th of HOUSEHOLD_FLAGS)."""
    code = np.zeros(len(frame), dtype=np.uint8)
    for bit, column in enumerate(HOUSEHOLD_FLAGS):
        if column in frame.columns:
            code |= frame[column].fillna(False).to_numpy(dtype=bool).astype(np.uint8) << np.uint8(bit)
    return code


# Text of every flag mask, as `household_flags_text` writes it ("f0;support"; None when none).
FLAG_TEXT = np.array(
    [
        ";".join(c for bit, c in enumerate(HOUSEHOLD_FLAGS.values()) if m >> bit & 1) or None
        for m in range(256)
    ],
    dtype=object,
)


@dataclass
class HouseholdLevels:
    """Household levels of one view for drawing (ids sorted; details are read per request).

    Flags are held as one byte per household (a delta copies 4 MB, not millions of object pointers);
    `flags[j]` gives their text."""

    ids: np.ndarray  # int64, sorted
    level: np.ndarray  # int16
    flag_code: np.ndarray  # uint8 bit mask (see `household_flag_codes`)

    @property
    def flags(self) -> np.ndarray:
        return _FlagText(self.flag_code)  # type: ignore[return-value]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> HouseholdLevels:
        frame = frame.sort_values("household_id")
        return cls(
            frame["household_id"].to_numpy(dtype=np.int64),
            frame["level"].fillna(-1).to_numpy(dtype=np.int16),
            household_flag_codes(frame),
        )

    def lookup(self, household_ids: np.ndarray) -> np.ndarray:
        """Positions of ids (-1 where absent)."""
        ids = np.asarray(household_ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        i = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        return np.where(self.ids[i] == ids, i, -1)

    def replaced(self, frame: pd.DataFrame) -> HouseholdLevels:
        """These levels with a delta's rows swapped in (new households added).

        The usual delta names households this view holds: their entries are patched in copies of the
        arrays (milliseconds for millions of households); only new households cost a merge and sort."""
        delta = HouseholdLevels.from_frame(frame)
        pos = self.lookup(delta.ids)
        if (pos >= 0).all():
            level, code = self.level.copy(), self.flag_code.copy()
            level[pos] = delta.level
            code[pos] = delta.flag_code
            return HouseholdLevels(self.ids, level, code)
        mask = np.ones(len(self.ids), dtype=bool)
        mask[pos[pos >= 0]] = False
        ids = np.concatenate([self.ids[mask], delta.ids])
        order = np.argsort(ids, kind="stable")
        return HouseholdLevels(
            ids[order],
            np.concatenate([self.level[mask], delta.level])[order],
            np.concatenate([self.flag_code[mask], delta.flag_code])[order],
        )


class _FlagText:
    """Read-only text view of flag masks: `flags[j]` (or an index array) → "f0;support" / None."""

    def __init__(self, code: np.ndarray) -> None:
        self.code = code

    def __getitem__(self, j: Any) -> Any:
        return FLAG_TEXT[self.code[j]]

    def __len__(self) -> int:
        return len(self.code)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return FLAG_TEXT[self.code] if dtype is None else FLAG_TEXT[self.code].astype(dtype)


@dataclass
class SnapshotView:
    """Everything serving needs from one snapshot, prepared once."""

    info: SnapshotInfo
    chain: tuple[int, ...]
    profile: Profile
    gazetteer: Gazetteer
    map: MapData
    store: Store
    levels: pd.DataFrame  # area units, indexed by (unit_type, unit_id)
    tile_levels: dict[str, TileLevels]
    k: int
    loaded_at: float = field(default_factory=time.time)
    _households: HouseholdLevels | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.answer_bytes = lru_cache(maxsize=ANSWER_CACHE)(self._answer_bytes)  # type: ignore[method-assign]

    @property
    def snapshot_id(self) -> int:
        return int(self.info.snapshot_id)  # type: ignore[arg-type]

    @property
    def etag(self) -> str:
        return self.info.etag

    @property
    def unit_types(self) -> list[str]:
        return list(self.levels.index.get_level_values(0).unique())

    # --- units -------------------------------------------------------------------------------------

    def row(self, unit_type: str, unit_id: str) -> dict[str, Any] | None:
        try:
            r = self.levels.loc[(unit_type, unit_id)]
        except KeyError:
            return None
        if isinstance(r, pd.DataFrame):
            r = r.iloc[-1]
        return r.to_dict()

    def has(self, unit_type: str, unit_id: str) -> bool:
        return (unit_type, unit_id) in self.levels.index

    def small(self, unit_type: str, unit_id: str) -> bool:
        """A group or cell below k households (its level is hidden from callers without VIEW_HOUSEHOLDS)."""
        if unit_type not in SMALL_AREA_TYPES:
            return False
        return is_small(unit_type, self.map.households_of(unit_type, unit_id), self.k)

    def unscored(self, unit_type: str, unit_id: str) -> dict[str, Any] | None:
        """A drawn unit the snapshot gave no level (no households or records in it): it gets the
        explicit unknown, not a 404, since the place is covered. None for a unit the map lacks."""
        units = self.map.units.get(unit_type)
        i = None if units is None else units.pos.get(unit_id)
        if i is None:
            return None
        return {
            "level": None,
            "name": units.names[i],
            "parent_id": units.parent_ids[i],
            "reasons": '[{"step":"data","text":{"en":"no households or records in this unit",'
            '"vi":"không có hộ gia đình hay dữ liệu trong đơn vị này"}}]',
        }

    def answer(self, unit_type: str, unit_id: str, sees_small: bool = False) -> dict[str, Any] | None:
        r = self.row(unit_type, unit_id)
        if r is None:
            r = self.unscored(unit_type, unit_id)
        if r is None:
            return None
        code = None
        if unit_type in ("ward", "city", "district") and unit_id in self.gazetteer.units.index:
            code = str(self.gazetteer.units.at[unit_id, "code"])
        a = answer({**r, "unit_type": unit_type, "unit_id": unit_id}, self.info, self.profile, code=code)
        if not sees_small and self.small(unit_type, unit_id):
            return suppressed_answer(a, self.k)
        return a

    def _answer_bytes(self, unit_type: str, unit_id: str, sees_small: bool = False) -> bytes | None:
        a = self.answer(unit_type, unit_id, sees_small and unit_type in SMALL_AREA_TYPES)
        return None if a is None else orjson.dumps(a)

    # --- households ----------------------------------------------------------------------------------

    def household_levels(self) -> HouseholdLevels:
        """Levels of every household of this view (loaded on first use: millions of rows)."""
        if self._households is None:
            with self._lock:
                if self._households is None:
                    frame = read_chain(
                        self.store,
                        list(self.chain),
                        "household_levels",
                        ["household_id"],
                        HOUSEHOLD_TILE_COLUMNS,
                    )
                    self._households = HouseholdLevels.from_frame(frame)
        return self._households

    def household_row(self, household_id: int) -> dict[str, Any] | None:
        """One household's row (newest in the chain), read from the store."""
        for sid in reversed(self.chain):
            rows = self.store.read_snapshot(
                sid, "household_levels", filters=[("household_id", "=", int(household_id))]
            )
            if len(rows):
                return rows.iloc[-1].to_dict()
        return None

    def household_points(self) -> HouseholdPoints:
        return self.map.household_points(self.store)

    # --- serialised collections (built once per view) ----------------------------------------------

    def cached(self, key: str, build: Any) -> Any:
        """A value built once per view (serialised GeoJSON of all wards, bulk files, …)."""
        if key not in self._cache:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = build()
        return self._cache[key]

    def label(self, level: int, lang: str) -> str:
        return level_label(self.profile, level, lang)

    def colour(self, level: int) -> str:
        return level_colour(self.profile, level)


def _tile_levels(
    levels: pd.DataFrame, mapdata: MapData, types: list[str] | None = None
) -> dict[str, TileLevels]:
    out: dict[str, TileLevels] = {}
    present = set(levels.index.get_level_values(0).unique())
    for unit_type in types or POLYGON_TYPES:
        ids = mapdata.units[unit_type].ids
        n = len(ids)
        if unit_type not in present or not n:
            out[unit_type] = TileLevels(np.full(n, -1, np.int16), np.full(n, -1, np.int16), np.zeros(n, bool))
            continue
        rows = levels.xs(unit_type, level="unit_type", drop_level=True)
        rows = rows[~rows.index.duplicated(keep="last")].reindex(ids)
        out[unit_type] = TileLevels(*_tile_columns(rows))
    return out


def _tile_columns(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, pending level (-1 when none) and hot spot flag of level rows, as tiles draw them."""
    hotspot = rows["metrics"].astype("string").str.contains(HOTSPOT_RE, regex=True).fillna(False)
    return (
        rows["level"].astype("Float64").fillna(-1).to_numpy(dtype=np.int16),
        rows["pending_level"].astype("Float64").fillna(-1).to_numpy(dtype=np.int16),
        hotspot.to_numpy(dtype=bool),
    )


def _patched_tile_levels(
    tile_levels: dict[str, TileLevels], mapdata: MapData, delta: pd.DataFrame
) -> dict[str, TileLevels]:
    """Tile arrays with a delta's rows written at their units' positions (copies: the parent view is
    left as it was). Only the delta's rows are looked at, not every unit of the touched types."""
    out = dict(tile_levels)
    types = delta.index.get_level_values(0)
    for unit_type in types.unique():
        if unit_type not in POLYGON_TYPES or unit_type not in out:
            continue
        rows = delta[types == unit_type]
        rows = rows[~rows.index.duplicated(keep="last")]
        pos_of = mapdata.units[unit_type].pos
        pos = np.array([pos_of.get(u, -1) for u in rows.index.get_level_values(1)], dtype=np.int64)
        keep = pos >= 0
        level, pending, hotspot = _tile_columns(rows[keep])
        old = out[unit_type]
        new = TileLevels(old.level.copy(), old.pending.copy(), old.hotspot.copy())
        new.level[pos[keep]] = level
        new.pending[pos[keep]] = pending
        new.hotspot[pos[keep]] = hotspot
        out[unit_type] = new
    return out


def _patched_levels(levels: pd.DataFrame, delta: pd.DataFrame) -> pd.DataFrame | None:
    """`levels` with a delta's rows written over the rows of the same units, in place of a concatenation
    and a sort of every unit (a shallow copy: pandas' copy-on-write copies only the columns written, and
    the index, with its hash table, is shared). None when the delta brings units `levels` lacks."""
    if delta.index.has_duplicates:
        return None
    pos = levels.index.get_indexer(delta.index)
    if (pos < 0).any():
        return None
    out = levels.copy(deep=False)
    for c in delta.columns:
        if c in out.columns and c not in ("unit_type", "unit_id"):  # the keys the rows were found by
            out.iloc[pos, out.columns.get_loc(c)] = delta[c].to_numpy()
    return out


# Text columns a delta rewrites, held as Python objects: writing a few rows into an Arrow-backed string
# column rebuilds the whole column (~0.1 s per column for 170 k units), into an object column it does not.
PATCHED_TEXT = ("parent_id", "name", "profile", "profile_version", "metrics", "reasons")


def _index(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in LEVEL_COLUMNS if c in frame.columns]
    out = frame[cols].set_index(["unit_type", "unit_id"], drop=False).sort_index()
    return out.astype({c: object for c in PATCHED_TEXT if c in out.columns})


def build_view(
    store: Store, info: SnapshotInfo, mapdata: MapData, chain: list[SnapshotInfo] | None = None
) -> SnapshotView:
    """Read a snapshot (and, for a delta, the chain it amends) and prepare it (off the request path)."""
    chain = chain or snapshot_chain(store, info)
    ids = [int(c.snapshot_id) for c in chain]  # type: ignore[arg-type]
    base = chain[0]
    levels = _index(read_chain(store, ids, "levels", ["unit_type", "unit_id"]))
    levels.index.get_indexer(levels.index[:1])  # its hash table now, not in the first delta
    return SnapshotView(
        info=info,
        chain=tuple(ids),
        profile=load_profile(base.profile),
        gazetteer=mapdata.gazetteer,
        map=mapdata,
        store=store,
        levels=levels,
        tile_levels=_tile_levels(levels, mapdata),
        k=privacy_settings().k,
    )


def apply_delta(view: SnapshotView, info: SnapshotInfo) -> SnapshotView:
    """The view of a delta snapshot: its parent's view with the changed rows swapped in."""
    store = view.store
    delta = store.read_snapshot(int(info.snapshot_id), "levels")  # type: ignore[arg-type]
    levels = view.levels
    tile_levels = view.tile_levels
    if len(delta):
        delta = _index(delta)
        patched = _patched_levels(levels, delta)
        if patched is not None:
            levels = patched
            tile_levels = _patched_tile_levels(tile_levels, view.map, delta)
        else:  # new units: merge and sort, and draw the touched types again
            levels = pd.concat([levels[~levels.index.isin(delta.index)], delta]).sort_index()
            touched = [t for t in delta.index.get_level_values(0).unique() if t in POLYGON_TYPES]
            tile_levels = {**tile_levels, **_tile_levels(levels, view.map, touched)}
    households = None
    if view._households is not None:
        changed = store.read_snapshot(
            int(info.snapshot_id), "household_levels", columns=HOUSEHOLD_TILE_COLUMNS
        )  # type: ignore[arg-type]
        households = view._households.replaced(changed) if len(changed) else view._households
    return SnapshotView(
        info=info,
        chain=(*view.chain, int(info.snapshot_id)),  # type: ignore[arg-type]
        profile=view.profile,
        gazetteer=view.gazetteer,
        map=view.map,
        store=store,
        levels=levels,
        tile_levels=tile_levels,
        k=view.k,
        _households=households,
    )


def freeze_heap() -> None:
    """Take every object alive now (above all a view just built) out of the garbage collector's
    generations. Request garbage triggers full collections every few thousand requests, and each one
    walked the whole view: 0.4–2 s with the full-scale city in memory, a stall of every request in
    flight. Views hold no reference cycles (replacing one left 12 unreachable objects), so what is
    frozen is freed by reference counting when the view is dropped; nothing leaks."""
    gc.freeze()


class SnapshotHolder:
    """Holds the current view; a background task swaps in newly published snapshots."""

    def __init__(
        self, store: Store, poll_seconds: float = 0.25, *, past_views: int = 3, auto_prepare: bool = True
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.past_views = past_views
        self.auto_prepare = auto_prepare
        self._view: SnapshotView | None = None
        self._map: MapData | None = None
        self._past: OrderedDict[int, SnapshotView] = OrderedDict()
        self._lock = threading.Lock()
        self._past_lock = threading.Lock()
        self.stale = False
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.listeners: list[Any] = []  # called with the new view after each swap (tile caches)

    @property
    def view(self) -> SnapshotView | None:
        return self._view

    def mapdata(self, check: bool = True) -> MapData:
        """The map's geometry, reloaded when `map_units` changed (rebuilt first if stale and allowed)."""
        gaz = load_gazetteer()
        if self._map is not None and not check:
            return self._map
        if self.auto_prepare:
            ensure_map_units(self.store, gaz)
        fp = map_fingerprint(self.store)
        if self._map is None or self._map.fingerprint != fp:
            self._map = MapData.load(self.store, gaz)
            log.info("map geometry loaded: %s", {t: len(u) for t, u in self._map.units.items()})
        return self._map

    def refresh(self) -> bool:
        """Load the current snapshot if it changed; True when a new view was swapped in."""
        with self._lock:
            try:
                info = self.store.current_snapshot()
            except StoreError as exc:  # store down: keep serving what we hold
                self.stale, self.last_error = True, str(exc)
                return False
            self.stale, self.last_error = False, None
            held = self._view
            if info is None or (held is not None and held.info.snapshot_id == info.snapshot_id):
                return False
            started = time.perf_counter()
            if held is not None and is_delta(info) and info.parent_id == held.info.snapshot_id:
                view = apply_delta(held, info)
                how = "delta applied"
            else:
                chain = snapshot_chain(self.store, info)
                view = build_view(self.store, chain[0], self.mapdata(), [chain[0]])
                for d in chain[1:]:
                    view = apply_delta(view, d)
                how = "built" if len(chain) == 1 else f"built from {len(chain)} snapshots"
            self._view = view  # one reference assignment: readers see the old view or the new one
            freeze_heap()
            log.info(
                "serving snapshot %s (as of %s): %s in %.0f ms",
                info.snapshot_id,
                info.as_of,
                how,
                (time.perf_counter() - started) * 1000,
            )
            for listener in self.listeners:
                try:
                    listener(view)
                except Exception:
                    log.exception("snapshot listener failed")
            return True

    # --- past snapshots (as-of queries) ----------------------------------------------------------------

    def history(self) -> list[SnapshotInfo]:
        """The snapshots of the served profile, one per as-of day (the latest written for that day)."""
        current = self._view
        snaps = self.store.list_snapshots()
        if current is not None:
            snaps = [
                s
                for s in snaps
                if s.profile == current.info.profile and s.snapshot_id <= current.info.snapshot_id
            ]
        by_day: dict[dt.date, SnapshotInfo] = {}
        for s in sorted(snaps, key=lambda s: int(s.snapshot_id)):  # type: ignore[arg-type]
            by_day[s.as_of.date()] = s
        return [by_day[d] for d in sorted(by_day)]

    def view_at(self, day: dt.date) -> SnapshotView | None:
        """The view of the last snapshot whose as-of day is on or before `day` (None before the first)."""
        candidates = [s for s in self.history() if s.as_of.date() <= day]
        if not candidates:
            return None
        return self.view_of(candidates[-1])

    def view_of(self, info: SnapshotInfo) -> SnapshotView:
        current = self._view
        if current is not None and current.info.snapshot_id == info.snapshot_id:
            return current
        sid = int(info.snapshot_id)  # type: ignore[arg-type]
        with self._past_lock:
            if sid in self._past:
                self._past.move_to_end(sid)
                return self._past[sid]
        view = build_view(self.store, info, self.mapdata(check=False))
        freeze_heap()
        with self._past_lock:
            self._past[sid] = view
            while len(self._past) > max(self.past_views, 1):
                self._past.popitem(last=False)
        return view

    # --- polling ------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(None, self.refresh)
            except Exception:  # never let the poller die; log and retry
                log.exception("snapshot refresh failed")
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


__all__ = ["SnapshotHolder", "SnapshotView", "apply_delta", "build_view", "is_delta"]
