"""Probabilistic linkage of records to persons: blocking, comparison, Fellegi–Sunter weights, decision.

Candidates come from several blocking keys (a pair needs to share only one): the identity number, the
phone, the address point, folded name + birth year, family + given name + birth date, folded name +
ward. A key shared by more than `MAX_BLOCK` persons blocks nothing (it would only add noise and time).

Decision per record, over its candidates:
* a candidate is *eligible* only with corroborated identity, never on the name alone: an exact ID (or
  one digit off, for CCCDs) with the name or birth date agreeing, or a close name and a compatible birth
  date plus a third signal (address, phone or ID); a record without a birth date (or without a name)
  needs the same name (or birth date and sex) with both the phone and the address point;
* the best eligible candidate is linked when its match probability is ≥ `LINK_P` and its weight beats
  the runner-up's by `MARGIN` bits (two people of one household with the same name never share a link);
* with probability ≥ `REVIEW_P` but not clear enough, the record goes to the review list with its top
  candidates and stays unlinked;
* otherwise it belongs to nobody known (a new person, see `risk.link.cluster`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.gazetteer import province_codes
from risk.link.compare import FIELDS, Codes, _parts_of, compare_pairs, encode, month_day
from risk.link.model import Model, anchor_counts, estimate_from, name_counts
from risk.link.settings import link_settings

MAX_BLOCK = 50
LINK_P = 0.999
REVIEW_P = 0.5
MARGIN = 6.0
RANDOM_PAIRS = 200_000
ATTRS = (
    "name_key",
    "family",
    "given",
    "birth_date",
    "birth_precision",
    "birth_year",
    "sex",
    "id_number",
    "phone",
    "point_id",
    "ward_id",
)


def prepare(frame: pd.DataFrame, fields: tuple[str, ...] = FIELDS) -> dict[str, np.ndarray]:
    """Attribute arrays in the form `compare` wants, for records or persons: those the comparison
    `fields` need (flags need only the birth date and the ID), with the birth precision always.

    Text attributes come with their row codes (`name_key#`, …: positions in the column's own distinct
    values), from which `encode` builds the shared codes once per distinct value."""
    n = len(frame)
    out: dict[str, np.ndarray] = {}

    def text(col: str) -> None:
        out[col], out[col + "#"], vocab = _text(frame[col])
        if col == "name_key":
            fam, giv = _parts_of(vocab)
            out["family"] = np.append(fam, "")[out[col + "#"]]
            out["given"] = np.append(giv, "")[out[col + "#"]]
        elif col == "ward_id":
            per = provinces(vocab, None)
            out["province"] = np.append(per, "")[out[col + "#"]].astype(object)
            if "province" in frame:
                known = _text(frame["province"])[0]
                out["province"] = np.where(known != "", known, out["province"]).astype(object)

    if "name" in fields:
        text("name_key")
    birth = pd.to_datetime(frame["birth_date"]).to_numpy(dtype="datetime64[D]")
    out["birth_date"] = birth
    out["birth_month"], out["birth_day"] = month_day(birth)
    if "birth_precision" in frame:
        out["birth_precision"] = _text(frame["birth_precision"])[0]
    else:
        out["birth_precision"] = np.where(frame["birth_date"].notna(), "day", "").astype(object)
    out["birth_year"] = pd.to_numeric(frame["birth_year"], errors="coerce").to_numpy(dtype=float)
    if "sex" in fields:
        out["sex"] = _text(frame["sex"])[0] if "sex" in frame else np.full(n, "", dtype=object)
    if "id" in fields:
        text("id_number")
    if "phone" in fields:
        text("phone")
    if "place" in fields or "name" in fields:
        point = frame["point_id"] if "point_id" in frame else pd.Series(pd.NA, index=frame.index)
        out["point_id"] = pd.to_numeric(point, errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
        text("ward_id")
    return out


def _text(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A text column as an object array ('' for missing) holding one str object per distinct value
    (cheaper than converting Arrow strings row by row), its row codes into the distinct values (−1
    missing) and those values."""
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    vals = np.asarray(pd.Series(uniq, dtype=object).astype(str), dtype=object)
    return np.append(vals, "")[codes], codes.astype(np.int32), vals


def provinces(ward_ids: np.ndarray, known: pd.Series | None = None) -> np.ndarray:
    """The province of each ward id ('' when unknown): `known` where given, else the GSO code of a
    shipped geography's ward, else the `pNN` prefix of a simulated country's ward (`risk.synth.country`).
    A full relink scopes name keys by it and a partitioned one (`risk.link.partition`) splits by it."""
    code, uniq = pd.factorize(pd.Series(np.asarray(ward_ids, dtype=object)), use_na_sentinel=True)
    per = pd.Series(province_codes(np.asarray(uniq, dtype=object)), dtype=object)
    prefix = pd.Series(np.asarray(uniq, dtype=object)).astype("string").str.extract(r"^(p\d+)/", expand=False)
    per = per.where(per.notna(), prefix.astype(object)).fillna("").astype(str).to_numpy(dtype=object)
    out = np.where(code >= 0, per[np.maximum(code, 0)] if len(per) else "", "").astype(object)
    if known is not None:
        k = pd.Series(np.asarray(known, dtype=object)).fillna("").astype(str).to_numpy(dtype=object)
        out = np.where(k != "", k, out).astype(object)
    return out


def _keys(a: dict[str, np.ndarray], by_province: bool = False) -> dict[str, np.ndarray]:
    """Blocking keys ('' = no key). `by_province`: the name keys hold within a province only (see
    `candidates`); the identity number, phone and address point block across the country."""
    n = len(a["name_key"])
    year = np.where(np.isnan(a["birth_year"]), -1, a["birth_year"]).astype(np.int64).astype(str)
    has_year = ~np.isnan(a["birth_year"])
    name = a["name_key"]
    dob = np.where(a["birth_precision"] == "day", a["birth_date"].astype(str), "")
    out = {
        "id": a["id_number"],
        "phone": a["phone"],
        "point": np.where(a["point_id"] >= 0, a["point_id"].astype(str), ""),
        "name_year": np.where((name != "") & has_year, name + "|" + year, ""),
        "fg_dob": np.where((a["given"] != "") & (dob != ""), a["family"] + "|" + a["given"] + "|" + dob, ""),
        "name_ward": np.where((name != "") & (a["ward_id"] != ""), name + "|" + a["ward_id"], ""),
    }
    if by_province:
        prov = a["province"]
        for k in ("name_year", "fg_dob", "name_ward"):
            out[k] = np.where((out[k] != "") & (prov != ""), out[k] + "|" + prov, "")
    return {k: np.asarray(v, dtype=object) if len(v) == n else v for k, v in out.items()}


def provinces_of(*frames: dict[str, np.ndarray]) -> set[str]:
    return {p for a in frames for p in pd.unique(a["province"]).tolist() if p}


def candidates(
    recs: dict[str, np.ndarray],
    people: dict[str, np.ndarray],
    extra_person_ids: pd.DataFrame | None = None,
    *,
    scoped: bool | None = None,
    blocked: dict[str, np.ndarray] | None = None,
    codes: Codes | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(record index, person index) pairs sharing at least one blocking key, without repeats.

    With persons of more than one province, the name keys are scoped by province: names and birth dates
    repeat across a country, so national name blocks would grow with it (and hit `MAX_BLOCK`, blocking
    nothing); scoped, a record's candidates stay as many whatever the number of provinces, and pairs grow
    linearly with records (`benchmarks/blocking.py`). A record in another province than its person is
    still found by ID, phone or address point; one without a province gets no name candidates then. With
    one province (a city) the keys are exactly the unscoped ones.

    A partitioned relink (`risk.link.partition`) gives `scoped` (decided for the whole country) and
    `blocked`: per key, values more than `MAX_BLOCK` persons of the country share, which block nothing
    even where the partition's own persons are fewer.

    The keys are those of `_keys`, packed as integers from the shared codes (`encode`)."""
    if scoped is None:
        scoped = len(provinces_of(recs, people)) > 1
    if codes is None:
        codes = encode(recs, people)
    rk, pk = _int_keys(recs, people, codes, scoped)
    n_p = len(people["name_key"])
    text_keys: dict[str, np.ndarray] | None = None
    jobs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for key in rk:
        pkey = pk[key]
        pidx = np.arange(n_p, dtype=np.int64)
        if key == "id" and extra_person_ids is not None and len(extra_person_ids):
            extra = extra_person_ids["id_number"].fillna("").astype(str).to_numpy(dtype=object)
            code = pd.Index(codes.ids).get_indexer(extra).astype(np.int64)
            code[extra == ""] = -1
            pkey = np.concatenate([pkey, code])
            pidx = np.concatenate([pidx, extra_person_ids["person_idx"].to_numpy(np.int64)])
        pv = pkey >= 0
        if blocked is not None and key in blocked and len(blocked[key]):
            text_keys = text_keys or _keys(people, scoped)
            text = np.asarray(text_keys[key], dtype=object)
            if len(pkey) > n_p:
                text = np.concatenate([text, extra_person_ids["id_number"].to_numpy(dtype=object)])
            pv &= ~pd.Series(text).isin(blocked[key]).to_numpy()
        rkey = rk[key]
        rv = rkey >= 0
        jobs.append((pkey[pv], pidx[pv], rkey[rv], np.flatnonzero(rv)))
    # one key per task on the link's threads: integer sorts and searches, mostly without the GIL
    threads = min(link_settings().workers, len(jobs))
    if threads > 1 and len(recs["name_key"]) >= 100_000:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda j: _block_pairs(*j, n_p), jobs))
            # the codes below and from the middle record on, sorted and deduplicated on two threads: the
            # halves put together are the whole (each part comes sorted, by record then person: runs)
            cut = (len(recs["name_key"]) // 2) * n_p
            halves = pool.map(lambda lo: _sorted_unique(_runs(parts, cut, lo), True), (True, False))
            code = np.concatenate(list(halves))
    else:
        parts = [_block_pairs(*j, n_p) for j in jobs]
        code = _sorted_unique(np.concatenate(parts), True) if parts else np.zeros(0, np.int64)
    return code // n_p, code % n_p


def _runs(parts: list[np.ndarray], cut: int, low: bool) -> np.ndarray:
    """The codes of `parts` below `cut` (`low`) or from it on, concatenated (sorted parts stay runs)."""
    return np.concatenate([p[p < cut] if low else p[p >= cut] for p in parts] or [np.zeros(0, np.int64)])


def _int_keys(
    recs: dict[str, np.ndarray], people: dict[str, np.ndarray], codes: Codes, by_province: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`_keys` of records and persons as int64 (−1 = no key; equal ⇔ equal text keys), from the codes
    and the numbers: no text is built or hashed per record."""
    r, p = codes.r, codes.p
    rk: dict[str, np.ndarray] = {}
    pk: dict[str, np.ndarray] = {}

    def year(a: dict[str, np.ndarray]) -> np.ndarray:
        return np.where(np.isnan(a["birth_year"]), -1, a["birth_year"]).astype(np.int64)

    def day(a: dict[str, np.ndarray]) -> np.ndarray:
        return a["birth_date"].astype("datetime64[D]").view(np.int64)  # NaT: one value, as its text

    spec = {
        "id": ((r["id_number"] >= 0, p["id_number"] >= 0), [(r["id_number"], p["id_number"])]),
        "phone": ((r["phone"] >= 0, p["phone"] >= 0), [(r["phone"], p["phone"])]),
        "point": ((recs["point_id"] >= 0, people["point_id"] >= 0), [(recs["point_id"], people["point_id"])]),
        "name_year": (
            (
                (r["name_key"] >= 0) & ~np.isnan(recs["birth_year"]),
                (p["name_key"] >= 0) & ~np.isnan(people["birth_year"]),
            ),
            [(r["name_key"], p["name_key"]), (year(recs), year(people))],
        ),
        "fg_dob": (
            ((r["given"] >= 0) & r["day"], (p["given"] >= 0) & p["day"]),
            [(r["family"], p["family"]), (r["given"], p["given"]), (day(recs), day(people))],
        ),
        "name_ward": (
            ((r["name_key"] >= 0) & (r["ward_id"] >= 0), (p["name_key"] >= 0) & (p["ward_id"] >= 0)),
            [(r["name_key"], p["name_key"]), (r["ward_id"], p["ward_id"])],
        ),
    }
    for key, ((rv, pv), parts) in spec.items():
        if by_province and key in ("name_year", "fg_dob", "name_ward"):
            rv, pv = rv & (r["province"] >= 0), pv & (p["province"] >= 0)
            parts = [*parts, (r["province"], p["province"])]
        a, b = (
            _pack(parts) if len(parts) > 1 else (parts[0][0].astype(np.int64), parts[0][1].astype(np.int64))
        )
        rk[key] = np.where(rv, a, -1)
        pk[key] = np.where(pv, b, -1)
    return rk, pk


def _pack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One non-negative int64 per row of each side from its integer components, equal ⇔ every
    component equal (each component densely coded over both sides, then mixed in)."""
    n = len(parts[0][0])
    kr = np.zeros(n, dtype=np.int64)
    kp = np.zeros(len(parts[0][1]), dtype=np.int64)
    span = 1
    for a, b in parts:
        code, uniq = pd.factorize(np.concatenate([np.asarray(a, np.int64), np.asarray(b, np.int64)]))
        k = max(len(uniq), 1)
        if span * k >= 2**62:  # re-code what is packed so far densely before mixing in more
            dense, u = pd.factorize(np.concatenate([kr, kp]))
            kr, kp, span = dense[:n].astype(np.int64), dense[n:].astype(np.int64), max(len(u), 1)
        kr = kr * k + code[:n]
        kp = kp * k + code[n:]
        span *= k
    return kr, kp


def _sorted_unique(a: np.ndarray, runs: bool = False) -> np.ndarray:
    """`np.unique` of int64 codes by sorting (numpy 2's hash-based unique is several times slower here).
    `runs`: `a` is a few sorted runs put together, which a merge sort (timsort) sorts fastest."""
    a = np.sort(a, kind="stable" if runs else None)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def _block_pairs(
    pkeys: np.ndarray, pidx: np.ndarray, rkeys: np.ndarray, ridx: np.ndarray, n_p: int
) -> np.ndarray:
    """Pair codes (record × n_p + person) of records and persons sharing a key, persons deduplicated
    per key and keys held by more than `MAX_BLOCK` persons dropped. Keys are hashed once to integer
    codes; the join is a sort and a range expansion in numpy (no string merge)."""
    if not len(pkeys) or not len(rkeys):
        return np.zeros(0, np.int64)
    codes, uniq = pd.factorize(np.concatenate([pkeys, rkeys]))
    pc, rc = codes[: len(pkeys)].astype(np.int64), codes[len(pkeys) :].astype(np.int64)
    pidx, ridx = pidx[pc >= 0], ridx[rc >= 0]  # a missing value (None) is no key
    pc, rc = pc[pc >= 0], rc[rc >= 0]
    pair = _sorted_unique(pc * n_p + pidx)  # by key code, then person
    pc_u, p_u = pair // n_p, pair % n_p
    size = np.bincount(pc_u, minlength=len(uniq))
    keep = size[pc_u] <= MAX_BLOCK
    pc_u, p_u = pc_u[keep], p_u[keep]
    start = np.searchsorted(pc_u, rc, "left")
    count = np.searchsorted(pc_u, rc, "right") - start
    total = int(count.sum())
    if not total:
        return np.zeros(0, np.int64)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(ridx.astype(np.int64), count) * n_p + p_u[np.repeat(start, count) + offset]


def _take(a: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in a.items()}


def id_hash(ids: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random order of ids (uint64): the random pairs' sample is the ids first in it."""
    return pd.util.hash_array(np.asarray(ids, dtype=np.int64))


def sample_first(
    a: dict[str, np.ndarray], ids: np.ndarray, n: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The (at most) n rows whose ids come first in `id_hash` order, in that order, with their ids: the
    same rows whatever the order or partition the rows come from (partitions' samples merge by this)."""
    order = _first_rows(ids, n)
    return _take(a, order), np.asarray(ids, dtype=np.int64)[order]


def random_levels(
    recs: dict[str, np.ndarray],
    people: dict[str, np.ndarray],
    n: int,
    seed: int = 7,
    rec_ids: np.ndarray | None = None,
    person_ids: np.ndarray | None = None,
    codes: Codes | None = None,
) -> dict[str, np.ndarray]:
    """Comparison levels of n random record–person pairs (for u). With ids, the records and persons are
    first reduced to those first in `id_hash` order (at most n of each), so the pairs do not depend on
    the rows' order: a partitioned relink draws the same pairs from its partitions' samples."""
    r_rows = np.arange(len(recs["name_key"]), dtype=np.int64)
    p_rows = np.arange(len(people["name_key"]), dtype=np.int64)
    if rec_ids is not None:
        r_rows = _first_rows(rec_ids, n)
    if person_ids is not None:
        p_rows = _first_rows(person_ids, n)
    rng = np.random.default_rng(seed)
    ri = rng.integers(0, len(r_rows), n)
    pi = rng.integers(0, len(p_rows), n)
    return compare_pairs(recs, people, r_rows[ri], p_rows[pi], codes=codes)


def _first_rows(ids: np.ndarray, n: int) -> np.ndarray:
    """Rows of the (at most) n ids first in `id_hash` order, in that order (`sample_first`)."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.lexsort((ids, id_hash(ids)))[:n]


def eligible(lv: dict[str, np.ndarray]) -> np.ndarray:
    """Pairs whose identity is corroborated beyond the name (see the module docstring)."""
    name_close = (lv["name"] >= 0) & (lv["name"] <= 2)
    dob_ok = (lv["dob"] >= 0) & (lv["dob"] <= 3)
    id_exact = lv["id"] == 0
    id_typo = lv["id"] == 1
    third = ((lv["place"] >= 0) & (lv["place"] <= 1)) | (lv["phone"] == 0) | id_exact | id_typo
    # A record whose birth date or name was dropped at ingest (impossible, a formula) or never given:
    # the same name (or birth date) with the phone AND the address point AND no conflicting sex or ID,
    # never one signal alone (household members share phone and address, not name and birth date).
    same_home = (lv["phone"] == 0) & (lv["place"] == 0) & (lv["sex"] != 1) & (lv["id"] != 2)
    no_dob = (lv["dob"] == -1) & (lv["name"] >= 0) & (lv["name"] <= 1) & same_home
    no_name = (lv["name"] == -1) & (lv["dob"] == 0) & (lv["sex"] == 0) & same_home
    return (
        (id_exact & (name_close | dob_ok))
        | (id_typo & name_close & dob_ok)
        | (name_close & dob_ok & third & (lv["id"] != 2))
        | no_dob
        | no_name
    )


@dataclass
class Scored:
    """Candidate pairs with their levels, weights and probabilities, plus each record's decision."""

    rec: np.ndarray
    person: np.ndarray
    levels: dict[str, np.ndarray]
    weight: np.ndarray
    probability: np.ndarray
    ok: np.ndarray  # eligible


@dataclass
class Decision:
    linked_rec: np.ndarray
    linked_person: np.ndarray
    linked_weight: np.ndarray
    linked_probability: np.ndarray
    linked_method: np.ndarray
    review: pd.DataFrame  # rec, person, weight, probability, rank
    unmatched: np.ndarray  # record indices with no eligible candidate worth a review


def score(
    recs: dict[str, np.ndarray],
    people: dict[str, np.ndarray],
    model: Model | None = None,
    *,
    extra_person_ids: pd.DataFrame | None = None,
    person_names: pd.Series | None = None,
    rec_ids: np.ndarray | None = None,
    person_ids: np.ndarray | None = None,
    codes: Codes | None = None,
) -> tuple[Scored, Model]:
    if codes is None:
        codes = encode(recs, people)
    ri, pi = candidates(recs, people, extra_person_ids, codes=codes)
    lv = compare_pairs(recs, people, ri, pi, codes=codes)
    if model is None:
        rand = random_levels(recs, people, RANDOM_PAIRS, rec_ids=rec_ids, person_ids=person_ids, codes=codes)
        names = person_names if person_names is not None else pd.Series(people["name_key"])
        model = estimate_from(anchor_counts(lv), rand, name_counts(names))
        model.prior = prior(len(ri), len(_sorted_unique(ri)))
    return scored_with(model, ri, pi, lv, recs, codes), model


def prior(pairs: int, records_with_pairs: int) -> float:
    """λ: one match among a record's candidates."""
    per_record = pairs / max(records_with_pairs, 1)
    return float(min(0.5, 1.0 / max(per_record, 1.0)))


def scored_with(
    model: Model,
    ri: np.ndarray,
    pi: np.ndarray,
    lv: dict[str, np.ndarray],
    recs: dict[str, np.ndarray],
    codes: Codes | None = None,
) -> Scored:
    if codes is None:
        w = model.weights(lv, recs["name_key"][ri])
    else:  # the names' frequencies looked up once per distinct name, not once per pair
        share = model.name_shares(codes.names)
        code = codes.r["name_key"][ri]
        w = model.weights(lv, shares=np.where(code >= 0, share[np.maximum(code, 0)], np.nan))
    # An exact ID that is a CCCD carries more than a generic "exact": it names one person.
    return Scored(ri, pi, lv, w, model.probability(w), eligible(lv))


def decide(s: Scored, n_records: int, person_ids: np.ndarray | None = None) -> Decision:
    """Best eligible candidate per record; link, review or unmatched (see the module docstring).
    Candidates of equal weight are ranked by `person_ids` when given (not by the persons' row order)."""
    # only eligible candidates count below: sort those alone (a stable sort keeps their order)
    el = np.flatnonzero(s.ok)
    rec_e, w_e = s.rec[el], s.weight[el]
    keys = (-w_e, rec_e) if person_ids is None else (person_ids[s.person[el]], -w_e, rec_e)
    order = el[np.lexsort(keys)]
    rec, per, w, p, ok = s.rec[order], s.person[order], s.weight[order], s.probability[order], s.ok[order]
    idlv = s.levels["id"][order]
    # best eligible per record
    e = np.flatnonzero(ok)
    first_e = e[np.r_[True, rec[e][1:] != rec[e][:-1]]] if len(e) else e
    # runner-up: the best *other* candidate that is eligible (an ineligible one cannot be confused)
    second_w = np.full(len(first_e), -np.inf)
    if len(e):
        nxt = e[np.r_[rec[e][1:] == rec[e][:-1], False]]  # eligible entries followed by same record
        # position of the second eligible per record = element after the first within e
        pos = np.searchsorted(e, first_e)
        has2 = (pos + 1 < len(e)) & (rec[e[np.minimum(pos + 1, len(e) - 1)]] == rec[first_e])
        second_w[has2] = w[e[pos[has2] + 1]]
        del nxt
    best_w, best_p = w[first_e], p[first_e]
    clear = (best_p >= LINK_P) & (best_w - second_w >= MARGIN)
    link = first_e[clear]
    method = np.where(idlv[link] == 0, "id", "probabilistic").astype(object)
    unsure = first_e[~clear & (best_p >= REVIEW_P)]
    # review: the record's top three eligible candidates
    rv_recs = rec[unsure]
    in_rev = np.isin(rec, rv_recs) & ok
    ridx = np.flatnonzero(in_rev)
    rank = np.zeros(len(ridx), dtype=np.int64)
    if len(ridx):
        starts = np.r_[True, rec[ridx][1:] != rec[ridx][:-1]]
        grp = np.cumsum(starts) - 1
        first_pos = np.flatnonzero(starts)
        rank = np.arange(len(ridx)) - first_pos[grp]
    keep = rank < 3
    review = pd.DataFrame(
        {
            "rec": rec[ridx][keep],
            "person": per[ridx][keep],
            "weight": w[ridx][keep],
            "probability": p[ridx][keep],
            "rank": rank[keep] + 1,
        }
    )
    decided = np.zeros(n_records, dtype=bool)
    decided[rec[link]] = True
    decided[rv_recs] = True
    return Decision(
        linked_rec=rec[link],
        linked_person=per[link],
        linked_weight=w[link],
        linked_probability=p[link],
        linked_method=method,
        review=review,
        unmatched=np.flatnonzero(~decided),
    )


__all__ = ["ATTRS", "FIELDS", "Decision", "Scored", "candidates", "decide", "prepare", "score"]
