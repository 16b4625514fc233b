"""Place record addresses on the address-point registry during ingest.

This is the ingest side of geocoding. Most addresses in feeds are the registry's own normal form, or it
with diacritics dropped or the usual abbreviations (`P.`, `KP3`, `Đ.`, `TP.HCM`): those are found by a
dictionary lookup on a canonical key (folded, abbreviations expanded, the city dropped) that both sides
share, kept only where the key names one registry point. Everything else (old ward names, missing
wards, misspelt streets) goes to `geo.geocode.Geocoder` with the records' dates, so old ward names
resolve through the geography of their time. Work is per distinct address and cached across files.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.geocode import Geocoder, load_registry
from risk.store import Store

PREMATCH_TIER = "exact"
PREMATCH_CONFIDENCE = np.float32(0.99)
PREMATCH_CACHE = 2_000_000  # distinct address texts whose pre-match is kept
OUT_COLUMNS = ("point_id", "ward_id", "geocode_tier", "geocode_confidence", "geocode_flags")

# Arrow (RE2) rewrites on the folded text, in order: one pass over the column each.
_CANON = (
    (r"[^a-z0-9,./ ]", ""),  # after folding: anything else is noise for a key
    # from here on the only white space is " ": runs of it become one, commas lose the spaces around them
    # (written to match only where something changes: a rewrite per match is what costs)
    (r" {2,}", " "),
    (r" +, *|, +", ","),
    # the city at the end, in any spelling, is dropped
    (r",(?:thanh pho ho chi minh|tp\.? ?ho chi minh|tp\.? ?hcm|tphcm|hcm|sai gon|sg)$", ""),
    # street prefix after the house number: "12 Đ. Lê Lợi", "12 Đường Lê Lợi" → "12 le loi"
    (r"^(\S+) (?:d\. ?|duong )", "\\1 "),
    (r"^(\S+) ql ?", "\\1 quoc lo "),
    (r"^(\S+) tl ?", "\\1 tinh lo "),
    (r"^(\S+) hl ?", "\\1 huong lo "),
    (r"^(\S+) dl ", "\\1 dai lo "),
    # admin parts
    (r",(?:p\.|ph\.|phuong) ?", ",phuong "),
    (r",f(\d+)(,|$)", ",phuong \\1\\2"),
    (r",(?:x\.|xa) ?", ",xa "),
    (r",x ([^0-9])", ",xa \\1"),
    (r",(?:tt\.|tt |thi tran)", ",thi tran "),
    (r",(?:dk\.?|d\.k|dac khu) ?", ",dac khu "),
    (r",(?:kp|khu pho) ?\.? ?(\d+)(,|$)", ",khu pho \\1\\2"),
    (r",ap ?\.? ?(\d+)(,|$)", ",ap \\1\\2"),
    (r" {2,}", " "),
    (r" ?, ?", "|"),
)


def canonical_keys(texts: pa.Array | pd.Series) -> pa.Array:
    """Keys two spellings of one address share: folded (no diacritics, lower case), abbreviations
    expanded, no city part. Vectorised in Arrow over the whole column."""
    arr = (
        texts
        if isinstance(texts, pa.Array)
        else pa.array(pd.Series(texts).fillna("").astype(str).to_numpy(dtype=object), type=pa.string())
    )
    s = pc.replace_substring_regex(arr, "[ĐđÐð]", "d")
    s = pc.utf8_normalize(s, "NFKD")
    s = pc.replace_substring_regex(s, "[\\x{0300}-\\x{036f}]+", "")
    s = pc.utf8_trim_whitespace(pc.utf8_lower(s))
    for pattern, repl in _CANON:
        s = pc.replace_substring_regex(s, pattern, repl)
    return pc.utf8_trim(s, "| ")


def canonical_key(text: str) -> str:
    """`canonical_keys` of one address."""
    return str(canonical_keys(pa.array([text or ""], type=pa.string()))[0])


class RegistryPlacer:
    """Callable placer for `ingest_file`: addresses (and dates) → point, ward, tier, confidence, flags."""

    def __init__(self, geocoder: Geocoder | None, registry: pd.DataFrame | None = None) -> None:
        self.geocoder = geocoder
        # pre-matches are registry rows (-1: the key names no point, or several)
        self._prematched: dict[str, int] = {}  # cache: distinct text → row
        self._row_of_key: dict[str, int] = {}  # canonical key naming one point → its row
        # the registry's own address texts that pre-match: a feed repeating the normal form exactly (the
        # commonest spelling) needs no key computed
        self._by_address: dict[str, int] = {}
        self._pid = np.empty(0, dtype=np.int64)
        self._ward = np.empty(0, dtype=object)
        if registry is not None and len(registry) and "address" in registry:
            keys = pd.Series(canonical_keys(registry["address"]).to_numpy(zero_copy_only=False), dtype=object)
            unique = ~keys.duplicated(keep=False).to_numpy() & (keys != "").to_numpy()
            rows = np.flatnonzero(unique)
            self._pid = registry["point_id"].to_numpy()[rows].astype(np.int64)
            self._ward = registry["ward_id"].astype(str).to_numpy(dtype=object)[rows]
            self._row_of_key = dict(
                zip(keys.to_numpy(dtype=object)[rows].tolist(), range(len(rows)), strict=True)
            )
            address = registry["address"].to_numpy(dtype=object)[rows].tolist()
            self._by_address = {a: k for k, a in enumerate(address) if isinstance(a, str)}

    def _prematch(self, texts: np.ndarray) -> np.ndarray:
        """The registry row each distinct text's canonical key names (-1: none or several); cached across
        files, since weekly files repeat most addresses. Lookups are C-level `map`s over the texts."""
        m = len(texts)
        out = np.fromiter(map(self._by_address.get, texts, repeat(-2)), dtype=np.int64, count=m)
        todo = np.flatnonzero(out == -2)
        if len(todo):
            cache = self._prematched
            sub = texts[todo]
            got = np.fromiter(map(cache.get, sub, repeat(-2)), dtype=np.int64, count=len(sub))
            out[todo] = got
            new = got == -2
            if new.any():
                fresh = sub[new].tolist()
                if len(cache) + len(fresh) > PREMATCH_CACHE:
                    cache.clear()
                keys = canonical_keys(pa.array(fresh, type=pa.string())).to_numpy(zero_copy_only=False)
                rows = list(map(self._row_of_key.get, keys, repeat(-1)))
                cache.update(zip(fresh, rows, strict=True))
                out[todo[new]] = rows
        return out

    @classmethod
    def from_store(cls, store: Store, *, workers: int = 1) -> RegistryPlacer:
        registry = load_registry(store)
        if not len(registry):
            return cls(None)
        return cls(Geocoder(registry, workers=workers), registry)

    def __call__(self, addresses: pd.Series, dates: pd.Series | None = None) -> pd.DataFrame:
        n = len(addresses)
        point = np.full(n, -1, dtype=np.int64)
        ward = np.full(n, None, dtype=object)
        tier = np.full(n, "unplaced", dtype=object)
        conf = np.zeros(n, dtype=np.float32)
        flags = np.full(n, "", dtype=object)
        if self.geocoder is not None and n:
            # once per distinct text: within a file nearly every row is distinct, but files repeat them
            codes, uniq = pd.factorize(addresses.to_numpy(dtype=object), use_na_sentinel=True)
            texts = np.asarray(uniq, dtype=object)
            odd = ~np.fromiter(map(isinstance, texts, repeat(str)), dtype=bool, count=len(texts))
            if odd.any():
                texts[odd] = [str(t) for t in texts[odd]]
            m = len(texts)
            u_row = np.full(m + 1, -1, dtype=np.int64)  # the last slot stands for missing values
            u_row[:m] = self._prematch(texts)
            u_geo = np.zeros(m + 1, dtype=bool)  # to the geocoder: neither pre-matched nor empty
            u_geo[:m] = (u_row[:m] < 0) & (texts != "")
            codes = np.where(codes < 0, m, codes)
            r = u_row[codes]
            found = r >= 0
            if found.any():
                point[found] = self._pid[r[found]]
                ward[found] = self._ward[r[found]]
                tier[found] = PREMATCH_TIER
                conf[found] = PREMATCH_CONFIDENCE
            rest = u_geo[codes]
            if rest.any():
                text = np.append(texts, "")[codes[rest]]
                d = None if dates is None else dates.reset_index(drop=True)[rest]
                g, res = self.geocoder.locate_distinct(pd.Series(text, dtype=object), d)
                # the five columns of the distinct results (see `geo.geocode.OUTPUT_COLUMNS`), then per row
                point[rest] = np.array([-1 if r[0] is None else r[0] for r in res], dtype=np.int64)[g]
                ward[rest] = np.array([r[1] for r in res], dtype=object)[g]
                tier[rest] = np.array([r[5] for r in res], dtype=object)[g]
                conf[rest] = np.array([r[6] for r in res], dtype=np.float32)[g]
                flags[rest] = np.array([r[8] or "" for r in res], dtype=object)[g]
        return pd.DataFrame(
            {
                "point_id": pd.Series(point, dtype="Int64").where(point >= 0).to_numpy(),
                "ward_id": ward,
                "geocode_tier": tier,
                "geocode_confidence": conf,
                "geocode_flags": flags,
            },
            index=addresses.index,
        )
