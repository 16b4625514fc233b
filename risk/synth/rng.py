"""Named random streams: every stage, ward, day and file draws from its own generator.

A stream is keyed by the seed and a tuple of names (`stream(seed, "addresses", "26740")`), hashed with
SHA-256, so results do not depend on the order stages run in, on which other wards were chosen, or on
Python's per-process string hashing. Same seed and keys → same numbers, on any machine.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *keys: object) -> np.random.Generator:
    """A generator for one named piece of work."""
    digest = hashlib.sha256(repr((int(seed), *map(str, keys))).encode("utf-8")).digest()
    entropy = np.frombuffer(digest, dtype=np.uint32)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy.tolist())))


def ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: counts [2, 0, 3] → [0, 1, 0, 1, 2] (position within each run)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def poisson_pick(rng: np.random.Generator, starts: np.ndarray, sizes: np.ndarray, lam: np.ndarray):
    """For each range (start, size) draw Poisson(lam) members uniformly with replacement.

    Returns (range index, member index) arrays. Used to thin Poisson processes: pick candidates from
    everybody in a range, then accept each with its own probability.
    """
    lam = np.where(sizes > 0, lam, 0.0)
    k = rng.poisson(np.maximum(lam, 0.0))
    which = np.repeat(np.arange(len(k)), k)
    member = starts[which] + (rng.random(len(which)) * sizes[which]).astype(np.int64)
    return which, member


def by_key(keys: np.ndarray):
    """(key, indices) for each distinct key in ascending order, indices ascending: one sort instead of one
    full comparison per key."""
    keys = np.asarray(keys)
    if not len(keys):
        return
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    cuts = np.flatnonzero(k[1:] != k[:-1]) + 1
    for idx in np.split(order, cuts):
        yield keys[idx[0]], idx
