"""The units scored and how households belong to them: city, district (older geographies), ward,
neighbourhood group, H3 cells at resolutions 8–10.

Each `UnitSet` maps every household to one unit (a code, −1 when it has none) and knows each unit's id,
name, parent and the ward whose rate a small unit's rate is smoothed toward (`prior_ward`). Districts
exist only in older geographies (2019–2024) whose boundaries are not shipped: each 2025 ward is assigned
whole to the old district that held most of its area (`hcmc_wards_2021_to_2025_area_overlay.csv`), and
district rows say so. Cells take the ward holding most of their households as their parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from geo import h3cells
from geo.gazetteer import Gazetteer, load_crosswalk, load_gazetteer
from risk.score.inputs import ScoreInputs

AREA_TYPES = ("city", "district", "ward", "group")
CELL_TYPES = ("h3_8", "h3_9", "h3_10")


@dataclass
class UnitSet:
    """Units of one type: ids, names, parents, and the household → unit map."""

    unit_type: str
    ids: pd.Index
    names: np.ndarray
    parents: np.ndarray
    hh_code: np.ndarray  # int32 per household (−1: not in any unit of this type)
    prior_ward: np.ndarray  # int32 ward code per unit (−1 for the city, districts, wards)
    ward_code: np.ndarray | None = None  # int32 per ward code → unit code (aggregating from wards)
    note: str = ""
    neighbours: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def membership(self) -> sp.csr_matrix:
        """units × households 0/1 matrix: unit totals are `membership @ household_counts`."""
        h = len(self.hh_code)
        ok = self.hh_code >= 0
        return sp.csr_matrix(
            (np.ones(int(ok.sum()), dtype=np.float64), (self.hh_code[ok], np.flatnonzero(ok))),
            shape=(len(self), h),
        )


def city_units(gaz: Gazetteer, inputs: ScoreInputs) -> UnitSet:
    city = gaz.city
    n_w = len(inputs.wards)
    in_city = np.ones(n_w, dtype=bool)
    return UnitSet(
        "city",
        pd.Index([city["unit_id"]], dtype=object),
        np.array([city["full_name"]], dtype=object),
        np.array([None], dtype=object),
        np.where(inputs.hh_ward >= 0, 0, -1).astype(np.int32),
        np.array([-1], dtype=np.int32),
        ward_code=np.where(in_city, 0, -1).astype(np.int32),
    )


def ward_units(gaz: Gazetteer, inputs: ScoreInputs) -> UnitSet:
    units = gaz.units
    ids = inputs.wards
    names = units["full_name"].reindex(ids).fillna(pd.Series(ids, index=ids)).to_numpy(dtype=object)
    parents = units["parent_id"].reindex(ids).fillna(gaz.city["unit_id"]).to_numpy(dtype=object)
    n = len(ids)
    return UnitSet(
        "ward",
        ids,
        names,
        parents,
        inputs.hh_ward,
        np.full(n, -1, np.int32),
        ward_code=np.arange(n, dtype=np.int32),
    )


def district_units(gaz_now: Gazetteer, inputs: ScoreInputs, version: str) -> UnitSet | None:
    """Districts of an older geography, each 2025 ward assigned whole to its main old district."""
    old = load_gazetteer(version)
    districts = old.level("district")
    if not len(districts):
        return None
    try:
        cw = load_crosswalk(version, gaz_now.name)
    except KeyError:
        return None
    ward_district = old.units["parent_id"]
    cw = cw.assign(district=cw["from_unit_id"].map(ward_district))
    share = cw.groupby(["to_unit_id", "district"])["share_of_to"].sum().reset_index()
    main = share.sort_values(["to_unit_id", "share_of_to"], ascending=[True, False]).drop_duplicates(
        "to_unit_id"
    )
    ids = pd.Index(sorted(main["district"].dropna().unique()), dtype=object)
    of_ward = main.set_index("to_unit_id")["district"].reindex(inputs.wards)
    ward_code = ids.get_indexer(of_ward.fillna("").to_numpy(dtype=object)).astype(np.int32)
    hh = np.where(inputs.hh_ward >= 0, ward_code[np.maximum(inputs.hh_ward, 0)], -1).astype(np.int32)
    names = old.units["full_name"].reindex(ids).to_numpy(dtype=object)
    return UnitSet(
        "district",
        ids,
        names,
        np.full(len(ids), gaz_now.city["unit_id"], dtype=object),
        hh,
        np.full(len(ids), -1, np.int32),
        ward_code=ward_code,
        note=f"district of {version}: 2025 wards assigned whole to the district holding most of their area",
    )


def group_units(inputs: ScoreInputs, groups: pd.DataFrame | None) -> UnitSet:
    """Neighbourhood groups (tổ dân phố / tổ) of the households; names and wards from the `groups` table."""
    ids = inputs.groups
    n = len(ids)
    by_hh = _majority(inputs.hh_group, inputs.hh_ward, n, len(inputs.wards), inputs.household_weight)
    names = np.array(ids, dtype=object)
    if groups is not None and len(groups):
        g = groups.drop_duplicates("group_id").set_index("group_id")
        if "name" in g:
            names = g["name"].reindex(ids).fillna(pd.Series(ids, index=ids)).to_numpy(dtype=object)
    ward_ids = inputs.wards
    parents = np.where(by_hh >= 0, np.asarray(ward_ids, dtype=object)[np.maximum(by_hh, 0)], None)
    return UnitSet("group", ids, names, parents, inputs.hh_group, by_hh.astype(np.int32))


def cell_units(inputs: ScoreInputs, res: int, finer: UnitSet | None = None) -> UnitSet:
    """H3 cells of the households at `res`; from the cells of a `finer` resolution when given (their
    parents: one small conversion instead of a pass over every household)."""
    if finer is not None:
        fine_cells = np.array([int(c, 16) for c in finer.ids], dtype=np.uint64)
        par = h3cells.parents(fine_cells, res)
        uniq, inv = np.unique(par, return_inverse=True)
        code = np.where(finer.hh_code >= 0, inv.astype(np.int32)[np.maximum(finer.hh_code, 0)], -1).astype(
            np.int32
        )
    else:
        cells = inputs.hh_cells[res]
        known = cells != 0
        uniq, inv = np.unique(cells[known], return_inverse=True)
        code = np.full(len(cells), -1, dtype=np.int32)
        code[known] = inv.astype(np.int32)
    ward = _majority(code, inputs.hh_ward, len(uniq), len(inputs.wards), inputs.household_weight)
    parents = np.where(ward >= 0, np.asarray(inputs.wards, dtype=object)[np.maximum(ward, 0)], None)
    ids = pd.Index(h3cells.to_hex(uniq), dtype=object)
    return UnitSet(f"h3_{res}", ids, np.asarray(ids, dtype=object), parents, code, ward.astype(np.int32))


DENSE_PER_ROW = 8  # cells of the dense table of `_majority` per row counted
DENSE_MIN = 1_000_000


def _majority(
    unit: np.ndarray, ward: np.ndarray, n_units: int, n_wards: int, weight: np.ndarray | None = None
) -> np.ndarray:
    """For each unit, the ward holding most of its households (−1 if none); ties: the lower ward code.
    `weight`: households per row (rows of a partitioned run's reduction), one each when None."""
    ok = (unit >= 0) & (ward >= 0)
    out = np.full(n_units, -1, dtype=np.int64)
    if not ok.any() or n_wards == 0:
        return out
    key = unit[ok].astype(np.int64) * n_wards + ward[ok]
    w = None if weight is None else np.asarray(weight, dtype=np.float64)[ok]
    # A dense units × wards count table (one bincount, one argmax) is fastest while it is about as large
    # as the rows counted; its size is the product of two numbers that both grow with a country, so
    # beyond that the sort below (n log n in the rows) keeps the cost linear in the data.
    if n_units * n_wards <= max(DENSE_PER_ROW * len(key), DENSE_MIN):
        table = np.bincount(key, weights=w, minlength=n_units * n_wards).reshape(n_units, n_wards)
        has = table.any(axis=1)
        out[has] = table[has].argmax(axis=1)
        return out
    keys, inv = np.unique(key, return_inverse=True)
    counts = np.bincount(inv, weights=w, minlength=len(keys))
    u, wc = keys // n_wards, keys % n_wards
    order = np.lexsort((wc, -counts, u))
    first = np.ones(len(order), dtype=bool)
    first[1:] = u[order][1:] != u[order][:-1]
    out[u[order][first]] = wc[order][first]
    return out


def parent_codes(child: UnitSet, parent: UnitSet) -> np.ndarray:
    """For each unit of `child`, the code of the `parent` unit holding its households (−1: none).

    Exact when the child units nest in the parent units (H3 cells by riskmap's convention); otherwise the
    parent of one of its households.
    """
    out = np.full(len(child), -1, dtype=np.int64)
    ok = child.hh_code >= 0
    one = np.full(len(child), -1, dtype=np.int64)
    one[child.hh_code[ok]] = np.flatnonzero(ok)
    has = one >= 0
    out[has] = parent.hh_code[one[has]]
    return out


def cell_cell_neighbours(ids: pd.Index) -> sp.csr_matrix:
    """Adjacency of H3 cells (ring 1) among the given cells (hex ids), vectorised through Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from h3ronpy import grid_disk

    n = len(ids)
    if not n:
        return sp.csr_matrix((0, 0))
    cells = np.array([int(c, 16) for c in ids], dtype=np.uint64)
    disks = pa.array(grid_disk(cells, 1, flatten=False))
    r = np.asarray(pc.list_parent_indices(disks).to_numpy(zero_copy_only=False), dtype=np.int64)
    found = np.asarray(pc.list_flatten(disks).to_numpy(zero_copy_only=False), dtype=np.uint64)
    c = pd.Index(cells).get_indexer(found)
    keep = (c >= 0) & (c != r)
    return sp.csr_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n))


def polygon_neighbours(ids: pd.Index, geoms: np.ndarray) -> sp.csr_matrix:
    """Units whose polygons touch or overlap (shared boundaries of a tiling)."""
    n = len(ids)
    ok = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return sp.csr_matrix((n, n))
    tree = shapely.STRtree(geoms[idx])
    a, b = tree.query(shapely.buffer(geoms[idx], 1e-7), predicate="intersects")
    a, b = idx[a], idx[b]
    keep = a != b
    m = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
    return ((m + m.T) > 0).astype(np.float64).tocsr()
