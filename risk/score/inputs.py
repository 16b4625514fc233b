"""What scoring reads from the store, held as compact typed arrays keyed by dense positions.

Households and persons get positions 0…H−1 and 0…P−1; every event carries its person's position (−1 when
the record is not linked to a person), its day (days since 1970-01-01) and a few coded attributes.
Reading takes only the columns scoring needs, one record kind at a time, and maps records to persons
with one scatter into an array indexed by record id (record ids are a dense sequence). Everything after
this module is numpy over these arrays: no per-person or per-record Python.

Persons count once however many records they have: two reports of one case are one case (the earliest
report counts), one dose sent by two sites on the same day is one dose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk.store import Store

EPOCH = np.datetime64("1970-01-01", "D")
FOUND_IN = ("community", "quarantine", "lockdown")  # codes 0, 1, 2; 3 = not stated
FOUND_UNKNOWN = 3
BOOSTER_KINDS = ("bo_sung", "nhac_lai_1", "nhac_lai_2")
ONE_DOSE_COMPLETE = ("janssen",)
CELL_RESOLUTIONS = (8, 9, 10)


def day_of(value: dt.date | dt.datetime | pd.Timestamp) -> int:
    """Days since 1970-01-01 of a date (a datetime counts by its calendar date)."""
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime
        value = value.date()
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def date_of(day: int) -> dt.date:
    return (EPOCH + np.timedelta64(int(day), "D")).astype(dt.date)


def _days(col: pd.Series) -> np.ndarray:
    """Dates (datetime64 or date objects) → int32 days; missing → INT32_MIN."""
    values = pd.to_datetime(col).to_numpy("datetime64[D]")
    out = np.full(len(values), np.iinfo(np.int32).min, dtype=np.int32)
    ok = ~np.isnat(values)
    out[ok] = (values[ok] - EPOCH).astype(np.int32)
    return out


def _codes(col: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Positions of a text column's values in `values` (−1 for others and missing), via Arrow."""
    arr = pa.array(col.array) if hasattr(col.array, "__arrow_array__") else pa.array(col, pa.string())
    idx = pc.index_in(arr, pa.array(list(values), pa.string()))
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int8)


@dataclass
class Events:
    """One kind of event, sorted by (person, day): person position (−1 unlinked), day, coded attributes."""

    person: np.ndarray  # int32
    day: np.ndarray  # int32
    attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person)

    def take(self, idx: np.ndarray) -> Events:
        return Events(self.person[idx], self.day[idx], {k: v[idx] for k, v in self.attrs.items()})

    def sorted(self) -> Events:
        return self.take(sort_by_person_day(self.person, self.day))

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        keys = parts[0].attrs.keys()
        return Events(
            np.concatenate([p.person for p in parts]),
            np.concatenate([p.day for p in parts]),
            {k: np.concatenate([p.attrs[k] for p in parts]) for k in keys},
        )


def sort_by_person_day(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Order by (person, day) with three 16-bit radix passes (linear time, stable)."""
    if not len(person):
        return np.zeros(0, dtype=np.int64)
    d = (day.astype(np.int64) - int(day.min())).astype(np.uint32)
    p = (person.astype(np.int64) + 1).astype(np.uint64)  # −1 (unlinked) sorts first
    order = np.argsort((d & 0xFFFF).astype(np.uint16), kind="stable")
    if int(d.max()) > 0xFFFF:
        order = order[np.argsort((d[order] >> 16).astype(np.uint16), kind="stable")]
    for shift in (0, 16, 32):
        if shift and int(p.max()) >> shift == 0:
            break
        key = ((p[order] >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        order = order[np.argsort(key, kind="stable")]
    return order


@dataclass
class ScoreInputs:
    """The population, where it lives, and its events, ready for vectorised scoring."""

    household_id: np.ndarray  # int64, position = household index
    hh_ward: np.ndarray  # int32 code into `wards` (−1 unknown)
    hh_group: np.ndarray  # int32 code into `groups` (−1 none)
    hh_cells: dict[int, np.ndarray]  # res → uint64 cell (0 unknown)
    wards: pd.Index  # ward ids (strings)
    groups: pd.Index  # group ids (strings)
    person_id: np.ndarray  # int64, position = person index
    person_hh: np.ndarray  # int32 household position (−1 none)
    birth_year: np.ndarray  # float32 (NaN unknown)
    comorbid: np.ndarray  # int8: 1 yes, 0 no, −1 unknown
    doses: Events  # attrs: janssen (bool), booster (bool), second (bool)
    cases: Events  # one per person (earliest report): found (int8, FOUND_IN code), ward (int32, for unlinked)
    tests: Events  # attrs: positive (bool)
    contacts: Events  # attrs: home (bool)
    watermark: int = 0  # highest batch id read
    unlinked_cases: int = 0

    @property
    def n_households(self) -> int:
        return len(self.household_id)

    @property
    def n_persons(self) -> int:
        return len(self.person_id)

    def person_ward(self) -> np.ndarray:
        return np.where(self.person_hh >= 0, self.hh_ward[np.maximum(self.person_hh, 0)], -1).astype(np.int32)


def read_inputs(store: Store, wards: pd.Index | None = None) -> ScoreInputs:
    """Read households, persons, links and event records (needed columns only) into `ScoreInputs`."""
    hh = store.read_table(
        "households", columns=["household_id", "ward_id", "group_id", *(f"h3_{r}" for r in CELL_RESOLUTIONS)]
    )
    persons = store.read_table("persons", columns=["person_id", "household_id", "birth_year", "comorbid"])
    links = store.read_table("links", columns=["record_id", "person_id"])
    doses = store.read_table(
        "records",
        columns=["record_id", "event_date", "vaccine", "dose_kind"],
        filters=[("kind", "=", "dose")],
    )
    cases = store.read_table(
        "records", columns=["record_id", "event_date", "found_in", "ward_id"], filters=[("kind", "=", "case")]
    )
    tests = store.read_table(
        "records", columns=["record_id", "event_date", "result"], filters=[("kind", "=", "test")]
    )
    contacts = store.read_table(
        "records", columns=["record_id", "event_date", "isolation"], filters=[("kind", "=", "contact")]
    )
    watermark = max((b.batch_id or 0 for b in store.list_batches()), default=0)
    return build_inputs(hh, persons, links, doses, cases, tests, contacts, wards=wards, watermark=watermark)


def build_inputs(
    households: pd.DataFrame,
    persons: pd.DataFrame,
    links: pd.DataFrame,
    doses: pd.DataFrame,
    cases: pd.DataFrame,
    tests: pd.DataFrame,
    contacts: pd.DataFrame,
    *,
    wards: pd.Index | None = None,
    watermark: int = 0,
) -> ScoreInputs:
    """`ScoreInputs` from frames in the store's layout (see `read_inputs` for the columns)."""
    hh_id = households["household_id"].to_numpy(dtype=np.int64)
    ward_codes, ward_index = _factorize(households["ward_id"], wards)
    group_codes, group_index = _factorize(households["group_id"], None)
    cells = {
        r: households[f"h3_{r}"].to_numpy(dtype=np.uint64, na_value=0)
        if f"h3_{r}" in households
        else np.zeros(len(households), np.uint64)
        for r in CELL_RESOLUTIONS
    }
    hh_pos = pd.Index(hh_id)
    if not hh_pos.is_unique:
        raise ValueError("households: household_id is not unique")
    pid = persons["person_id"].to_numpy(dtype=np.int64)
    person_index = pd.Index(pid)
    if not person_index.is_unique:
        raise ValueError("persons: person_id is not unique")
    person_hh = hh_pos.get_indexer(persons["household_id"].to_numpy(dtype=np.int64, na_value=-1)).astype(
        np.int32
    )
    birth_year = persons["birth_year"].to_numpy(dtype=np.float32, na_value=np.nan)
    comorbid = (
        persons["comorbid"].astype("boolean").map({True: 1, False: 0}).fillna(-1).to_numpy(dtype=np.int8)
        if "comorbid" in persons
        else np.full(len(persons), -1, np.int8)
    )
    person_of_record = _record_to_person(links, person_index, [doses, cases, tests, contacts])

    def person_of(frame: pd.DataFrame) -> np.ndarray:
        rid = frame["record_id"].to_numpy(dtype=np.int64)
        return person_of_record(rid)

    d_person = person_of(doses)
    d_day = _days(doses["event_date"])
    janssen = _codes(doses["vaccine"], ONE_DOSE_COMPLETE) >= 0
    booster = _codes(doses["dose_kind"], BOOSTER_KINDS) >= 0
    second = _codes(doses["dose_kind"], ("mui_2",)) >= 0
    ok = (d_person >= 0) & (d_day != np.iinfo(np.int32).min)
    dose_ev = Events(
        d_person[ok], d_day[ok], {"janssen": janssen[ok], "booster": booster[ok], "second": second[ok]}
    )
    dose_ev = _dedupe_same_day(dose_ev.sorted())

    c_person = person_of(cases)
    c_day = _days(cases["event_date"])
    found = _codes(cases["found_in"], FOUND_IN)
    found = np.where(found < 0, FOUND_UNKNOWN, found).astype(np.int8)
    c_ward = (
        wards_codes_of(cases["ward_id"], ward_index)
        if "ward_id" in cases
        else np.full(len(cases), -1, np.int32)
    )
    ok = c_day != np.iinfo(np.int32).min
    case_ev = Events(c_person[ok], c_day[ok], {"found": found[ok], "ward": c_ward[ok]}).sorted()
    case_ev = _first_per_person(case_ev)

    t_person = person_of(tests)
    t_day = _days(tests["event_date"])
    positive = _codes(tests["result"], ("positive",)) >= 0
    ok = (t_person >= 0) & (t_day != np.iinfo(np.int32).min)
    test_ev = Events(t_person[ok], t_day[ok], {"positive": positive[ok]}).sorted()

    k_person = person_of(contacts)
    k_day = _days(contacts["event_date"])
    home = _codes(contacts["isolation"], ("home",)) >= 0
    ok = (k_person >= 0) & (k_day != np.iinfo(np.int32).min)
    contact_ev = Events(k_person[ok], k_day[ok], {"home": home[ok]}).sorted()

    return ScoreInputs(
        household_id=hh_id,
        hh_ward=ward_codes,
        hh_group=group_codes,
        hh_cells=cells,
        wards=ward_index,
        groups=group_index,
        person_id=pid,
        person_hh=person_hh,
        birth_year=birth_year,
        comorbid=comorbid,
        doses=dose_ev,
        cases=case_ev,
        tests=test_ev,
        contacts=contact_ev,
        watermark=watermark,
        unlinked_cases=int((case_ev.person < 0).sum()),
    )


def _factorize(col: pd.Series, known: pd.Index | None) -> tuple[np.ndarray, pd.Index]:
    """Codes of a text column; with `known`, codes into it (unknown values appended after it)."""
    values = col.astype("str") if len(col) else col
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = pd.Index(uniques, dtype=object)
    if known is None:
        return codes.astype(np.int32), uniques
    extra = uniques[~uniques.isin(known)]
    index = known.append(pd.Index(extra, dtype=object)) if len(extra) else pd.Index(known, dtype=object)
    remap = index.get_indexer(uniques).astype(np.int32)
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(remap) else -1, -1).astype(np.int32)
    return out, index


def wards_codes_of(col: pd.Series, index: pd.Index) -> np.ndarray:
    return index.get_indexer(col.astype(object).where(col.notna(), None)).astype(np.int32)


def _record_to_person(links: pd.DataFrame, person_index: pd.Index, frames: list[pd.DataFrame]) -> object:
    """A function record ids → person positions (−1 unlinked), by a scatter into a dense array.

    Record ids come from one sequence, so an array as long as the largest id is the fastest map; only the
    records of the kinds read are mapped (registry links are skipped).
    """
    max_id = max((int(f["record_id"].max()) for f in frames if len(f)), default=0)
    lookup = np.full(max_id + 1, -1, dtype=np.int32)
    rid = links["record_id"].to_numpy(dtype=np.int64)
    keep = (rid >= 0) & (rid <= max_id)
    rid = rid[keep]
    wanted = np.zeros(max_id + 1, dtype=bool)
    for f in frames:
        if len(f):
            wanted[f["record_id"].to_numpy(dtype=np.int64)] = True
    sel = wanted[rid]
    pos = person_index.get_indexer(links["person_id"].to_numpy(dtype=np.int64, na_value=-1)[keep][sel])
    lookup[rid[sel]] = pos.astype(np.int32)

    def person_of(record_ids: np.ndarray) -> np.ndarray:
        return lookup[record_ids] if len(record_ids) else np.zeros(0, np.int32)

    return person_of


def _dedupe_same_day(ev: Events) -> Events:
    """One dose per person and day (the same dose reported by two sites counts once)."""
    if len(ev) < 2:
        return ev
    dup = np.zeros(len(ev), dtype=bool)
    dup[1:] = (ev.person[1:] == ev.person[:-1]) & (ev.day[1:] == ev.day[:-1])
    if not dup.any():
        return ev
    keep = ~dup
    merged = ev.take(np.flatnonzero(keep))
    # Coded attributes of the duplicates are OR-ed into the kept dose (one site may name the booster).
    group = np.cumsum(keep) - 1
    for k, v in ev.attrs.items():
        if v.dtype == bool:
            merged.attrs[k] = np.bincount(group, weights=v, minlength=len(merged)) > 0
    return merged


def _first_per_person(ev: Events) -> Events:
    """The earliest event of each linked person; unlinked events stay as they are."""
    if not len(ev):
        return ev
    first = np.ones(len(ev), dtype=bool)
    first[1:] = ev.person[1:] != ev.person[:-1]
    first |= ev.person < 0
    return ev.take(np.flatnonzero(first))
