"""Address points look like Vietnamese addresses and sit along streets; groups of 50–150 households tile
their ward with no overlaps and no gaps; old-ward regions carry the crosswalk's area shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from risk.synth.groups import GROUP_MAX, GROUP_MIN, split_sizes
from risk.synth.population import build_places
from risk.synth.realdata import load_geography, street_normal_form
from risk.synth.rng import stream

HOUSE = r"\d+(?:[ABC]| Bis|-\d+)?"


@pytest.fixture(scope="module")
def places():
    """Two wards at 2 % of their population: enough households for several groups each."""
    geo = load_geography("26740,27568")
    points, groups, streets = build_places(geo, seed=3, scale=0.02)
    return geo, points, groups, streets


def test_groups_have_50_to_150_households_and_tile_the_ward(places):
    geo, points, groups, _ = places
    sizes = np.bincount(points.group)
    assert (sizes == groups.households).all()
    assert sizes.min() >= GROUP_MIN and sizes.max() <= GROUP_MAX
    for w, ward in enumerate(geo.wards.geometry):
        mine = groups.geometry[groups.ward == w]
        assert len(mine) >= 2
        assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in mine)
        area = shapely.area(mine).sum()
        union = shapely.union_all(mine)
        assert abs(area - ward.area) / ward.area < 1e-6  # no gaps …
        assert abs(union.area - area) / area < 1e-6  # … and no overlaps
        assert shapely.symmetric_difference(union, ward).area / ward.area < 1e-6
    inside = shapely.contains_xy(groups.geometry[points.group], points.lon, points.lat)
    assert inside.mean() > 0.999  # a member point may sit exactly on a shared edge


def test_khu_pho_bundle_consecutive_groups(places):
    _, _, groups, _ = places
    for w in np.unique(groups.ward):
        kp = groups.kp[groups.ward == w]
        assert (np.diff(kp) >= 0).all() and kp[0] == 1


@pytest.mark.parametrize("n", [1, 49, 150, 151, 260, 999, 5000])
def test_split_sizes_stay_in_bounds(n):
    sizes = split_sizes(n, stream(1, "t", n))
    assert sizes.sum() == n
    if n > GROUP_MAX:
        assert sizes.min() >= GROUP_MIN and sizes.max() <= GROUP_MAX


def test_street_names_have_their_prefix():
    assert street_normal_form("Nguyễn Trãi") == "Đường Nguyễn Trãi"
    assert street_normal_form("7") == "Đường số 7"
    assert street_normal_form("Số 13") == "Đường số 13"
    assert street_normal_form("D1") == "Đường D1"
    assert street_normal_form("Tỉnh Lộ 10") == "Tỉnh lộ 10"
    assert street_normal_form("3/2") == "Đường 3 Tháng 2"
    assert street_normal_form("248/1") == ""


def test_addresses_read_like_vietnamese_addresses(city):
    pts = city.table("reference/address_points.parquet")
    assert pts["house_number"].str.fullmatch(HOUSE).all()
    assert pts["alley"].str.fullmatch(r"(\d+(/\d+)?)?").all()
    assert (pts["alley"] != "").mean() > 0.2  # most town households live in alleys
    assert pts["street"].str.match(r"(Đường|Quốc lộ|Tỉnh lộ|Hương lộ|Đại lộ|Xa lộ) ").all()
    chain = np.where(pts["alley"] == "", pts["house_number"], pts["alley"] + "/" + pts["house_number"])
    expected = chain + " " + pts["street"] + ", " + pts["khu_pho"] + ", "
    assert all(a.startswith(e) for a, e in zip(pts["address"], expected, strict=True))
    assert pts["address"].str.endswith(", Thành phố Hồ Chí Minh").all()
    assert pts["khu_pho"].str.fullmatch(r"(Khu phố|Ấp) \d+").all()
    commune = pts["ward_code"].isin(["27568", "26545"])
    assert pts.loc[commune, "khu_pho"].str.startswith("Ấp").all()
    assert pts.loc[~commune, "khu_pho"].str.startswith("Khu phố").all()
    assert not pts.duplicated(["ward_code", "street", "alley", "house_number"]).any()


def test_houses_of_a_street_are_near_each_other_and_numbered_along_it(places):
    _geo, points, _, _streets = places
    df = pd.DataFrame(
        {
            "ward": points.ward,
            "street": points.street,
            "a1": points.a1,
            "number": points.number,
            "lon": points.lon,
            "lat": points.lat,
        }
    )
    main = df[df["a1"] < 0]
    checked = 0
    for _, grp in main.groupby(["ward", "street"]):
        if len(grp) < 8:
            continue
        xy = np.column_stack([grp["lon"] * np.cos(np.radians(10.8)), grp["lat"]]) * 111_000
        xy = xy - xy.mean(axis=0)
        axis = np.linalg.svd(xy, full_matrices=False)[2][0]
        rho = pd.Series(xy @ axis).rank().corr(grp["number"].rank().reset_index(drop=True))
        assert abs(rho) > 0.9
        checked += 1
    assert checked >= 5
    # alley houses: near the main-street house whose number the alley takes
    alley = df[(df["a1"] >= 0)]
    assert len(alley)


def test_old_ward_regions_follow_the_crosswalk_shares(places):
    geo, points, _, _ = places
    w = int(np.flatnonzero(geo.wards["code"] == "26740")[0])
    regs = geo.regions[geo.regions["ward_code"] == "26740"]
    got = pd.Series(points.old[points.ward == w]).value_counts(normalize=True)
    expected = regs.set_index("old_index")["share"]
    assert set(got.index) <= set(expected.index)
    big = expected[expected > 0.2]
    assert (abs(got.reindex(big.index).fillna(0) - big) < 0.12).all()
