"""Resolution of written ward and district names (any geography) to 2025 wards through the crosswalks."""

from __future__ import annotations

import pandas as pd
import pytest

from geo.gazetteer import load_crosswalk, pre_merger_units
from geo.resolve import Resolver, key


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver()


def wid(code: str) -> str:
    return f"hcmc-2025:{code}"


def test_keys_ignore_type_case_diacritics_and_zero_padding() -> None:
    assert key("Phường 02") == key("phuong 2") == key("2") == "2"
    assert key("Phường Bình Hưng Hoà A") == key("binh hung hoa a")


def test_2021_record_phuong_7_quan_3_resolves_to_todays_ward(resolver: Resolver) -> None:
    # Phường 7 of Quận 3 was merged into Võ Thị Sáu in 2020/21 and lies in Xuân Hòa since July 2025.
    r = resolver.resolve("Phường 7", "Quận 3", on="2021-08-01")
    assert r.ward_id == wid("27139")
    assert "old_ward" in r.flags and "split" not in r.flags


def test_whole_ward_resolves_and_names_its_source(resolver: Resolver) -> None:
    r = resolver.resolve("Phường Thảo Điền", "Quận 2", on="2020-05-01")
    assert r.ward_id == wid("27094")  # An Khánh
    assert r.source_units == ("hcmc-2019:27088",)


def test_split_ward_is_flagged_with_its_candidates_not_guessed(resolver: Resolver) -> None:
    r = resolver.resolve("Phường Đa Kao", "Quận 1", on="2021-01-01")
    assert r.ward_id is None
    assert "split" in r.flags
    assert set(r.candidates) == {wid("26737"), wid("26740")}
    shares = dict(r.groups[0])
    assert shares[wid("26737")] > shares[wid("26740")]  # 61 % / 39 % of its area


def test_number_without_district_is_ambiguous(resolver: Resolver) -> None:
    r = resolver.resolve("Phường 7", "", on="2021-06-01")
    assert r.ward_id is None and "ambiguous_name" in r.flags
    assert len(r.candidates) > 5


def test_current_names_resolve_directly(resolver: Resolver) -> None:
    assert resolver.resolve("Phường Bến Thành").ward_id == wid("26743")
    assert resolver.resolve("Đặc khu Côn Đảo").ward_id == wid("26732")
    r = resolver.resolve("Phường Sài Gòn")
    assert r.ward_id == wid("26740") and r.flags == ()


def test_written_district_rules_out_other_units(resolver: Resolver) -> None:
    assert resolver.resolve("Phường Hiệp Thành", "Quận 12").ward_id == wid("26782")
    r = resolver.resolve("Phường Hiệp Thành", "Thành phố Thủ Dầu Một")
    assert set(r.candidates) == {wid("25747"), wid("25750")} and "split" in r.flags
    r = resolver.resolve("Phường Hiệp Thành")
    assert "ambiguous_name" in r.flags and len(r.candidates) == 3


def test_ward_contradicting_its_district_is_not_placed(resolver: Resolver) -> None:
    r = resolver.resolve("Phường Bến Nghé", "Quận 3")  # Bến Nghé was in Quận 1
    assert r.groups == () and "ward_contradiction" in r.flags
    assert r.contradicted == (wid("26740"),)


def test_former_binh_duong_and_ba_ria_names_from_before_merger_lists(resolver: Resolver) -> None:
    assert resolver.resolve("Phường Phú Cường").ward_id == wid("25747")
    assert resolver.resolve("Phường 1", "Thành phố Vũng Tàu").ward_id == wid("26506")
    assert resolver.resolve("Xã Long Tân", "Huyện Long Đất").ward_id == wid("26680")
    r = resolver.resolve("Phường Phú Mỹ", "", "Tỉnh Bà Rịa - Vũng Tàu")
    assert r.ward_id == wid("26704")
    assert "split" in resolver.resolve("Phường Chánh Mỹ").flags


def test_every_pre_merger_unit_resolves_to_its_listed_wards(resolver: Resolver) -> None:
    """Each name in `before_merger_vi` of former Bình Dương and Bà Rịa–Vũng Tàu (with its bracketed district
    when it has one, and its province) leads to the 2025 wards that list it; none is guessed or lost."""
    pm = pre_merger_units()
    bd = pm[pm["former_province"] != "TP. Hồ Chí Minh"]
    province = {"Bình Dương": "Tỉnh Bình Dương", "Bà Rịa - Vũng Tàu": "Tỉnh Bà Rịa - Vũng Tàu"}
    for (typ, name, qual, prov), rows in bd.groupby(["unit_type", "name", "qualifier", "former_province"]):
        r = resolver.resolve(f"{typ} {name}", qual, province[prov], ward_type=typ if typ != "huyện" else "")
        want = {wid(c) for c in rows["ward_code_2025"]}
        got = {w for g in r.groups[:1] for w, _ in g}
        assert want <= got, (typ, name, qual, r)


def test_every_2021_ward_named_with_its_district_resolves_to_its_overlay_targets(resolver: Resolver) -> None:
    from geo.gazetteer import load_gazetteer

    g = load_gazetteer("hcmc-2021")
    cw = load_crosswalk("hcmc-2021", "hcmc-2025")
    targets = cw.groupby("from_unit_id")["to_unit_id"].apply(set)
    wrong = []
    for uid, w in g.wards.iterrows():
        d = g.units.loc[w["parent_id"]]
        r = resolver.resolve(w["full_name"], d["full_name"], on="2022-01-01")
        if set(r.candidates) != targets[uid]:
            wrong.append((w["full_name"], d["full_name"], r.candidates))
    assert not wrong, wrong[:5]


def test_old_district_name_written_as_a_ward(resolver: Resolver) -> None:
    r = resolver.resolve("Gò Vấp", on="2021-01-01")  # no "Phường": in 2021 this was the district
    assert "district_only" in r.flags and len(r.candidates) >= 6
    assert resolver.resolve("Gò Vấp").ward_id == wid("26884")  # today it is a ward


def test_resolve_frame_is_vectorised_over_distinct_combinations(resolver: Resolver) -> None:
    parts = pd.DataFrame(
        {
            "ward": ["Phường 7", "Phường 7", "Phường Bến Thành", ""],
            "ward_type": ["phường", "phường", "phường", ""],
            "district": ["Quận 3", "Quận 3", "", ""],
            "district_type": ["quận", "quận", "", ""],
            "city": ["", "", "", ""],
        }
    )
    dates = pd.Series(pd.to_datetime(["2021-08-01", "2021-08-01", "2026-01-01", None]))
    out = resolver.resolve_frame(parts, dates)
    assert [r.ward_id for r in out] == [wid("27139"), wid("27139"), wid("26743"), None]
    assert out[0] is out[1]
    assert "no_ward" in out[3].flags
