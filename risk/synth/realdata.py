"""The real tables that give the synthetic city its shape, read once and reshaped for the generator.

* the 2025 wards (polygons, population, unit type, former province) from the gazetteer;
* the old (2021–2024) wards of the former HCMC with their names, districts and area shares in each 2025
  ward (`hcmc_wards_2021_to_2025_area_overlay.csv`), used to carve each 2025 ward into old-ward regions;
* per old ward, the 2019 census household-size distribution (its 2019 wards summed) and age distribution
  (its 2019 districts, urban/rural mixed by the 2019 ward populations); citywide urban and rural profiles
  stand in for the 66 wards of the former Bình Dương and Bà Rịa–Vũng Tàu, which the census tables lack;
* street names per 2019 district, in their normal form (`Đường Nguyễn Trãi`, `Đường số 7`, `Quốc lộ 1A`);
* the city's daily case notifications of 2021–2022, smoothed, as the relative shape of the epidemic.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.gazetteer import load_gazetteer
from geo.settings import geo_settings
from geo.vntext import normalize

AGE_GROUPS = 18  # 0-4, 5-9, …, 80-84, 85+
SIZE_CLASSES = 7  # households of 1 … 6 persons and 7+
OLD_CITY = "old-city"
REGIONS = ("old-city", "binh-duong", "ba-ria-vung-tau")
_PROVINCE_REGION = {
    "TP. Hồ Chí Minh": "old-city",
    "Bình Dương": "binh-duong",
    "Bà Rịa - Vũng Tàu": "ba-ria-vung-tau",
}


def _path(*parts: str) -> Path:
    path = geo_settings().data_dir.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"reference data file missing: {path} (set RISKMAP_GEO_DATA_DIR?)")
    return path


def _csv(*parts: str) -> pd.DataFrame:
    return pd.read_csv(_path(*parts), dtype=str, keep_default_na=False, encoding="utf-8")


@dataclass(frozen=True)
class OldWards:
    """The 312 wards of 2021–2024 (the former HCMC), indexed 0…n-1 in code order.

    `size_probs` and `age_probs` have one extra row each at the end for the citywide urban profile and
    one more for the citywide rural profile (used outside the former HCMC)."""

    table: pd.DataFrame  # code, name ("Phường 7"), district_code, district_name ("Quận 3"), urban_share
    size_probs: np.ndarray  # (n + 2, 7)
    age_probs: np.ndarray  # (n + 2, 18)
    district_streets: dict[str, list[str]]  # 2019 district code → street normal forms
    old_districts: list[list[str]]  # per old ward: its 2019 district codes

    @property
    def n(self) -> int:
        return len(self.table)

    @property
    def urban_profile(self) -> int:
        return self.n

    @property
    def rural_profile(self) -> int:
        return self.n + 1


@dataclass(frozen=True)
class Geography:
    """The selected 2025 wards and everything the generator needs to know about them."""

    wards: gpd.GeoDataFrame  # code, name, full_name, unit_type, population, area_km2, region, geometry
    old: OldWards
    regions: pd.DataFrame  # ward_code (2025), old_index, share (per 2025 ward, sums to 1); old city only


def select_wards(wards: gpd.GeoDataFrame, spec: str) -> gpd.GeoDataFrame:
    """`all`, `old-city` or a comma-separated list of 2025 ward codes."""
    spec = (spec or "all").strip()
    if spec == "all":
        return wards
    if spec == OLD_CITY:
        return wards[wards["region"] == OLD_CITY]
    codes = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = sorted(set(codes) - set(wards["code"]))
    if unknown:
        raise ValueError(f"unknown 2025 ward codes: {', '.join(unknown)} (see `riskmap generate --help`)")
    return wards[wards["code"].isin(codes)]


@lru_cache(maxsize=4)
def load_geography(ward_spec: str = "all") -> Geography:
    """Wards (full-detail polygons) plus old-ward regions and census profiles. Cached: read-only."""
    gaz = load_gazetteer("hcmc-2025", full_detail=True)
    wards = gaz.wards.reset_index(drop=True)
    attrs = _csv("population", "hcmc_wards_2025_area_population.csv").set_index("ward_code")
    out = gpd.GeoDataFrame(
        {
            "code": wards["code"].astype(str).to_numpy(),
            "name": wards["name"].to_numpy(),
            "full_name": wards["full_name"].to_numpy(),
            "unit_type": wards["unit_type"].to_numpy(),
            "population": wards["population"].astype("int64").to_numpy(),
            "area_km2": wards["area_km2"].astype(float).to_numpy(),
            "region": [_PROVINCE_REGION[attrs.at[c, "former_province"]] for c in wards["code"]],
        },
        geometry=wards.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    out = out.sort_values("code", kind="stable").reset_index(drop=True)
    out = select_wards(out, ward_spec).reset_index(drop=True)
    if out.empty:
        raise ValueError(f"no wards selected by {ward_spec!r}")
    old = load_old_wards()
    return Geography(out, old, _regions(out, old))


def _regions(wards: gpd.GeoDataFrame, old: OldWards) -> pd.DataFrame:
    """Area shares of the old wards in each selected old-city 2025 ward (renormalised to sum to 1)."""
    ov = _csv("crosswalks", "hcmc_wards_2021_to_2025_area_overlay.csv")
    old_city = set(wards.loc[wards["region"] == OLD_CITY, "code"])
    ov = ov[ov["ward_code_2025"].isin(old_city)].copy()
    index = pd.Series(np.arange(old.n), index=old.table["code"])
    ov["old_index"] = ov["ward_code_2021"].map(index).astype("int64")
    ov["share"] = ov["share_of_2025_ward"].astype(float)
    ov["share"] = ov["share"] / ov.groupby("ward_code_2025")["share"].transform("sum")
    ov = ov.rename(columns={"ward_code_2025": "ward_code"})
    return ov.sort_values(["ward_code", "ward_code_2021"])[["ward_code", "old_index", "share"]].reset_index(
        drop=True
    )


def old_ward_name(name: str) -> str:
    """'Phường 04' → 'Phường 4' (how people write numbered wards)."""
    return re.sub(r"^(Phường) 0+(\d)", r"\1 \2", normalize(name))


@lru_cache(maxsize=1)
def load_old_wards() -> OldWards:
    cw = _csv("crosswalks", "hcmc_wards_2019_to_2021_gso.csv")
    pop = _csv("population", "hcmc_ward_population_2019_census.csv").set_index("ward_code")
    sizes = _csv("population", "hcmc_ward_households_by_size_2019_census.csv").set_index("ward_code")
    ages = _csv("population", "hcmc_district_population_by_age_2019_census.csv")

    table = (
        cw.groupby("new_ward_code", as_index=False)
        .agg(
            name=("new_ward_name", "first"),
            district_code=("new_district_code", "first"),
            district_name=("new_district_name", "first"),
        )
        .rename(columns={"new_ward_code": "code"})
        .sort_values("code")
        .reset_index(drop=True)
    )
    table["name"] = [old_ward_name(n) for n in table["name"]]
    table["district_name"] = [normalize(n) for n in table["district_name"]]
    index = pd.Series(np.arange(len(table)), index=table["code"])

    size_cols = [f"hh_size_{i}" for i in range(1, 7)] + ["hh_size_7plus"]
    size_counts = sizes.loc[cw["old_ward_code"], size_cols].astype(float).to_numpy()
    n = len(table)
    member = cw["new_ward_code"].map(index).to_numpy()
    size_by_old = np.zeros((n, SIZE_CLASSES))
    np.add.at(size_by_old, member, size_counts)

    ages = ages.assign(population=ages["population"].astype(float))
    ages["k"] = ages["age_group"].map({g: i for i, g in enumerate(sorted(ages["age_group"].unique()))})
    dist = {
        (d, a): grp.sort_values("k")["population"].to_numpy()
        for (d, a), grp in ages.groupby(["district_code", "area_type"])
    }
    age_by_old = np.zeros((n, AGE_GROUPS))
    urban_pop = np.zeros(n)
    total_pop = np.zeros(n)
    districts: list[set[str]] = [set() for _ in range(n)]
    for w19, i in zip(cw["old_ward_code"], member, strict=True):
        row = pop.loc[w19]
        d = row["district_code"]
        districts[i].add(d)
        for area, people in (("urban", float(row["pop_urban"])), ("rural", float(row["pop_rural"]))):
            if people > 0:
                shape = dist[(d, area)]
                age_by_old[i] += people * shape / shape.sum()
        urban_pop[i] += float(row["pop_urban"])
        total_pop[i] += float(row["pop_total"])
    table["urban_share"] = urban_pop / np.maximum(total_pop, 1)

    urban_sizes = np.array([sizes[f"hh_urban_size_{c}"].astype(float).sum() for c in [*range(1, 7), "7plus"]])
    rural_sizes = np.array([sizes[f"hh_rural_size_{c}"].astype(float).sum() for c in [*range(1, 7), "7plus"]])
    urban_ages = sum(v for (_, a), v in dist.items() if a == "urban")
    rural_ages = sum(v for (_, a), v in dist.items() if a == "rural")
    size_probs = np.vstack([size_by_old, urban_sizes, rural_sizes])
    age_probs = np.vstack([age_by_old, urban_ages, rural_ages])
    size_probs = size_probs / size_probs.sum(axis=1, keepdims=True)
    age_probs = age_probs / age_probs.sum(axis=1, keepdims=True)

    streets = _csv("streets", "hcmc_street_names_by_district_2019.csv")
    district_streets: dict[str, list[str]] = {}
    for d, grp in streets.groupby("district_code_2019", sort=True):
        names = [street_normal_form(s) for s in grp["street_name"]]
        district_streets[d] = sorted({s for s in names if s})
    return OldWards(
        table=table,
        size_probs=size_probs,
        age_probs=age_probs,
        district_streets=district_streets,
        old_districts=[sorted(d) for d in districts],
    )


# ---------------------------------------------------------------------------------------------------
# street names

_ROAD_TYPES = ("Quốc lộ", "Tỉnh lộ", "Hương lộ", "Đại lộ", "Xa lộ", "Liên tỉnh lộ")
_ROAD_TYPE_RE = re.compile(r"^(" + "|".join(_ROAD_TYPES) + r")\b\s*", re.IGNORECASE)
_NUMBERED = re.compile(r"^(?:Số\s+)?(\d+[A-Z]?(?:-\d+[A-Z]?)?)$", re.IGNORECASE)
_CODED = re.compile(r"^([A-ZĐ]{1,3}\d*[A-Z]?)$")
_HOLIDAY = re.compile(r"^(.*?)(\d{1,2})/(\d{1,2})([A-Z]?)$")


def street_normal_form(raw: str) -> str:
    """A street's normal form with its prefix; '' for entries that are not streets.

    '2' / 'Số 13' / '10A' → 'Đường số 2' …; 'D4' → 'Đường D4'; 'Tỉnh Lộ 10' → 'Tỉnh lộ 10'; '3/2' →
    'Đường 3 Tháng 2' (a date name, not an alley); '248/1' (an alley listed as a street) → ''.
    """
    s = normalize(raw).strip(" ,.;")
    if not s or re.match(r"^Ấp \d", s):
        return ""
    m = _HOLIDAY.match(s)
    if m:
        head, day, month, letter = m.groups()
        if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
            return ""
        s = f"{head}{int(day)} Tháng {int(month)}{(' ' + letter) if letter else ''}".strip()
    if "/" in s:
        return ""
    m = _ROAD_TYPE_RE.match(s)
    if m:
        kind = next(t for t in _ROAD_TYPES if t.lower() == m.group(1).lower())
        rest = s[m.end() :]
        return f"{kind} {rest}".strip()
    m = _NUMBERED.match(s)
    if m:
        return f"Đường số {m.group(1).upper()}"
    if _CODED.match(s):
        return f"Đường {s}"
    return f"Đường {s}"


# Names for the wards of the former Bình Dương and Bà Rịa–Vũng Tàu, which have no street list here:
# common street names of Vietnamese towns, numbered and lettered new-town streets, provincial roads.
COMMON_STREETS = (
    "Hùng Vương",
    "Trần Hưng Đạo",
    "Lê Lợi",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lê Lai",
    "Nguyễn Huệ",
    "Lý Thường Kiệt",
    "Trần Phú",
    "Lê Hồng Phong",
    "Nguyễn Du",
    "Phan Chu Trinh",
    "Phan Bội Châu",
    "Nguyễn Văn Cừ",
    "Võ Thị Sáu",
    "Nguyễn Thị Minh Khai",
    "Điện Biên Phủ",
    "Cách Mạng Tháng 8",
    "30 Tháng 4",
    "3 Tháng 2",
    "Trường Chinh",
    "Lê Duẩn",
    "Nguyễn Đình Chiểu",
    "Lý Tự Trọng",
    "Ngô Quyền",
    "Đinh Tiên Hoàng",
    "Lê Thánh Tông",
    "Trần Quốc Toản",
    "Bạch Đằng",
    "Nguyễn Văn Trỗi",
    "Phạm Ngũ Lão",
    "Yersin",
    "Nguyễn An Ninh",
    "Huỳnh Văn Lũy",
    "Nguyễn Văn Tiết",
    "Phú Lợi",
    "Thích Quảng Đức",
    "Lê Chí Dân",
    "Bùi Quốc Khánh",
    "Đồng Khởi",
    "Nguyễn Tri Phương",
    "Hoàng Hoa Thám",
    "Lê Quang Định",
    "Võ Văn Kiệt",
    "Nguyễn Hữu Cảnh",
    "Thống Nhất",
    "Độc Lập",
    "Hòa Bình",
    "Lạc Long Quân",
    "Âu Cơ",
    "Nguyễn Thái Học",
    "Tôn Đức Thắng",
    "Phạm Văn Đồng",
    "Mạc Đĩnh Chi",
    "Chu Văn An",
    "Ba Cu",
    "Thùy Vân",
    "Hoàng Diệu",
    "Nguyễn Văn Linh",
    "Mỹ Phước - Tân Vạn",
    "Lê Văn Tách",
    "Cây Me",
    "Bến Súc",
    "Ngô Gia Tự",
)
PROVINCIAL_ROADS = {
    "binh-duong": (
        "Quốc lộ 13",
        "Quốc lộ 1K",
        "Đại lộ Bình Dương",
        "Đường ĐT741",
        "Đường ĐT742",
        "Đường ĐT743",
        "Đường ĐT744",
        "Đường ĐT745",
        "Đường ĐT746",
        "Đường ĐT747",
        "Đường ĐT748",
        "Đường ĐT749",
    ),
    "ba-ria-vung-tau": (
        "Quốc lộ 51",
        "Quốc lộ 55",
        "Quốc lộ 56",
        "Đường ĐT44A",
        "Đường ĐT44B",
        "Đường ĐT52",
        "Đường ĐT55",
        "Đường ĐT765",
        "Đường ĐT991",
        "Đường ĐT994",
    ),
}


def generic_streets(region: str) -> list[str]:
    """Plausible names for a ward without a street list (numbered and lettered streets weigh most)."""
    names = [f"Đường {n}" for n in COMMON_STREETS]
    names += [f"Đường số {i}" for i in range(1, 41)]
    names += [f"Đường D{i}" for i in range(1, 31)] + [f"Đường N{i}" for i in range(1, 21)]
    names += list(PROVINCIAL_ROADS.get(region, ()))
    return names


# ---------------------------------------------------------------------------------------------------
# the epidemic curve


@lru_cache(maxsize=1)
def _notifications() -> pd.Series:
    epi = _csv("epi", "hcmc_covid19_city_daily_2021_2022_autumn.csv")
    n = epi[epi["indicator"] == "notifications"]
    s = pd.Series(n["value"].astype(float).to_numpy(), index=pd.to_datetime(n["date"]))
    full = pd.date_range(s.index.min(), s.index.max(), freq="D")
    s = s.reindex(full).interpolate(limit_direction="both")
    # Reporting spikes (backlogs released in one day) are smoothed away: rolling median, then mean.
    s = s.rolling(7, center=True, min_periods=1).median().rolling(7, center=True, min_periods=1).mean()
    return s.clip(lower=0.0)


def case_curve(start: dt.date, days: int, shift: int = 0) -> np.ndarray:
    """Relative daily case notifications of the real city for `days` days from `start + shift`.

    Outside the series (before April 2021 or after May 2022) the nearest value is used; a small floor
    keeps the curve above zero so that seeding never stops completely.
    """
    s = _notifications()
    idx = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=shift), periods=days, freq="D")
    vals = s.reindex(idx).to_numpy()
    first, last = s.iloc[0], s.iloc[-1]
    vals = np.where(np.isnan(vals) & (idx < s.index[0]), first, vals)
    vals = np.where(np.isnan(vals), last, vals)
    return np.maximum(vals, 0.002 * float(s.max()))
