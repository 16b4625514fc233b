"""H3 cells of points, cell-to-ward area shares, and the fast point-in-ward locator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.gazetteer import load_gazetteer
from geo.h3cells import parents, polygons
from geo.h3wards import WardLocator, cell_ward_shares, point_cells
from geo.locate import assign_points


@pytest.fixture(scope="module")
def wards() -> pd.DataFrame:
    return load_gazetteer("hcmc-2025", full_detail=True).wards.reset_index(drop=True)


def test_point_cells_nest_by_the_riskmap_convention(fake_points: pd.DataFrame) -> None:
    cells = point_cells(fake_points["lon"].to_numpy(), fake_points["lat"].to_numpy())
    assert list(cells.columns) == ["h3_7", "h3_8", "h3_9", "h3_10", "h3_11"]
    for r in (7, 8, 9, 10):
        assert (cells[f"h3_{r}"].to_numpy() == parents(cells["h3_11"].to_numpy(), r)).all()


def test_shares_of_cells_inside_and_across_boundaries(wards: pd.DataFrame) -> None:
    central = wards[wards["code"].isin(["26740", "26743", "26737", "27139"])]
    s = cell_ward_shares(central, resolutions=(8,))
    assert set(s.columns) == {"cell", "res", "ward_id", "share"} and (s["res"] == 8).all()
    assert ((s["share"] > 0) & (s["share"] <= 1)).all()
    per_cell = s.groupby("cell")["share"].sum()
    assert per_cell.max() <= 1 + 1e-6
    straddling = s.groupby("cell")["ward_id"].nunique()
    assert (straddling > 1).any()  # cells on a shared boundary get one row per ward
    # the shares of a straddling cell are the areas of its parts
    cell = straddling[straddling > 1].index[0]
    rows = s[s["cell"] == cell]
    poly = polygons(np.array([cell], dtype=np.uint64))[0]
    geoms = central.set_index("unit_id").geometry
    for r in rows.itertuples():
        want = shapely.intersection(poly, geoms[r.ward_id]).area / poly.area
        assert abs(r.share - want) < 1e-9
    # the area of the four wards is the sum of cell areas × shares (up to H3's lon/lat polygons)
    cells = polygons(s["cell"].to_numpy(dtype=np.uint64))
    approx = float((shapely.area(cells) * s["share"].to_numpy()).sum())
    assert abs(approx - float(shapely.area(central.geometry.values).sum())) / approx < 0.01


def test_shares_of_given_cells(wards: pd.DataFrame, fake_points: pd.DataFrame) -> None:
    cells = point_cells(fake_points["lon"].to_numpy(), fake_points["lat"].to_numpy())
    given = np.unique(np.concatenate([cells["h3_9"].to_numpy(), cells["h3_10"].to_numpy()]))
    s = cell_ward_shares(wards, cells=given)
    assert set(s["cell"]) <= set(given.tolist()) and set(s["res"]) == {9, 10}
    inland = s.groupby("cell")["share"].sum()
    assert (inland > 0.999).mean() > 0.95  # away from the sea a cell's shares add up to one


def test_locator_agrees_with_the_exact_test(wards: pd.DataFrame, fake_points: pd.DataFrame) -> None:
    loc = WardLocator(wards)
    rng = np.random.default_rng(3)
    n = 200_000
    k = rng.integers(0, len(fake_points), n // 2)
    lon = np.r_[
        fake_points["lon"].to_numpy()[k] + rng.normal(0, 0.004, n // 2), rng.uniform(106.3, 107.1, n // 2)
    ]
    lat = np.r_[
        fake_points["lat"].to_numpy()[k] + rng.normal(0, 0.004, n // 2), rng.uniform(10.3, 11.2, n // 2)
    ]
    got = loc.assign(lon, lat)
    want = assign_points(lon, lat, wards.geometry.values)
    assert (got == want).all()
    assert loc.boundary_share < 0.02
    # the fake points were drawn inside the simplified polygons: located with those, each is in its ward
    simple = WardLocator(load_gazetteer("hcmc-2025", full_detail=False).wards.reset_index(drop=True))
    ids = simple.ward_of(fake_points["lon"].to_numpy(), fake_points["lat"].to_numpy())
    assert (ids == ("hcmc-2025:" + fake_points["ward_code"]).to_numpy()).all()


def test_locator_edge_cases(wards: pd.DataFrame) -> None:
    loc = WardLocator(wards)
    out = loc.assign(np.array([np.nan, 0.0, 106.7, 200.0]), np.array([10.7, 0.0, np.nan, 10.7]))
    assert (out == -1).all()
    assert len(loc.assign(np.array([]), np.array([]))) == 0
