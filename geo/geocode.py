"""Tiered geocoder: free-text addresses → address points of the registry, never outside the written ward.

Each address is parsed (`geo.address`), its ward resolved to candidate 2025 wards (`geo.resolve`, through
the crosswalks for old names), and then placed by the first tier that finds it:

1. `exact`: the match key (ward + street + alley + house) is in the registry;
2. `fuzzy`: the street, misspelt, matches one of the ward's streets (rapidfuzz, one `cdist` per ward over
   distinct street names; digits must agree, so `Đường số 7` never becomes `Đường số 17`) and the alley and
   house exist on it;
3. `nearest_number`: the nearest house number on the same street and alley (same side, i.e. parity, first);
4. `group_centroid`: the neighbourhood group written (khu phố / ấp, tổ) or holding the alley;
5. `ward_centroid`: a point inside the ward (its polygon's representative point);
6. `unmatched`.

Candidates come in ranked groups (the resolver's interpretations): a tier takes the best-ranked group in
which it finds anything, and only if that group yields one ward. An old ward split between new wards is
decided by the registry (the house exists in one part only) or left unplaced and flagged with its
candidates, never guessed. Addresses without a ward are placed only where the registry holds the address
in exactly one ward.

Work is per distinct (text, geography) pair, batched and vectorised; results are cached in the instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from geo.address import AddressParts, admin_lexicon, alley_key, house_key, parse, read_house, street_key
from geo.address.parts import ward_part
from geo.gazetteer import DEFAULT_VERSION
from geo.resolve import Resolution, Resolver, _versions_of, default_resolver
from geo.vntext import map_unique

TIERS = ("exact", "fuzzy", "nearest_number", "group_centroid", "ward_centroid", "unmatched")
OUTPUT_COLUMNS = [
    "point_id",
    "ward_id",
    "group_id",
    "lon",
    "lat",
    "tier",
    "confidence",
    "match_key",
    "flags",
    "candidates",
    "normal",
]
PARALLEL_MIN = 20_000  # distinct addresses below which forking workers costs more than it saves
_WORKER: Geocoder | None = None  # the geocoder a forked worker serves


def _locate_chunk(args: tuple[list[str], list[str]]) -> list[tuple]:
    assert _WORKER is not None
    return _WORKER._locate(*args)


# Parser flags worth passing on to the caller (the rest describe how the text was read).
_PARSE_FLAGS = {"formula", "truncated", "bad_encoding", "h_ambiguous", "second_ward", "second_district"}
_DIGITS = re.compile(r"\d+")


def registry_keys(ward_id: pd.Series, house: pd.Series, alley: pd.Series, street: pd.Series) -> np.ndarray:
    """Match keys of registry rows (vectorised over distinct values; same as `match_key_for_point`)."""
    w = map_unique(ward_id.fillna(""), lambda v: ward_part(v or "")).to_numpy(dtype=object)
    rest = _address_keys(house, alley, street)
    return np.array([a + "|" + b for a, b in zip(w, rest, strict=True)], dtype=object)


def _address_keys(house: pd.Series, alley: pd.Series, street: pd.Series) -> np.ndarray:
    sk = map_unique(street.fillna(""), lambda v: street_key(v or "")).to_numpy(dtype=object)
    ak = map_unique(alley.fillna(""), lambda v: alley_key(v or "")).to_numpy(dtype=object)
    hk = map_unique(house.fillna(""), lambda v: house_key(v or "")).to_numpy(dtype=object)
    return np.array([f"{s}|{a}|{h}" for s, a, h in zip(sk, ak, hk, strict=True)], dtype=object)


def prepare_registry(points: pd.DataFrame) -> pd.DataFrame:
    """Address points as the generator writes them (`ward_code`) or as stored (`ward_id`) → the
    `address_points` table: ward ids, match keys, and H3 cells at resolutions 7–11."""
    from geo.h3wards import point_cells

    df = points.copy()
    if "ward_id" not in df.columns:
        df["ward_id"] = [ward_part(c) for c in df["ward_code"].astype(str)]
    for c in ("group_id", "house_number", "alley", "street", "khu_pho", "address"):
        if c not in df.columns:
            df[c] = ""
    df["match_key"] = registry_keys(df["ward_id"], df["house_number"], df["alley"], df["street"])
    cells = point_cells(df["lon"].to_numpy(), df["lat"].to_numpy())
    for c in cells.columns:
        df[c] = cells[c].to_numpy()
    from risk.store.tables import ADDRESS_POINTS

    return df[[c for c in ADDRESS_POINTS.columns if c in df.columns]]


@dataclass
class _Parsed:
    """Distinct addresses being located, as parallel arrays."""

    akey: list[str]
    skey: list[str]
    alley: list[str]
    house: list[str]
    base: list[int | None]
    khu_pho: list[str]
    parts: list[AddressParts]  # for the normal form of results not taken from the registry
    flags: list[list[str]]
    res: list[Resolution]
    allowed: list[set[str] | None]  # wards a second ward named in the text allows (None: no second ward)


class Geocoder:
    """Geocoder over one address-point registry (the `address_points` table).

    `workers` > 1 locates large batches (≥ `PARALLEL_MIN` distinct addresses) in forked processes that
    share the built indexes; keep it at 1 inside servers and other multi-threaded hosts."""

    def __init__(
        self,
        registry: pd.DataFrame,
        *,
        wards: pd.DataFrame | None = None,
        resolver: Resolver | None = None,
        fuzzy_cutoff: float = 88.0,
        cache_size: int = 2_000_000,
        workers: int = 1,
    ) -> None:
        self.resolver = resolver or default_resolver()
        self.workers = max(1, int(workers))
        self.fuzzy_cutoff = fuzzy_cutoff
        self.cache_size = cache_size
        self._cache: dict[tuple[str, str], tuple] = {}
        reg = registry.reset_index(drop=True)
        if "ward_id" not in reg.columns:
            reg = reg.assign(ward_id=[ward_part(c) for c in reg["ward_code"].astype(str)])
        n = len(reg)
        self._n = n
        self._pid = reg["point_id"].to_numpy(dtype=np.int64)
        self._ward = reg["ward_id"].to_numpy(dtype=object)
        self._group = (
            (reg["group_id"] if "group_id" in reg else pd.Series([""] * n)).fillna("").to_numpy(object)
        )
        self._lon = reg["lon"].to_numpy(dtype=float)
        self._lat = reg["lat"].to_numpy(dtype=float)
        self._address = (
            (reg["address"] if "address" in reg else pd.Series([""] * n)).fillna("").to_numpy(object)
        )
        sk = map_unique(reg["street"].fillna(""), lambda v: street_key(v or "")).to_numpy(dtype=object)
        ak = map_unique(reg["alley"].fillna(""), lambda v: alley_key(v or "")).to_numpy(dtype=object)
        hk = map_unique(reg["house_number"].fillna(""), lambda v: house_key(v or "")).to_numpy(dtype=object)
        akey = np.array([f"{s}|{a}|{h}" for s, a, h in zip(sk, ak, hk, strict=True)], dtype=object)
        self._mkey = np.array([w + "|" + k for w, k in zip(self._ward, akey, strict=True)], dtype=object)
        # exact: match key → first row holding it (and how many do)
        codes, uniq = pd.factorize(self._mkey)
        self._key_index = _Positions(uniq)
        first = np.full(len(uniq), -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
        self._key_row = first
        self._row_dup = np.bincount(codes, minlength=len(uniq))[codes] > 1
        self._dup_rows: dict[str, list[int]] = {}
        for r in np.nonzero(self._row_dup)[0].tolist():
            self._dup_rows.setdefault(self._mkey[r], []).append(r)
        # address without ward → rows (for addresses that name no ward)
        acodes, auniq = pd.factorize(akey)
        self._akey_index = _Positions(auniq)
        order = np.argsort(acodes, kind="stable")
        self._akey_order = order
        self._akey_start = np.searchsorted(acodes[order], np.arange(len(auniq) + 1))
        # streets per ward (fuzzy) and street+alley runs (nearest number)
        ws = pd.DataFrame({"w": self._ward, "s": sk, "a": ak})
        self._streets_in_ward: dict[str, np.ndarray] = {
            w: np.array(sorted(set(g)), dtype=object) for w, g in ws.groupby("w", sort=False)["s"]
        }
        self._ward_street = set(zip(self._ward, sk, strict=True))
        self.street_keys = frozenset(sk)
        bases = map_unique(reg["house_number"].fillna(""), lambda v: read_house(v or "").base)
        base = pd.to_numeric(bases, errors="coerce").to_numpy(dtype=float)
        run = np.array([f"{w}|{s}|{a}" for w, s, a in zip(self._ward, sk, ak, strict=True)], dtype=object)
        self._runs = _Runs(run, base, self._lon, self._lat)
        # neighbourhood groups: (ward, khu phố) and group ids → centroid and members
        kp = (reg["khu_pho"] if "khu_pho" in reg else pd.Series([""] * n)).fillna("")
        kpk = map_unique(kp, lambda v: _kp_key(v or "")).to_numpy(dtype=object)
        self._kp_of_row = kpk
        self._kp_centroid = _centroids(
            np.array([f"{w}|{k}" for w, k in zip(self._ward, kpk, strict=True)], dtype=object),
            self._lon,
            self._lat,
            self._group,
        )
        self._run_group = _centroids(run, self._lon, self._lat, self._group)
        self._ward_centroid = _ward_points(wards, self._ward, self._lon, self._lat)
        self.all_wards = tuple(sorted(set(self._ward)))

    # -- public ----------------------------------------------------------------------------------------

    def geocode(self, texts: pd.Series | Iterable[str], dates: pd.Series | None = None) -> pd.DataFrame:
        """Locate each address; one output row per input row (same index). `dates` (the records' dates)
        choose the geography the names are read in."""
        series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
        codes, results = self.locate_distinct(series, dates)
        table = pd.DataFrame.from_records(results, columns=OUTPUT_COLUMNS)
        out = table.iloc[codes].reset_index(drop=True)
        out.index = series.index
        out["point_id"] = out["point_id"].astype("Int64")
        return out

    def locate_distinct(
        self, texts: pd.Series, dates: pd.Series | None = None
    ) -> tuple[np.ndarray, list[tuple]]:
        """`geocode` without the frame: each row's code into the results of the distinct (text, geography)
        pairs, each a tuple in the order of `OUTPUT_COLUMNS` (for callers that need a few columns)."""
        n = len(texts)
        vers = (
            _versions_of(pd.Series(dates).reset_index(drop=True), n)
            if dates is not None
            else np.full(n, "", dtype=object)
        )
        text = texts.to_numpy(dtype=object)
        combo = np.array(
            [f"{v}\x1f{'' if (t is None or t != t) else t}" for t, v in zip(text, vers, strict=True)],
            dtype=object,
        )
        codes, uniq = pd.factorize(combo)
        uniq = uniq.tolist() if hasattr(uniq, "tolist") else list(uniq)
        results: list[tuple | None] = [self._cache.get(u) for u in uniq]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            split = [uniq[i].split("\x1f", 1) for i in todo]
            fresh = self._locate_batch([t for _, t in split], [v for v, _ in split])
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            for i, r in zip(todo, fresh, strict=True):
                results[i] = r
                self._cache[uniq[i]] = r
        return codes, results  # type: ignore[return-value]

    def _locate_batch(self, texts: list[str], versions: list[str]) -> list[tuple]:
        """Locate distinct addresses, in `workers` forked processes when the batch is large."""
        if self.workers <= 1 or len(texts) < PARALLEL_MIN:
            return self._locate(texts, versions)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        global _WORKER
        _WORKER = self  # forked children inherit the built indexes (copy-on-write), nothing is pickled
        step = -(-len(texts) // (self.workers * 4))
        chunks = [(texts[k : k + step], versions[k : k + step]) for k in range(0, len(texts), step)]
        try:
            with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork")) as pool:
                parts = list(pool.map(_locate_chunk, chunks))
        finally:
            _WORKER = None
        return [r for part in parts for r in part]

    def geocode_one(self, text: str, date: object = None) -> dict:
        """One address (for request handlers): plain Python values, None for missing."""
        dates = pd.Series([date]) if date is not None else None
        row = self.geocode(pd.Series([text], dtype=object), dates).iloc[0]
        out = {}
        for k, v in row.items():
            if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        return out

    # -- the tiers -------------------------------------------------------------------------------------

    def _parse(self, texts: list[str], versions: list[str]) -> _Parsed:
        lex = admin_lexicon()
        by_text: dict[str, AddressParts] = {}
        for t in texts:
            if t not in by_text:
                by_text[t] = parse(t, lex, self.street_keys)
        parts = [by_text[t] for t in texts]
        frame = pd.DataFrame(
            {
                "ward": [p.ward for p in parts],
                "ward_type": [p.ward_type for p in parts],
                "district": [p.district for p in parts],
                "district_type": [p.district_type for p in parts],
                "city": [p.city for p in parts],
            }
        )
        res = self.resolver.resolve_frame(frame, versions=versions)
        # a second ward in the text: the address may only be placed where both wards agree
        allowed: list[set[str] | None] = [None] * len(parts)
        second = [i for i, p in enumerate(parts) if p.ward_other]
        if second:
            other = frame.iloc[second].assign(ward=[parts[i].ward_other for i in second], ward_type=None)
            res2 = self.resolver.resolve_frame(other, versions=[versions[i] for i in second])
            for i, r in zip(second, res2, strict=True):
                allowed[i] = {w for g in r.groups for w, _ in g}
        return _Parsed(
            akey=[p.address_key for p in parts],
            skey=[p.street_key for p in parts],
            alley=[alley_key(p.alley) for p in parts],
            house=[house_key(p.house_number) for p in parts],
            base=[p.house_base for p in parts],
            khu_pho=[_kp_key(p.khu_pho) for p in parts],
            parts=parts,
            flags=[[f for f in p.flags if f in _PARSE_FLAGS] for p in parts],
            res=res,
            allowed=allowed,
        )

    def _candidates(self, p: _Parsed) -> list[list[list[str]]]:
        """Per address: ranked groups of candidate wards (only wards the registry holds)."""
        out = []
        have = set(self.all_wards)
        no_ward = [i for i, r in enumerate(p.res) if not r.groups and "no_ward" in r.flags and p.house[i]]
        found = self._akey_index.get_indexer([p.akey[i] for i in no_ward]) if no_ward else []
        where = dict(zip(no_ward, found, strict=True))
        for i, r in enumerate(p.res):
            ok = have if p.allowed[i] is None else have & p.allowed[i]
            groups = [[w for w, _ in g if w in ok] for g in r.groups]
            groups = [g for g in groups if g]
            k = where.get(i, -1)
            if k >= 0:
                # no ward written: the wards where the registry holds this exact address
                rows = self._akey_order[self._akey_start[k] : self._akey_start[k + 1]]
                groups = [sorted(set(self._ward[rows]))]
            out.append(groups)
        return out

    def _locate(self, texts: list[str], versions: list[str]) -> list[tuple]:
        p = self._parse(texts, versions)
        cands = self._candidates(p)
        n = len(texts)
        row = np.full(n, -1, dtype=np.int64)
        ward: list[str | None] = [None] * n
        tier = ["unmatched"] * n
        conf = np.zeros(n)
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        group: list[str | None] = [None] * n
        flags = [list(f) for f in p.flags]
        cand_text = [""] * n
        for i, r in enumerate(p.res):
            flags[i].extend(r.flags)
            if r.contradicted:
                cand_text[i] = ";".join(r.contradicted)  # where the ward's name alone would lead
            if p.allowed[i] is not None and not cands[i]:
                flags[i].append("ward_contradiction")  # two wards named, no ward is both

        # 1. exact, vectorised over all (address, candidate ward) pairs
        decided = self._exact(p, cands, n)
        # "Hẻm 130/75/5" with no other house number: the chain's last number may be the house
        chains = [
            i for i in range(n) if i not in decided and not p.house[i] and "/" in p.alley[i] and p.skey[i]
        ]
        if chains:
            for i in chains:
                p.alley[i], p.house[i] = p.alley[i].rsplit("/", 1)
                p.akey[i] = f"{p.skey[i]}|{p.alley[i]}|{p.house[i]}"
                p.base[i] = read_house(p.house[i]).base
                flags[i].append("house_from_alley")
            decided.update({i: d for i, d in self._exact(p, cands, n, only=chains).items()})
        for i, (w, reg_row, nwards) in decided.items():
            if nwards > 1:
                # the house exists in several candidate wards: the khu phố / ấp written may tell them apart
                one = self._by_khu_pho(i, w.split(";"), p)
                if one is None:
                    flags[i].append("ambiguous_split" if _split_like(p.res[i]) else "ambiguous_address")
                    cand_text[i] = w
                    continue
                w, reg_row = one
                flags[i].append("khu_pho_decides")
            row[i] = reg_row
            ward[i] = w
            tier[i] = "exact"
            _flags_of_match(flags[i], p.res[i], cands[i], w)
            conf[i] = _exact_conf(p.res[i], cands[i])
            if len(cands[i][0]) > 1 or "no_ward" in p.res[i].flags:
                flags[i].append("ward_by_registry")
            if self._row_dup[reg_row]:
                # the registry holds this key twice in the ward: the khu phố written may tell which
                same = [r for r in self._dup_rows[self._mkey[reg_row]] if self._kp_of_row[r] == p.khu_pho[i]]
                if len(same) == 1 and p.khu_pho[i]:
                    row[i] = same[0]
                    flags[i].append("khu_pho_decides")
                else:
                    flags[i].append("duplicate_key")
                    conf[i] -= 0.1
        done = np.array([tier[i] != "unmatched" or bool(cand_text[i]) for i in range(n)])

        # 2. fuzzy street within the candidate wards
        todo = [i for i in range(n) if not done[i] and p.house[i] and p.skey[i] and cands[i]]
        fuzzy_street = self._fuzzy_streets(todo, p, cands)
        fz_i, fz_rank, fz_w, fz_row, fz_score = [], [], [], [], []
        fz_items = list(fuzzy_street.items())
        fz_hit = (
            self._key_index.get_indexer(
                [f"{w}|{s}|{p.alley[i]}|{p.house[i]}" for (i, _r, w), (s, _sc) in fz_items]
            )
            if fz_items
            else []
        )
        for ((i, rank, w), (_s, score)), k in zip(fz_items, fz_hit, strict=True):
            if k >= 0:
                fz_i.append(i)
                fz_rank.append(rank)
                fz_w.append(w)
                fz_row.append(self._key_row[k])
                fz_score.append(score)
        score_of = {(i, w): sc for i, w, sc in zip(fz_i, fz_w, fz_score, strict=True)}
        decided = _decide(
            n,
            np.array(fz_i, dtype=np.int64),
            np.array(fz_rank, dtype=np.int64),
            np.array(fz_w, dtype=object),
            np.array(fz_row, dtype=np.int64),
        )
        for i, (w, reg_row, nwards) in decided.items():
            if nwards > 1:
                flags[i].append("ambiguous_split" if _split_like(p.res[i]) else "ambiguous_address")
                cand_text[i] = w
                done[i] = True
                continue
            row[i], ward[i], tier[i] = reg_row, w, "fuzzy"
            _flags_of_match(flags[i], p.res[i], cands[i], w)
            conf[i] = round(0.9 * score_of[(i, w)] / 100.0, 3)
            done[i] = True

        # 3. nearest house number on the same street and alley
        nn_i, nn_rank, nn_w, nn_row, nn_gap = [], [], [], [], []
        for i in range(n):
            if done[i] or p.base[i] is None or not p.skey[i]:
                continue
            for rank, g in enumerate(cands[i]):
                for w in g:
                    s = p.skey[i]
                    if (w, s) not in self._ward_street:
                        s = fuzzy_street.get((i, rank, w), (None, 0))[0]
                        if s is None:
                            continue
                    got = self._runs.nearest(f"{w}|{s}|{p.alley[i]}", int(p.base[i]))
                    if got is not None:
                        nn_i.append(i)
                        nn_rank.append(rank)
                        nn_w.append(w)
                        nn_row.append(got[0])
                        nn_gap.append(got[1])
        gap_of = {(i, w): gp for i, w, gp in zip(nn_i, nn_w, nn_gap, strict=True)}
        # a nearest number is a guess of the house, never of the ward: only where one ward has the street
        wards_with_run: dict[int, set[str]] = {}
        for i, w in zip(nn_i, nn_w, strict=True):
            wards_with_run.setdefault(i, set()).add(w)
        keep = [k for k, i in enumerate(nn_i) if len(wards_with_run[i]) == 1]
        nn_i, nn_rank, nn_w, nn_row = ([x[k] for k in keep] for x in (nn_i, nn_rank, nn_w, nn_row))
        decided = _decide(
            n,
            np.array(nn_i, dtype=np.int64),
            np.array(nn_rank, dtype=np.int64),
            np.array(nn_w, dtype=object),
            np.array(nn_row, dtype=np.int64),
        )
        for i, (w, reg_row, nwards) in decided.items():
            if nwards > 1:
                continue  # the street runs through several candidate wards: leave it to the next tiers
            row[i], ward[i], tier[i] = reg_row, w, "nearest_number"
            _flags_of_match(flags[i], p.res[i], cands[i], w)
            conf[i] = round(max(0.4, 0.75 - min(gap_of[(i, w)], 70) / 200.0), 3)
            done[i] = True

        # 4–5. group or ward centroid, only when the candidates narrow to one ward
        for i in range(n):
            if done[i] or not cands[i]:
                continue
            w = self._one_ward(cands[i], p.skey[i])
            if w is None:
                flags[i].append("ambiguous_split" if _split_like(p.res[i]) else "ambiguous_ward")
                cand_text[i] = ";".join(cands[i][0])
                continue
            got = None
            if p.khu_pho[i]:
                got = self._kp_centroid.get(f"{w}|{p.khu_pho[i]}")
            if got is None and p.skey[i] and p.alley[i]:
                got = self._run_group.get(f"{w}|{p.skey[i]}|{p.alley[i]}")
                if got is not None and not got[2]:
                    got = None  # the alley spans several groups: no single group to place it in
            if got is not None:
                ward[i], tier[i], conf[i] = w, "group_centroid", 0.5
                lon[i], lat[i], group[i] = got[0], got[1], got[2] or None
                continue
            c = self._ward_centroid.get(w)
            if c is not None:
                ward[i], tier[i], conf[i] = w, "ward_centroid", 0.3
                lon[i], lat[i] = c
        # assemble (columns at once; the loop touches Python values only)
        out = []
        placed = row >= 0
        prow = np.where(placed, row, 0)
        lon_l = np.where(placed, self._lon[prow], lon).tolist()
        lat_l = np.where(placed, self._lat[prow], lat).tolist()
        conf_l = np.round(conf, 3).tolist()
        pid_l = self._pid[prow].tolist()
        row_l = row.tolist()
        for i, (r, is_placed) in enumerate(zip(row_l, placed.tolist(), strict=True)):
            if is_placed:
                group[i] = self._group[r] or None
            mk = (
                self._mkey[r]
                if is_placed and tier[i] == "exact"
                else (f"{ward[i]}|{p.akey[i]}" if ward[i] else "")
            )
            normal = self._address[r] if is_placed and tier[i] in ("exact", "fuzzy") else p.parts[i].normal
            out.append(
                (
                    pid_l[i] if is_placed else None,
                    ward[i],
                    group[i],
                    lon_l[i],
                    lat_l[i],
                    tier[i],
                    conf_l[i],
                    mk,
                    ";".join(dict.fromkeys(flags[i])),
                    cand_text[i],
                    normal or p.parts[i].normal,
                )
            )
        return out

    def _by_khu_pho(self, i: int, wards: list[str], p: _Parsed) -> tuple[str, int] | None:
        """Among candidate wards that all hold the address, the one whose point lies in the khu phố / ấp
        the text names (None when the text names none, or not exactly one ward fits)."""
        if not p.khu_pho[i]:
            return None
        fits = []
        for w in wards:
            try:
                k = int(self._key_index.get_loc(f"{w}|{p.akey[i]}"))
            except KeyError:
                continue
            r = int(self._key_row[k])
            if self._kp_of_row[r] == p.khu_pho[i]:
                fits.append((w, r))
        return fits[0] if len(fits) == 1 else None

    def _exact(
        self, p: _Parsed, cands: list[list[list[str]]], n: int, only: list[int] | None = None
    ) -> dict[int, tuple[str, int, int]]:
        """Exact match keys of every (address, candidate ward) pair, best-ranked group first."""
        sub = cands if only is None else [cands[i] if i in set(only) else [] for i in range(n)]
        pair_i, pair_rank, pair_w = _pairs(sub)
        keys = [pair_w[k] + "|" + p.akey[pair_i[k]] for k in range(len(pair_i))]
        hit = self._key_index.get_indexer(keys) if keys else np.empty(0, dtype=np.int64)
        has_house = np.array([bool(p.house[i]) and bool(p.skey[i]) for i in range(n)], dtype=bool)
        ok = hit >= 0
        if len(pair_i):
            ok &= has_house[pair_i]
        return _decide(n, pair_i[ok], pair_rank[ok], pair_w[ok], self._key_row[hit[ok]])

    def _fuzzy_streets(
        self, todo: list[int], p: _Parsed, cands: list[list[list[str]]]
    ) -> dict[tuple[int, int, str], tuple[str, float]]:
        """(address, rank, ward) → (registry street key, score) for streets not found as written."""
        per_ward: dict[str, set[str]] = {}
        pairs = []
        for i in todo:
            for rank, g in enumerate(cands[i]):
                for w in g:
                    if (w, p.skey[i]) in self._ward_street:
                        continue
                    per_ward.setdefault(w, set()).add(p.skey[i])
                    pairs.append((i, rank, w))
        best: dict[tuple[str, str], tuple[str, float]] = {}
        for w, queries in per_ward.items():
            choices = self._streets_in_ward.get(w)
            if choices is None or not len(choices):
                continue
            q = sorted(queries)
            scores = process.cdist(
                q, list(choices), scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff, workers=1
            )
            # digits must agree: "so 7" is not "so 17"
            qd = [_DIGITS.findall(x) for x in q]
            cd = [_DIGITS.findall(x) for x in choices]
            for a in range(len(q)):
                row = scores[a]
                for b in np.argsort(-row):
                    if row[b] < self.fuzzy_cutoff:
                        break
                    if qd[a] == cd[b]:
                        best[(w, q[a])] = (choices[b], float(row[b]))
                        break
        return {(i, rank, w): best[(w, p.skey[i])] for i, rank, w in pairs if (w, p.skey[i]) in best}

    def _one_ward(self, groups: list[list[str]], skey: str) -> str | None:
        """The single ward all interpretations come to, or the one candidate ward (of any interpretation)
        where the written street exists. Ranking between interpretations (the record's date) is a
        preference, not evidence: without the registry's word it decides nothing."""
        every = {w for g in groups for w in g}
        if len(every) == 1:
            return next(iter(every))
        if skey:
            with_street = [w for w in every if (w, skey) in self._ward_street]
            if len(with_street) == 1:
                return with_street[0]
        return None


# ---------------------------------------------------------------------------------------------------------
# helpers


@lru_cache(maxsize=65_536)
def _kp_key(text: str) -> str:
    """`Khu phố 03` / `KP3` / `Ấp 3` → "3" (the number or name without its word)."""
    if not text:
        return ""
    from geo.resolve import key

    k = key(text)
    for word in ("khu pho ", "ap ", "khu "):
        if k.startswith(word):
            return k[len(word) :]
    return k


def _pairs(cands: list[list[list[str]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ii, rr, ww = [], [], []
    for i, groups in enumerate(cands):
        for rank, g in enumerate(groups):
            for w in g:
                ii.append(i)
                rr.append(rank)
                ww.append(w)
    return np.array(ii, dtype=np.int64), np.array(rr, dtype=np.int64), np.array(ww, dtype=object)


def _decide(
    n: int, idx: np.ndarray, rank: np.ndarray, wards: np.ndarray, rows: np.ndarray
) -> dict[int, tuple[str, int, int]]:
    """For each address with hits: (ward, row, 1) when every hit lies in one ward, else (';'-joined wards,
    -1, number of wards). Hits under different interpretations of the ward name are not ranked against
    each other: the registry holding the house in two candidate wards leaves the ward undecided."""
    out: dict[int, tuple[str, int, int]] = {}
    if not len(idx):
        return out
    order = np.lexsort((rank, idx))
    idx, wards, rows = idx[order], wards[order], rows[order]
    start = np.r_[0, np.nonzero(np.diff(idx))[0] + 1]
    end = np.r_[start[1:], len(idx)]
    for a, b in zip(start.tolist(), end.tolist(), strict=True):
        i = int(idx[a])
        ws = set(wards[a:b].tolist())
        if len(ws) == 1:
            out[i] = (str(wards[a]), int(rows[a]), 1)
        else:
            out[i] = (";".join(sorted(ws)), -1, len(ws))
    return out


def _flags_of_match(flags: list[str], r: Resolution, groups: list[list[str]], ward: str) -> None:
    """Once the registry has placed an address in `ward`, its flags describe the interpretation that
    leads there (a 2021 record written with today's names is not an old-ward record)."""
    if not r.group_old or "district_only" in r.flags:
        return
    rank = next((k for k, g in enumerate(groups) if ward in g), None)
    full = next((k for k, g in enumerate(r.groups) if any(w == ward for w, _ in g)), None)
    if rank is None or full is None:
        return
    for f in ("old_ward", "split"):
        if f in flags:
            flags.remove(f)
    if r.group_old[full]:
        flags.append("old_ward")
        if len(r.groups[full]) > 1:
            flags.append("split")


def _split_like(r: Resolution) -> bool:
    return any(f in r.flags for f in ("split", "ambiguous_name", "district_only"))


def _exact_conf(r: Resolution, cands: list[list[str]]) -> float:
    if "no_ward" in r.flags:
        return 0.95  # the registry alone put it in this ward
    if len(cands) and len(cands[0]) > 1:
        return 0.96  # one of several candidate wards, chosen by the registry
    return 0.98 if "old_ward" in r.flags else 1.0


class _Positions:
    """Position of each of a set of distinct keys, by dictionary: the two lookups the geocoder needs
    (`get_indexer`, `get_loc`) as `pd.Index` answers them, at a fraction of the cost per batch."""

    __slots__ = ("_pos",)

    def __init__(self, keys: Iterable[str]) -> None:
        self._pos = {k: i for i, k in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._pos)

    def get_indexer(self, keys: Iterable[str]) -> np.ndarray:
        keys = list(keys)
        return np.fromiter(map(self._pos.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))

    def get_loc(self, key: str) -> int:
        return self._pos[key]


class _Runs:
    """House numbers along each street+alley of each ward, for the nearest-number tier."""

    def __init__(self, run: np.ndarray, base: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        ok = ~np.isnan(base)
        codes, uniq = pd.factorize(run)
        self.index = _Positions(uniq)
        rows = np.nonzero(ok)[0]
        c = codes[rows]
        b = base[rows].astype(np.int64)
        self.by_parity: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for parity in (0, 1):
            sel = (b % 2) == parity
            key = c[sel].astype(np.int64) * (1 << 24) + b[sel]
            order = np.argsort(key, kind="stable")
            self.by_parity.append((key[order], rows[sel][order], b[sel][order]))

    def nearest(self, run: str, base: int) -> tuple[int, int] | None:
        """(registry row, |gap|) of the nearest house number on the run, same parity preferred."""
        try:
            k = int(self.index.get_loc(run))
        except KeyError:
            return None
        best = None
        for parity_pref in (base % 2, 1 - base % 2):
            keys, rows, bases = self.by_parity[parity_pref]
            q = k * (1 << 24) + base
            lo = np.searchsorted(keys, k * (1 << 24), "left")
            hi = np.searchsorted(keys, (k + 1) * (1 << 24), "left")
            if hi <= lo:
                continue
            pos = np.searchsorted(keys, q, "left")
            for j in (pos - 1, pos):
                if lo <= j < hi:
                    gap = abs(int(bases[j]) - base)
                    if best is None or gap < best[1]:
                        best = (int(rows[j]), gap)
            if best is not None:
                return best  # same side found: do not cross the street
        return best


def _centroids(keys: np.ndarray, lon: np.ndarray, lat: np.ndarray, group: np.ndarray) -> dict[str, tuple]:
    """key → (lon, lat, group id if all members share one else "") at the member point nearest the mean
    (a point of the registry, so it lies inside the ward)."""
    df = pd.DataFrame({"k": keys, "lon": lon, "lat": lat, "g": group})
    df = df[~df["k"].str.endswith("|")]
    mean = df.groupby("k", sort=False)[["lon", "lat"]].transform("mean")
    d2 = (df["lon"] - mean["lon"]) ** 2 + (df["lat"] - mean["lat"]) ** 2
    best = d2.groupby(df["k"], sort=False).idxmin()
    ng = df.groupby("k", sort=False)["g"].nunique().reindex(best.index).to_numpy()
    rows = best.to_numpy()
    x = df.loc[rows, "lon"].to_numpy(dtype=float).tolist()
    y = df.loc[rows, "lat"].to_numpy(dtype=float).tolist()
    g = np.where(ng == 1, df.loc[rows, "g"].to_numpy(dtype=object), "").tolist()
    # columns at once, not a scalar lookup per key (a city has hundreds of thousands of alleys)
    return dict(zip(best.index.tolist(), zip(x, y, g, strict=True), strict=True))


def _ward_points(wards: pd.DataFrame | None, ward: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> dict:
    """A point inside each ward: its polygon's representative point, or the registry point nearest the
    mean of its points when no polygons are given."""
    out: dict[str, tuple[float, float]] = {}
    if wards is not None and len(wards):
        ids = wards["unit_id"] if "unit_id" in wards.columns else wards.index
        for uid, geom in zip(ids, wards.geometry, strict=True):
            if geom is not None and not geom.is_empty:
                pt = geom.representative_point()
                out[str(uid)] = (float(pt.x), float(pt.y))
        return out
    for k, (x, y, _g) in _centroids(
        ward.astype(object), lon, lat, np.full(len(ward), "", dtype=object)
    ).items():
        out[k] = (x, y)
    return out


def load_registry(store: object | None = None) -> pd.DataFrame:
    """The `address_points` table from the store (embedded by default)."""
    from risk.store import open_store

    st = store or open_store()
    return st.read_table(  # type: ignore[attr-defined]
        "address_points",
        columns=[
            "point_id",
            "ward_id",
            "group_id",
            "house_number",
            "alley",
            "street",
            "khu_pho",
            "address",
            "match_key",
            "lon",
            "lat",
        ],
    )


def default_wards() -> pd.DataFrame:
    """2025 ward polygons (simplified: enough for centroids) for the ward-centroid tier."""
    from geo.gazetteer import load_gazetteer

    return load_gazetteer(DEFAULT_VERSION, full_detail=False).wards
