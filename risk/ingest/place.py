"""Place record addresses on the address-point registry during ingest.

This is the ingest side of geocoding: it hands a batch's address texts (with the records' dates, so old
ward names resolve through the geography of their time) to `geo.geocode.Geocoder` built from the
store's registry, and keeps the tier and confidence of each result on the record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.geocode import Geocoder, load_registry
from risk.store import Store


class RegistryPlacer:
    """Callable placer for `ingest_file`: addresses (and dates) → point, ward, tier, confidence."""

    def __init__(self, geocoder: Geocoder | None) -> None:
        self.geocoder = geocoder

    @classmethod
    def from_store(cls, store: Store) -> RegistryPlacer:
        registry = load_registry(store)
        return cls(Geocoder(registry) if len(registry) else None)

    def __call__(self, addresses: pd.Series, dates: pd.Series | None = None) -> pd.DataFrame:
        n = len(addresses)
        if self.geocoder is None:  # no registry loaded yet: keep the text, place later
            return pd.DataFrame(
                {
                    "point_id": pd.array([pd.NA] * n, dtype="Int64"),
                    "ward_id": np.full(n, None, dtype=object),
                    "geocode_tier": np.full(n, "unplaced", dtype=object),
                    "geocode_confidence": np.zeros(n, dtype=np.float32),
                },
                index=addresses.index,
            )
        out = self.geocoder.geocode(
            addresses.fillna("").astype(str).reset_index(drop=True),
            None if dates is None else dates.reset_index(drop=True),
        )
        return pd.DataFrame(
            {
                "point_id": pd.array(out["point_id"].to_numpy(), dtype="Int64"),
                "ward_id": out["ward_id"].to_numpy(dtype=object),
                "geocode_tier": out["tier"].to_numpy(dtype=object),
                "geocode_confidence": out["confidence"].astype(np.float32).to_numpy(),
            },
            index=addresses.index,
        )
