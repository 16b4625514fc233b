"""What linkage does after the decision: new persons for records nobody known matches, merged duplicate
doses, and flags where a linked record disagrees with its person.

* New persons (people absent from the household registry: temporary residents, visitors) are connected
  components of unmatched records that share a consistent CCCD, or a 9-digit CMND plus the folded name or
  the birth date (a CMND is not unique: it changes with the issuing province), or a folded name plus a
  birth date (or year) plus an address point or phone, or a folded name plus both phone and address point
  (a record whose birth date was dropped at ingest). Never the name alone.
* A dose reported twice (same person, within `DOSE_DAYS` days, usually by two sites) is one dose: the
  later reports point at the first through `same_as`; every source's record is kept.
* Flags: a record whose birth date is the person's with day and month swapped (`dob_swapped`), differs
  otherwise (`dob_conflict`), whose CCCD is one digit off (`id_typo`) or different (`id_conflict`), or
  whose ambiguous birth date (day and month ≤ 12) no other record confirms (`dob_ambiguous`). Where a
  person is known the person's value is the one to use; the record keeps what the site wrote.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from risk.link.compare import compare_pairs, encode

DOSE_DAYS = 2


def stable_id(keys: pd.Series, namespace: str) -> np.ndarray:
    """Positive int64 ids from text keys (BLAKE2b of "namespace|key", once per distinct key; a missing
    key hashes as "None")."""
    codes, uniq = pd.factorize(keys.astype(str), use_na_sentinel=True)
    blake = hashlib.blake2b
    prefix = f"{namespace}|"

    def digests(ks: list[object]) -> bytes:
        return b"".join([blake(f"{prefix}{k}".encode(), digest_size=8).digest() for k in ks])

    # the digests read as big-endian integers in one numpy step (no int object per key)
    ids = (np.frombuffer(digests(uniq.tolist()), dtype=">u8") & np.uint64(_MASK)).astype(np.int64)
    out = ids[codes] if len(ids) else np.zeros(len(codes), dtype=np.int64)
    if (codes < 0).any():
        out[codes < 0] = int.from_bytes(digests([None]), "big") & _MASK
    return out


_MASK = 0x7FFF_FFFF_FFFF_FFFF


def components(n: int, edges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected-component label of each of n nodes."""
    if not edges:
        return np.arange(n)
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1]


def _edges_on(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges chaining the rows that share a (non-empty) key: each to the first of its key."""
    valid = np.flatnonzero(key != "")
    if not len(valid):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes, _ = pd.factorize(key[valid])
    first = pd.Series(valid).groupby(codes).transform("first").to_numpy()
    return valid, first


def new_persons(recs: pd.DataFrame) -> np.ndarray:
    """Cluster label per unmatched record (see the module docstring)."""
    n = len(recs)
    if not n:
        return np.zeros(0, dtype=np.int64)
    name = recs["name_key"].fillna("").astype(str).to_numpy(dtype=object)
    day = recs["birth_precision"].fillna("").to_numpy(dtype=object) == "day"
    dob = np.where(
        day, pd.to_datetime(recs["birth_date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy(object), ""
    )
    year = pd.to_numeric(recs["birth_year"], errors="coerce")
    year = np.where(year.notna(), year.fillna(0).astype(int).astype(str), "")
    point = pd.to_numeric(recs["point_id"], errors="coerce")
    point = np.where(point.notna(), point.fillna(0).astype(np.int64).astype(str), "")
    phone = recs["phone"].fillna("").astype(str).to_numpy(dtype=object)
    id_kind = recs["id_kind"].fillna("").to_numpy(dtype=object)
    id_number = recs["id_number"].fillna("").astype(str).to_numpy(dtype=object)
    cccd = np.where(id_kind == "cccd", id_number, "")
    cmnd = np.where((id_kind == "cmnd") & (np.char.str_len(id_number.astype(str)) == 9), id_number, "")

    def key(*parts: np.ndarray) -> np.ndarray:
        ok = np.ones(n, dtype=bool)
        out = np.full(n, "", dtype=object)
        for p in parts:
            ok &= p != ""
        if ok.any():
            joined = parts[0][ok].astype(object)
            for p in parts[1:]:
                joined = joined + "|" + p[ok].astype(object)
            out[ok] = joined
        return out

    edges = [
        _edges_on(cccd.astype(object)),
        _edges_on(key(cmnd, name)),
        _edges_on(key(cmnd, dob)),
        _edges_on(key(name, dob, point)),
        _edges_on(key(name, dob, phone)),
        _edges_on(key(name, year, point)),
        _edges_on(key(name, year, phone)),
        # a record without a birth date (dropped at ingest): the same name with both phone and point
        _edges_on(key(name, phone, point)),
    ]
    return components(n, edges)


def merge_doses(doses: pd.DataFrame) -> np.ndarray:
    """`same_as` per dose record (record_id of the first report of the same dose, or −1 for the first).

    `doses` has record_id, person_id, event_date."""
    if not len(doses):
        return np.zeros(0, dtype=np.int64)
    d = doses.reset_index(drop=True)
    order = np.lexsort((d["record_id"].to_numpy(), d["event_date"].to_numpy(), d["person_id"].to_numpy()))
    pid = d["person_id"].to_numpy()[order]
    day = pd.to_datetime(d["event_date"]).to_numpy(dtype="datetime64[D]")[order].astype(np.int64)
    rid = d["record_id"].to_numpy()[order]
    new_person = np.r_[True, pid[1:] != pid[:-1]]
    # a new dose starts where the person changes or more than DOSE_DAYS passed since the group's first
    same_as = np.full(len(d), -1, dtype=np.int64)
    start_day = day[0]
    start_rid = rid[0]
    # loop over persons' boundaries only where needed: vectorised gap test, then a short scan of groups
    gap = np.r_[True, (day[1:] - day[:-1]) > DOSE_DAYS] | new_person
    group = np.cumsum(gap) - 1
    first_rid = rid[np.flatnonzero(gap)][group]
    first_day = day[np.flatnonzero(gap)][group]
    within = (day - first_day) <= DOSE_DAYS
    dup = ~gap & within
    same_as_sorted = np.where(dup, first_rid, -1)
    same_as[order] = same_as_sorted
    del start_day, start_rid
    return same_as


FLAG_CODES = ("dob_swapped", "dob_conflict", "id_typo", "id_conflict")


def link_flags(
    recs: dict[str, np.ndarray],
    people: dict[str, np.ndarray],
    ri: np.ndarray | None = None,
    pi: np.ndarray | None = None,
) -> np.ndarray:
    """';'-joined flags per (record, person) pair: aligned arrays, or the pairs (`ri[k]`, `pi[k]`)."""
    mask = flag_bits(recs, people, ri, pi)
    table = np.array(
        [";".join(c for b, c in enumerate(FLAG_CODES) if m >> b & 1) for m in range(16)], dtype=object
    )
    return table[mask]


def flag_bits(
    recs: dict[str, np.ndarray],
    people: dict[str, np.ndarray],
    ri: np.ndarray | None = None,
    pi: np.ndarray | None = None,
) -> np.ndarray:
    """`link_flags` as bits (bit b set: `FLAG_CODES[b]`), uint8 per pair."""
    if ri is None or pi is None:
        ri = pi = np.arange(len(recs["birth_year"]), dtype=np.int64)
    if not len(ri):
        return np.zeros(0, dtype=np.uint8)
    codes = encode(recs, people, ("id_number",))
    lv = compare_pairs(recs, people, ri, pi, fields=("dob", "id"), codes=codes)
    both_day = codes.r["day"][ri] & codes.p["day"][pi]
    bits = (
        (lv["dob"] == 1).astype(np.uint8)
        | ((both_day & (lv["dob"] >= 2)).astype(np.uint8) << 1)
        | ((lv["id"] == 1).astype(np.uint8) << 2)
        | ((lv["id"] == 2).astype(np.uint8) << 3)
    )
    return bits


def ambiguous_dates(birth_date: pd.Series, precision: pd.Series) -> np.ndarray:
    """Day-precision dates whose day and month are both ≤ 12 and different (could be swapped)."""
    d = pd.to_datetime(birth_date)
    return (
        (precision.fillna("").to_numpy(dtype=object) == "day")
        & (d.dt.day <= 12).to_numpy(dtype=bool)
        & (d.dt.month <= 12).to_numpy(dtype=bool)
        & (d.dt.day != d.dt.month).to_numpy(dtype=bool)
    )
