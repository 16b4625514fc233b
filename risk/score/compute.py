"""One scoring run in memory: metrics of every unit at an as-of date, levels by the profiles, the rows of
the snapshot tables. Nothing here reads or writes the store (see `risk.score` for that), so the same run
feeds snapshots, backtests and the incremental updater.

Order: wards (the official profile), neighbourhood groups (the official profile on smoothed rates, or on
events for `nsc-2686`), districts and the city (their own counts; `nsc-2686` by the share of their
wards), H3 cells (`riskmap-cell`: smoothed rates, Gi* hot spots, the model), households
(`riskmap-household`, with the level of their neighbourhood). The model never changes an official level:
it is a metric of cells and households, and a step of riskmap's own profiles that says so when it fires.
"""

from __future__ import annotations

import datetime as dt
import json as _json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from geo.gazetteer import Gazetteer, version_on
from risk.profiles import Evaluation, Profile
from risk.score.hotspots import Hotspots, hotspots
from risk.score.inputs import ScoreInputs, date_of
from risk.score.jsontext import json_objects
from risk.score.metrics import (
    COUNTS,
    EVENT_COUNTS,
    HouseholdCounts,
    empirical_bayes,
    household_counts,
    rates,
    roll_up,
    unit_counts,
)
from risk.score.status import PersonStatus, person_status
from risk.score.unitinputs import UnitInputs
from risk.score.units import (
    UnitSet,
    cell_cell_neighbours,
    cell_units,
    city_units,
    district_units,
    group_units,
    parent_codes,
    polygon_neighbours,
    ward_units,
)

AREA_TYPES = ("city", "district", "ward", "group")
CELL_TYPES = ("h3_8", "h3_9", "h3_10")
ALL_TYPES = (*AREA_TYPES, *CELL_TYPES, "household")
RATE_COLUMNS = (
    "community_cases_per_100k_7d",
    "community_cases_per_100k_14d",
    "community_cases_prev_per_100k_7d",
    "adult_first_dose_coverage",
    "elderly_full_dose_coverage",
    "full_dose_coverage",
    "high_risk_full_dose_coverage",
    "test_positivity_7d",
)
# Metrics written into the `metrics` JSON of each row (beside the profile's own inputs).
AREA_METRICS = (
    "population",
    "households",
    "adults",
    "adults_one_dose",
    "elderly",
    "elderly_full_dose",
    "full_dose",
    "high_risk",
    "high_risk_full_dose",
    *EVENT_COUNTS,
    "active_f0",
    "f1_quarantined",
    "booster_due",
    *RATE_COLUMNS,
)
CELL_METRICS = (
    "population",
    "households",
    "adults",
    "adults_one_dose",
    "community_cases_7d",
    "community_cases_14d",
    "cases_7d",
    "tests_7d",
    "positive_7d",
    "community_cases_per_100k_7d",
    "community_cases_per_100k_7d_raw",
    "community_cases_per_100k_7d_prior",
    "smoothing_weight",
    "adult_first_dose_coverage",
    "test_positivity_7d",
    "hotspot",
    "hotspot_z",
    "hotspot_p",
    "model_probability",
)


@dataclass(frozen=True)
class ScoreConfig:
    """What a run scores and by which rules."""

    profile: Profile
    cell_profile: Profile
    household_profile: Profile
    unit_types: tuple[str, ...] = ALL_TYPES
    min_population: int = 100
    hotspot_alpha: float = 0.05
    hotspot_permutations: int = 0
    district_version: str | None = "auto"  # "auto": the geography in force on the as-of date
    unit_inputs: UnitInputs = field(default_factory=UnitInputs)
    province: str | None = "79"
    models: Any = None  # risk.model.Models or None


@dataclass
class Geography:
    """The admin units (current gazetteer) and the neighbourhood groups (from the store's `groups`)."""

    gazetteer: Gazetteer
    groups: pd.DataFrame | None = None  # group_id, ward_id, name[, geometry]


@dataclass
class UnitResult:
    """One unit type of a run: its units, metrics, evaluation and extra reasons."""

    units: UnitSet
    metrics: pd.DataFrame
    evaluation: Evaluation
    profile: Profile
    extra_reasons: list[str | None]
    hot: Hotspots | None = None


class ScoreRun:
    """Everything computed for one as-of day; attributes are computed on first use and kept."""

    def __init__(
        self,
        inputs: ScoreInputs,
        day: int,
        config: ScoreConfig,
        geo: Geography,
        shared: dict[Any, Any] | None = None,
    ) -> None:
        self.inputs = inputs
        self.day = day
        self.config = config
        self.geo = geo
        self.profile = config.profile.for_province(config.province)
        self.results: dict[str, UnitResult] = {}
        self._metrics: dict[str, pd.DataFrame] = {}
        self._counts: dict[str, pd.DataFrame] = {}
        self._hot: dict[str, Hotspots] = {}
        self.priors: dict[tuple[str, str], Any] = {}  # (unit type, window) → Smoothed (incremental updates)
        self._predictions: dict[str, Any] = {}  # kind → Future of model probabilities (started early)
        # Unit sets depend on the households only: runs of several days over the same inputs share them.
        self.shared = shared if shared is not None else {}

    @property
    def date(self) -> dt.date:
        return date_of(self.day)

    @cached_property
    def status(self) -> PersonStatus:
        p = self.config.household_profile.params
        return person_status(
            self.inputs,
            self.day,
            active_f0_days=int(p.get("active_f0_days", 14)),
            quarantine_days=int(p.get("quarantine_days", 14)),
            positive_days=int(p.get("positive_test_days", 7)),
            booster_days=round(float(p.get("booster_months", 6)) * 30.44),
        )

    @cached_property
    def counts(self) -> HouseholdCounts:
        return household_counts(self.inputs, self.status)

    @cached_property
    def inputs_today(self) -> pd.DataFrame:
        return self.config.unit_inputs.on(self.date)

    # -- unit sets ---------------------------------------------------------------------------------------

    @cached_property
    def unitsets(self) -> dict[str, UnitSet]:
        gaz, inp, want = self.geo.gazetteer, self.inputs, set(self.config.unit_types)
        version = self.config.district_version
        if version == "auto":
            v = version_on(self.date)
            version = v.name if "district" in v.levels else None
        key = ("unitsets", id(inp), tuple(sorted(want)), version)
        if key in self.shared:
            return self.shared[key]
        out: dict[str, UnitSet] = {"ward": ward_units(gaz, inp)}
        if "city" in want:
            out["city"] = city_units(gaz, inp)
        if "district" in want and version:
            d = district_units(gaz, inp, version)
            if d is not None:
                out["district"] = d
        if len(inp.groups) and ("group" in want or "household" in want):
            out["group"] = group_units(inp, self.geo.groups)
        finer = None
        for t in ("h3_10", "h3_9", "h3_8"):  # finest first: coarser cells are its parents
            if (
                t in want
                or (t == "h3_9" and "household" in want)
                or (finer is None and any(c in want for c in CELL_TYPES))
            ):
                finer = out[t] = cell_units(inp, int(t.split("_")[1]), finer)
        self.shared[key] = out
        return out

    def unit_metrics(self, unit_type: str) -> pd.DataFrame | None:
        """Counts and rates of one unit type (smoothed below the ward), before any profile runs."""
        if unit_type in self._metrics:
            return self._metrics[unit_type]
        units = self.unitsets.get(unit_type)
        if units is None:
            return None
        m = rates(self.unit_counts(unit_type))
        if unit_type == "group" or unit_type in CELL_TYPES:
            self._smooth(m, units)
        if unit_type not in CELL_TYPES and len(self.inputs_today):
            extra = self.inputs_today.reindex(m.index)
            for c in extra.columns:
                if extra[c].notna().any():
                    m[c] = extra[c].to_numpy()
        self._metrics[unit_type] = _one_block(m)
        return self._metrics[unit_type]

    def unit_counts(self, unit_type: str) -> pd.DataFrame:
        """Counts of one unit type: from households for wards, groups and the finest cells; rolled up
        from wards (city, districts) and from finer cells (coarser cells)."""
        if unit_type in self._counts:
            return self._counts[unit_type]
        units = self.unitsets[unit_type]
        finer = {"h3_9": "h3_10", "h3_8": "h3_9"}.get(unit_type)
        if unit_type in ("city", "district") and units.ward_code is not None:
            out = roll_up(self.unit_counts("ward"), units.ward_code, units)
        elif finer in self.unitsets:
            out = roll_up(self.unit_counts(finer), parent_codes(self.unitsets[finer], units), units)
        else:
            out = unit_counts(units, self.counts)
        self._counts[unit_type] = out
        return out

    def neighbours(self, unit_type: str) -> Any:
        """Adjacency of the units of a type (cells: H3 ring 1; wards and groups: touching polygons)."""
        units = self.unitsets[unit_type]
        if units.neighbours is None:
            if unit_type in CELL_TYPES:
                units.neighbours = cell_cell_neighbours(units.ids)
            elif unit_type == "ward":
                wards = self.geo.gazetteer.wards.reindex(units.ids)
                units.neighbours = polygon_neighbours(
                    units.ids, np.asarray(wards.geometry.values, dtype=object)
                )
            elif unit_type == "group":
                g = self.geo.groups
                if g is None or not isinstance(g, gpd.GeoDataFrame):
                    return None
                geoms = g.drop_duplicates("group_id").set_index("group_id").geometry.reindex(units.ids)
                units.neighbours = polygon_neighbours(units.ids, np.asarray(geoms.values, dtype=object))
        return units.neighbours

    def hotspots(self, unit_type: str) -> Hotspots:
        """Gi* hot spots of the smoothed 7-day rates (every populated cell, even below the minimum)."""
        if unit_type not in self._hot:
            m = self.unit_metrics(unit_type)
            self._hot[unit_type] = hotspots(
                np.nan_to_num(m["community_cases_per_100k_7d_eb"].to_numpy()),
                self.neighbours(unit_type),
                alpha=self.config.hotspot_alpha,
                permutations=self.config.hotspot_permutations,
            )
        return self._hot[unit_type]

    # -- area units --------------------------------------------------------------------------------------

    def _smooth(self, m: pd.DataFrame, units: UnitSet) -> None:
        """Empirical-Bayes rates toward the ward; no rate below the minimum population."""
        sm = empirical_bayes(m["community_cases_7d"].to_numpy(), m["population"].to_numpy(), units.prior_ward)
        self.priors[(units.unit_type, "7d")] = sm
        m["community_cases_per_100k_7d_raw"] = m["community_cases_per_100k_7d"]
        m["community_cases_per_100k_7d"] = sm.rate * 1e5
        m["community_cases_per_100k_7d_eb"] = sm.rate * 1e5
        m["community_cases_per_100k_7d_prior"] = sm.prior * 1e5
        m["smoothing_weight"] = sm.weight
        sm14 = empirical_bayes(
            m["community_cases_14d"].to_numpy(), m["population"].to_numpy(), units.prior_ward
        )
        m["community_cases_per_100k_14d"] = sm14.rate * 1e5
        small = m["population"].to_numpy() < self.config.min_population
        m["insufficient"] = small
        for c in RATE_COLUMNS:
            m.loc[small, c] = np.nan
        for c in ("community_cases_per_100k_7d_raw", "community_cases_per_100k_7d_prior", "smoothing_weight"):
            m.loc[small, c] = np.nan

    def _neighbours(self, units: UnitSet) -> Any:
        if not any("neighbour_max_level" in s.metrics for s in self.profile.steps):
            return None
        return self.neighbours(units.unit_type)

    def _evaluate(self, unit_type: str, units: UnitSet, m: pd.DataFrame, profile: Profile) -> UnitResult:
        ev = profile.run(m, unit_type, self._neighbours(units) if profile is self.profile else None)
        extra: list[str | None] = [None] * len(m)
        if "insufficient" in m:
            small = m["insufficient"].to_numpy(dtype=bool) & (ev.level == 0)
            if small.any():
                extra = _insufficient(m["population"].to_numpy(), small, self.config.min_population)
        return UnitResult(units, m, ev, profile, extra)

    def area(self, unit_type: str) -> UnitResult | None:
        """Metrics and levels of the city, districts, wards or groups (official profile)."""
        if unit_type in self.results:
            return self.results[unit_type]
        units = self.unitsets.get(unit_type)
        if units is None:
            return None
        m = self.unit_metrics(unit_type).copy()
        cluster = int(self.profile.params.get("cluster_size", 2))
        if unit_type == "group":
            m["f0_unknown_source_clusters_14d"] = (m["f0_unknown_source_14d"] >= cluster).astype(float)
        elif unit_type in ("ward", "district", "city"):
            m["f0_unknown_source_clusters_14d"] = self._clusters_by_ward(units, cluster)
        if unit_type in ("district", "city"):
            self._children_shares(units, m)
        res = self._evaluate(unit_type, units, _one_block(m), self.profile)
        if units.note:
            note = '{"step":"geography","text":{"en":' + _js(units.note) + ',"vi":' + _js(_NOTE_VI) + "}}"
            res.extra_reasons = [note] * len(units)
        self.results[unit_type] = res
        return res

    def _clusters_by_ward(self, units: UnitSet, cluster: int) -> np.ndarray:
        """Neighbourhood groups with an unknown-source cluster, summed into wards, districts, the city."""
        inp = self.inputs
        g = self.unitsets.get("group")
        if g is None or units.ward_code is None:
            return np.zeros(len(units))
        gc = self.unit_metrics("group")["f0_unknown_source_14d"].to_numpy()
        is_cluster = (gc >= cluster).astype(float)
        per_ward = np.bincount(
            np.maximum(g.prior_ward, 0), weights=is_cluster * (g.prior_ward >= 0), minlength=len(inp.wards)
        )
        out = np.zeros(len(units))
        ok = units.ward_code >= 0
        np.add.at(out, units.ward_code[ok], per_ward[: len(units.ward_code)][ok])
        return out

    def _children_shares(self, units: UnitSet, m: pd.DataFrame) -> None:
        wards = self.area("ward")
        lv = wards.evaluation.level.astype(int)
        pop = wards.metrics["population"].to_numpy()
        wc = units.ward_code
        ok = (wc >= 0) & (pop > 0)
        n = len(units)
        total = np.bincount(wc[ok], minlength=n).astype(float)
        for k in (2, 3, 4):
            cnt = np.bincount(wc[ok], weights=(lv[ok] >= k).astype(float), minlength=n)
            m[f"children_count_ge{k}"] = cnt
            m[f"children_share_ge{k}"] = np.where(total > 0, cnt / np.maximum(total, 1), np.nan)
        m["children"] = total

    # -- cells -------------------------------------------------------------------------------------------

    def cells(self, unit_type: str) -> UnitResult | None:
        """Metrics, hot spots and levels (`riskmap-cell`) of the H3 cells of one resolution."""
        if unit_type in self.results:
            return self.results[unit_type]
        units = self.unitsets.get(unit_type)
        if units is None:
            return None
        m = self.unit_metrics(unit_type).copy()
        hot = self.hotspots(unit_type)
        m["hotspot"] = np.where(hot.hot, 1.0, np.where(hot.cold, -1.0, 0.0))
        m["hotspot_z"] = hot.z
        m["hotspot_p"] = hot.p
        prob = self.model_probabilities(unit_type)
        if prob is not None:
            m["model_probability"] = prob
        res = self._evaluate(unit_type, units, _one_block(m), self.config.cell_profile)
        res.hot = hot
        self.results[unit_type] = res
        return res

    def model_probabilities(self, kind: str) -> np.ndarray | None:
        """Calibrated 7-day probabilities from the loaded model, if any ('household' or a cell type)."""
        models = self.config.models
        if models is None:
            return None
        pending = self._predictions.pop(kind, None)
        if pending is not None:
            return pending.result().astype(np.float32)
        return models.predict(self, kind)

    def start_household_model(self) -> None:
        """Start applying the model to every household in background threads, to run beside the unit
        levels (millions of households: the largest single step of a full run); the household metrics
        then wait for it. Same probabilities as computed in line."""
        models = self.config.models
        if models is None or "household" not in self.config.unit_types or "household" in self._predictions:
            return
        if "household_metrics" in self.__dict__:
            return
        pending = models.predict_async(self, "household")
        if pending is not None:
            self._predictions["household"] = pending

    # -- households --------------------------------------------------------------------------------------

    @cached_property
    def neighbourhood_level(self) -> np.ndarray:
        """Per household: its group's official level, else its resolution-9 cell's level, else 0."""
        h = self.inputs.n_households
        out = np.zeros(h, dtype=np.int8)
        g = self.area("group") if "group" in self.unitsets else None
        if g is not None:
            code = g.units.hh_code
            ok = code >= 0
            out[ok] = g.evaluation.level[code[ok]]
        cell_type = next((t for t in ("h3_9", "h3_10", "h3_8") if t in self.unitsets), None)
        if cell_type is not None:
            c = self.cells(cell_type)
            code = c.units.hh_code
            fill = (out == 0) & (code >= 0)
            out[fill] = c.evaluation.level[code[fill]]
        return out

    @cached_property
    def household_metrics(self) -> dict[str, np.ndarray]:
        """Per household, the metrics of the household profile (arrays, views of the count matrix)."""
        c = self.counts
        m = {
            name: c.col(name)
            for name in (
                "population",
                "older",
                "elderly",
                "comorbid",
                "unvaccinated",
                "active_f0",
                "positive_tests_7d",
                "f1_quarantined",
                "f1_home",
                "vulnerable_unvaccinated",
                "elderly50_under_vaccinated",
                "booster_due",
                "lockdown_cases_14d",
            )
        }
        m["neighbourhood_level"] = self.neighbourhood_level.astype(np.float32)
        prob = self.model_probabilities("household")
        if prob is not None:
            m["model_probability"] = prob
        return m

    @cached_property
    def household_evaluation(self) -> Evaluation:
        return self.config.household_profile.run(self.household_metrics, "household")

    def group_lockdown(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Per household (or those at positions `idx`): its group had cases found in a lockdown area in
        the last 14 days."""
        n = self.inputs.n_households if idx is None else len(idx)
        out = np.zeros(n, dtype=bool)
        gm = self.unit_metrics("group")
        if gm is not None:
            code = self.unitsets["group"].hh_code
            code = code if idx is None else code[idx]
            ok = code >= 0
            out[ok] = gm["lockdown_cases_14d"].to_numpy()[code[ok]] > 0
        return out

    def household_rows(self, idx: np.ndarray | None = None) -> pa.Table:
        """Rows of the `household_levels` table (typed columns), for all households or positions `idx`."""
        ev = self.household_evaluation
        m = self.household_metrics
        lockdown = self.group_lockdown()
        if idx is not None:
            ev, m, lockdown = ev.take(idx), {k: v[idx] for k, v in m.items()}, lockdown[idx]
        return household_table(self.inputs, m, ev, lockdown, idx)

    # -- rows of the levels table ------------------------------------------------------------------------

    def run_all(self) -> None:
        for t in ("ward", "group", "district", "city"):
            if t in self.config.unit_types and t in self.unitsets:
                self.area(t)
        for t in CELL_TYPES:
            if t in self.config.unit_types and t in self.unitsets:
                self.cells(t)

    def level_rows(self) -> pd.DataFrame:
        """Rows of the `levels` table for every area and cell unit (pending columns empty)."""
        self.run_all()
        frames = []
        for t in ("city", "district", "ward", "group", *CELL_TYPES):
            if t in self.results and t in self.config.unit_types:
                frames.append(rows_of(t, self.results[t]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"as_of_day": str(self.date)}
        for t, r in self.results.items():
            lv = r.evaluation.level
            out.setdefault("levels", {})[t] = {
                str(k): int(v) for k, v in zip(*np.unique(lv, return_counts=True), strict=True)
            }
            if r.hot is not None:
                out.setdefault("hotspots", {})[t] = {
                    "hot": int(r.hot.hot.sum()),
                    "cold": int(r.hot.cold.sum()),
                    "fdr_threshold": r.hot.threshold,
                    "alpha": r.hot.alpha,
                    "method": r.hot.method,
                }
        return out


def household_table(
    inp: ScoreInputs,
    m: dict[str, np.ndarray],
    ev: Evaluation,
    group_lockdown: np.ndarray,
    idx: np.ndarray | None = None,
) -> pa.Table:
    """`household_levels` rows (an Arrow table: no pandas copy of millions of rows) from household
    metrics and their evaluation; `idx`: the household positions of the rows (all when None)."""
    pos = np.arange(inp.n_households) if idx is None else np.asarray(idx)
    n = len(pos)

    def ids(codes: np.ndarray, names: pd.Index) -> pa.Array:
        if not len(names):
            return pa.nulls(n, pa.string())
        dictionary = pa.array(list(names), pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=codes < 0), dictionary).cast(
            pa.string()
        )

    def i16(col: str) -> np.ndarray:
        return np.minimum(np.asarray(m[col]), 32767).astype(np.int16)

    def gt0(col: str) -> np.ndarray:
        return np.asarray(m[col]) > 0

    f0 = gt0("active_f0")
    prob = (
        np.asarray(m["model_probability"], dtype=np.float32)
        if "model_probability" in m
        else np.full(n, np.nan, dtype=np.float32)
    )
    return pa.table(
        {
            "household_id": inp.household_id[pos],
            "ward_id": ids(inp.hh_ward[pos], inp.wards),
            "group_id": ids(inp.hh_group[pos], inp.groups),
            "h3_9": inp.hh_cells[9][pos],
            "h3_10": inp.hh_cells[10][pos],
            "level": ev.level,
            "neighbourhood_level": np.asarray(m["neighbourhood_level"]).astype(np.int8),
            "reasons": ev.applied_bits(),
            "members": i16("population"),
            "older": i16("older"),
            "elderly": i16("elderly"),
            "comorbid": i16("comorbid"),
            "unvaccinated": i16("unvaccinated"),
            "active_f0": i16("active_f0"),
            "positive_tests_7d": i16("positive_tests_7d"),
            "f1_quarantined": i16("f1_quarantined"),
            "vulnerable_unvaccinated": i16("vulnerable_unvaccinated"),
            "elderly50_under_vaccinated": i16("elderly50_under_vaccinated"),
            "booster_due": i16("booster_due"),
            "flag_f0": f0,
            "flag_f1": gt0("f1_quarantined"),
            "flag_positive": gt0("positive_tests_7d"),
            "flag_elderly_unvaccinated": gt0("vulnerable_unvaccinated"),
            "flag_booster_due": gt0("booster_due"),
            # welfare support: F0 or F1 isolated at home, or a lockdown in the group (14 days)
            "flag_support": f0 | gt0("f1_home") | group_lockdown,
            "model_probability": pa.array(prob, mask=np.isnan(prob)),
        }
    )


_NOTE_VI = "quận theo địa giới cũ: mỗi phường 2025 được tính trọn cho quận cũ chứa phần lớn diện tích của nó"


def _js(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _insufficient(population: np.ndarray, rows: np.ndarray, minimum: int) -> list[str | None]:
    """The 'insufficient data' reason of the given rows (vectorised text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pop = pc.cast(pa.array(population.astype(np.int64)), pa.string())
    lit = lambda t: pa.array(np.full(len(population), t, dtype=object), pa.string())  # noqa: E731
    text = pc.binary_join_element_wise(
        lit('{"step":"insufficient","population":'),
        pop,
        lit(f',"min_population":{minimum},"text":{{"en":"insufficient data: '),
        pop,
        lit(f' residents, fewer than {minimum}: no rate","vi":"chưa đủ dữ liệu: '),
        pop,
        lit(f' người, dưới {minimum}: không tính tỷ lệ"}}}}'),
        "",
    )
    return pc.if_else(pa.array(rows), text, pa.nulls(len(population), pa.string())).to_pylist()


SMALL = 64


def _one_block(m: pd.DataFrame) -> pd.DataFrame:
    """Numbers as one float64 block (text inputs aside): incremental updates then write rows in one go."""
    numeric = {c: float for c in m.columns if m[c].dtype.kind in "biuf"}
    return m.astype(numeric).copy()


def _plain_row(row: pd.Series | dict[str, Any], cols: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in cols:
        v = row[c]
        if isinstance(v, float | np.floating):
            f = float(v)
            out[c] = None if np.isnan(f) else (int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 6))
        elif isinstance(v, np.integer | np.bool_):
            out[c] = v.item()
        else:
            out[c] = None if v is None or (isinstance(v, float) and v != v) else v
    return out


def rows_of(unit_type: str, r: UnitResult) -> pd.DataFrame:
    """`levels` rows of one unit type: typed columns plus metrics and reasons as JSON text."""
    m = r.metrics
    n = len(m)
    wanted = CELL_METRICS if unit_type in CELL_TYPES else AREA_METRICS
    cols = [c for c in wanted if c in m.columns]
    cols += [c for c in r.profile.metrics if c in m.columns and c not in cols]
    cols += [c for c in m.columns if c.startswith("children_") and c not in cols]
    if unit_type == "group" and "community_cases_per_100k_7d_raw" in m:
        cols += [
            c
            for c in (
                "community_cases_per_100k_7d_raw",
                "community_cases_per_100k_7d_prior",
                "smoothing_weight",
            )
            if c not in cols
        ]
    if n <= SMALL:  # a few rows (incremental updates): plain json.dumps beats Arrow's per-call overhead
        values = m[cols].to_numpy(dtype=object)  # one conversion, not a pandas row per unit
        metrics = [_json.dumps(_plain_row(dict(zip(cols, values[i], strict=True)), cols)) for i in range(n)]
        reasons = [_json.dumps(r.evaluation.reasons(i)) for i in range(n)]
    else:
        metrics = json_objects({c: m[c] for c in cols}, n)
        reasons = r.evaluation.reasons_json()
    if any(e is not None for e in r.extra_reasons):
        from risk.score.jsontext import append_json_items

        reasons = append_json_items(reasons, r.extra_reasons)
    return pd.DataFrame(
        {
            "unit_type": unit_type,
            "unit_id": np.asarray(r.units.ids, dtype=object),
            "parent_id": r.units.parents,
            "name": r.units.names,
            "level": r.evaluation.level,
            "profile": r.profile.id,
            "profile_version": r.profile.version,
            "population": m["population"].to_numpy().astype(np.int64),
            "metrics": metrics,
            "reasons": reasons,
        }
    )


__all__ = ["ALL_TYPES", "COUNTS", "Geography", "ScoreConfig", "ScoreRun", "date_of"]
