"""Ground truth is consistent: ids link up, CCCDs match birth year and sex, households sit in their wards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.gazetteer import load_crosswalk, load_gazetteer
from risk.synth.identity import HOME_PROVINCE
from risk.synth.realdata import AGE_GROUPS


def test_counts_match_summary(city):
    counts = city.summary["counts"]
    assert len(city.table("truth/persons.parquet")) == counts["persons"]
    assert len(city.table("truth/households.parquet")) == counts["households"]
    assert len(city.table("reference/address_points.parquet")) == counts["address_points"]
    assert len(city.table("truth/doses.parquet")) == counts["doses"]
    # persons in proportion to ward population × scale
    gaz = load_gazetteer("hcmc-2025")
    pop = gaz.wards.set_index("code")["population"]
    hh = city.table("truth/households.parquet")
    persons = hh.groupby("ward_code")["size"].sum()
    expected = pop.loc[persons.index] * city.config.scale
    assert ((persons - expected).abs() <= np.maximum(0.25 * expected, 12)).all(), (persons, expected)


def test_ids_link_up(city):
    persons = city.table("truth/persons.parquet")
    hh = city.table("truth/households.parquet")
    points = city.table("reference/address_points.parquet")
    assert persons["person_id"].is_unique and hh["household_id"].is_unique and points["point_id"].is_unique
    assert set(persons["household_id"]) == set(hh["household_id"])
    assert set(hh["point_id"]) <= set(points["point_id"])
    sizes = persons.groupby("household_id").size()
    assert (sizes.loc[hh["household_id"]].to_numpy() == hh["size"].to_numpy()).all()
    heads = persons.set_index("person_id").loc[hh["head_person_id"]]
    assert (heads["relation"] == "head").all() and (heads["age"] >= 18).all()
    assert (persons.groupby("household_id")["relation"].apply(lambda r: (r == "head").sum()) == 1).all()
    for name in ("doses", "tests", "cases", "contacts", "infections"):
        t = city.table(f"truth/{name}.parquet")
        assert set(t["person_id"]) <= set(persons["person_id"]), name
    cases = city.table("truth/cases.parquet")
    contacts = city.table("truth/contacts.parquet")
    assert set(contacts["case_id"]) <= set(cases["case_id"])
    inf = city.table("truth/infections.parquet")
    assert set(cases["person_id"]) <= set(inf["person_id"])
    assert inf["person_id"].is_unique


def test_cccd_consistent_with_birth_year_and_sex(city):
    p = city.table("truth/persons.parquet")
    has = p[p["cccd"] != ""]
    assert has["cccd"].str.fullmatch(r"\d{12}").all()
    assert has["cccd"].is_unique
    year = pd.to_datetime(has["birth_date"]).dt.year
    century = np.where(year >= 2000, 2, 0) + (has["sex"] == "F").astype(int)
    assert (has["cccd"].str[3].astype(int) == century).all()
    assert (has["cccd"].str[4:6].astype(int) == year % 100).all()
    province = has["cccd"].str[:3].astype(int)
    assert province.between(1, 96).all()
    assert (province == HOME_PROVINCE["old-city"]).mean() > 0.3
    share_no_id = (p["cccd"] == "").mean()
    assert 0.005 < share_no_id < 0.08
    adults = p[p["age"] >= 20]
    assert 0.3 < (adults["cmnd"] != "").mean() < 0.5
    assert adults["cmnd"][adults["cmnd"] != ""].str.fullmatch(r"\d{9}").all()
    phones = p["phone"][p["phone"] != ""]
    assert phones.str.fullmatch(r"0[35789]\d{8}").all() and phones.is_unique
    assert (p.loc[p["age"] < 15, "phone"] == "").all()
    foreign = p[p["nationality"] != "Việt Nam"]
    assert (foreign["passport"] != "").all() and (foreign["cccd"] == "").all()


def test_names_and_ages_look_vietnamese(city):
    p = city.table("truth/persons.parquet")
    vn = p[p["nationality"] == "Việt Nam"]
    top = vn["family_name"].value_counts(normalize=True)
    assert top.index[0] == "Nguyễn" and 0.25 < top.iloc[0] < 0.5
    assert (
        vn["full_name"]
        == vn[["family_name", "middle_name", "given_name"]].apply(
            lambda r: " ".join(x for x in r if x), axis=1
        )
    ).all()
    men, women = vn[vn["sex"] == "M"], vn[vn["sex"] == "F"]
    assert (men["middle_name"].str.split().str[0] == "Văn").mean() > 0.15
    assert (women["middle_name"].str.split().str[0] == "Thị").mean() > 0.2
    assert not (men["middle_name"].str.contains("Thị")).any()
    children = p[p["relation_to_head"] == "child"]
    heads = p[p["relation"] == "head"].set_index("household_id")
    gap = heads.loc[children["household_id"], "age"].to_numpy() - children["age"].to_numpy()
    assert (gap >= 0).mean() > 0.97
    groups = np.minimum(p["age"] // 5, AGE_GROUPS - 1)
    share = np.bincount(groups, minlength=AGE_GROUPS) / len(p)
    assert share[:4].sum() < 0.35 and share[4:12].sum() > 0.45  # working ages dominate, as in the census


def test_households_lie_inside_their_ward_and_old_ward(city):
    gaz = load_gazetteer("hcmc-2025")
    wards = gaz.wards.set_index("code")
    pts = city.table("reference/address_points.parquet")
    for code, grp in pts.groupby("ward_code"):
        poly = wards.loc[code, "geometry"]
        assert shapely.contains_xy(poly, grp["lon"].to_numpy(), grp["lat"].to_numpy()).all(), code
    # old wards: only in the former HCMC, and only those the overlay crosswalk puts in the 2025 ward
    cw = load_crosswalk("hcmc-2021", "hcmc-2025")
    pairs = {
        (a.split(":")[1], b.split(":")[1]) for a, b in zip(cw["from_unit_id"], cw["to_unit_id"], strict=True)
    }
    old_city = pts["ward_code"].isin(["26740", "26743", "27418", "27568"])
    assert (pts.loc[old_city, "old_ward_code"] != "").all()
    assert (pts.loc[~old_city, "old_ward_code"] == "").all()
    seen = set(zip(pts.loc[old_city, "old_ward_code"], pts.loc[old_city, "ward_code"], strict=True))
    assert seen <= pairs


def test_infections_and_cases_are_coherent(city):
    inf = city.table("truth/infections.parquet")
    cases = city.table("truth/cases.parquet")
    start, end = city.config.start, city.config.end
    assert (inf["infectious_from"] > inf["infected_on"]).all()
    rec = inf.dropna(subset=["recovered_on"])
    assert (rec["recovered_on"] > rec["infectious_from"]).all()
    assert (inf["died"] == inf["died_on"].notna()).all()
    assert (inf["detected"] == inf["case_id"].notna()).all()
    assert cases["report_date"].between(start, end).all()
    merged = cases.merge(inf, on="person_id")
    assert (merged["report_date"] >= merged["infected_on"]).all()
    assert set(cases["found_in"]) <= {"community", "quarantine", "lockdown"}
