"""Partitioned scoring equals the in-process run: every unit's level, metrics and reasons, every household
row; on a Dask LocalCluster (two in-process workers) and in-process, with partitions that cut through
wards, groups and cells (households dealt at random) and with the city's H3 parent cells."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from risk.score import build_config, compute, read_geography
from risk.score.inputs import read_inputs
from risk.score.partition import city_partition_keys, score_partitions, split_inputs

AS_OF = dt.date(2021, 8, 20)


@pytest.fixture(scope="module")
def scored(tiny_city):
    from risk.store.embedded import EmbeddedStore

    store = EmbeddedStore(tiny_city.store_dir)
    geo = read_geography(store, with_geometry=True)
    inputs = read_inputs(store)
    return store, geo, inputs


def _same(config, geo, inputs, parts, **kw):
    _, levels, households, _ = compute(inputs, AS_OF, config, geo)
    res = score_partitions(parts, AS_OF, config, geo, **kw)
    a = levels.sort_values(["unit_type", "unit_id"]).reset_index(drop=True)
    b = res.levels.sort_values(["unit_type", "unit_id"]).reset_index(drop=True)
    assert len(a) == len(b) > 100
    assert set(a["unit_type"]) >= {"city", "ward", "group", "h3_8", "h3_9", "h3_10"}
    pd.testing.assert_frame_equal(a, b)  # levels, population, parents, metrics and reasons (JSON text)
    ha = households.sort_by("household_id")
    hb = res.household_table().sort_by("household_id")
    assert ha.num_rows == hb.num_rows == inputs.n_households
    assert ha.equals(hb)
    assert (a["level"] > 1).any(), "the test city should have raised levels somewhere"
    return res


def test_dask_localcluster_equals_in_process(scored, backtests) -> None:
    """With the risk model: the cell model runs in the reduce, the household model on the workers with
    its neighbourhood features from the reduced units; both give the in-process probabilities."""
    from distributed import Client, LocalCluster

    from risk.model import Models

    _, geo, inputs = scored
    models = Models("test", household=backtests["household"].model, cell=backtests["cell"].model)
    config = build_config("moh-4800", models=models)
    parts = split_inputs(inputs, np.random.default_rng(3).integers(0, 4, inputs.n_households))
    assert len(parts) == 4
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        res = _same(config, geo, inputs, parts, client=client)
    prob = res.household_table()["model_probability"].to_numpy(zero_copy_only=False)
    assert np.isfinite(prob).all() and prob.std() > 0, "the household model should have been applied"
    cells = res.levels[res.levels["unit_type"] == "h3_9"]
    assert cells["metrics"].str.contains('"model_probability"').all()


@pytest.mark.parametrize("profile", ["nsc-2686", "moh-218"])
def test_h3_partitions_equal_in_process(scored, profile) -> None:
    """Bordering rules (nsc-2686: the highest level of touching wards and groups) need no halo: they run on
    the reduced units, where every neighbour is present."""
    _, geo, inputs = scored
    keys = city_partition_keys(inputs, resolution=7)
    parts = split_inputs(inputs, keys)
    assert len(parts) >= 2
    _same(build_config(profile, models=None), geo, inputs, parts)


def test_partitioned_refuses_bad_keys(scored) -> None:
    _, _, inputs = scored
    with pytest.raises(ValueError, match="keys for"):
        split_inputs(inputs, np.zeros(3))


def test_score_partitioned_writes_the_same_snapshot(store) -> None:
    """`score(..., partitioned=True)` (what RISKMAP_SCALE_SCHEDULER turns on) writes the levels an
    in-process run writes."""
    from risk.score import score

    a = score(store, AS_OF, publish=False, partitioned=False, previous=None)
    b = score(store, AS_OF, publish=False, partitioned=True, previous=None)
    key = ["unit_type", "unit_id"]
    pd.testing.assert_frame_equal(
        a.levels.sort_values(key).reset_index(drop=True), b.levels.sort_values(key).reset_index(drop=True)
    )
    assert a.households.sort_by("household_id").equals(b.households.sort_by("household_id"))
    assert "map_counts" in b.timings and "map_counts" not in a.timings


def test_a_simulated_country_scores_each_province_as_the_city(tiny_city) -> None:
    """Two provinces copied from the test city: twice the households and wards, every copy's ward at the
    city's own level (its people and epidemic are the city's), ids and cells distinct."""
    from risk.score.compute import Geography
    from risk.store import StoreSettings
    from risk.store.embedded import EmbeddedStore
    from risk.synth.country import country, province_copy

    store = EmbeddedStore(tiny_city.store_dir)
    config = build_config("moh-4800", models=None, unit_types=("city", "ward", "group", "h3_9", "household"))
    geo = read_geography(store)
    one = score_partitions(country(StoreSettings(path=tiny_city.store_dir), 1), AS_OF, config, geo)
    two = score_partitions(country(StoreSettings(path=tiny_city.store_dir), 2), AS_OF, config, geo)
    hh1, hh2 = one.household_table(), two.household_table()
    assert hh2.num_rows == 2 * hh1.num_rows
    assert len(set(hh2["household_id"].to_pylist())) == hh2.num_rows
    w1 = one.levels[one.levels["unit_type"] == "ward"].set_index("unit_id")["level"]
    w2 = two.levels[two.levels["unit_type"] == "ward"].set_index("unit_id")["level"]
    assert len(w2) == 2 * len(w1)
    moved = w2[w2.index.str.startswith("p01/")]
    assert (moved.rename(lambda u: u.replace("p01/", "p00/")).sort_index() == w1.sort_index()).all()
    city1 = one.levels[one.levels["unit_type"] == "city"]["population"].iloc[0]
    city2 = two.levels[two.levels["unit_type"] == "city"]["population"].iloc[0]
    assert city2 == 2 * city1  # the top unit sums every province
    inputs = read_inputs(store)
    c0, c1 = province_copy(inputs, 0).hh_cells[9], province_copy(inputs, 1).hh_cells[9]
    assert not set(c0[c0 != 0].tolist()) & set(c1[c1 != 0].tolist())
    assert isinstance(geo, Geography)
