"""moh-4800 against published assessments (Decision 4800 as HCMC applied it in October 2021)."""

import pandas as pd
import pytest

from risk.profiles import UNKNOWN, load_profile, parse_profile


@pytest.fixture(scope="module")
def moh4800():
    return load_profile("moh-4800")


def level(profile, **metrics) -> int:
    return int(profile.evaluate(pd.DataFrame([metrics]))["level"].iloc[0])


def test_hcmc_24_oct_2021_is_level_2(moh4800) -> None:
    # 6,635 community cases in 7 days, population 9,145,000 → 72.6 per 100,000 (band 3);
    # > 99 % of adults with one dose (C2 met → one below); ~92 % of ≥ 65 fully vaccinated (met).
    rate = 6635 / 9_145_000 * 100_000
    assert 72.6 <= round(rate, 1) <= 73.5
    assert (
        level(
            moh4800,
            community_cases_per_100k_7d=rate,
            adult_first_dose_coverage=0.99,
            elderly_full_dose_coverage=0.92,
        )
        == 2
    )


def test_district_179_per_100k_with_high_coverage_is_level_3(moh4800) -> None:
    assert (
        level(
            moh4800,
            community_cases_per_100k_7d=179,
            adult_first_dose_coverage=0.97,
            elderly_full_dose_coverage=0.9,
        )
        == 3
    )


@pytest.mark.parametrize(
    ("rate", "coverage", "elderly", "expected"),
    [
        (19.99, 0.5, 0.9, 1),
        (20, 0.5, 0.9, 2),
        (49.9, 0.5, 0.9, 2),
        (50, 0.5, 0.9, 3),
        (149.9, 0.5, 0.9, 3),
        (150, 0.5, 0.9, 4),
        (10, 0.9, 0.9, 1),  # never below 1
        (150, 0.7, 0.9, 3),  # 70 % exactly meets the target
        (150, 0.9, 0.5, 4),  # elderly target missed raises one
        (200, 0.3, 0.5, 4),  # never above 4
    ],
)
def test_bands_and_adjustments(moh4800, rate, coverage, elderly, expected) -> None:
    assert (
        level(
            moh4800,
            community_cases_per_100k_7d=rate,
            adult_first_dose_coverage=coverage,
            elderly_full_dose_coverage=elderly,
        )
        == expected
    )


def test_failed_treatment_capacity_prevents_lowering(moh4800) -> None:
    assert (
        level(
            moh4800,
            community_cases_per_100k_7d=72.6,
            adult_first_dose_coverage=0.99,
            elderly_full_dose_coverage=0.92,
            treatment_capacity_ok=0,
        )
        == 3
    )


def test_missing_metric_gives_unknown_and_says_which(moh4800) -> None:
    out = moh4800.evaluate(
        pd.DataFrame(
            [
                {
                    "community_cases_per_100k_7d": None,
                    "adult_first_dose_coverage": 0.9,
                    "elderly_full_dose_coverage": 0.9,
                }
            ]
        )
    )
    assert out["level"].iloc[0] == UNKNOWN
    text = moh4800.explain(out["reasons"].iloc[0], "en")
    assert any("community_cases_per_100k_7d" in t for t in text)


def test_every_level_explains_itself_in_both_languages(moh4800) -> None:
    out = moh4800.evaluate(
        pd.DataFrame(
            [
                {
                    "community_cases_per_100k_7d": 72.6,
                    "adult_first_dose_coverage": 0.99,
                    "elderly_full_dose_coverage": 0.92,
                }
            ]
        )
    )
    vi, en = (moh4800.explain(out["reasons"].iloc[0], lang) for lang in ("vi", "en"))
    assert vi[0].startswith("C1: 72.6 ca mắc mới") and en[0].startswith("C1: 72.6 new community cases")
    assert len(vi) == len(en) == 4
    # C3 (treatment capacity) is a unit input: when it is not supplied the reasons say so.
    assert "not supplied" in en[3] and "chưa có dữ liệu" in vi[3]


def test_province_override_changes_a_threshold(moh4800) -> None:
    import tomllib

    with open(moh4800.path, "rb") as fh:
        data = tomllib.load(fh)
    data["overrides"] = {"79": {"C2": {"value": 0.8}}}
    p = parse_profile(data).for_province("79")
    assert p.version.endswith("+79")
    assert (
        level(
            p,
            community_cases_per_100k_7d=72.6,
            adult_first_dose_coverage=0.75,
            elderly_full_dose_coverage=0.92,
        )
        == 3
    )


def test_profile_validation() -> None:
    with pytest.raises(ValueError, match="thresholds must ascend"):
        parse_profile(
            {
                "profile": {"id": "x", "version": "1", "valid_from": "2021-01-01"},
                "steps": [{"id": "a", "kind": "band", "metric": "m", "thresholds": [3, 1]}],
                "labels": {str(i): {"vi": "", "en": ""} for i in range(1, 5)},
            }
        )
