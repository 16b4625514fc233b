"""The synthetic city's people: address points, neighbourhood groups, households and persons.

Ward by ward, households are placed on address points (`addresses`), grouped into tổ and khu phố
(`groups`); then, for the whole city at once, household sizes are drawn from the 2019 census distribution
of the old ward each point lies in (citywide urban/rural ones outside the former HCMC), and members are
composed the way Vietnamese households are: an adult head, usually a spouse, children whose ages follow
their mother's, sometimes a grandparent, grandchild, sibling or lodger. Ages come from the census age
table of the point's old ward (its 2019 districts). Everything is an index or a number here; strings are
made only when files are written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from risk.synth import names as nm
from risk.synth.addresses import layout_ward
from risk.synth.groups import assign_groups, group_polygons
from risk.synth.identity import cccd_numbers, cmnd_numbers, passport_numbers, phone_numbers
from risk.synth.realdata import REGIONS, Geography, generic_streets
from risk.synth.rng import by_key, ranges, stream

EPOCH = np.datetime64("1970-01-01", "D")

# relation to the household head (index = code) and how the registry writes it
RELATIONS = ("head", "spouse", "child", "parent", "grandchild", "sibling", "relative", "lodger")
HEAD, SPOUSE, CHILD, PARENT, GRANDCHILD, SIBLING, RELATIVE, LODGER = range(8)
FOREIGN_HOUSEHOLD_SHARE = 0.002
UNREGISTERED_SHARE = 0.04  # households with only temporary residence: absent from the registry feed
NO_ID_SHARE = 0.03
CMND_SHARE_OF_ADULTS = 0.40
NO_PHONE_SHARE_OF_ADULTS = 0.10
PHONE_FROM_AGE = 15


@dataclass
class Points:
    """Address points, one household each, in canonical order (ward, group, Hilbert order)."""

    lon: np.ndarray
    lat: np.ndarray
    ward: np.ndarray  # index into Geography.wards
    street: np.ndarray  # index into City.streets
    a1: np.ndarray
    a2: np.ndarray
    number: np.ndarray
    suffix: np.ndarray
    old: np.ndarray  # index into OldWards, -1 outside the former HCMC
    group: np.ndarray  # index into Groups


@dataclass
class Groups:
    ward: np.ndarray
    to: np.ndarray  # tổ number within the ward (1-based)
    kp: np.ndarray  # khu phố / ấp number within the ward (1-based)
    households: np.ndarray
    geometry: np.ndarray  # shapely MultiPolygons


@dataclass
class Households:
    size: np.ndarray
    first: np.ndarray  # index of the first member (members are contiguous, head first)
    ref: np.ndarray  # the registry's own number within the ward (shuffled)
    foreign: np.ndarray  # bool: a household of foreign residents
    registered: np.ndarray  # bool: in the household registry (ho-khau) feed


@dataclass
class Persons:
    household: np.ndarray
    relation: np.ndarray
    female: np.ndarray
    birth: np.ndarray  # days since 1970-01-01 (int32)
    age: np.ndarray  # whole years at the start of the period
    family: np.ndarray
    middle1: np.ndarray
    middle2: np.ndarray
    given: np.ndarray
    nationality: np.ndarray  # -1 Vietnamese, else index into names.FOREIGN
    cccd: np.ndarray  # 0 = none
    cmnd: np.ndarray  # 0 = none
    passport: np.ndarray  # 0 = none
    phone: np.ndarray  # 0 = none (9 digits after the leading 0)
    comorbid: np.ndarray

    def __len__(self) -> int:
        return len(self.household)


@dataclass
class City:
    geo: Geography
    start: dt.date
    streets: list[str]
    points: Points
    groups: Groups
    households: Households
    persons: Persons

    @property
    def person_ward(self) -> np.ndarray:
        return self.points.ward[self.persons.household]

    @property
    def person_region(self) -> np.ndarray:
        region = np.array([REGIONS.index(r) for r in self.geo.wards["region"]])
        return region[self.person_ward]


def _concat(cls, parts: list) -> object:
    return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


# ---------------------------------------------------------------------------------------------------
# places


def _street_pool(geo: Geography, ward_code: str, region: str) -> tuple[list[str], np.ndarray]:
    """Street names of the 2019 districts overlapping the ward (weighted by area share), or generic ones."""
    regs = geo.regions[geo.regions["ward_code"] == ward_code]
    if not len(regs):
        names = generic_streets(region)
        w = np.array([2.0 if n.startswith(("Quốc lộ", "Đại lộ", "Đường ĐT")) else 1.0 for n in names])
        return names, w
    weight: dict[str, float] = {}
    for old_idx, share in zip(regs["old_index"], regs["share"], strict=True):
        for d in geo.old.old_districts[int(old_idx)]:
            for s in geo.old.district_streets.get(d, []):
                weight[s] = weight.get(s, 0.0) + float(share)
    names = sorted(weight)
    return names, np.array([weight[n] for n in names])


def mean_size(probs: np.ndarray) -> np.ndarray:
    """Mean household size of size distributions (7+ counts as 8.2, the census-era average)."""
    return probs @ np.array([1, 2, 3, 4, 5, 6, 8.2])


def _ward_task(args: tuple) -> tuple:
    """Points and groups of one ward (runs in a worker process when workers > 1)."""
    seed, code, _region, geom, n_hh, real_hh, pool, weights, old_regions = args
    wp = layout_ward(geom, n_hh, real_hh, pool, weights, old_regions, stream(seed, "addresses", code))
    order, group, kp_of_group = assign_groups(wp.lon, wp.lat, stream(seed, "groups", code))
    lon, lat = wp.lon[order], wp.lat[order]
    polys = group_polygons(lon, lat, group, len(kp_of_group), geom)
    return (wp, order, group, kp_of_group, polys)


def build_places(
    geo: Geography,
    seed: int,
    scale: float,
    workers: int = 1,
    on_ward: Callable[[int, int], None] | None = None,
):
    """Address points and groups of every selected ward; returns (Points, Groups, streets, households)."""
    wards = geo.wards
    old = geo.old
    tasks = []
    for wi, row in wards.iterrows():
        regs = geo.regions[geo.regions["ward_code"] == row["code"]]
        if len(regs):
            profile_mix = (
                regs["share"].to_numpy()[:, None] * old.size_probs[regs["old_index"].to_numpy()]
            ).sum(0)
            old_regions = (regs["old_index"].to_numpy(), regs["share"].to_numpy())
        else:
            profile = old.rural_profile if row["unit_type"] == "xã" else old.urban_profile
            profile_mix = old.size_probs[profile]
            old_regions = None
        m = float(mean_size(profile_mix[None, :])[0])
        real_hh = float(row["population"]) / m
        n_hh = max(3, round(float(row["population"]) * scale / m))
        pool, weights = _street_pool(geo, row["code"], row["region"])
        tasks.append(
            (seed, row["code"], row["region"], row.geometry, n_hh, real_hh, pool, weights, old_regions)
        )
        del wi

    results = []
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool_exec:
            for i, res in enumerate(pool_exec.map(_ward_task, tasks, chunksize=1)):
                results.append(res)
                if on_ward:
                    on_ward(i + 1, len(tasks))
    else:
        for i, t in enumerate(tasks):
            results.append(_ward_task(t))
            if on_ward:
                on_ward(i + 1, len(tasks))

    street_index: dict[str, int] = {}
    pts, grps = [], []
    n_groups = 0
    for wi, (wp, order, group, kp_of_group, polys) in enumerate(results):
        names = [street_index.setdefault(s, len(street_index)) for s in wp.street_names]
        ids = np.asarray(names, dtype=np.int32)
        g = len(kp_of_group)
        pts.append(
            Points(
                lon=wp.lon[order],
                lat=wp.lat[order],
                ward=np.full(len(order), wi, dtype=np.int16),
                street=ids[wp.street[order]],
                a1=wp.a1[order],
                a2=wp.a2[order],
                number=wp.number[order],
                suffix=wp.suffix[order],
                old=wp.old_index[order],
                group=(group + n_groups).astype(np.int32),
            )
        )
        grps.append(
            Groups(
                ward=np.full(g, wi, dtype=np.int16),
                to=np.arange(1, g + 1, dtype=np.int32),
                kp=(kp_of_group + 1).astype(np.int32),
                households=np.bincount(group, minlength=g).astype(np.int32),
                geometry=polys,
            )
        )
        n_groups += g
    points = _concat(Points, pts)
    groups = _concat(Groups, grps)
    streets = sorted(street_index, key=street_index.__getitem__)
    return points, groups, streets


# ---------------------------------------------------------------------------------------------------
# people

# Relative weight of each 5-year age group for household heads (18+ only), and for people living alone.
_HEAD_W = np.array([0, 0, 0, 0.15, 0.5, 0.8, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.8, 0.7, 0.6])
_SINGLE_W = np.array([0, 0, 0, 0.3, 1.4, 1.4, 1.1, 0.9, 0.8, 0.8, 0.9, 1, 1.1, 1.3, 1.4, 1.4, 1.3, 1.2])
_LODGER_W = np.array([0, 0, 0, 0.5, 1.5, 1.5, 1.0, 0.6, 0.4, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0])


def _ages_from(
    rng: np.random.Generator,
    profile: np.ndarray,
    probs: np.ndarray,
    weight: np.ndarray | None,
    min_age: int = 0,
) -> np.ndarray:
    """Whole-year ages drawn per profile from 5-year groups (85+ tails off), optionally reweighted."""
    out = np.zeros(len(profile), dtype=np.int64)
    for p, m in by_key(profile):
        w = probs[p] * (weight if weight is not None else 1.0)
        grp = rng.choice(len(w), len(m), p=w / w.sum())
        age = grp * 5 + rng.integers(0, 5, len(grp))
        age = np.where(grp == 17, 85 + np.minimum(rng.exponential(4.0, len(grp)).astype(np.int64), 20), age)
        out[m] = age
    return np.maximum(out, min_age)


def _truncated_ages(
    rng: np.random.Generator,
    profile: np.ndarray,
    probs: np.ndarray,
    weight: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """Ages drawn from a profile's (reweighted) single-year distribution, restricted to [lo, hi]."""
    out = np.zeros(len(profile), dtype=np.int64)
    years = np.arange(101)
    grp = np.minimum(years // 5, 17)
    for p, m in by_key(profile):
        per_year = (probs[p] * weight)[grp] / np.where(grp == 17, 16.0, 5.0)
        cdf = np.concatenate([[0.0], np.cumsum(per_year)])
        a = cdf[np.clip(lo[m], 0, 100)]
        b = cdf[np.clip(hi[m], 0, 100) + 1]
        u = a + rng.random(len(m)) * (b - a)
        out[m] = np.clip(np.searchsorted(cdf, u, side="right") - 1, lo[m], hi[m])
    return out


def _compose(
    seed: int,
    size: np.ndarray,
    profile: np.ndarray,
    probs: np.ndarray,
    head_w: np.ndarray,
    child_w: np.ndarray,
):
    """Roles, ages and sexes of all members (vectorised over the city). The same seed gives the same
    draws whatever the weights, so calibration iterations move smoothly."""
    rng = stream(seed, "people", "compose")
    n_h = len(size)
    n_p = int(size.sum())
    first = np.cumsum(size) - size
    hh = np.repeat(np.arange(n_h), size)
    k = ranges(size)
    prof_p = profile[hh]

    head_age = np.where(
        size == 1,
        _ages_from(rng, profile, probs, _SINGLE_W * head_w, 18),
        _ages_from(rng, profile, probs, _HEAD_W * head_w, 18),
    )
    head_female = rng.random(n_h) < np.where(head_age >= 65, 0.5, 0.3)
    has_spouse = (size >= 2) & (head_age >= 20) & (rng.random(n_h) < np.where(size == 2, 0.6, 0.8))
    spouse_age = np.clip(head_age + np.where(head_female, 3, -3) + rng.normal(0, 4, n_h).round(), 18, 100)
    mother_age = np.where(has_spouse & ~head_female, spouse_age, head_age).astype(np.int64)

    u = rng.random(n_p)
    ha = head_age[hh]
    role = np.full(n_p, CHILD, dtype=np.int64)
    role[k == 0] = HEAD
    spouse_slot = (k == 1) & has_spouse[hh]
    role[spouse_slot] = SPOUSE
    rest = (k >= 1) & ~spouse_slot
    p_grand = np.where(ha >= 50, 0.25, 0.0)
    p_parent = np.where(ha < 50, 0.10, 0.02)
    p_sib, p_rel, p_lodge = 0.06, 0.05, 0.03
    p_child = np.where(ha < 22, 0.1, np.maximum(0.0, 1.0 - p_grand - p_parent - p_sib - p_rel - p_lodge))
    cum = np.cumsum(
        np.column_stack(
            [p_child, p_grand, p_parent, np.full(n_p, p_sib), np.full(n_p, p_rel), np.full(n_p, p_lodge)]
        ),
        axis=1,
    )
    pick = (cum < (u * cum[:, -1])[:, None]).sum(axis=1)
    codes = np.array([CHILD, GRANDCHILD, PARENT, SIBLING, RELATIVE, LODGER])
    role[rest] = codes[np.minimum(pick[rest], 5)]
    del cum, pick, u

    age = np.zeros(n_p, dtype=np.int64)
    female = rng.random(n_p) < 0.488
    age[k == 0] = head_age
    female[k == 0] = head_female
    m = role == SPOUSE
    age[m] = spouse_age[hh[m]]
    female[m] = ~head_female[hh[m]]
    m = role == CHILD
    ma = mother_age[hh[m]]
    age[m] = _truncated_ages(rng, prof_p[m], probs, child_w, np.maximum(ma - 45, 0), np.maximum(ma - 17, 0))
    m = role == GRANDCHILD
    g_hi = np.maximum(ha[m] - 40, 0)
    age[m] = _truncated_ages(
        rng, prof_p[m], probs, child_w, np.zeros(int(m.sum()), np.int64), np.minimum(g_hi, 30)
    )
    m = role == PARENT
    age[m] = np.minimum(ha[m] + rng.integers(22, 37, int(m.sum())), 100)
    female[m] = rng.random(int(m.sum())) < 0.65
    m = role == SIBLING
    age[m] = np.clip(ha[m] + rng.normal(0, 8, int(m.sum())).round(), 15, 100).astype(np.int64)
    m = role == RELATIVE
    age[m] = _ages_from(rng, prof_p[m], probs, child_w)
    m = role == LODGER
    age[m] = _ages_from(rng, prof_p[m], probs, _LODGER_W * head_w, 18)
    return first, hh, role, age, female, has_spouse, head_female


def build_people(geo: Geography, points: Points, start: dt.date, seed: int) -> tuple[Households, Persons]:
    """Households (one per address point) and their members."""
    rng = stream(seed, "people")
    old = geo.old
    n_h = len(points.lon)
    ward_rural = (geo.wards["unit_type"] == "xã").to_numpy()[points.ward]
    profile = np.where(
        points.old >= 0, points.old, np.where(ward_rural, old.rural_profile, old.urban_profile)
    )

    # sizes: 1 … 6 from the census classes, 7+ with a geometric tail (7–12)
    size = np.zeros(n_h, dtype=np.int64)
    for p, m in by_key(profile):
        size[m] = rng.choice(7, len(m), p=old.size_probs[p]) + 1
    big = size == 7
    size[big] = np.minimum(7 + rng.geometric(0.45, int(big.sum())) - 1, 12)

    foreign = rng.random(n_h) < FOREIGN_HOUSEHOLD_SHARE
    registered = rng.random(n_h) >= UNREGISTERED_SHARE

    # Household structure decides most ages; the head's and the children's age weights are calibrated
    # (a few vectorised passes) so that the city's age pyramid matches the census profiles.
    hh_count = np.bincount(profile, weights=size, minlength=len(old.age_probs))
    target = (hh_count[:, None] * old.age_probs).sum(0)
    target = target / target.sum()
    head_w = np.ones(18)
    child_w = np.ones(18)
    for _ in range(4):
        first, hh, role, age, female, has_spouse, head_female = _compose(
            seed, size, profile, old.age_probs, head_w, child_w
        )
        got = np.bincount(np.minimum(age // 5, 17), minlength=18) / len(age)
        ratio = np.clip(target / np.maximum(got, 1e-9), 0.5, 2.0)
        head_w = head_w * ratio
        child_w = child_w * ratio
    n_p = len(hh)
    is_foreign = foreign[hh]

    start64 = np.datetime64(start.isoformat(), "D")
    birth = (
        (start64 - EPOCH).astype(np.int64)
        - np.round(age * 365.25).astype(np.int64)
        - rng.integers(1, 365, n_p)
    )
    birth_year = (EPOCH + birth.astype("timedelta64[D]")).astype("datetime64[Y]").astype(np.int64) + 1970
    age = ((start64 - (EPOCH + birth.astype("timedelta64[D]"))).astype(np.int64) / 365.25).astype(np.int64)

    # names: children, grandchildren and siblings carry the father's family name
    family = nm.family_names(rng, n_p)
    spouse_idx = np.minimum(first + 1, n_p - 1)
    father_family = np.where(
        ~head_female, family[first], np.where(has_spouse, family[spouse_idx], family[first])
    )
    inherits = np.isin(role, [CHILD, GRANDCHILD, SIBLING]) | ((role == PARENT) & ~female)
    family = np.where(inherits, father_family[hh], family).astype(np.int16)
    middle1, middle2, given = nm.middle_and_given(rng, female, birth_year)
    nationality = np.full(n_p, -1, dtype=np.int8)
    if is_foreign.any():
        nat_h = rng.choice(len(nm.FOREIGN), n_h, p=np.array(nm.FOREIGN_WEIGHTS))
        nationality[is_foreign] = nat_h[hh[is_foreign]]
        fam_f, giv_f = nm.foreign_names(rng, nationality[is_foreign])
        family[is_foreign] = fam_f
        given[is_foreign] = giv_f
        middle1[is_foreign] = 0
        middle2[is_foreign] = 0

    # identities
    region_idx = np.array([REGIONS.index(r) for r in geo.wards["region"]])[points.ward[hh]]
    cccd = cccd_numbers(rng, birth_year, female, region_idx, REGIONS)
    no_id = (rng.random(n_p) < NO_ID_SHARE) | is_foreign
    cccd[no_id] = 0
    adult = age >= 20
    has_cmnd = adult & ~is_foreign & (rng.random(n_p) < CMND_SHARE_OF_ADULTS)
    cmnd = np.zeros(n_p, dtype=np.int64)
    cmnd[has_cmnd] = cmnd_numbers(rng, region_idx[has_cmnd], REGIONS)
    passport = np.zeros(n_p, dtype=np.int64)
    passport[is_foreign] = passport_numbers(rng, int(is_foreign.sum()))
    has_phone = (age >= PHONE_FROM_AGE) & (rng.random(n_p) >= NO_PHONE_SHARE_OF_ADULTS)
    phone = np.zeros(n_p, dtype=np.int64)
    phone[has_phone] = phone_numbers(rng, int(has_phone.sum()))
    p_comorbid = np.select([age < 18, age < 50, age < 65], [0.02, 0.08, 0.25], 0.45)
    comorbid = rng.random(n_p) < p_comorbid

    # registry numbers: a shuffled sequence within each ward
    ref = np.zeros(n_h, dtype=np.int64)
    for _, idx in by_key(points.ward):
        ref[idx] = rng.permutation(len(idx)) + 1

    households = Households(
        size=size.astype(np.int16),
        first=first.astype(np.int64),
        ref=ref,
        foreign=foreign,
        registered=registered,
    )
    persons = Persons(
        household=hh.astype(np.int32),
        relation=role.astype(np.int8),
        female=female,
        birth=birth.astype(np.int32),
        age=age.astype(np.int16),
        family=family,
        middle1=middle1,
        middle2=middle2,
        given=given,
        nationality=nationality,
        cccd=cccd,
        cmnd=cmnd,
        passport=passport,
        phone=phone,
        comorbid=comorbid,
    )
    return households, persons


def build_city(
    geo: Geography,
    seed: int,
    scale: float,
    start: dt.date,
    workers: int = 1,
    on_ward: Callable[[int, int], None] | None = None,
) -> City:
    points, groups, streets = build_places(geo, seed, scale, workers, on_ward)
    households, persons = build_people(geo, points, start, seed)
    return City(
        geo=geo,
        start=start,
        streets=streets,
        points=points,
        groups=groups,
        households=households,
        persons=persons,
    )
