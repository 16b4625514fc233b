"""H3 cells of address points, and which wards each cell lies in.

placeholder
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.h3cells import RESOLUTIONS, cells_multi
from risk.store.tables import H3_COLUMNS


def point_cells(lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Columns h3_7 … h3_11 (uint64) for points, by riskmap's convention (parents of the res-11 cell)."""
    cells = cells_multi(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), RESOLUTIONS)
    return pd.DataFrame({c: cells[r] for c, r in zip(H3_COLUMNS, RESOLUTIONS, strict=True)})
