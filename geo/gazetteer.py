"""Versioned admin geographies: units of any depth, with validity dates, and crosswalks between versions.

Shipped versions (built from `data/`):

* `hcmc-2019`: city → 24 districts → 322 wards (2019 census; no polygons), valid 2019-01-01 … 2020-12-31;
* `hcmc-2021`: city → 22 districts → 312 wards (GSO change record; no polygons), valid 2021-01-01 …
  2025-06-30. The ~273-unit structure of January 2025 is not available; `hcmc-2021` stands for it;
* `hcmc-2025`: city → 168 wards with polygons (the default), valid from 2025-07-01.

Unit ids are `"<version>:<code>"` because GSO codes are reused across versions for different areas.
Levels below the ward (neighbourhood groups) are added with `Gazetteer.with_units`, so a hierarchy can
be city → ward → group today and city → district → ward in older geographies.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.settings import geo_settings
from geo.vntext import normalize

CITY_CODE = "79"
CITY_NAME = "Hồ Chí Minh"
CITY_FULL_NAME = "Thành phố Hồ Chí Minh"
UNIT_COLUMNS = [
    "unit_id",
    "code",
    "name",
    "name_en",
    "full_name",
    "level",
    "unit_type",
    "parent_id",
    "population",
    "area_km2",
    "geometry",
]
_TYPE_PREFIX = re.compile(r"^(Phường|Xã|Thị trấn|Đặc khu|Quận|Huyện|Thành phố|Thị xã)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class GeographyVersion:
    """One admin geography and the dates it was in force."""

    name: str
    valid_from: dt.date
    valid_to: dt.date | None
    levels: tuple[str, ...]
    description: str

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


VERSIONS: dict[str, GeographyVersion] = {
    v.name: v
    for v in (
        GeographyVersion(
            "hcmc-2019",
            dt.date(2019, 1, 1),
            dt.date(2020, 12, 31),
            ("city", "district", "ward"),
            "24 districts, 322 wards (2019 census); no polygons",
        ),
        GeographyVersion(
            "hcmc-2021",
            dt.date(2021, 1, 1),
            dt.date(2025, 6, 30),
            ("city", "district", "ward"),
            "22 districts (Thủ Đức city formed), 312 wards; no polygons; stands in for the Jan 2025 merger",
        ),
        GeographyVersion(
            "hcmc-2025",
            dt.date(2025, 7, 1),
            None,
            ("city", "ward"),
            "168 wards/communes of the enlarged city from 1 Jul 2025, no district level; with polygons",
        ),
    )
}
DEFAULT_VERSION = "hcmc-2025"


def version_on(day: dt.date | dt.datetime | str) -> GeographyVersion:
    """The geography in force on a date (records are joined to the geography of their own date)."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day[:10])
    if isinstance(day, dt.datetime):
        day = day.date()
    for v in VERSIONS.values():
        if v.covers(day):
            return v
    earliest = min(v.valid_from for v in VERSIONS.values())
    raise ValueError(f"no admin geography covers {day.isoformat()} (the earliest starts {earliest})")


def split_type(full_name: str) -> tuple[str, str]:
    """'Phường Tân Định' → ('phường', 'Tân Định'); names without a type prefix get ''."""
    full_name = normalize(full_name)
    m = _TYPE_PREFIX.match(full_name)
    if not m:
        return "", full_name
    return m.group(1).lower(), full_name[m.end() :]


def unit_id(version: str, code: str) -> str:
    return f"{version}:{code}"


def province_codes(unit_ids: np.ndarray | pd.Series | list) -> np.ndarray:
    """The GSO province code ("79") of each unit id of a shipped geography, None for others (or None).

    Per distinct version prefix: a shipped geography is one province (its `city` unit), so the prefix
    says it; national storage partitions households by this code.
    """
    codes, uniq = pd.factorize(np.asarray(unit_ids, dtype=object))  # per distinct id: millions repeat
    if not len(uniq):
        return np.full(len(codes), None, dtype=object)
    version = pd.Series(uniq, dtype=object).str.split(":", n=1).str[0]
    per = np.full(len(uniq), None, dtype=object)
    for v in version.dropna().unique():
        if v in VERSIONS:
            per[(version == v).to_numpy()] = str(load_gazetteer(v).city["code"])
    return np.where(codes >= 0, per[np.maximum(codes, 0)], None)


class Gazetteer:
    """One version's admin units as a tree (`parent_id`), with their polygons where known."""

    def __init__(self, version: GeographyVersion, units: gpd.GeoDataFrame) -> None:
        missing = set(UNIT_COLUMNS) - set(units.columns)
        if missing:
            raise ValueError(f"gazetteer {version.name}: units lack columns {sorted(missing)}")
        self.version = version
        self.units = units.set_index("unit_id", drop=False)
        if not self.units.index.is_unique:
            dup = self.units.index[self.units.index.duplicated()].tolist()[:5]
            raise ValueError(f"gazetteer {version.name}: duplicate unit ids {dup}")
        known = set(self.units.index)
        orphans = set(self.units["parent_id"].dropna()) - known
        if orphans:
            raise ValueError(f"gazetteer {version.name}: parents not in the gazetteer: {sorted(orphans)[:5]}")

    def __repr__(self) -> str:
        counts = self.units["level"].value_counts().to_dict()
        return f"Gazetteer({self.version.name}, {counts})"

    @property
    def name(self) -> str:
        return self.version.name

    def level(self, level: str) -> gpd.GeoDataFrame:
        return self.units[self.units["level"] == level]

    @property
    def wards(self) -> gpd.GeoDataFrame:
        return self.level("ward")

    @property
    def city(self) -> pd.Series:
        return self.level("city").iloc[0]

    def unit(self, uid: str) -> pd.Series:
        try:
            return self.units.loc[uid]
        except KeyError:
            raise KeyError(f"no unit {uid!r} in gazetteer {self.name}") from None

    def id_of(self, code: str) -> str:
        uid = unit_id(self.name, code)
        if uid not in self.units.index:
            raise KeyError(f"no unit with code {code!r} in gazetteer {self.name}")
        return uid

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for uid, parent in zip(self.units["unit_id"], self.units["parent_id"], strict=True):
            if isinstance(parent, str):
                out.setdefault(parent, []).append(uid)
        return out

    def children(self, uid: str) -> list[str]:
        return list(self._children.get(uid, []))

    def descendants(self, uid: str, *, include_self: bool = True) -> set[str]:
        """The unit and everything below it (how a user's scope is expanded)."""
        self.unit(uid)
        out = {uid} if include_self else set()
        stack = list(self._children.get(uid, []))
        while stack:
            u = stack.pop()
            out.add(u)
            stack.extend(self._children.get(u, []))
        return out

    def ancestors(self, uid: str) -> list[str]:
        """Parents up to the root, nearest first."""
        out = []
        parent = self.unit(uid)["parent_id"]
        while isinstance(parent, str):
            out.append(parent)
            parent = self.units.at[parent, "parent_id"]
        return out

    def with_units(self, extra: pd.DataFrame | gpd.GeoDataFrame) -> Gazetteer:
        """A gazetteer with more units (e.g. neighbourhood groups below the wards)."""
        extra = extra.copy()
        for c in UNIT_COLUMNS:
            if c not in extra.columns:
                extra[c] = None
        merged = pd.concat([self.units.reset_index(drop=True), extra[UNIT_COLUMNS]], ignore_index=True)
        return Gazetteer(self.version, gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326"))

    def to_table(self) -> gpd.GeoDataFrame:
        """Rows for the store's `admin_units` table."""
        df = self.units.reset_index(drop=True).copy()
        df["version"] = self.name
        df["valid_from"] = pd.Timestamp(self.version.valid_from)
        df["valid_to"] = pd.Timestamp(self.version.valid_to) if self.version.valid_to else pd.NaT
        return df


# ---------------------------------------------------------------------------------------------------------
# loading the shipped versions


def _data(*parts: str) -> Path:
    path = geo_settings().data_dir.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"reference data file missing: {path} (set RISKMAP_GEO_DATA_DIR?)")
    return path


def _read_csv(*parts: str) -> pd.DataFrame:
    return pd.read_csv(_data(*parts), dtype=str, keep_default_na=False, encoding="utf-8")


def _city_row(version: str, population: int, geometry: object = None, area: float | None = None) -> dict:
    return {
        "unit_id": unit_id(version, CITY_CODE),
        "code": CITY_CODE,
        "name": CITY_NAME,
        "name_en": "Ho Chi Minh City",
        "full_name": CITY_FULL_NAME,
        "level": "city",
        "unit_type": "thành phố",
        "parent_id": None,
        "population": population,
        "area_km2": area,
        "geometry": geometry,
    }


def _load_2025(full_detail: bool) -> gpd.GeoDataFrame:
    name = "hcmc_wards_2025.geojson" if full_detail else "hcmc_wards_2025_simplified.geojson"
    wards = gpd.read_file(_data("boundaries", name), engine="pyogrio")
    city = gpd.read_file(_data("boundaries", "hcmc_city_boundary_2025.geojson"), engine="pyogrio")
    v = "hcmc-2025"
    rows = pd.DataFrame(
        {
            "unit_id": [unit_id(v, c) for c in wards["ward_code"]],
            "code": wards["ward_code"].astype(str),
            "name": [normalize(n) for n in wards["ward_name"]],
            "name_en": wards["ward_name_en"],
            "full_name": [normalize(n) for n in wards["full_name"]],
            "level": "ward",
            "unit_type": wards["unit_type"],
            "parent_id": unit_id(v, CITY_CODE),
            "population": wards["population"].astype("int64"),
            "area_km2": wards["area_km2"].astype(float),
        }
    )
    wards_gdf = gpd.GeoDataFrame(rows, geometry=wards.geometry.values, crs="EPSG:4326")
    city_row = _city_row(
        v, int(rows["population"].sum()), city.geometry.iloc[0], float(rows["area_km2"].sum())
    )
    city_gdf = gpd.GeoDataFrame([city_row], geometry="geometry", crs="EPSG:4326")
    return pd.concat([city_gdf, wards_gdf], ignore_index=True)


def _old_units(version: str, wards: pd.DataFrame, districts: pd.DataFrame) -> gpd.GeoDataFrame:
    """Build city → district → ward rows from code/name tables (no polygons)."""
    d_rows = []
    for _, d in districts.iterrows():
        typ, name = split_type(d["district_name"])
        d_rows.append(
            {
                "unit_id": unit_id(version, d["district_code"]),
                "code": d["district_code"],
                "name": name,
                "name_en": None,
                "full_name": normalize(d["district_name"]),
                "level": "district",
                "unit_type": typ,
                "parent_id": unit_id(version, CITY_CODE),
                "population": int(d["population"]),
                "area_km2": None,
                "geometry": None,
            }
        )
    w_rows = []
    for _, w in wards.iterrows():
        typ, name = split_type(w["ward_name"])
        w_rows.append(
            {
                "unit_id": unit_id(version, w["ward_code"]),
                "code": w["ward_code"],
                "name": name,
                "name_en": None,
                "full_name": normalize(w["ward_name"]),
                "level": "ward",
                "unit_type": typ,
                "parent_id": unit_id(version, w["district_code"]),
                "population": int(w["population"]),
                "area_km2": None,
                "geometry": None,
            }
        )
    city = _city_row(version, int(sum(r["population"] for r in w_rows)))
    return gpd.GeoDataFrame(pd.DataFrame([city, *d_rows, *w_rows]), geometry="geometry", crs="EPSG:4326")


def _load_2019() -> gpd.GeoDataFrame:
    pop = _read_csv("population", "hcmc_ward_population_2019_census.csv")
    pop["population"] = pop["pop_total"].astype("int64")
    districts = pop.groupby(["district_code", "district_name"], as_index=False)["population"].sum()
    return _old_units("hcmc-2019", pop, districts)


def _load_2021() -> gpd.GeoDataFrame:
    cw = _read_csv("crosswalks", "hcmc_wards_2019_to_2021_gso.csv")
    pop = _read_csv("population", "hcmc_ward_population_2019_census.csv").set_index("ward_code")
    cw["population"] = cw["old_ward_code"].map(pop["pop_total"]).astype("int64")
    wards = cw.groupby(
        ["new_ward_code", "new_ward_name", "new_district_code", "new_district_name"], as_index=False
    )["population"].sum()
    wards.columns = ["ward_code", "ward_name", "district_code", "district_name", "population"]
    districts = wards.groupby(["district_code", "district_name"], as_index=False)["population"].sum()
    return _old_units("hcmc-2021", wards, districts)


@lru_cache(maxsize=8)
def load_gazetteer(version: str | None = None, *, full_detail: bool | None = None) -> Gazetteer:
    """A shipped geography by name (default from RISKMAP_GEO_GAZETTEER). Cached: treat as read-only."""
    version = version or geo_settings().gazetteer
    if version not in VERSIONS:
        raise KeyError(f"unknown geography {version!r}; known: {', '.join(VERSIONS)}")
    if full_detail is None:
        full_detail = geo_settings().full_detail_boundaries
    loaders = {"hcmc-2019": _load_2019, "hcmc-2021": _load_2021}
    units = _load_2025(full_detail) if version == "hcmc-2025" else loaders[version]()
    return Gazetteer(VERSIONS[version], units)


@lru_cache(maxsize=8)
def load_crosswalk(from_version: str, to_version: str) -> pd.DataFrame:
    """Ward-to-ward crosswalk between two versions: one row per (from, to) pair with the share of the
    old ward's area (or population) that went to the new one.

    Columns: from_version, from_unit_id, to_version, to_unit_id, share_of_from, share_of_to, population,
    kind. Composed through hcmc-2021 for 2019 → 2025.
    """
    if (from_version, to_version) == ("hcmc-2019", "hcmc-2021"):
        cw = _read_csv("crosswalks", "hcmc_wards_2019_to_2021_gso.csv")
        pop = _read_csv("population", "hcmc_ward_population_2019_census.csv").set_index("ward_code")
        people = cw["old_ward_code"].map(pop["pop_total"]).astype(float)
        to_total = people.groupby(cw["new_ward_code"]).transform("sum")
        return pd.DataFrame(
            {
                "from_version": from_version,
                "from_unit_id": [unit_id(from_version, c) for c in cw["old_ward_code"]],
                "to_version": to_version,
                "to_unit_id": [unit_id(to_version, c) for c in cw["new_ward_code"]],
                "share_of_from": 1.0,
                "share_of_to": (people / to_total).to_numpy(),
                "population": people.to_numpy(),
                "kind": cw["change_type"].to_numpy(),
            }
        )
    if (from_version, to_version) == ("hcmc-2021", "hcmc-2025"):
        ov = _read_csv("crosswalks", "hcmc_wards_2021_to_2025_area_overlay.csv")
        share = ov["share_of_2021_ward"].astype(float)
        # Shares per old ward do not always sum to 1 (water, coastline drawn differently): renormalise.
        share = share / share.groupby(ov["ward_code_2021"]).transform("sum")
        n_to = ov.groupby("ward_code_2021")["ward_code_2025"].transform("nunique")
        return pd.DataFrame(
            {
                "from_version": from_version,
                "from_unit_id": [unit_id(from_version, c) for c in ov["ward_code_2021"]],
                "to_version": to_version,
                "to_unit_id": [unit_id(to_version, c) for c in ov["ward_code_2025"]],
                "share_of_from": share.to_numpy(),
                "share_of_to": ov["share_of_2025_ward"].astype(float).to_numpy(),
                "population": ov["pop_2019_apportioned_by_area"].astype(float).to_numpy(),
                "kind": np.where(n_to > 1, "split", "whole"),
            }
        )
    if (from_version, to_version) == ("hcmc-2019", "hcmc-2025"):
        a = load_crosswalk("hcmc-2019", "hcmc-2021")
        b = load_crosswalk("hcmc-2021", "hcmc-2025")
        m = a.merge(b, left_on="to_unit_id", right_on="from_unit_id", suffixes=("_a", "_b"))
        share = m["share_of_from_a"] * m["share_of_from_b"]
        out = pd.DataFrame(
            {
                "from_version": from_version,
                "from_unit_id": m["from_unit_id_a"],
                "to_version": to_version,
                "to_unit_id": m["to_unit_id_b"],
                "share_of_from": share,
                "share_of_to": m["share_of_to_b"] * m["share_of_to_a"],
                "population": m["population_a"] * m["share_of_from_b"],
            }
        )
        n_to = out.groupby("from_unit_id")["to_unit_id"].transform("nunique")
        out["kind"] = np.where(n_to > 1, "split", "whole")
        return out.reset_index(drop=True)
    raise KeyError(f"no crosswalk from {from_version} to {to_version}")


# ---------------------------------------------------------------------------------------------------------
# names of the units that the 2025 reform merged (no codes: only `before_merger_vi` text)

_MERGER_ITEM = re.compile(r"^(?P<name>[^()]+?)\s*(?:\((?P<qual>[^()]*)\))?$")
_NUMBERED = re.compile(r"^\d+$")


@lru_cache(maxsize=1)
def ward_attributes_2025() -> pd.DataFrame:
    """The 2025 ward attribute table without geometry (fast to load: names, types, `before_merger_vi`)."""
    df = _read_csv("population", "hcmc_wards_2025_area_population.csv")
    for c in ("ward_name", "full_name", "unit_type", "before_merger_vi", "former_province"):
        df[c] = [normalize(v) for v in df[c]]
    return df


@lru_cache(maxsize=1)
def pre_merger_units() -> pd.DataFrame:
    """Units that were merged into the 2025 wards, parsed from `before_merger_vi`.

    One row per (old unit, 2025 ward) pair: `unit_type` (phường, xã, thị trấn, huyện), `name`, `qualifier`
    (the district or city written in brackets to tell same-named units apart, or ""), `ward_code_2025`,
    `former_province`, and `n_targets` (how many 2025 wards list the same old unit: > 1 means the old unit
    was split). This is the only source for the 66 wards of former Bình Dương and Bà Rịa–Vũng Tàu, whose
    old wards have no code tables here; for the old city it lists the units of January 2025. A qualifier
    written after a run of numbered wards ("Phường 9, Phường 11 (Quận 3)") applies to the whole run.
    "Không sáp nhập" (not merged) lists the 2025 ward itself.
    """
    rows: list[dict] = []
    for w in ward_attributes_2025().itertuples(index=False):
        text = w.before_merger_vi
        items = [normalize(x) for x in text.split(",") if normalize(x)]
        if [x.lower() for x in items] == ["không sáp nhập"]:
            items = [w.full_name]
        parsed = []
        for item in items:
            m = _MERGER_ITEM.match(item)
            if not m:
                raise ValueError(f"before_merger_vi of {w.ward_code}: cannot read {item!r}")
            typ, name = split_type(m.group("name"))
            parsed.append([typ or "phường", name, normalize(m.group("qual") or "")])
        # A qualifier after a run of numbered wards qualifies the whole run.
        for i in range(len(parsed) - 1, -1, -1):
            if parsed[i][2] and _NUMBERED.match(parsed[i][1]):
                j = i - 1
                while j >= 0 and not parsed[j][2] and _NUMBERED.match(parsed[j][1]):
                    parsed[j][2] = parsed[i][2]
                    j -= 1
        for typ, name, qual in parsed:
            rows.append(
                {
                    "unit_type": typ,
                    "name": name,
                    "qualifier": qual,
                    "ward_code_2025": w.ward_code,
                    "former_province": w.former_province,
                }
            )
    df = pd.DataFrame(rows).drop_duplicates(ignore_index=True)
    key = df["unit_type"] + "|" + df["name"].str.lower() + "|" + df["qualifier"].str.lower()
    df["n_targets"] = key.map(key.groupby(key).size()).astype("int64")
    return df


def all_crosswalks() -> pd.DataFrame:
    """Every shipped crosswalk, for the store's `crosswalks` table."""
    pairs: Iterable[tuple[str, str]] = (
        ("hcmc-2019", "hcmc-2021"),
        ("hcmc-2021", "hcmc-2025"),
        ("hcmc-2019", "hcmc-2025"),
    )
    return pd.concat([load_crosswalk(a, b) for a, b in pairs], ignore_index=True)
