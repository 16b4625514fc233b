"""Neighbourhood groups (tổ dân phố / tổ) and khu phố / ấp, derived from the households of a ward.

No public list or boundary of HCMC's ~24,000 tổ dân phố exists, so they are made the way a ward would:
households in runs along a Hilbert curve (spatially compact runs) of 50–150 households each (real tổ
average ~73), consecutive tổ bundled into khu phố (ấp in communes). A group's polygon is the union of
the Voronoi cells of its households, clipped to the ward: the groups tile the ward with no overlaps and
no gaps.
"""

from __future__ import annotations

import numpy as np
import shapely

from risk.synth.geometry import hilbert_index

GROUP_MIN, GROUP_MAX = 50, 150


def split_sizes(n: int, rng: np.random.Generator, lo: int = GROUP_MIN, hi: int = GROUP_MAX) -> np.ndarray:
    """Sizes of consecutive groups covering n households, each within [lo, hi] (one group if n ≤ hi)."""
    if n <= hi:
        return np.array([n], dtype=np.int64)
    target = rng.uniform(70, 110)
    g = int(np.clip(round(n / target), int(np.ceil(n / (hi - 10))), max(1, n // (lo + 5))))
    mean = n / g
    raw = mean * (1.0 + 0.25 * rng.uniform(-1.0, 1.0, g))
    raw = raw * n / raw.sum()
    sizes = np.floor(raw).astype(np.int64)
    rem = n - int(sizes.sum())
    if rem:
        sizes[np.argsort(-(raw - sizes), kind="stable")[:rem]] += 1
    # pull groups back inside [lo, hi], moving the surplus to groups with room
    for _ in range(50):
        over = np.maximum(sizes - hi, 0)
        under = np.maximum(lo - sizes, 0)
        if not over.any() and not under.any():
            break
        sizes = np.clip(sizes, lo, hi)
        diff = n - int(sizes.sum())
        room = (hi - sizes) if diff > 0 else (sizes - lo)
        order = np.argsort(-room, kind="stable")
        step = np.zeros(g, dtype=np.int64)
        k = abs(diff)
        per = np.minimum(room[order], int(np.ceil(k / max(1, int((room > 0).sum())))))
        take = np.minimum(np.cumsum(per), k) - np.minimum(np.cumsum(per) - per, k)
        step[order] = take
        sizes = sizes + np.sign(diff) * step
    return sizes


def assign_groups(lon: np.ndarray, lat: np.ndarray, rng: np.random.Generator):
    """Group and khu phố number (1-based, within the ward) of each point, and the order used.

    Returns (order, group_of_sorted, kp_of_group): points sorted along the Hilbert curve, the group of
    each sorted point and the khu phố of each group."""
    n = len(lon)
    kx = np.cos(np.radians(float(np.mean(lat)))) if n else 1.0
    order = np.argsort(hilbert_index(lon * kx, lat), kind="stable")
    sizes = split_sizes(n, rng)
    g = len(sizes)
    group = np.repeat(np.arange(g), sizes)
    per_kp = rng.uniform(6, 12)
    k = max(1, round(g / per_kp))
    kp_of_group = (np.arange(g) * k // g).astype(np.int64)
    return order, group, kp_of_group


def group_polygons(
    lon: np.ndarray, lat: np.ndarray, group: np.ndarray, n_groups: int, ward: shapely.Geometry
) -> np.ndarray:
    """MultiPolygons (one per group) tiling the ward: Voronoi cells of members, dissolved and clipped."""
    if n_groups == 1 or len(lon) < 2:
        return _as_multi(np.array([ward], dtype=object))
    minx, miny, maxx, maxy = ward.bounds
    pad = max(maxx - minx, maxy - miny)
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(np.column_stack([lon, lat])), extend_to=env, ordered=True
        )
    )
    if len(cells) != len(lon):
        raise RuntimeError("Voronoi lost points (duplicate coordinates?)")
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    slot = np.empty(len(lon), dtype=np.int64)
    slot[order] = _within(counts)
    grid = np.full((n_groups, int(counts.max())), None, dtype=object)
    grid[group, slot] = cells
    merged = shapely.coverage_union_all(grid, axis=1)
    shapely.prepare(ward)
    inside = shapely.contains_properly(ward, merged)
    clipped = merged.copy()
    if (~inside).any():
        clipped[~inside] = shapely.intersection(merged[~inside], ward)
    return _as_multi(clipped)


def _within(counts: np.ndarray) -> np.ndarray:
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _as_multi(geoms: np.ndarray) -> np.ndarray:
    """Polygonal parts only (clipping can leave touching lines or points), one MultiPolygon each."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    if len(np.unique(owner[keep])) != len(geoms):
        raise RuntimeError("a neighbourhood group lost all its area when clipped to the ward")
    return shapely.multipolygons(parts[keep], indices=owner[keep])
