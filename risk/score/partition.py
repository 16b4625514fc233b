"""Scoring partition by partition (provinces, or the H3 parent cells of one city), in-process or on Dask.

Everything per person and per record is local to a household: a person's status, the counts of its
household, the household's own level. Everything across households is a sum: a unit's counts are the
sums of its households' counts. So a run is a map, a reduce and a map:

1. **map** (`partial_counts`, one task per partition, on a worker): load the partition's inputs, count
   per household (`risk.score.metrics.household_counts`, the in-process code) and sum the households of
   each (ward, group, H3 10/9/8 cell) key into one row, with the number of households it stands for.
   Cases linked to nobody are summed per ward. The result is units-sized, not people-sized.
2. **reduce** (`reduce_partials`, where the run was started): the rows of all partitions summed again by
   key, so a cell, group or ward that crosses a partition border gets the households of every partition
   it holds, and the city (or country) and districts roll up from wards as in-process. The unit part of
   `ScoreRun` (rates, empirical Bayes, Gi* with its ring-1 neighbours and its global mean, variance and
   FDR threshold, the profiles, the bordering-rule profiles' neighbour levels) then runs on these rows
   as if each were one household weighing its count: the unit tables are whole here, so neighbour effects
   need no halo, and every statistic that is global (Gi*'s moments, Benjamini–Hochberg) stays global.
3. **map** (`household_rows`, one task per partition): each household's level by `riskmap-household`,
   with its neighbourhood level and its group's lockdown taken from the reduced units by id.

The risk model is applied as in one process: the cell model in the reduce (its features are unit
metrics and rings of cells, whole there), the household model in the second map, where a household's
own features come from its partition and those of its group, cells, ward and the city from the reduced
units by id (`risk.model.features.Neighbourhood`, cut to the partition's units).

Counts are integers in floating point, so sums in any order are exact and the result equals the
in-process run unit for unit and household for household (`tests/score/test_partition.py` checks it on a
Dask LocalCluster). Workers hold one partition at a time (`RISKMAP_SCALE_RELOAD_PARTITIONS`): their
memory is bounded by the largest partition, the reduce's by the number of units.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from geo import h3cells
from risk.runner import Runner, scale_settings
from risk.score.compute import Geography, ScoreConfig, ScoreRun
from risk.score.inputs import CELL_RESOLUTIONS, Events, ScoreInputs, day_of
from risk.score.metrics import COUNTS, HouseholdCounts

# A partition is its inputs, or a picklable callable that loads them on the worker that scores it.
PartitionSource = ScoreInputs | Callable[[], ScoreInputs]
KEY_COLUMNS = ("ward_id", "group_id", *(f"h3_{r}" for r in CELL_RESOLUTIONS))


def load(source: PartitionSource) -> ScoreInputs:
    return source if isinstance(source, ScoreInputs) else source()


# -- splitting one city's inputs ----------------------------------------------------------------------


def city_partition_keys(inputs: ScoreInputs, resolution: int | None = None) -> np.ndarray:
    """Per household, the H3 cell at `resolution` (RISKMAP_SCALE_PARTITION_RESOLUTION) holding its
    resolution-8 cell (0 for households without a cell): cells of resolutions 8–10 never cross these."""
    res = scale_settings().partition_resolution if resolution is None else resolution
    c8 = inputs.hh_cells[8]
    out = np.zeros(len(c8), dtype=np.uint64)
    known = c8 != 0
    if known.any():
        out[known] = h3cells.parents(c8[known], res)
    return out


def split_inputs(inputs: ScoreInputs, key: np.ndarray) -> list[ScoreInputs]:
    """The inputs of each distinct `key` (one per household): its households, their persons and events.

    Cases linked to nobody go with the partition holding the first household of their ward (they count
    for wards and above only, so any single partition is right). Persons without a household count for
    no unit and are left out, as in-process scoring leaves them out of every sum.
    """
    key = np.asarray(key)
    if len(key) != inputs.n_households:
        raise ValueError(f"split_inputs: {len(key)} keys for {inputs.n_households} households")
    _, part = np.unique(key, return_inverse=True)
    n_parts = int(part.max()) + 1 if len(part) else 0
    hh = inputs.person_hh
    p_part = np.where(hh >= 0, part[np.maximum(hh, 0)] if len(part) else -1, -1)
    ward_part = np.zeros(len(inputs.wards), dtype=np.int64)
    w_ok = inputs.hh_ward >= 0
    if w_ok.any():
        wards, first = np.unique(inputs.hh_ward[w_ok], return_index=True)
        ward_part[wards] = part[np.flatnonzero(w_ok)[first]]

    def events(ev: Events, j: int, p_new: np.ndarray, unlinked_ward: np.ndarray | None = None) -> Events:
        linked = ev.person >= 0
        mine = linked & (p_part[np.maximum(ev.person, 0)] == j) if len(p_part) else linked & False
        if unlinked_ward is not None:
            w = unlinked_ward
            mine |= ~linked & (np.where(w >= 0, ward_part[np.maximum(w, 0)], 0) == j)
        out = ev.take(np.flatnonzero(mine))
        out.person = np.where(out.person >= 0, p_new[np.maximum(out.person, 0)], -1).astype(np.int32)
        return out

    out = []
    for j in range(n_parts):
        h_idx = np.flatnonzero(part == j)
        h_new = np.full(inputs.n_households, -1, dtype=np.int32)
        h_new[h_idx] = np.arange(len(h_idx), dtype=np.int32)
        p_idx = np.flatnonzero(p_part == j)  # ascending: still ordered by household
        p_new = np.full(inputs.n_persons, -1, dtype=np.int32)
        p_new[p_idx] = np.arange(len(p_idx), dtype=np.int32)
        cases = events(inputs.cases, j, p_new, inputs.cases.attrs["ward"])
        out.append(
            ScoreInputs(
                household_id=inputs.household_id[h_idx],
                hh_ward=inputs.hh_ward[h_idx],
                hh_group=inputs.hh_group[h_idx],
                hh_cells={r: c[h_idx] for r, c in inputs.hh_cells.items()},
                wards=inputs.wards,
                groups=inputs.groups,
                person_id=inputs.person_id[p_idx],
                person_hh=h_new[hh[p_idx]],
                birth_year=inputs.birth_year[p_idx],
                comorbid=inputs.comorbid[p_idx],
                doses=events(inputs.doses, j, p_new),
                cases=cases,
                tests=events(inputs.tests, j, p_new),
                contacts=events(inputs.contacts, j, p_new),
                watermark=inputs.watermark,
                unlinked_cases=int((cases.person < 0).sum()),
            )
        )
    return out


# -- map: counts per (ward, group, cells) key -----------------------------------------------------------


@dataclass
class Partial:
    """One partition summed into one row per key (`KEY_COLUMNS`), with its households and counts."""

    keys: pd.DataFrame
    households: np.ndarray  # int64 per row
    counts: np.ndarray  # rows × len(COUNTS), float64 (integer-valued)
    unlinked: pd.DataFrame  # index ward_id, columns COUNTS: cases linked to nobody, per ward
    n_households: int
    n_persons: int
    watermark: int
    seconds: float
    peak_mb: float = 0.0


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def partial_counts(source: PartitionSource, day: int, config: ScoreConfig) -> Partial:
    """The map step: household counts of one partition, summed per (ward, group, cells) key."""
    t0 = time.perf_counter()
    inp = load(source)
    run = ScoreRun(inp, day, config, Geography(None))  # type: ignore[arg-type]  # counts need no geography
    counts = run.counts
    codes = pd.DataFrame(
        {
            "w": inp.hh_ward,
            "g": inp.hh_group,
            **{f"c{r}": inp.hh_cells[r] for r in CELL_RESOLUTIONS},
        }
    )
    row = codes.groupby(list(codes.columns), sort=False).ngroup().to_numpy()
    n_rows = int(row.max()) + 1 if len(row) else 0
    first = np.zeros(n_rows, dtype=np.int64)
    first[row[::-1]] = np.arange(len(row))[::-1]
    agg = sp.csr_matrix((np.ones(len(row)), (row, np.arange(len(row)))), shape=(n_rows, len(row)))
    summed = agg @ counts.values.astype(np.float64)
    w, g = inp.hh_ward[first], inp.hh_group[first]
    wards = np.asarray(inp.wards, dtype=object)
    groups = np.asarray(inp.groups, dtype=object)
    keys = pd.DataFrame(
        {
            "ward_id": np.where(w >= 0, wards[np.maximum(w, 0)] if len(wards) else None, None),
            "group_id": np.where(g >= 0, groups[np.maximum(g, 0)] if len(groups) else None, None),
            **{f"h3_{r}": inp.hh_cells[r][first] for r in CELL_RESOLUTIONS},
        }
    )
    ul = counts.unlinked_by_ward
    has = np.flatnonzero(ul.any(axis=1)) if ul.size else np.zeros(0, dtype=np.int64)
    unlinked = pd.DataFrame(ul[has], index=pd.Index(wards[has], dtype=object), columns=list(COUNTS))
    return Partial(
        keys,
        np.bincount(row, minlength=n_rows).astype(np.int64),
        summed,
        unlinked,
        inp.n_households,
        inp.n_persons,
        inp.watermark,
        time.perf_counter() - t0,
        _peak_mb(),
    )


# -- reduce: one unit-level run over all partitions ------------------------------------------------------


def _no_events(attrs: dict[str, Any]) -> Events:
    return Events(np.zeros(0, np.int32), np.zeros(0, np.int32), attrs)


def reduce_partials(partials: Sequence[Partial], day: int, config: ScoreConfig, geo: Geography) -> ScoreRun:
    """The reduce step: rows of every partition summed by key, then a `ScoreRun` over them whose
    'households' are those rows (weighted by the households they hold), counts given, not recomputed."""
    keys = pd.concat([p.keys for p in partials], ignore_index=True)
    values = np.vstack([p.counts for p in partials]) if partials else np.zeros((0, len(COUNTS)))
    households = np.concatenate([p.households for p in partials]) if partials else np.zeros(0, np.int64)
    row = keys.groupby(list(KEY_COLUMNS), sort=False, dropna=False).ngroup().to_numpy()
    n = int(row.max()) + 1 if len(row) else 0
    first = np.zeros(n, dtype=np.int64)
    first[row[::-1]] = np.arange(len(row))[::-1]
    agg = sp.csr_matrix((np.ones(len(row)), (row, np.arange(len(row)))), shape=(n, len(row)))
    values = agg @ values
    weight = np.bincount(row, weights=households, minlength=n).astype(np.int64)
    keys = keys.iloc[first].reset_index(drop=True)

    ward_ids = keys["ward_id"].dropna().unique()
    wards = pd.Index(np.sort(np.asarray(ward_ids, dtype=object)), dtype=object)
    groups = pd.Index(np.sort(np.asarray(keys["group_id"].dropna().unique(), dtype=object)), dtype=object)
    hh_ward = wards.get_indexer(keys["ward_id"]).astype(np.int32)
    hh_group = groups.get_indexer(keys["group_id"]).astype(np.int32)
    unl = [p.unlinked for p in partials if len(p.unlinked)]
    unlinked = (
        pd.concat(unl).groupby(level=0).sum().reindex(wards, fill_value=0.0).to_numpy()
        if unl
        else np.zeros((len(wards), len(COUNTS)))
    )
    pseudo = ScoreInputs(
        household_id=np.arange(n, dtype=np.int64),
        hh_ward=hh_ward,
        hh_group=hh_group,
        hh_cells={r: keys[f"h3_{r}"].to_numpy(dtype=np.uint64) for r in CELL_RESOLUTIONS},
        wards=wards,
        groups=groups,
        person_id=np.zeros(0, np.int64),
        person_hh=np.zeros(0, np.int32),
        birth_year=np.zeros(0, np.float32),
        comorbid=np.zeros(0, np.int8),
        doses=_no_events({"kind": np.zeros(0, np.int8)}),
        cases=_no_events({"found": np.zeros(0, np.int8), "ward": np.zeros(0, np.int32)}),
        tests=_no_events({"positive": np.zeros(0, bool)}),
        contacts=_no_events({"home": np.zeros(0, bool)}),
        watermark=max((p.watermark for p in partials), default=0),
        household_weight=weight,
    )
    run = ScoreRun(pseudo, day, config, geo)
    run.__dict__["counts"] = HouseholdCounts(values, unlinked, weight=weight)  # given, not recomputed
    return run


# -- map: household rows -------------------------------------------------------------------------------


@dataclass
class UnitLevels:
    """What a partition's households need of the reduced units, by unit id."""

    group_level: pd.Series | None  # group id → official level
    group_lockdown: pd.Series | None  # group id → cases found in a lockdown in 14 days
    cell_type: str | None  # the cells a household without a group takes its neighbourhood level from
    cell_level: pd.Series | None  # cell hex id → level
    neighbourhood: Any = None  # risk.model.features.Neighbourhood when a household model is applied


def levels_for(levels: UnitLevels, part: Partial) -> UnitLevels:
    """Only the units a partition's households belong to: what a worker holds is bounded by its
    partition, not by the country."""

    def only(values: pd.Series | None, ids: Any) -> pd.Series | None:
        # the hash table of the country's unit ids is built once and kept by its index: each partition
        # then costs its own units, not the country's (an intersection would hash every unit again)
        if values is None:
            return None
        pos = values.index.get_indexer(pd.Index(ids))
        return values.iloc[pos[pos >= 0]]

    def hex_cells(res: int) -> Any:
        c = np.unique(part.keys[f"h3_{res}"].to_numpy(dtype=np.uint64))
        return h3cells.to_hex(c[c != 0])

    groups = part.keys["group_id"].dropna().unique()
    cells: Any = ()
    if levels.cell_type is not None:
        cells = hex_cells(int(levels.cell_type.split("_")[1]))
    nb = levels.neighbourhood
    if nb is not None:
        nb = nb.only(groups, hex_cells(9), hex_cells(10), part.keys["ward_id"].dropna().unique())
    return UnitLevels(
        only(levels.group_level, groups),
        only(levels.group_lockdown, groups),
        levels.cell_type,
        only(levels.cell_level, cells),
        nb,
    )


def unit_levels(run: ScoreRun) -> UnitLevels:
    """From the reduced run, the lookups `ScoreRun.neighbourhood_level` and `group_lockdown` use."""
    g_level = g_lock = c_level = None
    if "group" in run.unitsets:
        g = run.area("group")
        g_level = pd.Series(g.evaluation.level, index=g.units.ids)
        g_lock = pd.Series(run.unit_metrics("group")["lockdown_cases_14d"].to_numpy() > 0, index=g.units.ids)
    cell_type = next((t for t in ("h3_9", "h3_10", "h3_8") if t in run.unitsets), None)
    if cell_type is not None:
        c = run.cells(cell_type)
        c_level = pd.Series(c.evaluation.level, index=c.units.ids)
    nb = None
    if run.config.models is not None and run.config.models.household is not None:
        from risk.model.features import neighbourhood_features

        nb = neighbourhood_features(run)
    return UnitLevels(g_level, g_lock, cell_type, c_level, nb)


class PartitionRun(ScoreRun):
    """A `ScoreRun` over one partition whose neighbourhood levels come from the reduced units."""

    def __init__(
        self, inputs: ScoreInputs, day: int, config: ScoreConfig, geo: Geography, levels: UnitLevels
    ):
        super().__init__(inputs, day, config, geo)
        self.levels = levels
        self.neighbourhood = levels.neighbourhood  # the household model's unit features, by unit id

    def _per_household(self, unit_type: str, values: pd.Series, fill: Any) -> np.ndarray:
        units = self.unitsets[unit_type]
        per_unit = values.reindex(units.ids, fill_value=fill).to_numpy()
        code = units.hh_code
        out = np.full(len(code), fill, dtype=per_unit.dtype)
        ok = code >= 0
        out[ok] = per_unit[code[ok]]
        return out

    @cached_property
    def neighbourhood_level(self) -> np.ndarray:
        out = np.zeros(self.inputs.n_households, dtype=np.int8)
        lv = self.levels
        if lv.group_level is not None and "group" in self.unitsets:
            out[:] = self._per_household("group", lv.group_level, 0)
        if lv.cell_type is not None and lv.cell_type in self.unitsets:
            cell = self._per_household(lv.cell_type, lv.cell_level, 0)
            fill = out == 0
            out[fill] = cell[fill]
        return out

    def group_lockdown(self) -> np.ndarray:
        lv = self.levels
        if lv.group_lockdown is None or "group" not in self.unitsets:
            return np.zeros(self.inputs.n_households, dtype=bool)
        return self._per_household("group", lv.group_lockdown, False).astype(bool)


def household_rows(
    source: PartitionSource, levels: UnitLevels, day: int, config: ScoreConfig, geo: Geography
) -> pa.Table:
    """The second map step: `household_levels` rows of one partition (with the household model's
    probabilities when one is configured)."""
    return PartitionRun(load(source), day, config, geo, levels).household_rows()


# -- running the steps ---------------------------------------------------------------------------------


@dataclass
class PartitionedResult:
    run: ScoreRun  # the reduced run (units of every partition)
    levels: pd.DataFrame  # `levels` rows of every area and cell unit
    households: list[pa.Table] | None  # `household_levels` rows, one table per partition
    timings: dict[str, float] = field(default_factory=dict)
    partials: list[Partial] = field(default_factory=list)
    where: str = "in-process"

    def household_table(self) -> pa.Table | None:
        return pa.concat_tables(self.households) if self.households else None


def score_partitions(
    sources: Sequence[PartitionSource],
    as_of: dt.date | dt.datetime,
    config: ScoreConfig,
    geo: Geography,
    *,
    client: Any = None,
    scheduler: str | None = None,
    reload: bool | None = None,
) -> PartitionedResult:
    """Score every unit and household of the partitions; equal to scoring their union in one process,
    the risk model's probabilities included."""
    runner = Runner(client, scheduler)
    keep = not (scale_settings().reload_partitions if reload is None else reload)
    try:
        timings: dict[str, float] = {}
        day = day_of(as_of)
        t = time.perf_counter()
        placed = runner.place(sources, keep=keep)
        partials = runner.map(partial_counts, placed, day=day, config=config)
        timings["map_counts"] = time.perf_counter() - t
        t = time.perf_counter()
        run = reduce_partials(partials, day, config, geo)
        levels = run.level_rows()
        timings["reduce_units"] = time.perf_counter() - t
        households = None
        if "household" in config.unit_types:
            t = time.perf_counter()
            worker_geo = Geography(geo.gazetteer, None)
            everything = unit_levels(run)
            per_part = [levels_for(everything, p) for p in partials]
            households = runner.map(household_rows, placed, per_part, day=day, config=config, geo=worker_geo)
            timings["map_households"] = time.perf_counter() - t
        return PartitionedResult(run, levels, households, timings, partials, runner.where)
    finally:
        runner.close()


def without_model(config: ScoreConfig) -> ScoreConfig:
    return replace(config, models=None)
