"""Incremental updates: a new positive test, dose, case or contact amends the published snapshot within
a second, without a full recompute, as a *delta snapshot*.

An `IncrementalScorer` keeps a full run in memory (the population, the events, the counts of every
household and unit). For new event records it

1. recomputes the counts of the households of the persons concerned, from all their members' events;
2. adds the difference to every unit above them (group, ward, district, city, H3 cells 8–10);
3. recomputes those units' rates (smoothed with the priors of the full run) and re-evaluates each unit
   type with its profile (vectorised over the whole type, so neighbours and wards-share rules follow);
4. re-evaluates the households whose counts or neighbourhood level changed;
5. writes the changed rows only, as a snapshot with `parent_id` = the snapshot it amends and
   `stats["delta"] = true` (raised official levels held for their notice, as in a full run), and
   publishes it.

Kept from the full run until the next one: hot spots and the model's probabilities (a delta changes the
units it touches and nothing else). Rates below the ward are smoothed again toward their ward's new prior
for every unit of the touched wards, as a full run smooths them. Readers resolve a delta with
`risk.score.resolve_snapshot`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from risk.score.compute import CELL_TYPES, ScoreRun, UnitResult, household_table, rows_of
from risk.score.inputs import (
    DOSE_KINDS,
    FOUND_IN,
    FOUND_UNKNOWN,
    ONE_DOSE_COMPLETE,
    Events,
    ScoreInputs,
    _codes,
    _days,
    dose_kinds,
)
from risk.score.metrics import COUNTS, HouseholdCounts, empirical_bayes, household_counts, rates
from risk.score.snapshots import apply_notice, resolve_snapshot
from risk.score.status import person_status
from risk.store import SnapshotInfo, Store

KINDS = ("dose", "test", "case", "contact")
NOTICE_COLUMNS = ("unit_type", "unit_id", "profile", "level", "pending_level", "pending_effective_at")


@dataclass
class UpdateResult:
    snapshot: SnapshotInfo | None
    households: int
    units: dict[str, int]
    events: int
    timings: dict[str, float] = field(default_factory=dict)


class IncrementalScorer:
    """Holds a full scoring run and amends its snapshot with delta snapshots as events arrive."""

    def __init__(self, store: Store, run: ScoreRun, snapshot: SnapshotInfo) -> None:
        self.store = store
        self.run = run
        self.snapshot = snapshot
        # the levels as published (in force and pending), to hold raises for their notice without a read
        self.published = resolve_snapshot(
            store, snapshot.snapshot_id, "levels", columns=list(NOTICE_COLUMNS)
        ).set_index(["unit_type", "unit_id"])[list(NOTICE_COLUMNS[2:])]
        inp = run.inputs
        run.run_all()
        _ = run.household_evaluation
        self.counts: HouseholdCounts = run.counts
        self.person_index = pd.Index(inp.person_id)
        # build its hash table now, not in the first update (14.5 M ids: seconds)
        self.person_index.get_indexer(inp.person_id[:1])
        # Members of each household (CSR over person positions).
        order = np.argsort(inp.person_hh, kind="stable")
        hh_sorted = inp.person_hh[order]
        self.members_order = order
        self.members_start = np.searchsorted(hh_sorted, np.arange(inp.n_households + 1))
        self.extra_by_kind: dict[str, list[Events]] = {k: [] for k in KINDS}  # events since the full run
        # The full run's events sorted by person, to gather one household's history in microseconds.
        self.base = {
            "dose": inp.doses.sorted(),
            "test": inp.tests.sorted(),
            "case": inp.cases,
            "contact": inp.contacts,
        }

    @classmethod
    def from_store(
        cls, store: Store, as_of: dt.date, profile: str = "moh-4800", **kwargs: Any
    ) -> IncrementalScorer:
        """Score `as_of` in full (written and published), then hold the run for incremental updates."""
        from risk.score import score

        res = score(store, as_of, profile, keep_run=True, **kwargs)
        return cls(store, res.run, res.snapshot)

    # -- events --------------------------------------------------------------------------------------------

    def events_from_records(self, records: pd.DataFrame) -> dict[str, Events]:
        """New records (store layout, with `person_id` from their links; null when unlinked) → events."""
        out: dict[str, Events] = {}
        pid = records["person_id"].to_numpy(dtype=np.int64, na_value=-1) if "person_id" in records else None
        pos = self.person_index.get_indexer(pid) if pid is not None else np.full(len(records), -1)
        kinds = records["kind"].astype(str).to_numpy()
        for kind in KINDS:
            sel = kinds == kind
            if not sel.any():
                continue
            r = records[sel]
            person = pos[sel].astype(np.int32)
            day = _days(r["event_date"])
            if kind == "dose":
                attrs = {
                    "kind": dose_kinds(
                        _codes(r["dose_kind"], DOSE_KINDS), _codes(r["vaccine"], ONE_DOSE_COMPLETE) >= 0
                    )
                }
            elif kind == "test":
                attrs = {"positive": (r["result"] == "positive").to_numpy(dtype=bool)}
            elif kind == "case":
                found = np.array(
                    [
                        FOUND_IN.index(v) if v in FOUND_IN else FOUND_UNKNOWN
                        for v in r["found_in"].astype(object)
                    ],
                    dtype=np.int8,
                )
                ward = (
                    self.run.inputs.wards.get_indexer(r["ward_id"].astype(object))
                    if "ward_id" in r
                    else -np.ones(len(r))
                )
                attrs = {"found": found, "ward": np.asarray(ward, dtype=np.int32)}
            else:
                attrs = {"home": (r["isolation"] == "home").to_numpy(dtype=bool)}
            out[kind] = Events(person, day, attrs)
        return out

    def apply_records(self, records: pd.DataFrame, *, publish: bool = True) -> UpdateResult:
        """Apply new records (see `events_from_records`) and write a delta snapshot."""
        return self.apply(self.events_from_records(records), publish=publish)

    def apply_batch(self, batch_id: int, *, publish: bool = True) -> UpdateResult:
        """Apply the event records of one ingested batch (read with their links)."""
        cols = [
            "record_id",
            "kind",
            "event_date",
            "vaccine",
            "dose_kind",
            "result",
            "found_in",
            "isolation",
            "ward_id",
        ]
        rec = self.store.read_table("records", columns=cols, filters=[("batch_id", "=", batch_id)])
        rec = rec[rec["kind"].isin(KINDS)]
        if len(rec):
            links = self.store.read_table(
                "links",
                columns=["record_id", "person_id"],
                filters=[("record_id", "in", rec["record_id"].tolist())],
            )
            rec = rec.merge(links, on="record_id", how="left")
        return self.apply_records(rec, publish=publish)

    # -- the update ------------------------------------------------------------------------------------------

    def apply(self, events: dict[str, Events], *, publish: bool = True) -> UpdateResult:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        run, inp = self.run, self.run.inputs
        n_events = sum(len(e) for e in events.values())
        for kind, ev in events.items():
            self.extra_by_kind[kind].append(ev)
        persons = np.unique(np.concatenate([e.person for e in events.values()] or [np.zeros(0, np.int32)]))
        persons = persons[persons >= 0]
        households = np.unique(inp.person_hh[persons])
        households = households[households >= 0]

        # 1. counts of the households concerned, recomputed from all their members' events
        new_rows = self._household_counts(households)
        delta_hh = new_rows - self.counts.values[households]
        self.counts.values[households] = new_rows
        # unlinked cases count for their ward (and the district and city above it)
        unlinked = np.zeros_like(self.counts.unlinked_by_ward)
        case_ev = events.get("case")
        if case_ev is not None:
            for name, mask in _case_masks(case_ev, run.day).items():
                w = case_ev.attrs["ward"][(case_ev.person < 0) & mask]
                w = w[w >= 0]
                np.add.at(unlinked[:, COUNTS.index(name)], w, 1)
        self.counts.unlinked_by_ward += unlinked
        timings["households"] = time.perf_counter() - t0

        # 2-3. units above: add the differences, refresh their rates, re-evaluate each type
        t = time.perf_counter()
        changed_units: dict[str, np.ndarray] = {}
        for unit_type in self._unit_order():
            units = run.unitsets[unit_type]
            m = run.unit_metrics(unit_type)
            code = units.hh_code[households]
            ok = code >= 0
            touched = np.unique(code[ok])
            if units.ward_code is not None and unlinked.any():  # wards, districts, the city: few units
                add = np.zeros((len(units), len(COUNTS)))
                np.add.at(add, code[ok], delta_hh[ok])
                wc = units.ward_code
                okw = wc >= 0
                np.add.at(add, wc[okw], unlinked[okw])
                touched = np.union1d(touched, np.unique(wc[okw][unlinked[okw].any(axis=1)]))
                if len(touched):
                    touched = self._refresh(unit_type, m, touched, add[touched])
            elif len(touched):  # only the touched units' rows (not a zeroed matrix of 10^5 cells)
                add = np.zeros((len(touched), len(COUNTS)))
                np.add.at(add, np.searchsorted(touched, code[ok]), delta_hh[ok])
                touched = self._refresh(unit_type, m, touched, add)
            changed_units[unit_type] = self._reevaluate(unit_type, touched)
        timings["units"] = time.perf_counter() - t

        # 4. households: the ones with new events, and those whose neighbourhood level changed
        t = time.perf_counter()
        hh_idx = self._households_to_refresh(households, changed_units)
        hh_rows = self._household_rows(hh_idx)
        timings["household_rows"] = time.perf_counter() - t

        # 5. the delta snapshot
        t = time.perf_counter()
        level_rows = self._level_rows(changed_units)
        info = None
        n_hh = 0 if hh_rows is None else hh_rows.num_rows
        if len(level_rows) or n_hh:
            if len(level_rows):
                keys = pd.MultiIndex.from_frame(level_rows[["unit_type", "unit_id"]])
                prev = self.published.reindex(keys).reset_index()
                level_rows = apply_notice(
                    level_rows, prev.dropna(subset=["profile"]), run.profile, self.snapshot.as_of
                )
            info = SnapshotInfo(
                as_of=self.snapshot.as_of,
                profile=self.snapshot.profile,
                profile_version=self.snapshot.profile_version,
                input_watermark=self.snapshot.input_watermark,
                parent_id=self.snapshot.snapshot_id,
                stats={
                    "delta": True,
                    "events": int(n_events),
                    "households": n_hh,
                    "units": {k: len(v) for k, v in changed_units.items() if len(v)},
                    "kept_from_full_run": ["hotspots", "model_probability"],
                },
            )
            tables: dict[str, pd.DataFrame | pa.Table] = {}
            if len(level_rows):
                tables["levels"] = level_rows
            if n_hh:
                tables["household_levels"] = hh_rows
            info = self.store.write_snapshot(info, tables)
            if publish:
                self.store.publish_snapshot(info.snapshot_id)
            self.snapshot = info
            if len(level_rows):
                fresh = level_rows.set_index(["unit_type", "unit_id"])
                pos = self.published.index.get_indexer(fresh.index)
                if (pos >= 0).all():  # by position (the index's hash table is built once)
                    for c in NOTICE_COLUMNS[2:]:
                        self.published.iloc[pos, self.published.columns.get_loc(c)] = fresh[c].to_numpy()
                else:
                    for c in NOTICE_COLUMNS[2:]:
                        self.published.loc[fresh.index, c] = fresh[c].to_numpy()
        timings["write"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return UpdateResult(
            info, len(hh_rows), {k: len(v) for k, v in changed_units.items()}, n_events, timings
        )

    # -- helpers ---------------------------------------------------------------------------------------------

    def _unit_order(self) -> list[str]:
        have = self.run.results
        return [t for t in ("ward", "group", "district", "city", *CELL_TYPES) if t in have]

    def _household_counts(self, households: np.ndarray) -> np.ndarray:
        """Counts of some households from a small `ScoreInputs` holding only them, their members, events."""
        inp = self.run.inputs
        members = np.concatenate(
            [self.members_order[self.members_start[h] : self.members_start[h + 1]] for h in households]
            or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        local_person = pd.Index(members)
        local_hh = pd.Index(households)

        def gather(base: Events, extra: list[Events]) -> Events:
            parts = []
            if len(base) and len(members):
                # in the events' own dtype: mixed dtypes make numpy cast all 10^7 events on every call
                wanted = members.astype(base.person.dtype)
                lo = np.searchsorted(base.person, wanted, side="left")
                hi = np.searchsorted(base.person, wanted, side="right")
                idx = np.concatenate(
                    [np.arange(a, b) for a, b in zip(lo, hi, strict=True)] or [np.zeros(0, np.int64)]
                )
                parts.append(base.take(idx.astype(np.int64)))
            for e in extra:
                keep = np.isin(e.person, members)
                if keep.any():
                    parts.append(e.take(np.flatnonzero(keep)))
            if not parts:
                return base.take(np.zeros(0, np.int64))
            ev = Events.concat(parts)
            ev = Events(local_person.get_indexer(ev.person).astype(np.int32), ev.day, ev.attrs)
            return ev.sorted()

        cases = gather(self.base["case"], self.extra_by_kind["case"])
        # one case per person: the earliest report
        if len(cases):
            first = np.ones(len(cases), dtype=bool)
            first[1:] = cases.person[1:] != cases.person[:-1]
            cases = cases.take(np.flatnonzero(first))
        mini = ScoreInputs(
            household_id=inp.household_id[households],
            hh_ward=inp.hh_ward[households],
            hh_group=inp.hh_group[households],
            hh_cells={r: c[households] for r, c in inp.hh_cells.items()},
            wards=inp.wards,
            groups=inp.groups,
            person_id=inp.person_id[members],
            person_hh=local_hh.get_indexer(inp.person_hh[members]).astype(np.int32),
            birth_year=inp.birth_year[members],
            comorbid=inp.comorbid[members],
            doses=gather(self.base["dose"], self.extra_by_kind["dose"]),
            cases=cases,
            tests=gather(self.base["test"], self.extra_by_kind["test"]),
            contacts=gather(self.base["contact"], self.extra_by_kind["contact"]),
        )
        p = self.run.config.household_profile.params
        status = person_status(
            mini,
            self.run.day,
            active_f0_days=int(p.get("active_f0_days", 14)),
            quarantine_days=int(p.get("quarantine_days", 14)),
            positive_days=int(p.get("positive_test_days", 7)),
            booster_days=round(float(p.get("booster_months", 6)) * 30.44),
        )
        return household_counts(mini, status).values

    def _refresh(self, unit_type: str, m: pd.DataFrame, rows: np.ndarray, add: np.ndarray) -> np.ndarray:
        """New counts and rates of some units, written back in one assignment (pandas costs per call);
        returns the units whose metrics changed.

        Below the ward, rates are smoothed toward the ward (empirical Bayes): new cases in a ward change
        its prior, so every unit of that type in the ward is smoothed again, exactly as a full run does
        (a few hundred groups or cells per ward).
        """
        units = self.run.unitsets[unit_type]
        smoothed = unit_type == "group" or unit_type in CELL_TYPES
        if smoothed:
            wards = np.unique(units.prior_ward[rows])
            wards = wards[wards >= 0]
            rows_all = np.union1d(rows, np.flatnonzero(np.isin(units.prior_ward, wards)))
            extra = np.zeros((len(rows_all), add.shape[1]))
            extra[np.searchsorted(rows_all, rows)] = add
            rows, add = rows_all, extra
        values = m.iloc[rows, m.columns.get_indexer(list(COUNTS))].to_numpy(dtype=float) + add
        counts = pd.DataFrame(values, columns=list(COUNTS))
        # plain arrays from here: per-column pandas assignments cost more than the arithmetic
        sub = {c: v.to_numpy(dtype=float) for c, v in rates(counts).items()}
        if smoothed:
            from risk.score.compute import RATE_COLUMNS

            pop = sub["population"]
            parent = units.prior_ward[rows]
            sub["community_cases_per_100k_7d_raw"] = sub["community_cases_per_100k_7d"]
            for w in ("7d", "14d"):
                sm = empirical_bayes(sub[f"community_cases_{w}"], pop, parent)
                sub[f"community_cases_per_100k_{w}"] = sm.rate * 1e5
                if w == "7d":
                    sub["community_cases_per_100k_7d_prior"] = sm.prior * 1e5
                    sub["smoothing_weight"] = sm.weight
                full = self.run.priors.get((unit_type, w))
                if full is not None and len(sm.parent_mean):  # kept current for whoever reads them
                    here = np.unique(parent[parent >= 0])
                    here = here[here < len(full.parent_mean)]
                    full.parent_mean[here] = sm.parent_mean[here]
                    full.parent_var[here] = sm.parent_var[here]
            sub["community_cases_per_100k_7d_eb"] = sub["community_cases_per_100k_7d"]
            small = pop < self.run.config.min_population
            if small.any():
                for c in [c for c in RATE_COLUMNS if c in sub] + [
                    "community_cases_per_100k_7d_raw",
                    "community_cases_per_100k_7d_prior",
                    "smoothing_weight",
                ]:
                    sub[c] = np.where(small, np.nan, sub[c])
        cols = [c for c in sub if c in m.columns]
        # by position: label lookups on 100 k unit ids cost more than the update itself
        m.iloc[rows, m.columns.get_indexer(cols)] = np.column_stack([sub[c] for c in cols])
        return rows

    def _reevaluate(self, unit_type: str, touched: np.ndarray) -> np.ndarray:
        """Evaluate the touched units again on their updated metrics; units whose counts or level changed.

        Only the touched rows are evaluated, except where a unit's level depends on others: districts and
        the city (a few rows, by their wards' levels) and profiles with bordering rules (every unit of
        the type, so a neighbour's new level is seen).
        """
        run = self.run
        old = run.results[unit_type]
        m = old.metrics
        base = run.unit_metrics(unit_type)
        profile = run.config.cell_profile if unit_type in CELL_TYPES else run.profile
        cluster = int(run.profile.params.get("cluster_size", 2))
        whole = unit_type in ("district", "city") or any(
            "neighbour_max_level" in s.metrics for s in profile.steps
        )
        if whole:
            m = m.copy()
            same = [c for c in base.columns if c in m.columns]
            m[same] = base[same]
            for c in base.columns.difference(m.columns, sort=False):
                m[c] = base[c]
            if unit_type in ("district", "city"):
                run._children_shares(old.units, m)
            if unit_type in ("ward", "district", "city"):
                m["f0_unknown_source_clusters_14d"] = run._clusters_by_ward(old.units, cluster)
            elif unit_type == "group":
                m["f0_unknown_source_clusters_14d"] = (m["f0_unknown_source_14d"] >= cluster).astype(float)
            new = run._evaluate(unit_type, old.units, m, profile)
            new.hot = old.hot
            if old.units.note:
                new.extra_reasons = old.extra_reasons
            run.results[unit_type] = new
            level_changed = np.flatnonzero(new.evaluation.level != old.evaluation.level)
            return np.union1d(touched, level_changed).astype(np.int64)
        if not len(touched):
            return touched.astype(np.int64)
        kinds_m, kinds_b = m.dtypes, base.dtypes
        cols = [c for c in base.columns if kinds_b[c].kind == "f" and c in kinds_m and kinds_m[c].kind == "f"]
        m.iloc[touched, m.columns.get_indexer(cols)] = base.iloc[
            touched, base.columns.get_indexer(cols)
        ].to_numpy(dtype=float)
        at = m.columns.get_loc("f0_unknown_source_clusters_14d") if unit_type in ("ward", "group") else None
        if unit_type == "ward":
            m.iloc[touched, at] = run._clusters_by_ward(old.units, cluster)[touched]
        elif unit_type == "group":
            f0 = m.iloc[touched, m.columns.get_loc("f0_unknown_source_14d")].to_numpy(dtype=float)
            m.iloc[touched, at] = (f0 >= cluster).astype(float)
        sub = run._evaluate(unit_type, old.units, m.iloc[touched], profile)
        old.evaluation.put(touched, sub.evaluation)
        for i, r in zip(touched, sub.extra_reasons, strict=True):
            if not old.units.note:
                old.extra_reasons[i] = r
        return touched.astype(np.int64)

    def _households_to_refresh(self, households: np.ndarray, changed: dict[str, np.ndarray]) -> np.ndarray:
        run = self.run
        old_nb = run.neighbourhood_level.copy()
        run.__dict__.pop("neighbourhood_level", None)
        new_nb = run.neighbourhood_level
        moved = np.flatnonzero(new_nb != old_nb)
        idx = np.union1d(households, moved).astype(np.int64)
        hm = run.household_metrics
        hm["neighbourhood_level"][idx] = new_nb[idx]
        # the other household metrics are views of the count matrix, updated in place already
        return idx

    def _household_rows(self, idx: np.ndarray) -> pa.Table | None:
        run = self.run
        if not len(idx):
            return None
        hm = {k: np.asarray(v)[idx] for k, v in run.household_metrics.items()}
        ev = run.config.household_profile.run(hm, "household")
        lockdown = run.group_lockdown(idx)
        return household_table(run.inputs, hm, ev, lockdown, idx)

    def _level_rows(self, changed: dict[str, np.ndarray]) -> pd.DataFrame:
        frames = []
        for unit_type, rows in changed.items():
            if not len(rows) or unit_type not in self.run.config.unit_types:
                continue
            r = self.run.results[unit_type]
            sub = UnitResult(
                units=_subset_units(r.units, rows),
                metrics=r.metrics.iloc[rows],
                evaluation=r.evaluation.take(rows),
                profile=r.profile,
                extra_reasons=[r.extra_reasons[i] for i in rows],
            )
            frames.append(rows_of(unit_type, sub))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _subset_units(units: Any, rows: np.ndarray) -> Any:
    from risk.score.units import UnitSet

    return UnitSet(
        units.unit_type,
        units.ids[rows],
        units.names[rows],
        units.parents[rows],
        np.zeros(0, np.int32),
        units.prior_ward[rows],
    )


def _case_masks(ev: Events, day: int) -> dict[str, np.ndarray]:
    found = ev.attrs["found"]
    community = (found == 0) | (found == FOUND_UNKNOWN)

    def window(w: int, end: int = day) -> np.ndarray:
        return (ev.day <= end) & (ev.day > end - w)

    return {
        "community_cases_7d": window(7) & community,
        "community_cases_14d": window(14) & community,
        "community_cases_prev_7d": window(7, day - 7) & community,
        "cases_7d": window(7),
        "cases_14d": window(14),
        "f0_unknown_source_14d": window(14) & community,
        "lockdown_cases_14d": window(14) & (found == 2),
    }
