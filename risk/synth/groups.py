"""Neighbourhood groups (tổ dân phố / tổ) and khu phố / ấp, derived from the households of a ward.

No public list or boundary of HCMC's ~24,000 tổ dân phố exists, so they are made the way a ward would:
households in runs along a Hilbert curve (spatially compact runs) of 50–150 households each (real tổ
average ~73), consecutive tổ bundled into khu phố (ấp in communes). A group's polygon is derived from its
households as a city's would be (`geo.groups.group_polygons`): the groups tile the ward with no overlaps
and no gaps.
"""

from __future__ import annotations

import numpy as np

from geo.groups import group_polygons
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


__all__ = ["GROUP_MAX", "GROUP_MIN", "assign_groups", "group_polygons", "split_sizes"]
