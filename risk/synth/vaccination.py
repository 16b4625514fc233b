"""Vaccination doses with the coverage, timing and vaccines of HCMC's 2021–2022 campaign.

First doses follow a cumulative curve per region and age band (adults of the former HCMC: a few per cent
by mid-June 2021, half by ~10 August, > 95 % by late September, ~99 % eventually; Bình Dương about a
week later, Bà Rịa–Vũng Tàu about three weeks later; 12–17-year-olds from 27 Oct 2021; 5–11 from April
2022), with people ≥ 65 or with comorbidities earlier in the queue. The vaccine depends on the date (the
AstraZeneca-heavy start, the Sinopharm Vero Cell wave of August, Pfizer from September, Moderna
throughout; Pfizer for children). Second doses follow after the vaccine's interval (AstraZeneca 8–12
weeks, shortened to 4–8 from mid-September; Pfizer and Vero Cell 3–5; Moderna 4–6); Janssen is complete
after one. From late November 2021 people ≥ 50 or comorbid get a third dose (`bo_sung` after Vero Cell,
`nhac_lai_1` otherwise), other adults a booster from January 2022, and a second booster from May 2022.
Each dose is given at a site: a mass vaccination point, the ward health station or a hospital.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from risk.synth.population import EPOCH, City
from risk.synth.realdata import REGIONS
from risk.synth.rng import stream
from risk.synth.sites import SiteTable, station_of_person

VACCINES = ("astrazeneca", "pfizer", "moderna", "vero_cell", "janssen")
AZ, PFIZER, MODERNA, VERO, JANSSEN = range(5)
DOSE_KINDS = ("mui_1", "mui_2", "bo_sung", "nhac_lai_1", "nhac_lai_2")
MUI_1, MUI_2, BO_SUNG, NHAC_LAI_1, NHAC_LAI_2 = range(5)
SITE_KINDS = ("mass", "station", "hospital")  # reported by tiem-chung-hcdc, tiem-chung-tyt, tiem-chung-bv
NEVER = np.iinfo(np.int32).max


def day(s: str) -> int:
    return int((np.datetime64(s, "D") - EPOCH).astype(np.int64))


# cumulative share of eventual first-dose takers by date (adults of the former HCMC)
ADULT_CURVE = (
    ("2021-03-08", 0.0),
    ("2021-06-01", 0.03),
    ("2021-06-20", 0.06),
    ("2021-07-10", 0.14),
    ("2021-07-25", 0.27),
    ("2021-08-10", 0.50),
    ("2021-08-25", 0.76),
    ("2021-09-10", 0.94),
    ("2021-09-25", 0.985),
    ("2021-10-25", 0.997),
    ("2021-12-31", 1.0),
)
TEEN_CURVE = (("2021-10-27", 0.0), ("2021-11-05", 0.55), ("2021-11-20", 0.92), ("2021-12-20", 1.0))
CHILD_CURVE = (("2022-04-14", 0.0), ("2022-05-15", 0.5), ("2022-07-01", 0.8), ("2022-12-31", 1.0))
REGION_DELAY_DAYS = {"old-city": 0, "binh-duong": 7, "ba-ria-vung-tau": 21}
TAKERS = {"adult": 0.99, "elderly": 0.955, "teen": 0.95, "child": 0.75}
SECOND_DOSE = 0.97

# first-dose vaccine shares by period: (from date, {vaccine: share})
VACCINE_PERIODS = (
    ("2021-01-01", {AZ: 0.85, MODERNA: 0.10, PFIZER: 0.05}),
    ("2021-07-15", {AZ: 0.45, VERO: 0.40, MODERNA: 0.10, PFIZER: 0.05}),
    ("2021-08-15", {VERO: 0.50, AZ: 0.35, PFIZER: 0.10, MODERNA: 0.04, JANSSEN: 0.01}),
    ("2021-09-15", {AZ: 0.45, PFIZER: 0.36, MODERNA: 0.10, VERO: 0.07, JANSSEN: 0.02}),
    ("2021-11-01", {PFIZER: 0.60, AZ: 0.30, MODERNA: 0.10}),
)
# site kind shares by period (mass point, health station, hospital)
SITE_PERIODS = (
    ("2021-01-01", (0.60, 0.15, 0.25)),
    ("2021-07-15", (0.60, 0.28, 0.12)),
    ("2021-10-01", (0.35, 0.45, 0.20)),
)


@dataclass
class Doses:
    person: np.ndarray
    date: np.ndarray  # days since 1970-01-01
    vaccine: np.ndarray
    kind: np.ndarray
    site: np.ndarray  # index into the site vocabulary
    site_kind: np.ndarray

    def __len__(self) -> int:
        return len(self.person)

    def take(self, idx: np.ndarray) -> Doses:
        return Doses(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


@dataclass
class Schedule:
    """Per person: days of the first dose, of full primary vaccination, and of the first booster."""

    first: np.ndarray
    full: np.ndarray
    boost: np.ndarray


def _curve_draw(u: np.ndarray, curve: tuple, delay: np.ndarray) -> np.ndarray:
    days = np.array([day(d) for d, _ in curve], dtype=np.float64)
    cum = np.array([c for _, c in curve])
    return np.floor(np.interp(u, cum, days) + delay).astype(np.int64)


def _by_period(rng: np.random.Generator, when: np.ndarray, periods: tuple, k: int) -> np.ndarray:
    starts = np.array([day(d) for d, _ in periods])
    which = np.searchsorted(starts, when, side="right") - 1
    out = np.zeros(len(when), dtype=np.int64)
    for i, (_, shares) in enumerate(periods):
        m = which == i
        if isinstance(shares, dict):
            keys = np.array(list(shares))
            p = np.array(list(shares.values()))
        else:
            keys = np.arange(k)
            p = np.array(shares)
        out[m] = keys[rng.choice(len(keys), int(m.sum()), p=p / p.sum())]
    return out


def vaccinate(city: City, sites: SiteTable, seed: int, end: dt.date) -> tuple[Doses, Schedule]:
    """Every dose up to `end` (including those before the period, which set protection)."""
    rng = stream(seed, "vaccination")
    p = city.persons
    n = len(p)
    age = p.age.astype(np.int64)
    risk = (age >= 50) | p.comorbid
    region = city.person_region
    delay = np.array([REGION_DELAY_DAYS[r] for r in REGIONS], dtype=np.float64)[region]
    end_day = day(end.isoformat())

    band = np.select([age >= 18, age >= 12, age >= 5], [0, 1, 2], 3)
    takers = np.select(
        [age >= 65, band == 0, band == 1, band == 2],
        [TAKERS["elderly"], TAKERS["adult"], TAKERS["teen"], TAKERS["child"]],
        0.0,
    )
    takes = rng.random(n) < takers
    u = rng.random(n)
    u = np.where((age >= 65) | p.comorbid, u**1.5, u)  # priority groups earlier
    first = np.full(n, NEVER, dtype=np.int64)
    for b, curve in ((0, ADULT_CURVE), (1, TEEN_CURVE), (2, CHILD_CURVE)):
        m = takes & (band == b)
        first[m] = _curve_draw(u[m], curve, delay[m])

    has1 = first <= end_day
    vac1 = np.full(n, -1, dtype=np.int64)
    vac1[has1] = _by_period(rng, first[has1], VACCINE_PERIODS, len(VACCINES))
    young = has1 & (band >= 1)
    vac1[young] = np.where(rng.random(int(young.sum())) < 0.9, PFIZER, MODERNA)

    # second doses
    gap = np.select(
        [vac1 == AZ, vac1 == PFIZER, vac1 == MODERNA, vac1 == VERO],
        [
            np.where(first < day("2021-09-15"), rng.integers(56, 85, n), rng.integers(28, 57, n)),
            np.where(band >= 1, 21, rng.integers(21, 36, n)),
            rng.integers(28, 43, n),
            rng.integers(21, 36, n),
        ],
        NEVER // 2,
    )
    second = np.where(has1 & (vac1 != JANSSEN) & (rng.random(n) < SECOND_DOSE), first + gap, NEVER)
    vac2 = np.where((vac1 == AZ) & (second >= day("2021-10-01")) & (rng.random(n) < 0.15), PFIZER, vac1)
    full = np.where(vac1 == JANSSEN, first, second)

    # third doses and boosters
    done = full < NEVER
    vero_risk = done & risk & (vac1 == VERO)
    third_kind = np.where(vero_risk, BO_SUNG, NHAC_LAI_1)
    opens = np.where(risk, np.where(vero_risk, day("2021-11-22"), day("2021-12-01")), day("2022-01-03"))
    uptake = np.where(risk, 0.85, 0.7)
    third = np.where(
        done & (band == 0) & (rng.random(n) < uptake),
        np.maximum(full + 90, opens) + rng.exponential(20.0, n).astype(np.int64),
        NEVER,
    )
    vac3 = np.where(rng.random(n) < 0.6, PFIZER, np.where(rng.random(n) < 0.5, AZ, MODERNA))
    fourth = np.where(
        (third < NEVER) & risk & (rng.random(n) < 0.6),
        np.maximum(third + 120, day("2022-05-16")) + rng.exponential(25.0, n).astype(np.int64),
        NEVER,
    )
    vac4 = np.where(rng.random(n) < 0.7, PFIZER, MODERNA)

    # one row per dose given by the end of the period (int32/int8 columns: the full city has ~25 M doses)
    parts = []
    for when, vac, kind in (
        (first, vac1, MUI_1),
        (second, vac2, MUI_2),
        (third, vac3, third_kind),
        (fourth, vac4, NHAC_LAI_2),
    ):
        got = np.flatnonzero(when <= end_day)
        kinds = kind[got] if isinstance(kind, np.ndarray) else np.full(len(got), kind)
        parts.append(
            (
                got.astype(np.int32),
                when[got].astype(np.int32),
                vac[got].astype(np.int8),
                kinds.astype(np.int8),
            )
        )
    person = np.concatenate([x[0] for x in parts])
    date = np.concatenate([x[1] for x in parts])
    vaccine = np.concatenate([x[2] for x in parts])
    kind = np.concatenate([x[3] for x in parts])
    del parts
    order = np.lexsort((person, date))
    person, date, vaccine, kind = person[order], date[order], vaccine[order], kind[order]
    del order

    # where: school vaccination for children, otherwise by period
    site_kind = _by_period(rng, date, SITE_PERIODS, 3)
    child = age[person] < 18
    site_kind[child] = np.where(rng.random(int(child.sum())) < 0.9, 0, 1)
    hh = p.household[person]
    ward = city.points.ward[hh]
    station = station_of_person(sites, ward, city.points.old[hh])
    del hh
    site = np.where(
        site_kind == 0,
        sites.mass_points[ward, rng.integers(0, sites.mass_points.shape[1], len(person))],
        np.where(
            site_kind == 1,
            station,
            sites.hospitals[ward, rng.integers(0, sites.hospitals.shape[1], len(person))],
        ),
    )
    del station, ward
    doses = Doses(
        person.astype(np.int32),
        date.astype(np.int32),
        vaccine.astype(np.int8),
        kind.astype(np.int8),
        site.astype(np.int32),
        site_kind.astype(np.int8),
    )
    return doses, Schedule(
        first=first.astype(np.int32), full=full.astype(np.int32), boost=third.astype(np.int32)
    )


def adjust_for_infections(
    doses: Doses,
    infected_on: np.ndarray,
    recovered_on: np.ndarray,
    died_on: np.ndarray,
    end_day: int,
    seed: int,
) -> Doses:
    """A dose due while ill (infection to 14 days after recovery) is postponed to 30–60 days after
    recovery, and the person's later doses move with it; no dose after death or after the period."""
    rng = stream(seed, "vaccination", "adjust")
    n = len(infected_on)
    inf = infected_on[doses.person].astype(np.int64)
    rec = recovered_on[doses.person].astype(np.int64)
    date = doses.date.astype(np.int64)
    ill = (inf >= 0) & (date >= inf) & (date <= rec + 14)
    earliest = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(earliest, doses.person[ill], date[ill])
    target = recovered_on.astype(np.int64) + rng.integers(30, 61, n)
    shift = np.where(earliest < np.iinfo(np.int64).max, target - earliest, 0)
    moved = date >= earliest[doses.person]
    date = np.where(moved, date + shift[doses.person], date)
    died = died_on[doses.person]
    keep = ((died < 0) | (date < died)) & (date <= end_day)
    out = Doses(doses.person, date.astype(np.int32), doses.vaccine, doses.kind, doses.site, doses.site_kind)
    out = out.take(np.flatnonzero(keep))
    return out.take(np.lexsort((out.kind, out.person, out.date)))
