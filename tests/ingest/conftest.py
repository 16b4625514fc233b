"""A tiny synthetic city (three wards, ~6,000 feed rows with the default error mix), generated, ingested
and linked once per session; tests read it and never write to it (those that write copy it first)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

WARDS = "26740,26743"
# four weeks: second doses of Pfizer and Vero Cell, few enough files for the test budget
START, END = dt.date(2021, 9, 6), dt.date(2021, 10, 3)


@dataclass
class LinkedCity:
    city: Path
    store_dir: Path
    latest: dt.date


@pytest.fixture(scope="session")
def tiny_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from risk.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("city") / "tiny"
    generate(SynthConfig(scale=0.01, seed=3, out=out, wards=WARDS, start=START, end=END, workers=1))
    return out


@pytest.fixture(scope="session")
def linked_city(tiny_city: Path, tmp_path_factory: pytest.TempPathFactory) -> LinkedCity:
    from api.cli.ingest import collect, compact
    from risk.ingest.pipeline import Ingestor
    from risk.ingest.place import RegistryPlacer
    from risk.link import relink
    from risk.reference import load_reference
    from risk.store.embedded import EmbeddedStore

    manifest = json.loads((tiny_city / "manifest.json").read_text())
    end = dt.date.fromisoformat(manifest["end"]) + dt.timedelta(days=7)
    store_dir = tmp_path_factory.mktemp("store") / "s"
    store = EmbeddedStore(store_dir)
    load_reference(store, tiny_city)
    session = Ingestor(store, placer=RegistryPlacer.from_store(store), latest=end)
    # two worker processes: every linkage test then also covers the parallel ingest path
    for r in session.ingest_many(collect([tiny_city / "feeds"], None), workers=2):
        assert not isinstance(r, Exception), r
    compact(store)
    relink(store)
    return LinkedCity(tiny_city, store_dir, end)


@pytest.fixture
def city_copy(linked_city: LinkedCity, tmp_path: Path) -> LinkedCity:
    """A private copy of the linked store, for tests that write."""
    dst = tmp_path / "store"
    shutil.copytree(linked_city.store_dir, dst)
    return LinkedCity(linked_city.city, dst, linked_city.latest)
