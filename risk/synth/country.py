"""A simulated country for scale tests: provinces made from one synthetic city, each loaded where it is scored.

`data/` holds the boundaries of Ho Chi Minh City only, so the other provinces are not real places: each
province is a copy of one generated (and perfectly linked) synthetic city with its own ids, its own ward
and group ids (`p07/hcmc-2025:26740`) and its households' H3 cells moved to a place of their own (the
city's cells shifted by whole degrees on a grid, so no two provinces share a cell or border each other).
Its people, households and epidemic are the city's, province after province: the copies test cost and
correctness of scoring at N times the data, not epidemiology across provinces.

A province is built by `ProvinceCopy()` on the worker that scores it (it reads the city from the store
given by its settings), so no process ever holds the whole country: that is what bounds a worker's memory
by the partition. `country(settings, n)` lists the n provinces as partition sources for
`risk.score.partition.score_partitions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo import h3cells
from risk.score.fromtruth import hashed_ids
from risk.score.inputs import CELL_RESOLUTIONS, ScoreInputs, read_inputs
from risk.store import StoreSettings, open_store

GRID_COLUMNS = 6  # provinces per row of the grid of shifted copies
STEP_DEGREES = 2.0  # more than the city's extent (≈ 1.6° north–south after the 2025 merger)


def province_code(index: int) -> str:
    return f"p{index:02d}"


def province_copy(inputs: ScoreInputs, index: int) -> ScoreInputs:
    """Province `index` of the simulated country made from a city's inputs (index 0: the city itself,
    with the province prefix on its ward and group ids)."""
    prefix = province_code(index) + "/"
    cells = {r: c.copy() for r, c in inputs.hh_cells.items()}
    if index:
        fine = inputs.hh_cells[10]
        known = fine != 0
        uniq, inv = np.unique(fine[known], return_inverse=True)
        lat, lon = _centres(uniq)
        lat = lat + (index // GRID_COLUMNS) * STEP_DEGREES
        lon = lon + (index % GRID_COLUMNS) * STEP_DEGREES
        moved = h3cells.parents(h3cells.cells(lat, lon), 10)
        for r in CELL_RESOLUTIONS:
            col = np.zeros(len(fine), dtype=np.uint64)
            col[known] = (moved if r == 10 else h3cells.parents(moved, r))[inv]
            cells[r] = col
    return ScoreInputs(
        household_id=hashed_ids(inputs.household_id, index) if index else inputs.household_id,
        hh_ward=inputs.hh_ward,
        hh_group=inputs.hh_group,
        hh_cells=cells,
        wards=pd.Index([prefix + w for w in inputs.wards], dtype=object),
        groups=pd.Index([prefix + g for g in inputs.groups], dtype=object),
        person_id=hashed_ids(inputs.person_id, index) if index else inputs.person_id,
        person_hh=inputs.person_hh,
        birth_year=inputs.birth_year,
        comorbid=inputs.comorbid,
        doses=inputs.doses,
        cases=inputs.cases,
        tests=inputs.tests,
        contacts=inputs.contacts,
        watermark=inputs.watermark,
        unlinked_cases=inputs.unlinked_cases,
    )


def _centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (lat, lon) of H3 cells, once per distinct cell."""
    import h3

    if not len(cells):
        return np.zeros(0), np.zeros(0)
    pts = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells], dtype=float)
    return pts[:, 0], pts[:, 1]


@dataclass(frozen=True)
class ProvinceCopy:
    """A partition source: province `index`, built from the city in the store of `settings` when called."""

    settings: StoreSettings
    index: int

    def __call__(self) -> ScoreInputs:
        return province_copy(read_inputs(open_store(self.settings)), self.index)


def country(settings: StoreSettings, provinces: int) -> list[ProvinceCopy]:
    """The provinces of a simulated country, as partition sources (one per province)."""
    if provinces < 1:
        raise ValueError(f"a country needs at least one province, got {provinces}")
    return [ProvinceCopy(settings, i) for i in range(provinces)]
