"""Linkage on a tiny synthetic city, scored against its ground truth; and the linker's rules on their own."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from risk.link.cluster import merge_doses
from risk.link.compare import compare
from risk.link.probabilistic import _runs, _sorted_unique, eligible, prepare
from risk.store.embedded import EmbeddedStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from linkage import score


def test_linkage_quality_against_truth(linked_city) -> None:
    store = EmbeddedStore(linked_city.store_dir)
    fig = score(store, linked_city.city)
    assert fig["pairwise_precision"] >= 0.995, fig
    assert fig["pairwise_recall"] >= 0.98, fig
    assert fig["bad_silently_accepted"] == 0, fig["bad_accepted_by_reason"]
    # event rows with one unusable identity value, or rebuilt, are kept: linked to their true person
    assert fig["bad_corrected_correctly"] > 0, fig
    assert fig["good_quarantined_share"] <= 0.005, fig["good_quarantined_by_reason"]
    assert fig["doses_exact_share_where_rows_usable"] >= 0.99, fig
    assert fig["exact_duplicates_dropped"] == fig["exact_duplicates_truth"]
    # swapped birth dates and typo'd IDs end corrected or flagged, almost never silent
    for code in ("dob_day_month_swapped", "id_typo"):
        if fig[f"{code}_accepted"]:
            assert fig[f"{code}_silent"] <= max(3, 0.2 * fig[f"{code}_accepted"]), fig


def test_links_persons_and_households_are_consistent(linked_city) -> None:
    store = EmbeddedStore(linked_city.store_dir)
    links = store.read_table("links")
    persons = store.read_table("persons")
    hh = store.read_table("households")
    records = store.read_table("records", columns=["record_id", "kind"])
    assert links["record_id"].is_unique
    assert links["person_id"].isin(persons["person_id"]).all()
    assert persons["household_id"].isin(hh["household_id"]).all()
    assert set(persons["origin"]) <= {"registry", "feeds"}
    # merged doses point at a dose of the same person
    merged = links.dropna(subset=["same_as"])
    target = links.set_index("record_id").loc[merged["same_as"].astype("int64"), "person_id"].to_numpy()
    assert (target == merged["person_id"].to_numpy()).all()
    kinds = records.set_index("record_id").loc[merged["record_id"], "kind"]
    assert (kinds == "dose").all()
    assert links["probability"].between(0, 1).all()
    reviews = store.read_table("link_reviews")
    assert not reviews["record_id"].isin(links["record_id"]).any()  # a reviewed record is never guessed


def _frame(**cols) -> pd.DataFrame:
    base = {
        "name_key": "nguyen van an",
        "birth_date": pd.Timestamp("1980-07-05"),
        "birth_precision": "day",
        "birth_year": 1980,
        "sex": "M",
        "id_number": "",
        "phone": "",
        "point_id": 1,
        "ward_id": "w1",
    }
    base.update(cols)
    return pd.DataFrame([base])


def test_never_on_the_name_alone() -> None:
    rec = prepare(_frame(point_id=pd.NA, ward_id="", phone=""))
    per = prepare(_frame(point_id=2, ward_id="w2", phone="0909123456"))
    lv = compare(rec, per)
    assert lv["name"][0] == 0 and lv["dob"][0] == 0
    assert not eligible(lv)[0]  # name + birth date, nothing else in common: not enough
    rec = prepare(_frame())
    assert eligible(compare(rec, prepare(_frame())))[0]  # and the same address point is


def test_without_birth_date_or_name_only_with_phone_and_address_point() -> None:
    phone = "0909123456"
    no_dob = dict(birth_date=pd.NaT, birth_precision="", birth_year=None)
    per = prepare(_frame(phone=phone))
    # no birth date: the same name with both phone and point links; one of them alone does not
    assert eligible(compare(prepare(_frame(phone=phone, **no_dob)), per))[0]
    assert not eligible(compare(prepare(_frame(phone="", **no_dob)), per))[0]
    assert not eligible(compare(prepare(_frame(phone=phone, point_id=2, ward_id="w1", **no_dob)), per))[0]
    # a household member: same phone and point, another name
    assert not eligible(compare(prepare(_frame(name_key="nguyen thi binh", phone=phone, **no_dob)), per))[0]
    # no name: birth date and sex with both phone and point; not with the other sex
    assert eligible(compare(prepare(_frame(name_key="", phone=phone)), per))[0]
    assert not eligible(compare(prepare(_frame(name_key="", phone=phone, sex="F")), per))[0]
    assert not eligible(compare(prepare(_frame(name_key="", phone=phone, point_id=2)), per))[0]


def test_swapped_birth_date_and_one_digit_id_levels() -> None:
    rec = prepare(_frame(birth_date=pd.Timestamp("1980-05-07"), id_number="079080012345"))
    per = prepare(_frame(id_number="079080012375"))
    lv = compare(rec, per)
    assert lv["dob"][0] == 1  # swapped
    assert lv["id"][0] == 1  # one digit off


def test_duplicate_doses_merge_within_two_days() -> None:
    d = pd.DataFrame(
        {
            "record_id": [1, 2, 3, 4],
            "person_id": [7, 7, 7, 8],
            "event_date": pd.to_datetime(["2021-08-01", "2021-08-02", "2021-09-01", "2021-08-01"]),
        }
    )
    assert merge_doses(d).tolist() == [-1, 1, -1, -1]


def test_incremental_link_of_a_new_batch(city_copy) -> None:
    from risk.ingest.pipeline import Ingestor
    from risk.link import link_new

    store = EmbeddedStore(city_copy.store_dir)
    before = store.count("links")
    assert link_new(store).records == 0  # everything is linked already
    f = next((city_copy.city / "feeds" / "tiem-chung-hcdc").glob("*.csv"))
    extra = city_copy.store_dir.parent / "resent-2021-W50.csv"
    lines = f.read_text(encoding="utf-8-sig").splitlines()
    # two rows of an earlier week re-sent with another STT: new rows, same people and doses
    rows = [
        lines[1].replace(lines[1].split(",")[0], "9001", 1),
        lines[2].replace(lines[2].split(",")[0], "9002", 1),
    ]
    extra.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    r = Ingestor(store, latest=city_copy.latest).ingest(extra, "tiem-chung-hcdc")
    assert r.new
    res = link_new(store)
    assert res.mode == "incremental" and res.records == r.batch.accepted + r.batch.corrected
    links = store.read_table("links")
    assert len(links) == before + res.records
    new = links[links["record_id"].astype("int64") // (1 << 24) == r.batch.batch_id]
    assert len(new) == res.records
    assert new["same_as"].notna().all()  # the re-sent doses merge with the ones already known
    assert np.isin(new["method"], ["id", "probabilistic"]).all()


def test_candidate_codes_in_two_halves_equal_the_whole() -> None:
    """A large relink sorts blocking's pair codes as two halves (below and from a cut) on two threads:
    put together they must be the sorted unique codes of every part, whether a part is sorted or not."""
    rng = np.random.default_rng(7)
    parts = [np.sort(rng.integers(0, 5_000, n)) for n in (900, 0, 1_500, 40)]
    parts.append(rng.integers(0, 5_000, 700))  # not sorted: must still be right
    whole = np.unique(np.concatenate(parts))
    for cut in (0, 1, 2_500, 4_999, 5_000):
        low, high = (
            _sorted_unique(_runs(parts, cut, True), True),
            _sorted_unique(_runs(parts, cut, False), True),
        )
        assert (low < cut).all() and (high >= cut).all()
        assert np.array_equal(np.concatenate([low, high]), whole)
    assert len(_runs([], 3, True)) == 0
