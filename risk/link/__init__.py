"""Linkage: records → persons → households, written to the store in one atomic step.

* `relink(store)`: the full rebuild (nightly). Households and persons from the registry
  (`population`), then every event record scored against them (`probabilistic`: blocking, Fellegi–
  Sunter with term-frequency adjusted names, a decision that never links on the name alone), the
  unmatched ones clustered into new persons (`cluster`), registry persons' birth dates corrected where
  their own records out-vote a swapped registry entry, duplicate doses merged and conflicts flagged.
* `link_new(store)`: the incremental step after an ingest: only batches not linked yet are scored, against
  the persons already known (registry and earlier new persons); what it adds is appended. A batch of the
  registry changes the population itself, so it triggers the full rebuild.

Outputs: `persons` (origin `registry` or `feeds`), `households`, `links` (probability, match weight,
method `registry` / `id` / `probabilistic` / `new_person`, `same_as` for merged doses, `flags`),
`link_reviews` (records waiting for a person to decide, with their top candidates) and `linked_batches`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from risk.link.cluster import FLAG_CODES, ambiguous_dates, flag_bits, merge_doses, new_persons, stable_id
from risk.link.compare import encode
from risk.link.population import build_population
from risk.link.probabilistic import Decision, decide, prepare, score
from risk.link.settings import link_settings
from risk.store import Store
from risk.store.base import utcnow

EVENT_KINDS = ("dose", "test", "case", "contact")
RECORD_COLUMNS = [
    "record_id",
    "batch_id",
    "kind",
    "name_key",
    "birth_date",
    "birth_precision",
    "birth_year",
    "sex",
    "id_number",
    "id_kind",
    "phone",
    "point_id",
    "ward_id",
    "event_date",
    "full_name",
]

# what votes and flags read of every linked record
FINISH_COLUMNS = [
    "record_id",
    "kind",
    "birth_date",
    "birth_precision",
    "birth_year",
    "id_number",
    "id_kind",
    "event_date",
]


@dataclass(frozen=True)
class LinkResult:
    households: int
    persons: int
    records: int
    linked: int
    by_method: dict[str, int]
    review: int = 0
    new_persons: int = 0
    merged_doses: int = 0
    mode: str = "full"
    model: dict = field(default_factory=dict)

    def summary(self) -> str:
        share = self.linked / self.records if self.records else 0.0
        methods = ", ".join(f"{k} {v}" for k, v in sorted(self.by_method.items()))
        return (
            f"{self.mode} link: {self.households} households, {self.persons} persons; {self.linked}/"
            f"{self.records} event records linked ({share:.1%}): {methods}; {self.review} for review; "
            f"{self.new_persons} new persons outside the registry; {self.merged_doses} duplicate doses merged"
        )


def _person_frame(persons: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    hh = households[[c for c in ("household_id", "point_id", "ward_id", "province") if c in households]]
    p = persons.merge(hh, on="household_id", how="left")
    if "birth_precision" not in p:
        p["birth_precision"] = np.where(
            p["birth_date"].notna(), "day", np.where(p["birth_year"].notna(), "year", "")
        )
    return p


def _majority(
    persons: pd.DataFrame, person: np.ndarray, people: np.ndarray, values: pd.Series, col: str
) -> tuple[pd.DataFrame, pd.Series]:
    """A person's value of `col` by majority of its records (registry entry and linked events): a
    registry entry with day and month swapped, or a typo'd CCCD, is out-voted by the person's own
    records. `person`: each vote's person as a code into `people` (sorted person ids); `values`: each
    vote's value (missing: no vote). Returns the persons and, per person, whether the value is confirmed
    (≥ 2 records agree and no other value has as many). Ties go to the smallest value."""
    ok = values.notna().to_numpy(dtype=bool) & (person >= 0)
    if not pd.api.types.is_datetime64_any_dtype(values):  # a date is never empty text
        ok = ok & (values.astype(str) != "").to_numpy(dtype=bool)
    if not ok.any():
        return persons, pd.Series(dtype=bool)
    # votes per (person, value) on sorted integer codes: persons ascending, values in their order
    pcode = person[ok]
    vcode, uniq = pd.factorize(values[ok], sort=True)
    width = max(len(uniq), 1)
    pair, n = np.unique(pcode.astype(np.int64) * width + vcode, return_counts=True)
    who, what = pair // width, pair % width
    # per person: most votes first, then the smallest value (pairs are distinct: one integer sort key)
    top = int(n.max())
    order = np.argsort((who * (top + 1) + (top - n)) * width + what)
    who, what, n = who[order], what[order], n[order]
    first = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    nxt = np.minimum(first + 1, len(who) - 1)
    second = np.where((first + 1 < len(who)) & (who[nxt] == who[first]), n[nxt], 0)
    top_n = n[first]
    index = pd.Index(np.asarray(people)[who[first]], name="person_id")
    winner = top_n > second
    confirmed = pd.Series(winner & (top_n >= 2), index=index)
    # the winners' values into the persons' column by position: one take over (column, values)
    at = pd.Index(persons["person_id"]).get_indexer(index[winner])
    known = at >= 0
    take = np.arange(len(persons), dtype=np.int64)
    take[at[known]] = len(persons) + what[first][winner][known]
    both = pd.concat([persons[col], pd.Series(uniq)], ignore_index=True)
    out = persons.copy()
    out[col] = both.take(take).to_numpy() if both.dtype == object else both.take(take).array
    return _person_id_first(out), confirmed


def _person_id_first(persons: pd.DataFrame) -> pd.DataFrame:
    """Persons with `person_id` as the first column (as votes have always returned them)."""
    cols = list(persons.columns)
    return (
        persons[["person_id", *(c for c in cols if c != "person_id")]] if cols[0] != "person_id" else persons
    )


def _new_population(
    recs: pd.DataFrame, labels: np.ndarray, households: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Persons (origin feeds), their households and links from clustered unmatched records."""
    if not len(recs):
        empty = pd.DataFrame()
        return empty, empty, empty
    r = recs.reset_index(drop=True).assign(label=labels)
    first = r.groupby("label")["record_id"].transform("min")
    r["person_id"] = stable_id(first.astype(str), "feeds-person")
    # person attributes: the commonest value of its records
    ordered = r.sort_values(["person_id", "record_id"])

    def mode(col: str) -> pd.Series:
        v = ordered[["person_id", col]].dropna()
        if col in ("id_number", "phone", "name_key", "full_name", "sex"):
            v = v[v[col].astype(str) != ""]
        return (
            v.groupby(["person_id", col], sort=False)
            .size()
            .rename("n")
            .reset_index()
            .sort_values(["person_id", "n"], ascending=[True, False], kind="stable")
            .drop_duplicates("person_id")
            .set_index("person_id")[col]
        )

    pids = pd.Index(ordered["person_id"].unique())
    persons = pd.DataFrame({"person_id": pids})
    for col in ("full_name", "name_key", "sex", "id_number", "phone", "birth_year"):
        persons[col] = mode(col).reindex(pids).to_numpy()
    day = ordered[ordered["birth_precision"] == "day"]
    bd = (
        day.groupby(["person_id", "birth_date"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["person_id", "n"], ascending=[True, False], kind="stable")
        .drop_duplicates("person_id")
        .set_index("person_id")["birth_date"]
    )
    persons["birth_date"] = bd.reindex(pids).to_numpy()
    kind = (
        ordered[ordered["id_number"].fillna("") != ""]
        .drop_duplicates("person_id")
        .set_index("person_id")["id_kind"]
    )
    persons["id_kind"] = kind.reindex(pids).to_numpy()
    # household: the registry household at the person's point, else one per point, else one per person
    pt = mode("point_id").reindex(pids)
    ward = mode("ward_id").reindex(pids)
    at_point = (
        households.dropna(subset=["point_id"])
        .drop_duplicates("point_id")
        .set_index("point_id")["household_id"]
        .astype("Int64")
    )
    mapped = pt.map(at_point)
    need = mapped.isna().to_numpy()
    hid = np.zeros(len(pids), dtype=np.int64)  # int64 throughout: ids do not survive a float
    hid[~need] = mapped[~need].astype("int64").to_numpy()
    keys = np.where(
        pt.notna().to_numpy(),
        "point|" + pt.astype("string").fillna("").to_numpy(dtype=object),
        "person|" + pids.astype(str).to_numpy(dtype=object),
    )
    hid[need] = stable_id(pd.Series(keys[need]), "feeds-household")
    hid = pd.Series(hid, index=pids)
    persons["household_id"] = hid.to_numpy(dtype=np.int64)
    persons["origin"] = "feeds"
    new_hh = pd.DataFrame(
        {
            "household_id": hid[need].to_numpy(dtype=np.int64),
            "point_id": pt[need].to_numpy(),
            "ward_id": ward[need].to_numpy(),
        }
    ).drop_duplicates("household_id")
    links = pd.DataFrame(
        {
            "record_id": r["record_id"].to_numpy(),
            "person_id": r["person_id"].to_numpy(),
            "probability": np.float32(1.0),
            "method": "new_person",
        }
    )
    return persons, new_hh, links


def _place_households(new_hh: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Coordinates, group and H3 cells of households created from feeds (from their address points)."""
    from geo import h3cells

    if not len(new_hh):
        return new_hh
    pts = points.set_index("point_id")[["ward_id", "group_id", "lon", "lat", "address"]]
    at = pts.reindex(pd.to_numeric(new_hh["point_id"], errors="coerce").astype("Int64"))
    hh = new_hh.copy()
    hh["ward_id"] = np.where(at["ward_id"].notna(), at["ward_id"], hh["ward_id"])
    hh["group_id"] = at["group_id"].to_numpy()
    hh["lon"] = at["lon"].to_numpy()
    hh["lat"] = at["lat"].to_numpy()
    hh["address"] = at["address"].to_numpy()
    hh["size"] = 0
    located = hh["lat"].notna().to_numpy()
    for res, cells in h3cells.cells_multi(
        hh.loc[located, "lat"].to_numpy(), hh.loc[located, "lon"].to_numpy()
    ).items():
        col = np.zeros(len(hh), dtype=np.uint64)
        col[located] = cells
        hh[f"h3_{res}"] = pd.array(col, dtype="UInt64")
        hh.loc[~located, f"h3_{res}"] = pd.NA
    return hh


def _link_events(
    events: pd.DataFrame,
    people: pd.DataFrame,
    households: pd.DataFrame,
    prepared: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(links, review rows, new persons, new households, model description) for event records.
    `prepared`: (`prepare(events)`, `prepare(people)`) when already done."""
    if not len(events):
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {}
    ra, pa_ = prepared if prepared is not None else (prepare(events), prepare(people))
    rid = events["record_id"].to_numpy()
    pid = people["person_id"].to_numpy()
    scored, model = score(
        ra, pa_, person_names=people["name_key"], rec_ids=rid, person_ids=pid, codes=encode(ra, pa_)
    )
    dec = decide(scored, len(events), pid)
    links, review = _links_and_review(events, people, dec)
    links, review, unmatched = _second_pass(events, people, ra, pa_, scored, model, dec, links, review)
    left = events.iloc[unmatched]
    labels, found, held = _found_or_review(left)
    if len(held):
        review = pd.concat([review, held], ignore_index=True)
    persons_new, hh_new, links_new = _new_population(left[found], labels[found], households)
    links = pd.concat([links, links_new], ignore_index=True)
    return links, review, persons_new, hh_new, model.describe()


def _found_or_review(left: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """New-person labels of unmatched records (`cluster.new_persons`), which of them found or join a
    new person, and review rows (reason `identity_incomplete`, no candidate) for the rest: a group made
    only of records whose identity is incomplete (`identity_dropped`) would be a person invented from
    what is left of a damaged row (a formula for a name, a rebuilt row with a year of birth), so it waits
    for a person to decide instead. A damaged record that groups with a complete one joins that person."""
    labels = new_persons(left)
    incomplete = (
        left["identity_dropped"].to_numpy(dtype=bool)
        if "identity_dropped" in left
        else np.zeros(len(left), dtype=bool)
    )
    if not len(left) or not incomplete.any():
        return labels, np.ones(len(left), dtype=bool), pd.DataFrame()
    complete = np.bincount(labels, weights=(~incomplete).astype(float), minlength=int(labels.max()) + 1) > 0
    found = complete[labels]
    held = pd.DataFrame(
        {
            "record_id": left["record_id"].to_numpy()[~found],
            "person_id": pd.array([pd.NA] * int((~found).sum()), dtype="Int64"),
            "probability": np.float32(np.nan),
            "match_weight": np.float32(np.nan),
            "rank": np.int8(1),
            "reason": "identity_incomplete",
        }
    )
    return labels, found, held


def _links_and_review(
    events: pd.DataFrame, people: pd.DataFrame, dec: Decision
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The decided links and the review rows, by record and person id."""
    rid = events["record_id"].to_numpy()
    pid = people["person_id"].to_numpy()
    links = pd.DataFrame(
        {
            "record_id": rid[dec.linked_rec],
            "person_id": pid[dec.linked_person],
            "probability": dec.linked_probability.astype(np.float32),
            "match_weight": dec.linked_weight.astype(np.float32),
            "method": dec.linked_method,
        }
    )
    review = _pair_rows(rid, pid, dec.review, rank=dec.review["rank"].to_numpy(np.int8), reason="uncertain")
    return links, review


def _pair_rows(rid: np.ndarray, pid: np.ndarray, pairs: pd.DataFrame, **extra: object) -> pd.DataFrame:
    """Link or review rows by record and person id from (rec, person, weight, probability) positions."""
    return pd.DataFrame(
        {
            "record_id": rid[pairs["rec"].to_numpy(np.int64)],
            "person_id": pid[pairs["person"].to_numpy(np.int64)],
            "probability": pairs["probability"].to_numpy(np.float32),
            "match_weight": pairs["weight"].to_numpy(np.float32),
            **extra,
        }
    )


def _second_pass(
    events: pd.DataFrame,
    people: pd.DataFrame,
    ra: dict[str, np.ndarray],
    pa_: dict[str, np.ndarray],
    scored,
    model,
    dec: Decision,
    links: pd.DataFrame,
    review: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """After the decision: unmatched records whose CCCD linked records already carry join that person;
    thin ones (or ones that lost an identity value at ingest) go to review instead of founding a person.
    Returns the links, the review rows and the records still unmatched (positions in `events`)."""
    rid = events["record_id"].to_numpy()
    pid = people["person_id"].to_numpy()
    by_id = _by_linked_ids(ra, pa_, model, dec)
    if len(by_id):
        links = pd.concat([links, _pair_rows(rid, pid, by_id, method="id")], ignore_index=True)
    still = np.setdiff1d(dec.unmatched, by_id["rec"].to_numpy(np.int64)) if len(by_id) else dec.unmatched
    dropped = (
        events["identity_dropped"].to_numpy(dtype=bool)
        if "identity_dropped" in events
        else np.zeros(len(events), dtype=bool)
    )
    unmatched, thin_review = _thin_to_review(ra, scored, still, dropped)
    if len(thin_review):
        rows = _pair_rows(rid, pid, thin_review, rank=thin_review["rank"].to_numpy(np.int8))
        review = pd.concat([review, rows.assign(reason="identity_incomplete")], ignore_index=True)
    return links, review, unmatched


def _votes(
    persons: pd.DataFrame, all_records: pd.DataFrame, links: pd.DataFrame, rpos: np.ndarray | None = None
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Persons' birth dates and CCCDs by majority of their records, and which are confirmed. `rpos`:
    each link's record's position in `all_records` (`_record_positions`), when already known."""
    if rpos is None:
        rpos = _record_positions(all_records, links)
    hit = rpos >= 0
    rows = rpos[hit]
    person, people = pd.factorize(links["person_id"].to_numpy()[hit], sort=True)
    day = (all_records["birth_precision"] == "day").to_numpy(dtype=bool)
    cccd = (all_records["id_kind"] == "cccd").to_numpy(dtype=bool)
    confirmed = {}
    for col, keep in (("birth_date", day), ("id_number", cccd)):
        values = all_records[col].where(keep).take(rows).reset_index(drop=True)
        persons, confirmed[col] = _majority(persons, person, np.asarray(people), values, col)
    return persons, confirmed


def _record_positions(records: pd.DataFrame, links: pd.DataFrame) -> np.ndarray:
    """Each link's record's row in `records` (−1 when it is not there)."""
    return pd.Index(records["record_id"].to_numpy(np.int64)).get_indexer(
        links["record_id"].to_numpy(np.int64)
    )


def _by_linked_ids(ra: dict[str, np.ndarray], pa_: dict[str, np.ndarray], model, dec) -> pd.DataFrame:
    """Unmatched records whose CCCD is one that records already linked to a person carry (that person
    only), with the name or the birth date agreeing and no conflicting sex: the ID rule, with the person's
    IDs extended by its linked records' (a registry row without an ID, or with the old CMND, otherwise
    leaves a record that lost its birth date or name at ingest with nothing to link on)."""
    from risk.link.compare import compare
    from risk.link.probabilistic import _sorted_unique, _take

    left = dec.unmatched
    ids = ra["id_number"]
    # on the IDs' row codes (equal codes ⇔ equal IDs): distinct (ID, person) pairs of linked records
    # with a 12-character ID, and of those the IDs that name exactly one person
    code = ra["id_number#"] if "id_number#" in ra else pd.factorize(ids)[0].astype(np.int32)
    n_codes = int(code.max()) + 1 if len(code) else 0
    lr = dec.linked_rec
    twelve = np.fromiter(map(len, ids[lr]), np.int64, len(lr)) == 12
    n_p = max(len(pa_["name_key"]), 1)
    pair = _sorted_unique(code[lr][twelve].astype(np.int64) * n_p + dec.linked_person[twelve])
    pair_code, pair_person = pair // n_p, pair % n_p
    single = (np.bincount(pair_code, minlength=n_codes) == 1)[pair_code]
    target = np.full(n_codes + 1, -1, dtype=np.int64)  # the last slot: no ID (code −1)
    target[pair_code[single]] = pair_person[single]
    if not len(left) or not single.any():
        return pd.DataFrame()
    hit = target[code[left]]
    ok = hit >= 0
    recs, pers = left[ok], hit[ok]
    if not len(recs):
        return pd.DataFrame()
    lv = compare(_take(ra, recs), _take(pa_, pers))
    name_close = (lv["name"] >= 0) & (lv["name"] <= 2)
    dob_ok = (lv["dob"] >= 0) & (lv["dob"] <= 3)
    good = (name_close | dob_ok) & (lv["sex"] != 1)
    w = model.weights({k: v[good] for k, v in lv.items()}, ra["name_key"][recs[good]])
    return pd.DataFrame(
        {"rec": recs[good], "person": pers[good], "weight": w, "probability": model.probability(w)}
    )


# Ingest codes that say an identity value of the record was dropped (see risk.ingest.clean).
DROPPED_IDENTITY = ("dob_dropped", "formula_identity_dropped", "name_missing")
# A row rebuilt at ingest (risk.ingest.repair): its identity is only as sure as a full birth date makes it.
REBUILT = "row_repaired"


def _with_dropped_identity(events: pd.DataFrame) -> pd.DataFrame:
    """Events with a boolean `identity_dropped` in place of their correction codes: an identity value
    dropped at ingest, or a rebuilt row without a full birth date (a year, or nothing, to confirm that
    the cells were read back in their places)."""
    codes = events.pop("corrections").astype(object).fillna("").astype(str)
    inv, uniq = pd.factorize(codes.to_numpy(dtype=object))
    parts = [u.split(";") for u in uniq]
    hit = np.array([any(c in p for c in DROPPED_IDENTITY) for p in parts], dtype=bool)
    rebuilt = np.array([REBUILT in p for p in parts], dtype=bool)
    if not len(uniq):
        events["identity_dropped"] = np.zeros(len(events), dtype=bool)
        return events
    partial = events["birth_precision"].fillna("").to_numpy(dtype=object) != "day"
    events["identity_dropped"] = hit[inv] | (rebuilt[inv] & partial)
    return events


def _thin_to_review(
    ra: dict[str, np.ndarray], scored, unmatched: np.ndarray, dropped: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Unmatched records that should not found a person of their own go to review with their three best
    candidates, eligible or not, when they have any; the rest stay unmatched (new persons). Those are
    records too thin (no name, or neither a birth date nor an ID), records that lost an identity value
    at ingest (a person can only be confirmed on what is left), and records sharing their exact ID with a
    known person they could not be confirmed as."""
    same_id = np.zeros(len(ra["name_key"]), dtype=bool)
    same_id[scored.rec[scored.levels["id"] == 0]] = True
    thin = (
        (ra["name_key"][unmatched] == "")
        | (np.isnan(ra["birth_year"][unmatched]) & (ra["id_number"][unmatched] == ""))
        | dropped[unmatched]
        | same_id[unmatched]
    )
    recs = unmatched[thin]
    if not len(recs):
        return unmatched, pd.DataFrame()
    m = np.isin(scored.rec, recs)
    cand = pd.DataFrame(
        {
            "rec": scored.rec[m],
            "person": scored.person[m],
            "weight": scored.weight[m],
            "probability": scored.probability[m],
        }
    ).sort_values(["rec", "weight"], ascending=[True, False], kind="stable")
    cand["rank"] = cand.groupby("rec").cumcount() + 1
    cand = cand[cand["rank"] <= 3]
    return np.setdiff1d(unmatched, cand["rec"].to_numpy(np.int64)), cand


def _finish_links(
    links: pd.DataFrame,
    events: pd.DataFrame,
    persons_all: pd.DataFrame,
    households_all: pd.DataFrame,
    confirmed: dict[str, pd.Series] | None = None,
    record_flags: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
    rpos: np.ndarray | None = None,
) -> pd.DataFrame:
    """Flags and merged doses on links (registry and events). `events` holds every linked record;
    `record_flags` is its `_record_flag_inputs` and `rpos` each link's record's position in it
    (`_record_positions`), when already computed."""
    if not len(links):
        return links
    rpos = _record_positions(events, links) if rpos is None else rpos
    ppos = pd.Index(persons_all["person_id"]).get_indexer(links["person_id"])
    if (rpos < 0).any() or (ppos < 0).any():
        raise KeyError("links to records or persons that are not there")
    # the flags compare birth dates and IDs only: each side prepared once, the pairs by position
    persons = _with_precision(persons_all)
    rec_fields, ambiguous = record_flags if record_flags is not None else _record_flag_inputs(events)
    bits = flag_bits(rec_fields, prepare(persons, _FLAG_FIELDS), rpos, ppos)
    pid = links["person_id"]
    if confirmed is None:  # incremental: the persons' values were voted by the last full relink
        dob_ok = id_ok = np.ones(len(links), dtype=bool)
    else:
        dob_ok = pid.map(confirmed["birth_date"]).fillna(False).to_numpy(dtype=bool)
        id_ok = pid.map(confirmed["id_number"]).fillna(False).to_numpy(dtype=bool)
    registry_person = links["method"].isin(["registry", "id", "probabilistic"]).to_numpy()
    # a correction is only as good as the value it corrects to: unconfirmed, it is a conflict
    d_ok, i_ok = dob_ok | ~registry_person, id_ok | ~registry_person
    # an ambiguous birth date (day and month ≤ 12) that no second record of the person confirms
    amb = ambiguous[rpos]
    per_count = links.groupby("person_id")["record_id"].transform("size").to_numpy()
    weak = amb & ~dob_ok & ((per_count < 2) | (links["method"].to_numpy(dtype=object) == "registry"))
    # the flag text once per distinct (flags, date confirmed, ID confirmed, weak): a few combinations
    combo = (
        bits.astype(np.int64) * 8
        + d_ok.astype(np.int64) * 4
        + i_ok.astype(np.int64) * 2
        + weak.astype(np.int64)
    )
    uniq, inv = np.unique(combo, return_inverse=True)
    text = np.array([_flag_text(int(c)) for c in uniq], dtype=object)
    links = links.assign(flags=text[inv] if len(uniq) else np.zeros(0, dtype=object))
    kind = events["kind"].to_numpy(dtype=object)[rpos]
    doses = kind == "dose"
    same_as = np.full(len(links), -1, dtype=np.int64)
    if doses.any():
        same_as[doses] = merge_doses(
            pd.DataFrame(
                {
                    "record_id": events["record_id"].to_numpy()[rpos[doses]],
                    "person_id": links["person_id"].to_numpy()[doses],
                    "event_date": events["event_date"].to_numpy()[rpos[doses]],
                }
            )
        )
    links["same_as"] = pd.array(np.where(same_as >= 0, same_as, 0), dtype="Int64")
    links.loc[same_as < 0, "same_as"] = pd.NA
    return links


_FLAG_FIELDS = ("dob", "id")


def _record_flag_inputs(records: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What flags read of the linked records (birth dates and IDs prepared, ambiguous dates): it needs
    no link, so a full relink computes it beside the scoring."""
    return prepare(records, _FLAG_FIELDS), ambiguous_dates(records["birth_date"], records["birth_precision"])


def _side_by_side(*jobs: Callable[[], Any]) -> list[Any]:
    """The jobs' results, run on the link's threads (their Arrow, numpy and hashing work runs largely
    without the GIL) or one after another with one worker: the same results either way."""
    workers = link_settings().workers
    if workers < 2 or len(jobs) < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(workers, len(jobs)) - 1 or 1) as pool:
        rest = [pool.submit(job) for job in jobs[1:]]
        first = jobs[0]()
        return [first, *(f.result() for f in rest)]


def _flag_text(combo: int) -> str:
    """The flags of one combination of (flag bits, date confirmed, ID confirmed, weak date)."""
    bits, d, i, weak = combo >> 3, combo >> 2 & 1, combo >> 1 & 1, combo & 1
    codes = [c for b, c in enumerate(FLAG_CODES) if bits >> b & 1]
    fixed = [
        "dob_conflict" if c == "dob_swapped" and not d else "id_conflict" if c == "id_typo" and not i else c
        for c in codes
    ]
    text = ";".join(fixed)
    if weak and "dob_" not in text:
        text = "dob_ambiguous" if text == "" else text + ";dob_ambiguous"
    return text


def _with_precision(persons: pd.DataFrame) -> pd.DataFrame:
    if "birth_precision" in persons:
        return persons
    return persons.assign(
        birth_precision=np.where(
            persons["birth_date"].notna(), "day", np.where(persons["birth_year"].notna(), "year", "")
        )
    )


def relink(store: Store, *, partitioned: bool | None = None) -> LinkResult:
    """Rebuild households, persons and every link from the records in the store (full relink).

    `partitioned` (default: when RISKMAP_SCALE_SCHEDULER names a Dask scheduler): province by province
    (`risk.link.partition`), on that scheduler if one is named, with the same result."""
    if partitioned is None:
        from risk.runner import scale_settings

        partitioned = bool(scale_settings().scheduler)
    if partitioned:
        from risk.link.partition import relink_partitioned

        return relink_partitioned(store).result
    return _relink_whole(store)


def _relink_whole(store: Store) -> LinkResult:
    registry_read: Future[pd.DataFrame] = Future()  # what the event side needs of the registry side

    def registry_side() -> tuple:
        try:
            # only the columns linkage uses: the registry is most of the records, and every column costs
            registry = store.read_table(
                "records",
                columns=[*RECORD_COLUMNS, "household_ref", "relation", "address_raw"],
                filters=[("kind", "=", "registry")],
            )
        except BaseException as exc:
            registry_read.set_exception(exc)
            raise
        registry_read.set_result(registry[FINISH_COLUMNS])
        points = store.read_table(
            "address_points", columns=["point_id", "ward_id", "group_id", "lon", "lat", "address"]
        )
        households, persons, reg_links = build_population(registry, points)
        persons["origin"] = "registry"
        people = _person_frame(persons, households)
        return points, households, persons, reg_links, people, prepare(people)

    def event_side() -> tuple:
        events = _with_dropped_identity(
            store.read_table(
                "records",
                columns=[*RECORD_COLUMNS, "corrections"],
                filters=[("kind", "in", list(EVENT_KINDS))],
            )
        )
        ra = prepare(events)
        # every record with its person: registry persons' dates and IDs by majority of their records
        # (only the columns votes and flags read: a copy of every column of 1.7 M records costs seconds)
        all_records = pd.concat([registry_read.result(), events[FINISH_COLUMNS]], ignore_index=True)
        # what flags read of every record needs no link: here, while the registry's population is built
        return events, ra, all_records, _record_flag_inputs(all_records)

    # the registry's population and the event records are independent until scoring: side by side (the
    # registry side first: with one worker, the event side finds the registry read)
    (points, households, persons, reg_links, people, pa_), (events, ra, all_records, record_flags) = (
        _side_by_side(registry_side, event_side)
    )
    n_registry = len(all_records) - len(events)
    reg_links = reg_links[reg_links["record_id"].isin(all_records["record_id"].iloc[:n_registry])]
    links, review, persons_new, hh_new, model = _link_events(events, people, households, (ra, pa_))
    hh_new = _place_households(hh_new, points)
    households_all = pd.concat([households, hh_new], ignore_index=True) if len(hh_new) else households
    persons_all = pd.concat([persons, persons_new], ignore_index=True) if len(persons_new) else persons
    links = pd.concat([reg_links.assign(match_weight=np.float32(np.nan)), links], ignore_index=True)
    rpos = _record_positions(all_records, links)
    persons_all, confirmed = _votes(persons_all, all_records, links, rpos)
    links = _finish_links(links, all_records, persons_all, households_all, confirmed, record_flags, rpos)
    sizes = persons_all.groupby("household_id").size()
    households_all["size"] = households_all["household_id"].map(sizes).fillna(0).astype("int16")
    now = utcnow()
    all_links = links.assign(linked_at=now)
    links = links[links["method"] != "registry"]
    review = review.assign(created_at=now)
    batches = pd.DataFrame(
        {"batch_id": [b.batch_id for b in store.list_batches()], "mode": "full", "linked_at": now}
    )
    store.write_tables(
        {
            "households": households_all,
            "persons": persons_all,
            "links": all_links,
            "link_reviews": review,
            "linked_batches": batches,
        },
        mode="replace",
    )
    return _result(households_all, persons_all, events, links, review, persons_new, "full", model)


def _result(households, persons, events, links, review, persons_new, mode, model) -> LinkResult:
    by = links["method"].value_counts().to_dict() if len(links) else {}
    merged = int(links["same_as"].notna().sum()) if len(links) and "same_as" in links else 0
    return LinkResult(
        households=len(households),
        persons=len(persons),
        records=len(events),
        linked=len(links),
        by_method={str(k): int(v) for k, v in by.items()},
        review=int(review["record_id"].nunique()) if len(review) else 0,
        new_persons=len(persons_new),
        merged_doses=merged,
        mode=mode,
        model=model,
    )


def link_new(store: Store) -> LinkResult:
    """Link the batches not linked yet against what is known (see the module docstring)."""
    done = set(store.read_table("linked_batches", columns=["batch_id"])["batch_id"].tolist())
    todo = [b for b in store.list_batches() if b.batch_id not in done]
    if not todo:
        return LinkResult(store.count("households"), store.count("persons"), 0, 0, {}, mode="incremental")
    if any(b.kind == "registry" for b in todo) or store.count("persons") == 0:
        return relink(store)
    ids = [b.batch_id for b in todo]
    events = _with_dropped_identity(
        store.read_table(
            "records", columns=[*RECORD_COLUMNS, "corrections"], filters=[("batch_id", "in", ids)]
        )
    )
    events = events[events["kind"].isin(EVENT_KINDS)].reset_index(drop=True)
    persons = store.read_table("persons")
    households = store.read_table("households")
    people = _person_frame(persons, households)
    links, review, persons_new, hh_new, model = _link_events(events, people, households)
    points = store.read_table(
        "address_points", columns=["point_id", "ward_id", "group_id", "lon", "lat", "address"]
    )
    hh_new = _place_households(hh_new, points)
    households_all = pd.concat([households, hh_new], ignore_index=True) if len(hh_new) else households
    persons_all = pd.concat([persons, persons_new], ignore_index=True) if len(persons_new) else persons
    # doses already known for the persons this batch touches merge with the new ones
    touched = links["person_id"].unique().tolist() if len(links) else []
    old_links = (
        store.read_table(
            "links", columns=["record_id", "person_id", "same_as"], filters=[("person_id", "in", touched)]
        )
        if touched
        else pd.DataFrame()
    )
    links = _finish_links(links, events, persons_all, households_all)
    if len(old_links) and len(links):
        old_doses = store.read_table(
            "records",
            columns=["record_id", "event_date"],
            filters=[("record_id", "in", old_links["record_id"].tolist()), ("kind", "=", "dose")],
        ).merge(old_links, on="record_id")
        new_doses = events[events["kind"] == "dose"][["record_id", "event_date"]].merge(
            links[["record_id", "person_id"]], on="record_id"
        )
        both = pd.concat([old_doses[["record_id", "person_id", "event_date"]], new_doses], ignore_index=True)
        same = merge_doses(both)
        is_new = np.isin(both["record_id"].to_numpy(), new_doses["record_id"].to_numpy())
        upd = pd.Series(same[is_new], index=both["record_id"].to_numpy()[is_new])
        cur = links.set_index("record_id")["same_as"]
        hit = links["record_id"].isin(upd.index).to_numpy()
        vals = upd.reindex(links["record_id"][hit]).to_numpy()
        links.loc[hit, "same_as"] = pd.array(np.where(vals >= 0, vals, 0), dtype="Int64")
        links.loc[links.index[hit][vals < 0], "same_as"] = pd.NA
        del cur
    now = utcnow()
    links = links.assign(linked_at=now)
    review = review.assign(created_at=now)
    tables = {
        "links": links,
        "link_reviews": review,
        "linked_batches": pd.DataFrame({"batch_id": ids, "mode": "incremental", "linked_at": now}),
    }
    if len(persons_new):
        tables["persons"] = persons_new
    if len(hh_new):
        tables["households"] = hh_new.assign(
            size=hh_new["household_id"]
            .map(persons_new.groupby("household_id").size())
            .fillna(0)
            .astype("int16")
        )
    store.write_tables(tables, mode="append")
    return _result(households_all, persons_all, events, links, review, persons_new, "incremental", model)
