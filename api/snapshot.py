"""The current snapshot, held in memory for serving, and swapped atomically when a new one is published.

A `SnapshotView` is built once per snapshot: every answer the risk endpoint can give (one per unit) is
prepared, the ward GeoJSON is serialised, and a spatial index answers "which ward holds this point" in
microseconds. Requests take one reference to the current view and use only it, so no response mixes two
snapshots. If the store becomes unreachable the last view keeps serving, marked stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely

from geo.gazetteer import Gazetteer, load_gazetteer
from risk.profiles import Profile, load_profile
from risk.score.snapshots import resolve_snapshot
from risk.store import SnapshotInfo, Store, StoreError

log = logging.getLogger("riskmap.snapshot")
AREA_UNIT_TYPES = ("city", "district", "ward")
SIMPLIFY_DEG = 0.0002  # ~20 m: ward outlines for maps (the full polygons answer point queries)


@dataclass
class SnapshotView:
    """Everything serving needs from one snapshot, prepared once."""

    info: SnapshotInfo
    profile: Profile
    gazetteer: Gazetteer
    levels: pd.DataFrame  # indexed by (unit_type, unit_id)
    answers: dict[tuple[str, str], dict[str, Any]]
    ward_ids: np.ndarray
    ward_tree: shapely.STRtree
    ward_geojson: bytes
    loaded_at: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return self.info.etag

    def ward_at(self, lon: float, lat: float) -> str | None:
        hits = self.ward_tree.query(shapely.Point(lon, lat), predicate="intersects")
        if not len(hits):
            return None
        return str(self.ward_ids[int(np.min(hits))])

    def answer(self, unit_type: str, unit_id: str) -> dict[str, Any] | None:
        return self.answers.get((unit_type, unit_id))


def build_view(store: Store, info: SnapshotInfo) -> SnapshotView:
    """Read a snapshot and prepare its answers (seconds at most; done off the request path)."""
    profile = load_profile(info.profile)
    gaz = load_gazetteer()
    # A delta snapshot (an incremental update) holds only changed rows: resolve it on its full snapshot.
    # Only the area levels this view answers for are prepared (cells and groups are in the table too).
    levels = resolve_snapshot(store, info.snapshot_id, "levels")
    levels = levels[levels["unit_type"].isin(AREA_UNIT_TYPES)]
    levels = levels.set_index(["unit_type", "unit_id"], drop=False)
    answers = {
        key: _answer(row, profile, info, gaz)
        for key, row in zip(levels.index, levels.to_dict("records"), strict=True)
    }
    wards = gaz.wards
    ward_ids = wards.index.to_numpy()
    geoms = wards.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    return SnapshotView(
        info=info,
        profile=profile,
        gazetteer=gaz,
        levels=levels,
        answers=answers,
        ward_ids=ward_ids,
        ward_tree=tree,
        ward_geojson=_ward_geojson(wards, answers),
    )


def _answer(row: dict[str, Any], profile: Profile, info: SnapshotInfo, gaz: Gazetteer) -> dict[str, Any]:
    level = int(row["level"])
    reasons = json.loads(row["reasons"]) if row["reasons"] else []
    unit = gaz.units.loc[row["unit_id"]] if row["unit_id"] in gaz.units.index else None
    return {
        "level": level,
        "known": level != 0,
        "label": {"vi": profile.label(level, "vi"), "en": profile.label(level, "en")},
        "colour": profile.colour(level),
        "unit": {
            "type": row["unit_type"],
            "id": row["unit_id"],
            "code": None if unit is None else unit["code"],
            "name": row["name"],
            "parent_id": row["parent_id"],
        },
        "profile": {"id": profile.id, "version": row["profile_version"], "title": profile.title},
        "as_of": info.as_of.isoformat(),
        "snapshot_id": info.snapshot_id,
        "reasons": {"vi": profile.explain(reasons, "vi"), "en": profile.explain(reasons, "en")},
        "reason_codes": reasons,
        "metrics": json.loads(row["metrics"]) if row["metrics"] else {},
        "pending": None,
    }


def _ward_geojson(wards: Any, answers: dict[tuple[str, str], dict[str, Any]]) -> bytes:
    geoms = shapely.coverage_simplify(wards.geometry.to_numpy(), SIMPLIFY_DEG)
    features = []
    for uid, geom in zip(wards.index, geoms, strict=True):
        a = answers.get(("ward", uid))
        props = {
            "unit_id": uid,
            "code": wards.at[uid, "code"],
            "name": wards.at[uid, "full_name"],
            "level": a["level"] if a else 0,
            "colour": a["colour"] if a else "#9e9e9e",
            "label_vi": a["label"]["vi"] if a else "Chưa đủ dữ liệu",
            "label_en": a["label"]["en"] if a else "Unknown",
            "population": a["metrics"].get("population") if a else None,
        }
        features.append(
            {
                "type": "Feature",
                "id": uid,
                "properties": props,
                "geometry": json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-6))),
            }
        )
    return orjson.dumps({"type": "FeatureCollection", "features": features})


class SnapshotHolder:
    """Holds the current view; a background task swaps in newly published snapshots."""

    def __init__(self, store: Store, poll_seconds: float = 1.0) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._view: SnapshotView | None = None
        self._lock = threading.Lock()
        self.stale = False
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def view(self) -> SnapshotView | None:
        return self._view

    def refresh(self) -> bool:
        """Load the current snapshot if it changed; True when a new view was swapped in."""
        with self._lock:
            try:
                info = self.store.current_snapshot()
            except StoreError as exc:  # store down: keep serving what we hold
                self.stale, self.last_error = True, str(exc)
                return False
            self.stale, self.last_error = False, None
            if info is None or (self._view is not None and self._view.info.snapshot_id == info.snapshot_id):
                return False
            view = build_view(self.store, info)
            self._view = view  # one reference assignment: readers see the old view or the new one
            log.info("serving snapshot %s (as of %s)", info.snapshot_id, info.as_of)
            return True

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
