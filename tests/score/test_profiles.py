"""moh-218, nsc-2686, riskmap's own profiles and the rule engine's step kinds."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from risk.profiles import UNKNOWN, list_profiles, load_profile, parse_profile


def level(profile, unit_type=None, **metrics) -> int:
    return int(profile.evaluate(pd.DataFrame([metrics]), unit_type)["level"].iloc[0])


@pytest.fixture(scope="module")
def moh218():
    return load_profile("moh-218")


@pytest.fixture(scope="module")
def nsc2686():
    return load_profile("nsc-2686")


MET = {"full_dose_coverage": 0.9, "high_risk_full_dose_coverage": 0.95}


@pytest.mark.parametrize(
    ("cases", "capacity", "expected"),
    [
        (100, "medium", 2),  # transmission 2 + response medium → 2 (HCMC, Feb 2022)
        (300, "high", 2),  # transmission 3 + response high → 2
        (10, "low", 2),
        (700, "high", 3),  # > 600 is the top band
        (600, "high", 2),  # exactly 600 is not above it
        (700, "low", 4),
    ],
)
def test_moh218_matrix(moh218, cases, capacity, expected) -> None:
    assert level(moh218, community_cases_per_100k_7d=cases, response_capacity=capacity, **MET) == expected


def test_moh218_vaccination_and_deaths_add_a_transmission_level(moh218) -> None:
    base = {"community_cases_per_100k_7d": 100, "response_capacity": "medium"}
    assert level(moh218, **base, **MET) == 2
    # a target missed: transmission 3, medium → 3
    assert level(moh218, **base, full_dose_coverage=0.7, high_risk_full_dose_coverage=0.95) == 3
    assert level(moh218, **base, full_dose_coverage=0.9, high_risk_full_dose_coverage=0.85) == 3
    # > 6 deaths per 100,000 adds one (HCMC's rule); 6 does not
    assert level(moh218, **base, **MET, deaths_per_100k_7d=6.5) == 3
    assert level(moh218, **base, **MET, deaths_per_100k_7d=6) == 2
    # oxygen-needing patients raise the transmission band when higher than the cases' band
    assert level(moh218, **base, **MET, oxygen_patients_per_100k_7d=40) == 4


def test_moh218_assumes_medium_capacity_only_visibly(moh218) -> None:
    ev = moh218.run(pd.DataFrame([{"community_cases_per_100k_7d": 300, **MET}]))
    assert ev.level[0] == 3  # transmission 3 with the assumed medium capacity
    reasons = ev.reasons(0)
    matrix = next(r for r in reasons if r["step"] == "R-matrix")
    assert matrix["assumed"] == "medium"
    en = " ".join(moh218.explain(reasons, "en"))
    assert "assumed 'medium'" in en and "not supplied" in en  # oxygen and deaths were not supplied


def test_moh218_supplied_capacity_overrides_the_assumption(moh218) -> None:
    ev = moh218.run(pd.DataFrame([{"community_cases_per_100k_7d": 300, "response_capacity": "high", **MET}]))
    assert ev.level[0] == 2
    assert "assumed" not in next(r for r in ev.reasons(0) if r["step"] == "R-matrix")


def test_nsc2686_event_levels(nsc2686) -> None:
    none = {
        "f0_unknown_source_clusters_14d": 0,
        "f0_unknown_source_14d": 0,
        "f0_known_source_14d": 0,
        "f1_home_quarantine_14d": 0,
    }
    assert level(nsc2686, "ward", **none) == 1  # new normal
    assert level(nsc2686, "ward", **{**none, "f1_home_quarantine_14d": 3}) == 2
    assert level(nsc2686, "ward", **{**none, "f0_known_source_14d": 1}) == 2
    assert level(nsc2686, "ward", **{**none, "f0_unknown_source_14d": 1}) == 3
    assert (
        level(nsc2686, "group", **{**none, "f0_unknown_source_14d": 2, "f0_unknown_source_clusters_14d": 1})
        == 4
    )
    assert level(nsc2686, "ward", **{**none, "hard_setting_clusters_14d": 1}) == 4


def test_nsc2686_bordering_units(nsc2686) -> None:
    # a chain of three wards: 0 very high (cluster), 1 quiet, 2 quiet, borders 1 only
    quiet = {
        "f0_unknown_source_clusters_14d": 0,
        "f0_unknown_source_14d": 0,
        "f0_known_source_14d": 0,
        "f1_home_quarantine_14d": 0,
    }
    m = pd.DataFrame([{**quiet, "f0_unknown_source_clusters_14d": 1}, quiet, quiet])
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    ev = nsc2686.run(m, "ward", adj)
    # 1 borders a very-high unit → high; 2 borders a high unit → risk
    assert ev.level.tolist() == [4, 3, 2]
    without = nsc2686.run(m, "ward")  # no adjacency: the bordering steps say they were not evaluated
    assert without.level.tolist() == [4, 1, 1]
    assert any(r.get("not_supplied") == ["neighbour_max_level"] for r in without.reasons(1))


def test_nsc2686_district_rule_by_share_of_wards(nsc2686) -> None:
    def district(**m) -> int:
        row = {
            "children_share_ge4": 0,
            "children_share_ge3": 0,
            "children_share_ge2": 0,
            "children_count_ge4": 0,
            "children_count_ge2": 0,
        }
        return level(nsc2686, "district", **{**row, **m})

    assert district() == 1
    assert (
        district(
            children_share_ge4=0.3,
            children_count_ge4=3,
            children_share_ge3=0.3,
            children_share_ge2=0.3,
            children_count_ge2=3,
        )
        == 4
    )
    assert district(children_share_ge3=0.5, children_share_ge2=0.5, children_count_ge2=5) == 4
    assert district(children_share_ge3=0.3, children_share_ge2=0.3, children_count_ge2=3) == 3
    assert district(children_share_ge2=0.5, children_count_ge2=5) == 3
    assert (
        district(
            children_share_ge4=0.1,
            children_count_ge4=1,
            children_share_ge3=0.1,
            children_share_ge2=0.1,
            children_count_ge2=1,
        )
        == 3
    )
    assert district(children_share_ge2=0.1, children_count_ge2=1) == 2


def test_household_profile_levels_and_flags() -> None:
    p = load_profile("riskmap-household")
    assert p.scheme == "riskmap" and "riskmap" in p.labels[1]["en"] and "riskmap" in p.labels[1]["vi"]
    zero = {
        "active_f0": 0,
        "positive_tests_7d": 0,
        "f1_quarantined": 0,
        "vulnerable_unvaccinated": 0,
        "elderly50_under_vaccinated": 0,
        "booster_due": 0,
        "neighbourhood_level": 1,
    }
    rows = pd.DataFrame(
        [
            zero,
            {**zero, "active_f0": 1},
            {**zero, "f1_quarantined": 2},
            {**zero, "vulnerable_unvaccinated": 1},
            {**zero, "vulnerable_unvaccinated": 1, "neighbourhood_level": 3},
            {**zero, "booster_due": 1},
            {**zero, "neighbourhood_level": 4},
            {**zero, "model_probability": 0.2},
        ]
    )
    ev = p.run(rows, "household")
    assert ev.level.tolist() == [1, 4, 3, 2, 3, 2, 3, 3]
    bits = ev.applied_bits()
    assert p.explain_bits(int(bits[1]), "en") == ["F0 in the household"]
    assert "Booster due" in p.explain_bits(int(bits[5]), "en")
    assert bits[0] == 0 and p.explain_bits(0, "en") == ["No risk factor applies: base level 1"]
    assert p.explain_bits(0, "vi") == ["Không có yếu tố nguy cơ nào: mức nền 1"]


@pytest.mark.parametrize("pid", ["moh-4800", "moh-218", "nsc-2686", "riskmap-household", "riskmap-cell"])
def test_every_profile_is_versioned_sourced_dated_and_labelled(pid) -> None:
    p = load_profile(pid)
    assert p.version and p.source and p.valid_from
    assert set(p.labels) == {1, 2, 3, 4}
    for lv in range(1, 5):
        assert p.label(lv, "vi") and p.label(lv, "en") and p.colour(lv).startswith("#")
    for s in p.steps:
        assert s.params.get("reason_en") and s.params.get("reason_vi"), f"{pid} step {s.id} lacks its texts"
        if s.uncertain:
            assert s.params.get("uncertain_why"), f"{pid} step {s.id} is uncertain without saying why"
    assert {p.id for p in list_profiles()} >= {"moh-4800", "moh-218", "nsc-2686"}


def test_validity_dates() -> None:
    import datetime as dt

    p = load_profile("moh-4800")
    assert p.valid_on(dt.date(2021, 10, 24)) and not p.valid_on(dt.date(2021, 8, 1))
    assert not p.valid_on(dt.date(2022, 2, 1)) and load_profile("moh-218").valid_on(dt.date(2022, 2, 1))


def test_profiles_dir_adds_and_replaces_profiles(tmp_path, monkeypatch) -> None:
    from risk.score.settings import score_settings

    text = (
        load_profile("moh-4800")
        .path.read_text(encoding="utf-8")
        .replace("thresholds = [20, 50, 150]", "thresholds = [10, 50, 150]")
    )
    (tmp_path / "moh-4800.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("RISKMAP_SCORE_PROFILES_DIR", str(tmp_path))
    score_settings.cache_clear()
    try:
        p = load_profile("moh-4800")
        assert p.path == tmp_path / "moh-4800.toml"
        assert (
            level(
                p,
                community_cases_per_100k_7d=15,
                adult_first_dose_coverage=0.5,
                elderly_full_dose_coverage=0.9,
            )
            == 2
        )
    finally:
        score_settings.cache_clear()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"id": "a", "kind": "nope", "metric": "m"}, "unknown kind"),
        ({"id": "a", "kind": "floor", "metric": "m", "op": ">=", "value": 1}, "floor needs level"),
        ({"id": "a", "kind": "adjust", "metric": "m", "op": "~", "value": 1, "delta": 1}, "unknown op"),
        ({"id": "a", "kind": "adjust", "metric": "m", "op": ">", "value": "x", "delta": 1}, "not a number"),
        (
            {"id": "a", "kind": "matrix", "metric": "m", "categories": ["a", "b"], "table": [[1]]},
            "one column each",
        ),
        (
            {"id": "a", "kind": "matrix", "metric": "m", "categories": ["a"], "table": [[1]], "assume": "z"},
            "not one of",
        ),
        ({"id": "a", "kind": "band", "metric": "m", "thresholds": [1, 2], "compare": "<"}, "compare must be"),
    ],
)
def test_bad_steps_are_refused_with_the_reason(step, message) -> None:
    data = {
        "profile": {"id": "x", "version": "1", "valid_from": "2021-01-01"},
        "steps": [step],
        "labels": {str(i): {"vi": "", "en": ""} for i in range(1, 5)},
    }
    with pytest.raises(ValueError, match=message):
        parse_profile(data)


def test_reasons_json_matches_reasons() -> None:
    import json

    p = load_profile("moh-218")
    m = pd.DataFrame(
        [
            {"community_cases_per_100k_7d": 300, "response_capacity": "high", **MET, "deaths_per_100k_7d": 7},
            {"community_cases_per_100k_7d": None, **MET},
            {
                "community_cases_per_100k_7d": 12.3456789,
                "full_dose_coverage": 0.5,
                "high_risk_full_dose_coverage": 0.95,
            },
        ]
    )
    ev = p.run(m)
    assert [json.loads(t) for t in ev.reasons_json()] == [ev.reasons(i) for i in range(len(m))]
    assert ev.level[1] == UNKNOWN
