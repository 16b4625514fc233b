"""Households and persons from the household-registry records, placed on their address points.

The registry (hộ khẩu) is the population base: each registry record is one resident, grouped by the
registry's household number. Ids are stable across rebuilds and carry no personal data: a household id
is a hash of the registry's household number; a person id a hash of the household number and the
person's identity key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo import h3cells
from geo.gazetteer import province_codes
from risk.link.cluster import stable_id


def identity_key(records: pd.DataFrame) -> pd.Series:
    """A person's key inside a household: the ID number, else folded name + birth year."""
    by_name = records["name_key"].astype(str) + "|" + records["birth_year"].astype("string").fillna("?")
    has_id = records["id_number"].fillna("").astype(str) != ""
    return by_name.where(~has_id, "id:" + records["id_number"].astype(str))


def build_population(
    registry: pd.DataFrame, points: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(households, persons, links) from registry records and the address-point registry.

    A household sits at the point of its head's record (or of most of its members' records). Members
    listed twice (two registry files) become one person.
    """
    reg = registry[registry["household_ref"].fillna("") != ""].copy()
    reg["household_id"] = stable_id(reg["household_ref"], "household")
    reg["person_key"] = reg["household_ref"].astype(str) + "|" + identity_key(reg)
    reg["person_id"] = stable_id(reg["person_key"], "person")

    # Where each household lives: head's point, else the commonest point among members.
    placed = reg[reg["point_id"].notna()]
    is_head = (placed["relation"] == "head").astype(int)
    votes = (
        placed.assign(head=is_head)
        .groupby(["household_id", "point_id"], as_index=False)
        .agg(head=("head", "max"), n=("record_id", "size"))
        .sort_values(["household_id", "head", "n", "point_id"], ascending=[True, False, False, True])
        .drop_duplicates("household_id")
    )
    first = reg.sort_values("record_id").drop_duplicates("household_id")
    heads = (
        reg[reg["relation"] == "head"]
        .sort_values("record_id")
        .drop_duplicates("household_id")
        .set_index("household_id")["person_id"]
    )
    sizes = reg.drop_duplicates("person_id").groupby("household_id").size()
    hh = first[["household_id", "household_ref", "address_raw", "ward_id"]].merge(
        votes[["household_id", "point_id"]], on="household_id", how="left"
    )
    hh["head_person_id"] = hh["household_id"].map(heads).astype("Int64")
    hh["size"] = hh["household_id"].map(sizes).astype("int16")
    pts = points.set_index("point_id")[["ward_id", "group_id", "lon", "lat", "address"]]
    at = pts.reindex(hh["point_id"].astype("Int64"))
    hh["ward_id"] = np.where(at["ward_id"].notna(), at["ward_id"], hh["ward_id"])
    hh["group_id"] = at["group_id"].to_numpy()
    hh["lon"] = at["lon"].to_numpy()
    hh["lat"] = at["lat"].to_numpy()
    hh["address"] = np.where(at["address"].notna(), at["address"], hh["address_raw"])
    hh = hh.drop(columns=["address_raw"])
    hh["province"] = province_codes(hh["ward_id"].to_numpy())  # the partition of PostGIS's households
    located = hh["lat"].notna().to_numpy()
    for res, cells in h3cells.cells_multi(
        hh.loc[located, "lat"].to_numpy(), hh.loc[located, "lon"].to_numpy()
    ).items():
        col = np.zeros(len(hh), dtype=np.uint64)
        col[located] = cells
        hh[f"h3_{res}"] = pd.array(np.where(located, col, 0), dtype="UInt64")
        hh.loc[~located, f"h3_{res}"] = pd.NA

    people = reg.sort_values("record_id").drop_duplicates("person_id")
    # text columns stay Arrow strings (`.array`): no round trip through Python objects
    persons = pd.DataFrame(
        {
            "person_id": people["person_id"].to_numpy(),
            "household_id": people["household_id"].to_numpy(),
            "full_name": people["full_name"].array,
            "name_key": people["name_key"].array,
            # a year-only or placeholder birth date is not a date: the year says all there is
            "birth_date": people["birth_date"].where(people["birth_precision"] == "day").to_numpy(),
            "birth_year": people["birth_year"].to_numpy(),
            "sex": people["sex"].array,
            "id_number": people["id_number"].array,
            "id_kind": people["id_kind"].array,
            "phone": people["phone"].array,
        }
    )
    links = pd.DataFrame(
        {
            "record_id": reg["record_id"].to_numpy(),
            "person_id": reg["person_id"].to_numpy(),
            "probability": np.float32(1.0),
            "method": "registry",
        }
    )
    return hh.reset_index(drop=True), persons, links
