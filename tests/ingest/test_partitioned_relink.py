"""The relink partition by partition equals the whole relink on a small multi-province country.

The country is three copies of the test city (`linked_city`: ingested feeds and registry) as provinces
`p00`–`p02`: own record ids, address points, wards, household numbers, CCCDs; phones changed by one
digit (some still meet another province's). Then people move: event records of province p01 are reported
in p02 (same CCCD, phone and address point) or without a ward, and some carry a p00 person's CCCD. The
partitioned relink must find the same links, reviews, persons (ids are hashes: no relabelling) and
households as the whole relink, in-process and on a Dask LocalCluster.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk.store.embedded import EmbeddedStore

PROVINCES = 3


def _country(src: Path, dst: Path) -> EmbeddedStore:
    shutil.copytree(src, dst)
    store = EmbeddedStore(dst)
    rec = store.read_table("records")
    pts = store.read_table("address_points")
    r_off, p_off = int(rec["record_id"].max()) + 1, int(pts["point_id"].max()) + 1
    recs, points = [], []
    for k in range(PROVINCES):
        prefix = f"p{k:02d}/"
        r = rec.copy()
        r["record_id"] += k * r_off
        r["point_id"] += k * p_off
        r["ward_id"] = prefix + r["ward_id"]
        r["household_ref"] = f"p{k:02d}|" + r["household_ref"]
        if k:
            cccd = r["id_kind"] == "cccd"
            r.loc[cccd, "id_number"] = f"{80 + k:03d}" + r.loc[cccd, "id_number"].str[3:]
            r["phone"] = r["phone"].str[:3] + str(k) + r["phone"].str[4:]
        recs.append(r)
        p = pts.copy()
        p["point_id"] += k * p_off
        p["ward_id"] = prefix + p["ward_id"]
        p["group_id"] = prefix + p["group_id"]
        points.append(p)
    rec = pd.concat(recs, ignore_index=True)
    rng = np.random.default_rng(9)
    events = rec.index[
        (rec["kind"] != "registry").to_numpy() & rec["ward_id"].str.startswith("p01/").to_numpy()
    ]
    moved = rng.choice(events, size=len(events) // 10, replace=False)
    rec.loc[moved, "ward_id"] = rec.loc[moved, "ward_id"].str.replace("p01/", "p02/")
    nowhere = rng.choice(np.setdiff1d(events, moved), size=40, replace=False)
    rec.loc[nowhere, "ward_id"] = None
    # some records of p02 carry the CCCD of a p00 person (a person registered in p00 living in p02)
    p0 = rec[(rec["kind"] == "registry") & rec["ward_id"].str.startswith("p00/") & (rec["id_kind"] == "cccd")]
    p2 = rec.index[
        (rec["kind"] != "registry").to_numpy() & rec["ward_id"].str.startswith("p02/").fillna(False)
    ]
    borrow = rng.choice(p2, size=30, replace=False)
    src = p0.sample(30, random_state=1)
    for col in (
        "id_number",
        "id_kind",
        "full_name",
        "name_key",
        "birth_date",
        "birth_precision",
        "birth_year",
    ):
        rec.loc[borrow, col] = src[col].to_numpy()
    store.write_tables(
        {"records": rec, "address_points": pd.concat(points, ignore_index=True)}, mode="replace"
    )
    return store


def _tables(store: EmbeddedStore) -> dict[str, pd.DataFrame]:
    out = {}
    for name, key in (
        ("households", ["household_id"]),
        ("persons", ["person_id"]),
        ("links", ["record_id"]),
        ("link_reviews", ["record_id", "rank"]),
    ):
        t = store.read_table(name)
        t = t.drop(columns=[c for c in ("linked_at", "created_at") if c in t])
        out[name] = t.sort_values(key).reset_index(drop=True)[sorted(t.columns)]
    return out


@pytest.fixture(scope="module")
def country(linked_city, tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """The country's store (not linked yet) and the tables of its whole relink."""
    from risk.link import relink

    root = tmp_path_factory.mktemp("country")
    base = _country(linked_city.store_dir, root / "base").path
    whole = EmbeddedStore(shutil.copytree(base, root / "whole"))
    relink(whole)
    return base, _tables(whole)


def _check(expected: dict[str, pd.DataFrame], store: EmbeddedStore) -> None:
    got = _tables(store)
    for name, want in expected.items():
        pd.testing.assert_frame_equal(got[name], want, check_dtype=False, obj=name)
    links = expected["links"]
    persons = expected["persons"]
    # the country is what the test means it to be: several provinces, people who moved, reviews
    prov = persons.merge(expected["households"][["household_id", "ward_id"]], on="household_id")
    assert prov["ward_id"].str[:3].nunique() == PROVINCES
    assert (persons["origin"] == "feeds").any() and len(expected["link_reviews"])
    assert links["same_as"].notna().any()


def test_partitioned_relink_equals_the_whole(country, tmp_path) -> None:
    from risk.link.partition import relink_partitioned

    base, expected = country
    store = EmbeddedStore(shutil.copytree(base, tmp_path / "s"))
    res = relink_partitioned(store)
    assert res.partitions == ["", "p00", "p01", "p02"]
    _check(expected, store)
    # people who moved were linked across partitions: records in p02 (or nowhere) to persons of p01/p00
    links = store.read_table("links").merge(store.read_table("records", columns=["record_id", "ward_id"]))
    linked = links.merge(store.read_table("persons")[["person_id", "household_id"]]).merge(
        store.read_table("households")[["household_id", "ward_id"]], on="household_id", suffixes=("", "_home")
    )
    away = linked[linked["ward_id"].fillna("").str[:3] != linked["ward_id_home"].str[:3]]
    assert len(away) > 100, "records reported away from home should link to their registry persons"
    assert res.result.linked == len(links[links["method"] != "registry"])


def test_partitioned_relink_on_dask_equals_the_whole(country, tmp_path) -> None:
    from distributed import Client, LocalCluster

    from risk.link.partition import relink_partitioned

    base, expected = country
    path = shutil.copytree(base, tmp_path / "s")
    store = EmbeddedStore(path)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        res = relink_partitioned(store, opener=functools.partial(EmbeddedStore, path), client=client)
    assert res.where.startswith("dask")
    _check(expected, store)
