"""The full relink partition by partition (province), in-process or on Dask: equal to `risk.link.relink`.

A province's registry builds its own households and persons, and its event records block against its
own persons on every key (name keys are scoped by province when a country has several). What crosses
provinces is what a person who moved carries: an identity number, a phone or an address point that a
record in one province shares with a person registered in another; a CCCD or phone shared by unmatched
records of two provinces (one new person); and a registry person voted on, flagged and de-duplicated
with records reported elsewhere. So a relink is five small steps around the partitions:

1. **load** (per partition): its registry records (ward in the province) → households and persons; its
   event records. It reports its *strong keys* (ID, phone, address point of persons; the same of
   records), its persons' name counts and a sample of rows for the model's random pairs.
2. **cross pass** (where the run started, on the strong keys only): how many persons of the country
   share each key (a key shared by more than `MAX_BLOCK` blocks nothing anywhere) and which persons a
   partition's records reach in other partitions: those persons are sent to it, so its candidates are
   the whole relink's.
3. **candidates** (per partition): blocking and comparison levels; the anchor counts for m. The
   Fellegi–Sunter model is then estimated once from every partition's counts (m), the country's name
   frequencies and the random pairs of the merged samples (u): the whole relink's model.
4. **decide** (per partition): links, reviews and unmatched records. Unmatched records (persons outside
   the registry) are clustered together where the run started, since a CCCD or phone may join records
   of two provinces, into new persons and households.
5. **finish** (per partition, by the person's partition): every link of a person reaches the partition
   that owns it, where birth dates and CCCDs are voted, flags set and duplicate doses merged.

Every step depends only on sets (ids are hashes, ties are broken by person id, samples by id hash), so
the result equals the whole relink (`tests/ingest/test_partitioned_relink.py`). A worker holds its
partitions (Dask spills them under memory pressure); where the run started holds key columns, the
unmatched records and, to write them in one atomic step, the output tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from risk.link import (
    EVENT_KINDS,
    RECORD_COLUMNS,
    LinkResult,
    _finish_links,
    _links_and_review,
    _new_population,
    _person_frame,
    _place_households,
    _result,
    _second_pass,
    _votes,
    _with_dropped_identity,
)
from risk.link.cluster import new_persons
from risk.link.compare import compare
from risk.link.model import Model, anchor_counts, estimate_from, name_counts
from risk.link.population import build_population
from risk.link.probabilistic import (
    MAX_BLOCK,
    RANDOM_PAIRS,
    _keys,
    _take,
    candidates,
    decide,
    prepare,
    prior,
    provinces,
    provinces_of,
    random_levels,
    sample_first,
    scored_with,
)
from risk.store import Store
from risk.store.base import utcnow

STRONG_KEYS = ("id", "phone", "point")  # national blocking keys (name keys are scoped by province)
POINT_COLUMNS = ["point_id", "ward_id", "group_id", "lon", "lat", "address"]

Opener = Callable[[], Store]


def store_opener(store: Store) -> Opener:
    """A picklable callable that opens `store` again on a Dask worker."""
    import functools

    from risk.store import open_store
    from risk.store.embedded import EmbeddedStore

    if isinstance(store, EmbeddedStore):
        return functools.partial(EmbeddedStore, str(store.path))
    settings = getattr(store, "settings", None)
    if settings is not None and getattr(settings, "dsn", None):
        return functools.partial(open_store, settings)
    raise ValueError(
        "a relink on Dask opens the store on its workers: give `opener`, or a store opened from settings "
        "with RISKMAP_STORE_DSN"
    )


# -- partitions --------------------------------------------------------------------------------------


def partition_wards(store: Store) -> dict[str, list[str]]:
    """The partitions of the records: province → its ward ids ('' holds records without a province)."""
    wards = pc.unique(store.read_arrow("records", columns=["ward_id"]).column("ward_id")).to_pylist()
    ids = np.asarray([w for w in wards if w is not None], dtype=object)
    out: dict[str, list[str]] = {}
    for w, p in zip(ids.tolist(), provinces(ids).tolist(), strict=True):
        out.setdefault(p, []).append(w)
    if None in wards:
        out.setdefault("", [])
    return dict(sorted(out.items()))


def _read(
    store: Store, key: str, wards: list[str], columns: list[str] | None, kinds: list[str]
) -> pd.DataFrame:
    kind = [("kind", "in", kinds)]
    frames = [store.read_table("records", columns=columns, filters=[*kind, ("ward_id", "in", wards)])]
    if key == "":
        frames.append(
            store.read_table("records", columns=columns, filters=[*kind, ("ward_id", "is null", None)])
        )
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@dataclass
class Part:
    """One partition's state between steps (held where it was loaded)."""

    key: str
    registry: pd.DataFrame
    events: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame
    reg_links: pd.DataFrame
    people: pd.DataFrame  # persons with their household's point, ward and province
    hh_first: pd.Series  # household id → its first registry record id (order of households at a point)
    people_all: pd.DataFrame | None = None  # people + persons of other partitions its records reach
    recs: dict[str, np.ndarray] | None = None
    pairs: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None
    links: pd.DataFrame | None = None  # event links to this partition's own persons
    review: pd.DataFrame | None = None


@dataclass
class Loaded:
    """What a partition reports after loading (small: keys, counts, a bounded sample)."""

    key: str
    provinces: set[str]
    person_keys: pd.DataFrame  # key, value, person_id
    record_keys: pd.DataFrame  # key, value (distinct)
    misplaced: pd.DataFrame  # person_id, province: persons whose province is another partition's
    names: pd.Series  # folded name → persons
    rec_sample: tuple[dict[str, np.ndarray], np.ndarray]
    person_sample: tuple[dict[str, np.ndarray], np.ndarray]
    records: int
    persons: int


def load_part(opener: Opener, key: str, wards: list[str]) -> tuple[Part, Loaded]:
    """Step 1: the partition's households, persons and records, and its report."""
    store = opener()
    registry = _read(store, key, wards, None, ["registry"])
    events = _with_dropped_identity(
        _read(store, key, wards, [*RECORD_COLUMNS, "corrections"], list(EVENT_KINDS))
    )
    pts = registry["point_id"].dropna().astype("int64").unique().tolist()
    points = (
        store.read_table("address_points", columns=POINT_COLUMNS, filters=[("point_id", "in", pts)])
        if pts
        else store.read_table("address_points", columns=POINT_COLUMNS, filters=[("point_id", "=", -1)])
    )
    households, persons, reg_links = build_population(registry, points)
    persons["origin"] = "registry"
    people = _person_frame(persons, households)
    first = reg_links.groupby("person_id")["record_id"].min()
    hh_first = (
        persons.assign(first=persons["person_id"].map(first)).groupby("household_id")["first"].min()
        if len(persons)
        else pd.Series(dtype="int64")
    )
    part = Part(key, registry, events, households, persons, reg_links, people, hh_first)
    ra, pa_ = prepare(events), prepare(people)
    pk = _keys(pa_)
    person_keys = pd.concat(
        [
            pd.DataFrame({"key": k, "value": pk[k], "person_id": people["person_id"].to_numpy()})
            for k in STRONG_KEYS
        ],
        ignore_index=True,
    )
    person_keys = person_keys[person_keys["value"] != ""].drop_duplicates()
    rk = _keys(ra)
    record_keys = pd.concat(
        [pd.DataFrame({"key": k, "value": rk[k]}) for k in STRONG_KEYS], ignore_index=True
    )
    record_keys = record_keys[record_keys["value"] != ""].drop_duplicates()
    off = pa_["province"] != key
    misplaced = pd.DataFrame(
        {"person_id": people["person_id"].to_numpy()[off], "province": pa_["province"][off]}
    )
    loaded = Loaded(
        key,
        provinces_of(ra, pa_),
        person_keys.reset_index(drop=True),
        record_keys.reset_index(drop=True),
        misplaced,
        name_counts(persons["name_key"]),
        sample_first(ra, events["record_id"].to_numpy(), RANDOM_PAIRS),
        sample_first(pa_, people["person_id"].to_numpy(), RANDOM_PAIRS),
        len(events),
        len(persons),
    )
    return part, loaded


# -- the cross pass ----------------------------------------------------------------------------------


@dataclass
class Plan:
    scoped: bool
    blocked: dict[str, dict[str, np.ndarray]]  # partition → key → values too common in the country
    wanted: dict[str, dict[str, np.ndarray]]  # owner partition → requesting partition → person ids


def cross_pass(reports: Sequence[Loaded]) -> Plan:
    """Step 2, on the strong keys: keys too common in the country and the persons each partition's
    records reach in other partitions (plus persons registered in another partition's province)."""
    keys = [r.key for r in reports]
    scoped = len(set().union(*(r.provinces for r in reports))) > 1
    pk = pd.concat([r.person_keys.assign(owner=r.key) for r in reports], ignore_index=True)
    rk = pd.concat([r.record_keys.assign(part=r.key) for r in reports], ignore_index=True)
    size = pk.groupby(["key", "value"])["person_id"].transform("size")
    common = pk[(size > MAX_BLOCK).to_numpy()][["key", "value"]].drop_duplicates()
    hit = rk.merge(common, on=["key", "value"])
    blocked = {
        p: {k: g["value"].to_numpy(dtype=object) for k, g in rows.groupby("key")}
        for p, rows in hit.groupby("part")
    }
    reach = rk.merge(pk[(size <= MAX_BLOCK).to_numpy()], on=["key", "value"])
    reach = reach.loc[reach["owner"] != reach["part"], ["owner", "part", "person_id"]]
    moved = pd.concat([r.misplaced.assign(owner=r.key) for r in reports], ignore_index=True)
    moved = moved[moved["province"].isin(keys)].rename(columns={"province": "part"})
    reach = pd.concat([reach, moved[["owner", "part", "person_id"]]], ignore_index=True).drop_duplicates()
    wanted: dict[str, dict[str, np.ndarray]] = {}
    for (owner, part), g in reach.groupby(["owner", "part"]):
        wanted.setdefault(owner, {})[part] = g["person_id"].to_numpy(np.int64)
    return Plan(scoped, blocked, wanted)


def export_people(part: Part, wanted: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """Rows of this partition's persons other partitions asked for, by requesting partition."""
    by_id = part.people.set_index("person_id", drop=False)
    return {p: by_id.loc[ids].reset_index(drop=True).assign(_owner=part.key) for p, ids in wanted.items()}


# -- candidates, the model, decisions -----------------------------------------------------------------


@dataclass
class PairCounts:
    anchors: dict[str, np.ndarray]
    pairs: int
    records_with_pairs: int


def pair_part(
    part: Part, foreign: pd.DataFrame | None, scoped: bool, blocked: dict[str, np.ndarray]
) -> tuple[Part, PairCounts]:
    """Step 3: candidates of the partition's records among its persons and those it reaches."""
    own = part.people.assign(_owner=part.key)
    people_all = pd.concat([own, foreign], ignore_index=True) if foreign is not None and len(foreign) else own
    ra, pa_ = prepare(part.events), prepare(people_all)
    ri, pi = candidates(ra, pa_, scoped=scoped, blocked=blocked)
    lv = compare(_take(ra, ri), _take(pa_, pi))
    counts = PairCounts(anchor_counts(lv), len(ri), len(np.unique(ri)))
    return replace(part, people_all=people_all, recs=ra, pairs=(ri, pi, lv)), counts


def country_model(reports: Sequence[Loaded], counts: Sequence[PairCounts]) -> Model:
    """The Fellegi–Sunter model of the whole relink from the partitions' parts."""
    recs = _merge_samples([r.rec_sample for r in reports])
    people = _merge_samples([r.person_sample for r in reports])
    rand = random_levels(recs, people, RANDOM_PAIRS)
    anchors = {f: sum(c.anchors[f] for c in counts) for f in counts[0].anchors} if counts else {}
    names = (
        pd.concat([r.names for r in reports]).groupby(level=0).sum() if reports else pd.Series(dtype="int64")
    )
    model = estimate_from(anchors, rand, names)
    model.prior = prior(sum(c.pairs for c in counts), sum(c.records_with_pairs for c in counts))
    return model


def _merge_samples(samples: Sequence[tuple[dict[str, np.ndarray], np.ndarray]]) -> dict[str, np.ndarray]:
    cols = [c for c in samples[0][0] if not c.endswith("#")]  # row codes are per partition
    merged = {c: np.concatenate([s[0][c] for s in samples]) for c in cols}
    ids = np.concatenate([s[1] for s in samples])
    return sample_first(merged, ids, RANDOM_PAIRS)[0]


@dataclass
class Decided:
    unmatched: pd.DataFrame  # event records nobody known matches (RECORD_COLUMNS)
    outgoing: dict[str, tuple[pd.DataFrame, pd.DataFrame]]  # owner → (links, their records)


def decide_part(part: Part, model: Model) -> tuple[Part, Decided]:
    """Step 4: links, reviews and unmatched records of the partition's event records."""
    ri, pi, lv = part.pairs
    people = part.people_all
    pid = people["person_id"].to_numpy()
    scored = scored_with(model, ri, pi, lv, part.recs)
    dec = decide(scored, len(part.events), pid)
    links, review = _links_and_review(part.events, people, dec)
    links, review, still = _second_pass(
        part.events, people, part.recs, prepare(people), scored, model, dec, links, review
    )
    owner = pd.Series(people["_owner"].to_numpy(), index=pid)
    where = owner[~owner.index.duplicated()].reindex(links["person_id"].to_numpy()).to_numpy()
    outgoing = {}
    ev = part.events.set_index("record_id", drop=False)
    for o in pd.unique(where[where != part.key]):
        sel = links[where == o]
        outgoing[o] = (sel.reset_index(drop=True), ev.loc[sel["record_id"].to_numpy()].reset_index(drop=True))
    mine = links[where == part.key].reset_index(drop=True)
    unmatched = part.events.iloc[still][RECORD_COLUMNS].reset_index(drop=True)
    done = replace(part, links=mine, review=review, pairs=None, recs=None, people_all=None)
    return done, Decided(unmatched, outgoing)


def households_at(part: Part, points: np.ndarray) -> pd.DataFrame:
    """The partition's registry households at address points, with their first record (for order)."""
    hh = part.households
    sel = hh[hh["point_id"].isin(points)]
    return pd.DataFrame(
        {
            "household_id": sel["household_id"].to_numpy(),
            "point_id": sel["point_id"].to_numpy(),
            "first": sel["household_id"].map(part.hh_first).to_numpy(),
            "_owner": part.key,
        }
    )


@dataclass
class NewPeople:
    persons: pd.DataFrame
    households: pd.DataFrame
    links: pd.DataFrame
    records: pd.DataFrame


def new_people(
    unmatched: pd.DataFrame, registry_at: pd.DataFrame, points: pd.DataFrame, keys: Sequence[str]
) -> dict[str, NewPeople]:
    """Unmatched records of every partition clustered into new persons (a CCCD or phone may join
    records of two provinces), each with its household, by the partition that will own it."""
    if not len(unmatched):
        return {}
    at = registry_at.sort_values(["first", "household_id"], kind="stable")
    labels = new_persons(unmatched)
    persons, hh, links = _new_population(unmatched, labels, at)
    hh = _place_households(hh, points)
    # a person lives where its household is: a registry household's partition, else its ward's
    # province, else the partition of its first record
    reg_owner = at.drop_duplicates("household_id").set_index("household_id")["_owner"]
    first_rec = links.groupby("person_id")["record_id"].min()
    rec_part = pd.Series(provinces(unmatched["ward_id"].to_numpy()), index=unmatched["record_id"].to_numpy())
    hh_prov = (
        pd.Series(provinces(hh["ward_id"].to_numpy()), index=hh["household_id"].to_numpy())
        if len(hh)
        else None
    )
    owner = persons["household_id"].map(reg_owner)
    if hh_prov is not None:
        owner = owner.fillna(persons["household_id"].map(hh_prov[hh_prov.isin(keys)]))
    fallback = persons["person_id"].map(first_rec).map(rec_part)
    owner = owner.where(owner.notna() & (owner != ""), fallback).fillna("")
    owner = owner.where(owner.isin(keys), keys[0])
    by_person = pd.Series(owner.to_numpy(), index=persons["person_id"].to_numpy())
    hh_owner = persons.groupby("household_id")["person_id"].first().map(by_person)
    out = {}
    for o in pd.unique(owner):
        mine = by_person.index[by_person == o]
        ln = links[links["person_id"].isin(mine)].reset_index(drop=True)
        out[o] = NewPeople(
            persons[persons["person_id"].isin(mine)].reset_index(drop=True),
            hh[hh["household_id"].map(hh_owner) == o].reset_index(drop=True),
            ln,
            unmatched[unmatched["record_id"].isin(ln["record_id"])].reset_index(drop=True),
        )
    return out


# -- finishing ---------------------------------------------------------------------------------------


@dataclass
class Finished:
    households: pd.DataFrame
    persons: pd.DataFrame
    links: pd.DataFrame  # with the registry's own links
    review: pd.DataFrame
    persons_new: int


def finish_part(
    part: Part, incoming: Sequence[tuple[pd.DataFrame, pd.DataFrame]], new: NewPeople | None
) -> Finished:
    """Step 5: every link of the partition's persons together: votes, flags, merged doses, sizes."""
    new = new or NewPeople(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    households = (
        pd.concat([part.households, new.households], ignore_index=True)
        if len(new.households)
        else part.households
    )
    persons = pd.concat([part.persons, new.persons], ignore_index=True) if len(new.persons) else part.persons
    event_links = [part.links, *(ln for ln, _ in incoming), new.links]
    links = pd.concat(
        [part.reg_links.assign(match_weight=np.float32(np.nan)), *(x for x in event_links if len(x))],
        ignore_index=True,
    )
    records = [
        part.registry[RECORD_COLUMNS],
        part.events[RECORD_COLUMNS],
        *(r for _, r in incoming),
        new.records,
    ]
    all_records = pd.concat([r for r in records if len(r)], ignore_index=True).drop_duplicates("record_id")
    persons, confirmed = _votes(persons, all_records, links)
    links = _finish_links(links, all_records, persons, households, confirmed)
    sizes = persons.groupby("household_id").size()
    households = households.assign(size=households["household_id"].map(sizes).fillna(0).astype("int16"))
    return Finished(households, persons, links, part.review, len(new.persons))


# -- running -----------------------------------------------------------------------------------------


class _Steps:
    """Submit a step where its partition is (a Dask worker) or run it here."""

    def __init__(self, runner: Any) -> None:
        self.client = runner.client

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is None:
            return fn(*args)
        return self.client.submit(fn, *args, pure=False)

    def item(self, value: Any, i: int) -> Any:
        if self.client is None:
            return value[i]
        import operator

        return self.client.submit(operator.getitem, value, i, pure=False)

    def gather(self, values: list[Any]) -> list[Any]:
        return values if self.client is None else self.client.gather(values)


@dataclass
class PartitionedLink:
    result: LinkResult
    partitions: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    where: str = "in-process"


def relink_partitioned(
    store: Store,
    *,
    opener: Opener | None = None,
    client: Any = None,
    scheduler: str | None = None,
) -> PartitionedLink:
    """`risk.link.relink` partition by partition (see the module docstring); writes the same tables.

    `opener` opens the store where a partition is loaded (on Dask: a picklable callable, e.g.
    `functools.partial(open_store, settings)`); in-process it defaults to `store` itself."""
    from risk.runner import Runner

    runner = Runner(client, scheduler)
    try:
        opener = opener or (store_opener(store) if runner.client is not None else lambda: store)
    except ValueError:
        runner.close()
        raise
    steps = _Steps(runner)
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        wards = partition_wards(store)
        keys = list(wards)
        if len([k for k in keys if k]) <= 1:
            # One province (a city): name keys are national, so records without a ward would need every
            # person; there is nothing to split, and the whole relink is the same thing.
            from risk.link import _relink_whole

            return PartitionedLink(_relink_whole(store), keys[-1:], timings, "in-process (one province)")
        loaded = [steps.submit(load_part, opener, k, wards[k]) for k in keys]
        parts = [steps.item(x, 0) for x in loaded]
        reports: list[Loaded] = steps.gather([steps.item(x, 1) for x in loaded])
        timings["load"] = time.perf_counter() - t

        t = time.perf_counter()
        plan = cross_pass(reports)
        exports = steps.gather(
            [
                steps.submit(export_people, p, plan.wanted[k])
                for k, p in zip(keys, parts, strict=True)
                if k in plan.wanted
            ]
        )
        foreign: dict[str, list[pd.DataFrame]] = {}
        for ex in exports:
            for target, rows in ex.items():
                foreign.setdefault(target, []).append(rows)
        timings["cross_pass"] = time.perf_counter() - t

        t = time.perf_counter()
        paired = [
            steps.submit(
                pair_part,
                p,
                pd.concat(foreign[k], ignore_index=True) if k in foreign else None,
                plan.scoped,
                plan.blocked.get(k, {}),
            )
            for k, p in zip(keys, parts, strict=True)
        ]
        parts = [steps.item(x, 0) for x in paired]
        counts: list[PairCounts] = steps.gather([steps.item(x, 1) for x in paired])
        model = country_model(reports, counts)
        timings["candidates_model"] = time.perf_counter() - t

        t = time.perf_counter()
        decided = [steps.submit(decide_part, p, model) for p in parts]
        parts = [steps.item(x, 0) for x in decided]
        outcomes: list[Decided] = steps.gather([steps.item(x, 1) for x in decided])
        unmatched = pd.concat([o.unmatched for o in outcomes], ignore_index=True)
        pts = pd.to_numeric(unmatched["point_id"], errors="coerce").dropna().astype("int64").unique()
        registry_at = pd.concat(
            steps.gather([steps.submit(households_at, p, pts) for p in parts]), ignore_index=True
        )
        points = store.read_table(
            "address_points", columns=POINT_COLUMNS, filters=[("point_id", "in", pts.tolist() or [-1])]
        )
        new = new_people(unmatched, registry_at, points, keys)
        timings["decide_cluster"] = time.perf_counter() - t

        t = time.perf_counter()
        incoming: dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]] = {}
        for o in outcomes:
            for owner, moved in o.outgoing.items():
                incoming.setdefault(owner, []).append(moved)
        finished: list[Finished] = steps.gather(
            [
                steps.submit(finish_part, p, incoming.get(k, []), new.get(k))
                for k, p in zip(keys, parts, strict=True)
            ]
        )
        timings["finish"] = time.perf_counter() - t

        t = time.perf_counter()
        result = _write(store, finished, sum(r.records for r in reports), model)
        timings["write"] = time.perf_counter() - t
        return PartitionedLink(result, keys, timings, runner.where)
    finally:
        runner.close()


def _write(store: Store, finished: Sequence[Finished], n_events: int, model: Model) -> LinkResult:
    households = pd.concat([f.households for f in finished], ignore_index=True)
    persons = pd.concat([f.persons for f in finished], ignore_index=True)
    all_links = pd.concat([f.links for f in finished if len(f.links)], ignore_index=True)
    review = pd.concat(
        [f.review for f in finished if f.review is not None and len(f.review)], ignore_index=True
    )
    if not len(review):
        review = finished[0].review
    now = utcnow()
    links = all_links[all_links["method"] != "registry"]
    batches = pd.DataFrame(
        {"batch_id": [b.batch_id for b in store.list_batches()], "mode": "full", "linked_at": now}
    )
    store.write_tables(
        {
            "households": households,
            "persons": persons,
            "links": all_links.assign(linked_at=now),
            "link_reviews": review.assign(created_at=now),
            "linked_batches": batches,
        },
        mode="replace",
    )
    new = persons[persons["origin"] == "feeds"]
    events = pd.DataFrame(index=range(n_events))
    return _result(households, persons, events, links, review, new, "full", model.describe())


__all__ = ["PartitionedLink", "partition_wards", "relink_partitioned", "store_opener"]
