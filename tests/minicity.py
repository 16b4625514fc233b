"""A tiny hand-built city for fast end-to-end tests: two real wards, a few dozen households, three feeds.

The full synthetic city (`risk/synth`) is tested on its own; these tests need something that builds in
well under a second and whose expected levels can be worked out by hand.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.gazetteer import load_gazetteer
from risk.ingest.sources import SourceMapping, parse_mapping

SAI_GON = "26740"  # Phường Sài Gòn (2025), holds lon 106.70 lat 10.776
OTHER = "26737"  # Tân Định, next to it

REGISTRY = """
[source]
id = "mini-registry"
kind = "registry"
[fields]
household_ref = ["Mã hộ"]
relation = ["Quan hệ"]
full_name = ["Họ và tên"]
birth_date = ["Ngày sinh"]
sex = ["Giới tính"]
id_number = ["Số CCCD/CMND"]
address = ["Địa chỉ"]
"""
DOSES = """
[source]
id = "mini-doses"
kind = "dose"
[fields]
full_name = ["Họ và tên"]
birth_date = ["Ngày sinh"]
id_number = ["CCCD"]
event_date = ["Ngày tiêm"]
vaccine = ["Vắc xin"]
dose_kind = ["Mũi tiêm"]
address = ["Địa chỉ"]
"""
CASES = """
[source]
id = "mini-cases"
kind = "case"
[fields]
full_name = ["Họ tên"]
birth_date = ["Năm sinh"]
id_number = ["CCCD"]
event_date = ["Ngày báo cáo"]
found_in = ["Nơi phát hiện"]
address = ["Địa chỉ"]
"""


@dataclass
class MiniCity:
    dir: Path
    mappings: dict[str, SourceMapping]
    feeds: dict[str, Path]
    sai_gon_point: tuple[float, float]


def _points_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    out = []
    while len(out) < n:
        xs = rng.uniform(minx, maxx, 4 * n)
        ys = rng.uniform(miny, maxy, 4 * n)
        inside = shapely.contains_xy(geom, xs, ys)
        out.extend(zip(xs[inside], ys[inside], strict=True))
    return np.array(out[:n])


def build(root: Path, households_per_ward: int = 20, seed: int = 7) -> MiniCity:
    """Write reference/ (address points, groups) and three feeds; Sài Gòn gets cases, the other ward none."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    rows, reg, doses, cases = [], [], [], []
    pid = 0
    for w, code in enumerate((SAI_GON, OTHER)):
        ward = gaz.unit(gaz.id_of(code))
        xy = _points_in(ward.geometry, households_per_ward, rng)
        for h in range(households_per_ward):
            pid += 1
            address = f"{h + 1} Đường Số {w + 1}, Khu phố 1, {ward['full_name']}, Thành phố Hồ Chí Minh"
            rows.append(
                {
                    "point_id": pid,
                    "ward_code": code,
                    "group_id": f"{code}-KP01-T01",
                    "khu_pho": "Khu phố 1",
                    "house_number": str(h + 1),
                    "alley": "",
                    "street": f"Đường Số {w + 1}",
                    "address": address,
                    "lon": xy[h, 0],
                    "lat": xy[h, 1],
                    "old_ward_code": "",
                }
            )
            for m in range(3):  # head (born 1950: elderly), spouse, adult child
                year = (1950, 1955, 1990)[m]
                sex = ("Nam", "Nữ", "Nam")[m]
                digit = {"Nam": 0, "Nữ": 1}[sex]
                cccd = f"079{digit}{year % 100:02d}{pid:04d}{m:02d}"
                name = ("Nguyễn Văn", "Trần Thị", "Nguyễn Văn")[m] + f" {chr(65 + h)}{w}{m}"
                reg.append(
                    {
                        "Mã hộ": f"HK-{code}-{h:03d}",
                        "Quan hệ": "Chủ hộ" if m == 0 else "Con",
                        "Họ và tên": name,
                        "Ngày sinh": f"15/06/{year}",
                        "Giới tính": sex,
                        "Số CCCD/CMND": cccd,
                        "Địa chỉ": address,
                    }
                )
                # everybody vaccinated once; the elderly twice
                doses.append(
                    {
                        "Họ và tên": name,
                        "Ngày sinh": f"15/06/{year}",
                        "CCCD": cccd,
                        "Ngày tiêm": "01/08/2021",
                        "Vắc xin": "AstraZeneca",
                        "Mũi tiêm": "Mũi 1",
                        "Địa chỉ": address,
                    }
                )
                if m < 2:
                    doses.append(
                        {
                            "Họ và tên": name,
                            "Ngày sinh": f"15/06/{year}",
                            "CCCD": cccd,
                            "Ngày tiêm": "01/09/2021",
                            "Vắc xin": "AstraZeneca",
                            "Mũi tiêm": "Mũi 2",
                            "Địa chỉ": address,
                        }
                    )
                if code == SAI_GON and m == 2 and h < 5:  # five community cases in Sài Gòn in the week
                    cases.append(
                        {
                            "Họ tên": name,
                            "Năm sinh": str(year),
                            "CCCD": cccd,
                            "Ngày báo cáo": "20/10/2021",
                            "Nơi phát hiện": "Cộng đồng",
                            "Địa chỉ": address,
                        }
                    )
                if code == SAI_GON and m == 1 and h < 3:  # and three found in quarantine (not community)
                    cases.append(
                        {
                            "Họ tên": name,
                            "Năm sinh": str(year),
                            "CCCD": cccd,
                            "Ngày báo cáo": "21/10/2021",
                            "Nơi phát hiện": "Khu cách ly",
                            "Địa chỉ": address,
                        }
                    )
    ref = root / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    pts = pd.DataFrame(rows)
    pts.to_parquet(ref / "address_points.parquet", index=False)
    groups = []
    for code, g in pts.groupby("ward_code"):
        hull = shapely.MultiPoint(g[["lon", "lat"]].to_numpy()).convex_hull.buffer(0.0005)
        ward_geom = gaz.unit(gaz.id_of(code)).geometry
        groups.append(
            {
                "group_id": f"{code}-KP01-T01",
                "ward_code": code,
                "khu_pho": "Khu phố 1",
                "name": "Tổ 1, Khu phố 1",
                "kind": "to_dan_pho",
                "households": len(g),
                "geometry": hull.intersection(ward_geom),
            }
        )
    gpd.GeoDataFrame(groups, geometry="geometry", crs="EPSG:4326").to_parquet(ref / "groups.parquet")
    feeds = {}
    for sid, data in (("mini-registry", reg), ("mini-doses", doses), ("mini-cases", cases)):
        d = root / "feeds" / sid
        d.mkdir(parents=True, exist_ok=True)
        f = d / "2021-W42.csv"
        pd.DataFrame(data).to_csv(f, index=False, encoding="utf-8")
        feeds[sid] = f
    mappings = {m.id: m for m in (parse_mapping(tomllib.loads(t)) for t in (REGISTRY, DOSES, CASES))}
    return MiniCity(root, mappings, feeds, (106.70, 10.776))
