"""Per-unit metrics at an as-of date: population, vaccination coverage, community cases in a window.

Denominators come from the linked population (registry persons placed in households), so rates are
consistent with the numerators whatever the scale. Persons count once however many records they have:
two reports of one case, or one dose sent by two sites, are one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

ADULT_AGE = 18
ELDERLY_AGE = 65
ONE_DOSE_COMPLETE = ("janssen",)
NOT_COMMUNITY = ("quarantine", "lockdown")
EVENT_COLUMNS = ("record_id", "kind", "event_date", "found_in", "vaccine", "ward_id")


@dataclass(frozen=True)
class Inputs:
    """What scoring reads from the store (columns as in risk.store.tables)."""

    persons: pd.DataFrame  # person_id, household_id, birth_year
    households: pd.DataFrame  # household_id, ward_id, group_id, h3_*
    links: pd.DataFrame  # record_id, person_id
    events: pd.DataFrame  # record_id, kind, event_date, found_in, vaccine, ward_id


def person_table(inputs: Inputs, as_of: dt.date) -> pd.DataFrame:
    """One row per person with their units, age and vaccination status at `as_of`."""
    p = inputs.persons[["person_id", "household_id", "birth_year"]].merge(
        inputs.households.drop(columns=[c for c in ("lon", "lat", "address") if c in inputs.households]),
        on="household_id",
        how="left",
    )
    age = as_of.year - pd.to_numeric(p["birth_year"], errors="coerce")
    p["adult"] = (age >= ADULT_AGE).fillna(False).to_numpy(dtype=bool)
    p["elderly"] = (age >= ELDERLY_AGE).fillna(False).to_numpy(dtype=bool)

    ev = inputs.events.merge(inputs.links[["record_id", "person_id"]], on="record_id", how="inner")
    doses = ev[(ev["kind"] == "dose") & (ev["event_date"] <= pd.Timestamp(as_of))]
    # One dose per person and day: the same dose reported by two sites counts once.
    doses = doses.drop_duplicates(["person_id", "event_date"])
    n = doses.groupby("person_id").size()
    complete_one = doses[doses["vaccine"].isin(ONE_DOSE_COMPLETE)].groupby("person_id").size()
    p["doses"] = p["person_id"].map(n).fillna(0).astype(int).to_numpy()
    p["one_dose"] = p["doses"] >= 1
    p["full_dose"] = (p["doses"] >= 2) | p["person_id"].isin(complete_one.index).to_numpy()
    p["adult_one_dose"] = p["adult"] & p["one_dose"]
    p["elderly_full_dose"] = p["elderly"] & p["full_dose"]
    return p


def community_cases(inputs: Inputs, persons: pd.DataFrame, as_of: dt.date, window_days: int) -> pd.DataFrame:
    """New community cases reported in (as_of − window, as_of], one per person, with their ward.

    A linked case takes its household's units; an unlinked one its own geocoded ward. Cases found in
    quarantine or lockdown areas are not community cases.
    """
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=window_days)
    c = inputs.events[
        (inputs.events["kind"] == "case")
        & (inputs.events["event_date"] > start)
        & (inputs.events["event_date"] <= end)
    ]
    c = c[~c["found_in"].isin(NOT_COMMUNITY)]
    c = c.merge(inputs.links[["record_id", "person_id"]], on="record_id", how="left")
    linked = c[c["person_id"].notna()].drop_duplicates("person_id")
    linked = linked.drop(columns=["ward_id"]).merge(
        persons.drop(columns=["birth_year"]), on="person_id", how="left"
    )
    unlinked = c[c["person_id"].isna()]
    return pd.concat([linked, unlinked], ignore_index=True)


def ward_metrics(inputs: Inputs, as_of: dt.date, window_days: int, wards: list[str]) -> pd.DataFrame:
    """Metrics per ward (index ward_id, every ward listed even when empty) and for the city."""
    p = person_table(inputs, as_of)
    cases = community_cases(inputs, p, as_of, window_days)
    g = p.groupby("ward_id")[["adult", "adult_one_dose", "elderly", "elderly_full_dose"]].sum()
    base = (
        pd.DataFrame(
            {
                "population": p.groupby("ward_id").size(),
                "adults": g["adult"],
                "adults_one_dose": g["adult_one_dose"],
                "elderly": g["elderly"],
                "elderly_full_dose": g["elderly_full_dose"],
            }
        )
        .reindex(wards)
        .fillna(0)
        .astype(np.int64)
    )
    base["community_cases_7d"] = cases.groupby("ward_id").size().reindex(wards).fillna(0).astype(np.int64)
    return base


def rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Rates from counts; NaN where the denominator is zero (a rate is never invented)."""
    out = counts.copy()
    pop = counts["population"].astype(float)
    out["community_cases_per_100k_7d"] = np.where(
        pop > 0, counts["community_cases_7d"] / pop.where(pop > 0) * 1e5, np.nan
    )
    adults = counts["adults"].astype(float)
    out["adult_first_dose_coverage"] = np.where(
        adults > 0, counts["adults_one_dose"] / adults.where(adults > 0), np.nan
    )
    eld = counts["elderly"].astype(float)
    out["elderly_full_dose_coverage"] = np.where(
        eld > 0, counts["elderly_full_dose"] / eld.where(eld > 0), np.nan
    )
    return out
