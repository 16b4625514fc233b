"""The tiered geocoder on a registry of real ward polygons and real street names (tests/geo/fakecity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.address import read_house
from geo.gazetteer import load_gazetteer
from geo.geocode import OUTPUT_COLUMNS, TIERS, Geocoder, prepare_registry, registry_keys
from geo.vntext import fold


def _row(points: pd.DataFrame, **where: str) -> pd.Series:
    sel = points
    for k, v in where.items():
        sel = sel[sel[k] == v]
    return sel.iloc[0]


def test_registry_table_has_keys_and_cells(fake_registry: pd.DataFrame, fake_points: pd.DataFrame) -> None:
    from risk.store.tables import ADDRESS_POINTS

    assert set(fake_registry.columns) <= set(ADDRESS_POINTS.columns)
    assert fake_registry["match_key"].str.startswith("hcmc-2025:").all()
    assert (fake_registry["h3_11"] > 0).all() and fake_registry["h3_7"].notna().all()
    keys = registry_keys(
        fake_points["ward_code"], fake_points["house_number"], fake_points["alley"], fake_points["street"]
    )
    assert list(keys) == list(fake_registry["match_key"])


def test_output_shape_and_index(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    s = pd.Series([fake_points["address"].iloc[0], None, ""], index=["a", "b", "c"])
    out = geocoder.geocode(s)
    assert list(out.columns) == OUTPUT_COLUMNS and list(out.index) == ["a", "b", "c"]
    assert out.loc["a", "tier"] == "exact" and out.loc["a", "point_id"] == fake_points["point_id"].iloc[0]
    assert out.loc["b", "tier"] == out.loc["c", "tier"] == "unmatched"
    assert set(out["tier"]) <= set(TIERS)


def test_exact_tier_for_every_spelling(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    p = _row(fake_points, ward_code="26743")
    full = p["address"]
    variants = [
        full,
        fold(full),
        fold(full).upper(),
        full.replace("Phường ", "P.").replace("Thành phố Hồ Chí Minh", "TPHCM"),
    ]
    out = geocoder.geocode(pd.Series(variants))
    assert (out["tier"] == "exact").all(), out
    assert (out["point_id"] == p["point_id"]).all()
    assert (out["confidence"] >= 0.95).all()
    assert (out["match_key"] == out["match_key"].iloc[0]).all()


def test_fuzzy_tier_for_a_misspelt_street(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    p = fake_points[(fake_points["street"].str.len() > 16) & (fake_points["ward_code"] == "27154")].iloc[0]
    street = p["street"]
    typo = street[:-1] + ("x" if street[-1] != "x" else "y")  # last letter mistyped
    text = p["address"].replace(street, typo)
    r = geocoder.geocode_one(text)
    assert r["tier"] == "fuzzy" and r["point_id"] == p["point_id"], r
    assert 0.5 < r["confidence"] < 0.9


def test_numbered_streets_are_never_fuzzy_matched_to_other_numbers(geocoder: Geocoder) -> None:
    # no "Đường số 99" in the registry: it must not become "Đường số 9" or "Đường số 19"
    r = geocoder.geocode_one("5 Đường số 99, Phường Bến Thành")
    assert r["tier"] not in ("exact", "fuzzy")


def test_nearest_number_on_the_same_street_and_side(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    pts = fake_points[(fake_points["alley"] == "") & (fake_points["ward_code"] == "26740")]
    by_street = pts.groupby("street")["house_number"].apply(list)
    street = by_street.index[int(np.argmax([len(v) for v in by_street]))]
    bases = {read_house(h).base for h in by_street[street]} - {None}
    missing = next(b for b in range(2, 400, 2) if b not in bases)
    r = geocoder.geocode_one(f"{missing} {street}, Phường Sài Gòn")
    assert r["tier"] == "nearest_number" and r["ward_id"] == "hcmc-2025:26740"
    got = fake_points.set_index("point_id").loc[r["point_id"]]
    assert got["street"] == street and got["alley"] == ""
    same_side = [b for b in bases if b % 2 == missing % 2]
    if same_side:
        assert read_house(got["house_number"]).base % 2 == missing % 2


def test_group_and_ward_centroids(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    r = geocoder.geocode_one("Khu phố 3, Phường Tân Định, Thành phố Hồ Chí Minh")
    assert r["tier"] == "group_centroid" and r["ward_id"] == "hcmc-2025:26737"
    members = fake_points[(fake_points["ward_code"] == "26737") & (fake_points["khu_pho"] == "Khu phố 3")]
    assert ((members["lon"] == r["lon"]) & (members["lat"] == r["lat"])).any()  # a member point
    r = geocoder.geocode_one("Phường Tân Định, Thành phố Hồ Chí Minh")
    assert r["tier"] == "ward_centroid" and r["ward_id"] == "hcmc-2025:26737"
    ward = load_gazetteer("hcmc-2025", full_detail=False).wards.set_index("code").at["26737", "geometry"]
    from shapely import Point

    assert ward.contains(Point(r["lon"], r["lat"]))


def test_unmatched_without_anything_to_go_on(geocoder: Geocoder) -> None:
    for text in ("", "Việt Nam", "12 Đường Không Có, Phường Xyz"):
        r = geocoder.geocode_one(text)
        assert r["tier"] == "unmatched" and r["ward_id"] is None and r["point_id"] is None


def test_never_placed_in_a_ward_the_address_contradicts(
    geocoder: Geocoder, fake_points: pd.DataFrame
) -> None:
    p = _row(fake_points, ward_code="26743")  # in Bến Thành
    head = p["address"].split(",")[0]
    # the same house written with another (registry) ward: not moved to where the house really is
    r = geocoder.geocode_one(f"{head}, Phường Tân Định")
    assert r["ward_id"] in (None, "hcmc-2025:26737") and r["point_id"] != p["point_id"]
    # a ward contradicted by its district
    r = geocoder.geocode_one(f"{head}, Phường Bến Nghé, Quận 3")
    assert r["tier"] == "unmatched" and "ward_contradiction" in r["flags"]
    # two different wards named
    r = geocoder.geocode_one(f"{head}, Phường 2, Phường Thủ Dầu Một")
    assert r["ward_id"] is None and "ward_contradiction" in r["flags"]


def test_missing_ward_is_placed_only_where_the_registry_is_unambiguous(
    geocoder: Geocoder, fake_points: pd.DataFrame
) -> None:
    p = _row(fake_points, ward_code="27457")
    head = p["address"].split(",")[0]
    r = geocoder.geocode_one(f"{head}, Thành phố Hồ Chí Minh")
    keys = fake_points["address"].str.split(",").str[0]
    if (keys == head).sum() == 1:
        assert r["point_id"] == p["point_id"] and "ward_by_registry" in r["flags"]
    else:  # the house exists in several wards: only the khu phố written may tell them apart
        assert (r["point_id"] is None and r["candidates"]) or (
            r["point_id"] == p["point_id"] and "khu_pho_decides" in r["flags"]
        )


def test_khu_pho_tells_apart_a_house_found_in_several_wards(
    geocoder: Geocoder, fake_points: pd.DataFrame
) -> None:
    heads = fake_points["address"].str.split(",").str[0]
    shared = fake_points[heads.duplicated(keep=False)]
    tried = 0
    for head, g in shared.groupby(heads[heads.duplicated(keep=False)]):
        if g["khu_pho"].nunique() < len(g):
            continue
        for p in g.itertuples(index=False):
            r = geocoder.geocode_one(f"{head}, {p.khu_pho}, Thành phố Hồ Chí Minh")
            assert r["point_id"] == p.point_id and "khu_pho_decides" in r["flags"], r
            tried += 1
        r = geocoder.geocode_one(f"{head}, Thành phố Hồ Chí Minh")  # no khu phố: cannot tell
        assert r["point_id"] is None and "ambiguous_address" in r["flags"]
    assert tried > 0


def test_old_ward_names_through_the_crosswalk(geocoder: Geocoder, fake_points: pd.DataFrame) -> None:
    """A 2021-dated record with the 2021 ward and district: the registry decides between split targets."""
    g21 = load_gazetteer("hcmc-2021")
    pts = fake_points[fake_points["old_ward_code"] != ""].head(200)
    texts, dates = [], []
    for p in pts.itertuples(index=False):
        w = g21.units.loc[f"hcmc-2021:{p.old_ward_code}"]
        d = g21.units.loc[w["parent_id"]]
        texts.append(f"{p.address.split(',')[0]}, {w['full_name']}, {d['full_name']}, TP.HCM")
        dates.append("2021-09-01")
    out = geocoder.geocode(pd.Series(texts), pd.Series(pd.to_datetime(dates)))
    assert (out["point_id"].to_numpy() == pts["point_id"].to_numpy()).mean() > 0.99
    assert out["flags"].str.contains("old_ward").all()
    placed = out["ward_id"].notna()
    assert (
        out.loc[placed, "ward_id"].to_numpy() == ("hcmc-2025:" + pts["ward_code"]).to_numpy()[placed]
    ).all()


def test_split_ward_without_registry_evidence_is_flagged(geocoder: Geocoder) -> None:
    # Phường Đa Kao (2021) went to Tân Định and Sài Gòn; a house the registry does not hold cannot tell
    r = geocoder.geocode_one("9999 Đường Không Có, Phường Đa Kao, Quận 1", "2021-03-01")
    assert r["ward_id"] is None and "ambiguous_split" in r["flags"]
    assert set(r["candidates"].split(";")) == {"hcmc-2025:26737", "hcmc-2025:26740"}


def test_accuracy_on_noisy_addresses(geocoder: Geocoder, noisy: pd.DataFrame) -> None:
    out = geocoder.geocode(noisy["text"], noisy["date"])
    right_point = (out["point_id"] == noisy["point_id"]).fillna(False).astype(bool)
    placed = out["ward_id"].notna()
    wrong_ward = placed & (out["ward_id"] != noisy["ward_id"])
    assert right_point.mean() > 0.97
    assert wrong_ward.sum() == 0, noisy[wrong_ward]
    exact = out["tier"] == "exact"
    assert right_point[exact].mean() > 0.995
    per_kind = right_point.groupby(noisy["kind"]).mean()
    assert (per_kind > 0.95).all(), per_kind


def test_results_are_cached_by_text_and_geography(fake_registry: pd.DataFrame, noisy: pd.DataFrame) -> None:
    g = Geocoder(fake_registry)
    first = g.geocode(noisy["text"].head(300), noisy["date"].head(300))
    assert len(g._cache) == first.shape[0] - noisy["text"].head(300).duplicated().sum()
    again = g.geocode(noisy["text"].head(300), noisy["date"].head(300))
    pd.testing.assert_frame_equal(first, again)


def test_prepare_registry_from_the_generator_layout(fake_points: pd.DataFrame) -> None:
    reg = prepare_registry(fake_points.head(50))
    assert reg["ward_id"].iloc[0] == "hcmc-2025:" + fake_points["ward_code"].iloc[0]
    assert "old_ward_code" not in reg.columns


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_batches(geocoder: Geocoder, fake_points: pd.DataFrame, n: int) -> None:
    out = geocoder.geocode(fake_points["address"].head(n))
    assert len(out) == n
