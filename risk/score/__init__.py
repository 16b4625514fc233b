"""Scoring: metrics per unit at an as-of date → levels by rule profiles → an immutable snapshot.

`score(store, as_of, profile)` reads the linked population and its events once (`risk.score.inputs`),
computes every unit from the city down to the household (`risk.score.compute`), holds raised official
levels for their notice period against the previous snapshot of the same profile, and writes one
snapshot with two tables: `levels` (city, districts of older geographies, wards, neighbourhood groups,
H3 cells at resolutions 8–10; metrics and reasons as JSON) and `household_levels` (typed columns).
`backfill` scores a range of dates into history; `resolve_snapshot` and `diff_snapshots` read it back;
`risk.score.incremental` amends the current snapshot with small delta snapshots.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.gazetteer import load_gazetteer
from risk.profiles import Profile, load_profile
from risk.score.compute import ALL_TYPES, Geography, ScoreConfig, ScoreRun
from risk.score.inputs import ScoreInputs, day_of, read_inputs
from risk.score.settings import scale_settings, score_settings
from risk.score.snapshots import (
    apply_notice,
    diff_levels,
    previous_snapshot,
    resolve_snapshot,
)
from risk.score.unitinputs import UnitInputs, read_unit_inputs
from risk.store import SnapshotInfo, Store

__all__ = [
    "ScoreResult",
    "backfill",
    "build_config",
    "diff_snapshots",
    "read_geography",
    "resolve_snapshot",
    "score",
]


@dataclass
class ScoreResult:
    snapshot: SnapshotInfo | None
    levels: pd.DataFrame
    households: pa.Table | None  # household_levels rows (Arrow: millions of rows)
    run: ScoreRun | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        s = self.snapshot
        lv = self.levels
        wards = lv[lv["unit_type"] == "ward"]
        counts = {int(k): int(v) for k, v in wards["level"].value_counts().sort_index().items()}
        city = lv[lv["unit_type"] == "city"]["level"]
        head = (
            f"snapshot {s.snapshot_id} as of {s.as_of:%Y-%m-%d} by {s.profile} {s.profile_version}"
            if s
            else "not written"
        )
        units = ", ".join(f"{k} {v}" for k, v in lv["unit_type"].value_counts().sort_index().items())
        hh = f"; {self.households.num_rows} households" if self.households is not None else ""
        pending = int(lv["pending_level"].notna().sum()) if "pending_level" in lv else 0
        return (
            f"{head}: city level {int(city.iloc[0]) if len(city) else '—'}; wards per level {counts} "
            f"(0 = unknown); {units}{hh}; {pending} raise(s) pending notice"
        )


def read_geography(store: Store, *, with_geometry: bool = False) -> Geography:
    """The gazetteer in force and the neighbourhood groups of the store (polygons when asked)."""
    gaz = load_gazetteer()
    cols = ["group_id", "ward_id", "name"] + (["geometry"] if with_geometry else [])
    try:
        groups = store.read_table("groups", columns=cols)
    except Exception:  # a store without groups (e.g. a minimal test store)
        groups = None
    return Geography(gaz, groups)


def build_config(
    profile: str | Profile = "moh-4800",
    *,
    unit_types: Iterable[str] | None = None,
    inputs_path: str | None = None,
    unit_inputs: UnitInputs | None = None,
    models: Any = "settings",
    store: Store | None = None,
) -> ScoreConfig:
    """A run's configuration from settings (RISKMAP_SCORE_*) and arguments."""
    s = score_settings()
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    types = tuple(unit_types) if unit_types is not None else ALL_TYPES
    unknown = set(types) - set(ALL_TYPES) - {f"h3_{r}" for r in s.cell_resolutions}
    if unknown:
        raise ValueError(f"unknown unit types {sorted(unknown)}; known: {', '.join(ALL_TYPES)}")
    if unit_inputs is None:
        unit_inputs = read_unit_inputs(inputs_path if inputs_path is not None else s.inputs)
    if models == "settings":
        models = None
        if store is not None and s.model != "none":
            from risk.model import load_models

            models = load_models(store, s.model)
    return ScoreConfig(
        profile=prof,
        cell_profile=load_profile(s.cell_profile),
        household_profile=load_profile(s.household_profile),
        unit_types=types,
        min_population=s.min_population,
        hotspot_alpha=s.hotspot_alpha,
        hotspot_permutations=s.hotspot_permutations,
        unit_inputs=unit_inputs,
        models=models,
    )


def as_of_time(as_of: dt.date | dt.datetime) -> dt.datetime:
    """A date speaks for its whole day: 23:59:59 UTC."""
    if isinstance(as_of, dt.datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.UTC)


def compute(
    inputs: ScoreInputs, as_of: dt.date | dt.datetime, config: ScoreConfig, geo: Geography
) -> tuple[ScoreRun, pd.DataFrame, pa.Table | None, dict[str, float]]:
    """Levels rows and household rows of one day, in memory (no store access)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    run = ScoreRun(inputs, day_of(as_of), config, geo)
    if "household" in config.unit_types:
        run.start_household_model()  # beside the unit levels, on the other core
    levels = run.level_rows()
    timings["units"] = time.perf_counter() - t0
    households = None
    if "household" in config.unit_types:
        t1 = time.perf_counter()
        households = run.household_rows()
        timings["households"] = time.perf_counter() - t1
    return run, levels, households, timings


def compute_partitioned(
    inputs: ScoreInputs, as_of: dt.date | dt.datetime, config: ScoreConfig, geo: Geography
) -> tuple[ScoreRun, pd.DataFrame, pa.Table | None, dict[str, float]]:
    """`compute` partition by partition (`risk.score.partition`), on Dask when a scheduler is configured;
    the risk model, when configured, is applied as in one process."""
    from risk.score.partition import city_partition_keys, score_partitions, split_inputs

    t = time.perf_counter()
    parts = split_inputs(inputs, city_partition_keys(inputs))
    res = score_partitions(parts, as_of, config, geo)
    timings = {"split": time.perf_counter() - t, **res.timings}
    return res.run, res.levels, res.household_table(), timings


def score(
    store: Store,
    as_of: dt.date | dt.datetime,
    profile_id: str | Profile = "moh-4800",
    *,
    publish: bool = True,
    unit_types: Iterable[str] | None = None,
    inputs: ScoreInputs | None = None,
    config: ScoreConfig | None = None,
    geo: Geography | None = None,
    previous: SnapshotInfo | str | None = "auto",
    keep_run: bool = False,
    partitioned: bool | None = None,
) -> ScoreResult:
    """Score every unit at `as_of` and write (and by default publish) an immutable snapshot.

    `partitioned` (default: when RISKMAP_SCALE_SCHEDULER names a Dask scheduler): the inputs are split by
    H3 parent cells (RISKMAP_SCALE_PARTITION_RESOLUTION) and scored by `risk.score.partition` on the
    cluster; the snapshot is the same."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # The inputs are read from the start (Arrow decodes them off the GIL), beside the configuration and
    # the model (unpickling imports scikit-learn), the geography and the previous snapshot's levels.
    side = ThreadPoolExecutor(3)
    inputs_future = side.submit(read_inputs, store) if inputs is None else None
    config = config or build_config(profile_id, unit_types=unit_types, store=store)
    profile = config.profile.for_province(config.province)
    when = as_of_time(as_of)
    if previous == "auto":
        previous = previous_snapshot(store, profile.id, when)
    prev_future = side.submit(_notice_rows, store, previous)
    geo_future = None
    if geo is None:
        needs_polygons = any("neighbour_max_level" in s.metrics for s in profile.steps)
        geo_future = side.submit(read_geography, store, with_geometry=needs_polygons)
    side.shutdown(wait=False)
    if inputs_future is not None:
        inputs = inputs_future.result()
        timings["read"] = time.perf_counter() - t0
    if geo_future is not None:
        geo = geo_future.result()
    if partitioned is None:
        partitioned = bool(scale_settings().scheduler)
    if partitioned:
        run, levels, households, t_compute = compute_partitioned(inputs, when, config, geo)
    else:
        run, levels, households, t_compute = compute(inputs, when, config, geo)
    timings.update(t_compute)

    t = time.perf_counter()
    levels = apply_notice(levels, prev_future.result(), profile, when)
    timings["notice"] = time.perf_counter() - t

    info = SnapshotInfo(
        as_of=when,
        profile=profile.id,
        profile_version=profile.version,
        input_watermark=inputs.watermark,
        parent_id=previous.snapshot_id if previous is not None else None,
        stats=snapshot_stats(run, levels, households, config, profile, when),
    )
    t = time.perf_counter()
    tables = {"levels": levels}
    if households is not None:
        tables["household_levels"] = households
    snap = store.write_snapshot(info, tables)
    if publish:
        store.publish_snapshot(snap.snapshot_id)
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return ScoreResult(snap, levels, households, run if keep_run else None, timings)


def _notice_rows(store: Store, previous: SnapshotInfo | None) -> pd.DataFrame | None:
    """The levels (in force and pending) of the snapshot a run follows, for the notice period."""
    if previous is None:
        return None
    return resolve_snapshot(
        store,
        previous.snapshot_id,
        "levels",
        columns=["unit_type", "unit_id", "profile", "level", "pending_level", "pending_effective_at"],
    )


def snapshot_stats(
    run: ScoreRun,
    levels: pd.DataFrame,
    households: pd.DataFrame | None,
    config: ScoreConfig,
    profile: Profile,
    when: dt.datetime,
) -> dict[str, Any]:
    wards = levels[levels["unit_type"] == "ward"]
    hp = config.household_profile
    stats: dict[str, Any] = {
        "delta": False,
        "gazetteer": run.geo.gazetteer.name,
        "units": {k: int(v) for k, v in levels["unit_type"].value_counts().items()},
        "wards_per_level": {str(k): int(v) for k, v in wards["level"].value_counts().items()},
        "pending_raises": int(levels["pending_level"].notna().sum()),
        "profile_valid_on_as_of": profile.valid_on(when.date()),
        "profiles": {
            "area": {"id": profile.id, "version": profile.version, "scheme": profile.scheme},
            "cell": {"id": config.cell_profile.id, "version": config.cell_profile.version},
            "household": {
                "id": hp.id,
                "version": hp.version,
                "reason_bits": [s.id for s in hp.steps],
            },
        },
        "min_population": config.min_population,
        "windows_days": [7, 14],
        "unit_inputs": config.unit_inputs.summary(when.date()) if config.unit_inputs else None,
        "model": config.models.describe() if config.models is not None else None,
        **run.stats(),
    }
    if households is not None:
        per_level = pc.value_counts(households["level"]).to_pylist()
        stats["households"] = {
            "rows": households.num_rows,
            "per_level": {
                str(d["values"]): int(d["counts"]) for d in sorted(per_level, key=lambda d: d["values"])
            },
            "flags": {
                c: int(pc.sum(pc.cast(households[c], pa.int64())).as_py() or 0)
                for c in households.column_names
                if c.startswith("flag_")
            },
        }
    return stats


def backfill(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    every_days: int = 7,
    profile_id: str = "moh-4800",
    unit_types: Iterable[str] | None = None,
    publish_last: bool = True,
    progress: Callable[[dt.date, ScoreResult], None] | None = None,
) -> list[SnapshotInfo]:
    """Score every `every_days` days from `start` to `end` (inclusive) into history, oldest first.

    The store is read once; each date sees only the events up to it. Each snapshot follows the previous
    one (notice periods carry through); only the last is published (if asked).
    """
    if end < start:
        raise ValueError(f"backfill: end {end} is before start {start}")
    if every_days < 1:
        raise ValueError("backfill: every_days must be at least 1")
    config = build_config(profile_id, unit_types=unit_types, store=store)
    needs = any("neighbour_max_level" in s.metrics for s in config.profile.steps)
    geo = read_geography(store, with_geometry=needs)
    inputs = read_inputs(store)
    days = pd.date_range(start, end, freq=f"{every_days}D").date
    out: list[SnapshotInfo] = []
    for i, d in enumerate(days):
        last = i == len(days) - 1
        res = score(
            store,
            d,
            config=config,
            inputs=inputs,
            geo=geo,
            publish=publish_last and last,
        )
        out.append(res.snapshot)
        if progress:
            progress(d, res)
    return out


def diff_snapshots(store: Store, a: int, b: int, *, households: bool = False) -> pd.DataFrame:
    """Units (and, if asked, households) whose level rose or fell from snapshot `a` to `b`."""
    cols = ["unit_type", "unit_id", "name", "level", "pending_level", "pending_effective_at"]
    out = diff_levels(
        resolve_snapshot(store, a, "levels", columns=cols), resolve_snapshot(store, b, "levels", columns=cols)
    )
    if households:
        hcols = ["household_id", "ward_id", "level"]
        ha = resolve_snapshot(store, a, "household_levels", columns=hcols)
        hb = resolve_snapshot(store, b, "household_levels", columns=hcols)
        if len(ha) or len(hb):
            ha = ha.assign(unit_type="household", unit_id=ha["household_id"].astype(str))
            hb = hb.assign(unit_type="household", unit_id=hb["household_id"].astype(str), name=hb["ward_id"])
            out = pd.concat([out, diff_levels(ha, hb)], ignore_index=True)
    return out
