"""A small address registry and noisy addresses for tests, built from real ward polygons and street names.

Not the synthetic city (that is `risk.synth`): just enough structure to exercise the parser, the resolver and
the geocoder with known truth. Points are random inside the real 2025 ward polygons; streets come from the
2019 street list of the districts the ward overlaps; each point is given the 2021 ward it most likely lay in
(drawn by the area-overlay shares), so old-geography addresses can be written for it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from geo.address import match_key_for_point, normal_alley, normal_street, read_house
from geo.gazetteer import _read_csv, load_crosswalk, load_gazetteer
from geo.vntext import fold

HCMC = "Thành phố Hồ Chí Minh"


def _streets_by_2025_ward() -> dict[str, list[str]]:
    streets = _read_csv("streets", "hcmc_street_names_by_district_2019.csv")
    g21 = load_gazetteer("hcmc-2021")
    g19 = load_gazetteer("hcmc-2019")
    d19 = {
        fold(n): c
        for c, n in zip(g19.level("district")["code"], g19.level("district")["full_name"], strict=True)
    }
    by_d19: dict[str, list[str]] = {}
    for c, s in zip(streets["district_code_2019"], streets["street_name"], strict=True):
        by_d19.setdefault(c, []).append(s)
    ov = load_crosswalk("hcmc-2021", "hcmc-2025")
    out: dict[str, list[str]] = {}
    for f, t in zip(ov["from_unit_id"], ov["to_unit_id"], strict=True):
        parent = g21.units.at[f, "parent_id"]
        dname = fold(g21.units.at[parent, "full_name"]).replace("thanh pho thu duc", "quan thu duc")
        code = d19.get(dname)
        if code:
            out.setdefault(t.split(":")[1], []).extend(by_d19.get(code, []))
    return {k: sorted(set(v)) for k, v in out.items()}


def build_registry(ward_codes: list[str], points_per_ward: int = 400, seed: int = 7) -> pd.DataFrame:
    """Address points in the given 2025 wards, in the registry layout (`reference/address_points`)."""
    rng = np.random.default_rng(seed)
    g = load_gazetteer("hcmc-2025", full_detail=False)
    wards = g.wards.set_index("code")
    streets = _streets_by_2025_ward()
    all_streets = sorted({s for v in streets.values() for s in v})
    ov = load_crosswalk("hcmc-2021", "hcmc-2025")
    rows = []
    pid = 1
    for code in ward_codes:
        poly = wards.at[code, "geometry"]
        minx, miny, maxx, maxy = poly.bounds
        pts: list[tuple[float, float]] = []
        while len(pts) < points_per_ward:
            x = rng.uniform(minx, maxx, points_per_ward * 3)
            y = rng.uniform(miny, maxy, points_per_ward * 3)
            ok = shapely.contains_xy(poly, x, y)
            pts.extend(zip(x[ok], y[ok], strict=True))
        pts = pts[:points_per_ward]
        pool = streets.get(code) or all_streets
        names = list(rng.choice(pool, size=min(12, len(pool)), replace=False))
        old = ov[ov["to_unit_id"] == f"hcmc-2025:{code}"]
        old_codes = [u.split(":")[1] for u in old["from_unit_id"]]
        old_p = old["share_of_to"].to_numpy(dtype=float)
        used: set[tuple[str, str, str]] = set()
        for k, (x, y) in enumerate(pts):
            street = normal_street(str(names[k % len(names)]))
            for _ in range(50):
                base = int(rng.integers(1, 300))
                r = rng.random()
                house = str(base)
                if r < 0.08:
                    house += str(rng.choice(list("ABC")))
                elif r < 0.11:
                    house += " Bis"
                elif r < 0.14:
                    house = f"{base}-{base + 2}"
                alley = ""
                if rng.random() < 0.35:
                    alley = str(int(rng.integers(1, 200)))
                    if rng.random() < 0.3:
                        alley += f"/{int(rng.integers(1, 60))}"
                if (street, alley, house) not in used:
                    used.add((street, alley, house))
                    break
            kp = int(rng.integers(1, 6))
            to = int(rng.integers(1, 9))
            unit = "Ấp" if wards.at[code, "unit_type"] == "xã" else "Khu phố"
            old_code = str(rng.choice(old_codes, p=old_p / old_p.sum())) if len(old_codes) else ""
            head = f"{normal_alley(alley)}/{read_house(house).text}" if alley else read_house(house).text
            rows.append(
                {
                    "point_id": pid,
                    "ward_code": code,
                    "group_id": f"{code}-KP{kp:02d}-T{to:02d}",
                    "khu_pho": f"{unit} {kp}",
                    "house_number": read_house(house).text,
                    "alley": normal_alley(alley) if alley else "",
                    "street": street,
                    "address": f"{head} {street}, {unit} {kp}, {wards.at[code, 'full_name']}, {HCMC}",
                    "lon": float(x),
                    "lat": float(y),
                    "old_ward_code": old_code,
                }
            )
            pid += 1
    return pd.DataFrame(rows)


def registry_table(points: pd.DataFrame) -> pd.DataFrame:
    """The generator layout → the `address_points` table layout (ward ids and match keys)."""
    df = points.copy()
    df["ward_id"] = "hcmc-2025:" + df["ward_code"]
    df["match_key"] = [
        match_key_for_point(h, a, s, w)
        for h, a, s, w in zip(df["house_number"], df["alley"], df["street"], df["ward_id"], strict=True)
    ]
    return df.drop(columns=["ward_code", "old_ward_code"])


# ---------------------------------------------------------------------------------------------------------
# noisy addresses

KINDS = ("clean", "abbrev", "no_diacritics", "old_ward", "missing_ward", "no_commas")


def _abbrev(text: str, rng: np.random.Generator) -> str:
    rep = [
        ("Thành phố Hồ Chí Minh", str(rng.choice(["TP.HCM", "TPHCM", "HCM", "TP HCM", "Sài Gòn", "SG"]))),
        ("Khu phố ", str(rng.choice(["KP", "KP.", "kp ", "Kp."]))),
        ("Phường ", str(rng.choice(["P.", "P. ", "F.", "p "]))),
        ("Đường ", str(rng.choice(["Đ. ", "", "đường "]))),
        ("Quận ", str(rng.choice(["Q.", "Q", "q. "]))),
    ]
    for a, b in rep:
        text = text.replace(a, b)
    return text


def noisy_addresses(points: pd.DataFrame, n: int, seed: int = 11) -> pd.DataFrame:
    """`n` addresses of random registry points, each with one error kind, and the truth."""
    rng = np.random.default_rng(seed)
    g21 = load_gazetteer("hcmc-2021")
    pick = points.iloc[rng.integers(0, len(points), n)].reset_index(drop=True)
    kinds = rng.choice(KINDS, size=n)
    texts, dates = [], []
    for p, kind in zip(pick.itertuples(index=False), kinds, strict=True):
        text = p.address
        date = "2021-08-15"
        if kind == "abbrev":
            text = _abbrev(text, rng)
        elif kind == "no_diacritics":
            text = fold(text) if rng.random() < 0.5 else fold(text).upper()
        elif kind == "old_ward":
            if p.old_ward_code:
                w = g21.units.loc[f"hcmc-2021:{p.old_ward_code}"]
                d = g21.units.loc[w["parent_id"]]
                head = text.split(",")[0]
                text = f"{head}, {p.khu_pho}, {w['full_name']}, {d['full_name']}, TP.HCM"
            else:
                kind = "clean"
        elif kind == "missing_ward":
            parts = text.split(", ")
            text = ", ".join(x for x in parts if not x.startswith(("Phường", "Xã", "Đặc khu")))
        elif kind == "no_commas":
            text = fold(text).replace(", phuong ", " ").replace(", thanh pho ho chi minh", " HCM")
            text = re.sub(r"^(\S+) duong ", r"\1 ", text).replace(", khu pho ", " kp ").replace(",", "")
        texts.append(text)
        dates.append(date)
    return pd.DataFrame(
        {
            "text": texts,
            "date": pd.to_datetime(dates),
            "kind": kinds,
            "point_id": pick["point_id"].to_numpy(),
            "ward_id": ("hcmc-2025:" + pick["ward_code"]).to_numpy(),
        }
    )
