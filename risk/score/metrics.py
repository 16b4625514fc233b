"""Per-unit metrics at an as-of date: counts per household, summed into any unit, then rates.

Denominators come from the linked population (registry persons placed in households), so rates are
consistent with the numerators at any scale. Counts are summed household → unit with one sparse
product per unit type; event counts (cases, tests, contacts) are attributed to the household of the
person, and cases not linked to any person to the ward their own address was placed in (they count for
the ward, its district and the city, never for a smaller unit).

Rates are never invented: a zero denominator gives no rate; below the ward a unit needs
`min_population` residents (else "insufficient data"), and its rate is smoothed by empirical Bayes toward
its ward (Marshall's method-of-moments estimator, as `esda.smoothing.Empirical_Bayes` computes it, with
the prior taken per ward instead of over the whole map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from risk.score.inputs import ScoreInputs
from risk.score.status import PersonStatus, community_case_mask, known_source
from risk.score.units import UnitSet

# Counts kept per household (columns of `HouseholdCounts.values`) and summed into units.
PERSON_COUNTS = (
    "population",
    "adults",
    "adults_one_dose",
    "elderly",
    "elderly_full_dose",
    "full_dose",
    "high_risk",
    "high_risk_full_dose",
    "older",
    "comorbid",
    "boosted",
    "active_f0",
    "positive_tests_7d",
    "f1_quarantined",
    "f1_home",
    "vulnerable_unvaccinated",
    "elderly50_under_vaccinated",
    "booster_due",
    "unvaccinated",
)
EVENT_COUNTS = (
    "community_cases_7d",
    "community_cases_14d",
    "community_cases_prev_7d",
    "cases_7d",
    "cases_14d",
    "f0_unknown_source_14d",
    "f0_known_source_14d",
    "lockdown_cases_14d",
    "f1_home_quarantine_14d",
    "tests_7d",
    "positive_7d",
)
COUNTS = PERSON_COUNTS + EVENT_COUNTS


@dataclass
class HouseholdCounts:
    """Counts per household (H × K float32) and, per ward, counts of cases linked to nobody."""

    values: np.ndarray
    unlinked_by_ward: np.ndarray  # n_wards × K (only the case columns are non-zero)
    columns: tuple[str, ...] = COUNTS
    weight: np.ndarray | None = None  # households per row (see `ScoreInputs.household_weight`)

    def col(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]


def per_household(person_hh: np.ndarray, columns: list[np.ndarray], n_households: int) -> np.ndarray:
    """Sums of per-person columns (bool or small ints) per household: H × len(columns) int32.

    Persons are ordered by household (`risk.score.inputs` sorts them), so a household's sum is the
    difference of a running sum at its last and its previous household's last member: one `np.cumsum`
    per column (4× faster than `np.add.reduceat`, which casts through buffers; one column at a time, so
    no P × K copy); persons without a household (−1, sorted first) are skipped.
    """
    out = np.zeros((n_households, len(columns)), dtype=np.int32)
    first = int(np.searchsorted(person_hh, 0))
    hh = person_hh[first:]
    if not len(hh) or not columns:
        return out
    if len(hh) > 1 and (np.diff(hh) < 0).any():
        raise ValueError("per_household: persons must be ordered by household")
    starts = np.flatnonzero(np.r_[True, hh[1:] != hh[:-1]])
    ends = np.r_[starts[1:], len(hh)] - 1
    sums = np.empty((len(columns), len(starts)), dtype=np.int32)
    for j, c in enumerate(columns):
        run = np.cumsum(c[first:], dtype=np.int32)
        sums[j] = run[ends]
        sums[j, 1:] -= run[ends[:-1]]
    out[hh[starts]] = sums.T
    return out


def household_counts(inputs: ScoreInputs, status: PersonStatus) -> HouseholdCounts:
    """Every count of `COUNTS` per household at the status's day (float32 matrix, H × len(COUNTS))."""
    h = inputs.n_households
    day = status.day
    hh = inputs.person_hh
    s = status
    person_cols = {
        "population": np.ones(len(hh), dtype=bool),
        "adults": s.adult,
        "adults_one_dose": s.adult & s.one_dose,
        "elderly": s.elderly,
        "elderly_full_dose": s.elderly & s.full,
        "full_dose": s.full,
        "high_risk": s.high_risk,
        "high_risk_full_dose": s.high_risk & s.full,
        "older": s.older,
        "comorbid": s.comorbid,
        "boosted": s.boosted,
        "active_f0": s.active_f0,
        "positive_tests_7d": s.positive_recent,
        "f1_quarantined": s.f1_quarantined,
        "f1_home": s.f1_home,
        "vulnerable_unvaccinated": s.vulnerable & ~s.one_dose,
        "elderly50_under_vaccinated": s.older & ~s.full,
        "booster_due": s.booster_due,
        "unvaccinated": ~s.one_dose,
    }
    values = np.zeros((h, len(COUNTS)), dtype=np.float32)
    sums = per_household(hh, list(person_cols.values()), h)
    for j, name in enumerate(person_cols):
        values[:, COUNTS.index(name)] = sums[:, j]
    cols: dict[str, np.ndarray] = {}
    n_w = len(inputs.wards)
    unlinked = np.zeros((n_w, len(COUNTS)))

    c = inputs.cases
    c_hh = np.where(c.person >= 0, hh[np.maximum(c.person, 0)], -1)
    known = known_source(inputs)
    found = c.attrs["found"]
    case_cols = {
        "community_cases_7d": community_case_mask(inputs, day, 7),
        "community_cases_14d": community_case_mask(inputs, day, 14),
        "community_cases_prev_7d": community_case_mask(inputs, day - 7, 7),
        "cases_7d": (c.day <= day) & (c.day > day - 7),
        "cases_14d": (c.day <= day) & (c.day > day - 14),
    }
    case_cols["f0_unknown_source_14d"] = case_cols["community_cases_14d"] & ~known
    case_cols["f0_known_source_14d"] = case_cols["community_cases_14d"] & known
    case_cols["lockdown_cases_14d"] = case_cols["cases_14d"] & (found == 2)
    ok_hh = c_hh >= 0
    ward_of_unlinked = np.where(c.person < 0, c.attrs["ward"], -1)
    ok_w = ~ok_hh & (ward_of_unlinked >= 0)
    for name, mask in case_cols.items():
        cols[name] = np.bincount(c_hh[ok_hh & mask], minlength=h)[:h].astype(np.float64)
        unlinked[:, COUNTS.index(name)] = np.bincount(ward_of_unlinked[ok_w & mask], minlength=n_w)[:n_w]

    k = inputs.contacts
    started = (k.day <= day) & (k.day > day - 14) & k.attrs["home"]
    k_hh = hh[k.person[started]]
    cols["f1_home_quarantine_14d"] = np.bincount(k_hh[k_hh >= 0], minlength=h)[:h].astype(np.float64)

    t = inputs.tests
    recent = (t.day <= day) & (t.day > day - 7)
    t_hh = hh[t.person[recent]]
    pos = t.attrs["positive"][recent]
    cols["tests_7d"] = np.bincount(t_hh[t_hh >= 0], minlength=h)[:h].astype(np.float64)
    cols["positive_7d"] = np.bincount(t_hh[(t_hh >= 0) & pos], minlength=h)[:h].astype(np.float64)

    for name, col in cols.items():
        values[:, COUNTS.index(name)] = col
    return HouseholdCounts(values, unlinked)


def unit_counts(units: UnitSet, counts: HouseholdCounts) -> pd.DataFrame:
    """Counts per unit (index: unit ids), households summed, unlinked cases added through wards."""
    summed = units.membership @ counts.values
    if units.ward_code is not None and counts.unlinked_by_ward.any():
        wc = units.ward_code
        ok = wc >= 0
        extra = np.zeros_like(summed)
        np.add.at(extra, wc[ok], counts.unlinked_by_ward[ok])
        summed = summed + extra
    ok = units.hh_code >= 0
    w = None if counts.weight is None else counts.weight[ok]
    households = np.bincount(units.hh_code[ok], weights=w, minlength=len(units))[: len(units)]
    return counts_frame(units, summed, households, counts.columns)


def counts_frame(
    units: UnitSet, summed: np.ndarray, households: np.ndarray, columns: tuple[str, ...] = COUNTS
) -> pd.DataFrame:
    frame = pd.DataFrame(summed, index=units.ids, columns=list(columns))
    frame["households"] = households
    return frame


def roll_up(child: pd.DataFrame, code: np.ndarray, parent: UnitSet) -> pd.DataFrame:
    """Counts of coarser units from those of the finer units they hold (`code`: parent of each child).

    Cells nest exactly (riskmap's H3 convention), and wards make up their district and the city, so one
    small product replaces another pass over millions of households.
    """
    cols = [*COUNTS, "households"]
    values = child[cols].to_numpy()
    ok = code >= 0
    agg = sp.csr_matrix(
        (np.ones(int(ok.sum())), (code[ok], np.flatnonzero(ok))), shape=(len(parent), len(child))
    )
    summed = agg @ values
    return counts_frame(parent, summed[:, :-1], summed[:, -1])


def _share(num: pd.Series, den: pd.Series) -> np.ndarray:
    d = den.to_numpy(dtype=float)
    n = num.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1), np.nan)


def rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Rates from counts; NaN where the denominator is zero (a rate is never invented)."""
    out: dict[str, np.ndarray] = {}
    pop = counts["population"]
    for w in ("7d", "14d"):
        out[f"community_cases_per_100k_{w}"] = _share(counts[f"community_cases_{w}"], pop) * 1e5
    out["community_cases_prev_per_100k_7d"] = _share(counts["community_cases_prev_7d"], pop) * 1e5
    out["adult_first_dose_coverage"] = _share(counts["adults_one_dose"], counts["adults"])
    out["elderly_full_dose_coverage"] = _share(counts["elderly_full_dose"], counts["elderly"])
    out["full_dose_coverage"] = _share(counts["full_dose"], pop)
    out["high_risk_full_dose_coverage"] = _share(counts["high_risk_full_dose"], counts["high_risk"])
    out["test_positivity_7d"] = _share(counts["positive_7d"], counts["tests_7d"])
    # one concatenation (not a column insert per rate); a rate already among the counts is replaced
    kept = counts.drop(columns=[c for c in out if c in counts.columns])
    return pd.concat([kept, pd.DataFrame(out, index=counts.index)], axis=1)


@dataclass(frozen=True)
class Smoothed:
    rate: np.ndarray  # smoothed rate (per unit of the input rates)
    prior: np.ndarray  # the prior mean (parent's rate) per unit
    weight: np.ndarray  # credibility of the unit's own rate (0 … 1)
    parent_mean: np.ndarray  # per parent code: prior mean m
    parent_var: np.ndarray  # per parent code: prior variance a


def smooth_with(
    events: np.ndarray, population: np.ndarray, parent: np.ndarray, smoothed: Smoothed
) -> np.ndarray:
    """Rates of some units smoothed with the priors of an earlier `empirical_bayes` (incremental updates)."""
    e = np.asarray(events, dtype=float)
    n = np.asarray(population, dtype=float)
    p = np.asarray(parent, dtype=np.int64)
    out = np.full(len(e), np.nan)
    k = len(smoothed.parent_mean)
    ok = (n > 0) & (p >= 0) & (p < k)
    m = smoothed.parent_mean[p[ok]]
    a = smoothed.parent_var[p[ok]]
    r = e[ok] / n[ok]
    denom = a + m / n[ok]
    w = np.where(denom > 0, a / np.where(denom > 0, denom, 1), 1.0)
    out[ok] = m + w * (r - m)
    solo = (n > 0) & ~ok
    out[solo] = e[solo] / n[solo]
    return out


def empirical_bayes(events: np.ndarray, population: np.ndarray, parent: np.ndarray) -> Smoothed:
    """Empirical-Bayes rates shrunk toward each unit's parent (Marshall 1991, method of moments).

    For the units of one parent: prior mean m = Σe / Σn, prior variance a = Σn(r − m)² / Σn − m / n̄
    (0 if negative), weight w = a / (a + m / n), smoothed rate m + w (r − m). With a single parent this is
    exactly what `esda.smoothing.Empirical_Bayes` returns. Units without population get NaN; units
    without a parent are their own prior (no smoothing).
    """
    e = np.asarray(events, dtype=float)
    n = np.asarray(population, dtype=float)
    p = np.asarray(parent, dtype=np.int64)
    out = np.full(len(e), np.nan)
    prior = np.full(len(e), np.nan)
    weight = np.full(len(e), np.nan)
    ok = (n > 0) & (p >= 0)
    m = a = np.zeros(0)
    if ok.any():
        pk = p[ok]
        k = int(pk.max()) + 1
        sum_e = np.bincount(pk, weights=e[ok], minlength=k)
        sum_n = np.bincount(pk, weights=n[ok], minlength=k)
        units = np.bincount(pk, minlength=k)
        m = np.where(sum_n > 0, sum_e / np.where(sum_n > 0, sum_n, 1), 0.0)
        r = e[ok] / n[ok]
        dev = np.bincount(pk, weights=n[ok] * (r - m[pk]) ** 2, minlength=k)
        s2 = np.where(sum_n > 0, dev / np.where(sum_n > 0, sum_n, 1), 0.0)
        nbar = np.where(units > 0, sum_n / np.maximum(units, 1), 1.0)
        a = np.maximum(s2 - m / nbar, 0.0)
        mm = m[pk]
        aa = a[pk]
        denom = aa + mm / n[ok]
        w = np.where(denom > 0, aa / np.where(denom > 0, denom, 1), 1.0)
        out[ok] = mm + w * (r - mm)
        prior[ok] = mm
        weight[ok] = w
    solo = (n > 0) & (p < 0)
    out[solo] = e[solo] / n[solo]
    prior[solo] = out[solo]
    weight[solo] = 1.0
    return Smoothed(out, prior, weight, m, a)
