"""Comparison of candidate pairs (record, person), field by field, as comparison levels (vectorised).

Each field compares to one level per pair (−1 when either side is missing: no evidence either way):

| field | levels (strongest first) |
|---|---|
| name  | exact folded name · family + given equal (middle differs) · Jaro–Winkler ≥ 0.92 · given name equal · other |
| dob   | exact day · day and month swapped · same year, one side year-only · same year and month · year ± 1 · other |
| sex   | agree · disagree |
| id    | exact · one digit differs (both CCCD) · other (same kind, different number) |
| phone | exact · other |
| place | same address point · same ward · other |

Names are compared on the folded key (no diacritics, lower case), split into family, middle and given.

Text fields are compared as integer codes of one vocabulary shared by both sides (`encode`, once per
relink): a candidate pair then costs a few integer takes and compares, not copies of Python strings.
The Jaro–Winkler similarity and the one-digit ID test run once per distinct pair of values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

LEVELS: dict[str, tuple[str, ...]] = {
    "name": ("exact", "family_given", "similar", "given", "other"),
    "dob": ("exact", "swapped", "year_partial", "year_month", "year_near", "other"),
    "sex": ("agree", "other"),
    "id": ("exact", "one_digit", "other"),
    "phone": ("exact", "other"),
    "place": ("point", "ward", "other"),
}
FIELDS = tuple(LEVELS)
JW_SIMILAR = 0.92
# text attributes coded over one vocabulary per field ("" is code −1)
CODED = ("name_key", "id_number", "phone", "ward_id", "province")
NEEDS = {"name": "name_key", "id": "id_number", "phone": "phone", "place": "ward_id"}


def name_parts(keys: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(family, given) of folded names, once per distinct name."""
    codes, uniq = pd.factorize(pd.Series(keys).fillna("").astype(str).to_numpy(dtype=object))
    fam, giv = _parts_of(uniq)
    return fam[codes], giv[codes]


def _parts_of(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fam = np.array([u.split(" ", 1)[0] if u else "" for u in names], dtype=object)
    giv = np.array([u.rsplit(" ", 1)[-1] if " " in u else "" for u in names], dtype=object)
    return fam, giv


def month_day(birth_date: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(month, day of month) of datetime64[D] dates, computed once per record or person rather than
    once per candidate pair (values for NaT are meaningless; `compare` masks them)."""
    d = np.asarray(birth_date).astype("datetime64[D]")
    month = (d.astype("datetime64[M]") - d.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return month, day


@dataclass
class Codes:
    """Per side (records `r`, persons `p`): integer codes of the text attributes over one vocabulary
    per field (equal codes ⇔ equal text; −1 empty), family and given name codes, sex (1 M, 2 F, 0
    other), birth precision flags and ID lengths; and the vocabularies the pair work needs."""

    r: dict[str, np.ndarray]
    p: dict[str, np.ndarray]
    names: np.ndarray  # name_key vocabulary (code → folded name)
    ids: np.ndarray  # id_number vocabulary
    id_digits: np.ndarray  # (ids, 12) uint8: the ASCII bytes of 12-character IDs


def _joint(
    a: np.ndarray, b: np.ndarray, ca: np.ndarray | None = None, cb: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of a and b over one vocabulary ('' → −1) and the vocabulary. With each side's row codes
    (`prepare`: positions in its own distinct values), only the distinct values are hashed."""
    if ca is None or cb is None:
        codes, uniq = pd.factorize(np.concatenate([np.asarray(a, dtype=object), np.asarray(b, dtype=object)]))
        codes = codes.astype(np.int32)
        ra, rb = codes[: len(a)], codes[len(a) :]
    else:
        va, vb = _distinct(a, ca), _distinct(b, cb)
        codes, uniq = pd.factorize(np.concatenate([va, vb]))  # a slot no row holds (None) → −1
        codes = np.append(codes.astype(np.int32), np.int32(-1))  # row code −1 (missing) → −1
        ra, rb = codes[ca], codes[np.where(cb >= 0, cb + len(va), -1)]
    uniq = np.asarray(uniq, dtype=object)
    empty = np.flatnonzero(uniq == "")
    if len(empty):
        ra = np.where(ra == empty[0], -1, ra).astype(np.int32)
        rb = np.where(rb == empty[0], -1, rb).astype(np.int32)
    return ra, rb, uniq


def _distinct(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The distinct values by row code (slots no row holds are None)."""
    out = np.full(int(codes.max()) + 1 if len(codes) else 0, None, dtype=object)
    held = codes >= 0
    out[codes[held]] = values[held]
    return out


def encode(r: dict[str, np.ndarray], p: dict[str, np.ndarray], fields: tuple[str, ...] = CODED) -> Codes:
    """The integer codes of records `r` and persons `p` (`prepare`d) for `compare_pairs` and blocking."""
    rc: dict[str, np.ndarray] = {}
    pc: dict[str, np.ndarray] = {}
    names = ids = np.zeros(0, dtype=object)
    for f in fields:
        rc[f], pc[f], uniq = _joint(r[f], p[f], r.get(f + "#"), p.get(f + "#"))
        if f == "name_key":
            names = uniq
            fam, giv = _parts_of(uniq)
            for part, vals in (("family", fam), ("given", giv)):
                code, u = pd.factorize(vals)
                code = code.astype(np.int32)
                e = np.flatnonzero(np.asarray(u, dtype=object) == "")
                if len(e):
                    code[code == e[0]] = -1
                rc[part] = np.where(rc[f] >= 0, code[np.maximum(rc[f], 0)], -1).astype(np.int32)
                pc[part] = np.where(pc[f] >= 0, code[np.maximum(pc[f], 0)], -1).astype(np.int32)
        elif f == "id_number":
            ids = uniq
            lens = np.fromiter(map(len, uniq), np.int16, len(uniq))
            rc["id_len"] = np.where(rc[f] >= 0, lens[np.maximum(rc[f], 0)], 0).astype(np.int16)
            pc["id_len"] = np.where(pc[f] >= 0, lens[np.maximum(pc[f], 0)], 0).astype(np.int16)
    digits = np.zeros((len(ids), 12), dtype=np.uint8)
    if len(ids):
        twelve = np.flatnonzero(np.fromiter(map(len, ids), np.int64, len(ids)) == 12)
        if len(twelve):
            raw = "".join(ids[twelve]).encode("ascii", "replace")
            digits[twelve] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 12)
    for side, out in ((r, rc), (p, pc)):
        sex = np.asarray(side["sex"], dtype=object)
        out["sex"] = np.where(sex == "M", 1, np.where(sex == "F", 2, 0)).astype(np.int8)
        prec = np.asarray(side["birth_precision"], dtype=object)
        out["day"] = prec == "day"
        out["year_only"] = prec == "year"
    return Codes(rc, pc, names, ids, digits)


def compare(
    r: dict[str, np.ndarray],
    p: dict[str, np.ndarray],
    fields: tuple[str, ...] = FIELDS,
    codes: Codes | None = None,
) -> dict[str, np.ndarray]:
    """Comparison levels per field for aligned arrays of record and person attributes (only `fields`:
    flags need the birth date and ID levels, not the name similarity).

    Both sides hold (`risk.link.probabilistic.prepare`): name_key, family, given, birth_date
    (datetime64[D], NaT missing), birth_month and birth_day (`month_day`), birth_precision, birth_year
    (float, NaN missing), sex, id_number, phone, point_id (int64, −1 missing), ward_id.
    """
    idx = np.arange(len(r["name_key"]), dtype=np.int64)
    return compare_pairs(r, p, idx, idx, fields, codes)


def compare_pairs(
    r: dict[str, np.ndarray],
    p: dict[str, np.ndarray],
    ri: np.ndarray,
    pi: np.ndarray,
    fields: tuple[str, ...] = FIELDS,
    codes: Codes | None = None,
) -> dict[str, np.ndarray]:
    """Comparison levels of the pairs (record `ri[k]`, person `pi[k]`): `compare` without copying
    either side per pair. `codes` (`encode(r, p)`) are computed here when not given."""
    if codes is None:
        codes = encode(r, p, tuple(NEEDS[f] for f in fields if f in NEEDS))
    ri = np.asarray(ri, dtype=np.int64)
    pi = np.asarray(pi, dtype=np.int64)
    n = len(ri)
    out: dict[str, np.ndarray] = {}
    rc, pc = codes.r, codes.p
    if "name" in fields:
        out["name"] = _name_levels(codes, ri, pi, n)
    if "dob" in fields:
        out["dob"] = _dob_levels(r, p, codes, ri, pi, n)
    if "sex" in fields:
        rs, ps = rc["sex"][ri], pc["sex"][pi]
        out["sex"] = np.where((rs > 0) & (ps > 0), np.where(rs == ps, 0, 1), -1).astype(np.int8)
    if "id" in fields:
        out["id"] = _id_levels(codes, ri, pi, n)
    if "phone" in fields:
        rp, pp = rc["phone"][ri], pc["phone"][pi]
        out["phone"] = np.where((rp >= 0) & (pp >= 0), np.where(rp == pp, 0, 1), -1).astype(np.int8)
    if "place" in fields:
        rpt, ppt = r["point_id"][ri], p["point_id"][pi]
        rw, pw = rc["ward_id"][ri], pc["ward_id"][pi]
        lvl = np.full(n, -1, dtype=np.int8)
        wok = (rw >= 0) & (pw >= 0)
        lvl[wok] = np.where(rw[wok] == pw[wok], 1, 2)
        lvl[(rpt >= 0) & (ppt >= 0) & (rpt == ppt)] = 0
        out["place"] = lvl
    return out


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) code pairs and, per input pair, its position among them."""
    width = int(b.max()) + 1 if len(b) else 1
    uniq, inv = np.unique(a.astype(np.int64) * width + b.astype(np.int64), return_inverse=True)
    return uniq // width, uniq % width, inv


def _name_levels(c: Codes, ri: np.ndarray, pi: np.ndarray, n: int) -> np.ndarray:
    rn, pn = c.r["name_key"][ri], c.p["name_key"][pi]
    missing = (rn < 0) | (pn < 0)
    lvl = np.full(n, 4, dtype=np.int8)
    rg = c.r["given"][ri]
    given_eq = (rg == c.p["given"][pi]) & (rg >= 0)
    lvl[given_eq] = 3
    todo = ~missing & (rn != pn)
    if todo.any():
        ua, ub, inv = _distinct_pairs(rn[todo], pn[todo])
        sim = cpdist(
            list(c.names[ua]), list(c.names[ub]), scorer=JaroWinkler.normalized_similarity, workers=-1
        )
        similar = np.zeros(n, dtype=bool)
        similar[todo] = np.asarray(sim)[inv] >= JW_SIMILAR
        lvl[similar] = 2
    lvl[given_eq & (c.r["family"][ri] == c.p["family"][pi])] = 1
    lvl[rn == pn] = 0
    lvl[missing] = -1
    return lvl


def _dob_levels(
    r: dict[str, np.ndarray], p: dict[str, np.ndarray], c: Codes, ri: np.ndarray, pi: np.ndarray, n: int
) -> np.ndarray:
    ry, py = r["birth_year"][ri], p["birth_year"][pi]
    missing = np.isnan(ry) | np.isnan(py)
    rday, pday = c.r["day"][ri], c.p["day"][pi]
    both_day = rday & pday
    rm, rdd = r["birth_month"][ri], r["birth_day"][ri]
    pm, pdd = p["birth_month"][pi], p["birth_day"][pi]
    same_year = ry == py
    lvl = np.full(n, 5, dtype=np.int8)
    lvl[np.abs(ry - py) == 1] = 4
    lvl[same_year & (rm == pm) & ~(c.r["year_only"][ri] | c.p["year_only"][pi])] = 3
    lvl[same_year & (~rday | ~pday)] = 2
    lvl[same_year & both_day & (rm == pdd) & (rdd == pm) & (rm != rdd)] = 1
    sel = np.flatnonzero(same_year & both_day)
    rd = r["birth_date"].astype("datetime64[D]")[ri[sel]]
    pd_ = p["birth_date"].astype("datetime64[D]")[pi[sel]]
    lvl[sel[rd == pd_]] = 0
    lvl[missing] = -1
    return lvl


def _id_levels(c: Codes, ri: np.ndarray, pi: np.ndarray, n: int) -> np.ndarray:
    a, b = c.r["id_number"][ri], c.p["id_number"][pi]
    ok = (a >= 0) & (b >= 0)
    rlen = c.r["id_len"][ri]
    same_len = rlen == c.p["id_len"][pi]
    lvl = np.where(ok & same_len, 2, -1).astype(np.int8)
    cc = np.flatnonzero(ok & same_len & (rlen == 12) & (a != b))
    if len(cc):
        one = (c.id_digits[a[cc]] != c.id_digits[b[cc]]).sum(axis=1) == 1
        lvl[cc[one]] = 1
    lvl[ok & (a == b)] = 0
    return lvl
