"""Place record addresses on the address-point registry during ingest.

This is the ingest side of geocoding: it hands a batch's address texts to a geocoder built from the
store's registry and keeps the tier and confidence of each result on the record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.reference import address_match_key
from risk.store import Store


class RegistryPlacer:
    """Exact placement on the registry by folded address (the geocoder's first tier)."""

    def __init__(self, points: pd.DataFrame) -> None:
        pts = points.drop_duplicates("match_key")
        self._lookup = pts.set_index("match_key")[["point_id", "ward_id"]]

    @classmethod
    def from_store(cls, store: Store) -> RegistryPlacer:
        return cls(store.read_table("address_points", columns=["point_id", "ward_id", "match_key"]))

    def __call__(self, addresses: pd.Series, dates: pd.Series | None = None) -> pd.DataFrame:
        keys = address_match_key(addresses.fillna("").astype(str))
        hit = self._lookup.reindex(keys.to_numpy())
        found = hit["point_id"].notna().to_numpy()
        return pd.DataFrame(
            {
                "point_id": pd.array(hit["point_id"].to_numpy(), dtype="Int64"),
                "ward_id": hit["ward_id"].to_numpy(),
                "geocode_tier": np.where(found, "exact", "unmatched"),
                "geocode_confidence": np.where(found, 1.0, 0.0).astype(np.float32),
            },
            index=addresses.index,
        )
