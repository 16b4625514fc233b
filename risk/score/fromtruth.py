"""A store as if a synthetic city's feeds had been ingested and linked perfectly, built from its truth.

For benchmarks at full scale (ingesting 40 M feed rows is the cleaning benchmark's job, not scoring's),
backtests and tests: households, persons, event records and their links come straight from
`truth/*.parquet`, with ids shaped like the pipeline's (63-bit hashed person and household ids, record
ids from one dense sequence) and values in the cleaned vocabulary (`vero_cell` → `sinopharm`). The
pipeline itself never reads truth: this is a fixture maker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from geo.gazetteer import province_codes, unit_id
from geo.h3wards import point_cells
from risk.reference import load_geographies
from risk.store import Store

VERSION = "hcmc-2025"
VACCINES = {"vero_cell": "sinopharm"}


@dataclass(frozen=True)
class TruthCounts:
    households: int
    persons: int
    records: int


def hashed_ids(ids: np.ndarray, salt: int) -> np.ndarray:
    """Positive 63-bit ids from integers (splitmix64): as random-looking as the pipeline's BLAKE2b ids."""
    with np.errstate(over="ignore"):
        z = (np.asarray(ids, dtype=np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(0x7FFF_FFFF_FFFF_FFFF)).astype(np.int64)


def _read(city: Path, rel: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = city / rel
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {city} a city folder made by `riskmap generate`?")
    return pq.read_table(path, columns=columns).to_pandas()


def load_truth(store: Store, city_dir: Path | str) -> TruthCounts:
    """Write geographies, groups, households, persons, event records and links of a city's truth."""
    city = Path(city_dir)
    load_geographies(store)
    groups = _read(city, "reference/groups.parquet")
    g = gpd.GeoDataFrame(
        {
            "group_id": groups["group_id"],
            "ward_id": [unit_id(VERSION, c) for c in groups["ward_code"]],
            "parent_group_id": None,
            "name": groups["name"],
            "kind": groups["kind"],
            "households": groups["households"].astype("int32"),
        },
        geometry=gpd.GeoSeries.from_wkb(groups["geometry"]).values,
        crs="EPSG:4326",
    )
    store.write_tables({"groups": g}, mode="replace")

    points = _read(city, "reference/address_points.parquet", ["point_id", "lon", "lat", "address"])
    hh = _read(
        city,
        "truth/households.parquet",
        ["household_id", "household_ref", "point_id", "ward_code", "group_id", "head_person_id", "size"],
    )
    at = points.set_index("point_id").reindex(hh["point_id"])
    cells = point_cells(at["lon"].to_numpy(), at["lat"].to_numpy())
    ward_ids = pd.Series(hh["ward_code"]).map({c: unit_id(VERSION, c) for c in hh["ward_code"].unique()})
    households = pd.DataFrame(
        {
            "household_id": hashed_ids(hh["household_id"].to_numpy(), 1),
            "household_ref": hh["household_ref"].to_numpy(),
            "point_id": hh["point_id"].to_numpy(),
            "ward_id": ward_ids.to_numpy(),
            "group_id": hh["group_id"].to_numpy(),
            "address": at["address"].to_numpy(),
            "head_person_id": hashed_ids(hh["head_person_id"].to_numpy(), 2),
            "size": hh["size"].to_numpy(),
            "lon": at["lon"].to_numpy(),
            "lat": at["lat"].to_numpy(),
            **{c: cells[c].to_numpy() for c in cells.columns},
            "province": province_codes(ward_ids.to_numpy()),
        }
    )
    store.write_tables({"households": households}, mode="replace")
    n_households = len(households)
    del households, points, at, cells

    p = _read(city, "truth/persons.parquet", ["person_id", "household_id", "birth_date", "sex", "comorbid"])
    birth = pd.to_datetime(p["birth_date"])
    persons = pd.DataFrame(
        {
            "person_id": hashed_ids(p["person_id"].to_numpy(), 2),
            "household_id": hashed_ids(p["household_id"].to_numpy(), 1),
            "birth_date": birth,
            "birth_year": birth.dt.year.astype("Int16"),
            "sex": p["sex"].to_numpy(),
            "comorbid": p["comorbid"].to_numpy(),
        }
    )
    store.write_tables({"persons": persons}, mode="replace")
    n_persons = len(persons)
    del persons, p, birth

    next_id = 1
    first = True
    cases = _read(city, "truth/cases.parquet")
    case_ref = pd.Series([f"BN{c:07d}" for c in cases["case_id"]], index=cases["case_id"].to_numpy())
    kinds = (
        ("dose", "truth/doses.parquet", ["person_id", "dose_date", "vaccine", "dose_kind"]),
        ("test", "truth/tests.parquet", ["person_id", "sample_date", "test_type", "pooled", "result"]),
        ("case", None, None),
        (
            "contact",
            "truth/contacts.parquet",
            ["person_id", "case_id", "exposure_date", "quarantine_start", "quarantine_where"],
        ),
    )
    for kind, rel, cols in kinds:
        if rel is None:
            chunks = [cases]
        else:
            pf = pq.ParquetFile(city / rel)
            chunks = (b.to_pandas() for b in pf.iter_batches(batch_size=CHUNK_ROWS, columns=cols))
        for src in chunks:
            next_id = _write_records(store, kind, src, next_id, case_ref, first)
            first = False
    return TruthCounts(n_households, n_persons, next_id - 1)


CHUNK_ROWS = 4_000_000


def _write_records(
    store: Store, kind: str, src: pd.DataFrame, next_id: int, case_ref: pd.Series, first: bool
) -> int:
    n = len(src)
    rid = np.arange(next_id, next_id + n, dtype=np.int64)
    rec = pd.DataFrame({"record_id": rid, "kind": kind, "source": f"truth-{kind}"})
    if kind == "dose":
        rec["event_date"] = pd.to_datetime(src["dose_date"])
        rec["vaccine"] = src["vaccine"].replace(VACCINES).to_numpy()
        rec["dose_kind"] = src["dose_kind"].to_numpy()
    elif kind == "test":
        rec["event_date"] = pd.to_datetime(src["sample_date"])
        rec["test_type"] = src["test_type"].to_numpy()
        rec["pooled"] = src["pooled"].to_numpy()
        rec["result"] = src["result"].to_numpy()
    elif kind == "case":
        rec["event_date"] = pd.to_datetime(src["report_date"])
        rec["found_in"] = src["found_in"].to_numpy()
        rec["isolation"] = src["isolation"].to_numpy()
        rec["outcome"] = src["outcome"].to_numpy()
        rec["ward_id"] = [unit_id(VERSION, c) for c in src["ward_code"]]
        rec["source_ref"] = case_ref.reindex(src["case_id"].to_numpy()).to_numpy()
    else:
        rec["event_date"] = pd.to_datetime(src["quarantine_start"])
        rec["exposure_date"] = pd.to_datetime(src["exposure_date"])
        rec["isolation"] = src["quarantine_where"].to_numpy()
        rec["contact_of"] = case_ref.reindex(src["case_id"].to_numpy()).to_numpy()
    links = pd.DataFrame(
        {
            "record_id": rid,
            "person_id": hashed_ids(src["person_id"].to_numpy(), 2),
            "probability": np.float32(1.0),
            "method": "truth",
        }
    )
    store.write_tables({"records": rec, "links": links}, mode="replace" if first else "append")
    return next_id + n
