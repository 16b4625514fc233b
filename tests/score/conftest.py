"""A small synthetic city for the scoring tests: 12 dense wards of the former HCMC at scale 0.005,
generated once per session (truth only, no feeds) and loaded as a perfectly linked embedded store.

Each test that writes snapshots copies the store first (`scored_store`), so tests stay independent.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from risk.score.fromtruth import load_truth
from risk.store.embedded import EmbeddedStore
from risk.synth import SynthConfig, generate

# The twelve wards nearest the centre of the former HCMC (adjacent, dense; the epidemic ran hot there).
WARDS = "26740,26743,26737,27139,26944,27265,26956,27259,26758,27154,27058,27094"
SCALE = 0.005
SEED = 5


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
