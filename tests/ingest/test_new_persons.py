"""New persons from unmatched records: what may group them, and what may not found one.

Each case is one the scale-0.05 benchmark found accepted and silently wrong: a damaged record put in a
person of its own instead of with its true person's other records (or held for review).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk.link import RECORD_COLUMNS, _link_events, _person_frame, _with_dropped_identity
from risk.link.cluster import new_persons

# registry persons far from the records below (nothing in common: the records match nobody known)
REGISTRY = pd.DataFrame(
    {
        "person_id": [101, 102, 103],
        "household_id": [11, 11, 12],
        "full_name": ["Phạm Văn Hùng", "Phạm Thị Lan", "Võ Văn Sáu"],
        "name_key": ["pham van hung", "pham thi lan", "vo van sau"],
        "birth_date": pd.to_datetime(["1970-03-04", "1972-05-06", "1960-07-08"]),
        "birth_year": [1970, 1972, 1960],
        "sex": ["M", "F", "M"],
        "id_number": ["079070000001", "079172000002", ""],
        "id_kind": ["cccd", "cccd", ""],
        "phone": ["0901000001", "", "0901000003"],
    }
)
HOUSEHOLDS = pd.DataFrame({"household_id": [11, 12], "point_id": [1, 2], "ward_id": ["w1", "w1"]})


def _records(*rows: dict) -> pd.DataFrame:
    base = {
        "batch_id": 1,
        "kind": "test",
        "name_key": "",
        "full_name": "",
        "birth_date": pd.NaT,
        "birth_precision": "",
        "birth_year": np.nan,
        "sex": "",
        "id_number": "",
        "id_kind": "",
        "phone": "",
        "point_id": 500,
        "ward_id": "w2",
        "event_date": pd.Timestamp("2021-08-01"),
        "corrections": "code_normalized",
    }
    frame = pd.DataFrame([{**base, "record_id": 9000 + i, **r} for i, r in enumerate(rows)])
    frame["birth_date"] = pd.to_datetime(frame["birth_date"])
    frame["point_id"] = frame["point_id"].astype("Int64")
    return frame[[*RECORD_COLUMNS, "corrections"]]


def _link(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links, review rows) of events linked against the small registry above."""
    links, review, _, _, _ = _link_events(
        _with_dropped_identity(events.copy()), _person_frame(REGISTRY, HOUSEHOLDS), HOUSEHOLDS
    )
    return links, review


def _day(date: str) -> dict:
    return {"birth_date": date, "birth_precision": "day", "birth_year": int(date[:4])}


def test_new_persons_group_on_an_old_cmnd_with_the_name_or_birth_date() -> None:
    """A contact known only by its old CMND whose birth date was dropped at ingest belongs with the
    person's other records that carry the same CMND; a CMND is not unique, so not on the number alone."""
    who = {"name_key": "truong minh tam", "id_number": "020491182", "id_kind": "cmnd"}
    recs = _records(
        {**who, **_day("1984-10-08"), "phone": "0341961361"},
        {**who, "birth_year": 1984, "birth_precision": "year", "birth_date": "1984-01-01"},
        {**who, "kind": "contact", "corrections": "id_cmnd;dob_dropped"},  # no birth date, no phone
        {**who, "name_key": "tran van nam", **_day("1990-02-03"), "point_id": 501},  # another holder
        {"id_number": "020491182", "id_kind": "cmnd", "name_key": "truong minh tam", "point_id": 502},
    )
    labels = new_persons(recs)
    assert labels[0] == labels[1] == labels[2] == labels[4]
    assert labels[3] != labels[0]
    # and through the whole link: the damaged contact joins the person, nothing waits for review
    links, review = _link(recs)
    person = links.set_index("record_id")["person_id"]
    assert person[9002] == person[9000] == person[9001]
    assert person[9003] != person[9000]
    assert not len(review)


def test_a_record_whose_name_was_a_formula_does_not_found_a_person() -> None:
    """A child's test whose name was a formula (dropped at ingest) and whose other record carries a
    typo'd CCCD: nothing confirms it is anyone, so it waits on the review list instead of becoming a
    person of its own (which would be silently wrong)."""
    recs = _records(
        {
            "id_number": "079313604918",
            "id_kind": "cccd",
            "birth_date": "2013-01-01",
            "birth_precision": "year",
            "birth_year": 2013,
            "phone": "0357619542",
            "corrections": "dob_year_only;code_normalized;formula_identity_dropped;name_missing",
        },
        {
            "kind": "contact",
            "name_key": "nguyen ngoc my tuyet",
            "id_number": "019313604918",
            "id_kind": "cccd",
            **_day("2013-09-06"),
        },
    )
    links, review = _link(recs)
    assert 9000 not in set(links["record_id"])
    held = review[review["record_id"] == 9000]
    assert len(held) == 1 and held["reason"].iloc[0] == "identity_incomplete"
    assert held["person_id"].isna().all()  # no candidate: a person decides
    assert links.set_index("record_id").loc[9001, "method"] == "new_person"  # the complete one does


def test_a_rebuilt_row_with_only_a_birth_year_does_not_found_a_person() -> None:
    """A row rebuilt at ingest (split by an unquoted comma) with a typo'd name, a birth year and no ID
    matches no one exactly: held for review. A rebuilt row with a full birth date is sure enough to
    found a person; a damaged record that groups with a complete one joins it."""
    same = {"phone": "0388304843", "point_id": 193775, "birth_precision": "year", "birth_year": 1992}
    recs = _records(
        {**same, "name_key": "le van minh", "birth_date": "1992-01-01"},
        {
            **same,
            "name_key": "le van imnh",
            "birth_date": "1992-01-01",
            "corrections": "row_repaired;name_case;dob_year_only;id_missing",
        },
        {"name_key": "do thi hoa", **_day("1988-04-21"), "corrections": "row_repaired", "point_id": 600},
        {
            **same,
            "name_key": "le van minh",
            "birth_date": "1992-01-01",
            "corrections": "row_repaired;dob_year_only",
        },
    )
    links, review = _link(recs)
    person = links.set_index("record_id")["person_id"]
    assert list(review["record_id"]) == [9001]
    assert set(review["reason"]) == {"identity_incomplete"}
    assert 9001 not in person.index
    assert person[9003] == person[9000]  # rebuilt with a year, but grouped with a complete record
    assert 9002 in person.index  # rebuilt with a full birth date: a new person


def test_partitioned_relink_holds_the_same_records(linked_city, tmp_path) -> None:
    """Records held for review by the new-person step are the same in a partitioned relink (where new
    persons are grouped over all partitions at once) as in the whole one."""
    import shutil

    from test_partitioned_relink import _country, _tables

    from risk.link import relink
    from risk.link.partition import relink_partitioned
    from risk.store.embedded import EmbeddedStore

    store = _country(linked_city.store_dir, tmp_path / "base")
    rec = store.read_table("records")
    # event records of two provinces, and one without a ward, lose their name (a formula) and have
    # nothing else to find anybody by
    events = rec.index[(rec["kind"] != "registry").to_numpy() & rec["ward_id"].notna().to_numpy()]
    p01 = events[rec.loc[events, "ward_id"].str.startswith("p01/").to_numpy()][:3]
    p02 = events[rec.loc[events, "ward_id"].str.startswith("p02/").to_numpy()][:3]
    hit = np.r_[p01, p02]
    rec.loc[hit, ["name_key", "full_name", "phone", "id_number", "id_kind"]] = ""
    rec.loc[hit, "point_id"] = pd.NA
    rec.loc[hit[-1], "ward_id"] = None
    rec.loc[hit, "corrections"] = rec.loc[hit, "corrections"].fillna("") + ";formula_identity_dropped"
    store.write_tables({"records": rec}, mode="replace")
    damaged = set(rec.loc[hit, "record_id"])

    whole = EmbeddedStore(shutil.copytree(store.path, tmp_path / "whole"))
    relink(whole)
    parted = EmbeddedStore(shutil.copytree(store.path, tmp_path / "parted"))
    relink_partitioned(parted)
    want, got = _tables(whole), _tables(parted)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=False, obj=name)
    review = want["link_reviews"]
    held = review[review["person_id"].isna()]
    assert damaged <= set(held["record_id"]) and set(held["reason"]) == {"identity_incomplete"}
    assert not want["links"]["record_id"].isin(damaged).any()
