"""What scoring reads from the store, held as compact typed arrays keyed by dense positions.

Households and persons get positions 0…H−1 and 0…P−1; every event carries its person's position (−1 when
the record is not linked to a person), its day (days since 1970-01-01) and a few coded attributes.
Reading takes only the columns scoring needs, one record kind at a time, and maps records to persons
with one scatter into an array indexed by record id (record ids are a dense sequence). Everything after
this module is numpy over these arrays: no per-person or per-record Python.

Persons count once however many records they have: two reports of one case are one case (the earliest
report counts). Doses are read with their kind, so a dose reported twice cannot make a first dose look
like a full series (see `risk.score.status`). Doses and tests stay in record order (per-person sums are
bincounts); cases and contacts are sorted by (person, day).
"""

from __future__ import annotations

import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor
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
# Dose kind codes: 0 first dose, 1 second dose, 2 booster (any), 3 Janssen (complete in one), −1 not stated.
DOSE_KINDS = ("mui_1", "mui_2", *BOOSTER_KINDS)
FIRST, SECOND, BOOSTER, JANSSEN, UNSTATED = 0, 1, 2, 3, -1
ONE_DOSE_COMPLETE = ("janssen",)
CELL_RESOLUTIONS = (8, 9, 10)


def day_of(value: dt.date | dt.datetime | pd.Timestamp) -> int:
    """Days since 1970-01-01 of a date (a datetime counts by its calendar date)."""
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime
        value = value.date()
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def date_of(day: int) -> dt.date:
    return (EPOCH + np.timedelta64(int(day), "D")).astype(dt.date)


Column = pa.ChunkedArray | pa.Array
NO_DAY = np.iinfo(np.int32).min


def _arrow(col: Column | pd.Series) -> pa.ChunkedArray | pa.Array:
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return col
    return pa.array(col.array) if hasattr(col.array, "__arrow_array__") else pa.array(col, from_pandas=True)


def _days(col: Column | pd.Series) -> np.ndarray:
    """Dates → int32 days since 1970-01-01; missing → NO_DAY."""
    arr = _arrow(col)
    if pa.types.is_timestamp(arr.type):
        arr = pc.cast(arr, pa.date32())
    if not pa.types.is_date32(arr.type):
        arr = pc.cast(pc.cast(arr, pa.timestamp("s")), pa.date32())
    return np.asarray(
        pc.fill_null(pc.cast(arr, pa.int32()), NO_DAY).to_numpy(zero_copy_only=False), dtype=np.int32
    )


def _ints(col: Column | pd.Series, na: int = -1, dtype: type = np.int64) -> np.ndarray:
    arr = _arrow(col)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(na, arr.type))
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=dtype)


# Above this many keys a lookup uses the open-addressing table of `_hash_table` (numpy), below it Arrow.
PARTITION_KEYS = 1_000_000
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _slots(ids: np.ndarray, bits: int) -> np.ndarray:
    """Home slot of each 64-bit id in a table of 2^bits slots: the top bits of a multiplicative hash
    (spread evenly even for sequential ids)."""
    with np.errstate(over="ignore"):
        return ((ids.view(np.uint64) * _GOLDEN) >> np.uint64(64 - bits)).astype(np.int64)


def _hash_table(keys: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """An open-addressing table (linear probing, at most half full) of the positions of `keys`, built
    with whole-array numpy steps: each round places every pending key whose slot is free (one key wins
    a slot several want) and moves the others one slot on. Raises when two keys are equal (a duplicate
    meets its twin on the way, since nothing is ever removed)."""
    n = len(keys)
    bits = max(int(2 * n - 1).bit_length(), 4)
    mask = (1 << bits) - 1
    table = np.full(1 << bits, -1, dtype=np.int32)
    slot = _slots(keys, bits)
    pending = np.arange(n, dtype=np.int32)
    while len(pending):
        free = table[slot] < 0
        table[slot[free]] = pending[free]
        lost = table[slot] != pending
        pending, slot = pending[lost], slot[lost]
        if len(pending):
            if (keys[table[slot]] == keys[pending]).any():
                raise ValueError(f"{what}: ids are not unique")
            slot = (slot + 1) & mask
    return table, bits


def _probe(values: np.ndarray, keys: np.ndarray, table: np.ndarray, bits: int) -> np.ndarray:
    """Positions of `values` among `keys` through their `_hash_table` (−1 when absent)."""
    mask = (1 << bits) - 1
    slot = _slots(values, bits)
    t = table[slot]
    hit = (t >= 0) & (keys[np.maximum(t, 0)] == values)
    out = np.where(hit, t, -1).astype(np.int32)
    rest = np.flatnonzero((t >= 0) & ~hit)  # the slot holds another key: look further
    slot = slot[rest]
    while len(rest):
        slot = (slot + 1) & mask
        t = table[slot]
        hit = (t >= 0) & (keys[np.maximum(t, 0)] == values[rest])
        out[rest[hit]] = t[hit]
        go_on = (t >= 0) & ~hit
        rest, slot = rest[go_on], slot[go_on]
    return out


def positions(values: np.ndarray, keys: np.ndarray, what: str) -> np.ndarray:
    """Position of each value among `keys` (−1 when absent); `keys` must be unique (checked).

    Up to `PARTITION_KEYS` keys by Arrow's hash lookup. Past that (14.5 M persons, 39 M records at full
    scale) by a numpy open-addressing table (`_hash_table`): built once, then probed by
    RISKMAP_SCORE_THREADS threads over slices of the values (numpy's gathers release the GIL). Less
    than half the CPU time of Arrow's lookups partitioned to fit the cache, which rebuilt each
    partition's hash table per slice and once more to check uniqueness.
    """
    values = np.asarray(values, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) <= PARTITION_KEYS:
        return _lookup(values, keys, what, 0)
    table, bits = _hash_table(keys, what)
    threads = _threads()
    if threads == 1 or len(values) < 2 * PARTITION_KEYS:
        return _probe(values, keys, table, bits)
    cuts = np.linspace(0, len(values), threads + 1).astype(np.int64)
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(
            lambda ab: _probe(values[ab[0] : ab[1]], keys, table, bits), itertools.pairwise(cuts)
        )
        return np.concatenate(list(parts))


def _threads() -> int:
    from risk.score.settings import score_settings

    return score_settings().threads


def _lookup(
    values: np.ndarray, keys: np.ndarray, what: str, offset: int, *, check: bool = True
) -> np.ndarray:
    """Positions (+ offset) of values among unique keys (checked unless `check` is false), −1 when absent."""
    key_arr = pa.array(keys)
    if check and len(keys) and pc.count_distinct(key_arr).as_py() != len(keys):
        raise ValueError(f"{what}: ids are not unique")
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    idx = pc.index_in(pa.array(values), value_set=key_arr)
    loc = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(loc >= 0, loc + offset, -1)


def _codes(col: Column | pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Positions of a text column's values in `values` (−1 for others and missing), via Arrow."""
    idx = pc.index_in(pc.cast(_arrow(col), pa.string()), value_set=pa.array(list(values), pa.string()))
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
    doses: Events  # attrs: kind (int8: FIRST, SECOND, BOOSTER, JANSSEN, UNSTATED); in record order
    cases: Events  # one per person (earliest report), sorted: found (int8, FOUND_IN code), ward (int32)
    tests: Events  # attrs: positive (bool); in record order
    contacts: Events  # attrs: home (bool); sorted by (person, day)
    watermark: int = 0  # highest batch id read
    unlinked_cases: int = 0
    # Households each row stands for (None: one each). Partitioned scoring reduces its partitions to one
    # row per (ward, group, cells) with the summed counts: unit sizes and majorities weigh rows by this.
    household_weight: np.ndarray | None = None

    @property
    def n_households(self) -> int:
        return len(self.household_id)

    @property
    def n_persons(self) -> int:
        return len(self.person_id)

    def person_ward(self) -> np.ndarray:
        return np.where(self.person_hh >= 0, self.hh_ward[np.maximum(self.person_hh, 0)], -1).astype(np.int32)


Frame = pa.Table | pd.DataFrame


def read_inputs(store: Store, wards: pd.Index | None = None) -> ScoreInputs:
    """Read households, persons, links and event records (needed columns only, as Arrow) into `ScoreInputs`."""
    hh = store.read_arrow(
        "households", columns=["household_id", "ward_id", "group_id", *(f"h3_{r}" for r in CELL_RESOLUTIONS)]
    )
    persons = store.read_arrow("persons", columns=["person_id", "household_id", "birth_year", "comorbid"])
    links = store.read_arrow("links", columns=["record_id", "person_id"])
    doses = store.read_arrow(
        "records",
        columns=["record_id", "event_date", "vaccine", "dose_kind"],
        filters=[("kind", "=", "dose")],
    )
    cases = store.read_arrow(
        "records", columns=["record_id", "event_date", "found_in", "ward_id"], filters=[("kind", "=", "case")]
    )
    tests = store.read_arrow(
        "records", columns=["record_id", "event_date", "result"], filters=[("kind", "=", "test")]
    )
    contacts = store.read_arrow(
        "records", columns=["record_id", "event_date", "isolation"], filters=[("kind", "=", "contact")]
    )
    watermark = max((b.batch_id or 0 for b in store.list_batches()), default=0)
    return build_inputs(hh, persons, links, doses, cases, tests, contacts, wards=wards, watermark=watermark)


def _table(frame: Frame) -> pa.Table:
    return frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)


def build_inputs(
    households: Frame,
    persons: Frame,
    links: Frame,
    doses: Frame,
    cases: Frame,
    tests: Frame,
    contacts: Frame,
    *,
    wards: pd.Index | None = None,
    watermark: int = 0,
) -> ScoreInputs:
    """`ScoreInputs` from tables in the store's layout (Arrow or pandas; see `read_inputs` for columns).

    Persons are ordered by household, so a household's members are contiguous (sums per household are
    then one `np.add.reduceat`).
    """
    households, persons, links = _table(households), _table(persons), _table(links)
    doses, cases, tests, contacts = (_table(f) for f in (doses, cases, tests, contacts))
    hh_id = _ints(households["household_id"])
    ward_codes, ward_index = _factorize(households["ward_id"], wards)
    group_codes, group_index = _factorize(households["group_id"], None)
    cells = {
        r: _ints(households[f"h3_{r}"], 0, np.uint64)
        if f"h3_{r}" in households.column_names
        else np.zeros(households.num_rows, np.uint64)
        for r in CELL_RESOLUTIONS
    }
    person_hh = positions(_ints(persons["household_id"]), hh_id, "households")
    order = np.argsort(person_hh, kind="stable")  # members of a household together
    person_hh = person_hh[order]
    pid = _ints(persons["person_id"])[order]
    by = pc.cast(persons["birth_year"], pa.float32()) if "birth_year" in persons.column_names else None
    birth_year = (
        np.asarray(pc.fill_null(by, np.nan).to_numpy(zero_copy_only=False), dtype=np.float32)[order]
        if by is not None
        else np.full(len(pid), np.nan, np.float32)
    )
    if "comorbid" in persons.column_names:
        cm = persons["comorbid"]
        comorbid = np.where(
            _ints(pc.cast(cm, pa.int8()), -1, np.int8) == 1,
            1,
            np.where(pc.is_null(cm).to_numpy(zero_copy_only=False), -1, 0),
        ).astype(np.int8)[order]
    else:
        comorbid = np.full(len(pid), -1, np.int8)
    person_of = _record_to_person(links, pid, [doses, cases, tests, contacts])

    d_person = person_of(doses)
    d_day = _days(doses["event_date"])
    kind = dose_kinds(
        _codes(doses["dose_kind"], DOSE_KINDS), _codes(doses["vaccine"], ONE_DOSE_COMPLETE) >= 0
    )
    ok = (d_person >= 0) & (d_day != NO_DAY)
    dose_ev = Events(d_person[ok], d_day[ok], {"kind": kind[ok]})

    c_person = person_of(cases)
    c_day = _days(cases["event_date"])
    found = _codes(cases["found_in"], FOUND_IN)
    found = np.where(found < 0, FOUND_UNKNOWN, found).astype(np.int8)
    c_ward = (
        ward_index.get_indexer(np.asarray(cases["ward_id"].to_pylist(), dtype=object)).astype(np.int32)
        if "ward_id" in cases.column_names
        else np.full(cases.num_rows, -1, np.int32)
    )
    ok = c_day != NO_DAY
    case_ev = _first_per_person(
        Events(c_person[ok], c_day[ok], {"found": found[ok], "ward": c_ward[ok]}).sorted()
    )

    t_person = person_of(tests)
    t_day = _days(tests["event_date"])
    positive = _codes(tests["result"], ("positive",)) >= 0
    ok = (t_person >= 0) & (t_day != NO_DAY)
    test_ev = Events(t_person[ok], t_day[ok], {"positive": positive[ok]})

    k_person = person_of(contacts)
    k_day = _days(contacts["event_date"])
    home = _codes(contacts["isolation"], ("home",)) >= 0
    ok = (k_person >= 0) & (k_day != NO_DAY)
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


def _factorize(col: Column, known: pd.Index | None) -> tuple[np.ndarray, pd.Index]:
    """Codes of a text column (−1 missing) into its sorted distinct values (the same codes whatever
    order the store returns rows in, and in every partition of a partitioned run); with `known`, codes
    into it (unknown values appended)."""
    enc = pc.dictionary_encode(pc.cast(_arrow(col), pa.string()))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks() if enc.num_chunks != 1 else enc.chunk(0)
        if isinstance(enc, pa.ChunkedArray):  # no chunks at all
            enc = pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
    uniques = pd.Index(enc.dictionary.to_pylist(), dtype=object)
    if known is None:
        order = np.argsort(np.asarray(uniques, dtype=object), kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(rank) else -1, -1).astype(np.int32)
        return codes, pd.Index(np.asarray(uniques, dtype=object)[order], dtype=object)
    extra = uniques[~uniques.isin(known)]
    index = known.append(pd.Index(extra, dtype=object)) if len(extra) else pd.Index(known, dtype=object)
    remap = index.get_indexer(uniques).astype(np.int32)
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(remap) else -1, -1).astype(np.int32)
    return out, index


def _record_to_person(links: pa.Table, person_ids: np.ndarray, frames: list[pa.Table]) -> object:
    """A function record table → person positions (−1 unlinked).

    Where record ids are dense (one sequence, as the truth loader writes them) an array as long as the
    largest id is the fastest map; ingested ids are sparse (batch and row in one 64-bit number), so then
    the linked ids are sorted once and looked up by binary search. Only the records of the kinds read are
    mapped (registry links are skipped before the person lookup).
    """
    rec_ids = [_ints(f["record_id"]) for f in frames]
    n_records = sum(len(r) for r in rec_ids)
    max_id = max((int(r.max()) for r in rec_ids if len(r)), default=0)
    rid = _ints(links["record_id"])
    if max_id <= 4 * max(n_records, len(rid)) + (1 << 20):
        lookup = np.full(max_id + 1, -1, dtype=np.int32)
        keep = (rid >= 0) & (rid <= max_id)
        wanted = np.zeros(max_id + 1, dtype=bool)
        for r in rec_ids:
            wanted[r[r >= 0]] = True
        sel = keep.copy()
        sel[keep] = wanted[rid[keep]]
        lookup[rid[sel]] = positions(_ints(links["person_id"])[sel], person_ids, "persons")

        def person_of(frame: pa.Table) -> np.ndarray:
            r = _ints(frame["record_id"])
            return lookup[r] if len(r) else np.zeros(0, np.int32)

        return person_of

    read = np.unique(np.concatenate(rec_ids)) if rec_ids else np.zeros(0, np.int64)
    sel = np.isin(rid, read, assume_unique=False)
    order = np.argsort(rid[sel], kind="stable")
    keys = rid[sel][order]
    persons = positions(_ints(links["person_id"])[sel][order], person_ids, "persons").astype(np.int32)

    def person_of_sparse(frame: pa.Table) -> np.ndarray:
        r = _ints(frame["record_id"])
        if not len(r) or not len(keys):
            return np.full(len(r), -1, np.int32)
        i = np.minimum(np.searchsorted(keys, r), len(keys) - 1)
        return np.where(keys[i] == r, persons[i], -1).astype(np.int32)

    return person_of_sparse


def dose_kinds(kind_codes: np.ndarray, janssen: np.ndarray) -> np.ndarray:
    """Dose kind codes from `DOSE_KINDS` positions and the vaccine being Janssen."""
    out = np.where(kind_codes < 0, UNSTATED, np.minimum(kind_codes, BOOSTER)).astype(np.int8)
    return np.where(janssen & (out != BOOSTER), JANSSEN, out).astype(np.int8)


def _first_per_person(ev: Events) -> Events:
    """The earliest event of each linked person; unlinked events stay as they are."""
    if not len(ev):
        return ev
    first = np.ones(len(ev), dtype=bool)
    first[1:] = ev.person[1:] != ev.person[:-1]
    first |= ev.person < 0
    return ev.take(np.flatnonzero(first))
