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
"""

from __future__ import annotations

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


def name_parts(keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(family, given) of folded names, once per distinct name."""
    codes, uniq = pd.factorize(keys.fillna("").astype(str).to_numpy(dtype=object))
    fam = np.array([u.split(" ", 1)[0] if u else "" for u in uniq], dtype=object)
    giv = np.array([u.rsplit(" ", 1)[-1] if " " in u else "" for u in uniq], dtype=object)
    return fam[codes], giv[codes]


def month_day(birth_date: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(month, day of month) of datetime64[D] dates, computed once per record or person rather than
    once per candidate pair (values for NaT are meaningless; `compare` masks them)."""
    d = np.asarray(birth_date).astype("datetime64[D]")
    month = (d.astype("datetime64[M]") - d.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return month, day


def _s(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=object)


def compare(
    r: dict[str, np.ndarray], p: dict[str, np.ndarray], fields: tuple[str, ...] = FIELDS
) -> dict[str, np.ndarray]:
    """Comparison levels per field for aligned arrays of record and person attributes (only `fields`:
    flags need the birth date and ID levels, not the name similarity).

    Both sides hold: name_key, family, given, birth_date (datetime64[D], NaT missing), birth_month and
    birth_day (`month_day`), birth_precision, birth_year (float, NaN missing), sex, id_number, phone,
    point_id (int64, −1 missing), ward_id.
    """
    n = len(r["name_key"])
    out: dict[str, np.ndarray] = {}
    if "name" in fields:
        out["name"] = _name_levels(r, p, n)
    if "dob" in fields:
        out["dob"] = _dob_levels(r, p, n)
    if "sex" in fields:
        rs, ps = _s(r["sex"]), _s(p["sex"])
        ok = np.isin(rs, ["M", "F"]) & np.isin(ps, ["M", "F"])
        out["sex"] = np.where(ok, np.where(rs == ps, 0, 1), -1).astype(np.int8)
    if "id" in fields:
        out["id"] = _id_levels(r, p, n)
    if "phone" in fields:
        rp, pp = _s(r["phone"]), _s(p["phone"])
        ok = (rp != "") & (pp != "")
        out["phone"] = np.where(ok, np.where(rp == pp, 0, 1), -1).astype(np.int8)
    if "place" in fields:
        rpt, ppt = r["point_id"], p["point_id"]
        rw, pw = _s(r["ward_id"]), _s(p["ward_id"])
        lvl = np.full(n, -1, dtype=np.int8)
        wok = (rw != "") & (pw != "") & pd.notna(rw) & pd.notna(pw)
        lvl[wok] = np.where(rw[wok] == pw[wok], 1, 2)
        lvl[(rpt >= 0) & (ppt >= 0) & (rpt == ppt)] = 0
        out["place"] = lvl
    return out


def _name_levels(r: dict[str, np.ndarray], p: dict[str, np.ndarray], n: int) -> np.ndarray:
    rn, pn = _s(r["name_key"]), _s(p["name_key"])
    missing = (rn == "") | (pn == "")
    lvl = np.full(n, 4, dtype=np.int8)
    given_eq = (_s(r["given"]) == _s(p["given"])) & (_s(r["given"]) != "")
    lvl[given_eq] = 3
    sim = np.zeros(n, dtype=np.float64)
    todo = ~missing & (rn != pn)
    if todo.any():
        sim[todo] = cpdist(
            list(rn[todo]), list(pn[todo]), scorer=JaroWinkler.normalized_similarity, workers=-1
        )
    lvl[todo & (sim >= JW_SIMILAR)] = 2
    lvl[given_eq & (_s(r["family"]) == _s(p["family"]))] = 1
    lvl[rn == pn] = 0
    lvl[missing] = -1
    return lvl


def _dob_levels(r: dict[str, np.ndarray], p: dict[str, np.ndarray], n: int) -> np.ndarray:
    rd, pd_ = r["birth_date"].astype("datetime64[D]"), p["birth_date"].astype("datetime64[D]")
    ry, py = r["birth_year"], p["birth_year"]
    rprec, pprec = _s(r["birth_precision"]), _s(p["birth_precision"])
    missing = np.isnan(ry) | np.isnan(py)
    both_day = (rprec == "day") & (pprec == "day")
    rm, rdd = r["birth_month"], r["birth_day"]
    pm, pdd = p["birth_month"], p["birth_day"]
    same_year = ry == py
    lvl = np.full(n, 5, dtype=np.int8)
    lvl[np.abs(ry - py) == 1] = 4
    lvl[same_year & (rm == pm) & ~((rprec == "year") | (pprec == "year"))] = 3
    lvl[same_year & ((rprec != "day") | (pprec != "day"))] = 2
    lvl[same_year & both_day & (rm == pdd) & (rdd == pm) & (rm != rdd)] = 1
    lvl[same_year & both_day & (rd == pd_)] = 0
    lvl[missing] = -1
    return lvl


def _id_levels(r: dict[str, np.ndarray], p: dict[str, np.ndarray], n: int) -> np.ndarray:
    ri, pi = _s(r["id_number"]), _s(p["id_number"])
    ok = (ri != "") & (pi != "")
    rlen = np.fromiter(map(len, ri), np.int64, n)
    same_len = rlen == np.fromiter(map(len, pi), np.int64, n)
    lvl = np.where(ok & same_len, 2, -1).astype(np.int8)
    cc = ok & same_len & (rlen == 12)
    if cc.any():
        a = np.frombuffer("".join(ri[cc]).encode("ascii", "replace"), dtype=np.uint8).reshape(-1, 12)
        b = np.frombuffer("".join(pi[cc]).encode("ascii", "replace"), dtype=np.uint8).reshape(-1, 12)
        one = (a != b).sum(axis=1) == 1
        tmp = lvl[cc]
        tmp[one] = 1
        lvl[cc] = tmp
    lvl[ok & (ri == pi)] = 0
    return lvl
