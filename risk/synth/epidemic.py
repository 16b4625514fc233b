"""A day-by-day epidemic over the synthetic city: infections, tests, cases (F0), contacts (F1).

Transmission has three layers, each a Poisson process thinned by susceptibility and vaccine protection:

* **household**: every infectious member adds a daily hazard to the others (secondary attack ~25 %);
* **neighbour**: the infectious share of a person's H3 resolution-9 cell and its six neighbours (about
  0.1 km² each), which makes cases cluster in streets and neighbourhood groups;
* **community**: a ward-level force whose size is steered each day so that the city's new infections
  follow the shape of the real 2021 case curve (`realdata.case_curve`, shifted by the ~6 days from
  infection to report). When local spread alone would overshoot the curve it is damped instead (the
  distancing orders of the time).

Cases are found, as in 2021, by (a) people with symptoms getting tested, (b) the tests of quarantined close
contacts, (c) screening rounds (pooled RT-PCR or rapid antigen, one sample per household, weighted to
locked-down groups and groups with recent cases), with positive pools retested singly. Each case lists its
contacts (household, neighbours in the group, a few in the ward), who are quarantined (at home or in a
facility) and tested. A neighbourhood group with three cases in a week is locked down for 14 days; a case
is `found_in` quarantine, lockdown or the community accordingly (MoH 4800 counts only the last).

All per-person work is numpy over index arrays; only days are looped over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from geo.h3cells import cells as h3_cells
from risk.synth.population import City
from risk.synth.realdata import REGIONS, case_curve
from risk.synth.rng import poisson_pick, ranges, stream
from risk.synth.sites import SiteTable, station_of_person
from risk.synth.vaccination import Schedule, day

SOURCES = ("household", "neighbour", "community", "import")
HOUSEHOLD, NEIGHBOUR, COMMUNITY, IMPORT = range(4)
FOUND_IN = ("community", "quarantine", "lockdown")
ISOLATION = ("home", "facility", "hospital")
OUTCOMES = ("recovered", "died", "under_treatment")
TEST_TYPES = ("rt_pcr", "rapid_antigen")
RT_PCR, RAPID = range(2)
TEST_REASONS = ("symptoms", "contact", "screening", "pool_followup", "confirmation", "post_mortem")
QUARANTINE_WHERE = ("home", "facility")

ATTACK = 0.12  # share of people (weighted by region) infected over the period
REGION_FACTOR = {"old-city": 1.0, "binh-duong": 1.0, "ba-ria-vung-tau": 0.3}
BETA_HOUSEHOLD = 0.035
BETA_NEIGHBOUR = 0.25
REPORT_LAG_DAYS = 6
LOCKDOWN_CASES, LOCKDOWN_WINDOW, LOCKDOWN_DAYS = 3, 7, 14
# screening: share of persons sampled per day (one per household), and the rapid-antigen share, by period
SCREENING = (
    ("2021-01-01", 0.0010, 0.2),
    ("2021-07-09", 0.0025, 0.2),
    ("2021-08-15", 0.0025, 0.6),
    ("2021-08-23", 0.0070, 0.6),
    ("2021-09-16", 0.0025, 0.6),
    ("2021-10-01", 0.0010, 0.5),
)
SENSITIVITY = {RT_PCR: 0.95, RAPID: 0.75}
RAPID_FALSE_POSITIVE = 0.003
BACKGROUND_TESTS = 0.0003  # daily share of people tested for other illnesses


@dataclass
class Infections:
    person: np.ndarray
    infected_on: np.ndarray
    infectious_from: np.ndarray
    recovered_on: np.ndarray  # -1 for those who died
    died_on: np.ndarray  # -1 for survivors
    detected_on: np.ndarray  # -1 if never detected in the period
    source: np.ndarray


@dataclass
class Cases:
    person: np.ndarray
    report: np.ndarray
    found_in: np.ndarray
    isolation: np.ndarray
    outcome: np.ndarray


@dataclass
class Contacts:
    person: np.ndarray
    case: np.ndarray  # index into Cases
    exposure: np.ndarray
    quarantine_start: np.ndarray
    quarantine_where: np.ndarray


@dataclass
class Tests:
    person: np.ndarray
    date: np.ndarray
    test_type: np.ndarray
    pooled: np.ndarray
    result: np.ndarray  # bool: positive
    site: np.ndarray
    reason: np.ndarray


@dataclass
class Epidemic:
    infections: Infections
    cases: Cases
    contacts: Contacts
    tests: Tests
    target: np.ndarray  # the infections per day the curve asked for
    # per person: day infected (-1 never), recovered, died (-1)
    infected_on: np.ndarray = field(repr=False)
    recovered_on: np.ndarray = field(repr=False)
    died_on: np.ndarray = field(repr=False)


def _ring_pairs(cell_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cell index, neighbour index) pairs of every cell and its 6 neighbours present in the city."""
    import h3ronpy

    disks = pa.array(h3ronpy.grid_disk(cell_ids.astype(np.uint64), 1, flatten=False))
    offsets = disks.offsets.to_numpy()
    values = disks.values.to_numpy(zero_copy_only=False).astype(np.uint64)
    owner = np.repeat(np.arange(len(cell_ids)), np.diff(offsets))
    pos = np.searchsorted(cell_ids, values)
    pos = np.minimum(pos, len(cell_ids) - 1)
    ok = cell_ids[pos] == values
    return owner[ok], pos[ok]


def _ranges_of(sorted_keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    size = np.bincount(sorted_keys, minlength=n)
    return np.cumsum(size) - size, size


class _Queue:
    """Tests scheduled for later days: day → list of (person, type, reason) arrays."""

    def __init__(self) -> None:
        self.days: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    def add(self, when: np.ndarray, person: np.ndarray, test_type: np.ndarray, reason: int) -> None:
        if not len(person):
            return
        order = np.argsort(when, kind="stable")
        when, person, test_type = when[order], person[order], test_type[order]
        cuts = np.flatnonzero(np.diff(when)) + 1
        for w, p, t in zip(
            np.split(when, cuts), np.split(person, cuts), np.split(test_type, cuts), strict=True
        ):
            self.days.setdefault(int(w[0]), []).append((p, t, np.full(len(p), reason, dtype=np.int8)))

    def pop(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = self.days.pop(t, [])
        if not items:
            e = np.zeros(0, dtype=np.int64)
            return e, e.astype(np.int8), e.astype(np.int8)
        return (
            np.concatenate([i[0] for i in items]),
            np.concatenate([i[1] for i in items]).astype(np.int8),
            np.concatenate([i[2] for i in items]),
        )


def simulate(
    city: City,
    schedule: Schedule,
    sites: SiteTable,
    seed: int,
    start: dt.date,
    end: dt.date,
    on_day: Callable[[int, int], None] | None = None,
) -> Epidemic:
    rng = stream(seed, "epidemic")
    p = city.persons
    n = len(p)
    pts = city.points
    hh = p.household.astype(np.int64)
    hh_first = city.households.first
    hh_size = city.households.size.astype(np.int64)
    ward = pts.ward[hh].astype(np.int64)
    n_wards = len(city.geo.wards)
    group = pts.group[hh].astype(np.int64)
    n_groups = len(city.groups.ward)
    age = p.age.astype(np.int64)
    risk = (age >= 50) | p.comorbid
    region = city.person_region
    start_day, end_day = day(start.isoformat()), day(end.isoformat())
    n_days = end_day - start_day + 1

    # places: persons are contiguous by ward and by group (canonical order); cells need an index
    w_start, w_size = _ranges_of(ward, n_wards)
    g_start, g_size = _ranges_of(group, n_groups)
    hh_cells = h3_cells(pts.lat, pts.lon, 9)
    cell_ids, hh_cell = np.unique(hh_cells, return_inverse=True)
    cell = hh_cell[hh]
    n_cells = len(cell_ids)
    by_cell = np.argsort(cell, kind="stable")
    c_start, c_size = _ranges_of(cell, n_cells)
    ring_a, ring_b = _ring_pairs(cell_ids)
    ring_pop = np.bincount(ring_a, weights=c_size[ring_b].astype(np.float64), minlength=n_cells)

    region_factor = np.array([REGION_FACTOR[r] for r in REGIONS])[region]
    ward_factor = stream(seed, "epidemic", "wards").uniform(0.6, 1.4, n_wards)
    ward_factor *= np.array([REGION_FACTOR[r] for r in city.geo.wards["region"]])
    curve = case_curve(start, n_days, shift=REPORT_LAG_DAYS)
    target = curve * (ATTACK * float(region_factor.sum()) / curve.sum())

    # per-person state (absolute days; -1 = not yet)
    inf_day = np.full(n, -1, dtype=np.int32)
    inf_from = np.full(n, -1, dtype=np.int32)
    rec_day = np.full(n, -1, dtype=np.int32)
    died_day = np.full(n, -1, dtype=np.int32)
    detect_day = np.full(n, -1, dtype=np.int32)
    source = np.full(n, -1, dtype=np.int8)
    symptomatic = np.zeros(n, dtype=bool)
    isolated = np.full(n, -1, dtype=np.int8)  # isolation of detected cases
    q_start = np.full(n, -1, dtype=np.int32)
    q_end = np.full(n, -1, dtype=np.int32)
    q_where = np.full(n, -1, dtype=np.int8)
    lockdown_until = np.full(n_groups, -1, dtype=np.int32)
    recent_cases = np.zeros((LOCKDOWN_WINDOW, n_groups), dtype=np.int32)
    case_window = np.zeros((14, n_groups), dtype=np.int32)

    station = station_of_person(sites, ward, pts.old[hh])
    queue = _Queue()
    pending = np.zeros(0, dtype=np.int64)  # infected and not yet recovered
    out_cases: list[tuple] = []
    out_contacts: list[tuple] = []
    out_tests: list[tuple] = []
    n_cases = 0

    # Protection and effective susceptibility are kept up to date incrementally (no daily pass over
    # everybody): doses take effect 14 days after they are given, infections remove people.
    parts = []
    for when, level in ((schedule.first, 0.3), (schedule.full, 0.6), (schedule.boost, 0.75)):
        got = np.flatnonzero(when.astype(np.int64) + 14 <= end_day).astype(np.int32)
        parts.append((when[got].astype(np.int32) + 14, np.full(len(got), level, np.float32), got))
    eff_day = np.concatenate([x[0] for x in parts])
    eff_level = np.concatenate([x[1] for x in parts])
    eff_person = np.concatenate([x[2] for x in parts])
    del parts
    order = np.argsort(eff_day, kind="stable")
    eff_day, eff_level, eff_person = eff_day[order], eff_level[order], eff_person[order]
    del order
    prot = np.zeros(n, dtype=np.float32)
    upto = np.searchsorted(eff_day, start_day, side="right")
    np.maximum.at(prot, eff_person[:upto], eff_level[:upto])
    sus_eff = (1.0 - prot).astype(np.float64)
    sus_cell = np.bincount(cell, weights=sus_eff, minlength=n_cells)
    sus_ward = np.bincount(ward, weights=sus_eff, minlength=n_wards)

    def set_sus(who: np.ndarray, value: np.ndarray) -> None:
        delta = value - sus_eff[who]
        sus_cell[:] += np.bincount(cell[who], weights=delta, minlength=n_cells)
        sus_ward[:] += np.bincount(ward[who], weights=delta, minlength=n_wards)
        sus_eff[who] = value

    def infect(who: np.ndarray, src: np.ndarray, t: int, back: np.ndarray | None = None) -> None:
        nonlocal pending
        if not len(who):
            return
        set_sus(who, np.zeros(len(who)))
        when = t - (back if back is not None else 0)
        m = len(who)
        inf_day[who] = when
        latent = 2 + rng.poisson(1.5, m)
        inf_from[who] = when + latent
        duration = 6 + rng.poisson(3, m)
        pr = prot[who]
        a = age[who]
        p_sym = np.select([a < 18, a < 50, a < 65], [0.25, 0.5, 0.65], 0.75) * np.where(pr >= 0.3, 0.65, 1.0)
        symptomatic[who] = rng.random(m) < p_sym
        ifr = np.select(
            [a < 18, a < 40, a < 50, a < 60, a < 70, a < 80], [3e-5, 4e-4, 1.5e-3, 6e-3, 0.02, 0.05], 0.12
        )
        ifr = (
            ifr
            * np.where(p.comorbid[who], 2.0, 1.0)
            * np.select([pr >= 0.75, pr >= 0.6, pr >= 0.3], [0.1, 0.15, 0.5], 1.0)
        )
        ifr = ifr * np.where(when < day("2021-10-01"), 3.0, 1.5)  # hospitals were overwhelmed until October
        dies = rng.random(m) < ifr
        symptomatic[who[dies]] = True
        rec = inf_from[who] + duration
        death = inf_from[who] + rng.integers(6, 21, m)
        died_day[who] = np.where(dies, death, -1)
        rec_day[who] = np.where(dies, death, rec)
        source[who] = src
        pending = np.concatenate([pending, who])

    def record_tests(
        t: int, who: np.ndarray, ttype: np.ndarray, pooled: np.ndarray, result: np.ndarray, reason: np.ndarray
    ) -> None:
        if not len(who):
            return
        lab = sites.labs[ward[who], rng.integers(0, sites.labs.shape[1], len(who))]
        point = np.where(rng.random(len(who)) < 0.6, sites.test_points[ward[who]], station[who])
        site = np.where(ttype == RT_PCR, lab, point)
        out_tests.append(
            (who, np.full(len(who), t, np.int32), ttype.astype(np.int8), pooled, result, site, reason)
        )

    def positive(who: np.ndarray, ttype: np.ndarray, t: int) -> np.ndarray:
        """Test results from the true state (RT-PCR stays positive a few days after recovery)."""
        f = inf_from[who]
        pcr_window = (inf_day[who] >= 0) & (t >= f - 1) & (t < rec_day[who] + 3)
        rat_window = (inf_day[who] >= 0) & (t >= f) & (t < f + 7)
        window = np.where(ttype == RT_PCR, pcr_window, rat_window)
        sens = np.where(ttype == RT_PCR, SENSITIVITY[RT_PCR], SENSITIVITY[RAPID])
        u = rng.random(len(who))
        return (window & (u < sens)) | ((ttype == RAPID) & ~window & (u < RAPID_FALSE_POSITIVE))

    def detect(who: np.ndarray, t: int) -> None:
        """New cases: record them, lock down groups, trace and quarantine contacts."""
        nonlocal n_cases
        who = np.unique(who)
        who = who[(detect_day[who] < 0) & (inf_day[who] >= 0)]
        if not len(who):
            return
        m = len(who)
        detect_day[who] = t
        in_q = (q_start[who] >= 0) & (q_start[who] <= t) & (t <= q_end[who])
        locked = lockdown_until[group[who]] >= t
        found = np.where(in_q, 1, np.where(locked, 2, 0)).astype(np.int8)
        early = t < day("2021-08-15")
        hi_risk = risk[who] | (died_day[who] >= 0)
        u = rng.random(m)
        iso = np.where(
            hi_risk,
            np.where(u < 0.6, 2, 1),
            np.where(early, np.where(u < 0.85, 1, 2), np.where(u < 0.65, 0, np.where(u < 0.92, 1, 2))),
        ).astype(np.int8)
        isolated[who] = iso
        case_idx = np.arange(n_cases, n_cases + m)
        n_cases += m
        out_cases.append((who, np.full(m, t, np.int32), found, iso))
        g = group[who]
        np.add.at(recent_cases[t % LOCKDOWN_WINDOW], g, 1)
        np.add.at(case_window[t % 14], g, 1)
        hot = np.unique(g[recent_cases.sum(axis=0)[g] >= LOCKDOWN_CASES])
        lockdown_until[hot] = t + LOCKDOWN_DAYS

        # contacts: household members, neighbours in the group, a few in the ward
        h = hh[who]
        fam_case = np.repeat(case_idx, hh_size[h])
        fam = np.repeat(hh_first[h], hh_size[h]) + ranges(hh_size[h])
        kind_fam = np.zeros(len(fam), dtype=np.int8)
        gi, nb = poisson_pick(rng, g_start[g], g_size[g], np.full(m, 0.7))
        wi, cm = poisson_pick(rng, w_start[ward[who]], w_size[ward[who]], np.full(m, 0.3))
        c_person = np.concatenate([fam, nb, cm])
        c_case = np.concatenate([fam_case, case_idx[gi], case_idx[wi]])
        c_kind = np.concatenate([kind_fam, np.ones(len(nb), np.int8), np.full(len(cm), 2, np.int8)])
        case_person = np.concatenate([np.repeat(who, hh_size[h]), who[gi], who[wi]])
        keep = (
            (c_person != case_person)
            & ((died_day[c_person] < 0) | (died_day[c_person] > t))
            & (detect_day[c_person] < 0)
        )
        c_person, c_case, c_kind, case_person = c_person[keep], c_case[keep], c_kind[keep], case_person[keep]
        # one listing per (contact, case)
        key = c_person * (n_cases + 1) + c_case
        _, first_idx = np.unique(key, return_index=True)
        c_person, c_case, c_kind, case_person = (
            c_person[first_idx],
            c_case[first_idx],
            c_kind[first_idx],
            case_person[first_idx],
        )
        k = len(c_person)
        if not k:
            return
        exposure = np.maximum(inf_from[case_person], t - rng.integers(1, 3, k)).astype(np.int32)
        exposure = np.minimum(exposure, t)
        qs = (t + rng.integers(0, 2, k)).astype(np.int32)
        late = t >= day("2021-09-15")
        p_fac = np.where(late, 0.15, np.where(c_kind == 0, 0.6, 0.7))
        where = (rng.random(k) < p_fac).astype(np.int8)
        out_contacts.append((c_person, c_case, exposure, qs, where))
        # quarantine state (extend an ongoing one), and the contact's tests on days 1, 7 and 13
        ongoing = q_end[c_person] >= qs
        q_start[c_person] = np.where(ongoing, q_start[c_person], qs)
        q_end[c_person] = np.maximum(q_end[c_person], qs + 14)
        q_where[c_person] = where
        for offset, prob in ((1, 0.8), (7, 0.6), (13, 0.4)):
            sel = rng.random(k) < prob
            queue.add(
                (qs[sel] + offset).astype(np.int64), c_person[sel], np.zeros(int(sel.sum()), np.int8), 1
            )

    # seed: infections of the week before the start, spread over the city by the ward factors
    seed_n = round(float(target[:7].sum()))
    if seed_n > 0:
        wp = ward_factor[ward] / ward_factor[ward].sum()
        who = np.unique(rng.choice(n, size=seed_n, p=wp))
        infect(who, np.full(len(who), IMPORT, np.int8), start_day, back=rng.integers(0, 7, len(who)))

    period_starts = np.array([day(d) for d, _, _ in SCREENING])
    for ti in range(n_days):
        t = start_day + ti
        lo, upto = upto, np.searchsorted(eff_day, t, side="right")
        if upto > lo:
            newly = eff_person[lo:upto]
            np.maximum.at(prot, newly, eff_level[lo:upto])
            newly = np.unique(newly)
            set_sus(newly, np.where(inf_day[newly] < 0, 1.0 - prot[newly], 0.0))
        dying = pending[died_day[pending] == t]
        pending = pending[rec_day[pending] > t]
        active = pending[inf_from[pending] <= t]

        # infectiousness of each active person inside and outside the household
        det = (detect_day[active] >= 0) & (detect_day[active] <= t)
        in_q = (q_start[active] >= 0) & (q_start[active] <= t) & (t <= q_end[active])
        fac_q = in_q & (q_where[active] == 1)
        w_in = np.where(det, np.where(isolated[active] == 0, 0.3, 0.0), np.where(fac_q, 0.1, 1.0))
        w_out = np.where(det, 0.05, np.where(fac_q, 0.05, np.where(in_q, 0.2, 1.0)))
        w_out = w_out * np.where(lockdown_until[group[active]] >= t, 0.5, 1.0)

        # household: exact expected hazard on every co-member
        if len(active):
            hs, inv = np.unique(hh[active], return_inverse=True)
            wh = np.bincount(inv, weights=w_in, minlength=len(hs))
            mem = np.repeat(hh_first[hs], hh_size[hs]) + ranges(hh_size[hs])
            mem_haz = BETA_HOUSEHOLD * np.repeat(wh, hh_size[hs])
        else:
            mem = np.zeros(0, dtype=np.int64)
            mem_haz = np.zeros(0)
        e_house = float((1.0 - np.exp(-mem_haz)) @ sus_eff[mem]) if len(mem) else 0.0

        # neighbours: infectious share of the cell ring
        c_inf = np.bincount(cell[active], weights=w_out, minlength=n_cells)
        ring_inf = np.bincount(ring_a, weights=c_inf[ring_b], minlength=n_cells)
        rho = ring_inf / np.maximum(ring_pop, 1.0)
        e_neigh = float(BETA_NEIGHBOUR * rho @ sus_cell)

        # the controller: local spread damped if it overshoots, community fills the gap
        want = float(target[ti])
        local = e_house + e_neigh
        damp = min(1.0, want / local) if local > 0 else 1.0
        community = max(0.0, want - local * damp)
        w_inf = np.bincount(ward[active], weights=w_out, minlength=n_wards)
        prevalence = w_inf / np.maximum(w_size, 1)
        city_prev = max(float(w_inf.sum()) / n, 1e-9)
        w_weight = ward_factor * (0.5 + np.minimum(prevalence / city_prev, 3.0))
        denom = float(w_weight @ sus_ward)
        c_rate = community / denom if denom > 0 else 0.0

        new_h = mem[rng.random(len(mem)) < (1.0 - np.exp(-mem_haz * damp)) * sus_eff[mem]]
        _, cand = poisson_pick(rng, c_start, c_size, BETA_NEIGHBOUR * rho * damp * c_size)
        cand = by_cell[cand]
        new_n = cand[rng.random(len(cand)) < sus_eff[cand]]
        _, cand = poisson_pick(rng, w_start, w_size, c_rate * w_weight * w_size)
        new_c = cand[rng.random(len(cand)) < sus_eff[cand]]
        who = np.concatenate([new_h, new_n, new_c])
        src = np.concatenate(
            [np.full(len(new_h), HOUSEHOLD), np.full(len(new_n), NEIGHBOUR), np.full(len(new_c), COMMUNITY)]
        ).astype(np.int8)
        who, first_idx = np.unique(who, return_index=True)
        infect(who, src[first_idx], t)

        # testing and detection
        detected_today: list[np.ndarray] = []
        # (a) people with symptoms
        sym = active[symptomatic[active] & (detect_day[active] < 0) & (t >= inf_from[active] + 1)]
        seek = sym[rng.random(len(sym)) < np.where(died_day[sym] >= 0, 0.5, 0.3)]
        s_type = (rng.random(len(seek)) < 0.5).astype(np.int8)
        s_res = positive(seek, s_type, t)
        record_tests(t, seek, s_type, np.zeros(len(seek), bool), s_res, np.zeros(len(seek), np.int8))
        detected_today.append(seek[s_res])
        # … and people with other illnesses who get tested too
        bg = np.unique(rng.integers(0, n, rng.poisson(BACKGROUND_TESTS * n)))
        bg = bg[((died_day[bg] < 0) | (died_day[bg] > t)) & (detect_day[bg] < 0)]
        b_type = (rng.random(len(bg)) < 0.5).astype(np.int8)
        b_res = positive(bg, b_type, t)
        record_tests(t, bg, b_type, np.zeros(len(bg), bool), b_res, np.zeros(len(bg), np.int8))
        detected_today.append(bg[b_res & (inf_day[bg] >= 0)])
        seek = np.concatenate([seek, bg])
        s_res = np.concatenate([s_res, b_res])
        s_type = np.concatenate([s_type, b_type])
        rat_conf = seek[s_res & (s_type == RAPID)]
        queue.add(np.full(len(rat_conf), t + 1), rat_conf, np.zeros(len(rat_conf), np.int8), 4)
        # (b) scheduled: contacts' tests, pool follow-ups, confirmations
        q_who, q_type, q_reason = queue.pop(t)
        ok = (detect_day[q_who] < 0) | (q_reason == 4)
        ok &= (died_day[q_who] < 0) | (died_day[q_who] > t)
        q_who, q_type, q_reason = q_who[ok], q_type[ok], q_reason[ok]
        q_res = positive(q_who, q_type, t)
        q_res = np.where(q_reason == 4, q_res & (inf_day[q_who] >= 0), q_res)
        record_tests(t, q_who, q_type, np.zeros(len(q_who), bool), q_res, q_reason)
        detected_today.append(q_who[q_res & (q_reason != 4)])
        # (c) screening: one sample per chosen household
        k_period = np.searchsorted(period_starts, t, side="right") - 1
        _, rate, rat_share = SCREENING[max(k_period, 0)]
        budget = rng.poisson(rate * n)
        if budget:
            recent = case_window.sum(axis=0)
            gw = np.where(lockdown_until >= t, 6.0, np.where(recent > 0, 3.0, 1.0)) * g_size
            gsel = np.sort(rng.choice(n_groups, size=budget, p=gw / gw.sum()))
            sample = g_start[gsel] + (rng.random(budget) * g_size[gsel]).astype(np.int64)
            sample = np.unique(sample)
            ok = ((died_day[sample] < 0) | (died_day[sample] > t)) & ~(
                (detect_day[sample] >= 0) & (t - detect_day[sample] < 30)
            )
            sample = sample[ok]
            rapid = rng.random(len(sample)) < rat_share
            r_who = sample[rapid]
            r_res = positive(r_who, np.ones(len(r_who), np.int8), t)
            record_tests(
                t,
                r_who,
                np.ones(len(r_who), np.int8),
                np.zeros(len(r_who), bool),
                r_res,
                np.full(len(r_who), 2, np.int8),
            )
            true_pos = r_res & (inf_day[r_who] >= 0)
            detected_today.append(r_who[true_pos])
            conf = r_who[r_res]
            queue.add(np.full(len(conf), t + 1), conf, np.zeros(len(conf), np.int8), 4)
            p_who = sample[~rapid]
            if len(p_who):
                sizes = rng.integers(5, 11, len(p_who) // 5 + 2)
                pool = np.searchsorted(np.cumsum(sizes), np.arange(len(p_who)), side="right")
                member = positive(p_who, np.zeros(len(p_who), np.int8), t)
                pool_pos = np.bincount(pool, weights=member, minlength=pool.max() + 1) > 0
                res = pool_pos[pool]
                record_tests(
                    t,
                    p_who,
                    np.zeros(len(p_who), np.int8),
                    np.ones(len(p_who), bool),
                    res,
                    np.full(len(p_who), 2, np.int8),
                )
                follow = p_who[res]
                queue.add(np.full(len(follow), t + 1), follow, np.zeros(len(follow), np.int8), 3)
        # (d) deaths not yet found: tested after death
        dead = dying[detect_day[dying] < 0]
        dead = dead[rng.random(len(dead)) < 0.8]
        record_tests(
            t,
            dead,
            np.zeros(len(dead), np.int8),
            np.zeros(len(dead), bool),
            np.ones(len(dead), bool),
            np.full(len(dead), 5, np.int8),
        )
        detected_today.append(dead)
        recent_cases[(t + 1) % LOCKDOWN_WINDOW] = 0
        case_window[(t + 1) % 14] = 0
        detect(np.concatenate(detected_today), t)
        if on_day:
            on_day(ti + 1, n_days)

    return _collect(
        out_cases,
        out_contacts,
        out_tests,
        inf_day,
        inf_from,
        rec_day,
        died_day,
        detect_day,
        source,
        end_day,
        target,
    )


def _collect(
    out_cases,
    out_contacts,
    out_tests,
    inf_day,
    inf_from,
    rec_day,
    died_day,
    detect_day,
    source,
    end_day,
    target,
) -> Epidemic:
    def cat(items, k, dtype):
        return np.concatenate([i[k] for i in items]).astype(dtype) if items else np.zeros(0, dtype)

    c_person = cat(out_cases, 0, np.int64)
    c_report = cat(out_cases, 1, np.int32)
    died_c = died_day[c_person]
    outcome = np.where((died_c >= 0) & (died_c <= end_day), 1, np.where(rec_day[c_person] <= end_day, 0, 2))
    cases = Cases(
        c_person, c_report, cat(out_cases, 2, np.int8), cat(out_cases, 3, np.int8), outcome.astype(np.int8)
    )
    contacts = Contacts(
        cat(out_contacts, 0, np.int64),
        cat(out_contacts, 1, np.int64),
        cat(out_contacts, 2, np.int32),
        cat(out_contacts, 3, np.int32),
        cat(out_contacts, 4, np.int8),
    )
    tests = Tests(
        cat(out_tests, 0, np.int64),
        cat(out_tests, 1, np.int32),
        cat(out_tests, 2, np.int8),
        cat(out_tests, 3, bool),
        cat(out_tests, 4, bool),
        cat(out_tests, 5, np.int32),
        cat(out_tests, 6, np.int8),
    )
    who = np.flatnonzero((inf_day >= 0) & (inf_day <= end_day))
    died = (died_day[who] >= 0) & (died_day[who] <= end_day)
    infections = Infections(
        person=who,
        infected_on=inf_day[who],
        infectious_from=inf_from[who],
        recovered_on=np.where(died_day[who] >= 0, -1, rec_day[who]).astype(np.int32),
        died_on=np.where(died, died_day[who], -1).astype(np.int32),
        detected_on=detect_day[who],
        source=source[who],
    )
    recovered = np.where(died_day >= 0, died_day, rec_day)
    died_all = np.where((died_day >= 0) & (died_day <= end_day), died_day, -1)
    return Epidemic(infections, cases, contacts, tests, target, inf_day, recovered, died_all)
