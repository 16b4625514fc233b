"""Neighbourhood group outlines derived from member address points tile the ward; given ones are kept."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.gazetteer import load_gazetteer
from geo.groups import derive_group_outlines, fill_group_outlines

SAI_GON, BEN_THANH = "hcmc-2025:26740", "hcmc-2025:26743"


@pytest.fixture(scope="module")
def wards() -> gpd.GeoSeries:
    return load_gazetteer("hcmc-2025").wards.geometry


def _members(wards: gpd.GeoSeries, ward_id: str, n: int, groups: int, seed: int) -> pd.DataFrame:
    """Random points in a ward, grouped in bands west to east (as tổ along streets would be)."""
    rng = np.random.default_rng(seed)
    w = wards.loc[ward_id]
    minx, miny, maxx, maxy = w.bounds
    x, y = rng.uniform(minx, maxx, 20 * n), rng.uniform(miny, maxy, 20 * n)
    keep = shapely.contains_xy(w, x, y)
    x, y = x[keep][:n], y[keep][:n]
    band = np.minimum((x - x.min()) / (x.max() - x.min() + 1e-12) * groups, groups - 1).astype(int)
    return pd.DataFrame(
        {"lon": x, "lat": y, "ward_id": ward_id, "group_id": [f"{ward_id}-T{b:02d}" for b in band]}
    )


def test_derived_outlines_tile_the_ward_and_hold_their_members(wards: gpd.GeoSeries) -> None:
    pts = pd.concat([_members(wards, SAI_GON, 400, 5, 1), _members(wards, BEN_THANH, 300, 4, 2)])
    outlines = derive_group_outlines(pts, wards)
    assert len(outlines) == 9 and outlines.notna().all()
    for ward_id in (SAI_GON, BEN_THANH):
        mine = outlines[outlines.index.str.startswith(ward_id)].to_numpy()
        ward = wards.loc[ward_id]
        union = shapely.union_all(mine)
        assert abs(union.area - ward.area) / ward.area < 1e-6  # no gaps inside the ward
        assert shapely.difference(union, ward.buffer(1e-9)).area == pytest.approx(0, abs=1e-12)  # clipped
        pairs = [shapely.intersection(a, b).area for i, a in enumerate(mine) for b in mine[i + 1 :]]
        assert max(pairs) < 1e-12  # no overlaps
    inside = shapely.contains_xy(outlines.loc[pts["group_id"]].to_numpy(), pts["lon"], pts["lat"])
    touching = shapely.intersects_xy(outlines.loc[pts["group_id"]].to_numpy(), pts["lon"], pts["lat"])
    assert touching.all() and inside.mean() > 0.99  # every member in (or on the edge of) its group


def test_shared_coordinates_count_once_for_the_larger_group(wards: gpd.GeoSeries) -> None:
    pts = _members(wards, SAI_GON, 100, 2, 3)
    tower = pts.iloc[[0] * 5].assign(group_id=pts["group_id"].iloc[0])  # five flats of one building
    lone = pts.iloc[[0]].assign(group_id=f"{SAI_GON}-T99")  # a group whose only point is that building
    outlines = derive_group_outlines(pd.concat([pts, tower, lone]), wards)
    assert outlines.loc[pts["group_id"].iloc[0]] is not None
    assert outlines.loc[f"{SAI_GON}-T99"] is None  # the list alone cannot say where it lies


def test_given_boundaries_are_kept_and_missing_ones_derived(wards: gpd.GeoSeries) -> None:
    pts = _members(wards, SAI_GON, 200, 3, 4)
    ids = sorted(pts["group_id"].unique())
    given = shapely.box(106.69, 10.77, 106.70, 10.78)
    groups = gpd.GeoDataFrame(
        {"group_id": ids, "ward_id": SAI_GON},
        geometry=[given, None, None],
        crs="EPSG:4326",
    )
    out = fill_group_outlines(groups, pts, wards)
    assert out.geometry.iloc[0].equals(given)
    assert out.geometry.iloc[1:].notna().all() and (out.geometry.iloc[1:].area > 0).all()


def test_members_in_a_ward_without_a_boundary_are_an_error(wards: gpd.GeoSeries) -> None:
    pts = _members(wards, SAI_GON, 50, 1, 5).assign(ward_id="hcmc-2025:00000")
    with pytest.raises(ValueError, match="hcmc-2025:00000"):
        derive_group_outlines(pts, wards)
