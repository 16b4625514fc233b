"""Synthetic address points inside a real ward: streets, house numbers, alleys, old-ward regions.

A ward gets a street network sized for its *real* number of households (so house numbers look the same
at any scale), and the households of the chosen scale take a random subset of its addresses:

* main streets are straight segments through random points of the ward, clipped to the polygon, on a
  loose grid in towns and at random angles in the countryside; houses sit on both sides, odd numbers on
  one and even on the other, increasing along the street;
* alleys (hẻm) branch off at a house and take its number (`130`), their houses are `130/5`, `130/6` …;
  sub-alleys branch off alley houses (`130/75/5`). Dense wards put most households in alleys, rural ones
  almost all on the roads, with wider plots;
* a few doors carry letters (`123A`), `Bis` or a range (`52-54`);
* in the former HCMC each point gets the old (2021–2024) ward whose region it lies in: the ward is cut into
  slabs along its long axis with the old wards' area shares from the overlay crosswalk.

Every step is vectorised over slots; only wards are looped over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from risk.synth.geometry import LocalFrame, long_axis, slab_cuts
from risk.synth.rng import ranges

CAPACITY_FACTOR = 1.25  # addresses per real household: not every plot holds a household
HOUSEHOLDS_PER_STREET = 350
MAIN_OFFSET_M, ALLEY_OFFSET_M, SUB_OFFSET_M = 6.0, 3.0, 2.5
ALLEY_PLOT_M = 4.0
# Door number decorations: none, A, B, C, " Bis", range "n-(n+2)"; shares on main streets and in alleys.
SUFFIXES = ("", "A", "B", "C", " Bis", "-")
SUFFIX_P_MAIN = (0.0, 0.025, 0.010, 0.003, 0.008, 0.012)
SUFFIX_P_ALLEY = (0.0, 0.030, 0.010, 0.002, 0.002, 0.003)


@dataclass
class Segments:
    """Rows of house slots: each segment is one side of a street, alley or sub-alley."""

    ox: np.ndarray  # origin of the centre line, metres
    oy: np.ndarray
    dx: np.ndarray  # unit direction along which numbers increase
    dy: np.ndarray
    lat: np.ndarray  # lateral offset (signed, metres) of the houses from the centre line
    start: np.ndarray  # distance of the first plot from the origin
    spacing: np.ndarray  # plot width
    count: np.ndarray  # number of plots
    parity: np.ndarray  # 1 (odd side) or 2 (even side)
    street: np.ndarray  # street index within the ward
    a1: np.ndarray  # alley number (the main-street number it branches at) or -1
    a2: np.ndarray  # sub-alley number or -1
    level: np.ndarray  # 0 main, 1 alley, 2 sub-alley

    @staticmethod
    def concat(parts: list[Segments]) -> Segments:
        return Segments(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Segments.__dataclass_fields__)
        )

    def take(self, idx: np.ndarray) -> Segments:
        return Segments(*(getattr(self, f)[idx] for f in Segments.__dataclass_fields__))


@dataclass
class WardPoints:
    """The address points of one ward (arrays of equal length) and its street names."""

    lon: np.ndarray
    lat: np.ndarray
    street: np.ndarray  # index into `street_names`
    a1: np.ndarray
    a2: np.ndarray
    number: np.ndarray
    suffix: np.ndarray  # index into SUFFIXES
    old_index: np.ndarray  # index of the old ward (see realdata.OldWards), -1 outside the old city
    street_names: list[str]


def _random_points(
    poly_m: shapely.Geometry, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in the polygon (rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = poly_m.bounds
    fill = max(float(shapely.area(poly_m)) / max((maxx - minx) * (maxy - miny), 1e-9), 0.02)
    xs, ys = [], []
    got = 0
    while got < n:
        m = int((n - got) / fill * 1.3) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly_m, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _streets(poly_m: shapely.Geometry, n: int, urban: float, rng: np.random.Generator):
    """Straight street segments clipped to the ward: (start x, start y, unit dx, dy, length)."""
    area = float(shapely.area(poly_m))
    cx, cy = _random_points(poly_m, n, rng)
    grid = rng.uniform(0, np.pi)
    grid_angle = grid + rng.integers(0, 2, n) * (np.pi / 2) + rng.normal(0, np.radians(6), n)
    free_angle = rng.uniform(0, np.pi, n)
    angle = np.where(rng.random(n) < 0.3 + 0.6 * urban, grid_angle, free_angle)
    length = np.clip(np.sqrt(area / n) * 2.2 * rng.lognormal(0, 0.3, n), 120.0, 4000.0)
    dx, dy = np.cos(angle), np.sin(angle)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([cx - dx * length / 2, cy - dy * length / 2]),
                np.column_stack([cx + dx * length / 2, cy + dy * length / 2]),
            ],
            axis=1,
        )
    )
    clipped = shapely.intersection(lines, poly_m)
    parts, owner = shapely.get_parts(clipped, return_index=True)
    keep = shapely.get_type_id(parts) == 1  # LineString
    parts, owner = parts[keep], owner[keep]
    centres = shapely.points(cx[owner], cy[owner])
    dist = shapely.distance(parts, centres)
    order = np.lexsort((dist, owner))
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    best = order[first]
    parts, owner = parts[best], owner[best]
    coords = shapely.get_coordinates(parts)
    npts = shapely.get_num_coordinates(parts)
    end_idx = np.cumsum(npts) - 1
    start_idx = end_idx - npts + 1
    sx, sy = coords[start_idx, 0], coords[start_idx, 1]
    ex, ey = coords[end_idx, 0], coords[end_idx, 1]
    seg_len = np.hypot(ex - sx, ey - sy)
    ok = seg_len >= 40.0
    ux = np.where(seg_len > 0, (ex - sx) / np.maximum(seg_len, 1e-9), 1.0)
    uy = np.where(seg_len > 0, (ey - sy) / np.maximum(seg_len, 1e-9), 0.0)
    return sx[ok], sy[ok], ux[ok], uy[ok], seg_len[ok]


def _network(
    poly_m: shapely.Geometry,
    capacity: float,
    n_streets: int,
    urban: float,
    rng: np.random.Generator,
    street_offset: int = 0,
) -> Segments:
    """Segments of house slots for `n_streets` new streets holding about `capacity` addresses."""
    sx, sy, ux, uy, length = _streets(poly_m, n_streets, urban, rng)
    s = len(sx)
    if s == 0:
        return Segments(*(np.zeros(0) for _ in Segments.__dataclass_fields__))
    street = np.arange(s) + street_offset
    cap = capacity * length / length.sum()
    main_share = 1.0 - 0.7 * urban
    k_main = np.maximum(2, np.round(main_share * cap / 2)).astype(np.int64)
    k_main = np.minimum(k_main, np.maximum(2, (length // 4.0).astype(np.int64)))
    f_main = length / k_main
    nx, ny = -uy, ux  # left normal

    main = Segments(
        ox=np.repeat(sx, 2),
        oy=np.repeat(sy, 2),
        dx=np.repeat(ux, 2),
        dy=np.repeat(uy, 2),
        lat=np.tile([MAIN_OFFSET_M, -MAIN_OFFSET_M], s),
        start=np.zeros(2 * s),
        spacing=np.repeat(f_main, 2),
        count=np.repeat(k_main, 2),
        parity=np.tile([1, 2], s),
        street=np.repeat(street, 2),
        a1=np.full(2 * s, -1),
        a2=np.full(2 * s, -1),
        level=np.zeros(2 * s, np.int64),
    )
    rest = np.maximum(cap - 2 * k_main, 0.0)
    alley_mean = 16.0 + 30.0 * urban
    n_alleys = np.minimum(np.round(rest / alley_mean), k_main).astype(np.int64)  # per side at most k_main/2
    if n_alleys.sum() == 0:
        return main
    # alleys: which street, which side, which main plot they branch at (spread evenly along each side)
    a_street = np.repeat(np.arange(s), n_alleys)
    a_side = rng.integers(0, 2, len(a_street))
    # alleys of one street and side are spaced along the side; rank them within (street, side)
    key = a_street * 2 + a_side
    order = np.argsort(key, kind="stable")
    ks = key[order]
    run_start = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
    run_len = np.diff(np.r_[run_start, len(ks)])
    rank = np.empty(len(ks), dtype=np.int64)
    rank[order] = ranges(run_len)
    n_side = np.empty(len(ks), dtype=np.int64)
    n_side[order] = np.repeat(run_len, run_len)
    km = k_main[a_street]
    plot = np.floor((rank + rng.uniform(0.2, 0.8, len(rank))) * km / n_side).astype(np.int64).clip(0, km - 1)
    parity = 1 + a_side
    a_number = 2 * plot + parity
    t = (plot + 0.5) * f_main[a_street]
    sign = np.where(a_side == 0, 1.0, -1.0)
    ang = rng.normal(0, np.radians(8), len(a_street))
    bx, by = nx[a_street] * sign, ny[a_street] * sign
    cos, sin = np.cos(ang), np.sin(ang)
    adx, ady = bx * cos - by * sin, bx * sin + by * cos
    aox = sx[a_street] + ux[a_street] * t
    aoy = sy[a_street] + uy[a_street] * t
    weights = rng.lognormal(0, 0.6, len(a_street))
    wsum = np.bincount(a_street, weights, minlength=s)
    a_cap = rest[a_street] * weights / wsum[a_street]
    # sub-alleys take ~40 % of the plots of about half the big alleys
    has_sub = (a_cap >= 24) & (rng.random(len(a_cap)) < 0.5)
    n_sub = np.where(has_sub, 1 + rng.poisson(a_cap / 60.0), 0)
    sub_cap = np.where(has_sub, 0.4 * a_cap, 0.0)
    k_alley = np.maximum(1, np.round((a_cap - sub_cap) / 2)).astype(np.int64)
    n_sub = np.minimum(n_sub, k_alley)
    alleys = Segments(
        ox=np.repeat(aox, 2),
        oy=np.repeat(aoy, 2),
        dx=np.repeat(adx, 2),
        dy=np.repeat(ady, 2),
        lat=np.tile([ALLEY_OFFSET_M, -ALLEY_OFFSET_M], len(a_street)),
        start=np.full(2 * len(a_street), MAIN_OFFSET_M + 4.0),
        spacing=np.full(2 * len(a_street), ALLEY_PLOT_M),
        count=np.repeat(k_alley, 2),
        parity=np.tile([1, 2], len(a_street)),
        street=np.repeat(street[a_street], 2),
        a1=np.repeat(a_number, 2),
        a2=np.full(2 * len(a_street), -1),
        level=np.ones(2 * len(a_street), np.int64),
    )
    if n_sub.sum() == 0:
        return Segments.concat([main, alleys])
    s_alley = np.repeat(np.arange(len(a_street)), n_sub)
    s_rank = ranges(n_sub)
    ka = k_alley[s_alley]
    s_plot = np.floor((s_rank + rng.uniform(0.2, 0.8, len(s_rank))) * ka / n_sub[s_alley]).astype(np.int64)
    s_plot = s_plot.clip(0, ka - 1)
    s_side = rng.integers(0, 2, len(s_alley))
    s_number = 2 * s_plot + 1 + s_side
    st = MAIN_OFFSET_M + 4.0 + (s_plot + 0.5) * ALLEY_PLOT_M
    sox = aox[s_alley] + adx[s_alley] * st
    soy = aoy[s_alley] + ady[s_alley] * st
    ssign = np.where(s_side == 0, 1.0, -1.0)
    sdx, sdy = -ady[s_alley] * ssign, adx[s_alley] * ssign
    k_sub = np.maximum(1, np.round(sub_cap[s_alley] / n_sub[s_alley] / 2)).astype(np.int64)
    m = len(s_alley)
    subs = Segments(
        ox=np.repeat(sox, 2),
        oy=np.repeat(soy, 2),
        dx=np.repeat(sdx, 2),
        dy=np.repeat(sdy, 2),
        lat=np.tile([SUB_OFFSET_M, -SUB_OFFSET_M], m),
        start=np.full(2 * m, ALLEY_OFFSET_M + 3.0),
        spacing=np.full(2 * m, ALLEY_PLOT_M),
        count=np.repeat(k_sub, 2),
        parity=np.tile([1, 2], m),
        street=np.repeat(street[a_street[s_alley]], 2),
        a1=np.repeat(a_number[s_alley], 2),
        a2=np.repeat(s_number, 2),
        level=np.full(2 * m, 2, np.int64),
    )
    return Segments.concat([main, alleys, subs])


def _slots_xy(seg: Segments, which: np.ndarray, k: np.ndarray, rng: np.random.Generator):
    """Coordinates (metres) and door numbers of plots `k` on segments `which`."""
    d = seg.start[which] + (k + 0.5) * seg.spacing[which]
    lat = seg.lat[which]
    x = seg.ox[which] + seg.dx[which] * d - seg.dy[which] * lat + rng.uniform(-0.8, 0.8, len(k))
    y = seg.oy[which] + seg.dy[which] * d + seg.dx[which] * lat + rng.uniform(-0.8, 0.8, len(k))
    return x, y, 2 * k + seg.parity[which]


def layout_ward(
    poly: shapely.Geometry,
    n_households: int,
    real_households: float,
    street_pool: list[str],
    street_weights: np.ndarray,
    old_regions: tuple[np.ndarray, np.ndarray] | None,
    rng: np.random.Generator,
) -> WardPoints:
    """Address points for `n_households` households of a ward whose real size is `real_households`.

    `old_regions` is (old ward indices, area shares) for wards of the former HCMC, else None."""
    frame = LocalFrame.around(poly)
    poly_m = frame.geom_to_m(poly)
    shapely.prepare(poly_m)
    shapely.prepare(poly)
    area_km2 = float(shapely.area(poly_m)) / 1e6
    real_households = max(real_households, n_households)
    urban = float(np.clip(real_households / max(area_km2, 1e-3) / 4000.0, 0.0, 1.0))
    n_streets = int(np.clip(round(real_households / HOUSEHOLDS_PER_STREET), 2, 1500))
    capacity = CAPACITY_FACTOR * real_households

    segs = _network(poly_m, capacity, n_streets, urban, rng)
    chosen_seg: list[np.ndarray] = []
    chosen_k: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    nums: list[np.ndarray] = []
    used = np.zeros(int(segs.count.sum()), dtype=bool)
    need = n_households
    for _round in range(40):
        if need <= 0:
            break
        total = int(segs.count.sum())
        if len(used) < total:
            used = np.concatenate([used, np.zeros(total - len(used), dtype=bool)])
        free = np.flatnonzero(~used)
        if len(free) < need * 1.1 + 8:
            extra = _network(
                poly_m,
                max(capacity * 0.25, need * 2.0),
                max(2, n_streets // 4),
                urban,
                rng,
                street_offset=int(segs.street.max()) + 1 if len(segs.street) else 0,
            )
            segs = Segments.concat([segs, extra])
            continue
        cand = rng.choice(free, size=min(len(free), int(need * 1.15) + 8), replace=False)
        used[cand] = True
        cum = np.cumsum(segs.count)
        which = np.searchsorted(cum, cand, side="right")
        k = cand - (cum[which] - segs.count[which])
        x, y, num = _slots_xy(segs, which, k, rng)
        lon, lat = frame.to_deg(x, y)
        inside = shapely.contains_xy(poly, lon, lat)
        idx = np.flatnonzero(inside)[:need]
        chosen_seg.append(which[idx])
        chosen_k.append(k[idx])
        xs.append(x[idx])
        ys.append(y[idx])
        nums.append(num[idx])
        need -= len(idx)
    if need > 0:
        raise RuntimeError(f"could not place {need} households inside the ward polygon")

    which = np.concatenate(chosen_seg)
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    number = np.concatenate(nums)
    # door number decorations
    level = segs.level[which]
    probs = np.where((level == 0)[:, None], np.array(SUFFIX_P_MAIN), np.array(SUFFIX_P_ALLEY))
    probs[:, 0] = 1.0 - probs[:, 1:].sum(axis=1)
    u = rng.random(len(which))
    suffix = (np.cumsum(probs, axis=1) < u[:, None]).sum(axis=1).astype(np.int8)

    old_index = np.full(len(which), -1, dtype=np.int32)
    if old_regions is not None:
        idx_old, shares = old_regions
        axis = long_axis(poly_m)
        cuts = slab_cuts(poly_m, axis, shares)
        pos = np.column_stack([x, y]) @ axis
        old_index = idx_old[np.searchsorted(cuts, pos)].astype(np.int32)

    # street names: a weighted sample without replacement from the ward's pool, numbered streets after
    n_names = int(segs.street.max()) + 1
    pool = np.asarray(street_pool, dtype=object)
    w = np.asarray(street_weights, dtype=np.float64)
    keys = rng.random(len(pool)) ** (1.0 / np.maximum(w, 1e-9))
    picked = list(pool[np.argsort(-keys, kind="stable")[:n_names]])
    used = set(picked)
    extra_no = 1
    while len(picked) < n_names:
        cand_name = f"Đường số {extra_no}"
        extra_no += 1
        if cand_name not in used:
            picked.append(cand_name)
            used.add(cand_name)

    order = np.lexsort((number, segs.a2[which], segs.a1[which], segs.street[which]))
    lon, lat = frame.to_deg(x, y)
    return WardPoints(
        lon=lon[order],
        lat=lat[order],
        street=segs.street[which][order].astype(np.int32),
        a1=segs.a1[which][order].astype(np.int32),
        a2=segs.a2[which][order].astype(np.int32),
        number=number[order].astype(np.int32),
        suffix=suffix[order],
        old_index=old_index[order],
        street_names=picked,
    )


def house_strings(a1: np.ndarray, a2: np.ndarray, number: np.ndarray, suffix: np.ndarray):
    """(house_number, alley) strings: `5`/`130/75`, `123A`/``, `52-54`/`` (pyarrow arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    num = pc.cast(pa.array(number, type=pa.int32()), pa.string())
    nxt = pc.cast(pa.array(number + 2, type=pa.int32()), pa.string())
    suf = pa.array(np.asarray(SUFFIXES, dtype=object)[suffix], type=pa.string())
    is_range = pa.array(suffix == SUFFIXES.index("-"))
    house = pc.if_else(
        is_range, pc.binary_join_element_wise(num, nxt, "-"), pc.binary_join_element_wise(num, suf, "")
    )
    s1 = pc.cast(pa.array(a1, type=pa.int32()), pa.string())
    s2 = pc.cast(pa.array(a2, type=pa.int32()), pa.string())
    alley = pc.if_else(
        pa.array(a1 < 0), "", pc.if_else(pa.array(a2 < 0), s1, pc.binary_join_element_wise(s1, s2, "/"))
    )
    return house, alley
