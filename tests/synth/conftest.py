"""A tiny synthetic city shared by the synth tests (seven wards of all kinds, scale 0.002: seconds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from risk.synth import SynthConfig, generate

# Sài Gòn and Bến Thành (central, several old wards each), 27418 (nine old wards), Đông Thạnh (a commune of
# the former HCMC), Thủ Dầu Một (Bình Dương), Long Sơn (a Bà Rịa–Vũng Tàu commune), Côn Đảo (the đặc khu).
WARDS = "26740,26743,27418,27568,25747,26545,26732"
SEED = 11
SCALE = 0.002


@dataclass
class City:
    path: Path
    config: SynthConfig
    manifest: dict
    summary: dict

    def table(self, rel: str):
        return pq.read_table(self.path / rel).to_pandas()


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> SynthConfig:
    return SynthConfig(
        seed=SEED, scale=SCALE, wards=WARDS, out=tmp_path_factory.mktemp("city") / "a", workers=1
    )


@pytest.fixture(scope="session")
def city(tiny_config: SynthConfig) -> City:
    path = generate(tiny_config)
    return City(
        path=path,
        config=tiny_config,
        manifest=json.loads((path / "manifest.json").read_text(encoding="utf-8")),
        summary=json.loads((path / "summary.json").read_text(encoding="utf-8")),
    )
