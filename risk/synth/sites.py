"""Names of the places where doses were given and samples taken: health stations, schools used as mass
vaccination points, hospitals and laboratories, the way 2021 lists named them.

A ward health station in the former HCMC is named after the old ward it served (`Trạm Y tế Phường 7,
Quận 3`); elsewhere after the 2025 ward. Every name is an index into one site vocabulary (`Sites`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from risk.synth.realdata import COMMON_STREETS, Geography

CENTRAL_HOSPITALS = {
    "old-city": (
        "Bệnh viện Chợ Rẫy",
        "Bệnh viện Nhân dân 115",
        "Bệnh viện Nhân dân Gia Định",
        "Bệnh viện Thống Nhất",
        "Bệnh viện Đại học Y Dược TP.HCM",
        "Bệnh viện Bệnh Nhiệt đới",
        "Bệnh viện Nguyễn Tri Phương",
        "Bệnh viện Trưng Vương",
        "Bệnh viện Lê Văn Thịnh",
        "Bệnh viện Hùng Vương",
    ),
    "binh-duong": (
        "Bệnh viện Đa khoa tỉnh Bình Dương",
        "Bệnh viện Quốc tế Becamex",
        "Bệnh viện Đa khoa Mỹ Phước",
        "Trung tâm Y tế thành phố Thủ Dầu Một",
        "Trung tâm Y tế thành phố Dĩ An",
    ),
    "ba-ria-vung-tau": (
        "Bệnh viện Bà Rịa",
        "Bệnh viện Lê Lợi",
        "Trung tâm Y tế thành phố Vũng Tàu",
        "Trung tâm Y tế huyện Côn Đảo",
        "Trung tâm Y tế thị xã Phú Mỹ",
    ),
}
LABS = (
    "Trung tâm Kiểm soát Bệnh tật TP.HCM (HCDC)",
    "Viện Pasteur TP.HCM",
    "Bệnh viện Bệnh Nhiệt đới",
    "Bệnh viện Chợ Rẫy",
    "Bệnh viện Đại học Y Dược TP.HCM",
    "Trung tâm Kiểm soát Bệnh tật tỉnh Bình Dương",
    "Trung tâm Kiểm soát Bệnh tật tỉnh Bà Rịa - Vũng Tàu",
)
_VENUES = ("Trường THCS", "Trường Tiểu học", "Trường THPT", "Nhà văn hóa", "Nhà thi đấu")


@dataclass
class Sites:
    """The site vocabulary and, per ward, the sites its residents use."""

    names: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


@dataclass
class SiteTable:
    sites: Sites
    station_of_old: np.ndarray  # old ward index → its health station
    station_of_ward: np.ndarray  # 2025 ward index → a health station (outside the old city)
    mass_points: np.ndarray  # (n_wards, 3) mass vaccination points per 2025 ward
    hospitals: np.ndarray  # (n_wards, 4) hospitals residents of a ward go to
    test_points: np.ndarray  # (n_wards,) rapid-test point per 2025 ward
    labs: np.ndarray  # (n_wards, 2) laboratories testing the ward's samples


def build_sites(geo: Geography, rng: np.random.Generator) -> SiteTable:
    sites = Sites()
    old = geo.old.table
    station_of_old = np.array(
        [sites.add(f"Trạm Y tế {n}, {d}") for n, d in zip(old["name"], old["district_name"], strict=True)]
    )
    wards = geo.wards
    n = len(wards)
    station_of_ward = np.array([sites.add(f"Trạm Y tế {fn}") for fn in wards["full_name"]])
    mass = np.zeros((n, 3), dtype=np.int64)
    hosp = np.zeros((n, 4), dtype=np.int64)
    test_points = np.zeros(n, dtype=np.int64)
    labs = np.zeros((n, 2), dtype=np.int64)
    lab_ids = np.array([sites.add(x) for x in LABS])
    district_of_ward = {}
    for _, r in geo.regions.iterrows():
        district_of_ward.setdefault(r["ward_code"], old.at[int(r["old_index"]), "district_name"])
    for i, row in wards.reset_index(drop=True).iterrows():
        for j in range(3):
            venue = _VENUES[int(rng.integers(0, len(_VENUES)))]
            person = COMMON_STREETS[int(rng.integers(0, len(COMMON_STREETS)))]
            mass[i, j] = sites.add(f"Điểm tiêm {venue} {person} ({row['full_name']})")
        region = row["region"]
        central = CENTRAL_HOSPITALS[region]
        picks = rng.choice(len(central), size=3, replace=False)
        hosp[i, :3] = [sites.add(central[p]) for p in picks]
        local = district_of_ward.get(row["code"])
        hosp[i, 3] = sites.add(f"Bệnh viện {local}" if local else central[int(picks[0])])
        test_points[i] = sites.add(f"Điểm test nhanh {row['full_name']}")
        if region == "old-city":
            labs[i] = rng.choice(lab_ids[:5], size=2, replace=False)
        else:
            labs[i] = [lab_ids[5] if region == "binh-duong" else lab_ids[6], lab_ids[0]]
    return SiteTable(sites, station_of_old, station_of_ward, mass, hosp, test_points, labs)


def station_of_person(table: SiteTable, ward: np.ndarray, old: np.ndarray) -> np.ndarray:
    """The health station of each person's home (old ward in the former HCMC, else 2025 ward)."""
    return np.where(old >= 0, table.station_of_old[np.maximum(old, 0)], table.station_of_ward[ward])
