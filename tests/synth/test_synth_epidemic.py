"""The epidemic clusters in households and neighbourhoods and follows the real curve; vaccination reaches
the coverage of 2021 by age."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from geo.h3cells import cells
from risk.synth.epidemic import simulate
from risk.synth.population import build_city
from risk.synth.realdata import load_geography
from risk.synth.rng import stream
from risk.synth.sites import build_sites
from risk.synth.vaccination import day, vaccinate

START, END = dt.date(2021, 6, 1), dt.date(2021, 11, 30)


@pytest.fixture(scope="module")
def run():
    """~40,000 people in four wards of the former HCMC: enough for the statistics, in a few seconds."""
    geo = load_geography("26740,26743,27418,27568")
    city = build_city(geo, seed=4, scale=0.08, start=START)
    sites = build_sites(geo, stream(4, "sites"))
    doses, schedule = vaccinate(city, sites, 4, END)
    epi = simulate(city, schedule, sites, 4, START, END)
    return city, doses, schedule, epi


def test_cases_cluster_in_households(run):
    city, _, _, epi = run
    n = len(city.persons)
    infected = np.zeros(n, bool)
    infected[epi.infections.person] = True
    hh = city.persons.household
    size = city.households.size.astype(float)
    per_hh = np.bincount(hh, weights=infected, minlength=len(size))
    case_hh = np.unique(hh[epi.cases.person])
    case_hh = case_hh[size[case_hh] > 1]
    secondary = ((per_hh[case_hh] - 1) / (size[case_hh] - 1)).mean()
    assert infected.mean() > 0.05
    assert secondary > 2 * infected.mean()


def test_cases_cluster_in_neighbourhoods(run):
    city, _, _, epi = run
    pts = city.points
    cell = cells(pts.lat, pts.lon, 9)[city.persons.household]
    _ids, idx = np.unique(cell, return_inverse=True)
    infected = np.zeros(len(city.persons), bool)
    infected[epi.infections.person] = True
    rate = np.bincount(idx, weights=infected) / np.bincount(idx)
    # dispersion of cell attack rates well above what random allocation would give
    people = np.bincount(idx)
    big = people >= 30
    p = infected.mean()
    expected_var = (p * (1 - p) / people[big]).mean()
    assert rate[big].var() > 2 * expected_var
    sources = np.bincount(epi.infections.source, minlength=4) / len(epi.infections.source)
    assert sources[0] > 0.15 and sources[1] > 0.15  # household and neighbour spread both matter


def test_infections_follow_the_target_curve(run):
    _city, _, _, epi = run
    start = day(START.isoformat())
    inf = epi.infections.infected_on
    weekly = np.bincount((inf[inf >= start] - start) // 7, minlength=26)[:26].astype(float)
    target = np.bincount(np.arange(len(epi.target)) // 7, weights=epi.target)[:26]
    assert np.corrcoef(weekly, target)[0, 1] > 0.9
    assert 0.5 < weekly.sum() / target.sum() < 1.5
    found = np.bincount(epi.cases.found_in, minlength=3) / len(epi.cases.found_in)
    assert found.min() > 0.05  # community, quarantine and lockdown all occur
    detected = (epi.infections.detected_on >= 0).mean()
    assert 0.3 < detected < 0.8


def test_tests_have_realistic_positivity(run):
    _, _, _, epi = run
    t = epi.tests
    screening = t.reason == 2
    contacts = t.reason == 1
    assert 0.0 < t.result[screening].mean() < 0.15
    assert t.result[contacts].mean() > t.result[screening].mean()
    assert t.pooled[screening].any() and (t.test_type == 1).any()


def test_vaccination_coverage_by_age(run):
    city, doses, schedule, _ = run
    age = city.persons.age
    late_oct = day("2021-10-25")
    adults = age >= 18
    first = schedule.first <= late_oct
    assert first[adults].mean() > 0.95
    assert first[age >= 65].mean() > 0.85
    assert not first[age < 12].any()
    teens = (age >= 12) & (age < 18)
    assert (schedule.first[teens] <= day("2021-11-30")).mean() > 0.6
    assert (schedule.first[teens] >= day("2021-10-27")).all()
    gaps = schedule.full - schedule.first
    done = (schedule.full < 10**8) & (gaps > 0)
    assert gaps[done].min() >= 21 and gaps[done].max() <= 84
    boosted = np.unique(doses.person[np.isin(doses.kind, [2, 3])])
    assert ((age[boosted] >= 50) | city.persons.comorbid[boosted]).all()  # in 2021 only the high-risk
