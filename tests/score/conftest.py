"""A small synthetic city for the scoring tests: 12 dense wards of the former HCMC at scale 0.02
(~5,400 households, ~18,000 persons; enough new cases a week for a backtest to mean something),
generated once per session (truth only, no feeds) and loaded as a perfectly linked embedded store.

Tests that write snapshots work on a copy of the store (`store`, or the session's `scored_city`), so
they stay independent.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from risk.model.train import Backtest, Dataset, backtest, collect, weekly_days
from risk.score import ScoreResult
from risk.score.fromtruth import load_truth
from risk.store.embedded import EmbeddedStore
from risk.synth import SynthConfig, generate

# The twelve wards nearest the centre of the former HCMC (adjacent, dense; the epidemic ran hot there).
WARDS = "26740,26743,26737,27139,26944,27265,26956,27259,26758,27154,27058,27094"
SCALE = 0.02
SEED = 5
# Weekly as-of dates across the generator's epidemic (the backtest's time split takes the last third).
FIRST_WEEK, LAST_WEEK = dt.date(2021, 7, 4), dt.date(2021, 11, 21)
AS_OF = dt.date(2021, 10, 24)


@dataclass
class TinyCity:
    city: Path
    store_dir: Path

    def store(self, dest: Path) -> EmbeddedStore:
        """A private copy of the loaded store."""
        shutil.copytree(self.store_dir, dest)
        return EmbeddedStore(dest)


@pytest.fixture(scope="session")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> TinyCity:
    root = tmp_path_factory.mktemp("score-city")
    city = generate(
        SynthConfig(seed=SEED, scale=SCALE, wards=WARDS, out=root / "city", workers=1, feeds=False)
    )
    store_dir = root / "store"
    load_truth(EmbeddedStore(store_dir), city)
    return TinyCity(city, store_dir)


@pytest.fixture
def store(tiny_city: TinyCity, tmp_path: Path) -> EmbeddedStore:
    return tiny_city.store(tmp_path / "store")


@pytest.fixture(scope="session")
def model_days() -> list[int]:
    return weekly_days(FIRST_WEEK, LAST_WEEK)


@pytest.fixture(scope="session")
def model_data(tiny_city: TinyCity, model_days: list[int]) -> dict[str, Dataset]:
    """Household and cell rows of every week (features, 7-day labels, both baselines' scores)."""
    from risk.score import build_config, read_geography
    from risk.score.inputs import read_inputs

    store = EmbeddedStore(tiny_city.store_dir)  # read only
    return collect(
        read_inputs(store), read_geography(store), build_config("moh-4800", models=None), model_days
    )


@pytest.fixture(scope="session")
def backtests(model_data: dict[str, Dataset], model_days: list[int]) -> dict[str, Backtest]:
    """The time-split backtest of both models (fitted on the early weeks, tested on the last third)."""
    return backtest(model_data, model_days)


@dataclass
class ScoredCity:
    store: EmbeddedStore
    result: ScoreResult
    model_version: str


@pytest.fixture(scope="session")
def scored_city(
    tiny_city: TinyCity, backtests: dict[str, Backtest], tmp_path_factory: pytest.TempPathFactory
) -> ScoredCity:
    """A copy of the city with the backtest's models in its registry, scored (all unit types, the model
    applied) as of AS_OF and published."""
    from risk.model import save_models
    from risk.score import build_config, score

    store = tiny_city.store(tmp_path_factory.mktemp("scored") / "store")
    saved = save_models(store, {kind: bt.model for kind, bt in backtests.items()})
    result = score(store, AS_OF, config=build_config("moh-4800", store=store), keep_run=True)
    return ScoredCity(store, result, saved.version)
