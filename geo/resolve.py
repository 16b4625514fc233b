"""Admin names as written (any version, any spelling) → candidate 2025 wards, through the crosswalks.

A written ward ("Phường 7", "P. Bến Nghé", "xa Tan Kien") with its district and the record's date is
matched against every geography riskmap knows: the 2025 wards, the 2021 and 2019 wards (GSO codes and
names) and the pre-merger names listed in the 2025 data (`gazetteer.pre_merger_units`, the only source
for former Bình Dương and Bà Rịa–Vũng Tàu). Each match is an *interpretation* that leads, through the
2019→2021 (official) and 2021→2025 (area overlay) crosswalks, to one or more 2025 wards with the share of
the old unit's area that went to each. Interpretations are scored (district agrees, unit type agrees,
geography in force on the record's date, province agrees) and returned best first.

Nothing here guesses: an old ward split between new wards yields all its targets (`split`), a name that
fits several units yields all of them (`ambiguous_name`). The geocoder decides between candidates with
the address registry (the house exists in only one of them) or flags the record. Codes are never
compared across versions; only unit ids and crosswalk rows are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from geo.address.lexicon import name_tokens
from geo.gazetteer import (
    DEFAULT_VERSION,
    VERSIONS,
    load_crosswalk,
    load_gazetteer,
    pre_merger_units,
    split_type,
    unit_id,
    version_on,
    ward_attributes_2025,
)

PRE_MERGER = "pre-2025"
OLD_VERSIONS = ("hcmc-2021", "hcmc-2019")
_PROVINCES = {
    "TP. Hồ Chí Minh": "hcmc",
    "Bình Dương": "binh duong",
    "Bà Rịa - Vũng Tàu": "ba ria vung tau",
}
_CITY_PROVINCE = {
    "thanh pho ho chi minh": "hcmc",
    "tinh binh duong": "binh duong",
    "tinh ba ria vung tau": "ba ria vung tau",
}
_WARD_TYPES = {"phường", "xã", "thị trấn", "đặc khu"}


_TYPE_WORDS = ("phuong ", "xa ", "thi tran ", "dac khu ", "quan ", "huyen ", "thanh pho ", "thi xa ")


@lru_cache(maxsize=65_536)
def key(name: str) -> str:
    """Folded name key: "Phường 02" and "phuong 2" → "2"; "Bình Hưng Hòa A" → "binh hung hoa a"."""
    k = " ".join(name_tokens(split_type(name)[1]))
    for word in _TYPE_WORDS:
        if k.startswith(word) and len(k) > len(word):
            return k[len(word) :]
    return k


@dataclass(frozen=True)
class Unit:
    """One unit a name can refer to, with the 2025 wards it became."""

    uid: str
    source: str  # geography version, or PRE_MERGER
    level: str  # ward | district
    unit_type: str
    name: str
    district_key: str  # key of its district (2019/2021), the bracketed qualifier (pre-merger), or ""
    province: str
    targets: tuple[tuple[str, float], ...]  # (2025 ward id, share of this unit's area)


@dataclass(frozen=True)
class Candidate:
    """One interpretation of a written ward: the unit matched, its score and its 2025 targets."""

    unit: Unit
    score: float
    district_agrees: bool | None  # None when no district was written or the unit has none


@dataclass(frozen=True)
class Resolution:
    """What a written ward (and district) can be in the 2025 geography.

    `groups` are the candidate 2025 wards of each interpretation tier, best first: the geocoder looks for
    the address in the first group, and only where it is absent in the next. `ward_id` is set when the
    best tier is a single ward. `flags`: `old_ward` (named by a pre-2025 geography), `split` (that old
    unit went to several 2025 wards), `ambiguous_name` (several units carry the name), `no_ward`,
    `unknown_ward`, `district_only`, `ward_contradiction` (no unit of that name lies in the written
    district or province: `groups` is then empty and `contradicted` lists where the name alone leads).
    """

    groups: tuple[tuple[tuple[str, float], ...], ...] = ()
    source_units: tuple[str, ...] = ()
    flags: tuple[str, ...] = field(default_factory=tuple)
    contradicted: tuple[str, ...] = ()  # wards the name alone would lead to, all contradicted
    group_old: tuple[bool, ...] = ()  # per group: reached only through a pre-2025 geography

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(w for w, _ in self.groups[0]) if self.groups else ()

    @property
    def ward_id(self) -> str | None:
        c = self.candidates
        return c[0] if len(c) == 1 else None


class Resolver:
    """Name indexes of all shipped geographies and the crosswalks to the target (2025) geography."""

    def __init__(self, target: str = DEFAULT_VERSION) -> None:
        if target != "hcmc-2025":
            raise ValueError("only the 2025 geography is a resolution target (the crosswalks end there)")
        self.target = target
        self.wards: dict[str, list[Unit]] = {}
        self.districts: dict[str, list[Unit]] = {}
        self._build()
        self.all_wards: tuple[str, ...] = tuple(
            unit_id(target, c) for c in ward_attributes_2025()["ward_code"]
        )
        self._cache: dict[tuple, Resolution] = {}

    # -- indexes ---------------------------------------------------------------------------------------

    def _add(self, index: dict[str, list[Unit]], u: Unit) -> None:
        index.setdefault(key(u.name), []).append(u)

    def _build(self) -> None:
        attrs = ward_attributes_2025()
        for r in attrs.itertuples(index=False):
            uid = unit_id(self.target, r.ward_code)
            self._add(
                self.wards,
                Unit(uid, self.target, "ward", r.unit_type, r.ward_name, "", "", ((uid, 1.0),)),
            )
        for version in OLD_VERSIONS:
            cw = load_crosswalk(version, self.target)
            targets: dict[str, list[tuple[str, float]]] = {}
            people: dict[str, float] = {}
            for f, t, s, p in zip(
                cw["from_unit_id"], cw["to_unit_id"], cw["share_of_from"], cw["population"], strict=True
            ):
                targets.setdefault(f, []).append((t, float(s)))
                people[f] = people.get(f, 0.0) + float(p)
            g = load_gazetteer(version)
            units = g.units
            dist_key = {
                uid: key(n)
                for uid, n, lv in zip(units["unit_id"], units["name"], units["level"], strict=True)
                if lv == "district"
            }
            by_district: dict[str, dict[str, float]] = {}
            for uid, name, level, typ, parent in zip(
                units["unit_id"],
                units["name"],
                units["level"],
                units["unit_type"],
                units["parent_id"],
                strict=True,
            ):
                if level != "ward":
                    continue
                tg = tuple(sorted(targets.get(uid, []), key=lambda x: -x[1]))
                self._add(
                    self.wards, Unit(uid, version, "ward", typ, name, dist_key.get(parent, ""), "hcmc", tg)
                )
                acc = by_district.setdefault(parent, {})
                for w, s in tg:
                    acc[w] = acc.get(w, 0.0) + s * people.get(uid, 0.0)
            for uid, name, level, typ in zip(
                units["unit_id"], units["name"], units["level"], units["unit_type"], strict=True
            ):
                if level != "district":
                    continue
                acc = by_district.get(uid, {})
                total = sum(acc.values()) or 1.0
                tg = tuple(sorted(((w, s / total) for w, s in acc.items()), key=lambda x: -x[1]))
                self._add(self.districts, Unit(uid, version, "district", typ, name, "", "hcmc", tg))
        pm = pre_merger_units()
        groups = pm.groupby(["unit_type", "name", "qualifier"], sort=False)
        for (typ, name, qual), rows in groups:
            codes = list(dict.fromkeys(rows["ward_code_2025"]))
            # No area figures exist for these: each listed 2025 ward gets an equal share.
            tg = tuple((unit_id(self.target, c), 1.0 / len(codes)) for c in codes)
            label = f"{PRE_MERGER}:{typ} {name}" + (f" ({qual})" if qual else "")
            province = _PROVINCES.get(rows["former_province"].iloc[0], "")
            u = Unit(
                label,
                PRE_MERGER,
                "district" if typ == "huyện" else "ward",
                typ,
                name,
                key(qual) if qual else "",
                province,
                tg,
            )
            self._add(self.districts if typ == "huyện" else self.wards, u)

    # -- resolution ------------------------------------------------------------------------------------

    def resolve(
        self,
        ward: str = "",
        district: str = "",
        city: str = "",
        on: dt.date | str | None = None,
        *,
        ward_type: str | None = None,
        district_type: str | None = None,
    ) -> Resolution:
        """Candidate 2025 wards for a written ward/district/city on a date (None: today's geography)."""
        in_force = _version_name(on)
        wt = ward_type if ward_type is not None else split_type(ward)[0]
        dt_ = district_type if district_type is not None else split_type(district)[0]
        ck = (key(ward), wt, key(district), dt_, " ".join(name_tokens(city)), in_force)
        hit = self._cache.get(ck)
        if hit is None:
            hit = self._cache[ck] = self._resolve(*ck)
        return hit

    def _resolve(self, wk: str, wt: str, dk: str, dtype: str, ck: str, in_force: str) -> Resolution:
        province = _CITY_PROVINCE.get(ck, "")
        if not wk:
            if not dk:
                return Resolution((), (), ("no_ward",))
            cands = self._district_candidates(dk, dtype, in_force, province)
            if not cands:
                return Resolution((), (), ("no_ward", "unknown_district"))
            return self._group(cands, ("no_ward", "district_only"))
        units = self.wards.get(wk, [])
        # Old-city names of January 2025 (pre-merger lists) only where 2019/2021 know nothing of the name.
        if any(u.source in OLD_VERSIONS for u in units):
            units = [u for u in units if not (u.source == PRE_MERGER and u.province == "hcmc")]
        as_district = self._district_candidates(wk, "", in_force, province) if not wt and not dk else []
        if not units:
            if as_district:
                # a name written without "Phường"/"Xã" may be an old district ("Gò Vấp", "Bình Thạnh")
                return self._group(as_district, ("district_only", "no_ward"))
            flags = ("unknown_ward",)
            if dk:
                cands = self._district_candidates(dk, dtype, in_force, province)
                if cands:
                    return self._group(cands, (*flags, "district_only"))
            return Resolution((), (), flags)
        cands = []
        for u in units:
            score = 0.0
            agrees: bool | None = None
            if dk and u.district_key:
                agrees = u.district_key == dk
                score += 4.0 if agrees else -4.0
            elif dk and u.source == self.target:
                score -= 0.5  # a district written: the address uses an older geography
            if wt and wt in _WARD_TYPES:
                score += 1.0 if u.unit_type == wt else -0.5
            if u.source == in_force:
                score += 1.0
            if u.source == PRE_MERGER and u.province == "hcmc":
                score -= 1.5
            if province and u.province:
                if u.province != province:
                    agrees = False
                    score -= 3.0
                elif province != "hcmc":
                    score += 2.0
            if not wt and not dk and u.source == self.target:
                score += 0.25  # an unmarked current name
            cands.append(Candidate(u, score, agrees))
        # Never offer a unit the address contradicts (other district or province). When every unit of the
        # name contradicts it, the address contradicts itself: nothing can be placed without guessing.
        if all(c.district_agrees is False for c in cands) and not as_district:
            wards = tuple(sorted({w for c in cands for w, _ in c.unit.targets}))
            return Resolution((), tuple(c.unit.uid for c in cands), ("ward_contradiction",), wards)
        cands = [c for c in cands if c.district_agrees is not False]
        flags: tuple[str, ...] = ()
        if as_district:
            cands += as_district
            if max(c.score for c in as_district) > max(c.score for c in cands if c.unit.level == "ward"):
                flags = ("district_only", "no_ward")
        return self._group(cands, flags)

    def _district_candidates(self, dk: str, dtype: str, in_force: str, province: str) -> list[Candidate]:
        out = []
        for u in self.districts.get(dk, []):
            if province and u.province and u.province != province:
                continue
            score = (1.0 if u.source == in_force else 0.0) + (0.5 if dtype and u.unit_type == dtype else 0.0)
            out.append(Candidate(u, score, None))
        return out

    def _group(self, cands: list[Candidate], flags: tuple[str, ...]) -> Resolution:
        """Interpretations → tiers of candidate wards (same score = same tier), best first."""
        cands = sorted(cands, key=lambda c: -c.score)
        tiers: list[list[Candidate]] = []
        for c in cands:
            if tiers and abs(tiers[-1][0].score - c.score) < 1e-9:
                tiers[-1].append(c)
            else:
                tiers.append([c])
        groups = []
        for tier in tiers:
            acc: dict[str, float] = {}
            for c in tier:
                for w, s in c.unit.targets:
                    acc[w] = max(acc.get(w, 0.0), s)
            groups.append(tuple(sorted(acc.items(), key=lambda x: -x[1])))
        # identical target sets from several versions (an unchanged ward) are one interpretation, taken at
        # its best rank: it is "old" when the best-scored units leading there are all pre-2025 ones
        seen: set[frozenset[str]] = set()
        uniq_groups: list[tuple[tuple[str, float], ...]] = []
        old: list[bool] = []
        for g, tier in zip(groups, tiers, strict=True):
            k = frozenset(w for w, _ in g)
            if k in seen:
                continue
            seen.add(k)
            uniq_groups.append(g)
            old.append(all(c.unit.source != self.target for c in tier))
        best = tiers[0]
        out_flags = list(flags)
        if "district_only" not in flags:
            best_units = {c.unit.uid for c in best}
            distinct = {frozenset(w for w, _ in c.unit.targets) for c in best}
            if all(c.unit.source != self.target for c in best):
                out_flags.append("old_ward")
            if len(distinct) > 1 and len(best_units) > 1:
                out_flags.append("ambiguous_name")
            elif len(uniq_groups[0]) > 1:
                out_flags.append("split")
        return Resolution(
            tuple(uniq_groups), tuple(c.unit.uid for c in best), tuple(out_flags), group_old=tuple(old)
        )

    def resolve_frame(
        self, parts: pd.DataFrame, dates: pd.Series | None = None, *, versions: Iterable[str] | None = None
    ) -> list[Resolution]:
        """One `Resolution` per row of parsed parts (columns ward, ward_type, district, district_type, city),
        computed once per distinct combination. The geography in force comes from `dates` (the records'
        dates) or is given directly as version names (`versions`)."""
        if versions is not None:
            vers = np.array([v or "" for v in versions], dtype=object)
        elif dates is not None:
            vers = _versions_of(dates, len(parts))
        else:
            vers = np.full(len(parts), "", dtype=object)
        cols = [
            parts[c].fillna("").to_numpy(dtype=object)
            for c in ("ward", "ward_type", "district", "district_type", "city")
        ]
        combo = np.array(["\x1f".join(map(str, t)) for t in zip(*cols, vers, strict=True)], dtype=object)
        codes, uniques = pd.factorize(combo)
        res = [self._resolve_written(*u.split("\x1f")) for u in uniques]
        return [res[k] for k in codes]

    def _resolve_written(self, w: str, wt: str, d: str, dty: str, c: str, v: str) -> Resolution:
        return self.resolve(w or "", d or "", c or "", v or None, ward_type=wt or "", district_type=dty or "")


def _version_name(on: dt.date | str | None) -> str:
    if on is None or on == "":
        return DEFAULT_VERSION
    if isinstance(on, str) and on in VERSIONS:
        return on
    try:
        return version_on(on).name  # type: ignore[arg-type]
    except ValueError:
        return "hcmc-2019"  # before the earliest geography: the oldest one is the closest


def _versions_of(dates: pd.Series, n: int) -> np.ndarray:
    """Geography in force for each date (vectorised over distinct dates)."""
    d = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce")
    out = np.full(n, DEFAULT_VERSION, dtype=object)
    valid = d.notna().to_numpy()
    if valid.any():
        days = d[valid].dt.date
        uniq = pd.unique(days)
        names = {u: _version_name(u) for u in uniq}
        out[valid] = days.map(names).to_numpy(dtype=object)
    return out


@lru_cache(maxsize=2)
def default_resolver(target: str = DEFAULT_VERSION) -> Resolver:
    return Resolver(target)


def candidate_wards(res: Iterable[Resolution]) -> set[str]:
    """All 2025 wards any of the resolutions can lead to."""
    return {w for r in res for g in r.groups for w, _ in g}
