"""Features and labels of the risk model, computed from a scoring run (so training and serving agree).

Every feature is known at the as-of date (lagged): the household's members, vaccination and recent
events; cases, tests and positivity in its neighbourhood group, its H3 cells and their ring of
neighbours, its ward and the city, now and the week before. The label is whether a case is reported
among the household's (or cell's) residents in the 7 days after the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk.score.compute import ScoreRun
from risk.score.inputs import ScoreInputs
from risk.score.units import cell_units

HORIZON_DAYS = 7

HOUSEHOLD_FEATURES = (
    "hh_members",
    "hh_children",
    "hh_older",
    "hh_elderly",
    "hh_unvaccinated",
    "hh_full_share",
    "hh_active_f0",
    "hh_f1",
    "hh_positive_7d",
    "hh_tests_7d",
    "hh_cases_7d",
    "hh_cases_14d",
    "g_cases_7d",
    "g_cases_14d",
    "g_cases_prev_7d",
    "g_rate_7d",
    "g_lockdown_14d",
    "g_positivity_7d",
    "g_f1_7d",
    "c9_cases_7d",
    "c9_cases_14d",
    "c9_ring_cases_7d",
    "c9_ring_cases_14d",
    "c9_households",
    "c10_cases_14d",
    "w_rate_7d",
    "w_rate_14d",
    "w_growth",
    "w_full_coverage",
    "city_rate_7d",
    "city_growth",
)
CELL_FEATURES = (
    "res",
    "population",
    "households",
    "cases_7d",
    "cases_14d",
    "cases_prev_7d",
    "community_cases_7d",
    "active_f0",
    "f1_quarantined",
    "tests_7d",
    "positivity_7d",
    "full_coverage",
    "ring_cases_7d",
    "ring_cases_14d",
    "ring_population",
    "w_rate_7d",
    "w_growth",
    "city_rate_7d",
    "city_growth",
)


def _frame(f: dict[str, np.ndarray], names: tuple[str, ...], n: int) -> pd.DataFrame:
    """One float32 block (no per-column copies when the model reads it back as a matrix)."""
    out = np.empty((n, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        out[:, j] = f[name]
    return pd.DataFrame(out, columns=list(names), copy=False)


def _col(frame: pd.DataFrame | None, name: str, n: int) -> np.ndarray:
    if frame is None or name not in frame:
        return np.zeros(n)
    return np.nan_to_num(frame[name].to_numpy(dtype=float))


def _by_code(values: np.ndarray, code: np.ndarray) -> np.ndarray:
    out = np.zeros(len(code))
    ok = code >= 0
    out[ok] = values[code[ok]]
    return out


def _growth(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    return (now + 1.0) / (before + 1.0)


def _city(run: ScoreRun) -> tuple[float, float]:
    c = run.counts
    pop = max(float(c.col("population").sum()), 1.0)
    unl = c.unlinked_by_ward
    from risk.score.metrics import COUNTS

    now = float(c.col("cases_7d").sum() + unl[:, COUNTS.index("cases_7d")].sum())
    before = float(
        c.col("community_cases_prev_7d").sum() + unl[:, COUNTS.index("community_cases_prev_7d")].sum()
    )
    comm = float(c.col("community_cases_7d").sum() + unl[:, COUNTS.index("community_cases_7d")].sum())
    return now / pop * 1e5, float(_growth(np.array([comm]), np.array([before]))[0])


def _ring(run: ScoreRun, unit_type: str, values: np.ndarray) -> np.ndarray:
    adj = run.neighbours(unit_type)
    return adj @ values if adj is not None else np.zeros(len(values))


@dataclass
class Neighbourhood:
    """What household features take from the units around a household, by unit id: its group, its
    resolution-9 and -10 cells (with their ring), its ward and the city. In one process these come from
    the run itself; a partitioned run (`risk.score.partition`) computes them once on the reduced units,
    where every neighbour is present, and each partition looks up its own households' units by id."""

    group: pd.DataFrame | None  # index group id: g_* features
    c9: pd.DataFrame  # index H3 hex id: c9_* features
    c10: pd.DataFrame  # index H3 hex id: c10_* features
    ward: pd.DataFrame  # index ward id: w_* features
    city: tuple[float, float]  # city_rate_7d, city_growth

    def only(self, groups: object, c9: object, c10: object, wards: object) -> Neighbourhood:
        """The rows of the given units only (what a partition needs: bounded by the partition)."""

        def take(frame: pd.DataFrame | None, ids: object) -> pd.DataFrame | None:
            if frame is None:
                return None
            pos = frame.index.get_indexer(pd.Index(ids))  # the index keeps its hash table across calls
            return frame.iloc[pos[pos >= 0]]

        return Neighbourhood(
            take(self.group, groups),
            take(self.c9, c9),
            take(self.c10, c10),
            take(self.ward, wards),
            self.city,
        )


def _cell_sets(run: ScoreRun) -> None:
    for res in (9, 10):
        t = f"h3_{res}"
        if t not in run.unitsets:
            run.unitsets[t] = cell_units(run.inputs, res)


def neighbourhood_features(run: ScoreRun) -> Neighbourhood:
    """The unit part of the household features, one row per unit of the run (see `Neighbourhood`)."""
    _cell_sets(run)
    gm = run.unit_metrics("group") if "group" in run.unitsets else None
    group = None
    if gm is not None:
        kg = len(gm)
        group = pd.DataFrame(
            {
                feature: _col(gm, column, kg)
                for feature, column in (
                    ("g_cases_7d", "cases_7d"),
                    ("g_cases_14d", "cases_14d"),
                    ("g_cases_prev_7d", "community_cases_prev_7d"),
                    ("g_rate_7d", "community_cases_per_100k_7d_eb"),
                    ("g_lockdown_14d", "lockdown_cases_14d"),
                    ("g_positivity_7d", "test_positivity_7d"),
                    ("g_f1_7d", "f1_quarantined"),
                )
            },
            index=run.unitsets["group"].ids,
        )
    cm = run.unit_metrics("h3_9")
    k = len(cm)
    c9 = pd.DataFrame(
        {
            "c9_cases_7d": _col(cm, "cases_7d", k),
            "c9_cases_14d": _col(cm, "cases_14d", k),
            "c9_ring_cases_7d": _ring(run, "h3_9", _col(cm, "cases_7d", k)),
            "c9_ring_cases_14d": _ring(run, "h3_9", _col(cm, "cases_14d", k)),
            "c9_households": _col(cm, "households", k),
        },
        index=run.unitsets["h3_9"].ids,
    )
    cm = run.unit_metrics("h3_10")
    c10 = pd.DataFrame({"c10_cases_14d": _col(cm, "cases_14d", len(cm))}, index=run.unitsets["h3_10"].ids)
    wm = run.unit_metrics("ward")
    k = len(wm)
    ward = pd.DataFrame(
        {
            "w_rate_7d": _col(wm, "community_cases_per_100k_7d", k),
            "w_rate_14d": _col(wm, "community_cases_per_100k_14d", k),
            "w_growth": _growth(_col(wm, "community_cases_7d", k), _col(wm, "community_cases_prev_7d", k)),
            "w_full_coverage": _col(wm, "full_dose_coverage", k),
        },
        index=run.unitsets["ward"].ids,
    )
    return Neighbourhood(group, c9, c10, ward, _city(run))


def _per_household(
    f: dict[str, np.ndarray], frame: pd.DataFrame | None, ids: pd.Index, code: np.ndarray
) -> None:
    """Each column of `frame` (rows by unit id) for every household, through its unit code in `ids`."""
    if frame is None:
        return
    values = frame.reindex(ids, fill_value=0.0)
    for name in frame.columns:
        f[name] = _by_code(values[name].to_numpy(dtype=float), code)


def household_features(run: ScoreRun, around: Neighbourhood | None = None) -> pd.DataFrame:
    """One row per household (positions as in `run.inputs`), float32 columns of HOUSEHOLD_FEATURES.

    `around` (default: the run's `neighbourhood` attribute, else computed from the run): the units'
    part, by unit id; the household's own part always comes from the run's counts."""
    inp = run.inputs
    n = inp.n_households
    c = run.counts
    f: dict[str, np.ndarray] = {}
    members = c.col("population")
    f["hh_members"] = members
    f["hh_children"] = members - c.col("adults")
    f["hh_older"] = c.col("older")
    f["hh_elderly"] = c.col("elderly")
    f["hh_unvaccinated"] = c.col("unvaccinated")
    f["hh_full_share"] = np.where(members > 0, c.col("full_dose") / np.maximum(members, 1), 0)
    f["hh_active_f0"] = c.col("active_f0")
    f["hh_f1"] = c.col("f1_quarantined")
    f["hh_positive_7d"] = c.col("positive_7d")
    f["hh_tests_7d"] = c.col("tests_7d")
    f["hh_cases_7d"] = c.col("cases_7d")
    f["hh_cases_14d"] = c.col("cases_14d")

    if around is None:
        around = getattr(run, "neighbourhood", None) or neighbourhood_features(run)
    _cell_sets(run)
    for name in HOUSEHOLD_FEATURES:
        if name.startswith("g_"):
            f[name] = np.zeros(n)
    if "group" in run.unitsets:
        g = run.unitsets["group"]
        _per_household(f, around.group, g.ids, g.hh_code)
    for res, frame in ((9, around.c9), (10, around.c10)):
        units = run.unitsets[f"h3_{res}"]
        _per_household(f, frame, units.ids, units.hh_code)
    _per_household(f, around.ward, run.unitsets["ward"].ids, inp.hh_ward)
    rate, growth = around.city
    f["city_rate_7d"] = np.full(n, rate)
    f["city_growth"] = np.full(n, growth)
    return _frame(f, HOUSEHOLD_FEATURES, n)


def cell_features(run: ScoreRun, unit_type: str) -> pd.DataFrame:
    """One row per cell of `unit_type` (as in `run.unitsets`), float32 columns of CELL_FEATURES."""
    units = run.unitsets[unit_type]
    m = run.unit_metrics(unit_type)
    k = len(m)
    f: dict[str, np.ndarray] = {"res": np.full(k, float(unit_type.split("_")[1]))}
    for name in (
        "population",
        "households",
        "cases_7d",
        "cases_14d",
        "community_cases_7d",
        "active_f0",
        "f1_quarantined",
        "tests_7d",
    ):
        f[name] = _col(m, name, k)
    f["cases_prev_7d"] = _col(m, "community_cases_prev_7d", k)
    f["positivity_7d"] = _col(m, "test_positivity_7d", k)
    f["full_coverage"] = _col(m, "full_dose_coverage", k)
    f["ring_cases_7d"] = _ring(run, unit_type, f["cases_7d"])
    f["ring_cases_14d"] = _ring(run, unit_type, f["cases_14d"])
    f["ring_population"] = _ring(run, unit_type, f["population"])
    wm = run.unit_metrics("ward")
    kw = len(wm)
    f["w_rate_7d"] = _by_code(_col(wm, "community_cases_per_100k_7d", kw), units.prior_ward)
    f["w_growth"] = _by_code(
        _growth(_col(wm, "community_cases_7d", kw), _col(wm, "community_cases_prev_7d", kw)), units.prior_ward
    )
    rate, growth = _city(run)
    f["city_rate_7d"] = np.full(k, rate)
    f["city_growth"] = np.full(k, growth)
    return _frame(f, CELL_FEATURES, k)


def new_case_households(inputs: ScoreInputs, day: int, horizon: int = HORIZON_DAYS) -> np.ndarray:
    """Per household: a case reported among its residents in (day, day + horizon]."""
    c = inputs.cases
    sel = (c.day > day) & (c.day <= day + horizon) & (c.person >= 0)
    hh = inputs.person_hh[c.person[sel]]
    out = np.zeros(inputs.n_households, dtype=bool)
    out[hh[hh >= 0]] = True
    return out


def new_case_cells(run: ScoreRun, unit_type: str, horizon: int = HORIZON_DAYS) -> np.ndarray:
    """Per cell of `unit_type`: a case reported among its residents in the `horizon` days after."""
    hh = new_case_households(run.inputs, run.day, horizon)
    code = run.unitsets[unit_type].hh_code
    out = np.zeros(len(run.unitsets[unit_type]), dtype=bool)
    out[code[hh & (code >= 0)]] = True
    return out
