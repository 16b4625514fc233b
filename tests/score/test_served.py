"""A scored city served over real HTTP: every level the API gives (ward, group, H3 cells, household) comes
with the reasons and metrics that decided it, as the snapshot holds them; an incremental update (a new
positive test and case) reaches the API as a delta snapshot and agrees with a full recompute."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from api.app import create_app
from api.privacy import household_tokens
from api.security import authenticate
from api.settings import ApiSettings
from risk.profiles import load_profile
from risk.score import score
from risk.score.incremental import IncrementalScorer
from risk.store.tables import HOUSEHOLD_FLAGS
from tests.api.conftest import COMMAND_CENTRE, Caller
from tests.conftest import LiveServer

AREA_TYPES = ("city", "ward", "group", "h3_8", "h3_9", "h3_10")


@pytest.fixture(scope="module")
def http(scored_city) -> Iterator[httpx.Client]:
    app = create_app(store=scored_city.store, settings=ApiSettings(snapshot_poll_seconds=0.05))
    caller = Caller()
    caller.principal = COMMAND_CENTRE  # sees small areas and households (no personal details)
    app.dependency_overrides[authenticate] = caller
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def households(scored_city) -> pd.DataFrame:
    where = scored_city.store.read_table("households", columns=["household_id", "lon", "lat"])
    rows = scored_city.result.households.to_pandas()
    return rows.merge(where, on="household_id")


def _row(levels: pd.DataFrame, unit_type: str, unit_id: str) -> pd.Series:
    hit = levels[(levels["unit_type"] == unit_type) & (levels["unit_id"] == unit_id)]
    assert len(hit) == 1, (unit_type, unit_id)
    return hit.iloc[0]


def _explained(a: dict, row: pd.Series) -> None:
    """The answer carries the row's level, its reasons in both languages and its metrics."""
    profile = load_profile(row["profile"])
    codes = json.loads(row["reasons"])
    assert a["level"] == int(row["level"]) and a["suppressed"] is False
    assert a["profile"]["id"] == row["profile"] and a["profile"]["version"] == row["profile_version"]
    assert a["reason_codes"] == codes and codes
    assert a["reasons"]["vi"] == profile.explain(codes, "vi") and a["reasons"]["vi"]
    assert a["reasons"]["en"] == profile.explain(codes, "en") and a["reasons"]["en"]
    assert a["metrics"] == json.loads(row["metrics"]) and a["metrics"]


def test_every_area_level_is_served_with_its_reasons_and_metrics(scored_city, http, households) -> None:
    levels = scored_city.result.levels
    # a household with an active F0: its group and cells have cases, so their levels have something to say
    hh = households[households["flag_f0"]].iloc[0]
    for unit_type in AREA_TYPES:
        r = http.get("/v1/risk", params={"lat": hh["lat"], "lon": hh["lon"], "unit": unit_type})
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["unit"]["type"] == unit_type and a["snapshot_id"] == scored_city.result.snapshot.snapshot_id
        row = _row(levels, unit_type, a["unit"]["id"])
        _explained(a, row)
        by_id = http.get(f"/v1/units/{unit_type}/{a['unit']['id']}")
        assert by_id.status_code == 200, by_id.text
        _explained(by_id.json(), row)
        if unit_type in ("city", "ward", "group"):
            assert a["profile"]["id"] == "moh-4800" and "community_cases_per_100k_7d" in a["metrics"]
        else:  # riskmap's cell scheme: smoothed rates, hot spots and the model's probability
            assert a["profile"]["id"] == "riskmap-cell"
            assert {"community_cases_per_100k_7d", "smoothing_weight", "hotspot", "model_probability"} <= set(
                a["metrics"]
            )
    assert (
        hh["group_id"]
        == http.get("/v1/risk", params={"lat": hh["lat"], "lon": hh["lon"], "unit": "group"}).json()["unit"][
            "id"
        ]
    )


def _household(http: httpx.Client, household_id: int) -> dict:
    r = http.get("/v1/risk", params={"household": household_tokens().token(int(household_id))})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("which", ["f0", "quiet"])
def test_household_levels_are_served_with_reasons_flags_and_metrics(http, households, which: str) -> None:
    profile = load_profile("riskmap-household")
    hh = (
        households[households["flag_f0"]] if which == "f0" else households[households["reasons"] == 0]
    ).iloc[0]
    a = _household(http, hh["household_id"])
    assert a["unit"]["type"] == "household" and a["level"] == int(hh["level"])
    assert a["profile"]["id"] == "riskmap-household"
    assert a["reasons"]["vi"] == profile.explain_bits(int(hh["reasons"]), "vi")
    assert a["reasons"]["en"] == profile.explain_bits(int(hh["reasons"]), "en")
    assert a["flags"] == [code for col, code in HOUSEHOLD_FLAGS.items() if hh[col]]
    for k in ("members", "active_f0", "positive_tests_7d", "f1_quarantined", "neighbourhood_level"):
        assert a["metrics"][k] == int(hh[k])
    assert a["metrics"]["model_probability"] == pytest.approx(float(hh["model_probability"]), abs=1e-4)
    if which == "f0":
        assert a["level"] == 4 and "F0 in the household" in a["reasons"]["en"] and "f0" in a["flags"]
    else:
        assert a["reasons"]["en"] == ["No risk factor applies: base level 1"] and a["flags"] == []


def test_an_incremental_update_reaches_the_api_and_agrees_with_a_full_recompute(
    scored_city, http, households
) -> None:
    store, res = scored_city.store, scored_city.result
    inp = res.run.inputs
    as_of = res.snapshot.as_of.date()
    # a quiet household (nothing in it, level 1) in a ward with a level
    hh = households[(households["reasons"] == 0) & (households["members"] > 0)].iloc[0]
    h = int(np.flatnonzero(inp.household_id == hh["household_id"])[0])
    person = int(inp.person_id[np.flatnonzero(inp.person_hh == h)[0]])
    ward = str(hh["ward_id"])
    before_ward = http.get(f"/v1/units/ward/{ward}").json()
    before_group = http.get(f"/v1/units/group/{hh['group_id']}").json()
    next_id = int(store.read_arrow("records", columns=["record_id"]).column(0).to_numpy().max()) + 1
    records = pd.DataFrame(
        {
            "record_id": [next_id, next_id + 1],
            "kind": ["test", "case"],
            "event_date": pd.to_datetime([as_of, as_of]),
            "result": ["positive", None],
            "found_in": [None, "community"],
            "isolation": [None, "home"],
            "vaccine": [None, None],
            "dose_kind": [None, None],
            "ward_id": [ward, ward],
            "person_id": [person, person],
        }
    )
    scorer = IncrementalScorer(store, res.run, res.snapshot)
    t0 = time.perf_counter()
    upd = scorer.apply_records(records)
    delta = upd.snapshot
    assert delta.parent_id == res.snapshot.snapshot_id and delta.stats["delta"] is True
    assert upd.households >= 1 and upd.units["ward"] == 1 and upd.units["city"] == 1
    while (a := _household(http, hh["household_id"]))["snapshot_id"] != delta.snapshot_id:
        assert time.perf_counter() - t0 < 10, "the API never showed the delta snapshot"
        time.sleep(0.02)
    assert a["level"] == 4 and "f0" in a["flags"] and a["metrics"]["active_f0"] == 1
    ward_after = http.get(f"/v1/units/ward/{ward}").json()
    group_after = http.get(f"/v1/units/group/{hh['group_id']}").json()
    assert ward_after["snapshot_id"] == delta.snapshot_id
    for before, after in ((before_ward, ward_after), (before_group, group_after)):
        assert after["metrics"]["community_cases_7d"] == before["metrics"]["community_cases_7d"] + 1
        assert after["metrics"]["cases_7d"] == before["metrics"]["cases_7d"] + 1

    # The same records in the store, scored in full (notice held against the delta, as the delta held it
    # against the full run): every unit the delta rewrote agrees with the full recompute, except what a
    # delta keeps from the full run until the next one (hot spots, the model's probabilities).
    store.write_tables(
        {
            "records": records.drop(columns=["person_id"]).assign(source="test"),
            "links": pd.DataFrame(
                {"record_id": records["record_id"], "person_id": records["person_id"], "method": "test"}
            ),
        },
        mode="append",
    )
    full = score(store, as_of, publish=False).levels.set_index(["unit_type", "unit_id"])
    rows = store.read_snapshot(delta.snapshot_id, "levels").set_index(["unit_type", "unit_id"])
    assert {"ward", "group", "city", "h3_8", "h3_9", "h3_10"} <= set(rows.index.get_level_values(0))
    kept = {"hotspot", "hotspot_z", "hotspot_p", "model_probability"}
    for key, row in rows.iterrows():
        other = full.loc[key]
        ours, theirs = json.loads(row["metrics"]), json.loads(other["metrics"])
        assert {k: v for k, v in ours.items() if k not in kept} == {
            k: v for k, v in theirs.items() if k not in kept
        }, key
        if not key[0].startswith("h3_"):
            assert row["level"] == other["level"], key
            assert pd.isna(row["pending_level"]) == pd.isna(other["pending_level"]), key
            assert pd.isna(row["pending_level"]) or row["pending_level"] == other["pending_level"], key
            assert row["reasons"] == other["reasons"], key
    assert a["level"] == 4 and ward_after["level"] == int(full.loc[("ward", ward), "level"])
